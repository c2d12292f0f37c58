//! Word-sized prime moduli with precomputed Barrett and Shoup constants.
//!
//! Every RNS limb works modulo one of these primes (< 2^61), so all
//! residue arithmetic goes through the few inlined helpers here.

/// A prime modulus `q < 2^61` with the constants that make reductions cheap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Modulus {
    /// The prime itself.
    pub value: u64,
    /// Bit length of `value`.
    pub bits: u32,
    /// floor(2^128 / q), split in two words, for 128-bit Barrett reduction.
    mu_hi: u64,
    mu_lo: u64,
}

impl Modulus {
    /// Precomputes the reduction constants for `q` (must be odd, 2 < q < 2^61).
    pub fn new(q: u64) -> Self {
        debug_assert!(q > 2 && q < (1 << 61) && q & 1 == 1);
        // floor(2^128 / q) = floor((2^128 - 1) / q) since q is odd and > 1.
        let mu = u128::MAX / q as u128;
        Self { value: q, bits: 64 - q.leading_zeros(), mu_hi: (mu >> 64) as u64, mu_lo: mu as u64 }
    }

    /// Reduces any `x < 2^125` modulo q (Barrett with a 128-bit constant).
    ///
    /// The quotient estimate drops the low·low partial product, so it is at
    /// most 3 short; the corrections are branch-free (`min` with the wrapped
    /// difference), since a data-dependent loop here mispredicts constantly.
    #[inline(always)]
    pub fn reduce_u128(&self, x: u128) -> u64 {
        let q = self.value;
        let x_lo = x as u64;
        let x_hi = (x >> 64) as u64;
        let lo_hi = x_lo as u128 * self.mu_hi as u128;
        let hi_lo = x_hi as u128 * self.mu_lo as u128;
        let mid = (lo_hi + hi_lo) >> 64;
        let qhat = (mid as u64).wrapping_add(x_hi.wrapping_mul(self.mu_hi));
        let mut r = x_lo.wrapping_sub(qhat.wrapping_mul(q));
        r = r.min(r.wrapping_sub(q));
        r = r.min(r.wrapping_sub(q));
        r.min(r.wrapping_sub(q))
    }

    /// Reduces a word modulo q.
    #[inline(always)]
    pub fn reduce(&self, x: u64) -> u64 {
        self.reduce_u128(x as u128)
    }

    /// `a * b mod q` for `a, b < q`.
    #[inline(always)]
    pub fn mul(&self, a: u64, b: u64) -> u64 {
        self.reduce_u128(a as u128 * b as u128)
    }

    /// `a + b mod q` for `a, b < q`.
    #[inline(always)]
    pub fn add(&self, a: u64, b: u64) -> u64 {
        // `min` of the two candidates (the wrapped one is huge when s < q):
        // a select, never a jump, since operands are random residues.
        let s = a + b;
        s.min(s.wrapping_sub(self.value))
    }

    /// `a - b mod q` for `a, b < q`.
    #[inline(always)]
    pub fn sub(&self, a: u64, b: u64) -> u64 {
        let d = a.wrapping_sub(b);
        d.min(d.wrapping_add(self.value))
    }

    /// `-a mod q` for `a < q`.
    #[inline(always)]
    pub fn neg(&self, a: u64) -> u64 {
        let r = self.value - a;
        r.min(r.wrapping_sub(self.value))
    }

    /// `a^e mod q`.
    pub fn pow(&self, mut a: u64, mut e: u64) -> u64 {
        let mut r = 1u64;
        a = self.reduce(a);
        while e > 0 {
            if e & 1 == 1 {
                r = self.mul(r, a);
            }
            a = self.mul(a, a);
            e >>= 1;
        }
        r
    }

    /// Inverse of a non-zero `a` modulo the prime q (Fermat).
    pub fn inv(&self, a: u64) -> u64 {
        self.pow(a, self.value - 2)
    }

    /// Shoup companion `floor(w * 2^64 / q)` of a fixed multiplicand `w < q`.
    #[inline(always)]
    pub fn shoup(&self, w: u64) -> u64 {
        (((w as u128) << 64) / self.value as u128) as u64
    }

    /// `x * w mod q` with the Shoup companion of `w`; `x` may be any word.
    #[inline(always)]
    pub fn mul_shoup(&self, x: u64, w: u64, w_shoup: u64) -> u64 {
        let qhat = ((x as u128 * w_shoup as u128) >> 64) as u64;
        let r = x.wrapping_mul(w).wrapping_sub(qhat.wrapping_mul(self.value));
        r.min(r.wrapping_sub(self.value))
    }

