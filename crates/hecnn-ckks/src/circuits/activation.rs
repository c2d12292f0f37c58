//! Composite minimax sign, ReLU, max and max-pooling on ciphertexts.
//!
//! `sgn(x) ≈ p_k(…p_1(x))` with small odd polynomials from
//! [`hecnn_approx::composite`]; `ReLU(x) = x·(1 + sgn x)/2` and
//! `max(a, b) = (a + b)/2 + (a − b)·sgn(a − b)/2`. The constants are folded
//! into the stages: stage `i` is fitted in `t = x/B_i`, so stage `i − 1`'s
//! coefficients are divided by `B_i` (free), and the final `1/2` is folded
//! into the last stage. The product `x·h` and the `x/2` term meet before one
//! rescale, so ReLU and max cost exactly the sign's depth plus one.
//!
//! `ReLU(max(a, b))` — a max-pool's last pairwise max with the ReLU moved
//! after it — is `max(ReLU a, ReLU b)`, and that is
//! `(r_a + r_b)/2 + (r_a − r_b)·sgn(a − b)/2` with `r = ReLU`: the three signs
//! run side by side, so the pair costs the sign's depth plus two levels
//! instead of twice the sign's depth plus two ([`CompositeCircuit::relu_max`]).
//! Where `a ≈ b` the gate is uncertain but `r_a ≈ r_b`, so the error stays
//! that of a pairwise max.

use super::poly::{depth, PolyEvaluator};
use crate::ciphertext::Ciphertext;
use crate::error::{CkksError, Result};
use crate::eval::Evaluator;
use crate::keys::public::GaloisKeys;
use hecnn_approx::composite::CompositeSign;

/// A composite sign approximation ready for ciphertexts.
#[derive(Debug, Clone, PartialEq)]
pub struct CompositeCircuit {
    /// Stage `i` as Chebyshev coefficients in its own input (already divided
    /// by that stage's bound), output divided by the next stage's bound.
    stages: Vec<Vec<f64>>,
}

impl CompositeCircuit {
    /// From a searched composite sign. Its first stage must take `x` in
    /// `[−1, 1]` directly (bound 1), as [`hecnn_approx::composite::search`] makes it.
    ///
    /// ```
    /// use hecnn_approx::composite::{compose, default_eps};
    /// use hecnn_ckks::circuits::CompositeCircuit;
    /// let sign = compose(4, default_eps(4), &[7, 7])?;
    /// let c = CompositeCircuit::from_sign(&sign).unwrap();
    /// assert_eq!(c.sign_depth(), 6);
    /// assert!((c.eval_plain(0.5) - sign.eval(0.5)).abs() < 1e-12);
    /// # Ok::<(), hecnn_approx::ApproxError>(())
    /// ```
    pub fn from_sign(sign: &CompositeSign) -> Result<Self> {
        let first =
            sign.stages.first().ok_or_else(|| CkksError::InvalidParameters("composite with no stages".into()))?;
        if first.input_bound != 1.0 {
            return Err(CkksError::InvalidParameters(format!(
                "first stage expects inputs scaled by {}, not [-1, 1]",
                first.input_bound
            )));
        }
        let mut stages = Vec::with_capacity(sign.stages.len());
        for (i, s) in sign.stages.iter().enumerate() {
            let next_bound = sign.stages.get(i + 1).map_or(1.0, |n| n.input_bound);
            stages.push(s.coeffs.iter().map(|c| c / next_bound).collect());
        }
        Self::from_stages(stages)
    }

    /// From raw stages: stage `i` holds Chebyshev coefficients in stage
    /// `i − 1`'s output (the first in `x ∈ [−1, 1]`).
    pub fn from_stages(stages: Vec<Vec<f64>>) -> Result<Self> {
        if stages.is_empty() || stages.iter().any(|s| s.is_empty()) {
            return Err(CkksError::InvalidParameters("composite with an empty stage".into()));
        }
        for s in &stages {
            if let Some(index) = s.iter().position(|c| !c.is_finite()) {
                return Err(CkksError::NonFinite { index });
            }
        }
        Ok(Self { stages })
    }

