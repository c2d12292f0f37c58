//! Plaintext `f64` reference of the encrypted MLR trainer — the oracle every
//! encrypted result is checked against.
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
//!   says; the encrypted trainer's own copy, `encrypted::PAPER_SIGMOID`, is
//!   checked equal to it) or [`SigmoidFn::ClippedLogistic`], to reproduce the paper's
//!   plaintext convergence experiment.
//! - **Preconditioner.** The C++ code (`Tools::zInvBFromTraindata`) takes
//!   absolute values like `DESIGN.md`; the Python script uses the column sums
//!   of `XᵀX` without them. Both agree on non-negative features (the
//!   paper's RegNet features are post-ReLU).
//! - **Log-likelihood.** The paper's code sums `ln|σ(z) − 1 + ȳ|` over all
//!   samples and classes; we sum the same quantity but compute it as
//!   `−softplus(∓z)`, which is equal wherever the paper's form is finite and
//!   stays finite where `σ(z)` rounds to 0 or 1.

//! # Independence from what it checks
//!
//! An oracle that shares code with what it tests cannot catch a bug in the
//! shared part. So this module implements every piece it needs itself,
//! from the formulas of `DESIGN.md`, and imports nothing from the encrypted
//! side (`mlr::schedule`, `mlr::client` with its scaler, `mlr::encrypted`):
//!
//! | piece | reference (here) | encrypted side |
//! |---|---|---|
//! | Nesterov schedule | [`nesterov_schedule`], a running sequence | `schedule::{alpha, schedule}`, recomputed per call |
//! | sigmoid | [`Z3`], Horner's rule ([`sigmoid_poly`]) | `encrypted::PAPER_SIGMOID`, term by term on ciphertexts |
//! | preconditioner | [`preconditioner`], index loops | `client::preconditioner`, row-wise |
//! | scaling, bias | [`feature_maxima`], [`design_matrix`] | `client::{fit_scaler, Scaler, with_bias}` |
//! | accuracy, argmax | [`accuracy`], [`predict`] | `client::{accuracy, predict}` |
//!
//! `tests/mlr_crosscheck.rs` holds each pair together (to 1e-15 on random
//! inputs, and on small cases worked by hand), and checks that no file of
//! this module names the encrypted side.

mod data;
mod nesterov;
mod score;
mod sigmoid;

use serde::{Deserialize, Serialize};

use crate::MlError;
pub use data::{design_matrix, feature_maxima, preconditioner};
use data::{validate_config, validate_labels, validate_matrix, validate_weights};
pub use nesterov::{nesterov_schedule, NesterovSchedule, StepConstants};
pub use score::{accuracy, log_likelihood, predict};
pub use sigmoid::{sigmoid, sigmoid_poly, SigmoidFn, Z3};

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
/// 2 iterations: `Z3`, `W = V = 0.0128` (the paper's code), `ε = 1e-10`,
/// quadratic gradient. (The client's own constants for the upload,
/// `client::{DEFAULT_INIT, DEFAULT_EPSILON}`, are checked equal to these.)
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
            init: 0.0128,
            epsilon: 1e-10,
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

/// The two Nesterov sequences after `t` iterations, as [`train_observed`]
/// hands them to its observer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Iterate {
    /// Iterations done.
    pub t: usize,
    /// The evaluated model `W` (c×d).
    pub w: Vec<Vec<f64>>,
    /// The look-ahead point `V` (c×d) where the next gradient is taken.
    pub v: Vec<Vec<f64>>,
}

