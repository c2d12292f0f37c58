//! Encrypted CNN inference: a pre-trained network, unchanged, on encrypted
//! images (method 2 of `DESIGN.md`, Lee et al., arXiv 2105.10879).
//!
//! The pipeline:
//! 1. [`circuit::Circuit::lower`] turns a [`hecnn_nn::model::Model`] into
//!    affine maps, ReLUs and elementwise max trees (linear layers fused;
//!    max-pools as phases; ReLU moved after the pool it feeds);
//! 2. [`compile`] measures each scale class's activation range on
//!    calibration images (never the test set), folds the bounds into the
//!    affine maps, and picks the smallest precision α whose composite sign
//!    keeps the plaintext circuit's predictions on validation images;
//! 3. [`plan::Plan`] places levels and bootstraps on the parameter chain;
//! 4. [`server::Engine`] runs it on ciphertexts with evaluation keys only;
//!    [`client`] packs images, decrypts the scores and checks them.
//!
//! ```
//! use hecnn_ml::cnn::{compile, CompileOptions};
//! use hecnn_nn::model::{Conv2d, Linear, ModelBuilder, Pool2d, Tensor};
//! let conv = Conv2d { out_c: 2, in_c: 1, kernel: (2, 2), stride: (1, 1), pad: [0; 4],
//!     weight: vec![0.5, -0.25, 0.25, 0.5, -0.5, 0.25, 0.5, 0.25].into(), bias: vec![0.1, -0.1].into() };
//! let head = Linear { out_dim: 2, in_dim: 8, weight: (0..16).map(|i| (i as f64 - 8.0) / 8.0).collect::<Vec<_>>().into(),
//!     bias: vec![0.0, 0.1].into() };
//! let model = ModelBuilder::new(vec![1, 5, 5]).conv2d(conv).relu().max_pool(Pool2d::square(2))
//!     .flatten().linear(head).build().unwrap();
//! let images: Vec<Tensor<f64>> = (0..20)
//!     .map(|s| Tensor::new(vec![1, 5, 5], (0..25).map(|i| ((i * 7 + s * 3) % 11) as f64 / 10.0).collect()).unwrap())
//!     .collect();
//! let opts = CompileOptions { slots: 256, batch: 4, alpha: Some(4), ..CompileOptions::default() };
//! let compiled = compile(&model, &images, &images, &opts).unwrap();
//! // conv → ReLU → max-pool became: 4 phase maps, a max tree, one ReLU, the head.
//! assert_eq!(compiled.circuit.steps.iter().filter(|s| s.kind() == "affine").count(), 5);
//! ```

pub mod circuit;
pub mod client;
pub mod error;
pub mod layout;
pub mod plan;
pub mod roles;
pub mod server;
pub mod toy;

use std::ops::RangeInclusive;

use hecnn_approx::composite::{default_eps, search, CompositeSign};
use hecnn_ckks::circuits::CompositeCircuit;
use hecnn_ckks::Parameters;
use hecnn_nn::model::{Model, Tensor};
use rayon::prelude::*;

pub use circuit::{Circuit, CircuitActivation, ExactActivation, ReluPool};
pub use client::{argmax, InferenceSpec};
pub use error::CnnError;
pub use plan::{LevelBudget, Plan};
pub use server::{CompiledModel, Engine, KeyMode, RunStats};

/// How to compile a model.
#[derive(Clone, Debug)]
pub struct CompileOptions {
    /// Slots per ciphertext (N/2 of the parameters).
    pub slots: usize,
    /// Images per ciphertext.
    pub batch: usize,
    /// Factor on the observed activation ranges.
    pub margin: f64,
    /// Fixed precision α, or `None` to choose the smallest of `alphas` that
    /// keeps `min_agreement` of the validation predictions. Each step of α
    /// deepens every ReLU and max, and at N = 2^16 depth decides the key
    /// size (more levels need more key-switching digits), so the smallest
    /// α that keeps the predictions is the one to run.
    pub alpha: Option<u32>,
    /// Candidates for α.
    pub alphas: RangeInclusive<u32>,
    /// Fraction of validation images whose prediction must not change
    /// (default 99.5 %: a flipped prediction is usually an ambiguous image,
    /// so the accuracy moves far less — for the bundled classifier α = 4
    /// keeps 99.6 % and loses 0.01 points on the full test set).
    pub min_agreement: f64,
    /// Which rotation keys the model asks for.
    pub key_mode: KeyMode,
    /// How ReLUs meet max-pools (default [`ReluPool::Fused`]: fewer levels
    /// for one more sign evaluation per pool). A fused step needs the sign's
    /// depth plus 2 levels between two bootstraps: where that exceeds
    /// `bootstrap_levels`, the model is compiled [`ReluPool::Sequential`].
    pub relu_pool: ReluPool,
    /// Levels a bootstrap leaves on the chain the model may run on
    /// (default: the `bootstrappable` preset's 11).
    pub bootstrap_levels: usize,
}

impl Default for CompileOptions {
    fn default() -> Self {
        Self {
            slots: 1 << 15,
            batch: 1,
            margin: hecnn_nn::simulate::BOUND_MARGIN,
            alpha: None,
            alphas: 4..=12,
            min_agreement: 0.995,
            key_mode: KeyMode::PowerOfTwo,
            relu_pool: ReluPool::default(),
            bootstrap_levels: hecnn_ckks::Preset::BOOTSTRAPPABLE_COMPUTATION_LEVELS,
        }
    }
}

