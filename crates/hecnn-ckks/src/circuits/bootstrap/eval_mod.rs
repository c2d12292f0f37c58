//! EvalMod: the reduction modulo q_0 as a scaled sine (one Chebyshev
//! interpolant, optional double angles), then the arcsine correction.

use super::config::{BootstrapConfig, ARCSINE_CHEB};
use crate::ciphertext::Ciphertext;
use crate::circuits::poly::{depth as poly_depth, PolyEvaluator};
use crate::context::Context;
use crate::error::{CkksError, Result};
use crate::eval::Evaluator;
use crate::keys::public::RelinKey;
use std::f64::consts::TAU;

/// The interpolant of EvalMod for one circuit shape.
#[derive(Clone, Debug)]
pub(super) struct EvalMod {
    /// Chebyshev coefficients on [−1, 1] of `cos(2π((K+1)u − 1/4)/2^r)`.
    pub(super) cheb: Vec<f64>,
    degree: usize,
    double_angle: u32,
    arcsine: bool,
}

impl EvalMod {
    pub(super) fn new(config: &BootstrapConfig) -> Result<Self> {
        let (k, r) = (config.k, config.double_angle);
        let f = move |u: f64| (TAU * ((k + 1.0) * u - 0.25) / (1u64 << r) as f64).cos();
        let mut cheb = hecnn_approx::ChebyshevPoly::interpolate(f, -1.0, 1.0, config.cheb_degree)
            .map_err(|e| CkksError::InvalidParameters(format!("EvalMod interpolant: {e}")))?
            .coeffs;
        if r == 0 {
            // sin(2π(K+1)u) is odd: its even coefficients are interpolation
            // round-off (≈ 1e-15). Exact zeros keep the even T_k out of the
            // evaluation (23 instead of 27 products at degree 127).
            cheb.iter_mut().step_by(2).for_each(|c| *c = 0.0);
        }
        Ok(Self { cheb, degree: config.cheb_degree, double_angle: r, arcsine: config.arcsine })
    }

    /// `2π·frac((K+1)u)` (with the arcsine correction; `sin` of it
    /// without) for slots u ∈ [−1, 1], on scale ≈ the prime below the
    /// interpolant (60 bits: the following steps keep that precision, and
    /// SlotsToCoeffs brings it down to Δ).
    pub(super) fn apply(&self, ctx: &Context, ev: &Evaluator, ct: &Ciphertext, rlk: &RelinKey) -> Result<Ciphertext> {
        let poly = PolyEvaluator::new(ev, rlk);
        let d = poly_depth(self.degree);
        let l_out = ct.level().checked_sub(d).ok_or(CkksError::LevelExhausted { needed: d, level: ct.level() })?;
        let target = ctx.params().q()[l_out] as f64;
        let mut c = poly.chebyshev(ct, &self.cheb, target)?;
        for _ in 0..self.double_angle {
            let sq = ev.mul_relin_rescale(&c, &c, rlk)?;
            c = ev.add_const(&ev.mul_integer(&sq, 2)?, -1.0)?;
        }
        if self.arcsine {
            c = poly.chebyshev(&c, &ARCSINE_CHEB, target)?;
        }
        Ok(c)
    }
}
