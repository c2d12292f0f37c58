//! The approximation simulator: a pre-trained model run in plaintext with
//! exact activations or with the polynomial ReLU and max-pool the encrypted
//! circuit uses (Lee et al.'s main experiment), never retrained, so the
//! accuracy loss of a precision α is known before anything is encrypted.
//!
//! Each ReLU and max-pool node gets a bound `B` measured on calibration data
//! (training images, never the test set) times [`BOUND_MARGIN`]:
//!
//! * ReLU: `B = margin · max |x|` over the node's inputs, and
//!   `ReLU(x) ≈ x·(1 + p(x/B))/2 = B·relu_p(x/B)`;
//! * max-pool: the tree of pairwise maxima only compares values inside the
//!   input range `[min, max]`, so `B = margin · (max − min)` bounds every
//!   difference, and `max(a, b) ≈ ((a+b) + (a−b)·p((a−b)/B))/2`.
//!
//! `p` approximates `sgn` on `[-1, 1]` only. A test-time argument with
//! `|x/B| > 1` (or NaN) is *out of range*: the polynomial is still evaluated (as the
//! encrypted circuit would, usually giving a wrong value) and counted.
//!
//! ```
//! use hecnn_nn::model::{ModelBuilder, Tensor};
//! use hecnn_nn::simulate::{Simulator, BOUND_MARGIN};
//! let model = ModelBuilder::new(vec![2]).relu().build().unwrap();
//! let calib = [Tensor::new(vec![2], vec![1.0, -2.0]).unwrap()];
//! let sim = Simulator::calibrate(&model, &calib, BOUND_MARGIN).unwrap();
//! assert!((sim.sites()[0].bound - 2.2).abs() < 1e-12);
//! // A crude sign p(t) = t and a value outside the bound (3 > 2.2).
//! let test = [Tensor::new(vec![2], vec![1.1, 3.0]).unwrap()];
//! let run = sim.run_approx(&|t: f64| t, &test, &|| {}).unwrap();
//! assert_eq!(run.outputs[0].data()[0], 1.1 * (1.0 + 0.5) / 2.0);
//! assert_eq!((run.total_out_of_range(), run.images_out_of_range()), (1, 1));
//! ```

use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;
use thiserror::Error;

use crate::model::{Activation, Exact, Model, ModelError, Op, Tensor};

/// Precision α used when none is given: the smallest α of the sweep
/// ([`SWEEP_ALPHAS`]) whose accuracy loss on the bundled classifier (full MNIST
/// test set) is at most 0.1 percentage points — 0.04 (see `docs/simulator.md`).
/// Deeper networks need more: Lee et al. use α = 13 for ResNet-152; sweep
/// your own model before encrypting.
pub const DEFAULT_ALPHA: u32 = 6;

/// The α values of the published-style sweep (`hecnn simulate --alpha-sweep`).
pub const SWEEP_ALPHAS: RangeInclusive<u32> = 6..=16;

/// Factor applied to the observed range: test data and the approximate
/// activations themselves drift a little beyond what calibration saw; 10%
/// keeps the bundled classifier's test set in range at the cost of ~0.14
/// bits of sign precision.
pub const BOUND_MARGIN: f64 = 1.1;

/// First MNIST training image used for calibration: images 0..10,000 are the
/// clients' private data, 10,000.. are what the bundled backbone was trained on.
pub const CALIBRATION_START: usize = 10_000;

/// Calibration images used by default (training images 10,000..20,000).
pub const DEFAULT_CALIBRATION_IMAGES: usize = 10_000;

/// Smallest bound: a node whose calibration inputs were all equal still gets
/// a positive `B` (no division by zero; any later non-zero input is out of range).
const MIN_BOUND: f64 = 1e-12;

/// Why a simulation could not run.
#[derive(Debug, Error, PartialEq)]
pub enum SimError {
    /// The model rejected an input (e.g. wrong image size).
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Calibration needs at least one sample.
    #[error("no calibration samples")]
    NoCalibration,
    /// The margin must be a finite number ≥ 1.
    #[error("bound margin {0} must be finite and at least 1")]
    BadMargin(f64),
    /// A given bound is not a finite positive number.
    #[error("node {node}: bound {bound} must be finite and positive")]
    BadBound {
        /// Node index.
        node: usize,
        /// The bound.
        bound: f64,
    },
    /// The bounds do not match the model's ReLU and max-pool nodes.
    #[error("node {node}: {reason}")]
    SiteMismatch {
        /// Node index.
        node: usize,
        /// What does not match.
        reason: String,
    },
    /// Labels and outputs differ in number.
    #[error("{outputs} outputs but {labels} labels")]
    LabelCount {
        /// Number of outputs.
        outputs: usize,
        /// Number of labels.
        labels: usize,
    },
    /// A label has no matching output score.
    #[error("label {label} needs at least {} class scores, the model outputs {scores}", label + 1)]
    TooFewScores {
        /// The label.
        label: usize,
        /// Values in the model output.
        scores: usize,
    },
}

