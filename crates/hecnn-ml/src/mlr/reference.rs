//! Plaintext `f64` reference of the encrypted MLR trainer.
//!
//! The model is a multiclass logistic regression with one sigmoid per class
//! (one-vs-rest) instead of a softmax, because a sigmoid needs one
//! polynomial per slot under CKKS while a softmax needs a division. It is
//! trained by maximising the one-vs-rest log-likelihood with Nesterov's
//! method, where the gradient is multiplied entry-wise by the diagonal
//! *quadratic-gradient* preconditioner `B̄`, a bound on the inverse Hessian
//! that lets the first few iterations take almost Newton-sized steps.
//!
//! # Relation to the paper's code
//!
//! This follows `DESIGN.md` ("The training protocol"), which is modelled on
//! the paper's own code (github.com/petitioner/HE.CNNtraining,
//! `MyHECNNtraining/src/Methods.cpp`, `Tools.cpp`, and the Python
//! experiment `20230403_..._sigmoidnagqg_mnist.py`). Where they differ:
//!
//! - **Returned model.** The C++ code decrypts and evaluates `W`
//!   (`encW8ghtData`) after every iteration, and takes the gradient at `V`
//!   (`encVelocData`); the Python script does the same. So `W` is the model
//!   here too ([`MlrTrace::w`], and the per-iteration statistics use it);
//!   `V` is returned as well.
//! - **Initial weights.** The C++ code starts at `W = V = 0.0128`
//!   (the paper's text and the Python script say 0); the default
//!   [`MlrConfig::init`] is 0.0128.
//! - **Sigmoid.** The C++ code evaluates `Z3` in the factored form
//!   `0.106795345·z·(1 − 0.003605331·z²) + 0.5` with rounded constants; the
//!   Python plaintext experiment (`hlambda`) uses the *exact* logistic
//!   function on `z` clipped to `[−8, 8]`, for both of the methods it
//!   compares. [`MlrConfig::sigmoid`] selects either: a power-basis
//!   polynomial (default [`Z3`] with the full coefficients, as `DESIGN.md`
//!   says, so that the encrypted trainer and this reference use the same
//!   function) or [`SigmoidFn::ClippedLogistic`], to reproduce the paper's
//!   plaintext convergence experiment.
//! - **Preconditioner.** The C++ code (`Tools::zInvBFromTraindata`) takes
//!   absolute values like `DESIGN.md`; the Python script uses the column sums
//!   of `XᵀX` without them. Both agree on non-negative features (the
//!   paper's RegNet features are post-ReLU).
//! - **Log-likelihood.** The paper's code sums `ln|σ(z) − 1 + ȳ|` over all
//!   samples and classes; we sum the same quantity but compute it as
//!   `−softplus(∓z)`, which is equal wherever the paper's form is finite and
//!   stays finite where `σ(z)` rounds to 0 or 1.

use serde::{Deserialize, Serialize};

use super::schedule::{nesterov_step, schedule, NesterovState};
use crate::MlError;

/// The paper's degree-3 sigmoid approximation on `[−8, 8]`, power basis:
/// `0.5 + 0.10679534503216294·t − 0.00038503259805075·t³`.
pub const Z3: [f64; 4] = [0.5, 0.10679534503216294, 0.0, -0.00038503259805075];

/// `ε` of the preconditioner (keeps `b̄_j` finite for an all-zero feature).
pub const DEFAULT_EPSILON: f64 = 1e-10;

/// The paper's code's initial value of every entry of `W` and `V`.
pub const DEFAULT_INIT: f64 = 0.0128;

/// The sigmoid evaluated inside training (in the gradient `(Ȳ − σ(X Vᵀ))ᵀ X`).
///
/// The statistics of [`train`] always use the exact logistic function,
/// whichever is chosen here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SigmoidFn {
    /// A power-basis polynomial `Σ_k c[k]·t^k` — what an encrypted trainer
    /// can evaluate. The default is [`Z3`]. Outside its fitted range a
    /// polynomial turns away from `[0, 1]` (`Z3` peaks near `|t| ≈ 9.6`).
    Polynomial(Vec<f64>),
    /// The exact logistic function of `t` clipped to `[−bound, bound]`, as in
    /// the paper's plaintext experiments (`hlambda`, `bound = 8`). Plaintext
    /// only: no encrypted trainer can evaluate it.
    ClippedLogistic {
        /// The clipping bound (finite, > 0).
        bound: f64,
    },
}

