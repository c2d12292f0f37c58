//! Polynomial fits of the logistic sigmoid on `[-R, R]`.
//!
//! `σ(x) - 1/2` is odd, so every fit is `1/2 + (odd polynomial)`; the odd part
//! is fitted on `[0, R]` and holds on `[-R, 0]` by symmetry.

use serde::Serialize;

use crate::chebyshev::{horner, ChebyshevPoly};
use crate::error::{check_finite, ApproxError};
use crate::linalg;
use crate::remez::{remez, RemezOptions, Symmetry};

/// Interval `[-8, 8]` of the paper's sigmoid polynomial.
pub const PAPER_SIGMOID_RANGE: f64 = 8.0;

/// The paper's (Chiang, arXiv 2304.03807) fixed degree-3 sigmoid:
/// `Z3(t) = 0.5 + 0.10679534503216294 t − 0.00038503259805075 t^3` on `[-8, 8]`,
/// power-basis coefficients `[c0, c1, c2, c3]`.
pub const PAPER_SIGMOID_Z3: [f64; 4] = [0.5, 0.10679534503216294, 0.0, -0.00038503259805075];

/// Largest odd degree accepted for sigmoid fits.
pub const SIGMOID_MAX_DEGREE: usize = 31;

/// Grid points used to measure a fit's error on `[-R, R]`.
const MEASURE_POINTS: usize = 200_001;

/// The logistic function `1 / (1 + e^-x)`.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// How a fit was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FitKind {
    /// Continuous least squares (uniform weight on `[-R, R]`).
    LeastSquares,
    /// Minimax (Remez), smallest maximum error.
    Minimax,
    /// A fixed published polynomial.
    Paper,
}

/// A sigmoid fit on `[-range, range]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SigmoidFit {
    /// How it was fitted.
    pub kind: FitKind,
    /// `R`: the fit is for `[-R, R]`.
    pub range: f64,
    /// Polynomial degree.
    pub degree: usize,
    /// `power[k]` multiplies `x^k`.
    pub power: Vec<f64>,
    /// The same polynomial in Chebyshev form on `[-R, R]`.
    pub cheb: ChebyshevPoly,
    /// Largest `|p(x) - σ(x)|` on a 200,001-point grid of `[-R, R]`.
    pub max_error: f64,
}

impl SigmoidFit {
    /// Evaluates the fit (Clenshaw on the Chebyshev form).
    pub fn eval(&self, x: f64) -> f64 {
        self.cheb.eval(x)
    }
}

fn check(range: f64, degree: usize) -> Result<(), ApproxError> {
    check_finite(range, "sigmoid range")?;
    if range <= 0.0 {
        return Err(ApproxError::InvalidInterval { lo: -range, hi: range });
    }
    if degree.is_multiple_of(2) || degree > SIGMOID_MAX_DEGREE {
        return Err(ApproxError::DegreeOutOfRange { degree, min: 1, max: SIGMOID_MAX_DEGREE });
    }
    Ok(())
}

/// Largest `|p(x) - σ(x)|` of power-basis `p` on an even grid of `[-range, range]`.
pub fn max_error_power(power: &[f64], range: f64, points: usize) -> f64 {
    let n = points.max(2) - 1;
    (0..=n)
        .map(|i| {
            let x = -range + 2.0 * range * i as f64 / n as f64;
            (horner(power, x) - sigmoid(x)).abs()
        })
        .fold(0.0, f64::max)
}

fn finish(kind: FitKind, range: f64, degree: usize, mut cheb: ChebyshevPoly) -> Result<SigmoidFit, ApproxError> {
    cheb.coeffs[0] = 0.5;
    let mut power = cheb.to_power_basis();
    for (k, c) in power.iter_mut().enumerate() {
        if k.is_multiple_of(2) {
            *c = if k == 0 { 0.5 } else { 0.0 };
        }
    }
    let max_error = max_error_power(&power, range, MEASURE_POINTS);
    Ok(SigmoidFit { kind, range, degree, power, cheb, max_error })
}

