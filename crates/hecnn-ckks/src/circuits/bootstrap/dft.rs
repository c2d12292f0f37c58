//! The homomorphic DFT: CoeffsToSlots and SlotsToCoeffs as chains of BSGS
//! linear transforms built from the special FFT's butterflies.

use super::config::BootstrapConfig;
use crate::circuits::linear::{BabyHops, DiagMatrix, LinearTransform};
use crate::context::Context;
use num_complex::Complex64;
use std::f64::consts::TAU;

/// The CoeffsToSlots/SlotsToCoeffs transforms for one slot count.
#[derive(Clone, Debug)]
pub(crate) struct SlotPlan {
    pub(super) slots: usize,
    pub(super) cts: Vec<LinearTransform>,
    pub(super) stc: Vec<LinearTransform>,
    /// Rotations of the sub-sum (empty for full slots).
    pub(super) trace: Vec<i64>,
    /// Sparse packing (2·slots ≤ N/2): the real and imaginary coefficient
    /// halves share one 2·slots-slot ciphertext, so EvalMod runs once. The
    /// last CtS transform then acts over 2·slots slots and keeps only the
    /// first half of each period; the first StC transform acts over 2·slots
    /// slots and, with one rotation after it, folds `[re | im] ↦ re + i·im`
    /// back into a period of `slots`.
    pub(super) packed: bool,
    /// Rotation applied to the input before anything else: the rotation
    /// the chain's left alignment leaves over, paid at the input's level
    /// (1 or 4 limbs) instead of on the last transform (see [`align`]).
    pub(super) pre: i64,
}

impl SlotPlan {
    pub(crate) fn new(ctx: &Context, slots: usize, config: &BootstrapConfig) -> Self {
        let stages = fft_stages(slots, 2 * ctx.n());
        let mut cts = group(stages.iter().rev().map(|s| s.inverse.clone()).collect(), config.cts_levels);
        let mut stc = group(stages.iter().map(|s| s.forward.clone()).collect(), config.stc_levels);
        let mut trace = Vec::new();
        let mut step = slots;
        while step < ctx.n() / 2 {
            trace.push(step as i64);
            step *= 2;
        }
        // Not with SlotsToCoeffs first: its output is EvalMod's, so the
        // fold back to `re + i·im` would cost a level; there sparse complex
        // slots take two EvalMods and real ones (`bootstrap_real`) one.
        let packed = 2 * slots <= ctx.n() / 2 && !config.slots_to_coeffs_first;
        if packed {
            let (zero, one, i) = (Complex64::new(0.0, 0.0), Complex64::new(1.0, 0.0), Complex64::new(0.0, 1.0));
            let half = |a: Complex64, b: Complex64| -> Vec<Complex64> {
                (0..2 * slots).map(|j| if j < slots { a } else { b }).collect()
            };
            let last = cts.pop().expect("at least one CtS level");
            let keep_first = DiagMatrix::diagonal(half(one, zero));
            cts.push(keep_first.compose(&last.periodic_extension(2 * slots)));
            // M·(I + R_slots)·diag(1…1, i…i) maps [re | im] to a period of
            // M·(re + i·im). M's periodic extension commutes with R_slots, so
            // the transform keeps M's diagonals and the (I + R_slots) is one
            // rotation after it (rather than doubling its diagonals).
            let first = stc.remove(0);
            stc.insert(0, first.periodic_extension(2 * slots).compose(&DiagMatrix::diagonal(half(one, i))));
        }
        // Aligned in the order they run: SlotsToCoeffs first owes its
        // rotation to CoeffsToSlots (it passes ModRaise: a rotated
        // polynomial plus q_0 times another integer one).
        let (cts, stc, pre) = if config.slots_to_coeffs_first {
            let (stc, cts, pre) = align(stc, cts, !packed);
            (cts, stc, pre)
        } else {
            align(cts, stc, !packed)
        };
        Self { slots, cts, stc, trace, packed, pre }
    }

