//! Negacyclic NTT in double precision, for primes between 2^31 and 2^43.
//!
//! Why: on AVX2 `tfhe-ntt`'s 64-bit plan emulates each 64×64-bit product
//! with four 32×32-bit ones, while the FMA units multiply 53-bit values
//! natively. A residue below 2^43 is an exact `f64`, and `x·w mod q` is
//! exact in four FMA-unit operations: the product as `h + l` (`h = x·w`,
//! `l = fma(x, w, −h)`), a quotient `round(h/q)`, and `fma(−quot, q, h) + l`.
//! The result lies in about (−q/2, q/2), so the forward butterflies need no
//! reduction at all: sixteen layers grow values to at most ≈ 11q < 2^47,
//! still exact. This is the transform of the 40-bit half of the
//! bootstrapping chain and of everything the training does below level 12.
//!
//! The plan reproduces `tfhe-ntt`'s evaluation order exactly (the rest of
//! the library, automorphisms included, depends on it): it takes ψ from the
//! 64-bit plan and checks its own transform of `X` against it before it is
//! used; any mismatch, a CPU without AVX2 and FMA, or one with AVX-512
//! (where `tfhe-ntt` has wider kernels), leaves the caller on `tfhe-ntt`.

use super::modulus::Modulus;

/// Primes this plan accepts: products of values below 2^47 by twiddles
/// below 2^43 keep the error term `l` far below q, and every intermediate
/// stays below 2^53.
pub const MIN_PRIME: u64 = 1 << 31;
pub const MAX_PRIME: u64 = 1 << 43;

/// Blocks this size (32 KiB of `f64`, one L1) are finished depth-first
/// once the larger butterflies have made them independent.
const BLOCK: usize = 1 << 12;

/// Twiddle tables for one prime and one ring size.
pub struct F64Plan {
    n: usize,
    q: f64,
    q_inv: f64,
    /// ψ^bitrev(k) at index k (k ≥ 1), the Cooley–Tukey order: layer with
    /// m groups uses entries m..2m.
    fwd: Vec<f64>,
    /// The last forward layer's twiddles, lanes swapped to match its
    /// in-register transpose (w0, w2, w1, w3 per four groups).
    fwd_last: Vec<f64>,
    /// ψ^−bitrev(k), the Gentleman–Sande order, and its last-layer copy.
    inv: Vec<f64>,
    inv_first: Vec<f64>,
    /// N^−1 mod q.
    n_inv: f64,
}

impl F64Plan {
    /// A plan whose forward transform equals `reference` (the `tfhe-ntt`
    /// forward transform of the same size and prime) value for value;
    /// `None` when the prime or the CPU does not suit, or the orders differ.
    pub fn new(n: usize, m: &Modulus, reference: impl Fn(&mut [u64])) -> Option<Self> {
        if !(MIN_PRIME..MAX_PRIME).contains(&m.value) || n < 8 || !n.is_power_of_two() || !kernels::available() {
            return None;
        }
        // tfhe-ntt's forward transform of X: evaluations at its roots in its
        // order; a bit-reversed Cooley–Tukey order starts with ψ itself.
        let mut x = vec![0u64; n];
        x[1] = 1;
        reference(&mut x);
        let psi = x[0];
        let log_n = n.trailing_zeros();
        let bitrev = |k: usize| k.reverse_bits() >> (usize::BITS - log_n);
        let psi_inv = m.inv(psi);
        let powers = |root: u64| -> Vec<u64> {
            let mut p = vec![1u64; n];
            for k in 1..n {
                p[k] = m.mul(p[k - 1], root);
            }
            (0..n).map(|k| p[bitrev(k)]).collect()
        };
        let fwd: Vec<f64> = powers(psi).into_iter().map(|w| w as f64).collect();
        let inv: Vec<f64> = powers(psi_inv).into_iter().map(|w| w as f64).collect();
        let plan = Self {
            n,
            q: m.value as f64,
            q_inv: 1.0 / m.value as f64,
            fwd_last: swap_middle_lanes(&fwd[n / 2..]),
            inv_first: swap_middle_lanes(&inv[n / 2..]),
            fwd,
            inv,
            n_inv: m.inv(n as u64 % m.value) as f64,
        };
        let mut mine = vec![0u64; n];
        mine[1] = 1;
        plan.forward(&mut mine);
        (mine == x).then_some(plan)
    }

