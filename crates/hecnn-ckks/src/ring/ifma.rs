//! AVX-512 IFMA kernels: sums of residue products, eight coefficients per
//! instruction, where the general path runs a scalar 128-bit add-with-carry
//! chain or one Shoup product per term and coefficient.
//!
//! A product of two residues below 2^52 is exact as its low and high 52
//! bits (`vpmadd52luq`/`vpmadd52huq`), so a sum of products accumulates
//! exactly as `V = L + H·2^52` in two 64-bit lanes. For a prime t below
//! 2^45, [`Reducer`] brings `V` into `[0, t)`: the quotient is estimated in
//! f64 from `H·(2^52/t)` (as a double-double) and `L/t` to within one,
//! `r = V − q·t` is exact in wrapping 64-bit arithmetic (its true value is
//! below 2^46 in magnitude), and two conditional corrections finish. That
//! needs `H < 2^53` (exact in f64) and `V/t < 2^62`; with `t < 2^45` the
//! callers stay far inside: at most 32 conversion terms (a value below 2^52
//! times a weight below t) or 1,024 products of two residues below t.
//!
//! For a prime from 2^45 up to 2^61 (the 60-bit half of the chains) the
//! weights are constants, known before the data: a weight is split into
//! radix-2^52 digits `w_0 + w_1·2^52` (`w_1 < 2^9`) and a residue `y` into
//! its low 52 bits and a high part below 2^9, so `y·w` lands in three
//! columns of weight 1, 2^52 and 2^104 (seven multiply-adds per term), and
//! a two-step Montgomery reduction in radix 2^52 divides the column sum by
//! 2^104 — a factor the weights carry already.
//!
//! Users, each bit-identical to its scalar path (tests in `basis.rs`,
//! `keys/switching.rs`, `modulus.rs` and here):
//! - the basis conversion ([`IfmaTables`], [`convert_target`]): with
//!   `y_i = [x_i·(Q/q_i)^{-1}]_{q_i}` split as `y_i = h_i·2^52 + l_i`
//!   (`h_i = 0` for sources below 2^52), `a_i = (Q/q_i) mod t` and
//!   `b_i = (Q/q_i)·2^52 mod t`,
//!   `V = Σ_i (l_i·a_i + h_i·b_i) + v·(−Q mod t) ≡ Σ_i y_i·(Q/q_i) − v·Q (mod t)`,
//!   into targets of either size; the `y_i` themselves by [`ScaledSum`];
//! - the key switch's inner product (`Σ_j d_j·b_j` and `Σ_j d_j·a_j` per
//!   limb below 2^61, `keys::switching`; above 2^45 both factors are split
//!   at bit 52, see [`InnerReducer`]);
//! - the point-wise products of `modulus::{mul_add_slice, mul_slice,
//!   tensor_slice}` below 2^45 (plaintext diagonals, tensoring);
//! - [`scaled_sum`], sums of rows times constants on every limb below 2^61:
//!   rescaling, ModDown's division by P, the fused relinearize-add-rescale,
//!   linear combinations (EvalMod's polynomial leaves).
//!
//! `HECNN_NO_IFMA=1` in the environment turns them off (comparisons on one
//! machine); CPUs without AVX-512 IFMA (AMD before Zen 4) never take them.

use super::modulus::Modulus;

/// Largest prime (exclusive) of the `L + H·2^52` path ([`Reducer`]); larger
/// ones up to 2^61 take the radix-2^52 columns where the weights are constants.
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

/// Per-target tables of a conversion: the target's size decides how its
/// sums are kept and reduced.
#[derive(Debug, Clone)]
pub(super) enum IfmaTarget {
    /// Below 2^45: `V = L + H·2^52`, reduced by [`Reducer`].
    Narrow(NarrowTarget),
    /// From 2^45 up to 2^61: three radix-2^52 columns and a Montgomery
    /// reduction ([`WideTarget`]).
    Wide(WideTarget),
}

/// A target below 2^45.
#[derive(Debug, Clone)]
pub(super) struct NarrowTarget {
    reducer: Reducer,
    /// `(Q/q_i) mod t`, per source.
    a: Vec<u64>,
    /// `(Q/q_i)·2^52 mod t`, per source whose prime is at least 2^52 (in
    /// the order of [`IfmaTables::wide_sources`]).
    b: Vec<u64>,
    /// `−Q mod t`.
    neg_q: u64,
}