/// The circuit with polynomial ReLU and max (stored units `x / factor`),
/// exactly the arithmetic the ciphertexts carry, in `f64`: the simulator
/// the encrypted results are compared with.
pub struct ApproxActivation<'a> {
    /// The composite sign.
    pub sign: &'a CompositeCircuit,
    /// Scale factor per class.
    pub factors: &'a [f64],
}

impl CircuitActivation for ApproxActivation<'_> {
    fn relu(&self, class: usize, x: f64) -> f64 {
        let s = self.factors[class];
        let t = x / s;
        s * t * (1.0 + self.sign.eval_plain(t)) / 2.0
    }
    fn max(&self, class: usize, a: f64, b: f64) -> f64 {
        let d = a - b;
        ((a + b) + d * self.sign.eval_plain(d / self.factors[class])) / 2.0
    }
    fn relu_max(&self, class: usize, a: f64, b: f64) -> f64 {
        let (ra, rb) = (self.relu(class, a), self.relu(class, b));
        ((ra + rb) + (ra - rb) * self.sign.eval_plain((a - b) / self.factors[class])) / 2.0
    }
}

/// Lowers, calibrates and compiles `model`: bounds from `calibration`,
/// α from `validation` (see [`CompileOptions`]).
pub fn compile(
    model: &Model,
    calibration: &[Tensor<f64>],
    validation: &[Tensor<f64>],
    opts: &CompileOptions,
) -> Result<CompiledModel, CnnError> {
    if calibration.is_empty() {
        return Err(CnnError::Calibration("no calibration images".into()));
    }
    if !(opts.margin.is_finite() && opts.margin >= 1.0) {
        return Err(CnnError::Calibration(format!("margin {} must be finite and at least 1", opts.margin)));
    }
    for (i, x) in calibration.iter().chain(validation).enumerate() {
        if x.shape() != model.input_shape() {
            return Err(hecnn_nn::model::ModelError::InputShape {
                expected: model.input_shape().to_vec(),
                found: x.shape().to_vec(),
            }
            .into());
        }
        if x.data().iter().any(|v| !v.is_finite()) {
            return Err(CnnError::Calibration(format!("calibration/validation image {i} has a non-finite pixel")));
        }
    }
    // The circuit and its class bounds for one way of fusing.
    let lower = |pool: ReluPool| -> Result<(Circuit, Vec<f64>), CnnError> {
        let circuit = Circuit::lower_with(model, opts.slots, opts.batch, pool)?;
        let observed = circuit.observed_ranges(calibration);
        let factors = observed.iter().map(|&r| if r > 0.0 { r * opts.margin } else { 1.0 }).collect();
        Ok((circuit, factors))
    };
    let (mut circuit, mut factors) = lower(opts.relu_pool)?;
    let exact: Vec<Vec<f64>> =
        calibration.par_iter().map(|x| circuit.eval_output(x.data(), &ExactActivation)).collect();
    let max_score = exact.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
    let score_bound = 2.0 * max_score + 1.0;
    let (sign, tried) = match opts.alpha {
        Some(a) => (search(a, default_eps(a))?, Vec::new()),
        None => choose_alpha(&circuit, &factors, validation, opts)?,
    };
    // A fused step that no bootstrap could hold: two steps instead.
    let fused_depth = sign.depth as usize + 2;
    if opts.relu_pool == ReluPool::Fused && fused_depth > opts.bootstrap_levels {
        (circuit, factors) = lower(ReluPool::Sequential)?;
    }
    let mut compiled = CompiledModel::new(circuit, factors, sign, score_bound, opts.key_mode)?;
    compiled.alpha_search = tried;
    Ok(compiled)
}

/// The smallest α of `opts.alphas` whose plaintext circuit keeps at least
/// `opts.min_agreement` of the exact predictions on `validation` (the
/// largest α if none does), and the agreement of every α tried.
fn choose_alpha(
    circuit: &Circuit,
    factors: &[f64],
    validation: &[Tensor<f64>],
    opts: &CompileOptions,
) -> Result<(CompositeSign, Vec<(u32, f64)>), CnnError> {
    if validation.is_empty() {
        return Err(CnnError::Calibration("choosing α needs validation images".into()));
    }
    let exact: Vec<usize> =
        validation.par_iter().map(|x| argmax(&circuit.eval_output(x.data(), &ExactActivation))).collect();
    let mut tried = Vec::new();
    let mut last = None;
    for alpha in opts.alphas.clone() {
        let sign = search(alpha, default_eps(alpha))?;
        let composite = CompositeCircuit::from_sign(&sign)?;
        let act = ApproxActivation { sign: &composite, factors };
        let agree = validation
            .par_iter()
            .zip(&exact)
            .filter(|(x, &e)| argmax(&circuit.eval_output(x.data(), &act)) == e)
            .count() as f64
            / validation.len() as f64;
        tried.push((alpha, agree));
        if agree >= opts.min_agreement {
            return Ok((sign, tried));
        }
        last = Some(sign);
    }
    Ok((last.ok_or_else(|| CnnError::Calibration("empty α range".into()))?, tried))
}

/// The 128-bit chain for `depth` levels without bootstrapping
/// ([`Parameters::inference_chain`]); deeper circuits need bootstrapping.
pub fn inference_params(depth: usize) -> Result<Parameters, CnnError> {
    Parameters::inference_chain(depth).map_err(|e| CnnError::TooDeep {
        step: format!("the whole circuit ({e})"),
        needed: depth,
        available: 0,
        bootstrapping: false,
    })
}