    /// Levels the sign consumes: `Σ ceil(log2(d_i + 1))`.
    pub fn sign_depth(&self) -> usize {
        self.stages.iter().map(|s| depth(degree(s))).sum()
    }

    /// Levels ReLU or a pairwise max consumes (the sign's plus one product).
    pub fn relu_depth(&self) -> usize {
        self.sign_depth() + 1
    }

    /// The same composition in `f64` (what the ciphertext result approximates).
    pub fn eval_plain(&self, x: f64) -> f64 {
        self.stages.iter().fold(x, |v, s| hecnn_approx::chebyshev::clenshaw(s, v))
    }

    /// `sgn(x)` for `x ∈ [−1, 1]`, on exactly `target_scale`.
    pub fn sign(&self, pe: &PolyEvaluator, x: &Ciphertext, target_scale: f64) -> Result<Ciphertext> {
        self.scaled_sign(pe, x, 1.0, target_scale)
    }

    /// `factor·sgn(x)`: the factor rides in the last stage's coefficients.
    fn scaled_sign(&self, pe: &PolyEvaluator, x: &Ciphertext, factor: f64, target: f64) -> Result<Ciphertext> {
        self.check_levels(x, self.sign_depth())?;
        let last = self.stages.len() - 1;
        let mut v = x.clone();
        for (i, s) in self.stages.iter().enumerate() {
            v = if i == last {
                let scaled: Vec<f64> = s.iter().map(|c| c * factor).collect();
                pe.chebyshev(&v, &scaled, target)?
            } else {
                pe.chebyshev(&v, s, x.scale())?
            };
        }
        Ok(v)
    }

    /// `ReLU(x) = x·(1 + sgn x)/2` for `x ∈ [−1, 1]`, on exactly `target_scale`.
    pub fn relu(&self, pe: &PolyEvaluator, x: &Ciphertext, target_scale: f64) -> Result<Ciphertext> {
        self.gated_sum(pe, x, x, &[(x, 0.5)], target_scale)
    }

    /// `max(a, b)` for `|a − b| ≤ 1`, on exactly `target_scale`.
    pub fn max(&self, pe: &PolyEvaluator, a: &Ciphertext, b: &Ciphertext, target_scale: f64) -> Result<Ciphertext> {
        let d = pe.evaluator().sub(a, b)?;
        self.gated_sum(pe, &d, &d, &[(a, 0.5), (b, 0.5)], target_scale)
    }

    /// `ReLU(max(a, b)) = max(ReLU a, ReLU b)` for `a`, `b` and `a − b` in
    /// `[−1, 1]`, on exactly `target_scale`, in [`CompositeCircuit::relu_max_depth`]
    /// levels: `sgn a`, `sgn b` and `sgn(a − b)` are evaluated side by side,
    /// then `(r_a + r_b)/2 + (r_a − r_b)·sgn(a − b)/2` with `r = ReLU`.
    /// Three sign evaluations where [`CompositeCircuit::max`] then
    /// [`CompositeCircuit::relu`] take two, for `sign_depth + 2` levels
    /// instead of `2·sign_depth + 2`: with bootstrapping, one refresh fewer.
    ///
    /// ```
    /// use hecnn_approx::composite::{compose, default_eps};
    /// use hecnn_ckks::circuits::CompositeCircuit;
    /// let c = CompositeCircuit::from_sign(&compose(4, default_eps(4), &[7, 7])?).unwrap();
    /// assert_eq!(c.relu_max_depth(), c.sign_depth() + 2);
    /// # Ok::<(), hecnn_approx::ApproxError>(())
    /// ```
    pub fn relu_max(
        &self,
        pe: &PolyEvaluator,
        a: &Ciphertext,
        b: &Ciphertext,
        target_scale: f64,
    ) -> Result<Ciphertext> {
        let needed = self.relu_max_depth();
        self.check_levels(a, needed)?;
        self.check_levels(b, needed)?;
        let ev = pe.evaluator();
        let d = ev.sub(a, b)?;
        // The ReLUs land on `target_scale` one level above the product.
        let product_level = a.level().min(b.level()) - self.relu_depth();
        // The three signs are independent.
        let ((ra, rb), h) = rayon::join(
            || rayon::join(|| self.relu(pe, a, target_scale), || self.relu(pe, b, target_scale)),
            || self.gate(pe, &d, product_level, target_scale, target_scale),
        );
        let (ra, rb, h) = (ra?, rb?, h?);
        let diff = ev.sub(&ra, &rb)?;
        self.gated_product(pe, &diff, &h, &[(&ra, 0.5), (&rb, 0.5)], target_scale)
    }

