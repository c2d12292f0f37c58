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
    /// without) for slots u ∈ [−1, 1]. The interpolant lands on ≈ the
    /// prime below it (60 bits): its leaves are large Chebyshev sums that
    /// cancel (a sine over 2(K+1) half-periods), and at that scale their
    /// noise stays far below the result — landing it on ≈ 2^46 instead
    /// cost 2 bits. The last step (the arcsine correction, whose terms are
    /// small) lands on `out_scale` when given, else on the same prime.
    pub(super) fn apply(
        &self,
        ctx: &Context,
        ev: &Evaluator,
        ct: &Ciphertext,
        rlk: &RelinKey,
        out_scale: Option<f64>,
    ) -> Result<Ciphertext> {
        let poly = PolyEvaluator::new(ev, rlk);
        let d = poly_depth(self.degree);
        let l_out = ct.level().checked_sub(d).ok_or(CkksError::LevelExhausted { needed: d, level: ct.level() })?;
        let natural = ctx.params().q()[l_out] as f64;
        let sine_last = !self.arcsine && self.double_angle == 0;
        let sine_target = if sine_last { out_scale.unwrap_or(natural) } else { natural };
        let mut c = poly.chebyshev(ct, &self.cheb, sine_target)?;
        for _ in 0..self.double_angle {
            let sq = ev.mul_relin_rescale(&c, &c, rlk)?;
            c = ev.add_const(&ev.mul_integer(&sq, 2)?, -1.0)?;
        }
        if self.arcsine {
            c = poly.chebyshev(&c, &ARCSINE_CHEB, out_scale.unwrap_or(natural))?;
        }
        Ok(c)
    }
}
