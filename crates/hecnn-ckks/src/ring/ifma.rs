//! AVX-512 IFMA kernels for primes below 2^45: sums of residue products,
//! eight coefficients per instruction, where the general path runs a scalar
//! 128-bit add-with-carry chain per coefficient.
//!
//! A product of two residues below 2^52 is exact as its low and high 52
//! bits (`vpmadd52luq`/`vpmadd52huq`), so a sum of products accumulates
//! exactly as `V = L + H·2^52` in two 64-bit lanes. [`Reducer`] brings
//! `V` into `[0, t)`: the quotient is estimated in f64 from `H·(2^52/t)`
//! (as a double-double) and `L/t` to within one, `r = V − q·t` is exact in
//! wrapping 64-bit arithmetic (its true value is below 2^46 in magnitude),
//! and two conditional corrections finish. That needs `H < 2^53` (exact in
//! f64) and `V/t < 2^62`; with `t < 2^45` the callers stay far inside: at
//! most 32 conversion terms (a value below 2^52 times a weight below t) or
//! 1,024 products of two residues below t per output.
//!
//! Users, each bit-identical to its scalar path (tests in `basis.rs`,
//! `keys/switching.rs` and `modulus.rs`):
//! - the basis conversion ([`IfmaTables`], [`convert_target`]): with
//!   `y_i = [x_i·(Q/q_i)^{-1}]_{q_i}` split as `y_i = h_i·2^52 + l_i`
//!   (`h_i = 0` for sources below 2^52), `a_i = (Q/q_i) mod t` and
//!   `b_i = (Q/q_i)·2^52 mod t`,
//!   `V = Σ_i (l_i·a_i + h_i·b_i) + v·(−Q mod t) ≡ Σ_i y_i·(Q/q_i) − v·Q (mod t)`;
//! - the key switch's inner product (`Σ_j d_j·b_j` and `Σ_j d_j·a_j` per
//!   limb, `keys::switching`);
//! - the point-wise products of `modulus::{mul_add_slice, mul_slice,
//!   tensor_slice}` (plaintext diagonals, tensoring).
//!
//! `HECNN_NO_IFMA=1` in the environment turns them off (comparisons on one
//! machine); CPUs without AVX-512 IFMA (AMD before Zen 4) never take them.

use super::modulus::Modulus;

/// Largest prime (exclusive) these kernels take.
pub(crate) const MAX_PRIME: u64 = 1 << 45;

/// Coefficients per step of the kernels: four vectors of eight, so that
/// four independent accumulator chains hide the multiply-add latency.
pub(crate) const CHUNK: usize = 32;

/// Most source primes a conversion may have here.
const MAX_SOURCES: usize = 32;

/// What [`reduce`] needs for one prime, as f64 and integer constants.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reducer {
    t: u64,
    /// `2^52/t` as a double-double, and `1/t`.
    c1_hi: f64,
    c1_lo: f64,
    c0: f64,
}

impl Reducer {
    /// For a prime `t < MAX_PRIME`.
    pub(crate) fn new(t: u64) -> Option<Self> {
        if !(t > 1 && t < MAX_PRIME) {
            return None;
        }
        let tf = t as f64;
        let c1_hi = (1u64 << 52) as f64 / tf;
        // 2^52 − c1_hi·t is exact: a multiple of ulp(c1_hi) below t·ulp(c1_hi).
        let c1_lo = f64::mul_add(-c1_hi, tf, (1u64 << 52) as f64) / tf;
        Some(Self { t, c1_hi, c1_lo, c0: 1.0 / tf })
    }
}

/// Per-target tables of a conversion.
#[derive(Debug, Clone)]
pub(super) struct IfmaTarget {
    reducer: Reducer,
    /// `(Q/q_i) mod t`, per source.
    a: Vec<u64>,
    /// `(Q/q_i)·2^52 mod t`, per source whose prime is at least 2^52 (in
    /// the order of [`IfmaTables::wide_sources`]).
    b: Vec<u64>,
    /// `−Q mod t`.
    neg_q: u64,
}

/// Tables of one converter: one entry per target prime (`None`: not this path).
#[derive(Debug, Clone)]
pub(super) struct IfmaTables {
    pub(super) targets: Vec<Option<IfmaTarget>>,
    /// Sources whose residues need a high part (primes ≥ 2^52).
    pub(super) wide_sources: Vec<usize>,
}

