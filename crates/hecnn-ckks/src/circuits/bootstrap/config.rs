//! The bootstrapping circuit's shape: levels of each step, EvalMod's
//! interpolant, the message ratio, and the modulus chain that fits them.

use crate::circuits::poly::depth as poly_depth;
use crate::context::Context;
use crate::error::{CkksError, Result};

/// Shape of the bootstrapping circuit.
#[derive(Clone, Debug, PartialEq)]
pub struct BootstrapConfig {
    /// Levels (BSGS transforms) of CoeffsToSlots.
    pub cts_levels: usize,
    /// Levels of SlotsToCoeffs.
    pub stc_levels: usize,
    /// Bound on the integer part `|I|` of `t/q_0` (from the sparse weight).
    pub k: f64,
    /// Double-angle steps r.
    pub double_angle: u32,
    /// Degree of the Chebyshev interpolant of the scaled cosine.
    pub cheb_degree: usize,
    /// Arcsine correction after EvalMod (2 levels): `arcsin(s) ≈ s + s³/6`
    /// turns `s = sin(2π m/q_0)` back into `2π m/q_0`, leaving a relative
    /// error `3/40·(2π m/q_0)^4` instead of `sin`'s `(2π m/q_0)²/6`.
    pub arcsine: bool,
    /// log2 of `q_0 / (input scale)` after the level-0 scale-up, at full
    /// slots (see [`Bootstrapper::log_message_ratio`]).
    pub log_message_ratio: f64,
    /// Hamming weight of the ephemeral sparse secret.
    pub hamming_weight: usize,
    /// SlotsToCoeffs first: the input, at level `stc_levels`, goes through
    /// SlotsToCoeffs at the bottom of the chain (a few limbs, cheap key
    /// switches), then ModRaise, CoeffsToSlots and EvalMod, whose output is
    /// the refreshed ciphertext at level `max − cts − EvalMod`. The same
    /// levels are left for computation (output minus input level) and the
    /// same matrices run, in the other order; SlotsToCoeffs's key switches
    /// cost about a quarter. Real slots (`Bootstrapper::bootstrap_real`)
    /// then need one EvalMod instead of two; sparse slots are not packed.
    pub slots_to_coeffs_first: bool,
}

impl Default for BootstrapConfig {
    /// h = 32 gives `|I|` a standard deviation ≈ 1.66, so K = 12 is 7σ
    /// (≈ 2^-24 failure odds per N=2^16 bootstrap).
    ///
    /// EvalMod is one degree-127 interpolant of `sin(2π(K+1)u)` (r = 0):
    /// double angles would amplify the interpolant's evaluation noise by up
    /// to 2^r/sin(π/2^(r+1)) (2^3.4 at r = 2) and save no level (degree 63
    /// plus 2 squarings is 8 levels, degree 127 is 7); measured 1.2 bits
    /// better at N=2^12.
    ///
    /// The EvalMod error is multiplied by the message ratio, so the ratio
    /// should be small; `sin`'s curvature forbids that without the arcsine
    /// correction (2^-19 relative on a coefficient of magnitude 1 at ratio
    /// 2^11). With it, ratio 2^8.5 leaves 3/40·(2π/2^8.5)^4 ≈ 2^-27.
    /// 4 CtS levels: their plaintexts' precision is the bottleneck.
    fn default() -> Self {
        Self {
            cts_levels: 4,
            stc_levels: 3,
            k: 12.0,
            double_angle: 0,
            cheb_degree: 127,
            arcsine: true,
            log_message_ratio: 8.5,
            hamming_weight: 32,
            slots_to_coeffs_first: false,
        }
    }
}

impl BootstrapConfig {
    /// Levels EvalMod consumes.
    pub fn eval_mod_depth(&self) -> usize {
        poly_depth(self.cheb_degree) + self.double_angle as usize + if self.arcsine { ARCSINE_DEPTH } else { 0 }
    }

    /// Bit sizes of a modulus chain shaped for this circuit, bottom first:
    /// q_0 (60: room for the message ratio), `computation` primes and the
    /// SlotsToCoeffs primes (40: StC only needs ≈ 2^-25 relative, and its
    /// input scale is set by EvalMod, not by these primes), then EvalMod
    /// and CoeffsToSlots (60: their noise is multiplied by the message
    /// ratio).
    pub fn chain_bits(&self, computation: usize) -> Vec<u32> {
        let mut bits = vec![60];
        bits.extend(std::iter::repeat_n(40, computation + self.stc_levels));
        bits.extend(std::iter::repeat_n(60, self.eval_mod_depth() + self.cts_levels));
        bits
    }

    /// Levels one bootstrap consumes above the output level.
    pub fn depth(&self) -> usize {
        self.cts_levels + self.eval_mod_depth() + self.stc_levels
    }

    /// Levels left for computation after a bootstrap with `max_level` L
    /// (its output level minus its input level).
    pub fn levels_left(&self, max_level: usize) -> Option<usize> {
        max_level.checked_sub(self.depth())
    }

    /// The level a bootstrap takes its input at: 0, or `stc_levels` with
    /// [`slots_to_coeffs_first`](Self::slots_to_coeffs_first).
    pub fn input_level(&self) -> usize {
        if self.slots_to_coeffs_first {
            self.stc_levels
        } else {
            0
        }
    }

    /// The level a bootstrapped ciphertext comes out at.
    pub fn output_level(&self, max_level: usize) -> Option<usize> {
        Some(self.levels_left(max_level)? + self.input_level())
    }

    /// The level SlotsToCoeffs lands on: the output, or 0 when it runs first.
    #[cfg(feature = "client")]
    pub(crate) fn stc_output_level(&self, max_level: usize) -> Option<usize> {
        if self.slots_to_coeffs_first {
            Some(0)
        } else {
            self.levels_left(max_level)
        }
    }

    pub(crate) fn check(&self, ctx: &Context) -> Result<()> {
        if self.cts_levels == 0 || self.stc_levels == 0 || self.cheb_degree < 2 || self.k < 1.0 {
            return Err(CkksError::InvalidParameters(format!("bootstrap config {self:?}")));
        }
        if !(4.0..=30.0).contains(&self.log_message_ratio) {
            return Err(CkksError::InvalidParameters("log_message_ratio must be in 4..=30".into()));
        }
        if self.slots_to_coeffs_first && !self.arcsine && self.double_angle > 0 {
            // The last step then is a squaring, which cannot land on Δ.
            return Err(CkksError::InvalidParameters(
                "SlotsToCoeffs first needs the arcsine correction or no double angles".into(),
            ));
        }
        if self.hamming_weight == 0 || self.hamming_weight > ctx.n() {
            return Err(CkksError::InvalidParameters(format!("hamming weight {}", self.hamming_weight)));
        }
        if self.levels_left(ctx.max_level()).is_none() {
            return Err(CkksError::InvalidParameters(format!(
                "bootstrapping needs {} levels, the chain has {}",
                self.depth(),
                ctx.max_level()
            )));
        }
        Ok(())
    }
}

/// Levels of the arcsine correction (a degree-3 polynomial).
pub(super) const ARCSINE_DEPTH: usize = 2;

/// `s + s³/6` in the Chebyshev basis on [−1, 1] (`s³ = (3T_1 + T_3)/4`).
pub(super) const ARCSINE_CHEB: [f64; 4] = [0.0, 1.0 + 3.0 / 24.0, 0.0, 1.0 / 24.0];