    /// Whether this plan should replace `tfhe-ntt`'s 64-bit one: only
    /// without AVX-512, where `tfhe-ntt` has eight-lane (and for these
    /// primes, 52-bit IFMA) kernels that four FMA lanes do not beat.
    pub fn preferred() -> bool {
        kernels::available() && !kernels::has_avx512()
    }

    /// Coefficients (residues below q) → evaluations, in place.
    pub fn forward(&self, a: &mut [u64]) {
        assert_eq!(a.len(), self.n);
        // SAFETY: `new` only builds a plan when the CPU has AVX2 and FMA.
        unsafe { kernels::forward(self, a) }
    }

    /// Evaluations → coefficients, times N unless `normalize`.
    pub fn inverse(&self, a: &mut [u64], normalize: bool) {
        assert_eq!(a.len(), self.n);
        // SAFETY: as in `forward`.
        unsafe { kernels::inverse(self, a, normalize) }
    }
}

/// `out[k] = c[k] mod q` for integer-valued `|c[k]| < 2^63` and `q <
/// MAX_PRIME`, by the same FMA-exact arithmetic (`c − round(c/q)·q` is exact
/// once it is below 2^53); `false`, with `out` untouched, on a CPU without
/// AVX2 and FMA. The encoder's large coefficients take this path.
pub fn residues(c: &[f64], q: u64, out: &mut [u64]) -> bool {
    assert!(c.len() == out.len() && c.len().is_multiple_of(4) && q < MAX_PRIME);
    if !kernels::available() {
        return false;
    }
    // SAFETY: the CPU has AVX2 and FMA (checked just above).
    unsafe { kernels::residues(c, q as f64, out) };
    true
}

/// (w0, w1, w2, w3) → (w0, w2, w1, w3) in every group of four.
fn swap_middle_lanes(w: &[f64]) -> Vec<f64> {
    w.chunks_exact(4).flat_map(|c| [c[0], c[2], c[1], c[3]]).collect()
}

#[cfg(target_arch = "x86_64")]
mod kernels {
    use super::{F64Plan, BLOCK};
    use std::arch::x86_64::*;

    pub fn available() -> bool {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }

    pub fn has_avx512() -> bool {
        std::is_x86_feature_detected!("avx512f")
    }

    /// 2^52: adding it to an integer below 2^52 puts the integer in the
    /// mantissa bits, which turns the conversions into integer additions.
    const MAGIC: f64 = 4_503_599_627_370_496.0;
    const MAGIC_BITS: i64 = 0x4330_0000_0000_0000;

    #[derive(Clone, Copy)]
    struct Prime {
        q: __m256d,
        q_inv: __m256d,
    }