impl IfmaTables {
    /// Tables for `src` → `dst`, given `(Q/q_i) mod t_j` as
    /// `qhat_mod_dst[j·s + i]` and `Q mod t_j`; `None` when the CPU lacks
    /// the instructions or no target qualifies.
    pub(super) fn new(src: &[Modulus], dst: &[Modulus], qhat_mod_dst: &[u64], q_mod_dst: &[u64]) -> Option<Self> {
        if !available() || src.len() > MAX_SOURCES || src.iter().any(|q| q.value >= 1 << 62) {
            return None;
        }
        let s = src.len();
        let wide_sources: Vec<usize> = (0..s).filter(|&i| src[i].value >= 1 << 52).collect();
        let targets: Vec<Option<IfmaTarget>> = dst
            .iter()
            .enumerate()
            .map(|(j, t)| {
                let reducer = Reducer::new(t.value)?;
                let a = qhat_mod_dst[j * s..(j + 1) * s].to_vec();
                let two52 = t.reduce(1 << 52);
                let b = wide_sources.iter().map(|&i| t.mul(a[i], two52)).collect();
                Some(IfmaTarget { reducer, a, b, neg_q: t.neg(q_mod_dst[j]) })
            })
            .collect();
        targets.iter().any(Option::is_some).then_some(Self { targets, wide_sources })
    }
}

/// Whether these kernels run: the CPU has AVX-512 F, DQ and IFMA, and
/// `HECNN_NO_IFMA` is not set in the environment (read once; it turns
/// them off for same-machine comparisons, bit-identical either way).
pub(crate) fn available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        let cpu = std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512dq")
            && std::is_x86_feature_detected!("avx512ifma");
        #[cfg(not(target_arch = "x86_64"))]
        let cpu = false;
        cpu && std::env::var_os("HECNN_NO_IFMA").is_none()
    })
}

/// One block of one target: `out[c] = (Σ_i y_i[c]·(Q/q_i) − v[c]·Q) mod t`,
/// from the low 52 bits of every source's residues (`lo`, source-major,
/// `out.len()` per row), the high parts of the wide sources (`hi`, same
/// layout, in the order of `wide_sources`) and `v` (at most 32).
pub(super) fn convert_target(target: &IfmaTarget, lo: &[u64], hi: &[u64], v: &[u64], out: &mut [u64]) {
    let block = out.len();
    assert!(block.is_multiple_of(CHUNK) && v.len() == block && v.iter().all(|&k| k <= MAX_SOURCES as u64));
    assert!(lo.len() == target.a.len() * block && hi.len() == target.b.len() * block);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: tables exist only where `available()` held; the slices'
    // lengths are checked above.
    unsafe {
        x86::convert(target, lo, hi, v, out)
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("IFMA tables are only built on x86_64")
}

/// One block of the key switch's inner product for one limb: the digits
/// `d_j` (whole limbs, read from `start` or at `perm[c]`) and the key's
/// `b_j`, `a_j` (block-sized).
#[derive(Clone, Copy)]
pub(crate) struct InnerBlock<'a> {
    pub d: &'a [&'a [u64]],
    pub start: usize,
    pub perm: Option<&'a [u32]>,
    pub b: &'a [&'a [u64]],
    pub a: &'a [&'a [u64]],
}