/// Continuous least-squares fit of odd `degree` on `[-range, range]`
/// (normal equations in the Chebyshev basis, integrals by composite Simpson
/// on 20,000 panels — far below the fit error).
///
/// ```
/// use hecnn_approx::sigmoid::sigmoid_least_squares;
/// let f = sigmoid_least_squares(8.0, 3)?;
/// assert!(f.max_error < 0.12);
/// # Ok::<(), hecnn_approx::ApproxError>(())
/// ```
pub fn sigmoid_least_squares(range: f64, degree: usize) -> Result<SigmoidFit, ApproxError> {
    check(range, degree)?;
    let ks: Vec<usize> = (1..=degree).step_by(2).collect();
    let panels = 20_000;
    let h = 1.0 / panels as f64;
    // Integrals over t in [0, 1] (the integrands are even in t).
    let mut gram = vec![vec![0.0; ks.len()]; ks.len()];
    let mut rhs = vec![0.0; ks.len()];
    for i in 0..=panels {
        let t = i as f64 * h;
        let w = if i == 0 || i == panels {
            1.0
        } else if i % 2 == 1 {
            4.0
        } else {
            2.0
        } * h
            / 3.0;
        let mut tk = vec![0.0; degree + 1];
        tk[0] = 1.0;
        tk[1] = t;
        for k in 2..=degree {
            tk[k] = 2.0 * t * tk[k - 1] - tk[k - 2];
        }
        let g = sigmoid(range * t) - 0.5;
        for (a, &ka) in ks.iter().enumerate() {
            rhs[a] += w * g * tk[ka];
            for (b, &kb) in ks.iter().enumerate() {
                gram[a][b] += w * tk[ka] * tk[kb];
            }
        }
    }
    let sol = linalg::solve_f64(gram, rhs)?;
    let mut coeffs = vec![0.0; degree + 1];
    for (a, &k) in ks.iter().enumerate() {
        coeffs[k] = sol[a];
    }
    finish(FitKind::LeastSquares, range, degree, ChebyshevPoly::new(-range, range, coeffs)?)
}

/// Minimax fit of odd `degree` on `[-range, range]` (Remez on the odd part).
///
/// ```
/// use hecnn_approx::sigmoid::{sigmoid_minimax, sigmoid_least_squares};
/// let mm = sigmoid_minimax(8.0, 5)?;
/// let ls = sigmoid_least_squares(8.0, 5)?;
/// assert!(mm.max_error <= ls.max_error);
/// # Ok::<(), hecnn_approx::ApproxError>(())
/// ```
pub fn sigmoid_minimax(range: f64, degree: usize) -> Result<SigmoidFit, ApproxError> {
    check(range, degree)?;
    let odd = |x: f64| sigmoid(x) - 0.5;
    let r = remez(&odd, &[(0.0, range)], degree, Symmetry::Odd, &RemezOptions::default())?;
    finish(FitKind::Minimax, range, degree, r.cheb)
}

/// The paper's fixed `Z3` as a fit on `[-8, 8]`, with its measured error.
pub fn paper_sigmoid() -> SigmoidFit {
    let power = PAPER_SIGMOID_Z3.to_vec();
    let cheb = ChebyshevPoly::from_power_basis(-PAPER_SIGMOID_RANGE, PAPER_SIGMOID_RANGE, &power)
        .unwrap_or_else(|_| ChebyshevPoly { a: -PAPER_SIGMOID_RANGE, b: PAPER_SIGMOID_RANGE, coeffs: vec![0.5] });
    let max_error = max_error_power(&power, PAPER_SIGMOID_RANGE, MEASURE_POINTS);
    SigmoidFit { kind: FitKind::Paper, range: PAPER_SIGMOID_RANGE, degree: 3, power, cheb, max_error }
}