    /// Every rotation of the circuit with the highest level it runs at,
    /// for a chain whose top is `top` and SlotsToCoeffs landing on `out`
    /// (the output level, or 0 when it runs first) and the input at
    /// `input`: the input's pre-rotation there, the sub-sum at the top, CtS transform i at `top − i` (its giant steps act on
    /// unrescaled sums at the same level), the packing rotation beside the
    /// last CtS, StC transform j at `out + stc − j` and the fold after the
    /// first one. A rotation shared by several steps
    /// gets the highest of their levels (see [`GaloisKeys::generate_at_levels`]).
    #[cfg(feature = "client")]
    pub(crate) fn rotation_levels(&self, top: usize, out: usize, input: usize) -> Vec<(i64, usize)> {
        let mut r: Vec<(i64, usize)> = self.trace.iter().map(|&s| (s, top)).collect();
        if self.pre != 0 {
            r.push((self.pre, input));
        }
        for (i, t) in self.cts.iter().enumerate() {
            r.extend(t.rotations().into_iter().map(|s| (s, top - i)));
        }
        let stc = self.stc.len();
        for (j, t) in self.stc.iter().enumerate() {
            r.extend(t.rotations().into_iter().map(|s| (s, out + stc - j)));
        }
        if self.packed {
            r.push((self.slots as i64, self.conjugation_level(top)));
        }
        r
    }

    /// The level of the conjugation after the last CtS transform (left
    /// unrescaled at `top − cts + 1`); the real pair's split conjugates
    /// lower, at the output level.
    #[cfg(feature = "client")]
    pub(crate) fn conjugation_level(&self, top: usize) -> usize {
        top + 1 - self.cts.len()
    }
}

/// One butterfly stage of the special FFT over `slots` values, as a matrix
/// (forward: decoding direction without bit reversal; inverse: its inverse
/// without the final bit reversal and 1/slots).
pub(super) struct Stage {
    pub(super) forward: DiagMatrix,
    pub(super) inverse: DiagMatrix,
}

/// The butterflies of `encoding.rs`'s `fft_special` (len = 2, 4, …, slots),
/// with the same twiddles `ζ^{(5^j mod 4len)·2N/4len}`.
pub(super) fn fft_stages(slots: usize, m: usize) -> Vec<Stage> {
    let one = Complex64::new(1.0, 0.0);
    let mut stages = Vec::new();
    let mut len = 2;
    while len <= slots {
        let lenh = len / 2;
        let lenq = 4 * len;
        let mut fwd = DiagMatrix::zero(slots);
        let mut inv = DiagMatrix::zero(slots);
        let mut g = 1usize; // 5^j mod lenq
        for j in 0..lenh {
            let w = Complex64::from_polar(1.0, TAU * ((g % lenq) * (m / lenq)) as f64 / m as f64);
            let w_inv = w.conj();
            for i in (0..slots).step_by(len) {
                let (lo, hi) = (i + j, i + j + lenh);
                let h = lenh as i64;
                // forward: lo ← v_lo + w v_hi, hi ← v_lo − w v_hi
                fwd.add_entry(0, lo, one);
                fwd.add_entry(h, lo, w);
                fwd.add_entry(-h, hi, one);
                fwd.add_entry(0, hi, -w);
                // inverse: lo ← v_lo + v_hi, hi ← (v_lo − v_hi)·w̄
                inv.add_entry(0, lo, one);
                inv.add_entry(h, lo, one);
                inv.add_entry(-h, hi, w_inv);
                inv.add_entry(0, hi, -w_inv);
            }
            g = g * 5 % lenq;
        }
        stages.push(Stage { forward: fwd, inverse: inv });
        len *= 2;
    }
    stages
}