/// Largest target (exclusive) of the wide path: its weights' high radix-2^52
/// digits stay below 2^9, which keeps every column sum below 2^61.
const MAX_WIDE_TARGET: u64 = 1 << 61;

/// A target t in `[2^45, 2^61)` (the 60-bit primes). A weight `w < t` is
/// two radix-2^52 digits `w_0 + w_1·2^52` (`w_1 < 2^9`), so `y·w` for a
/// 52-bit `y` is four IFMA halves landing in columns of weight 1, 2^52 and
/// 2^104; a wide source's high part `y_h < 2^10` takes three more against
/// a weight that carries the 2^52. The sum `c_0 + c_1·2^52 + c_2·2^104` is
/// brought into `[0, t)` by a two-step Montgomery reduction in radix 2^52,
/// which divides by 2^104: the weights carry that factor.
#[derive(Debug, Clone)]
pub(super) struct WideTarget {
    t: u64,
    /// `−t^{-1} mod 2^52`.
    t_inv: u64,
    /// `(Q/q_i)·2^104 mod t` as radix-2^52 digits, per source.
    a: Vec<(u64, u64)>,
    /// `(Q/q_i)·2^156 mod t` as digits, per wide source.
    b: Vec<(u64, u64)>,
    /// `−Q·2^104 mod t` as digits.
    neg_q: (u64, u64),
}

const MASK52: u64 = (1 << 52) - 1;

fn digits52(x: u64) -> (u64, u64) {
    (x & MASK52, x >> 52)
}

/// A constant weight `w` for a wide prime t: the radix-2^52 digits of
/// `w·2^104 mod t` (for a residue's low 52 bits) and of `w·2^156 mod t`
/// (for its high part, which carries 2^52), the Montgomery factor 2^104
/// paid in advance.
fn wide_weight(t: &Modulus) -> impl Fn(u64) -> [(u64, u64); 2] + '_ {
    let two52 = t.reduce(1 << 52);
    let r104 = t.mul(two52, two52);
    let r156 = t.mul(r104, two52);
    move |w| [digits52(t.mul(w, r104)), digits52(t.mul(w, r156))]
}

impl WideTarget {
    fn new(t: &Modulus, qhat: &[u64], wide_sources: &[usize], q_mod_t: u64) -> Option<Self> {
        if !(MAX_PRIME..MAX_WIDE_TARGET).contains(&t.value) {
            return None;
        }
        let weight = wide_weight(t);
        Some(Self {
            t: t.value,
            t_inv: wide_inverse(t.value),
            a: qhat.iter().map(|&w| weight(w)[0]).collect(),
            b: wide_sources.iter().map(|&i| weight(qhat[i])[1]).collect(),
            neg_q: weight(t.neg(q_mod_t))[0],
        })
    }
}

/// Tables of one converter: one entry per target prime (`None`: not this path).
#[derive(Debug, Clone)]
pub(super) struct IfmaTables {
    pub(super) targets: Vec<Option<IfmaTarget>>,
    /// Sources whose residues need a high part (primes ≥ 2^52).
    pub(super) wide_sources: Vec<usize>,
    /// Per source, `x ↦ x·(Q/q_i)^{-1}` (`[0]`) and the same times `N^{-1}`
    /// (`[1]`, for unnormalized input), where every source admits one.
    pub(super) row_scales: [Option<Vec<ScaledSum>>; 2],
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
                let a = &qhat_mod_dst[j * s..(j + 1) * s];
                let Some(reducer) = Reducer::new(t.value) else {
                    return WideTarget::new(t, a, &wide_sources, q_mod_dst[j]).map(IfmaTarget::Wide);
                };
                let two52 = t.reduce(1 << 52);
                let b = wide_sources.iter().map(|&i| t.mul(a[i], two52)).collect();
                Some(IfmaTarget::Narrow(NarrowTarget { reducer, a: a.to_vec(), b, neg_q: t.neg(q_mod_dst[j]) }))
            })
            .collect();
        targets.iter().any(Option::is_some).then_some(Self { targets, wide_sources, row_scales: [None, None] })
    }
}

