//! Composite minimax approximation of `sgn` (Lee et al., arXiv 2105.10879)
//! and the ReLU / max / max-pool built on it.
//!
//! A [`CompositeSign`] is `p_k ∘ … ∘ p_1` of odd minimax polynomials. Stage 1
//! approximates `sgn` on `[-1,-ε] ∪ [ε,1]` with error `δ_1`, so it maps
//! `[ε,1]` into `[1-δ_1, 1+δ_1]`; stage `i+1` approximates `sgn` on
//! `±[1-δ_i, 1+δ_i]`, and so on. The composite error is the last stage's
//! error, required `≤ 2^-α`.
//!
//! # Search
//! `sgn` is scale invariant, so a stage on `[l, u]` is the stage on
//! `[l/u, 1]` with its input divided by `u`: the error of an odd degree-`d`
//! stage depends only on `d` and the ratio `τ = l/u`, `E(d, τ)`. The search
//! is a shortest-path (Dijkstra) search over states `τ` with the
//! lexicographic cost (depth, non-scalar mults) of [`crate::cost`]:
//!
//! * the start state is `τ = ε`;
//! * after a stage of error `δ`, `δ` is rounded **up** to a grid that is
//!   uniform in `log2((1-δ)/δ)` with step `1/16` (rounding up only widens the
//!   next stage's interval, so the composite stays correct, at a tiny loss of
//!   optimality), and the next state is `τ = (1-δ)/(1+δ)`;
//! * a stage whose error is `≤ 2^-α` ends the sequence.
//!
//! Stage errors `E(d, τ)` come from a double-precision Remez exchange
//! (falling back to 128-bit when `f64` fails) and are memoised by
//! `(d, τ)` in a process-wide cache, so searching all α reuses most fits.
//! The chosen stages are recomputed with the 128-bit reference solve.
//! Candidate degrees are the odd degrees in `[min_degree, max_degree]`
//! that are Pareto-optimal in (depth, mults): a higher degree with the same
//! depth and mults is always at least as good.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Mutex, OnceLock};

use serde::Serialize;

use crate::chebyshev::{clenshaw, ChebyshevPoly};
use crate::cost;
use crate::error::{check_finite, ApproxError};
use crate::remez::{remez, RemezOptions, Symmetry};

/// Smallest supported precision α.
pub const ALPHA_MIN: u32 = 4;
/// Largest supported precision α.
pub const ALPHA_MAX: u32 = 20;

/// Grid steps per unit of `log2((1-δ)/δ)` for the search states.
const GRID: f64 = 16.0;
/// Relative margin added to a measured stage error before rounding it up.
const MARGIN: f64 = 1e-6;

/// One stage: an odd polynomial in the Chebyshev basis of `t = x / input_bound`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OddPoly {
    /// Odd degree.
    pub degree: usize,
    /// `B`: the stage is fitted for inputs with `|x|` in `[input_lower, B]`.
    pub input_bound: f64,
    /// Lower end of `|x|` for which the fit error holds.
    pub input_lower: f64,
    /// `coeffs[k]` multiplies `T_k(x / B)`; zero for even `k`.
    pub coeffs: Vec<f64>,
    /// Largest `|p(x) - sgn(x)|` on `±[input_lower, B]` (measured on the Remez grid).
    pub max_error: f64,
}

impl OddPoly {
    /// Evaluates the stage (Clenshaw in `t = x / B`); exactly odd in floating point.
    pub fn eval(&self, x: f64) -> f64 {
        clenshaw(&self.coeffs, x / self.input_bound)
    }

    /// The stage as a [`ChebyshevPoly`] on `[-B, B]`, the format
    /// `hecnn-ckks` evaluates (its mapped variable is exactly `x / B`).
    pub fn to_chebyshev(&self) -> ChebyshevPoly {
        ChebyshevPoly {
            a: -self.input_bound,
            b: self.input_bound,
            coeffs: self.coeffs.clone(),
        }
    }

    /// Power-basis coefficients in `x` (zeros at even powers). For inspection:
    /// at degree ≳ 30 the monomial form loses all accuracy in `f64`.
    pub fn power_coeffs(&self) -> Vec<f64> {
        let mut p = self.to_chebyshev().to_power_basis();
        for (k, c) in p.iter_mut().enumerate() {
            if k.is_multiple_of(2) {
                *c = 0.0;
            }
        }
        p
    }
}