impl SigmoidFn {
    /// `σ(t)` under this choice.
    pub fn eval(&self, t: f64) -> f64 {
        match self {
            Self::Polynomial(coeffs) => sigmoid_poly(coeffs, t),
            Self::ClippedLogistic { bound } => sigmoid(t.clamp(-bound, *bound)),
        }
    }

    /// The polynomial's coefficients, or `None` for the clipped logistic.
    pub fn coefficients(&self) -> Option<&[f64]> {
        match self {
            Self::Polynomial(coeffs) => Some(coeffs),
            Self::ClippedLogistic { .. } => None,
        }
    }
}

/// How the gradient becomes a step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Method {
    /// The paper's method: step `(1+γ_t)·(B̄ ⊙ g)`.
    QuadraticGradient,
    /// The paper's own baseline ("SigmoidNAG" without the quadratic
    /// gradient): the same Nesterov schedule with the decaying step
    /// `γ_t·g = g/((t+1)·n)`.
    PaperNag,
    /// Nesterov with a fixed step `learning_rate·g`.
    PlainNag {
        /// The fixed learning rate (typically a small multiple of `1/n`).
        learning_rate: f64,
    },
}

/// Training configuration. [`Default`] is the paper's setting with
/// 2 iterations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlrConfig {
    /// Number of Nesterov iterations (≥ 1).
    pub iterations: usize,
    /// The sigmoid used in training (default: the polynomial [`Z3`]).
    pub sigmoid: SigmoidFn,
    /// Initial value of every entry of `W` and `V`.
    pub init: f64,
    /// `ε` of the preconditioner (> 0).
    pub epsilon: f64,
    /// Quadratic gradient or plain NAG.
    pub method: Method,
}

impl Default for MlrConfig {
    fn default() -> Self {
        Self {
            iterations: 2,
            sigmoid: SigmoidFn::Polynomial(Z3.to_vec()),
            init: DEFAULT_INIT,
            epsilon: DEFAULT_EPSILON,
            method: Method::QuadraticGradient,
        }
    }
}

/// Statistics of the model `W` after one iteration, on the training data.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IterationStats {
    /// 1-based iteration number.
    pub iteration: usize,
    /// Fraction of training samples classified correctly.
    pub train_accuracy: f64,
    /// One-vs-rest log-likelihood (a sum, ≤ 0; larger is better), see
    /// [`log_likelihood`].
    pub log_likelihood: f64,
}

/// Result of [`train`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlrTrace {
    /// The trained model `W` (c×d) — what the paper's code evaluates.
    pub w: Vec<Vec<f64>>,
    /// The final look-ahead point `V` (c×d).
    pub v: Vec<Vec<f64>>,
    /// Statistics of `W` after each iteration (`per_iteration[t-1]` is after
    /// iteration `t`).
    pub per_iteration: Vec<IterationStats>,
}

/// Evaluates a power-basis polynomial at `t` by Horner's rule.
pub fn sigmoid_poly(coeffs: &[f64], t: f64) -> f64 {
    coeffs.iter().rev().fold(0.0, |acc, c| acc * t + c)
}

/// The exact logistic function `1/(1+e^{−t})`, without overflow.
pub fn sigmoid(t: f64) -> f64 {
    if t >= 0.0 {
        1.0 / (1.0 + (-t).exp())
    } else {
        let e = t.exp();
        e / (1.0 + e)
    }
}

/// `ln(1+e^u)` without overflow.
fn softplus(u: f64) -> f64 {
    u.max(0.0) + (-u.abs()).exp().ln_1p()
}

/// Checks that `x` is a non-empty, rectangular, finite matrix; returns its
/// width.
pub(crate) fn validate_matrix(x: &[Vec<f64>]) -> Result<usize, MlError> {
    let first = x.first().ok_or(MlError::EmptyData)?;
    let d = first.len();
    if d == 0 {
        return Err(MlError::EmptyRow { row: 0 });
    }
    for (row, r) in x.iter().enumerate() {
        if r.len() != d {
            return Err(MlError::RaggedRow { row, expected: d, found: r.len() });
        }
        if let Some((column, &value)) = r.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(MlError::NonFinite { row, column, value });
        }
    }
    Ok(d)
}

