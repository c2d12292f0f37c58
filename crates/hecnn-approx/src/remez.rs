//! Remez exchange for minimax polynomial approximation on a union of
//! intervals, with odd / even / general symmetry.
//!
//! The polynomial is represented in the Chebyshev basis of `t = x / R`
//! (symmetric problems, `R` = largest right end) or of the affine image of the
//! hull `[lo, hi]` (general problems), so the reference system stays well
//! conditioned up to degree ~100. Each iteration
//!
//! 1. solves the reference system `sum_j c_j phi_j(x_i) + (-1)^i h = f(x_i)`
//!    in `dashu-float` big floats (`precision_bits`, default 128) or in `f64`
//!    when `precision_bits <= 53`;
//! 2. samples the error on a Chebyshev-distributed grid in every interval,
//!    refines each local extremum by golden-section search, and
//! 3. picks `n + 1` alternating extrema (largest first) as the new reference.
//!
//! It stops when `(max|e| - min_ref|e|) / max|e| <= tolerance` (the
//! de la Vallée-Poussin gap: the true minimax error lies in between) or when
//! that gap, or the error itself, is below the noise floor
//! `max(abs_floor, 16 ε (max|f| + Σ|c_k|))` (nothing left to gain in `f64`).

use serde::Serialize;

use crate::chebyshev::{clenshaw, ChebyshevPoly};
use crate::error::{check_finite, check_interval, ApproxError};
use crate::linalg;

/// Largest degree the Remez solver accepts.
pub const REMEZ_MAX_DEGREE: usize = 127;

/// Which monomials / Chebyshev polynomials the approximation may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Symmetry {
    /// Odd polynomial (`x, x^3, ...`); intervals are given on `[0, inf)` and the
    /// fit holds on their mirror images too (for odd `f`).
    Odd,
    /// Even polynomial (`1, x^2, ...`); intervals on `[0, inf)`.
    Even,
    /// All powers up to the degree; intervals anywhere.
    General,
}

/// Knobs of the exchange; the defaults suit degrees up to ~100.
#[derive(Debug, Clone, PartialEq)]
pub struct RemezOptions {
    /// Iteration cap before [`ApproxError::NotConverged`].
    pub max_iterations: usize,
    /// Relative spread between largest error and smallest reference error at
    /// which the result is accepted.
    pub tolerance: f64,
    /// Absolute error below which the fit is accepted as is. The effective
    /// floor is at least `16 ε (max|f| + Σ|c_k|)`, the `f64` rounding noise
    /// of evaluating `f` and the series.
    pub abs_floor: f64,
    /// Grid points per interval and per unknown for the extremum search.
    pub grid_density: usize,
    /// Binary digits for the reference solve; `<= 53` solves in `f64`.
    pub precision_bits: usize,
}

impl Default for RemezOptions {
    fn default() -> Self {
        Self { max_iterations: 80, tolerance: 1e-9, abs_floor: 1e-14, grid_density: 24, precision_bits: 128 }
    }
}

/// A minimax fit and how good it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RemezResult {
    /// The polynomial in Chebyshev form (zeros at the unused parity).
    pub cheb: ChebyshevPoly,
    /// The same polynomial in powers of `x`: `power[k]` multiplies `x^k`
    /// (zeros at the unused parity). Ill-conditioned for high degrees.
    pub power: Vec<f64>,
    /// Largest `|p(x) - f(x)|` found on the refined grid of the domain.
    pub max_error: f64,
    /// `|h|`, the levelled error on the final reference (a lower bound of the
    /// true minimax error).
    pub levelled_error: f64,
    /// Exchange iterations performed.
    pub iterations: usize,
    /// The final reference (alternation) points, ascending.
    pub reference: Vec<f64>,
}