/// Knobs of the degree search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOptions {
    /// Smallest stage degree (odd, ≥ 3).
    pub min_degree: usize,
    /// Largest stage degree (odd, ≤ 127).
    pub max_degree: usize,
    /// Largest number of stages.
    pub max_stages: usize,
    /// Binary digits of the final per-stage Remez solves.
    pub final_precision_bits: usize,
}

impl Default for SearchOptions {
    fn default() -> Self {
        Self {
            min_degree: 3,
            max_degree: 63,
            max_stages: 16,
            final_precision_bits: 128,
        }
    }
}

/// A composite minimax sign approximation and its costs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompositeSign {
    /// Target error `2^-alpha`.
    pub alpha: u32,
    /// Input gap: the error bound holds for `|x|` in `[eps, 1]`.
    pub eps: f64,
    /// Stages in evaluation order (`stages[0]` is applied first).
    pub stages: Vec<OddPoly>,
    /// Stage degrees in evaluation order.
    pub degrees: Vec<usize>,
    /// Total depth: sum of `ceil(log2(d + 1))`.
    pub depth: u32,
    /// Total non-scalar multiplications under [`crate::cost::nonscalar_mults`].
    pub nonscalar_mults: u32,
    /// Design error bound: the last stage's fit error on its input interval.
    pub design_error: f64,
}

/// `ε = 2^-α`, the default gap: ReLU to precision `2^-α` needs the sign
/// right down to `|x| = 2^-α` (below it, `|ReLU error| ≤ |x| ≤ 2^-α` anyway).
pub fn default_eps(alpha: u32) -> f64 {
    (-(alpha as f64)).exp2()
}

/// Searches the degree sequence for precision α and gap `eps`, minimising
/// depth first and then non-scalar multiplications.
///
/// ```
/// use hecnn_approx::composite::{search, default_eps};
/// let s = search(6, default_eps(6))?;
/// assert!(s.max_error_on_grid(10_000) <= 2f64.powi(-6));
/// assert!(s.eval(0.5) > 0.98 && s.eval(-0.5) < -0.98);
/// # Ok::<(), hecnn_approx::ApproxError>(())
/// ```
pub fn search(alpha: u32, eps: f64) -> Result<CompositeSign, ApproxError> {
    search_with(alpha, eps, &SearchOptions::default())
}

/// [`search`] with explicit options.
pub fn search_with(
    alpha: u32,
    eps: f64,
    opts: &SearchOptions,
) -> Result<CompositeSign, ApproxError> {
    if !(ALPHA_MIN..=ALPHA_MAX).contains(&alpha) {
        return Err(ApproxError::AlphaOutOfRange { alpha });
    }
    check_finite(eps, "eps")?;
    if !(eps > 0.0 && eps < 1.0) {
        return Err(ApproxError::EpsOutOfRange { eps });
    }
    if opts.min_degree < 3
        || opts.min_degree.is_multiple_of(2)
        || opts.max_degree.is_multiple_of(2)
        || opts.max_degree < opts.min_degree
        || opts.max_degree > crate::remez::REMEZ_MAX_DEGREE
    {
        return Err(ApproxError::DegreeOutOfRange {
            degree: if opts.min_degree < 3 || opts.min_degree.is_multiple_of(2) {
                opts.min_degree
            } else {
                opts.max_degree
            },
            min: 3,
            max: crate::remez::REMEZ_MAX_DEGREE,
        });
    }
    if opts.max_stages == 0 {
        return Err(ApproxError::InvalidParameter {
            what: "max_stages must be >= 1",
        });
    }
    let target = default_eps(alpha);
    let cands = candidate_degrees(opts.min_degree, opts.max_degree);
    let path = dijkstra(eps, target, &cands, opts.max_stages).ok_or(ApproxError::NoSequence {
        alpha,
        eps,
        max_stages: opts.max_stages,
    })?;
    build(alpha, eps, &path, opts)
}