fn validate_labels(rows: usize, labels: &[u8], classes: usize) -> Result<(), MlError> {
    if !(1..=256).contains(&classes) {
        return Err(MlError::InvalidClassCount { classes });
    }
    if labels.len() != rows {
        return Err(MlError::LabelCountMismatch { rows, labels: labels.len() });
    }
    if let Some((row, &label)) = labels.iter().enumerate().find(|(_, &l)| usize::from(l) >= classes) {
        return Err(MlError::LabelOutOfRange { row, label, classes });
    }
    Ok(())
}

/// Checks a weight matrix against the feature count `d`; returns the class
/// count.
fn validate_weights(w: &[Vec<f64>], d: usize) -> Result<usize, MlError> {
    let classes = w.len();
    if !(1..=256).contains(&classes) {
        return Err(MlError::InvalidClassCount { classes });
    }
    if let Some((row, r)) = w.iter().enumerate().find(|(_, r)| r.len() != d) {
        return Err(MlError::WeightShape { row, expected: d, found: r.len() });
    }
    Ok(classes)
}

fn validate_config(cfg: &MlrConfig) -> Result<(), MlError> {
    if cfg.iterations == 0 {
        return Err(MlError::ZeroIterations);
    }
    match &cfg.sigmoid {
        SigmoidFn::Polynomial(coeffs) if coeffs.is_empty() => {
            return Err(MlError::InvalidConfig { field: "sigmoid", reason: "no coefficients" });
        }
        SigmoidFn::Polynomial(coeffs) if coeffs.iter().any(|c| !c.is_finite()) => {
            return Err(MlError::InvalidConfig { field: "sigmoid", reason: "non-finite coefficient" });
        }
        SigmoidFn::ClippedLogistic { bound } if !(bound.is_finite() && *bound > 0.0) => {
            return Err(MlError::InvalidConfig { field: "sigmoid", reason: "clipping bound must be finite and > 0" });
        }
        _ => {}
    }
    if !cfg.init.is_finite() {
        return Err(MlError::InvalidConfig { field: "init", reason: "not finite" });
    }
    if !(cfg.epsilon.is_finite() && cfg.epsilon > 0.0) {
        return Err(MlError::InvalidConfig { field: "epsilon", reason: "must be finite and > 0" });
    }
    if let Method::PlainNag { learning_rate } = cfg.method {
        if !learning_rate.is_finite() {
            return Err(MlError::InvalidConfig { field: "learning_rate", reason: "not finite" });
        }
    }
    Ok(())
}