/// Internal description of the problem in the mapped variable `t`.
struct Problem<'f> {
    f: &'f dyn Fn(f64) -> f64,
    /// Intervals in `t`.
    t_intervals: Vec<(f64, f64)>,
    /// Indices `k` of the `T_k` used.
    basis: Vec<usize>,
    degree: usize,
    /// `x = scale * t + shift`.
    scale: f64,
    shift: f64,
}

impl Problem<'_> {
    fn x_of(&self, t: f64) -> f64 {
        self.scale * t + self.shift
    }
    fn err(&self, coeffs: &[f64], t: f64) -> f64 {
        clenshaw(coeffs, t) - (self.f)(self.x_of(t))
    }
}

/// Minimax approximation of `f` by a polynomial of `degree` on the union of
/// `intervals` (sorted, disjoint; for `Odd`/`Even`, on `[0, inf)`).
///
/// ```
/// use hecnn_approx::{remez, RemezOptions, Symmetry};
/// // Best line for x^2 on [-1, 1] is 1/2 with error 1/2.
/// let r = remez(&|x: f64| x * x, &[(-1.0, 1.0)], 1, Symmetry::General, &RemezOptions::default())?;
/// assert!((r.max_error - 0.5).abs() < 1e-9);
/// # Ok::<(), hecnn_approx::ApproxError>(())
/// ```
pub fn remez(
    f: &dyn Fn(f64) -> f64,
    intervals: &[(f64, f64)],
    degree: usize,
    symmetry: Symmetry,
    opts: &RemezOptions,
) -> Result<RemezResult, ApproxError> {
    let problem = setup(f, intervals, degree, symmetry, opts)?;
    run(&problem, opts)
}

fn setup<'f>(
    f: &'f dyn Fn(f64) -> f64,
    intervals: &[(f64, f64)],
    degree: usize,
    symmetry: Symmetry,
    opts: &RemezOptions,
) -> Result<Problem<'f>, ApproxError> {
    if intervals.is_empty() {
        return Err(ApproxError::NoIntervals);
    }
    for &(lo, hi) in intervals {
        check_interval(lo, hi)?;
        if symmetry != Symmetry::General && lo < 0.0 {
            return Err(ApproxError::NegativeSymmetricInterval { lo, hi });
        }
    }
    if intervals.windows(2).any(|w| w[0].1 >= w[1].0) {
        return Err(ApproxError::OverlappingIntervals);
    }
    let tol_ok = opts.tolerance > 0.0 && opts.tolerance.is_finite();
    let floor_ok = opts.abs_floor >= 0.0 && opts.abs_floor.is_finite();
    if !tol_ok || !floor_ok || opts.grid_density < 2 || opts.max_iterations == 0 {
        return Err(ApproxError::InvalidParameter {
            what: "Remez options (tolerance > 0, abs_floor >= 0, grid_density >= 2, max_iterations >= 1)",
        });
    }
    let (basis, min): (Vec<usize>, usize) = match symmetry {
        Symmetry::Odd => ((1..=degree).step_by(2).collect(), 1),
        Symmetry::Even => ((0..=degree).step_by(2).collect(), 0),
        Symmetry::General => ((0..=degree).collect(), 0),
    };
    let parity_ok = match symmetry {
        Symmetry::Odd => degree % 2 == 1,
        Symmetry::Even => degree.is_multiple_of(2),
        Symmetry::General => true,
    };
    if degree < min || degree > REMEZ_MAX_DEGREE || !parity_ok {
        return Err(ApproxError::DegreeOutOfRange { degree, min, max: REMEZ_MAX_DEGREE });
    }
    let lo = intervals[0].0;
    let hi = intervals[intervals.len() - 1].1;
    let (scale, shift) = match symmetry {
        Symmetry::General => (0.5 * (hi - lo), 0.5 * (hi + lo)),
        _ => (hi, 0.0),
    };
    let t_intervals = intervals.iter().map(|&(a, b)| ((a - shift) / scale, (b - shift) / scale)).collect();
    Ok(Problem { f, t_intervals, basis, degree, scale, shift })
}

