//! Basis conversion into primes below 2^44 in double precision, for CPUs
//! with AVX2 and FMA but without AVX-512 IFMA.
//!
//! Why: there the conversion's general path is a scalar 128-bit
//! multiply-add chain per output residue (≈ 25 cycles for six sources on
//! the EPYC VM), and conversions are the largest part of a key switch. A
//! scaled residue `y_i < 2^61` splits into pieces `a` of 22 bits and a
//! weight `W = (Q/q_i)·2^(22k) mod t < 2^44` into halves `W_hi·2^22 + W_lo`,
//! so every partial product `a·W_hi`, `a·W_lo` is an integer below 2^44 and
//! up to 2^9 of them add up exactly in an `f64`: the sum over sources is
//! plain FMAs, four coefficients at a time, and only the two column sums
//! are reduced, once per output. The result is the canonical residue, the
//! same bits as the 128-bit path (`basis::tests::convert_matches_the_scalar_path`).

use super::modulus::Modulus;

/// Targets this path takes: below 2^44, so both weight halves are < 2^22.
pub(crate) const MAX_TARGET: u64 = 1 << 44;
/// Bits per piece of a scaled residue.
const PIECE_BITS: u32 = 22;
const PIECE_MASK: u64 = (1 << PIECE_BITS) - 1;
/// 2^52: `f64::from_bits(x | MAGIC_BITS) − MAGIC` is `x` for `x < 2^52`.
const MAGIC: f64 = 4_503_599_627_370_496.0;
const MAGIC_BITS: u64 = 0x4330_0000_0000_0000;

/// Whether the CPU runs this path (AVX2 and FMA).
pub(crate) fn available() -> bool {
    kernels::available()
}

/// One target prime's constants.
#[derive(Clone, Debug)]
struct Target {
    t: f64,
    t_inv: f64,
    /// `Q mod t`, subtracted `v` times.
    q_mod: f64,
    /// Per row: `(W_hi, W_lo)` of `W = (Q/q_i)·2^(22k) mod t`.
    weights: Vec<[f64; 2]>,
}

/// Where one block of a conversion reads its input: `input` holds the
/// source limbs (n values each), `factors` the `(Q/q_i)^{-1}` scalings and
/// their Shoup companions, and the block starts at coefficient `start`.
#[derive(Clone, Copy)]
pub(crate) struct BlockInput<'a> {
    pub input: &'a [u64],
    pub factors: &'a [(u64, u64)],
    pub start: usize,
    pub n: usize,
}

/// One block's buffers: the scaled residues (source-major, also read by
/// the scalar path for the other targets), their pieces, and `v` before
/// and after rounding.
pub(crate) struct BlockRows {
    pub y: Vec<u64>,
    pieces: Vec<f64>,
    f: Vec<f64>,
    v: Vec<f64>,
}

/// The double-precision tables of one [`super::basis::BasisConverter`].
#[derive(Clone, Debug)]
pub(crate) struct F64Conversion {
    /// Source primes and `1/q_i` (for `v`, as the scalar path computes it).
    src: Vec<Modulus>,
    inv_src: Vec<f64>,
    /// Pieces per source prime: 2 below 2^44, 3 up to 2^61 (22 + 22 + 17 bits).
    pieces: Vec<usize>,
    rows: usize,
    /// Per target prime: its tables, or `None` when it is 2^44 or above.
    targets: Vec<Option<Target>>,
}