/// Which non-linearity a bounded node computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SiteKind {
    /// ReLU, one sign evaluation per element.
    Relu,
    /// Max pool, one sign evaluation per pairwise max of the tree.
    MaxPool,
}

/// The bound of one ReLU or max-pool node.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SiteBound {
    /// Node index (the `site` of [`Activation`]).
    pub node: usize,
    /// ReLU or max-pool.
    pub kind: SiteKind,
    /// What calibration saw: `max |x|` for ReLU, `max − min` for max-pool.
    pub observed: f64,
    /// `B`: sign arguments are `x / B` (ReLU) or `(a − b) / B` (max-pool).
    pub bound: f64,
}

/// A model with a bound `B` for each ReLU and max-pool node.
#[derive(Clone, Debug)]
pub struct Simulator<'m> {
    model: &'m Model,
    sites: Vec<SiteBound>,
    /// `by_node[i]` is the bound of node `i` (1 where unused).
    by_node: Vec<f64>,
}

impl<'m> Simulator<'m> {
    /// Measures every bound on `calibration` (exact f64 inference) and
    /// multiplies it by `margin`.
    pub fn calibrate(model: &'m Model, calibration: &[Tensor<f64>], margin: f64) -> Result<Self, SimError> {
        if !(margin.is_finite() && margin >= 1.0) {
            return Err(SimError::BadMargin(margin));
        }
        if calibration.is_empty() {
            return Err(SimError::NoCalibration);
        }
        let sites = model
            .activation_ranges(calibration)?
            .into_iter()
            .map(|r| {
                let (kind, observed) =
                    if r.is_max_pool { (SiteKind::MaxPool, r.max - r.min) } else { (SiteKind::Relu, r.max_abs) };
                SiteBound { node: r.node, kind, observed, bound: (observed * margin).max(MIN_BOUND) }
            })
            .collect();
        Self::with_sites(model, sites)
    }

    /// Uses the given bounds (e.g. from an earlier calibration); every ReLU and
    /// max-pool node must appear once with a finite positive bound.
    pub fn with_sites(model: &'m Model, sites: Vec<SiteBound>) -> Result<Self, SimError> {
        let mut by_node = vec![1.0; model.nodes().len()];
        let mut seen = vec![false; model.nodes().len()];
        let mismatch = |node, reason: String| Err(SimError::SiteMismatch { node, reason });
        for s in &sites {
            let kind = match model.nodes().get(s.node).map(|n| &n.op) {
                Some(Op::Relu) => SiteKind::Relu,
                Some(Op::MaxPool(_)) => SiteKind::MaxPool,
                Some(op) => return mismatch(s.node, format!("{} has no activation to bound", op.name())),
                None => return mismatch(s.node, format!("the model has {} nodes", model.nodes().len())),
            };
            if kind != s.kind {
                return mismatch(s.node, format!("bound given for {:?}, the node is {kind:?}", s.kind));
            }
            if seen[s.node] {
                return mismatch(s.node, "bound given twice".into());
            }
            if !(s.bound.is_finite() && s.bound > 0.0) {
                return Err(SimError::BadBound { node: s.node, bound: s.bound });
            }
            seen[s.node] = true;
            by_node[s.node] = s.bound;
        }
        let unbounded = |i: usize| !seen[i] && matches!(model.nodes()[i].op, Op::Relu | Op::MaxPool(_));
        if let Some(node) = (0..seen.len()).find(|&i| unbounded(i)) {
            return mismatch(node, "no bound given".into());
        }
        Ok(Simulator { model, sites, by_node })
    }

    /// The model.
    pub fn model(&self) -> &Model {
        self.model
    }

    /// The bounds, one per ReLU and max-pool node, in node order.
    pub fn sites(&self) -> &[SiteBound] {
        &self.sites
    }