/// Most terms [`scaled_sum`] takes (its column sums stay below 2^61).
pub(crate) const MAX_TERMS: usize = 32;

/// `out[c] = (out[c]·w_out + Σ_k x_k[c]·w_k) mod t` for residues below a
/// prime `t < 2^61` and weights below t (`w_out = None`: `out` is only
/// written) — the element-wise steps of rescaling, ModDown, linear
/// combinations and the conversion's scaled residues, which the scalar
/// paths run as one Shoup product per term. Below 2^45 the products are
/// summed as `L + H·2^52` ([`Reducer`]), above it in three radix-2^52
/// columns with the Montgomery reduction of the wide conversion targets.
/// `None` (nothing written) where the CPU lacks the instructions, the
/// length is not a multiple of 16 or there are more than [`MAX_TERMS`] terms.
pub(crate) fn scaled_sum(t: &Modulus, out: &mut [u64], w_out: Option<u64>, x: &[&[u64]], w: &[u64]) -> Option<()> {
    ScaledSum::new(t, w_out, w)?.apply(out, x)
}

/// The weights of a [`scaled_sum`], prepared once for many rows.
#[derive(Debug, Clone)]
pub(crate) struct ScaledSum {
    path: SumPath,
    /// Per weight: below 2^45 `[(w, 0), (0, 0)]`; above, [`wide_weight`].
    w_out: Option<[(u64, u64); 2]>,
    w: Vec<[(u64, u64); 2]>,
}

#[derive(Debug, Clone, Copy)]
enum SumPath {
    Narrow(Reducer),
    /// The prime and `−t^{-1} mod 2^52`.
    Wide(u64, u64),
}

impl ScaledSum {
    /// `None` where the CPU lacks the instructions, `t ≥ 2^61` or there
    /// are more than [`MAX_TERMS`] terms.
    pub(crate) fn new(t: &Modulus, w_out: Option<u64>, w: &[u64]) -> Option<Self> {
        if !available() || w.len() + usize::from(w_out.is_some()) > MAX_TERMS || t.value >= MAX_WIDE_TARGET {
            return None;
        }
        let path = Reducer::new(t.value).map_or_else(|| SumPath::Wide(t.value, wide_inverse(t.value)), SumPath::Narrow);
        let wide = matches!(path, SumPath::Wide(..)).then(|| wide_weight(t));
        let weight = |w: u64| wide.as_ref().map_or([(w, 0), (0, 0)], |f| f(w));
        Some(Self { path, w_out: w_out.map(weight), w: w.iter().map(|&w| weight(w)).collect() })
    }