/// Odd degrees in range, keeping only the largest degree of each
/// (depth, mults) cost and dropping degrees dominated by a larger one.
fn candidate_degrees(min: usize, max: usize) -> Vec<usize> {
    let all: Vec<usize> = (min..=max).step_by(2).collect();
    all.iter()
        .copied()
        .filter(|&d| {
            let c = (cost::depth(d), cost::nonscalar_mults(d));
            !all.iter()
                .any(|&e| e > d && (cost::depth(e), cost::nonscalar_mults(e)) <= c)
        })
        .collect()
}

/// State of the search: the ratio `τ` of the current input interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum State {
    Start,
    Grid(i64),
}

/// `δ` of a grid key: `log2((1-δ)/δ) = k / GRID`.
fn grid_delta(k: i64) -> f64 {
    1.0 / (1.0 + (k as f64 / GRID).exp2())
}

/// Ratio `τ = l/u` and bound `u` of the input interval of a state.
fn state_interval(s: State, eps: f64) -> (f64, f64) {
    match s {
        State::Start => (eps, 1.0),
        State::Grid(k) => {
            let d = grid_delta(k);
            ((1.0 - d) / (1.0 + d), 1.0 + d)
        }
    }
}

/// Grid key of the smallest grid `δ_q ≥ δ`, or `None` if `δ ≥ 1`.
fn round_up(delta: f64) -> Option<i64> {
    let d = delta * (1.0 + MARGIN);
    if d.is_nan() || d >= 1.0 || d <= 0.0 {
        return None;
    }
    let x = ((1.0 - d) / d).log2();
    let mut k = (x * GRID).floor() as i64;
    while grid_delta(k) < d {
        k -= 1;
    }
    Some(k)
}

type CacheKey = (usize, u64, usize);
type Fit = Option<(f64, Vec<f64>)>;

fn cache() -> &'static Mutex<HashMap<CacheKey, Fit>> {
    static C: OnceLock<Mutex<HashMap<CacheKey, Fit>>> = OnceLock::new();
    C.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Odd minimax fit of `1` (i.e. `sgn`) on `[tau, 1]`: `(max error, coeffs)`.
/// Tries `bits` first (53 = `f64`), then 128-bit if that fails. Memoised.
fn stage_fit(d: usize, tau: f64, bits: usize) -> Fit {
    let key = (d, tau.to_bits(), bits);
    if let Some(v) = cache().lock().ok().and_then(|c| c.get(&key).cloned()) {
        return v;
    }
    let one = |_x: f64| 1.0;
    let mut res = None;
    for b in [bits, 128] {
        let opts = RemezOptions {
            precision_bits: b,
            ..RemezOptions::default()
        };
        if let Ok(r) = remez(&one, &[(tau, 1.0)], d, Symmetry::Odd, &opts) {
            res = Some((r.max_error, r.cheb.coeffs));
            break;
        }
    }
    if let Ok(mut c) = cache().lock() {
        c.insert(key, res.clone());
    }
    res
}

/// Empties the process-wide cache of stage fits (for benchmarks and timing:
/// the next [`search`] starts cold).
pub fn clear_cache() {
    if let Ok(mut c) = cache().lock() {
        c.clear();
    }
}

type Cost = (u32, u32);
/// Best cost to a state, its stage count, and the (state, degree) it came from.
type Label = (Cost, usize, Option<(State, usize)>);