/// The quadratic-gradient preconditioner, one entry per feature `j`:
/// `b̄_j = 1 / (ε + ¼ Σ_i |x_ij| · Σ_l |x_il|)`.
///
/// `¼ Σ_i |x_ij| Σ_l |x_il|` is the `j`-th row sum of `¼|X|ᵀ|X|`, which
/// bounds the Hessian of each class's log-likelihood (Böhning's bound
/// `¼XᵀX`) in a diagonal form, so `B̄ ⊙ g` is a safe Newton-like step. The
/// client computes it from its own plaintext data and uploads it; the same
/// row serves every class. `x` must already contain the bias column.
pub fn preconditioner(x: &[Vec<f64>], epsilon: f64) -> Result<Vec<f64>, MlError> {
    let d = validate_matrix(x)?;
    if !(epsilon.is_finite() && epsilon > 0.0) {
        return Err(MlError::InvalidConfig { field: "epsilon", reason: "must be finite and > 0" });
    }
    let mut acc = vec![0.0f64; d];
    for row in x {
        let s: f64 = row.iter().map(|v| v.abs()).sum();
        for (a, v) in acc.iter_mut().zip(row) {
            *a += v.abs() * s;
        }
    }
    Ok(acc.into_iter().map(|a| 1.0 / (epsilon + 0.25 * a)).collect())
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `g = (Ȳ − σ(X Vᵀ))ᵀ X` on validated inputs (c×d).
fn gradient_unchecked(x: &[Vec<f64>], labels: &[u8], v: &[Vec<f64>], sigmoid: impl Fn(f64) -> f64) -> Vec<Vec<f64>> {
    let d = v.first().map_or(0, Vec::len);
    let mut g = vec![vec![0.0f64; d]; v.len()];
    for (xi, &label) in x.iter().zip(labels) {
        for (k, (vk, gk)) in v.iter().zip(g.iter_mut()).enumerate() {
            let y = if usize::from(label) == k { 1.0 } else { 0.0 };
            let r = y - sigmoid(dot(xi, vk));
            for (gkj, xij) in gk.iter_mut().zip(xi) {
                *gkj += r * xij;
            }
        }
    }
    g
}

/// The gradient of the one-vs-rest log-likelihood at `v` (c×d) with the
/// sigmoid replaced by the polynomial `sigmoid`: `g = (Ȳ − σ(X Vᵀ))ᵀ X`,
/// `Ȳ` the one-hot labels. Public so an encrypted implementation can check
/// its decrypted gradient.
pub fn gradient(x: &[Vec<f64>], labels: &[u8], v: &[Vec<f64>], sigmoid: &[f64]) -> Result<Vec<Vec<f64>>, MlError> {
    let d = validate_matrix(x)?;
    let classes = validate_weights(v, d)?;
    validate_labels(x.len(), labels, classes)?;
    Ok(gradient_unchecked(x, labels, v, |t| sigmoid_poly(sigmoid, t)))
}

/// Trains the one-vs-rest MLR on `x` (n×d, bias already in column 0) and
/// `labels` (< `classes`) following the paper's protocol:
///
/// ```text
/// for t in 0..iterations:
///     g   = (Ȳ − σ(X Vᵀ))ᵀ X                         σ = cfg.sigmoid
///     S   = (1+γ_t)·(B̄ ⊙ g)    or  lr·g for PlainNag
///     tmp = W + S;  W ← (1−η_t)·tmp + η_t·V;  V ← tmp
/// ```
///
/// with `(η_t, γ_t)` from [`schedule`] and `W = V = cfg.init` at the start.
/// Returns `W` (the model), `V`, and per-iteration statistics of `W`.
///
/// Divergence (plain NAG with too large a rate, or a sigmoid polynomial
/// driven far outside its range) is not an error: it shows as non-finite
/// weights and statistics in the returned trace.
///
/// ```
/// use hecnn_ml::mlr::{accuracy, train, with_bias, MlrConfig};
///
/// // Two well separated classes along one feature.
/// let x = with_bias(&[vec![-0.9], vec![-0.7], vec![0.8], vec![0.6]]);
/// let labels = [0u8, 0, 1, 1];
/// let cfg = MlrConfig { iterations: 5, ..MlrConfig::default() };
/// let trace = train(&x, &labels, 2, &cfg)?;
/// assert_eq!(trace.per_iteration.len(), 5);
/// assert_eq!(accuracy(&trace.w, &x, &labels)?, 1.0);
/// # Ok::<(), hecnn_ml::MlError>(())
/// ```
pub fn train(x: &[Vec<f64>], labels: &[u8], classes: usize, cfg: &MlrConfig) -> Result<MlrTrace, MlError> {
    train_observed(x, labels, classes, cfg, |_| {})
}

/// [`train`], calling `observe` with the Nesterov state (`W`, `V`, `t`)
/// after every iteration — e.g. to score each iteration's `W` on held-out
/// data, as the paper's plaintext experiment does.
pub fn train_observed(
    x: &[Vec<f64>],
    labels: &[u8],
    classes: usize,
    cfg: &MlrConfig,
    mut observe: impl FnMut(&NesterovState),
) -> Result<MlrTrace, MlError> {
    let d = validate_matrix(x)?;
    validate_labels(x.len(), labels, classes)?;
    validate_config(cfg)?;
    let n = x.len();
    // The preconditioner is computed once, by the client, from its data.
    let scaling = match cfg.method {
        Method::QuadraticGradient => StepScaling::Preconditioned(preconditioner(x, cfg.epsilon)?),
        Method::PlainNag { learning_rate } => StepScaling::Fixed(learning_rate),
        Method::PaperNag => StepScaling::Decaying,
    };
    let mut state = NesterovState::new(classes, d, cfg.init);
    let mut per_iteration = Vec::with_capacity(cfg.iterations);
    for _ in 0..cfg.iterations {
        let mut step = gradient_unchecked(x, labels, &state.v, |t| cfg.sigmoid.eval(t));
        match &scaling {
            StepScaling::Preconditioned(bbar) => {
                let (_, gamma) = schedule(state.t, n);
                for row in &mut step {
                    for (s, bj) in row.iter_mut().zip(bbar) {
                        *s = (1.0 + gamma) * (bj * *s);
                    }
                }
            }
            StepScaling::Fixed(learning_rate) => {
                for s in step.iter_mut().flatten() {
                    *s *= learning_rate;
                }
            }
            StepScaling::Decaying => {
                let (_, gamma) = schedule(state.t, n);
                for s in step.iter_mut().flatten() {
                    *s *= gamma;
                }
            }
        }
        nesterov_step(&mut state, &step)?;
        let (train_accuracy, log_likelihood) = evaluate(&state.w, x, labels);
        per_iteration.push(IterationStats { iteration: state.t, train_accuracy, log_likelihood });
        observe(&state);
    }
    Ok(MlrTrace { w: state.w, v: state.v, per_iteration })
}

/// How [`train`] turns the gradient into the step `S`.
enum StepScaling {
    /// `S = (1+γ_t)·(B̄ ⊙ g)` with this `B̄` row.
    Preconditioned(Vec<f64>),
    /// `S = lr·g`.
    Fixed(f64),
    /// `S = γ_t·g`.
    Decaying,
}

/// Index of the largest score; the first on ties, NaN never wins.
fn argmax(scores: impl Iterator<Item = f64>) -> usize {
    let mut best = (0, f64::NEG_INFINITY);
    for (k, s) in scores.enumerate() {
        if s > best.1 {
            best = (k, s);
        }
    }
    best.0
}

/// (accuracy, log-likelihood) of `w` on validated inputs.
fn evaluate(w: &[Vec<f64>], x: &[Vec<f64>], labels: &[u8]) -> (f64, f64) {
    let mut correct = 0usize;
    let mut ll = 0.0;
    let mut z = vec![0.0; w.len()];
    for (xi, &label) in x.iter().zip(labels) {
        for (zk, wk) in z.iter_mut().zip(w) {
            *zk = dot(xi, wk);
        }
        if argmax(z.iter().copied()) == usize::from(label) {
            correct += 1;
        }
        for (k, &zk) in z.iter().enumerate() {
            ll -= if usize::from(label) == k { softplus(-zk) } else { softplus(zk) };
        }
    }
    (correct as f64 / x.len() as f64, ll)
}

/// Predicted class per row: `argmax_k σ(x·w_k)`, i.e. `argmax_k x·w_k`
/// since the sigmoid is monotone (first class on ties, as the paper's code).
pub fn predict(w: &[Vec<f64>], x: &[Vec<f64>]) -> Result<Vec<u8>, MlError> {
    let d = validate_matrix(x)?;
    validate_weights(w, d)?;
    // At most 256 classes, so every index fits in a u8.
    Ok(x.iter().map(|xi| argmax(w.iter().map(|wk| dot(xi, wk))) as u8).collect())
}

/// Fraction of rows whose predicted class equals the label.
pub fn accuracy(w: &[Vec<f64>], x: &[Vec<f64>], labels: &[u8]) -> Result<f64, MlError> {
    let d = validate_matrix(x)?;
    let classes = validate_weights(w, d)?;
    validate_labels(x.len(), labels, classes)?;
    Ok(evaluate(w, x, labels).0)
}

/// One-vs-rest log-likelihood of `w` with the *exact* sigmoid:
/// `Σ_i Σ_k ȳ_ik ln σ(x_i·w_k) + (1−ȳ_ik) ln(1−σ(x_i·w_k))` (≤ 0, larger is
/// better) — the paper code's `Σ ln|σ(z) − 1 + ȳ|`, computed stably.
pub fn log_likelihood(w: &[Vec<f64>], x: &[Vec<f64>], labels: &[u8]) -> Result<f64, MlError> {
    let d = validate_matrix(x)?;
    let classes = validate_weights(w, d)?;
    validate_labels(x.len(), labels, classes)?;
    Ok(evaluate(w, x, labels).1)
}
