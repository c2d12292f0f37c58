//! Chebyshev series on an interval `[a, b]`: interpolation, Clenshaw
//! evaluation and conversion to and from the power basis.
//!
//! # Coefficient convention (what the CKKS evaluator consumes)
//!
//! A [`ChebyshevPoly`] `{ a, b, coeffs }` is the polynomial
//!
//! ```text
//! p(x) = sum_{k=0}^{d} coeffs[k] * T_k(t),   t = (2x - a - b) / (b - a),
//! ```
//!
//! where `T_k` is the Chebyshev polynomial of the first kind
//! (`T_0 = 1`, `T_1 = t`, `T_{k+1} = 2 t T_k - T_{k-1}`) and `t` is the affine
//! image of `x` in `[-1, 1]`. `coeffs[0]` is the plain constant term: it is
//! *not* halved as in some texts. An evaluator first computes
//! `t = (2/(b-a)) x - (a+b)/(b-a)` (one plaintext-constant multiply and add)
//! and then evaluates the series in `t`.

use serde::Serialize;

use crate::error::{check_all_finite, check_finite, check_interval, ApproxError};

/// Largest degree accepted by constructors; beyond this the power-basis
/// conversions and the composite search make no sense in `f64`.
pub const MAX_DEGREE: usize = 1023;

/// A polynomial in the Chebyshev basis of the affine-mapped variable
/// `t = (2x - a - b)/(b - a)`; see the module docs for the exact convention.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChebyshevPoly {
    /// Left end of the approximation interval.
    pub a: f64,
    /// Right end of the approximation interval.
    pub b: f64,
    /// `coeffs[k]` multiplies `T_k(t)`; `coeffs[0]` is the constant term.
    pub coeffs: Vec<f64>,
}

impl ChebyshevPoly {
    /// Builds a series after checking `a < b` and that every number is finite.
    ///
    /// ```
    /// use hecnn_approx::ChebyshevPoly;
    /// let p = ChebyshevPoly::new(0.0, 2.0, vec![1.0, 0.5])?; // 1 + 0.5 (x - 1)
    /// assert_eq!(p.eval(2.0), 1.5);
    /// # Ok::<(), hecnn_approx::ApproxError>(())
    /// ```
    pub fn new(a: f64, b: f64, coeffs: Vec<f64>) -> Result<Self, ApproxError> {
        check_interval(a, b)?;
        check_all_finite(&coeffs, "Chebyshev coefficients")?;
        if coeffs.is_empty() || coeffs.len() > MAX_DEGREE + 1 {
            return Err(ApproxError::DegreeOutOfRange {
                degree: coeffs.len().saturating_sub(1),
                min: 0,
                max: MAX_DEGREE,
            });
        }
        Ok(Self { a, b, coeffs })
    }

    /// Interpolates `f` at the `degree + 1` Chebyshev nodes of the first kind
    /// on `[a, b]`. Near-minimax for smooth `f`, with no iteration.
    ///
    /// ```
    /// use hecnn_approx::ChebyshevPoly;
    /// let p = ChebyshevPoly::interpolate(f64::exp, -1.0, 1.0, 12)?;
    /// assert!((p.eval(0.3) - 0.3f64.exp()).abs() < 1e-13);
    /// # Ok::<(), hecnn_approx::ApproxError>(())
    /// ```
    pub fn interpolate(f: impl Fn(f64) -> f64, a: f64, b: f64, degree: usize) -> Result<Self, ApproxError> {
        check_interval(a, b)?;
        if degree > MAX_DEGREE {
            return Err(ApproxError::DegreeOutOfRange { degree, min: 0, max: MAX_DEGREE });
        }
        let n = degree + 1;
        let nodes: Vec<f64> = (0..n).map(|j| (std::f64::consts::PI * (j as f64 + 0.5) / n as f64).cos()).collect();
        let mut values = Vec::with_capacity(n);
        for &t in &nodes {
            let x = 0.5 * (b - a) * t + 0.5 * (a + b);
            values.push(check_finite(f(x), "function value")?);
        }
        let coeffs = (0..n)
            .map(|k| {
                let s: f64 = (0..n)
                    .map(|j| {
                        let theta = std::f64::consts::PI * (j as f64 + 0.5) / n as f64;
                        values[j] * (k as f64 * theta).cos()
                    })
                    .sum();
                let c = 2.0 * s / n as f64;
                if k == 0 {
                    c / 2.0
                } else {
                    c
                }
            })
            .collect();
        Ok(Self { a, b, coeffs })
    }

    /// Degree of the series (index of the last coefficient; trailing zeros count).
    pub fn degree(&self) -> usize {
        self.coeffs.len().saturating_sub(1)
    }

    /// The affine image `t = (2x - a - b)/(b - a)` of `x`, computed as
    /// `(x - (a+b)/2) / ((b-a)/2)` so that a symmetric interval `[-B, B]`
    /// gives exactly `x / B`.
    pub fn map(&self, x: f64) -> f64 {
        (x - 0.5 * (self.a + self.b)) / (0.5 * (self.b - self.a))
    }