    /// Maps a signed integer into `[0, q)` (no division when |x| < q).
    #[inline(always)]
    pub fn from_i64(&self, x: i64) -> u64 {
        let a = x.unsigned_abs();
        let r = if a < self.value { a } else { self.reduce(a) };
        if x < 0 {
            self.neg(r)
        } else {
            r
        }
    }

    /// Maps a signed 128-bit integer into `[0, q)`.
    #[inline(always)]
    pub fn from_i128(&self, x: i128) -> u64 {
        let a = x.unsigned_abs();
        // Barrett covers |x| < 2^125; beyond that (never from an encoder) divide.
        let r = if a < 1 << 125 { self.reduce_u128(a) } else { (a % self.value as u128) as u64 };
        if x < 0 {
            self.neg(r)
        } else {
            r
        }
    }

    /// Centered representative of `x` in `(-q/2, q/2]`.
    #[inline(always)]
    pub fn center(&self, x: u64) -> i64 {
        if x > self.value / 2 {
            x as i64 - self.value as i64
        } else {
            x as i64
        }
    }
}

/// Reduction of any 64-bit word modulo `t < 2^31` with 32×32→64-bit
/// products only, so that loops of it vectorize (AVX2 has no 64-bit high
/// product, which Barrett needs): `a = hi·2^32 + lo`, each word reduced by a
/// Shoup product into `[0, 2t)` (`hi` times `2^32 mod t`, `lo` times 1),
/// then two conditional subtractions, all as `min` of wrapped differences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WordReduce {
    t: u64,
    /// `2^32 mod t` and its Shoup companion `floor(c · 2^32 / t)`.
    c: u64,
    c_shoup: u64,
    /// `floor(2^32 / t)`.
    one_shoup: u64,
}

impl WordReduce {
    /// The constants for `t`; `None` unless `2 < t < 2^31`.
    pub fn new(t: u64) -> Option<Self> {
        if !(3..1 << 31).contains(&t) {
            return None;
        }
        let c = (1u64 << 32) % t;
        Some(Self { t, c, c_shoup: (c << 32) / t, one_shoup: (1u64 << 32) / t })
    }

    /// `a mod t` for any `a`.
    #[inline(always)]
    pub fn reduce(&self, a: u64) -> u64 {
        let t = self.t;
        let (hi, lo) = (a >> 32, a & 0xffff_ffff);
        // Shoup: x·w − floor(x·w_shoup / 2^32)·t ∈ [0, 2t) for x < 2^32.
        let r_hi = (hi * self.c).wrapping_sub(((hi * self.c_shoup) >> 32) * t);
        let r_lo = lo.wrapping_sub(((lo * self.one_shoup) >> 32) * t);
        let r = r_hi + r_lo; // < 4t < 2^33
        let r = r.min(r.wrapping_sub(2 * t));
        r.min(r.wrapping_sub(t))
    }
}

/// Runs `f` compiled for AVX2 when the CPU has it (the default x86-64
/// target stops at SSE2): `f` is inlined into an AVX2 function, so its
/// loops vectorize with four 32×32→64-bit products per instruction.
#[inline(always)]
pub fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        #[target_feature(enable = "avx2")]
        fn run<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { run(f) };
    }
    f()
}

/// `x[c] = (x[c] + y[c]·z[c]) mod q` for residues below q.
pub fn mul_add_slice(m: &Modulus, x: &mut [u64], y: &[u64], z: &[u64]) {
    if super::ifma::mul_add(m.value, x, y, z).is_some() || super::f64_arith::dot(m.value, &[(y, z)], x, true).is_some()
    {
        return;
    }
    match WordReduce::new(m.value) {
        // q < 2^31: x + y·z < 2^63, and the word reduction vectorizes.
        Some(w) => with_avx2(|| {
            for ((xx, &yy), &zz) in x.iter_mut().zip(y).zip(z) {
                *xx = w.reduce(*xx + (yy as u32 as u64) * (zz as u32 as u64));
            }
        }),
        None => {
            for ((xx, &yy), &zz) in x.iter_mut().zip(y).zip(z) {
                *xx = m.reduce_u128(yy as u128 * zz as u128 + *xx as u128);
            }
        }
    }
}