    /// Levels of [`CompositeCircuit::relu_max`]: the sign's plus two products.
    pub fn relu_max_depth(&self) -> usize {
        self.sign_depth() + 2
    }

    /// 2×2 max-pooling of a row-major image of `width` columns packed in the
    /// slots: the window max lands on each window's top-left slot (other
    /// slots hold partial maxima). Needs rotation keys for 1 and `width`;
    /// pairwise differences must stay in `[−1, 1]`. Depth: twice a max.
    pub fn max_pool_2x2(
        &self,
        pe: &PolyEvaluator,
        x: &Ciphertext,
        width: usize,
        gk: &GaloisKeys,
        target_scale: f64,
    ) -> Result<Ciphertext> {
        self.check_levels(x, 2 * self.relu_depth())?;
        let ev = pe.evaluator();
        let right = ev.rotate(x, 1, gk)?;
        let rows = self.max(pe, x, &right, x.scale())?;
        let below = ev.rotate(&rows, width as i64, gk)?;
        self.max(pe, &rows, &below, target_scale)
    }

    /// `x·(sgn(g)/2)` plus `Σ c_i·v_i`, all before one rescale: the gate's
    /// scale is planned so the sum lands on `target` (`x = g` for ReLU and
    /// max).
    fn gated_sum(
        &self,
        pe: &PolyEvaluator,
        g: &Ciphertext,
        x: &Ciphertext,
        extra: &[(&Ciphertext, f64)],
        target: f64,
    ) -> Result<Ciphertext> {
        self.check_levels(g, self.relu_depth())?;
        let product_level = x.level().min(g.level() - self.sign_depth());
        let h = self.gate(pe, g, product_level, x.scale(), target)?;
        self.gated_product(pe, x, &h, extra, target)
    }

    /// `sgn(g)/2` on the scale that makes its product with a value of scale
    /// `x_scale` at `product_level` land on `target` after one rescale.
    fn gate(
        &self,
        pe: &PolyEvaluator,
        g: &Ciphertext,
        product_level: usize,
        x_scale: f64,
        target: f64,
    ) -> Result<Ciphertext> {
        if product_level == 0 || g.level() < self.sign_depth() + product_level {
            return Err(CkksError::LevelExhausted {
                needed: self.sign_depth() + product_level.max(1),
                level: g.level(),
            });
        }
        let q = pe.evaluator().context().params().q()[product_level] as f64;
        self.scaled_sign(pe, g, 0.5, target * q / x_scale)
    }

    /// `x·h + Σ c_i·v_i`, one rescale, relabelled exactly `target`.
    fn gated_product(
        &self,
        pe: &PolyEvaluator,
        x: &Ciphertext,
        h: &Ciphertext,
        extra: &[(&Ciphertext, f64)],
        target: f64,
    ) -> Result<Ciphertext> {
        let ev = pe.evaluator();
        let p = ev.mul_relin(x, h, pe.relin_key())?;
        pe.count(1);
        let mut terms = vec![(&p, 1.0)];
        terms.extend_from_slice(extra);
        let mut out = ev.rescale(&ev.linear_combination(&terms, p.scale(), p.level())?)?;
        Evaluator::check_scales(out.scale, target)?;
        out.scale = target;
        Ok(out)
    }

    fn check_levels(&self, x: &Ciphertext, needed: usize) -> Result<()> {
        if x.level() < needed {
            return Err(CkksError::LevelExhausted { needed, level: x.level() });
        }
        Ok(())
    }
}

fn degree(c: &[f64]) -> usize {
    c.iter().rposition(|&x| x != 0.0).unwrap_or(0)
}