    /// Writes the sum for the rows `x` (one per weight) into `out`; `None`
    /// (nothing written) if `out`'s length is not a multiple of 16.
    pub(crate) fn apply(&self, out: &mut [u64], x: &[&[u64]]) -> Option<()> {
        if !out.len().is_multiple_of(16) {
            return None;
        }
        assert!(x.len() == self.w.len() && x.iter().all(|x| x.len() >= out.len()));
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `new` checked the CPU; the lengths are checked above.
        unsafe {
            match self.path {
                SumPath::Narrow(r) => x86::scaled_sum_narrow(&r, out, self, x),
                SumPath::Wide(t, t_inv) => x86::scaled_sum_wide(&x86::WideConsts::new(t, t_inv), out, self, x),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("available() is false off x86_64")
    }
}

/// `−t^{-1} mod 2^52` for an odd t (Newton's iteration mod 2^64).
fn wide_inverse(t: u64) -> u64 {
    let mut inv = t;
    for _ in 0..5 {
        inv = inv.wrapping_mul(2u64.wrapping_sub(t.wrapping_mul(inv)));
    }
    inv.wrapping_neg() & MASK52
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
    #[cfg(target_arch = "x86_64")]
    // SAFETY: tables exist only where `available()` held; the slices'
    // lengths are checked above.
    unsafe {
        match target {
            IfmaTarget::Narrow(t) => {
                assert!(lo.len() == t.a.len() * block && hi.len() == t.b.len() * block);
                x86::convert(t, lo, hi, v, out)
            }
            IfmaTarget::Wide(t) => {
                assert!(lo.len() == t.a.len() * block && hi.len() == t.b.len() * block);
                x86::convert_wide(t, lo, hi, v, out)
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("IFMA tables are only built on x86_64")
}

/// How the key switch's inner product reduces one limb's sums: a prime
/// below 2^45 by [`Reducer`] (`L + H·2^52`), one from 2^45 up to 2^61 in
/// radix-2^52 columns with a Montgomery reduction ([`InnerReducer::new`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum InnerReducer {
    Narrow(Reducer),
    /// The prime t, `−t^{-1} mod 2^52`, and the [`wide_weight`] of
    /// `2^104 mod t`, which undoes the Montgomery factor `2^-104`.
    Wide {
        t: u64,
        t_inv: u64,
        fix: [(u64, u64); 2],
    },
}

/// Most digits the wide inner product sums (its 2^52 column stays below
/// 2^62: three 52-bit halves per product).
const MAX_WIDE_DIGITS: usize = 256;

impl InnerReducer {
    /// For any prime below 2^61; `None` where the CPU lacks the
    /// instructions (or `HECNN_NO_IFMA` is set).
    ///
    /// Both factors of a wide product vary, so neither can carry the
    /// Montgomery factor in advance as the conversion's weights do: each
    /// is split at bit 52 (`x = x_0 + x_1·2^52`, `x_1 < 2^9`) and
    /// `x·y` lands in the columns 1 (`x_0y_0` low), 2^52 (`x_0y_0` high,
    /// `x_0y_1` and `x_1y_0` low) and 2^104 (`x_0y_1`, `x_1y_0` high,
    /// `x_1y_1`): seven multiply-adds. The column sum is reduced to
    /// `S·2^-104` and one constant product by `2^104 mod t` restores `S`.
    pub(crate) fn new(t: &Modulus) -> Option<Self> {
        if !available() {
            return None;
        }
        if let Some(r) = Reducer::new(t.value) {
            return Some(Self::Narrow(r));
        }
        if t.value >= MAX_WIDE_TARGET || t.value.is_multiple_of(2) {
            return None;
        }
        let two52 = t.reduce(1 << 52);
        let r104 = t.mul(two52, two52);
        Some(Self::Wide { t: t.value, t_inv: wide_inverse(t.value), fix: wide_weight(t)(r104) })
    }

    /// Most digits [`inner_product`] sums with this reducer.
    pub(crate) fn max_digits(&self) -> usize {
        match self {
            Self::Narrow(_) => 1024,
            Self::Wide { .. } => MAX_WIDE_DIGITS,
        }
    }
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
/// written) where the CPU lacks the instructions or there are more digits
/// than [`InnerReducer::max_digits`].
pub(crate) fn inner_product(
    reducer: &InnerReducer,
    x: &InnerBlock<'_>,
    out0: &mut [u64],
    out1: &mut [u64],
) -> Option<()> {
    let InnerBlock { d, start, perm, b, a } = *x;
    let n = out0.len();
    if !available() || d.len() > reducer.max_digits() {
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
        match *reducer {
            InnerReducer::Narrow(r) => x86::inner_product(&r, x, out0, out1),
            InnerReducer::Wide { t, t_inv, fix } => {
                x86::inner_product_wide(&x86::WideConsts::new(t, t_inv), &fix, x, out0, out1)
            }
        }
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
    use super::{InnerBlock, NarrowTarget, Reducer, ScaledSum, WideTarget};
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

    /// Eight residues of a digit: at `perm`'s indices (the gather of a
    /// hoisted rotation) or contiguous from `at`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn digit(dj: &[u64], idx: Option<__m256i>, at: usize) -> __m512i {
        match idx {
            Some(idx) => _mm512_i32gather_epi64::<8>(idx, dj.as_ptr() as *const i64),
            None => load(dj, at),
        }
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
    pub(super) unsafe fn convert(target: &NarrowTarget, lo: &[u64], hi: &[u64], v: &[u64], out: &mut [u64]) {
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

    /// A wide modulus's constants in registers.
    pub(super) struct WideConsts {
        t: __m512i,
        t0: __m512i,
        t1: __m512i,
        t_inv: __m512i,
        mask52: __m512i,
        one: __m512i,
    }

    /// `(c_0 + c_1·2^52 + c_2·2^104)·2^-104 mod t`, two Montgomery steps in
    /// radix 2^52, for `c_0, c_1 < 2^62`, `c_2 < 2^20`: each step adds the
    /// multiple `m·t` of t that clears the lowest digit and drops it. The
    /// result is below `t + 2^21 < 2t`, so one subtraction finishes.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq,avx512ifma")]
    fn montgomery(k: &WideConsts, c0: __m512i, c1: __m512i, c2: __m512i) -> __m512i {
        let z = _mm512_setzero_si512();
        let step = |lo: __m512i, hi: __m512i| -> (__m512i, __m512i) {
            // Carry lo's excess into hi; m = lo·(−t^{-1}) mod 2^52, so
            // lo + m·t ≡ 0 (mod 2^52): the sum is 2^52 exactly when lo ≠ 0.
            let hi = _mm512_add_epi64(hi, _mm512_srli_epi64::<52>(lo));
            let lo = _mm512_and_si512(lo, k.mask52);
            let m = _mm512_madd52lo_epu64(z, lo, k.t_inv);
            let carry = _mm512_maskz_mov_epi64(_mm512_test_epi64_mask(lo, lo), k.one);
            let hi = _mm512_madd52lo_epu64(_mm512_madd52hi_epu64(_mm512_add_epi64(hi, carry), m, k.t0), m, k.t1);
            (hi, _mm512_madd52hi_epu64(z, m, k.t1))
        };
        let (c1, top) = step(c0, c1);
        let (c2, top) = step(c1, _mm512_add_epi64(c2, top));
        let r = _mm512_add_epi64(c2, _mm512_slli_epi64::<52>(top));
        _mm512_mask_sub_epi64(r, _mm512_cmpge_epu64_mask(r, k.t), r, k.t)
    }

    impl WideConsts {
        /// For the prime `t` and `t_inv = −t^{-1} mod 2^52`.
        #[target_feature(enable = "avx512f")]
        pub(super) fn new(t: u64, t_inv: u64) -> Self {
            let set = |x: u64| _mm512_set1_epi64(x as i64);
            Self {
                t: set(t),
                t0: set(t & super::MASK52),
                t1: set(t >> 52),
                t_inv: set(t_inv),
                mask52: set(super::MASK52),
                one: set(1),
            }
        }
    }

    /// Adds `y·(w_0 + w_1·2^52)` to the columns `c` (weights 1, 2^52, 2^52,
    /// 2^104) for `y < 2^52`; without `full`, the caller knows `y·w_1 <
    /// 2^52` (a high part below 2^10 times `w_1 < 2^9`), which has no high half.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn add_columns(c: &mut [__m512i; 4], y: __m512i, w0: __m512i, w1: __m512i, full: bool) {
        c[0] = _mm512_madd52lo_epu64(c[0], y, w0);
        c[1] = _mm512_madd52hi_epu64(c[1], y, w0);
        c[2] = _mm512_madd52lo_epu64(c[2], y, w1);
        if full {
            c[3] = _mm512_madd52hi_epu64(c[3], y, w1);
        }
    }

    /// Adds `x·w` to the columns for a residue `x < 2^61` split at bit 52:
    /// the low part by `w[0]`'s digits, the high part (below 2^9) by
    /// `w[1]`'s, which carry the 2^52.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn add_wide(c: &mut [__m512i; 4], x: __m512i, w: &[[__m512i; 2]; 2], mask52: __m512i) {
        add_columns(c, _mm512_and_si512(x, mask52), w[0][0], w[0][1], true);
        add_columns(c, _mm512_srli_epi64::<52>(x), w[1][0], w[1][1], false);
    }

    /// Broadcasts one [`ScaledSum`] weight.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn weight(w: &[(u64, u64); 2]) -> [[__m512i; 2]; 2] {
        w.map(|(a, b)| [_mm512_set1_epi64(a as i64), _mm512_set1_epi64(b as i64)])
    }

    #[target_feature(enable = "avx512f,avx512dq,avx512ifma")]
    pub(super) unsafe fn scaled_sum_wide(k: &WideConsts, out: &mut [u64], sum: &ScaledSum, x: &[&[u64]]) -> Option<()> {
        let z = _mm512_setzero_si512();
        // Two vectors per step: independent chains hide the latency.
        for c in (0..out.len()).step_by(16) {
            let mut acc = [[z; 4]; 2];
            if let Some(wo) = &sum.w_out {
                let wo = weight(wo);
                for (u, a) in acc.iter_mut().enumerate() {
                    add_wide(a, load(out, c + 8 * u), &wo, k.mask52);
                }
            }
            for (xk, wk) in x.iter().zip(&sum.w) {
                let wk = weight(wk);
                for (u, a) in acc.iter_mut().enumerate() {
                    add_wide(a, load(xk, c + 8 * u), &wk, k.mask52);
                }
            }
            for (u, [c0, c1, d1, c2]) in acc.into_iter().enumerate() {
                store(out, c + 8 * u, montgomery(k, c0, _mm512_add_epi64(c1, d1), c2));
            }
        }
        Some(())
    }

    #[target_feature(enable = "avx512f,avx512dq,avx512ifma")]
    pub(super) unsafe fn scaled_sum_narrow(r: &Reducer, out: &mut [u64], sum: &ScaledSum, x: &[&[u64]]) -> Option<()> {
        let k = consts(r);
        let z = _mm512_setzero_si512();
        let add = |l: &mut __m512i, h: &mut __m512i, y: __m512i, w: __m512i| {
            *l = _mm512_madd52lo_epu64(*l, y, w);
            *h = _mm512_madd52hi_epu64(*h, y, w);
        };
        for c in (0..out.len()).step_by(16) {
            let (mut l, mut h) = ([z; 2], [z; 2]);
            if let Some(wo) = &sum.w_out {
                let wo = _mm512_set1_epi64(wo[0].0 as i64);
                for u in 0..2 {
                    add(&mut l[u], &mut h[u], load(out, c + 8 * u), wo);
                }
            }
            for (xk, wk) in x.iter().zip(&sum.w) {
                let wk = _mm512_set1_epi64(wk[0].0 as i64);
                for u in 0..2 {
                    add(&mut l[u], &mut h[u], load(xk, c + 8 * u), wk);
                }
            }
            for u in 0..2 {
                store(out, c + 8 * u, reduce(&k, l[u], h[u]));
            }
        }
        Some(())
    }

    #[target_feature(enable = "avx512f,avx512dq,avx512ifma")]
    pub(super) unsafe fn convert_wide(target: &WideTarget, lo: &[u64], hi: &[u64], v: &[u64], out: &mut [u64]) {
        let block = out.len();
        let set = |x: u64| _mm512_set1_epi64(x as i64);
        let k = WideConsts::new(target.t, target.t_inv);
        let (n0, n1) = (set(target.neg_q.0), set(target.neg_q.1));
        const V: usize = super::CHUNK / 8;
        let z = _mm512_setzero_si512();
        for c in (0..block).step_by(super::CHUNK) {
            // Columns of weight 1, 2^52 (two accumulators: shorter chains)
            // and 2^104, starting from v·(−Q·2^104 mod t) (v ≤ 32, so
            // v·n_1 < 2^15 has no high half).
            let mut acc: [[__m512i; 4]; V] = std::array::from_fn(|u| {
                let v = load(v, c + 8 * u);
                [_mm512_madd52lo_epu64(z, v, n0), _mm512_madd52hi_epu64(z, v, n0), _mm512_madd52lo_epu64(z, v, n1), z]
            });
            // The low parts, then the high parts y_h < 2^10 (y_h·w_1 < 2^19).
            for (rows, weights, full) in [(lo, &target.a, true), (hi, &target.b, false)] {
                for (i, &(w0, w1)) in weights.iter().enumerate() {
                    let (w0, w1) = (set(w0), set(w1));
                    for (u, a) in acc.iter_mut().enumerate() {
                        add_columns(a, load(rows, i * block + c + 8 * u), w0, w1, full);
                    }
                }
            }
            for (u, [c0, c1, d1, c2]) in acc.into_iter().enumerate() {
                store(out, c + 8 * u, montgomery(&k, c0, _mm512_add_epi64(c1, d1), c2));
            }
        }
    }

    /// [`inner_product`] for a prime from 2^45 up to 2^61 (see
    /// [`super::InnerReducer::new`]): per output the columns 1, 2^52
    /// (two accumulators: shorter chains) and 2^104, their Montgomery
    /// reduction, and the product by `fix` that undoes its 2^-104.
    #[target_feature(enable = "avx512f,avx512dq,avx512ifma")]
    pub(super) unsafe fn inner_product_wide(
        k: &WideConsts,
        fix: &[(u64, u64); 2],
        x: &InnerBlock<'_>,
        out0: &mut [u64],
        out1: &mut [u64],
    ) -> Option<()> {
        let InnerBlock { d, start, perm, b, a } = *x;
        let fix = weight(fix);
        let z = _mm512_setzero_si512();
        // y·x into the columns, both split at bit 52.
        let add = |c: &mut [__m512i; 4], x0: __m512i, x1: __m512i, y: __m512i| {
            let (y0, y1) = (_mm512_and_si512(y, k.mask52), _mm512_srli_epi64::<52>(y));
            c[0] = _mm512_madd52lo_epu64(c[0], x0, y0);
            c[1] = _mm512_madd52hi_epu64(c[1], x0, y0);
            c[2] = _mm512_madd52lo_epu64(_mm512_madd52lo_epu64(c[2], x0, y1), x1, y0);
            c[3] = _mm512_madd52lo_epu64(_mm512_madd52hi_epu64(_mm512_madd52hi_epu64(c[3], x0, y1), x1, y0), x1, y1);
        };
        let finish = |c: [__m512i; 4]| -> __m512i {
            let r = montgomery(k, c[0], _mm512_add_epi64(c[1], c[2]), c[3]);
            let mut f = [z; 4];
            add_wide(&mut f, r, &fix, k.mask52);
            montgomery(k, f[0], _mm512_add_epi64(f[1], f[2]), f[3])
        };
        for c in (0..out0.len()).step_by(8) {
            let (mut acc0, mut acc1) = ([z; 4], [z; 4]);
            let idx = perm.map(|p| _mm256_loadu_si256(p.as_ptr().add(c) as *const __m256i));
            for j in 0..d.len() {
                let x = digit(d[j], idx, start + c);
                let (x0, x1) = (_mm512_and_si512(x, k.mask52), _mm512_srli_epi64::<52>(x));
                add(&mut acc0, x0, x1, load(b[j], c));
                add(&mut acc1, x0, x1, load(a[j], c));
            }
            store(out0, c, finish(acc0));
            store(out1, c, finish(acc1));
        }
        Some(())
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
                let x = digit(d[j], idx, start + c);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::primes::{ntt_primes, PrimeSide};

    fn rows(v: &[Vec<u64>]) -> Vec<&[u64]> {
        v.iter().map(Vec::as_slice).collect()
    }

    /// Primes at the kernels' edges: 40 bits, just below and above 2^45,
    /// 60 bits, the largest below 2^61.
    fn edge_primes() -> [u64; 5] {
        let around45 = ntt_primes(45, 2, 2048, PrimeSide::Around, &[]).unwrap();
        [(1u64 << 40) - 87, around45[0], around45[1], 1152921504606584833, (1 << 61) - 1]
    }

    /// `k` residues below t from an LCG state: the first `high` are t − 1
    /// or t − 2 (the largest products), the rest uniform.
    fn residues(s: &mut u64, t: u64, k: usize, high: usize) -> Vec<u64> {
        (0..k)
            .map(|i| {
                *s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                if i < high {
                    t - 1 - (i as u64 & 1)
                } else {
                    (*s >> 3) % t
                }
            })
            .collect()
    }

    /// The inner product equals its u128 definition for primes on both
    /// sides of 2^45 and up to 2^61, at the largest residues and the most
    /// digits each path takes, with and without a permutation; more
    /// digits than that are declined.
    #[test]
    fn inner_product_matches_u128_sums_at_the_edges() {
        let mut s = 0x853c_49e6_748f_ea9bu64;
        for t in edge_primes() {
            let m = Modulus::new(t);
            let Some(reducer) = InnerReducer::new(&m) else {
                assert!(!available(), "every prime below 2^61 has a path");
                continue;
            };
            let most = reducer.max_digits();
            let n = 64;
            let mut r = |k: usize, edge: bool| residues(&mut s, t, k, if edge { k } else { 8 });
            for (digits, edge) in [(1, false), (5, false), (most, true), (most, false)] {
                let d: Vec<Vec<u64>> = (0..digits).map(|_| r(n + 8, edge)).collect();
                let b: Vec<Vec<u64>> = (0..digits).map(|_| r(n, edge)).collect();
                let a: Vec<Vec<u64>> = (0..digits).map(|_| r(n, false)).collect();
                let perm: Vec<u32> = (0..n as u32).map(|c| (c * 7 + 5) % (n as u32 + 8)).collect();
                for p in [None, Some(&perm[..])] {
                    let (dr, br, ar) = (rows(&d), rows(&b), rows(&a));
                    let block = InnerBlock { d: &dr, start: 8, perm: p, b: &br, a: &ar };
                    let (mut o0, mut o1) = (vec![0; n], vec![0; n]);
                    inner_product(&reducer, &block, &mut o0, &mut o1).expect("within the digit limit");
                    for c in 0..n {
                        let src = p.map_or(8 + c, |p| p[c] as usize);
                        let sum = |k: &[Vec<u64>]| {
                            (0..digits).fold(0u128, |acc, j| (acc + d[j][src] as u128 * k[j][c] as u128) % t as u128)
                        };
                        assert_eq!(
                            [o0[c] as u128, o1[c] as u128],
                            [sum(&b), sum(&a)],
                            "t = {t}, {digits} digits, c {c}"
                        );
                    }
                }
            }
            let d: Vec<&[u64]> = vec![&[0; 8]; most + 1];
            let block = InnerBlock { d: &d, start: 0, perm: None, b: &d, a: &d };
            assert!(inner_product(&reducer, &block, &mut [0; 8], &mut [0; 8]).is_none());
        }
    }

    /// `scaled_sum` equals its definition in u128 arithmetic on both paths
    /// and at their edges (just below and above 2^45, 60 bits, the largest
    /// prime below 2^61), for 1 to 32 terms with and without `out`'s own
    /// term, on residues up to t − 1; lengths it does not take are left alone.
    #[test]
    fn scaled_sum_matches_u128_sums() {
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        for t in edge_primes() {
            let m = Modulus::new(t);
            let mut r = |k: usize| residues(&mut s, t, k, 40);
            for (terms, with_out) in [(1, false), (1, true), (2, true), (3, false), (31, true), (32, false)] {
                let len = 304;
                let x: Vec<Vec<u64>> = (0..terms).map(|_| r(len)).collect();
                let mut w = r(terms + 1);
                w[0] = t - 1;
                let w_out = with_out.then_some(w[terms]);
                let before = r(len);
                let mut got = before.clone();
                let xs: Vec<&[u64]> = x.iter().map(Vec::as_slice).collect();
                let ran = scaled_sum(&m, &mut got, w_out, &xs, &w[..terms]);
                assert_eq!(ran.is_some(), available(), "runs wherever the CPU can");
                if ran.is_none() {
                    assert_eq!(got, before, "nothing written");
                    continue;
                }
                for c in 0..len {
                    let mut want = w_out.map_or(0, |wo| before[c] as u128 * wo as u128 % t as u128);
                    for k in 0..terms {
                        want = (want + x[k][c] as u128 * w[k] as u128) % t as u128;
                    }
                    assert_eq!(got[c] as u128, want, "t = {t}, {terms} terms, coefficient {c}");
                }
            }
            // Not a multiple of 16, or too many terms: declined.
            let x = r(312);
            let mut out = r(312);
            assert!(scaled_sum(&m, &mut out, None, &[&x], &[1]).is_none());
            let many: Vec<&[u64]> = (0..MAX_TERMS).map(|_| &x[..304]).collect();
            assert!(scaled_sum(&m, &mut out[..304], Some(1), &many, &vec![1; MAX_TERMS]).is_none());
        }
    }
}