    /// `y·w mod q`, exactly, in about (−0.52q, 0.52q).
    #[inline(always)]
    fn mul_mod(y: __m256d, w: __m256d, p: Prime) -> __m256d {
        // SAFETY (all intrinsics here): callers are compiled with AVX2 and FMA.
        unsafe {
            let h = _mm256_mul_pd(y, w);
            let l = _mm256_fmsub_pd(y, w, h);
            let quot = _mm256_round_pd::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_pd(h, p.q_inv));
            _mm256_add_pd(_mm256_fnmadd_pd(quot, p.q, h), l)
        }
    }

    /// `x mod q` in about (−0.51q, 0.51q).
    #[inline(always)]
    fn centre(x: __m256d, p: Prime) -> __m256d {
        unsafe {
            let quot = _mm256_round_pd::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_pd(x, p.q_inv));
            _mm256_fnmadd_pd(quot, p.q, x)
        }
    }

    /// One butterfly shape, applied to four lanes at once.
    trait Butterfly {
        fn apply(x: __m256d, y: __m256d, w: __m256d, p: Prime) -> (__m256d, __m256d);
    }

    /// Cooley–Tukey: (x + w·y, x − w·y); values grow by ≤ 0.52q a layer.
    struct Ct;
    impl Butterfly for Ct {
        #[inline(always)]
        fn apply(x: __m256d, y: __m256d, w: __m256d, p: Prime) -> (__m256d, __m256d) {
            let t = mul_mod(y, w, p);
            unsafe { (_mm256_add_pd(x, t), _mm256_sub_pd(x, t)) }
        }
    }

    /// Gentleman–Sande: (x + y mod q, (x − y)·w); values stay below 0.52q.
    struct Gs;
    impl Butterfly for Gs {
        #[inline(always)]
        fn apply(x: __m256d, y: __m256d, w: __m256d, p: Prime) -> (__m256d, __m256d) {
            unsafe { (centre(_mm256_add_pd(x, y), p), mul_mod(_mm256_sub_pd(x, y), w, p)) }
        }
    }

    /// One layer over consecutive groups of 2t values, group g with twiddle
    /// `w[g]` (for t = 1, `w` holds the lane-swapped copy).
    #[inline(always)]
    fn layer<B: Butterfly>(a: &mut [f64], w: &[f64], t: usize, p: Prime) {
        assert!(a.len().is_multiple_of(8) && w.len() * 2 * t == a.len());
        let ptr = a.as_mut_ptr();
        // SAFETY: every access below is inside `a` (length checked above:
        // groups of 2t ≥ 8 values, or 8-value chunks for t = 1, 2) and `w`.
        unsafe {
            match t {
                1 => {
                    for c in 0..a.len() / 8 {
                        let v0 = _mm256_loadu_pd(ptr.add(8 * c));
                        let v1 = _mm256_loadu_pd(ptr.add(8 * c + 4));
                        let wv = _mm256_loadu_pd(w.as_ptr().add(4 * c));
                        let (x, y) = B::apply(_mm256_unpacklo_pd(v0, v1), _mm256_unpackhi_pd(v0, v1), wv, p);
                        _mm256_storeu_pd(ptr.add(8 * c), _mm256_unpacklo_pd(x, y));
                        _mm256_storeu_pd(ptr.add(8 * c + 4), _mm256_unpackhi_pd(x, y));
                    }
                }
                2 => {
                    for c in 0..a.len() / 8 {
                        let v0 = _mm256_loadu_pd(ptr.add(8 * c));
                        let v1 = _mm256_loadu_pd(ptr.add(8 * c + 4));
                        let pair = _mm256_castpd128_pd256(_mm_loadu_pd(w.as_ptr().add(2 * c)));
                        let wv = _mm256_permute4x64_pd::<0b01_01_00_00>(pair);
                        let (x, y) = B::apply(
                            _mm256_permute2f128_pd::<0x20>(v0, v1),
                            _mm256_permute2f128_pd::<0x31>(v0, v1),
                            wv,
                            p,
                        );
                        _mm256_storeu_pd(ptr.add(8 * c), _mm256_permute2f128_pd::<0x20>(x, y));
                        _mm256_storeu_pd(ptr.add(8 * c + 4), _mm256_permute2f128_pd::<0x31>(x, y));
                    }
                }
                _ => {
                    for (g, &wg) in w.iter().enumerate() {
                        let wv = _mm256_set1_pd(wg);
                        let base = ptr.add(2 * t * g);
                        for j in (0..t).step_by(4) {
                            let (x, y) =
                                B::apply(_mm256_loadu_pd(base.add(j)), _mm256_loadu_pd(base.add(j + t)), wv, p);
                            _mm256_storeu_pd(base.add(j), x);
                            _mm256_storeu_pd(base.add(j + t), y);
                        }
                    }
                }
            }
        }
    }

    /// The twiddles of the layer with `m` groups, for the groups of block
    /// `k` of size `size` (t = n / 2m).
    fn twiddles<'a>(
        plan: &'a F64Plan,
        table: &'a [f64],
        last: &'a [f64],
        m: usize,
        k: usize,
        size: usize,
    ) -> &'a [f64] {
        let t = plan.n / (2 * m);
        let groups = size / (2 * t);
        if t == 1 {
            &last[k * groups..(k + 1) * groups]
        } else {
            &table[m + k * groups..m + (k + 1) * groups]
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn forward(plan: &F64Plan, a: &mut [u64]) {
        let p = prime(plan);
        to_f64(a);
        let x: &mut [f64] = bytemuck::cast_slice_mut(a);
        let n = plan.n;
        // Breadth-first while a butterfly spans more than a block...
        let mut m = 1;
        while n / (2 * m) >= BLOCK {
            layer::<Ct>(x, twiddles(plan, &plan.fwd, &plan.fwd_last, m, 0, n), n / (2 * m), p);
            m *= 2;
        }
        // ...then each block to the end while it sits in L1.
        let size = n / m;
        for (k, block) in x.chunks_exact_mut(size).enumerate() {
            let mut mm = m;
            while mm < n {
                layer::<Ct>(block, twiddles(plan, &plan.fwd, &plan.fwd_last, mm, k, size), n / (2 * mm), p);
                mm *= 2;
            }
        }
        from_f64(x, p, None);
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn inverse(plan: &F64Plan, a: &mut [u64], normalize: bool) {
        let p = prime(plan);
        to_f64(a);
        let x: &mut [f64] = bytemuck::cast_slice_mut(a);
        let n = plan.n;
        // The smallest butterflies block by block, then the large ones.
        let size = n.min(BLOCK);
        let m0 = n / size;
        for (k, block) in x.chunks_exact_mut(size).enumerate() {
            let mut mm = n / 2;
            while mm >= m0 {
                layer::<Gs>(block, twiddles(plan, &plan.inv, &plan.inv_first, mm, k, size), n / (2 * mm), p);
                mm /= 2;
            }
        }
        let mut m = m0 / 2;
        while m >= 1 {
            layer::<Gs>(x, twiddles(plan, &plan.inv, &plan.inv_first, m, 0, n), n / (2 * m), p);
            m /= 2;
        }
        from_f64(x, p, normalize.then_some(plan.n_inv));
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn residues(c: &[f64], q: f64, out: &mut [u64]) {
        let p = Prime { q: _mm256_set1_pd(q), q_inv: _mm256_set1_pd(1.0 / q) };
        out.copy_from_slice(bytemuck::cast_slice(c));
        from_f64(bytemuck::cast_slice_mut(out), p, None);
    }

    fn prime(plan: &F64Plan) -> Prime {
        unsafe { Prime { q: _mm256_set1_pd(plan.q), q_inv: _mm256_set1_pd(plan.q_inv) } }
    }

    /// Residues below 2^52 → the same values as `f64`, in place.
    #[inline(always)]
    fn to_f64(a: &mut [u64]) {
        let ptr = a.as_mut_ptr() as *mut __m256i;
        // SAFETY: chunks of four inside `a` (its length is a multiple of 8).
        unsafe {
            let bits = _mm256_set1_epi64x(MAGIC_BITS);
            let magic = _mm256_set1_pd(MAGIC);
            for c in 0..a.len() / 4 {
                let v = _mm256_loadu_si256(ptr.add(c));
                let f = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(v, bits)), magic);
                _mm256_storeu_si256(ptr.add(c), _mm256_castpd_si256(f));
            }
        }
    }

    /// Exact integers in `f64` (times `scale` mod q, if given) → residues in
    /// [0, q), in place.
    #[inline(always)]
    fn from_f64(x: &mut [f64], p: Prime, scale: Option<f64>) {
        let ptr = x.as_mut_ptr();
        // SAFETY: chunks of four inside `x`.
        unsafe {
            let bits = _mm256_set1_epi64x(MAGIC_BITS);
            let magic = _mm256_set1_pd(MAGIC);
            let zero = _mm256_setzero_pd();
            let s = _mm256_set1_pd(scale.unwrap_or(1.0));
            for c in 0..x.len() / 4 {
                let mut v = _mm256_loadu_pd(ptr.add(4 * c));
                v = if scale.is_some() { mul_mod(v, s, p) } else { centre(v, p) };
                let negative = _mm256_cmp_pd::<_CMP_LT_OQ>(v, zero);
                v = _mm256_add_pd(v, _mm256_and_pd(negative, p.q));
                let r = _mm256_sub_epi64(_mm256_castpd_si256(_mm256_add_pd(v, magic)), bits);
                _mm256_storeu_pd(ptr.add(4 * c), _mm256_castsi256_pd(r));
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod kernels {
    use super::F64Plan;
    pub fn available() -> bool {
        false
    }
    pub fn has_avx512() -> bool {
        false
    }
    pub unsafe fn forward(_: &F64Plan, _: &mut [u64]) {
        unreachable!("no plan is built without AVX2 and FMA")
    }
    pub unsafe fn inverse(_: &F64Plan, _: &mut [u64], _: bool) {
        unreachable!("no plan is built without AVX2 and FMA")
    }
    pub unsafe fn residues(_: &[f64], _: f64, _: &mut [u64]) {
        unreachable!("only called where `available`")
    }
}