impl F64Conversion {
    /// Tables for the targets below [`MAX_TARGET`]; `None` when the CPU
    /// lacks AVX2 or FMA, or no target qualifies. `qhat_mod_dst` is
    /// `(Q/q_i) mod t_j` laid out `[j·src.len() + i]`.
    pub(crate) fn new(src: &[Modulus], dst: &[Modulus], qhat_mod_dst: &[u64], q_mod_dst: &[u64]) -> Option<Self> {
        if !available() || src.len() > 32 {
            return None;
        }
        let pieces: Vec<usize> = src.iter().map(|q| if q.value < MAX_TARGET { 2 } else { 3 }).collect();
        let rows = pieces.iter().sum();
        let targets: Vec<Option<Target>> = dst
            .iter()
            .enumerate()
            .map(|(j, t)| {
                (t.value < MAX_TARGET).then(|| {
                    let mut weights = Vec::with_capacity(rows);
                    for (i, &p) in pieces.iter().enumerate() {
                        let mut w = qhat_mod_dst[j * src.len() + i];
                        for _ in 0..p {
                            weights.push([(w >> PIECE_BITS) as f64, (w & PIECE_MASK) as f64]);
                            w = t.mul(w, t.reduce(1 << PIECE_BITS));
                        }
                    }
                    Target { t: t.value as f64, t_inv: 1.0 / t.value as f64, q_mod: q_mod_dst[j] as f64, weights }
                })
            })
            .collect();
        let inv_src = src.iter().map(|q| 1.0 / q.value as f64).collect();
        targets.iter().any(Option::is_some).then_some(Self { src: src.to_vec(), inv_src, pieces, rows, targets })
    }

    /// Whether target `j` takes this path.
    pub(crate) fn has_target(&self, j: usize) -> bool {
        self.targets[j].is_some()
    }

    /// Buffers for one block of `block` coefficients.
    pub(crate) fn block_rows(&self, block: usize) -> BlockRows {
        BlockRows {
            y: vec![0; block * self.pieces.len()],
            pieces: vec![0.0; self.rows * block],
            f: vec![0.0; block],
            v: vec![0.0; block],
        }
    }

    /// One block's scaled residues `y_i = [x_i·w_i]_{q_i}` (source-major),
    /// `v = round(Σ y_i/q_i)` — summed in the scalar path's order, so it is
    /// the same `v` — into `v_out` and `rows.v`, and the pieces of `y`.
    pub(crate) fn prepare(&self, input: BlockInput<'_>, rows: &mut BlockRows, v_out: &mut [u8]) {
        // SAFETY: tables exist only where the CPU has AVX2 and FMA (`new`).
        #[cfg(target_arch = "x86_64")]
        unsafe {
            self.prepare_avx2(input, rows, v_out)
        }
        #[cfg(not(target_arch = "x86_64"))]
        self.prepare_portable(input, rows, v_out)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn prepare_avx2(&self, input: BlockInput<'_>, rows: &mut BlockRows, v_out: &mut [u8]) {
        self.prepare_portable(input, rows, v_out)
    }

    #[inline(always)]
    fn prepare_portable(&self, input: BlockInput<'_>, rows: &mut BlockRows, v_out: &mut [u8]) {
        let BlockInput { input, factors, start, n } = input;
        let block = rows.f.len();
        for (i, (q, &(w, ws))) in self.src.iter().zip(factors).enumerate() {
            let x = &input[i * n + start..i * n + start + block];
            let y = &mut rows.y[i * block..(i + 1) * block];
            y.iter_mut().zip(x).for_each(|(y, &xx)| *y = q.mul_shoup(xx, w, ws));
        }
        rows.f.fill(0.0);
        for (y, &inv) in rows.y.chunks_exact(block).zip(&self.inv_src) {
            rows.f.iter_mut().zip(y).for_each(|(f, &y)| *f += y as f64 * inv);
        }
        for ((o, vf), &f) in v_out.iter_mut().zip(rows.v.iter_mut()).zip(&rows.f) {
            *vf = f.round();
            *o = *vf as u8;
        }
        let mut r = 0;
        for (i, &p) in self.pieces.iter().enumerate() {
            let y = &rows.y[i * block..(i + 1) * block];
            for k in 0..p {
                let shift = PIECE_BITS * k as u32;
                let mask = if k + 1 == p { u64::MAX } else { PIECE_MASK };
                let dst = &mut rows.pieces[r * block..(r + 1) * block];
                for (d, &x) in dst.iter_mut().zip(y) {
                    *d = f64::from_bits(((x >> shift) & mask) | MAGIC_BITS) - MAGIC;
                }
                r += 1;
            }
        }
    }

    /// `out[c] = (Σ_rows a·W − v[c]·Q) mod t_j` for target `j` (which must
    /// take this path) over one block; `v` holds small integers as `f64`.
    pub(crate) fn convert_target(&self, j: usize, rows: &BlockRows, out: &mut [u64]) {
        let target = self.targets[j].as_ref().expect("a target of the f64 path");
        assert!(
            out.len() == rows.v.len() && out.len().is_multiple_of(16) && rows.pieces.len() == self.rows * out.len()
        );
        // SAFETY: tables exist only where the CPU has AVX2 and FMA (`new`).
        unsafe { kernels::convert_target(target, &rows.pieces, &rows.v, out) }
    }
}

#[cfg(target_arch = "x86_64")]
mod kernels {
    use super::{Target, MAGIC, MAGIC_BITS, PIECE_BITS};
    use std::arch::x86_64::*;