/// `out[c] = Σ_k y_k[c]·z_k[c] mod q` for residues below q: one reduction
/// per output residue (per eight terms on the scalar path, whose 128-bit
/// sums hold eight products of residues below 2^61), exact `f64` sums for
/// primes between 2^31 and 2^44 on AVX2 CPUs without IFMA.
pub fn dot_slices(m: &Modulus, terms: &[(&[u64], &[u64])], out: &mut [u64]) {
    if terms.is_empty() {
        out.fill(0);
        return;
    }
    if super::f64_arith::supports(m.value) && out.len().is_multiple_of(4) {
        for (k, chunk) in terms.chunks(super::f64_arith::MAX_TERMS).enumerate() {
            super::f64_arith::dot(m.value, chunk, out, k > 0).expect("the prime was checked");
        }
        return;
    }
    if WordReduce::new(m.value).is_some() {
        out.fill(0);
        for (y, z) in terms {
            mul_add_slice(m, out, y, z);
        }
        return;
    }
    for (k, chunk) in terms.chunks(8).enumerate() {
        for (c, o) in out.iter_mut().enumerate() {
            let mut acc: u128 = if k > 0 { *o as u128 } else { 0 };
            for (y, z) in chunk {
                acc += y[c] as u128 * z[c] as u128;
            }
            *o = m.reduce_u128(acc);
        }
    }
}

/// `x[c] = x[c]·y[c] mod q` for residues below q.
pub fn mul_slice(m: &Modulus, x: &mut [u64], y: &[u64]) {
    if super::ifma::mul(m.value, x, y).is_some() {
        return;
    }
    match WordReduce::new(m.value) {
        Some(w) => with_avx2(|| {
            for (xx, &yy) in x.iter_mut().zip(y) {
                *xx = w.reduce((*xx as u32 as u64) * (yy as u32 as u64));
            }
        }),
        None => {
            for (xx, &yy) in x.iter_mut().zip(y) {
                *xx = m.mul(*xx, yy);
            }
        }
    }
}