/// `out0[c] = Σ_j d_j[·]·b_j[c] mod t` and `out1[c] = Σ_j d_j[·]·a_j[c]
/// mod t` for residues below `t` (see [`InnerBlock`]). `None` (nothing
/// written) where the CPU lacks the instructions or there are over 1,024
/// digits.
pub(crate) fn inner_product(reducer: &Reducer, x: &InnerBlock<'_>, out0: &mut [u64], out1: &mut [u64]) -> Option<()> {
    let InnerBlock { d, start, perm, b, a } = *x;
    let n = out0.len();
    if !available() || d.len() > 1024 {
        return None;
    }
    assert!(n.is_multiple_of(8) && out1.len() == n);
    assert!(d.len() == b.len() && d.len() == a.len() && b.iter().chain(a).all(|x| x.len() == n));
    match perm {
        Some(p) => {
            let shortest = d.iter().map(|x| x.len()).min().unwrap_or(0);
            assert!(p.len() == n && p.iter().all(|&i| (i as usize) < shortest));
        }
        None => assert!(d.iter().all(|x| x.len() >= start + n)),
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the CPU has the instructions and every index is in bounds
    // (checked above).
    unsafe {
        x86::inner_product(reducer, x, out0, out1)
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("available() is false off x86_64")
}

/// `x[c] = (x[c] + y[c]·z[c]) mod t` for residues below `t`; `None`
/// (nothing written) where the CPU lacks the instructions, `t ≥
/// MAX_PRIME` or the length is not a multiple of 8.
pub(crate) fn mul_add(t: u64, x: &mut [u64], y: &[u64], z: &[u64]) -> Option<()> {
    let r = Reducer::new(t).filter(|_| available() && x.len().is_multiple_of(8))?;
    assert!(y.len() >= x.len() && z.len() >= x.len());
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the CPU has the instructions; the lengths are checked above.
    unsafe {
        x86::mul_add(&r, x, y, z)
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("available() is false off x86_64")
}

/// `x[c] = x[c]·y[c] mod t`, as [`mul_add`].
pub(crate) fn mul(t: u64, x: &mut [u64], y: &[u64]) -> Option<()> {
    let r = Reducer::new(t).filter(|_| available() && x.len().is_multiple_of(8))?;
    assert!(y.len() >= x.len());
    #[cfg(target_arch = "x86_64")]
    // SAFETY: as in `mul_add`.
    unsafe {
        x86::mul(&r, x, y)
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("available() is false off x86_64")
}

/// The tensor product of one limb, `(a0·b0, a0·b1 + a1·b0, a1·b1) mod t`,
/// as [`mul_add`] (over `out[0]`'s length).
pub(crate) fn tensor(t: u64, a: [&[u64]; 2], b: [&[u64]; 2], out: [&mut [u64]; 3]) -> Option<()> {
    let n = out[0].len();
    let r = Reducer::new(t).filter(|_| available() && n.is_multiple_of(8))?;
    assert!(a.iter().chain(&b).all(|x| x.len() >= n) && out.iter().all(|o| o.len() >= n));
    #[cfg(target_arch = "x86_64")]
    // SAFETY: as in `mul_add`.
    unsafe {
        x86::tensor(&r, a, b, out)
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("available() is false off x86_64")
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{IfmaTarget, InnerBlock, Reducer};
    use std::arch::x86_64::*;

    /// [`Reducer`]'s constants in registers.
    #[derive(Clone, Copy)]
    struct Consts {
        t: __m512i,
        c1_hi: __m512d,
        c1_lo: __m512d,
        c0: __m512d,
        mask52: __m512i,
    }

    #[target_feature(enable = "avx512f,avx512dq,avx512ifma")]
    fn consts(r: &Reducer) -> Consts {
        Consts {
            t: _mm512_set1_epi64(r.t as i64),
            c1_hi: _mm512_set1_pd(r.c1_hi),
            c1_lo: _mm512_set1_pd(r.c1_lo),
            c0: _mm512_set1_pd(r.c0),
            mask52: _mm512_set1_epi64(((1u64 << 52) - 1) as i64),
        }
    }

    /// `(L + H·2^52) mod t` for `L < 2^63`, `(L + H·2^52)/t < 2^62`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq,avx512ifma")]
    fn reduce(k: &Consts, l: __m512i, h: __m512i) -> __m512i {
        const FLOOR: i32 = _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC;
        let h = _mm512_add_epi64(h, _mm512_srli_epi64::<52>(l));
        let l = _mm512_and_si512(l, k.mask52);
        // q ≈ V/t = H·(2^52/t) + L/t, to within one.
        let (hf, lf) = (_mm512_cvtepu64_pd(h), _mm512_cvtepu64_pd(l));
        let prod = _mm512_mul_pd(hf, k.c1_hi);
        let err = _mm512_fmsub_pd(hf, k.c1_hi, prod);
        let small = _mm512_fmadd_pd(lf, k.c0, _mm512_fmadd_pd(hf, k.c1_lo, err));
        let whole = _mm512_roundscale_pd::<FLOOR>(prod);
        let rest = _mm512_roundscale_pd::<FLOOR>(_mm512_add_pd(_mm512_sub_pd(prod, whole), small));
        let q = _mm512_add_epi64(_mm512_cvtpd_epi64(whole), _mm512_cvtpd_epi64(rest));
        // r = V − q·t, exact modulo 2^64 and below 2^46 in magnitude.
        let v = _mm512_add_epi64(l, _mm512_slli_epi64::<52>(h));
        let r = _mm512_sub_epi64(v, _mm512_mullo_epi64(q, k.t));
        let r = _mm512_mask_add_epi64(r, _mm512_cmplt_epi64_mask(r, _mm512_setzero_si512()), r, k.t);
        _mm512_mask_sub_epi64(r, _mm512_cmpge_epu64_mask(r, k.t), r, k.t)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load(s: &[u64], at: usize) -> __m512i {
        _mm512_loadu_si512(s.as_ptr().add(at) as *const _)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn store(s: &mut [u64], at: usize, x: __m512i) {
        _mm512_storeu_si512(s.as_mut_ptr().add(at) as *mut _, x)
    }

    #[target_feature(enable = "avx512f,avx512dq,avx512ifma")]
    pub(super) unsafe fn mul_add(r: &Reducer, x: &mut [u64], y: &[u64], z: &[u64]) -> Option<()> {
        let k = consts(r);
        for c in (0..x.len()).step_by(8) {
            let (yv, zv) = (load(y, c), load(z, c));
            let l = _mm512_madd52lo_epu64(load(x, c), yv, zv);
            let h = _mm512_madd52hi_epu64(_mm512_setzero_si512(), yv, zv);
            store(x, c, reduce(&k, l, h));
        }
        Some(())
    }

    #[target_feature(enable = "avx512f,avx512dq,avx512ifma")]
    pub(super) unsafe fn mul(r: &Reducer, x: &mut [u64], y: &[u64]) -> Option<()> {
        let k = consts(r);
        let z = _mm512_setzero_si512();
        for c in (0..x.len()).step_by(8) {
            let (xv, yv) = (load(x, c), load(y, c));
            store(x, c, reduce(&k, _mm512_madd52lo_epu64(z, xv, yv), _mm512_madd52hi_epu64(z, xv, yv)));
        }
        Some(())
    }

    #[target_feature(enable = "avx512f,avx512dq,avx512ifma")]
    pub(super) unsafe fn tensor(r: &Reducer, a: [&[u64]; 2], b: [&[u64]; 2], out: [&mut [u64]; 3]) -> Option<()> {
        let k = consts(r);
        let z = _mm512_setzero_si512();
        let [o0, o1, o2] = out;
        for c in (0..o0.len()).step_by(8) {
            let (a0, a1, b0, b1) = (load(a[0], c), load(a[1], c), load(b[0], c), load(b[1], c));
            store(o0, c, reduce(&k, _mm512_madd52lo_epu64(z, a0, b0), _mm512_madd52hi_epu64(z, a0, b0)));
            let l1 = _mm512_madd52lo_epu64(_mm512_madd52lo_epu64(z, a0, b1), a1, b0);
            let h1 = _mm512_madd52hi_epu64(_mm512_madd52hi_epu64(z, a0, b1), a1, b0);
            store(o1, c, reduce(&k, l1, h1));
            store(o2, c, reduce(&k, _mm512_madd52lo_epu64(z, a1, b1), _mm512_madd52hi_epu64(z, a1, b1)));
        }
        Some(())
    }

    #[target_feature(enable = "avx512f,avx512dq,avx512ifma")]
    pub(super) unsafe fn convert(target: &IfmaTarget, lo: &[u64], hi: &[u64], v: &[u64], out: &mut [u64]) {
        let block = out.len();
        let k = consts(&target.reducer);
        let neg_q = _mm512_set1_epi64(target.neg_q as i64);
        const V: usize = super::CHUNK / 8;
        for c in (0..block).step_by(super::CHUNK) {
            let zero = _mm512_setzero_si512();
            let mut l: [__m512i; V] = std::array::from_fn(|u| _mm512_madd52lo_epu64(zero, load(v, c + 8 * u), neg_q));
            let mut h = [zero; V];
            // The low parts by `a_i`, the wide sources' high parts by `b_i`.
            for (weights, rows) in [(&target.a[..], lo), (&target.b[..], hi)] {
                for (i, &w) in weights.iter().enumerate() {
                    let w = _mm512_set1_epi64(w as i64);
                    for u in 0..V {
                        let y = load(rows, i * block + c + 8 * u);
                        l[u] = _mm512_madd52lo_epu64(l[u], y, w);
                        h[u] = _mm512_madd52hi_epu64(h[u], y, w);
                    }
                }
            }
            for u in 0..V {
                store(out, c + 8 * u, reduce(&k, l[u], h[u]));
            }
        }
    }

    #[target_feature(enable = "avx512f,avx512dq,avx512ifma")]
    pub(super) unsafe fn inner_product(
        reducer: &Reducer,
        x: &InnerBlock<'_>,
        out0: &mut [u64],
        out1: &mut [u64],
    ) -> Option<()> {
        let InnerBlock { d, start, perm, b, a } = *x;
        let k = consts(reducer);
        for c in (0..out0.len()).step_by(8) {
            let zero = _mm512_setzero_si512();
            let (mut l0, mut h0, mut l1, mut h1) = (zero, zero, zero, zero);
            let idx = perm.map(|p| _mm256_loadu_si256(p.as_ptr().add(c) as *const __m256i));
            for j in 0..d.len() {
                let x = match idx {
                    Some(idx) => _mm512_i32gather_epi64::<8>(idx, d[j].as_ptr() as *const i64),
                    None => load(d[j], start + c),
                };
                let (bj, aj) = (load(b[j], c), load(a[j], c));
                l0 = _mm512_madd52lo_epu64(l0, x, bj);
                h0 = _mm512_madd52hi_epu64(h0, x, bj);
                l1 = _mm512_madd52lo_epu64(l1, x, aj);
                h1 = _mm512_madd52hi_epu64(h1, x, aj);
            }
            store(out0, c, reduce(&k, l0, h0));
            store(out1, c, reduce(&k, l1, h1));
        }
        Some(())
    }
}