    pub fn available() -> bool {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }

    /// Sixteen coefficients at a time: four lanes × four accumulator pairs,
    /// each row's two weights broadcast once for all of them.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn convert_target(tg: &Target, rows: &[f64], v: &[f64], out: &mut [u64]) {
        let block = out.len();
        let t = _mm256_set1_pd(tg.t);
        let t_inv = _mm256_set1_pd(tg.t_inv);
        let q_mod = _mm256_set1_pd(tg.q_mod);
        let two22 = _mm256_set1_pd((1u64 << PIECE_BITS) as f64);
        let zero = _mm256_setzero_pd();
        let magic = _mm256_set1_pd(MAGIC);
        let bits = _mm256_set1_epi64x(MAGIC_BITS as i64);
        const NEAREST: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
        const FLOOR: i32 = _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC;
        let rp = rows.as_ptr();
        let mut c = 0;
        while c < block {
            let mut hi = [zero; 4];
            let mut lo = [zero; 4];
            for (r, w) in tg.weights.iter().enumerate() {
                let (wh, wl) = (_mm256_set1_pd(w[0]), _mm256_set1_pd(w[1]));
                let base = rp.add(r * block + c);
                for k in 0..4 {
                    let a = _mm256_loadu_pd(base.add(4 * k));
                    // a < 2^22 and weights < 2^22: exact products, exact sums.
                    hi[k] = _mm256_fmadd_pd(a, wh, hi[k]);
                    lo[k] = _mm256_fmadd_pd(a, wl, lo[k]);
                }
            }
            for k in 0..4 {
                // hi mod t (|·| < 1.5t), times 2^22 (exact), mod t again.
                let q1 = _mm256_round_pd::<NEAREST>(_mm256_mul_pd(hi[k], t_inv));
                let r1 = _mm256_mul_pd(_mm256_fnmadd_pd(q1, t, hi[k]), two22);
                let q2 = _mm256_round_pd::<NEAREST>(_mm256_mul_pd(r1, t_inv));
                let r2 = _mm256_fnmadd_pd(q2, t, r1);
                // + lo − v·(Q mod t): an integer below 2^52, exact.
                let vk = _mm256_loadu_pd(v.as_ptr().add(c + 4 * k));
                let x = _mm256_fnmadd_pd(vk, q_mod, _mm256_add_pd(r2, lo[k]));
                let q3 = _mm256_round_pd::<FLOOR>(_mm256_mul_pd(x, t_inv));
                let mut r = _mm256_fnmadd_pd(q3, t, x);
                // The floor may be one off either way: one correction each.
                r = _mm256_add_pd(r, _mm256_and_pd(_mm256_cmp_pd::<_CMP_LT_OQ>(r, zero), t));
                r = _mm256_sub_pd(r, _mm256_and_pd(_mm256_cmp_pd::<_CMP_GE_OQ>(r, t), t));
                let u = _mm256_sub_epi64(_mm256_castpd_si256(_mm256_add_pd(r, magic)), bits);
                _mm256_storeu_si256(out.as_mut_ptr().add(c + 4 * k) as *mut __m256i, u);
            }
            c += 16;
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod kernels {
    use super::Target;

    pub fn available() -> bool {
        false
    }

    pub unsafe fn convert_target(_: &Target, _: &[f64], _: &[f64], _: &mut [u64]) {
        unreachable!("no tables without AVX2")
    }
}