/// Initial reference: `m` points spread like Chebyshev extrema over the
/// total length of the union, measured in `u = t^2` for symmetric problems
/// (an odd/even polynomial is a polynomial in `t^2`, so this matches where its
/// oscillations can go) and in `t` otherwise. A poor start makes the first
/// system ill-conditioned at high degree.
fn initial_reference(p: &Problem, m: usize) -> Vec<f64> {
    let symmetric = p.basis.len() <= p.degree;
    let to_u = |t: f64| if symmetric { t * t } else { t };
    let from_u = |u: f64| if symmetric { u.max(0.0).sqrt() } else { u };
    let ivs: Vec<(f64, f64)> = p.t_intervals.iter().map(|&(a, b)| (to_u(a), to_u(b))).collect();
    let total: f64 = ivs.iter().map(|(a, b)| b - a).sum();
    let mut out = Vec::with_capacity(m);
    for i in 0..m {
        let w = total * 0.5 * (1.0 - (std::f64::consts::PI * i as f64 / (m - 1) as f64).cos());
        let mut acc = 0.0;
        let mut u = ivs[ivs.len() - 1].1;
        for &(a, b) in &ivs {
            if w <= acc + (b - a) {
                u = a + (w - acc);
                break;
            }
            acc += b - a;
        }
        // Keep the exact interval ends (sqrt(a^2) may round).
        let t = from_u(u);
        let t = p
            .t_intervals
            .iter()
            .map(|&(a, b)| t.clamp(a, b))
            .min_by(|x, y| (x - t).abs().total_cmp(&(y - t).abs()))
            .unwrap_or(t);
        out.push(t);
    }
    // An odd basis vanishes at 0; a reference point there makes h = 0.
    if p.basis[0] == 1 && out[0] == 0.0 && m > 1 {
        out[0] = 0.5 * out[1];
    }
    out.dedup();
    out
}

/// Solves the reference system; returns full Chebyshev coefficients and `h`.
fn solve_reference(p: &Problem, reference: &[f64], bits: usize) -> Result<(Vec<f64>, f64), ApproxError> {
    let n = p.basis.len();
    let mut rhs = Vec::with_capacity(n + 1);
    for &t in reference {
        rhs.push(check_finite((p.f)(p.x_of(t)), "function value")?);
    }
    let sol = if bits <= 53 {
        let mut m = Vec::with_capacity(n + 1);
        for (i, &t) in reference.iter().enumerate() {
            let mut tk = vec![0.0; p.degree + 1];
            tk[0] = 1.0;
            if p.degree >= 1 {
                tk[1] = t;
            }
            for k in 2..=p.degree {
                tk[k] = 2.0 * t * tk[k - 1] - tk[k - 2];
            }
            let mut row: Vec<f64> = p.basis.iter().map(|&k| tk[k]).collect();
            row.push(if i.is_multiple_of(2) { 1.0 } else { -1.0 });
            m.push(row);
        }
        linalg::solve_f64(m, rhs)?
    } else {
        let one = linalg::big(1.0, bits)?;
        let mut m = Vec::with_capacity(n + 1);
        for (i, &t) in reference.iter().enumerate() {
            let tb = linalg::big(t, bits)?;
            let two_t = &tb + &tb;
            let mut tk = Vec::with_capacity(p.degree + 1);
            tk.push(one.clone());
            if p.degree >= 1 {
                tk.push(tb.clone());
            }
            for k in 2..=p.degree {
                let v = &two_t * &tk[k - 1] - &tk[k - 2];
                tk.push(v);
            }
            let mut row: Vec<_> = p.basis.iter().map(|&k| tk[k].clone()).collect();
            row.push(if i.is_multiple_of(2) { one.clone() } else { -one.clone() });
            m.push(row);
        }
        let rb = rhs.iter().map(|&v| linalg::big(v, bits)).collect::<Result<Vec<_>, _>>()?;
        linalg::solve_big(m, rb)?.iter().map(linalg::to_f64).collect()
    };
    let mut coeffs = vec![0.0; p.degree + 1];
    for (j, &k) in p.basis.iter().enumerate() {
        coeffs[k] = sol[j];
    }
    let h = sol[n];
    if coeffs.iter().all(|c| c.is_finite()) && h.is_finite() {
        Ok((coeffs, h))
    } else {
        Err(ApproxError::Singular)
    }
}