/// [`left_align`], with the rotation left over on the last transform
/// moved to the input when `to_input` (all matrices act on one slot count:
/// no packing). The chain computes `R^f·M` with its last rotation `R^f`
/// taken off; on the matrices `R^f·M_i·R^{−f}` (same diagonal indices, so
/// the same alignment and the same f) it computes `M·R^{−f}`, which on the
/// input rotated by f is `M`. Returns the pre-rotation (0: none).
fn align(
    first: Vec<DiagMatrix>,
    second: Vec<DiagMatrix>,
    to_input: bool,
) -> (Vec<LinearTransform>, Vec<LinearTransform>, i64) {
    let (a, b) = left_align(first.clone(), second.clone());
    let f = b.last().map_or(0, LinearTransform::post_rotation);
    if !to_input || f == 0 {
        return (a, b, 0);
    }
    let conjugate = |m: DiagMatrix| {
        let n = m.slots();
        DiagMatrix::rotation(n, f).compose(&m.compose(&DiagMatrix::rotation(n, -f)))
    };
    let (a2, mut b2) =
        left_align(first.into_iter().map(conjugate).collect(), second.into_iter().map(conjugate).collect());
    let last = b2.pop().expect("a non-empty chain");
    if last.post_rotation() != f {
        return (a, b, 0);
    }
    b2.push(last.then_rotate(-f));
    (a2, b2, f)
}

/// The transforms of two chains of matrices (application order: `cts`
/// then `stc`, or StC then CtS when SlotsToCoeffs runs first), each but
/// the last left-aligned ([`LinearTransform::left_aligned`]): the rotation
/// it owes is folded into the next matrix, `M_{i+1}·R^{g_i}`. Between the
/// two chains sit only slot-wise maps (EvalMod, the conjugation split),
/// rotations (the packing) or ModRaise, which commute with it; the last
/// transform pays what is left, so the chain computes exactly the product.
/// All but the last transform then need no key for a negative giant step.
fn left_align(cts: Vec<DiagMatrix>, stc: Vec<DiagMatrix>) -> (Vec<LinearTransform>, Vec<LinearTransform>) {
    let (count, cts_count) = (cts.len() + stc.len(), cts.len());
    let mut owed = 0i64;
    let mut out: Vec<LinearTransform> = Vec::with_capacity(count);
    for (i, m) in cts.into_iter().chain(stc).enumerate() {
        // M·R^owed: a vector of period m.slots() owes the rotation modulo it.
        let n = m.slots();
        if i + 1 == count {
            // M·R^o = R^o·M̃ with M̃ = R^{−o}·M·R^o, which has M's diagonal
            // indices (only their entries rotate), so M̃ keeps the power-of-two
            // structure; R^o is paid by one rotation on the result.
            let conjugated = DiagMatrix::rotation(n, -owed).compose(&m.compose(&DiagMatrix::rotation(n, owed)));
            let (t, g) = LinearTransform::left_aligned(conjugated, BabyHops::Unit);
            out.push(t.then_rotate(owed + g));
        } else {
            let (t, g) = LinearTransform::left_aligned(m.compose(&DiagMatrix::rotation(n, owed)), BabyHops::Unit);
            out.push(t);
            owed = g;
        }
    }
    let stc = out.split_off(cts_count);
    (out, stc)
}

/// Multiplies consecutive matrices (application order) into exactly
/// `levels` groups; with fewer stages than levels the rest are identities, so
/// every slot count lands on the same output level.
fn group(mats: Vec<DiagMatrix>, levels: usize) -> Vec<DiagMatrix> {
    let slots = mats.first().map_or(2, DiagMatrix::slots);
    let mut mats = mats;
    while mats.len() < levels {
        mats.push(DiagMatrix::identity(slots));
    }
    let count = mats.len();
    let mut out = Vec::with_capacity(levels);
    let mut it = mats.into_iter();
    for g in 0..levels {
        let size = count / levels + usize::from(g < count % levels);
        let mut acc: Option<DiagMatrix> = None;
        for m in it.by_ref().take(size) {
            acc = Some(match acc {
                None => m,
                Some(a) => m.compose(&a),
            });
        }
        out.push(acc.expect("non-empty group"));
    }
    out
}