    /// Sign evaluations per sample: one per ReLU element, `window − 1` per
    /// max-pool output (the comparisons of its tree).
    pub fn sign_evaluations_per_sample(&self) -> u64 {
        let m = self.model;
        self.sites
            .iter()
            .map(|s| {
                let node = &m.nodes()[s.node];
                let input: usize = m.value_shape(node.inputs[0]).map_or(0, |d| d.iter().product());
                let output: usize = m.value_shape(s.node + 1).map_or(0, |d| d.iter().product());
                match &node.op {
                    Op::MaxPool(p) => (output * (p.kernel.0 * p.kernel.1 - 1)) as u64,
                    _ => input as u64,
                }
            })
            .sum()
    }

    /// Exact inference in f64 (in parallel); `progress` is called once per sample.
    pub fn run_exact(&self, xs: &[Tensor<f64>], progress: &(dyn Fn() + Sync)) -> Result<Vec<Tensor<f64>>, SimError> {
        xs.par_iter()
            .map(|x| {
                let y = self.model.forward_with(x, &Exact)?;
                progress();
                Ok(y)
            })
            .collect()
    }

    /// Inference with ReLU and max built from `sign` (an approximation of
    /// `sgn` on `[-1, 1]`) on arguments scaled by the bounds, in parallel;
    /// `progress` is called once per sample.
    pub fn run_approx<F: Fn(f64) -> f64 + Sync>(
        &self,
        sign: &F,
        xs: &[Tensor<f64>],
        progress: &(dyn Fn() + Sync),
    ) -> Result<ApproxRun, SimError> {
        let (outputs, out_of_range) = xs
            .par_iter()
            .map(|x| {
                let act = Counting { sign, bounds: &self.by_node, out_of_range: AtomicU64::new(0) };
                let y = self.model.forward_with(x, &act)?;
                progress();
                Ok((y, act.out_of_range.into_inner()))
            })
            .collect::<Result<Vec<_>, SimError>>()?
            .into_iter()
            .unzip();
        Ok(ApproxRun { outputs, out_of_range, sign_evaluations: self.sign_evaluations_per_sample() * xs.len() as u64 })
    }
}

/// The result of [`Simulator::run_approx`].
#[derive(Clone, Debug, PartialEq)]
pub struct ApproxRun {
    /// Model output per sample.
    pub outputs: Vec<Tensor<f64>>,
    /// Per sample: sign arguments with `|x/B| > 1`.
    pub out_of_range: Vec<u64>,
    /// Sign evaluations over all samples.
    pub sign_evaluations: u64,
}

impl ApproxRun {
    /// Out-of-range sign arguments over all samples.
    pub fn total_out_of_range(&self) -> u64 {
        self.out_of_range.iter().sum()
    }

    /// Samples with at least one out-of-range sign argument.
    pub fn images_out_of_range(&self) -> usize {
        self.out_of_range.iter().filter(|&&c| c > 0).count()
    }
}

/// Fraction of outputs whose largest value (first on ties) is at the label's
/// index. NaN scores are never the largest.
pub fn accuracy(outputs: &[Tensor<f64>], labels: &[u8]) -> Result<f64, SimError> {
    if outputs.len() != labels.len() {
        return Err(SimError::LabelCount { outputs: outputs.len(), labels: labels.len() });
    }
    let mut correct = 0usize;
    for (y, &l) in outputs.iter().zip(labels) {
        let label = usize::from(l);
        if label >= y.data().len() {
            return Err(SimError::TooFewScores { label, scores: y.data().len() });
        }
        correct += usize::from(y.argmax() == Some(label));
    }
    Ok(correct as f64 / labels.len().max(1) as f64)
}

/// The activations of one sample: ReLU and max from `sign`, counting
/// out-of-range arguments (rare, so the atomic is uncontended).
struct Counting<'a, F> {
    sign: &'a F,
    bounds: &'a [f64],
    out_of_range: AtomicU64,
}

impl<F: Fn(f64) -> f64 + Sync> Counting<'_, F> {
    #[inline]
    fn sign_of(&self, site: usize, x: f64) -> f64 {
        let t = x / self.bounds[site];
        if t.is_nan() || t.abs() > 1.0 {
            self.out_of_range.fetch_add(1, Ordering::Relaxed);
        }
        (self.sign)(t)
    }
}

impl<F: Fn(f64) -> f64 + Sync> Activation<f64> for Counting<'_, F> {
    #[inline]
    fn relu(&self, site: usize, x: f64) -> f64 {
        x * (1.0 + self.sign_of(site, x)) / 2.0
    }

    #[inline]
    fn max(&self, site: usize, a: f64, b: f64) -> f64 {
        let d = a - b;
        ((a + b) + d * self.sign_of(site, d)) / 2.0
    }
}