/// Maximises `s * e(t)` on `[lo, hi]` by golden-section search.
fn refine(p: &Problem, c: &[f64], s: f64, mut lo: f64, mut hi: f64) -> (f64, f64) {
    const G: f64 = 0.618_033_988_749_894_9;
    let mut x1 = hi - G * (hi - lo);
    let mut x2 = lo + G * (hi - lo);
    let mut f1 = s * p.err(c, x1);
    let mut f2 = s * p.err(c, x2);
    for _ in 0..40 {
        if f1 < f2 {
            lo = x1;
            x1 = x2;
            f1 = f2;
            x2 = lo + G * (hi - lo);
            f2 = s * p.err(c, x2);
        } else {
            hi = x2;
            x2 = x1;
            f2 = f1;
            x1 = hi - G * (hi - lo);
            f1 = s * p.err(c, x1);
        }
        if hi - lo <= 1e-15 * (1.0 + hi.abs()) {
            break;
        }
    }
    if f1 >= f2 {
        (x1, s * f1)
    } else {
        (x2, s * f2)
    }
}

/// Local extrema of the error on the grid (refined), plus the old reference.
/// Returns `(t, e)` sorted by `t`, and the largest `|e|` seen.
fn extrema(p: &Problem, c: &[f64], density: usize, old_ref: &[f64]) -> (Vec<(f64, f64)>, f64) {
    let m = density * (p.basis.len() + 1);
    let mut cands: Vec<(f64, f64)> = Vec::new();
    let mut max_abs = 0.0f64;
    for &(a, b) in &p.t_intervals {
        let grid: Vec<f64> = (0..m)
            .map(|j| {
                let v = 0.5 * (a + b) - 0.5 * (b - a) * (std::f64::consts::PI * j as f64 / (m - 1) as f64).cos();
                v.clamp(a, b)
            })
            .collect();
        let e: Vec<f64> = grid.iter().map(|&t| p.err(c, t)).collect();
        for j in 0..m {
            let s = if e[j] > 0.0 {
                1.0
            } else if e[j] < 0.0 {
                -1.0
            } else {
                continue;
            };
            max_abs = max_abs.max(e[j].abs());
            let left_ok = j == 0 || s * e[j] >= s * e[j - 1];
            let right_ok = j == m - 1 || s * e[j] >= s * e[j + 1];
            if !(left_ok && right_ok) {
                continue;
            }
            if j == 0 || j == m - 1 {
                cands.push((grid[j], e[j]));
            } else {
                let (t, v) = refine(p, c, s, grid[j - 1], grid[j + 1]);
                let (t, v) = if s * v >= s * e[j] { (t, v) } else { (grid[j], e[j]) };
                max_abs = max_abs.max(v.abs());
                cands.push((t, v));
            }
        }
    }
    for &t in old_ref {
        let v = p.err(c, t);
        if v != 0.0 {
            max_abs = max_abs.max(v.abs());
            cands.push((t, v));
        }
    }
    cands.sort_by(|x, y| x.0.total_cmp(&y.0));
    (cands, max_abs)
}