/// Returns the stage path `[(state, degree)]` of the cheapest sequence.
fn dijkstra(
    eps: f64,
    target: f64,
    cands: &[usize],
    max_stages: usize,
) -> Option<Vec<(State, usize)>> {
    let step = |d: usize| (cost::depth(d), cost::nonscalar_mults(d));
    let add = |a: Cost, b: Cost| (a.0 + b.0, a.1 + b.1);
    let mut best: HashMap<State, Label> = HashMap::new();
    let mut heap = BinaryHeap::new();
    best.insert(State::Start, ((0, 0), 0, None));
    heap.push(Reverse(((0u32, 0u32), 0usize, State::Start)));
    let mut goal: Option<(Cost, State, usize)> = None;
    while let Some(Reverse((c, nst, s))) = heap.pop() {
        if best.get(&s).is_some_and(|b| b.0 < c) {
            continue;
        }
        if goal.as_ref().is_some_and(|g| g.0 <= c) {
            break;
        }
        let (tau, _) = state_interval(s, eps);
        for &d in cands {
            let nc = add(c, step(d));
            if goal.as_ref().is_some_and(|g| g.0 <= nc) {
                break;
            }
            let Some((err, _)) = stage_fit(d, tau, 53) else {
                continue;
            };
            if err * (1.0 + MARGIN) <= target {
                goal = Some((nc, s, d));
                break;
            }
            if nst + 1 >= max_stages {
                continue;
            }
            let Some(k) = round_up(err) else { continue };
            let next = State::Grid(k);
            if state_interval(next, eps).0 <= tau {
                continue; // no progress
            }
            if best.get(&next).is_none_or(|b| nc < b.0) {
                best.insert(next, (nc, nst + 1, Some((s, d))));
                heap.push(Reverse((nc, nst + 1, next)));
            }
        }
    }
    let (_, mut s, d) = goal?;
    let mut path = vec![(s, d)];
    while let Some(&(_, _, Some((prev, pd)))) = best.get(&s) {
        path.push((prev, pd));
        s = prev;
    }
    path.reverse();
    Some(path)
}

/// Builds the composite for a *given* degree sequence (no search): stage 1
/// on `[eps, 1]`, each next stage on the exact image interval
/// `[1-δ, 1+δ]` of the previous one (δ with a 1e-6 relative margin). Used to
/// evaluate published sequences such as Lee et al.'s `15∘15∘27`; the result's
/// `design_error` may exceed `2^-alpha` — nothing is enforced.
///
/// ```
/// use hecnn_approx::composite::compose;
/// let s = compose(13, 2f64.powi(-9), &[15, 15, 27])?;
/// assert_eq!(s.depth, 4 + 4 + 5);
/// # Ok::<(), hecnn_approx::ApproxError>(())
/// ```
pub fn compose(alpha: u32, eps: f64, degrees: &[usize]) -> Result<CompositeSign, ApproxError> {
    if !(ALPHA_MIN..=ALPHA_MAX).contains(&alpha) {
        return Err(ApproxError::AlphaOutOfRange { alpha });
    }
    check_finite(eps, "eps")?;
    if !(eps > 0.0 && eps < 1.0) {
        return Err(ApproxError::EpsOutOfRange { eps });
    }
    if degrees.is_empty() {
        return Err(ApproxError::InvalidParameter {
            what: "empty degree sequence",
        });
    }
    let mut stages = Vec::with_capacity(degrees.len());
    let (mut tau, mut bound) = (eps, 1.0);
    for &d in degrees {
        if d < 3 || d.is_multiple_of(2) || d > crate::remez::REMEZ_MAX_DEGREE {
            return Err(ApproxError::DegreeOutOfRange {
                degree: d,
                min: 3,
                max: crate::remez::REMEZ_MAX_DEGREE,
            });
        }
        let (err, coeffs) = stage_fit(d, tau, 128).ok_or(ApproxError::NotConverged {
            iterations: RemezOptions::default().max_iterations,
            spread: f64::NAN,
        })?;
        stages.push(OddPoly {
            degree: d,
            input_bound: bound,
            input_lower: tau * bound,
            coeffs,
            max_error: err,
        });
        let delta = (err * (1.0 + MARGIN)).min(1.0 - f64::EPSILON);
        tau = (1.0 - delta) / (1.0 + delta);
        bound = 1.0 + delta;
    }
    Ok(assemble(alpha, eps, stages))
}

fn assemble(alpha: u32, eps: f64, stages: Vec<OddPoly>) -> CompositeSign {
    let degrees: Vec<usize> = stages.iter().map(|s| s.degree).collect();
    CompositeSign {
        alpha,
        eps,
        depth: degrees.iter().map(|&d| cost::depth(d)).sum(),
        nonscalar_mults: degrees.iter().map(|&d| cost::nonscalar_mults(d)).sum(),
        design_error: stages.last().map_or(1.0, |s| s.max_error),
        degrees,
        stages,
    }
}