/// `g = (Ȳ − σ(X Vᵀ))ᵀ X` on validated inputs (c×d): for every sample `i`
/// and class `k`, `r_ik = ȳ_ik − σ(x_i·v_k)` and `g_k += r_ik·x_i`.
#[allow(clippy::needless_range_loop)] // indices follow the formula
fn gradient_at(x: &[Vec<f64>], labels: &[u8], v: &[Vec<f64>], sigma: &dyn Fn(f64) -> f64) -> Vec<Vec<f64>> {
    let (c, d) = (v.len(), v[0].len());
    let mut g = vec![vec![0.0; d]; c];
    for i in 0..x.len() {
        for k in 0..c {
            let mut z = 0.0;
            for j in 0..d {
                z += x[i][j] * v[k][j];
            }
            let y = if usize::from(labels[i]) == k { 1.0 } else { 0.0 };
            let r = y - sigma(z);
            for j in 0..d {
                g[k][j] += r * x[i][j];
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
    Ok(gradient_at(x, labels, v, &|t| sigmoid_poly(sigmoid, t)))
}

/// The reference from *raw* features with its own preparation: scaled by
/// its own per-feature maxima (`max_abs`) or not at all, the bias column
/// added, `iterations` of [`train`] with the default configuration.
/// Returns W and the maxima used (all 1 without scaling), so test splits
/// are scored the same way ([`design_matrix`]).
pub fn train_raw(
    raw: &[Vec<f64>],
    labels: &[u8],
    classes: usize,
    max_abs: bool,
    iterations: usize,
) -> Result<(Vec<Vec<f64>>, Vec<f64>), MlError> {
    let maxima = feature_maxima(raw)?;
    let maxima = if max_abs { maxima } else { vec![1.0; maxima.len()] };
    let x = design_matrix(raw, &maxima)?;
    let cfg = MlrConfig { iterations, ..MlrConfig::default() };
    Ok((train(&x, labels, classes, &cfg)?.w, maxima))
}

/// Trains the one-vs-rest MLR on `x` (n×d, bias already in column 0) and
/// `labels` (< `classes`) following the paper's protocol:
///
/// ```text
/// for t in 0..iterations:
///     g   = (Ȳ − σ(X Vᵀ))ᵀ X                         σ = cfg.sigmoid
///     S   = (1+γ_t)·(B̄ ⊙ g)    or  lr·g for PlainNag, γ_t·g for PaperNag
///     tmp = W + S;  W ← (1−η_t)·tmp + η_t·V;  V ← tmp
/// ```
///
/// with `(η_t, γ_t)` from [`nesterov_schedule`], `B̄` from
/// [`preconditioner`] and `W = V = cfg.init` at the start. Returns `W` (the
/// model), `V`, and per-iteration statistics of `W`.
///
/// Divergence (plain NAG with too large a rate, or a sigmoid polynomial
/// driven far outside its range) is not an error: it shows as non-finite
/// weights and statistics in the returned trace.
///
/// ```
/// use hecnn_ml::mlr::reference::{accuracy, design_matrix, feature_maxima, train, MlrConfig};
///
/// // Two well separated classes along one feature.
/// let raw = [vec![-0.9], vec![-0.7], vec![0.8], vec![0.6]];
/// let x = design_matrix(&raw, &feature_maxima(&raw)?)?;
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

/// [`train`], calling `observe` with `W`, `V` and `t` after every
/// iteration — e.g. to score each iteration's `W` on held-out data, as the
/// paper's plaintext experiment does.
pub fn train_observed(
    x: &[Vec<f64>],
    labels: &[u8],
    classes: usize,
    cfg: &MlrConfig,
    observe: impl FnMut(&Iterate),
) -> Result<MlrTrace, MlError> {
    validate_matrix(x)?;
    validate_config(cfg)?;
    // The preconditioner depends on the data only: computed once.
    let bbar = match cfg.method {
        Method::QuadraticGradient => preconditioner(x, cfg.epsilon)?,
        Method::PaperNag | Method::PlainNag { .. } => Vec::new(),
    };
    run_iterations(x, labels, classes, cfg, &bbar, observe)
}

/// [`train`] with a given quadratic-gradient preconditioner `B̄` (one entry
/// per column of `x`) instead of the one [`preconditioner`] computes: the
/// reference of a pipeline whose `B̄` comes from elsewhere (encrypted
/// transfer learning forms it from encrypted aggregates of the features,
/// `crate::transfer`). `cfg.method` must be the quadratic gradient.
pub fn train_preconditioned(
    x: &[Vec<f64>],
    labels: &[u8],
    classes: usize,
    cfg: &MlrConfig,
    bbar: &[f64],
) -> Result<MlrTrace, MlError> {
    let d = validate_matrix(x)?;
    validate_config(cfg)?;
    if cfg.method != Method::QuadraticGradient {
        return Err(MlError::InvalidConfig { field: "method", reason: "a given B̄ needs the quadratic gradient" });
    }
    if bbar.len() != d || bbar.iter().any(|b| !b.is_finite()) {
        return Err(MlError::InvalidConfig { field: "bbar", reason: "needs one finite entry per column" });
    }
    run_iterations(x, labels, classes, cfg, bbar, |_| {})
}

#[allow(clippy::needless_range_loop)] // W, V, g and B̄ share the indices k, j
fn run_iterations(
    x: &[Vec<f64>],
    labels: &[u8],
    classes: usize,
    cfg: &MlrConfig,
    bbar: &[f64],
    mut observe: impl FnMut(&Iterate),
) -> Result<MlrTrace, MlError> {
    let d = validate_matrix(x)?;
    validate_labels(x.len(), labels, classes)?;
    let mut it = Iterate { t: 0, w: vec![vec![cfg.init; d]; classes], v: vec![vec![cfg.init; d]; classes] };
    let mut per_iteration = Vec::with_capacity(cfg.iterations);
    for step in nesterov_schedule(x.len()).take(cfg.iterations) {
        let g = gradient_at(x, labels, &it.v, &|t| cfg.sigmoid.eval(t));
        for k in 0..classes {
            for j in 0..d {
                let s = match cfg.method {
                    Method::QuadraticGradient => (1.0 + step.gamma) * (bbar[j] * g[k][j]),
                    Method::PaperNag => g[k][j] * step.gamma,
                    Method::PlainNag { learning_rate } => g[k][j] * learning_rate,
                };
                let tmp = it.w[k][j] + s;
                it.w[k][j] = (1.0 - step.eta) * tmp + step.eta * it.v[k][j];
                it.v[k][j] = tmp;
            }
        }
        it.t = step.t + 1;
        let (train_accuracy, log_likelihood) = score::accuracy_and_log_likelihood(&it.w, x, labels);
        per_iteration.push(IterationStats { iteration: it.t, train_accuracy, log_likelihood });
        observe(&it);
    }
    Ok(MlrTrace { w: it.w, v: it.v, per_iteration })
}