/// Picks `want` alternating extrema, dropping the smallest first.
fn select_alternating(cands: &[(f64, f64)], want: usize) -> Result<Vec<(f64, f64)>, ApproxError> {
    let mut alt: Vec<(f64, f64)> = Vec::with_capacity(cands.len());
    for &(t, v) in cands {
        match alt.last_mut() {
            Some(last) if (last.1 > 0.0) == (v > 0.0) => {
                if v.abs() > last.1.abs() {
                    *last = (t, v);
                }
            }
            _ => alt.push((t, v)),
        }
    }
    while alt.len() > want {
        let excess = alt.len() - want;
        let first = alt[0].1.abs();
        let last = alt[alt.len() - 1].1.abs();
        let (end_cost, end_idx) = if first <= last { (first, 0) } else { (last, alt.len() - 1) };
        let mut pair: Option<(f64, usize)> = None;
        if excess >= 2 {
            for i in 0..alt.len() - 1 {
                let cst = alt[i].1.abs().max(alt[i + 1].1.abs());
                if pair.is_none_or(|(pc, _)| cst < pc) {
                    pair = Some((cst, i));
                }
            }
        }
        match pair {
            Some((pc, i)) if pc < end_cost => {
                alt.drain(i..i + 2);
            }
            _ => {
                alt.remove(end_idx);
            }
        }
    }
    if alt.len() < want {
        return Err(ApproxError::NoAlternation { found: alt.len(), needed: want });
    }
    Ok(alt)
}

fn run(p: &Problem, opts: &RemezOptions) -> Result<RemezResult, ApproxError> {
    let want = p.basis.len() + 1;
    let mut reference = initial_reference(p, want);
    if reference.len() < want {
        return Err(ApproxError::NoAlternation { found: reference.len(), needed: want });
    }
    let mut spread = f64::INFINITY;
    for iter in 1..=opts.max_iterations {
        let (coeffs, h) = solve_reference(p, &reference, opts.precision_bits)?;
        let (cands, max_abs) = extrema(p, &coeffs, opts.grid_density, &reference);
        // Rounding noise of evaluating f and the series in f64: errors this
        // small carry no information, so neither alternation nor spread can
        // be trusted below it.
        let fscale = reference.iter().map(|&t| (p.f)(p.x_of(t)).abs()).fold(0.0, f64::max);
        let cscale: f64 = coeffs.iter().map(|c| c.abs()).sum();
        let floor = opts.abs_floor.max(16.0 * f64::EPSILON * (fscale + cscale));
        let done_abs = max_abs <= floor;
        let alt = match select_alternating(&cands, want) {
            Ok(a) => a,
            // Below the noise floor the curve need not alternate; accept.
            Err(_) if done_abs => Vec::new(),
            Err(e) => return Err(e),
        };
        let min_ref = alt.iter().map(|v| v.1.abs()).fold(f64::INFINITY, f64::min);
        spread = if max_abs > 0.0 { (max_abs - min_ref) / max_abs } else { 0.0 };
        // Converged relative to the error, or the remaining gap is f64 noise.
        if done_abs || spread <= opts.tolerance || max_abs - min_ref <= floor {
            return finish(p, coeffs, max_abs, h.abs(), iter, &reference);
        }
        reference = alt.iter().map(|v| v.0).collect();
    }
    Err(ApproxError::NotConverged { iterations: opts.max_iterations, spread })
}

fn finish(
    p: &Problem,
    coeffs: Vec<f64>,
    max_error: f64,
    levelled: f64,
    iterations: usize,
    reference: &[f64],
) -> Result<RemezResult, ApproxError> {
    let (a, b) = (p.shift - p.scale, p.shift + p.scale);
    let cheb = ChebyshevPoly::new(a, b, coeffs)?;
    let mut power = cheb.to_power_basis();
    // Exact zeros at the unused parity (rounding leaves tiny residues).
    if p.basis.len() <= p.degree {
        let keep_odd = p.basis[0] == 1;
        for (k, c) in power.iter_mut().enumerate() {
            if (k % 2 == 1) != keep_odd {
                *c = 0.0;
            }
        }
    }
    Ok(RemezResult {
        cheb,
        power,
        max_error,
        levelled_error: levelled,
        iterations,
        reference: reference.iter().map(|&t| p.x_of(t)).collect(),
    })
}