fn build(
    alpha: u32,
    eps: f64,
    path: &[(State, usize)],
    opts: &SearchOptions,
) -> Result<CompositeSign, ApproxError> {
    let mut stages = Vec::with_capacity(path.len());
    for &(s, d) in path {
        let (tau, bound) = state_interval(s, eps);
        let (err, coeffs) = stage_fit(d, tau, opts.final_precision_bits)
            .or_else(|| stage_fit(d, tau, 53))
            .ok_or(ApproxError::NotConverged {
                iterations: RemezOptions::default().max_iterations,
                spread: f64::NAN,
            })?;
        stages.push(OddPoly {
            degree: d,
            input_bound: bound,
            input_lower: tau * bound,
            coeffs,
            max_error: err,
        });
    }
    Ok(assemble(alpha, eps, stages))
}

impl CompositeSign {
    /// Evaluates `p_k(…p_1(x))`; approximates `sgn(x)` within `2^-α` for
    /// `|x|` in `[eps, 1]`.
    pub fn eval(&self, x: f64) -> f64 {
        self.stages.iter().fold(x, |v, s| s.eval(v))
    }

    /// Every stage as a [`ChebyshevPoly`] (stage `i` on `[-B_i, B_i]`), in
    /// evaluation order, for the CKKS evaluator.
    pub fn chebyshev_stages(&self) -> Vec<ChebyshevPoly> {
        self.stages.iter().map(OddPoly::to_chebyshev).collect()
    }

    /// Largest `|p(x) - sgn(x)|` over `points` points of `[-1,-eps] ∪ [eps,1]`:
    /// half uniformly spaced, half geometrically spaced from `eps` (dense near
    /// the gap, where the error is hardest to control), mirrored to both signs.
    pub fn max_error_on_grid(&self, points: usize) -> f64 {
        let half = (points / 4).max(2);
        let (e, n) = (self.eps, half as f64 - 1.0);
        let ratio = (1.0 / e).ln();
        let mut worst = 0.0f64;
        for i in 0..half {
            let u = i as f64 / n;
            for x in [e + (1.0 - e) * u, (e * (ratio * u).exp()).min(1.0)] {
                worst = worst.max((self.eval(x) - 1.0).abs());
                worst = worst.max((self.eval(-x) + 1.0).abs());
            }
        }
        worst
    }

    /// `ReLU(x) ≈ x (1 + sgn x) / 2`; error `≤ 2^-α-1 |x|` for `|x|` in
    /// `[eps, 1]` and `≤ |x| ≤ eps` below. Inputs must be scaled into `[-1, 1]`.
    pub fn relu(&self, x: f64) -> f64 {
        x * (1.0 + self.eval(x)) / 2.0
    }

    /// `max(a, b) ≈ ((a + b) + (a - b) sgn(a - b)) / 2`; needs `|a - b| ≤ 1`.
    pub fn max(&self, a: f64, b: f64) -> f64 {
        ((a + b) + (a - b) * self.eval(a - b)) / 2.0
    }

    /// Max of a pooling window (e.g. k×k values) as a balanced tree of
    /// pairwise [`max`](Self::max): depth `ceil(log2(len))` sign evaluations.
    /// Values must be scaled so that pairwise differences stay in `[-1, 1]`.
    pub fn max_pool(&self, window: &[f64]) -> Result<f64, ApproxError> {
        if window.is_empty() {
            return Err(ApproxError::InvalidParameter {
                what: "empty max-pool window",
            });
        }
        crate::error::check_all_finite(window, "max-pool window")?;
        let mut level = window.to_vec();
        while level.len() > 1 {
            level = level
                .chunks(2)
                .map(|c| {
                    if c.len() == 2 {
                        self.max(c[0], c[1])
                    } else {
                        c[0]
                    }
                })
                .collect();
        }
        Ok(level[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_rounds_up() {
        for &d in &[0.9999, 0.5, 0.1, 1e-3, 1e-7] {
            let k = round_up(d).unwrap();
            assert!(grid_delta(k) >= d);
            assert!(grid_delta(k + 1) < d * (1.0 + MARGIN));
        }
        assert!(round_up(1.0).is_none());
    }

    #[test]
    fn candidates_are_pareto() {
        let c = candidate_degrees(3, 63);
        assert!(c.contains(&63) && c.contains(&3));
        assert!(!c.contains(&5)); // 7 has the same cost
    }
}
