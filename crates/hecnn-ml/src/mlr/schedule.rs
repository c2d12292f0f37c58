//! The Nesterov schedule of the encrypted trainer and the `f64` model of its
//! update step.
//!
//! The server takes `(η_t, γ_t)` from [`schedule`] and applies the update on
//! ciphertexts; [`nesterov_step`] is the same update on plaintext matrices.
//! The plaintext reference (`mlr::reference`) has its own schedule and
//! update, written independently; `tests/mlr_crosscheck.rs` holds the two
//! together.

use serde::{Deserialize, Serialize};

use crate::MlError;

/// `α₀` of the schedule (the paper's code starts at 0.01, not 0).
pub const ALPHA0: f64 = 0.01;

/// `α_t`: `α₀ = 0.01`, `α_{t+1} = (1 + √(1 + 4α_t²)) / 2` — the momentum
/// sequence the trainer's `η_t` comes from.
pub fn alpha(t: usize) -> f64 {
    let mut a = ALPHA0;
    for _ in 0..t {
        a = next_alpha(a);
    }
    a
}

fn next_alpha(a: f64) -> f64 {
    (1.0 + (1.0 + 4.0 * a * a).sqrt()) / 2.0
}

/// The constants of iteration `t` (0-based) for `n` samples:
/// `(η_t, γ_t)` with `η_t = (1 − α_t)/α_{t+1}` and `γ_t = 1/((t+1)·n)`.
///
/// The encrypted trainer calls it once per iteration; `n = 0` gives
/// `γ_t = +inf` (an upload always has samples).
pub fn schedule(t: usize, n: usize) -> (f64, f64) {
    let a = alpha(t);
    let eta = (1.0 - a) / next_alpha(a);
    let gamma = 1.0 / ((t as f64 + 1.0) * n as f64);
    (eta, gamma)
}

/// The two weight matrices of Nesterov's method and the iteration counter.
///
/// `w` is the model the paper's code decrypts and evaluates after every
/// iteration (`encW8ghtData`); `v` (`encVelocData`) is the look-ahead point
/// at which the next gradient is taken. Both are `classes × features`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NesterovState {
    /// The evaluated model `W` (c×d).
    pub w: Vec<Vec<f64>>,
    /// The look-ahead point `V` (c×d) where the gradient is evaluated.
    pub v: Vec<Vec<f64>>,
    /// Number of steps taken so far (the `t` of the next step).
    pub t: usize,
}

impl NesterovState {
    /// `W = V =` `init` everywhere, `t = 0` (the paper's code uses 0.0128).
    pub fn new(classes: usize, features: usize, init: f64) -> Self {
        let m = vec![vec![init; features]; classes];
        Self { w: m.clone(), v: m, t: 0 }
    }
}

/// One Nesterov update with an already scaled step `S` (c×d):
/// `tmp = W + S`, `W ← (1−η_t)·tmp + η_t·V`, `V ← tmp`, `t ← t+1`.
///
/// For the quadratic gradient `S = (1+γ_t)·(B̄ ⊙ g(V))`; for plain NAG
/// `S = lr·g(V)`. This is the server's update in `f64`, so that tests can
/// compose the encrypted side's pieces in plaintext and hold them against
/// the reference. A step whose shape differs from `W` is rejected (and the
/// state left untouched) rather than silently truncated.
pub fn nesterov_step(state: &mut NesterovState, step: &[Vec<f64>]) -> Result<(), MlError> {
    if step.len() != state.w.len() {
        return Err(MlError::ClassRows { expected: state.w.len(), found: step.len() });
    }
    for (row, (s_row, w_row)) in step.iter().zip(&state.w).enumerate() {
        if s_row.len() != w_row.len() {
            return Err(MlError::WeightShape { row, expected: w_row.len(), found: s_row.len() });
        }
    }
    let (eta, _) = schedule(state.t, 1);
    for ((w_row, v_row), s_row) in state.w.iter_mut().zip(state.v.iter_mut()).zip(step) {
        for ((w, v), s) in w_row.iter_mut().zip(v_row.iter_mut()).zip(s_row) {
            let tmp = *w + s;
            *w = (1.0 - eta) * tmp + eta * *v;
            *v = tmp;
        }
    }
    state.t += 1;
    Ok(())
}
