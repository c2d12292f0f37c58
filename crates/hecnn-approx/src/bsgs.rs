//! Plaintext reference of the odd baby-step giant-step evaluation that the
//! cost model of [`crate::cost`] counts. It evaluates a Chebyshev series in
//! the order a CKKS evaluator would and counts every non-scalar product and
//! the multiplicative depth it reaches, so tests can check the formula
//! against an algorithm; `hecnn-ckks` can mirror it step by step.

use crate::cost;
use crate::error::{check_all_finite, check_finite, ApproxError};

/// Operation counts of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpCount {
    /// Ciphertext × ciphertext products.
    pub nonscalar_mults: u32,
    /// Largest number of chained products on any path.
    pub depth: u32,
}

/// A value with the number of chained products it took to compute.
#[derive(Debug, Clone, Copy)]
struct Lv {
    v: f64,
    level: u32,
}

struct Ctx {
    t: f64,
    /// `T_k` for the computed `k` (odd baby steps and powers of two).
    tk: Vec<Option<Lv>>,
    mults: u32,
}

impl Ctx {
    fn mul(&mut self, a: Lv, b: Lv) -> Lv {
        self.mults += 1;
        Lv { v: a.v * b.v, level: a.level.max(b.level) + 1 }
    }

    /// `T_k`, computing it from `T_a T_b` with `a` the largest power of two
    /// below `k`: `T_{a+b} = 2 T_a T_b - T_{a-b}` (one product).
    fn get(&mut self, k: usize) -> Lv {
        if let Some(v) = self.tk[k] {
            return v;
        }
        let v = match k {
            0 => Lv { v: 1.0, level: 0 },
            1 => Lv { v: self.t, level: 0 },
            _ if k.is_power_of_two() => {
                let h = self.get(k / 2);
                let p = self.mul(h, h);
                Lv { v: 2.0 * p.v - 1.0, level: p.level }
            }
            _ => {
                let a = 1usize << (usize::BITS - 1 - k.leading_zeros());
                let b = k - a;
                let ta = self.get(a);
                let tb = self.get(b);
                let tab = self.get(a - b);
                let p = self.mul(ta, tb);
                Lv { v: 2.0 * p.v - tab.v, level: p.level.max(tab.level) }
            }
        };
        self.tk[k] = Some(v);
        v
    }

    /// Evaluates `sum c[i] T_i` (odd, `deg < 2^(k+1)`), splitting at `T_{2^k}`
    /// down to leaves of degree `< 2^l`.
    fn eval(&mut self, c: &[f64], k: u32, l: u32) -> Lv {
        let deg = c.iter().rposition(|&x| x != 0.0).unwrap_or(0);
        if deg < (1usize << l) || k < l {
            // Leaf: scalar combination of baby steps (no products).
            let mut acc = Lv { v: 0.0, level: 0 };
            for (i, &ci) in c.iter().enumerate().take(deg + 1) {
                if ci != 0.0 {
                    let t = self.get(i);
                    acc.v += ci * t.v;
                    acc.level = acc.level.max(t.level);
                }
            }
            return acc;
        }
        let n = 1usize << k;
        if deg < n {
            return self.eval(&c[..n.min(c.len())], k - 1, l);
        }
        // p = q0 + T_n q1, using T_i = 2 T_n T_{i-n} - T_{2n-i} for n <= i < 2n.
        let mut q0 = c[..n].to_vec();
        let mut q1 = vec![0.0; n];
        for i in n..=deg {
            if i == n {
                q1[0] += c[i];
            } else {
                q1[i - n] += 2.0 * c[i];
                q0[2 * n - i] -= c[i];
            }
        }
        let low = self.eval(&q0, k - 1, l);
        let high = self.eval(&q1, k - 1, l);
        let tn = self.get(n);
        let p = self.mul(tn, high);
        Lv { v: low.v + p.v, level: low.level.max(p.level) }
    }
}

/// Evaluates the odd Chebyshev series `sum coeffs[k] T_k(t)` by odd
/// baby-step giant-step with the baby-step parameter of
/// [`cost::best_baby_step`], returning the value and the operations used.
/// Even-index coefficients must be zero.
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
    check_finite(t, "evaluation point")?;
    let d = coeffs.iter().rposition(|&x| x != 0.0).unwrap_or(0);
    if coeffs.iter().step_by(2).any(|&x| x != 0.0) || d > crate::chebyshev::MAX_DEGREE {
        return Err(ApproxError::InvalidParameter { what: "odd BSGS needs zero even coefficients and degree <= 1023" });
    }
    if d <= 1 {
        let v = coeffs.get(1).copied().unwrap_or(0.0) * t;
        return Ok((v, OpCount::default()));
    }
    let m = cost::depth(d);
    let l = cost::best_baby_step(d);
    let mut ctx = Ctx { t, tk: vec![None; 1usize << m], mults: 0 };
    // Baby steps and giant steps first, as an evaluator would precompute them.
    for i in 1..m {
        ctx.get(1usize << i);
    }
    for j in (3..=((1usize << l) - 1).min(d)).step_by(2) {
        ctx.get(j);
    }
    let r = ctx.eval(&coeffs[..=d], m - 1, l);
    Ok((r.v, OpCount { nonscalar_mults: ctx.mults, depth: r.level }))
}