    /// Evaluates by Clenshaw's recurrence (stable for `x` in `[a, b]`).
    /// Outside the interval it still returns the polynomial's value.
    pub fn eval(&self, x: f64) -> f64 {
        clenshaw(&self.coeffs, self.map(x))
    }

    /// Like [`eval`](Self::eval) but rejects a non-finite `x`.
    pub fn eval_checked(&self, x: f64) -> Result<f64, ApproxError> {
        check_finite(x, "evaluation point")?;
        Ok(self.eval(x))
    }

    /// Coefficients in the monomials `t^k` of the mapped variable `t`.
    pub fn to_mapped_power_basis(&self) -> Vec<f64> {
        cheb_to_power(&self.coeffs)
    }

    /// Coefficients in the monomials `x^k` of the original variable.
    /// Fine for low degrees; for high degrees the monomial coefficients cancel
    /// catastrophically, which is why evaluators should use the Chebyshev form.
    pub fn to_power_basis(&self) -> Vec<f64> {
        let pt = self.to_mapped_power_basis();
        // t = s x + o
        let s = 2.0 / (self.b - self.a);
        let o = -(self.a + self.b) / (self.b - self.a);
        compose_affine(&pt, s, o)
    }

    /// Converts `sum p[k] x^k` into the Chebyshev form on `[a, b]`.
    pub fn from_power_basis(a: f64, b: f64, p: &[f64]) -> Result<Self, ApproxError> {
        check_interval(a, b)?;
        check_all_finite(p, "power-basis coefficients")?;
        if p.is_empty() || p.len() > MAX_DEGREE + 1 {
            return Err(ApproxError::DegreeOutOfRange { degree: p.len().saturating_sub(1), min: 0, max: MAX_DEGREE });
        }
        // x = ((b - a) t + a + b) / 2
        let pt = compose_affine(p, 0.5 * (b - a), 0.5 * (a + b));
        Ok(Self { a, b, coeffs: power_to_cheb(&pt) })
    }
}

/// Clenshaw evaluation of `sum c[k] T_k(t)`.
pub fn clenshaw(c: &[f64], t: f64) -> f64 {
    let mut b1 = 0.0;
    let mut b2 = 0.0;
    let t2 = 2.0 * t;
    for &ck in c.iter().skip(1).rev() {
        let b0 = ck + t2 * b1 - b2;
        b2 = b1;
        b1 = b0;
    }
    c.first().copied().unwrap_or(0.0) + t * b1 - b2
}

/// Horner evaluation of `sum p[k] x^k`.
pub fn horner(p: &[f64], x: f64) -> f64 {
    p.iter().rev().fold(0.0, |acc, &c| acc * x + c)
}

/// Chebyshev coefficients to monomial coefficients (same variable).
pub(crate) fn cheb_to_power(c: &[f64]) -> Vec<f64> {
    let n = c.len();
    let mut out = vec![0.0; n];
    let mut tkm1 = vec![0.0; n]; // T_{k-1}
    let mut tk = vec![0.0; n]; // T_k
    if n == 0 {
        return out;
    }
    tk[0] = 1.0;
    for (k, &ck) in c.iter().enumerate() {
        if k == 1 {
            tkm1 = tk.clone();
            tk = vec![0.0; n];
            tk[1] = 1.0;
        } else if k >= 2 {
            let mut next = vec![0.0; n];
            for i in 0..n {
                if i >= 1 {
                    next[i] += 2.0 * tk[i - 1];
                }
                next[i] -= tkm1[i];
            }
            tkm1 = std::mem::replace(&mut tk, next);
        }
        for i in 0..n {
            out[i] += ck * tk[i];
        }
    }
    out
}

/// Monomial coefficients to Chebyshev coefficients (same variable), by
/// Horner's scheme with multiplication by `t` done in the Chebyshev basis.
pub(crate) fn power_to_cheb(p: &[f64]) -> Vec<f64> {
    let n = p.len();
    let mut r = vec![0.0; n];
    for (k, &pk) in p.iter().enumerate().rev() {
        // r <- t * r + pk
        let mut next = vec![0.0; n];
        for j in 0..n {
            if r[j] == 0.0 {
                continue;
            }
            if j == 0 {
                next[1] += r[0];
            } else {
                if j + 1 < n {
                    next[j + 1] += 0.5 * r[j];
                }
                next[j - 1] += 0.5 * r[j];
            }
        }
        next[0] += pk;
        r = next;
        let _ = k;
    }
    r
}

/// Coefficients of `q(x) = p(s x + o)` in powers of `x`.
pub(crate) fn compose_affine(p: &[f64], s: f64, o: f64) -> Vec<f64> {
    let n = p.len();
    let mut out = vec![0.0; n];
    for &pk in p.iter().rev() {
        // out <- out * (s x + o) + pk
        let mut next = vec![0.0; n];
        for i in 0..n {
            if out[i] == 0.0 {
                continue;
            }
            next[i] += o * out[i];
            if i + 1 < n {
                next[i + 1] += s * out[i];
            }
        }
        next[0] += pk;
        out = next;
    }
    out
}
