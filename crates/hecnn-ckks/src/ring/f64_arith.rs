//! Sums of residue products modulo primes between 2^31 and 2^44 in double
//! precision, for CPUs with AVX2 and FMA but without AVX-512 IFMA.
//!
//! Why: there a product of two 40-bit residues is a scalar 64×64→128-bit
//! multiply and a 128-bit Barrett reduction (four more multiplies), one
//! coefficient at a time. The FMA units make `y·z mod q` exact in five
//! operations on four lanes (the product as `h + l`, `l = fma(y, z, −h)`, a
//! quotient `round(h/q)`, `fma(−quot, q, h) + l`, as `ntt_f64` does), and
//! the results, each in about (−0.6q, 0.6q), add up exactly in an `f64`:
//! one final reduction per output residue. Used by the key switch's inner
//! product, the plaintext dot products of the linear transforms and the
//! tensor product on the 40-bit half of the bootstrapping chain; outputs
//! are the canonical residues, bit for bit those of the scalar path.

/// Smallest prime taken (below it the 64-bit word paths vectorize).
pub(crate) const MIN_PRIME: u64 = 1 << 31;
/// Primes below this: products of residues are below 2^88, so `h/q < 2^44`
/// and the quotient's rounding error stays far below one half.
pub(crate) const MAX_PRIME: u64 = 1 << 44;
/// Most products one accumulator sums: |sum| < 64·(0.51q + 2^35) < 2^51.
pub(crate) const MAX_TERMS: usize = 64;

/// Whether `q` takes this path on this CPU.
pub(crate) fn supports(q: u64) -> bool {
    (MIN_PRIME..MAX_PRIME).contains(&q) && available()
}

fn available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| kernels::available() && !super::ifma::available())
}

/// `acc[c] += y[c]·z[c] mod q` (exact, about (−0.6q, 0.6q) per term) for
/// residues below q; the caller sums at most [`MAX_TERMS`] per accumulator.
pub(crate) fn mul_acc(q: u64, acc: &mut [f64], y: &[u64], z: &[u64]) {
    assert!(supports(q) && acc.len() == y.len() && acc.len() == z.len() && acc.len().is_multiple_of(4));
    // SAFETY: `supports` checked AVX2 and FMA.
    unsafe { kernels::mul_acc(q as f64, acc, y, z) }
}

/// `out[c] = (acc[c] + out[c]) mod q` when `keep` (residues below q),
/// `acc[c] mod q` otherwise, in `[0, q)`.
pub(crate) fn finish(q: u64, acc: &[f64], keep: bool, out: &mut [u64]) {
    assert!(supports(q) && acc.len() == out.len() && out.len().is_multiple_of(4));
    // SAFETY: as in `mul_acc`.
    unsafe { kernels::finish(q as f64, acc, keep, out) }
}

/// Accumulator blocks: 256 coefficients (2 KiB of `f64`) stay in L1.
const BLOCK: usize = 256;

/// `out = Σ_k y_k ⊙ z_k mod q`, plus `out`'s own values when `keep`;
/// `None` when `q` does not take this path.
pub(crate) fn dot(q: u64, terms: &[(&[u64], &[u64])], out: &mut [u64], keep: bool) -> Option<()> {
    let n = out.len();
    if !supports(q) || terms.len() > MAX_TERMS || !n.is_multiple_of(4) {
        return None;
    }
    let mut acc = [0f64; BLOCK];
    for start in (0..n).step_by(BLOCK) {
        let end = (start + BLOCK).min(n);
        let acc = &mut acc[..end - start];
        acc.fill(0.0);
        for (y, z) in terms {
            mul_acc(q, acc, &y[start..end], &z[start..end]);
        }
        finish(q, acc, keep, &mut out[start..end]);
    }
    Some(())
}

#[cfg(target_arch = "x86_64")]
mod kernels {
    use std::arch::x86_64::*;

    /// 2^52: `x | bits(2^52)` read as an `f64`, minus 2^52, is `x < 2^52`.
    const MAGIC: f64 = 4_503_599_627_370_496.0;
    const MAGIC_BITS: i64 = 0x4330_0000_0000_0000;
    const NEAREST: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    const FLOOR: i32 = _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC;

    pub fn available() -> bool {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }

    #[inline(always)]
    unsafe fn load(p: *const u64, bits: __m256i, magic: __m256d) -> __m256d {
        let v = _mm256_loadu_si256(p as *const __m256i);
        _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(v, bits)), magic)
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn mul_acc(q: f64, acc: &mut [f64], y: &[u64], z: &[u64]) {
        let (qv, q_inv) = (_mm256_set1_pd(q), _mm256_set1_pd(1.0 / q));
        let (bits, magic) = (_mm256_set1_epi64x(MAGIC_BITS), _mm256_set1_pd(MAGIC));
        for c in (0..acc.len()).step_by(4) {
            let a = load(y.as_ptr().add(c), bits, magic);
            let b = load(z.as_ptr().add(c), bits, magic);
            let h = _mm256_mul_pd(a, b);
            let l = _mm256_fmsub_pd(a, b, h);
            let quot = _mm256_round_pd::<NEAREST>(_mm256_mul_pd(h, q_inv));
            let r = _mm256_add_pd(_mm256_fnmadd_pd(quot, qv, h), l);
            let s = _mm256_add_pd(_mm256_loadu_pd(acc.as_ptr().add(c)), r);
            _mm256_storeu_pd(acc.as_mut_ptr().add(c), s);
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn finish(q: f64, acc: &[f64], keep: bool, out: &mut [u64]) {
        let (qv, q_inv, zero) = (_mm256_set1_pd(q), _mm256_set1_pd(1.0 / q), _mm256_setzero_pd());
        let (bits, magic) = (_mm256_set1_epi64x(MAGIC_BITS), _mm256_set1_pd(MAGIC));
        for c in (0..out.len()).step_by(4) {
            let mut s = _mm256_loadu_pd(acc.as_ptr().add(c));
            if keep {
                s = _mm256_add_pd(s, load(out.as_ptr().add(c), bits, magic));
            }
            let quot = _mm256_round_pd::<FLOOR>(_mm256_mul_pd(s, q_inv));
            let mut r = _mm256_fnmadd_pd(quot, qv, s);
            // The floor may be one off either way: one correction each.
            r = _mm256_add_pd(r, _mm256_and_pd(_mm256_cmp_pd::<_CMP_LT_OQ>(r, zero), qv));
            r = _mm256_sub_pd(r, _mm256_and_pd(_mm256_cmp_pd::<_CMP_GE_OQ>(r, qv), qv));
            let u = _mm256_sub_epi64(_mm256_castpd_si256(_mm256_add_pd(r, magic)), bits);
            _mm256_storeu_si256(out.as_mut_ptr().add(c) as *mut __m256i, u);
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod kernels {
    pub fn available() -> bool {
        false
    }
    pub unsafe fn mul_acc(_: f64, _: &mut [f64], _: &[u64], _: &[u64]) {
        unreachable!("not available")
    }
    pub unsafe fn finish(_: f64, _: &[f64], _: bool, _: &mut [u64]) {
        unreachable!("not available")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::primes::{ntt_primes, PrimeSide};
    use crate::ring::Modulus;

    /// Sums of 1 to 64 products equal the u128 reference for primes at
    /// both edges of the range, with residues at 0, 1, q − 1 and random.
    #[test]
    fn dot_matches_u128_sums() {
        if !available() {
            return;
        }
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let qs = [
            ntt_primes(32, 1, 1024, PrimeSide::Below, &[]).unwrap()[0],
            ntt_primes(40, 1, 1024, PrimeSide::Below, &[]).unwrap()[0],
            ntt_primes(44, 1, 1024, PrimeSide::Below, &[]).unwrap()[0],
        ];
        for q in qs {
            assert!(supports(q));
            let m = Modulus::new(q);
            for terms in [1, 2, 8, 64] {
                let n = 512;
                let res = |k: usize, next: &mut dyn FnMut() -> u64| match k % 7 {
                    0 => 0,
                    1 => 1,
                    2 | 3 => q - 1,
                    _ => next() % q,
                };
                let ys: Vec<Vec<u64>> = (0..terms).map(|_| (0..n).map(|k| res(k, &mut next)).collect()).collect();
                let zs: Vec<Vec<u64>> = (0..terms).map(|_| (0..n).map(|k| res(k + 3, &mut next)).collect()).collect();
                let x: Vec<u64> = (0..n).map(|k| res(k + 1, &mut next)).collect();
                let pairs: Vec<(&[u64], &[u64])> = ys.iter().zip(&zs).map(|(y, z)| (&y[..], &z[..])).collect();
                for keep in [false, true] {
                    let mut out = x.clone();
                    dot(q, &pairs, &mut out, keep).unwrap();
                    for c in 0..n {
                        let mut want: u128 = if keep { x[c] as u128 } else { 0 };
                        for (y, z) in &pairs {
                            want += y[c] as u128 * z[c] as u128;
                        }
                        assert_eq!(out[c], m.reduce_u128(want), "q = {q}, {terms} terms, keep {keep}, c = {c}");
                    }
                }
            }
        }
        assert!(!supports((1 << 44) + 1) && !supports((1 << 31) - 1));
    }
}
