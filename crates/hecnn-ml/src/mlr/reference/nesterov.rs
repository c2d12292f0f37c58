//! The reference's own Nesterov schedule, written from `DESIGN.md`:
//!
//! ```text
//! α₀ = 0.01,   α_{t+1} = (1 + √(1 + 4α_t²)) / 2,
//! η_t = (1 − α_t) / α_{t+1},   γ_t = 1 / ((t+1)·n)
//! ```
//!
//! It is a running sequence — `α_t` is carried from one iteration to the
//! next — where the encrypted side's `mlr::schedule` recomputes `α_t` from
//! `α₀` on every call; `tests/mlr_crosscheck.rs` pins the two together.

use serde::{Deserialize, Serialize};

/// The constants of one Nesterov iteration `t` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepConstants {
    /// The iteration `t` these constants belong to.
    pub t: usize,
    /// `α_t`.
    pub alpha: f64,
    /// `η_t = (1 − α_t)/α_{t+1}`, the weight of the old `V` in the new `W`.
    pub eta: f64,
    /// `γ_t = 1/((t+1)·n)`; the quadratic-gradient step is `(1+γ_t)·B̄ ⊙ g`.
    pub gamma: f64,
}

/// The never-ending sequence of [`StepConstants`] for `n` samples.
#[derive(Debug, Clone)]
pub struct NesterovSchedule {
    samples: usize,
    t: usize,
    alpha: f64,
}

/// The schedule of [`super::train`] for `n` samples, iteration 0 first.
///
/// Public so that tests can hold the encrypted side's schedule against it;
/// `n = 0` gives `γ_t = +inf` (training refuses empty data before).
pub fn nesterov_schedule(n: usize) -> NesterovSchedule {
    NesterovSchedule { samples: n, t: 0, alpha: 0.01 }
}

impl Iterator for NesterovSchedule {
    type Item = StepConstants;

    fn next(&mut self) -> Option<StepConstants> {
        let now = self.alpha;
        let following = 0.5 * (1.0 + (4.0 * now * now + 1.0).sqrt());
        let constants = StepConstants {
            t: self.t,
            alpha: now,
            eta: (1.0 - now) / following,
            gamma: 1.0 / ((self.t + 1) * self.samples) as f64,
        };
        self.alpha = following;
        self.t += 1;
        Some(constants)
    }
}