/// The tensor product of one limb of two 2-part ciphertexts:
/// `(a0·b0, a0·b1 + a1·b0, a1·b1) mod q`.
pub fn tensor_slice(m: &Modulus, a: [&[u64]; 2], b: [&[u64]; 2], out: [&mut [u64]; 3]) {
    let n = out[0].len().min(a[0].len());
    let [o0, o1, o2] = out;
    let (o0, o1, o2) = (&mut o0[..n], &mut o1[..n], &mut o2[..n]);
    // Below 2^31 the word reduction (AVX2) is as fast; IFMA from there to 2^45.
    if WordReduce::new(m.value).is_none()
        && super::ifma::tensor(m.value, a, b, [&mut *o0, &mut *o1, &mut *o2]).is_some()
    {
        return;
    }
    let [a0, a1] = a;
    let [b0, b1] = b;
    if super::f64_arith::supports(m.value) && n.is_multiple_of(4) {
        let (a0, a1, b0, b1) = (&a0[..n], &a1[..n], &b0[..n], &b1[..n]);
        for (terms, o) in [(&[(a0, b0)][..], o0), (&[(a0, b1), (a1, b0)][..], o1), (&[(a1, b1)][..], o2)] {
            super::f64_arith::dot(m.value, terms, o, false).expect("the prime was checked");
        }
        return;
    }
    match WordReduce::new(m.value) {
        // Each product < 2^62, the middle sum < 2^63.
        Some(w) => with_avx2(|| {
            let p = |x: u64, y: u64| (x as u32 as u64) * (y as u32 as u64);
            for c in 0..o0.len().min(a0.len()) {
                o0[c] = w.reduce(p(a0[c], b0[c]));
                o1[c] = w.reduce(p(a0[c], b1[c]) + p(a1[c], b0[c]));
                o2[c] = w.reduce(p(a1[c], b1[c]));
            }
        }),
        None => {
            for c in 0..o0.len().min(a0.len()) {
                o0[c] = m.mul(a0[c], b0[c]);
                o1[c] = m.reduce_u128(a0[c] as u128 * b1[c] as u128 + a1[c] as u128 * b0[c] as u128);
                o2[c] = m.mul(a1[c], b1[c]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn barrett_matches_u128_remainder() {
        let qs = [(1u64 << 40) - 87, 1152921504606584833, 65537, (1u64 << 61) - 1];
        let mut x: u128 = 0x1234_5678_9abc_def0_1357_9bdf_2468_ace0;
        for q in qs {
            let m = Modulus::new(q);
            for _ in 0..10_000 {
                x = x.wrapping_mul(0x2545_f491_4f6c_dd1d_9e37_79b9_7f4a_7c15).wrapping_add(1);
                let y = x >> 3; // < 2^125
                assert_eq!(m.reduce_u128(y), (y % q as u128) as u64);
                let a = (x as u64) % q;
                let b = ((x >> 64) as u64) % q;
                assert_eq!(m.mul(a, b), ((a as u128 * b as u128) % q as u128) as u64);
                let w = b;
                assert_eq!(m.mul_shoup(x as u64, w, m.shoup(w)), ((x as u64 as u128 * w as u128) % q as u128) as u64);
            }
            assert_eq!(m.mul(m.inv(12345), 12345), 1);
        }
    }

    #[test]
    fn signed_128_bit_inputs_map_to_their_residue() {
        let m = Modulus::new((1u64 << 30) - 35);
        let q = m.value as i128;
        for x in [
            0i128,
            1,
            -1,
            q,
            -q,
            q + 5,
            -(q + 5),
            i64::MAX as i128 * 977,
            -(1i128 << 124) - 3,
            (1 << 125) + 9,
            i128::MIN + 1,
            i128::MAX,
        ] {
            assert_eq!(m.from_i128(x) as i128, x.rem_euclid(q), "x = {x}");
        }
    }

    /// The branch-free add, sub, neg and Shoup product against u128
    /// arithmetic at the edges of [0, q) (0, 1, q − 1 and neighbours of q/2).
    #[test]
    fn branch_free_helpers_match_u128_arithmetic() {
        for q in [65537u64, (1 << 30) - 35, (1u64 << 40) - 87, 1152921504606584833] {
            let m = Modulus::new(q);
            let edges = [0, 1, 2, q / 2 - 1, q / 2, q / 2 + 1, q - 2, q - 1];
            for &a in &edges {
                assert_eq!(m.neg(a) as u128, (q as u128 - a as u128) % q as u128, "neg {a} mod {q}");
                for &b in &edges {
                    let (a128, b128, q128) = (a as u128, b as u128, q as u128);
                    assert_eq!(m.add(a, b) as u128, (a128 + b128) % q128, "{a} + {b} mod {q}");
                    assert_eq!(m.sub(a, b) as u128, (a128 + q128 - b128) % q128, "{a} - {b} mod {q}");
                    assert_eq!(m.mul_shoup(a, b, m.shoup(b)) as u128, a128 * b128 % q128, "{a} * {b} mod {q}");
                }
            }
        }
    }

    /// The word-wise reduction equals the remainder for words at the edges
    /// (0, t, 2^32 ± 1, u64::MAX) and random ones; refuses t ≥ 2^31.
    #[test]
    fn word_reduce_matches_the_remainder() {
        assert!(WordReduce::new(1 << 31).is_none());
        for t in [3u64, 65537, (1 << 30) - 35, (1 << 30) + 3 * (1 << 17) + 1, (1 << 31) - 1] {
            let w = WordReduce::new(t).unwrap();
            let mut xs = vec![0, 1, t - 1, t, 2 * t, (1 << 32) - 1, 1 << 32, (1 << 32) + 1, u64::MAX, u64::MAX - 1];
            let mut s = 0x2545_f491_4f6c_dd1du64;
            for _ in 0..10_000 {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                xs.push(s);
            }
            for x in xs {
                assert_eq!(w.reduce(x), x % t, "{x} mod {t}");
            }
        }
    }

    /// The slice kernels (AVX-512 IFMA below 2^45 where the CPU has it and
    /// the length is a multiple of 8, word-reduced below 2^31, Barrett
    /// above) equal u128 arithmetic on residues up to q − 1.
    #[test]
    fn slice_kernels_match_u128_arithmetic() {
        let primes =
            [(1u64 << 30) + 3 * (1 << 17) + 1, (1 << 31) - 1, (1u64 << 40) - 87, (1 << 45) - 229, 1152921504606584833];
        for (q, len) in primes.into_iter().flat_map(|q| [(q, 300), (q, 304)]) {
            let m = Modulus::new(q);
            let mut s = 0x2545_f491_4f6c_dd1du64;
            let mut r = |k: usize| -> Vec<u64> {
                (0..k)
                    .map(|i| {
                        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                        if i < 3 {
                            q - 1 - i as u64
                        } else {
                            s % q
                        }
                    })
                    .collect()
            };
            let (x, y, z, w) = (r(len), r(len), r(len), r(len));
            let q128 = q as u128;
            let mut got = x.clone();
            mul_add_slice(&m, &mut got, &y, &z);
            for c in 0..len {
                assert_eq!(got[c] as u128, (x[c] as u128 + y[c] as u128 * z[c] as u128) % q128);
            }
            let mut got = x.clone();
            mul_slice(&m, &mut got, &y);
            for c in 0..len {
                assert_eq!(got[c] as u128, x[c] as u128 * y[c] as u128 % q128);
            }
            let (mut o0, mut o1, mut o2) = (vec![0; len], vec![0; len], vec![0; len]);
            tensor_slice(&m, [&x, &y], [&z, &w], [&mut o0, &mut o1, &mut o2]);
            for c in 0..len {
                let (a0, a1, b0, b1) = (x[c] as u128, y[c] as u128, z[c] as u128, w[c] as u128);
                assert_eq!(
                    (o0[c] as u128, o1[c] as u128, o2[c] as u128),
                    (a0 * b0 % q128, (a0 * b1 + a1 * b0) % q128, a1 * b1 % q128)
                );
            }
        }
    }
}
