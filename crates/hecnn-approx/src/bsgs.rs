//! Plaintext reference of the baby-step giant-step evaluation that the
//! cost model of [`crate::cost`] counts. It executes the [`EvalPlan`] that
//! `hecnn-ckks`'s evaluator executes on ciphertexts, in `f64`, and counts
//! every non-scalar product and the levels the values reach, so tests can
//! check the plan's claims (products, depth) against an execution.

use crate::cost::{self, EvalPlan, PlanNode};
use crate::error::{check_all_finite, check_finite, ApproxError};

/// Operation counts of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpCount {
    /// Ciphertext × ciphertext products.
    pub nonscalar_mults: u32,
    /// Levels consumed: products and leaf rescales on the longest path.
    pub depth: u32,
}

/// A value with the number of levels it took to compute (a product or a
/// leaf's scalar products each cost one rescale).
#[derive(Debug, Clone, Copy)]
struct Lv {
    v: f64,
    level: u32,
}

struct Ctx {
    /// `T_k` for the computed `k` (`T_0`, `T_1` free).
    tk: Vec<Option<Lv>>,
    mults: u32,
}

impl Ctx {
    fn mul(&mut self, a: Lv, b: Lv) -> Lv {
        self.mults += 1;
        Lv { v: a.v * b.v, level: a.level.max(b.level) + 1 }
    }

    /// `T_k`: `T_{2a} = 2 T_a^2 - 1`, else `T_k = 2 T_a T_{k-a} - T_{2a-k}`
    /// with `a` the largest power of two below `k` (one product; the integer
    /// scalars cost no level).
    fn get(&mut self, k: usize) -> Lv {
        if let Some(v) = self.tk[k] {
            return v;
        }
        let a = cost::power_split(k);
        let v = if k == a {
            let h = self.get(k / 2);
            let p = self.mul(h, h);
            Lv { v: 2.0 * p.v - 1.0, level: p.level }
        } else {
            let ta = self.get(a);
            let tb = self.get(k - a);
            let tab = self.get(2 * a - k);
            let p = self.mul(ta, tb);
            Lv { v: 2.0 * p.v - tab.v, level: p.level.max(tab.level) }
        };
        self.tk[k] = Some(v);
        v
    }

    /// Evaluates `sum c[i] T_i` following `node`.
    fn eval(&mut self, node: &PlanNode, c: &[f64]) -> Lv {
        match node {
            PlanNode::Leaf { terms } => {
                // Scalar products and one rescale: one level on top of the deepest term.
                let mut acc = Lv { v: c.first().copied().unwrap_or(0.0), level: 0 };
                for &i in terms {
                    let t = self.get(i);
                    acc.v += c.get(i).copied().unwrap_or(0.0) * t.v;
                    acc.level = acc.level.max(t.level);
                }
                acc.level += 1;
                acc
            }
            PlanNode::Split { degree, g, high, low } => {
                let (deg, n) = (*degree, *g);
                // p = q0 + T_n q1, using T_i = 2 T_n T_{i-n} - T_{2n-i} for n < i < 2n.
                let at = |i: usize| c.get(i).copied().unwrap_or(0.0);
                let mut q0: Vec<f64> = (0..n).map(at).collect();
                let mut q1 = vec![0.0; deg - n + 1];
                q1[0] = at(n);
                for i in n + 1..=deg {
                    q1[i - n] += 2.0 * at(i);
                    q0[2 * n - i] -= at(i);
                }
                let hv = self.eval(high, &q1);
                let lv = self.eval(low, &q0);
                let tn = self.get(n);
                let p = self.mul(tn, hv);
                Lv { v: lv.v + p.v, level: lv.level.max(p.level) }
            }
        }
    }
}

/// Evaluates the Chebyshev series `sum coeffs[k] T_k(t)` following
/// [`EvalPlan::for_support`] of its non-zero coefficients, returning the
/// value and the operations used: products counted as they are made, depth
/// as the levels the values actually reach (a product or a leaf's rescale
/// adds one).
///
/// ```
/// use hecnn_approx::bsgs::eval_bsgs;
/// use hecnn_approx::cost::EvalPlan;
/// let c = [0.3, 1.2, -0.2, -0.4, 0.7, 0.1]; // degree 5, all terms
/// let (v, ops) = eval_bsgs(&c, 0.3)?;
/// assert!((v - hecnn_approx::chebyshev::clenshaw(&c, 0.3)).abs() < 1e-14);
/// assert_eq!(ops.nonscalar_mults, EvalPlan::dense(5).nonscalar_mults());
/// assert_eq!(ops.depth, 3);
/// # Ok::<(), hecnn_approx::ApproxError>(())
/// ```
pub fn eval_bsgs(coeffs: &[f64], t: f64) -> Result<(f64, OpCount), ApproxError> {
    check_all_finite(coeffs, "Chebyshev coefficients")?;
    check_finite(t, "evaluation point")?;
    if coeffs.is_empty() {
        return Ok((0.0, OpCount::default()));
    }
    let d = coeffs.iter().rposition(|&x| x != 0.0).unwrap_or(0);
    if d > crate::chebyshev::MAX_DEGREE {
        return Err(ApproxError::InvalidParameter { what: "BSGS needs degree <= 1023" });
    }
    let support: Vec<bool> = coeffs[..=d].iter().map(|&x| x != 0.0).collect();
    let plan = EvalPlan::for_support(&support);
    let mut ctx = Ctx { tk: vec![None; (d + 1).next_power_of_two() + 1], mults: 0 };
    ctx.tk[0] = Some(Lv { v: 1.0, level: 0 });
    ctx.tk[1] = Some(Lv { v: t, level: 0 });
    let r = ctx.eval(&plan.root, coeffs);
    Ok((r.v, OpCount { nonscalar_mults: ctx.mults, depth: r.level }))
}

/// [`eval_bsgs`] for an odd series (even-index coefficients must be zero):
/// the evaluation [`cost::nonscalar_mults`] and [`cost::depth`] count.
///
/// ```
/// use hecnn_approx::bsgs::eval_odd_bsgs;
/// use hecnn_approx::cost;
/// let c = [0.0, 1.2, 0.0, -0.4, 0.0, 0.1, 0.0, 0.05]; // degree 7
/// let (v, ops) = eval_odd_bsgs(&c, 0.3)?;
/// assert!((v - hecnn_approx::chebyshev::clenshaw(&c, 0.3)).abs() < 1e-14);
/// assert_eq!(ops.nonscalar_mults, cost::nonscalar_mults(7));
/// assert_eq!(ops.depth, cost::depth(7));
/// # Ok::<(), hecnn_approx::ApproxError>(())
/// ```
pub fn eval_odd_bsgs(coeffs: &[f64], t: f64) -> Result<(f64, OpCount), ApproxError> {
    check_all_finite(coeffs, "Chebyshev coefficients")?;
    if coeffs.iter().step_by(2).any(|&x| x != 0.0) {
        return Err(ApproxError::InvalidParameter { what: "odd BSGS needs zero even coefficients" });
    }
    eval_bsgs(coeffs, t)
}
