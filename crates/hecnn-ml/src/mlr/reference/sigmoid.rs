//! The sigmoids of the reference: the paper's polynomial `Z3` evaluated by
//! Horner's rule (the encrypted trainer evaluates it term by term on
//! ciphertexts, from its own copy of the coefficients), and the exact
//! logistic function for statistics and the paper's plaintext experiment.

use serde::{Deserialize, Serialize};

/// The paper's degree-3 sigmoid approximation on `[−8, 8]`, power basis:
/// `0.5 + 0.10679534503216294·t − 0.00038503259805075·t³` (`DESIGN.md`).
pub const Z3: [f64; 4] = [0.5, 0.10679534503216294, 0.0, -0.00038503259805075];

/// The sigmoid evaluated inside training (in the gradient `(Ȳ − σ(X Vᵀ))ᵀ X`).
///
/// The statistics of [`super::train`] always use the exact logistic
/// function, whichever is chosen here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SigmoidFn {
    /// A power-basis polynomial `Σ_k c[k]·t^k` — what an encrypted trainer
    /// can evaluate. The default is [`Z3`]. Outside its fitted range a
    /// polynomial turns away from `[0, 1]` (`Z3` peaks near `|t| ≈ 9.6`).
    Polynomial(Vec<f64>),
    /// The exact logistic function of `t` clipped to `[−bound, bound]`, as in
    /// the paper's plaintext experiments (`hlambda`, `bound = 8`). Plaintext
    /// only: no encrypted trainer can evaluate it.
    ClippedLogistic {
        /// The clipping bound (finite, > 0).
        bound: f64,
    },
}

impl SigmoidFn {
    /// `σ(t)` under this choice — the one place training evaluates it.
    pub fn eval(&self, t: f64) -> f64 {
        match self {
            Self::Polynomial(coeffs) => sigmoid_poly(coeffs, t),
            Self::ClippedLogistic { bound } => sigmoid(t.clamp(-bound, *bound)),
        }
    }

    /// The polynomial's coefficients (to hand to an encrypted trainer), or
    /// `None` for the clipped logistic.
    pub fn coefficients(&self) -> Option<&[f64]> {
        match self {
            Self::Polynomial(coeffs) => Some(coeffs),
            Self::ClippedLogistic { .. } => None,
        }
    }
}

/// Evaluates a power-basis polynomial at `t` by Horner's rule — the
/// reference's polynomial sigmoid, independent of the circuit's term order.
pub fn sigmoid_poly(coeffs: &[f64], t: f64) -> f64 {
    coeffs.iter().rev().fold(0.0, |acc, c| acc * t + c)
}

/// The exact logistic function `1/(1+e^{−t})`, without overflow — for the
/// statistics and the paper's plaintext experiment.
pub fn sigmoid(t: f64) -> f64 {
    if t >= 0.0 {
        1.0 / (1.0 + (-t).exp())
    } else {
        let e = t.exp();
        e / (1.0 + e)
    }
}

/// `ln(1+e^u)` without overflow (the log-likelihood's building block).
pub(super) fn softplus(u: f64) -> f64 {
    u.max(0.0) + (-u.abs()).exp().ln_1p()
}
