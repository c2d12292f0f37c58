//! Encrypted transfer learning from encrypted images (methods 1 and 2 of
//! `DESIGN.md` joined; `docs/encrypted-transfer-learning.md`): the client
//! uploads encrypted images and labels; the server runs the frozen backbone
//! on the ciphertexts ([`crate::cnn`]), moves its output into the training
//! layout ([`repack`]), computes the preconditioner's statistics, and trains
//! the multiclass logistic regression ([`crate::mlr`]) on the encrypted
//! features. The server never sees an image, a feature, a label or `B̄`.
//!
//! The steps, with the levels they take:
//! 1. the backbone with a final feature map ([`features::with_feature_map`]):
//!    the per-feature scaling (`--scaling max-abs` from public calibration
//!    images, or none) and a placement, one affine level;
//! 2. a bootstrap of that output when the levels left would not carry the
//!    rest (two real ciphertexts per bootstrap);
//! 3. the repacking: one level, `≈ 2·√(B²/C)` key switches per block, the
//!    class slots filled by rotate-and-add, the bias added;
//! 4. the statistics `s_j = Σ_i x_ij Σ_l x_il` (two levels below, on copies):
//!    the client decrypts these aggregates and returns `B̄` encrypted;
//! 5. `B̄ ⊙ X` (one level), then the trainer as for uploaded features.

pub mod features;
pub mod reference;
pub mod repack;
pub mod server;

#[cfg(feature = "client")]
pub mod client;

use hecnn_nn::model::{Model, Tensor};

use crate::cnn::circuit::ExactActivation;
use crate::cnn::{compile, CnnError, CompileOptions, CompiledModel, ReluPool};
use crate::mlr::prep::Scaling;
use crate::packing::Layout;
pub use repack::Repack;

/// `ε` of `B̄` in this pipeline. The features reach `B̄ ⊙ X` encrypted, with
/// the backbone's noise (≈ 1e-6), so `b̄_j` must stay bounded for a feature
/// that is (nearly) always 0: ε = 1 caps it at 1 and changes a typical
/// feature's `b̄_j` (¼ s_j in the hundreds) by well under 1 %. (With
/// features uploaded by the client, ε = 1e-10 is harmless: an all-zero
/// column is encrypted exactly as zeros times `B̄`.)
pub const PIPELINE_EPSILON: f64 = 1.0;

/// Fraction of the largest statistic by which one may be negative (the
/// composite ReLU's error) before the client calls the server a liar.
pub const NEGATIVE_FRACTION: f64 = 0.02;

/// Precision of the composite sign in the backbone: α = 5 moves the
/// 128 × 2 model by 0.32 points, α = 4 by 1.25 (`examples/pipeline_reference`).
pub const DEFAULT_ALPHA: u32 = 5;

/// What a job is.
#[derive(Clone, Debug)]
pub struct JobOptions {
    /// Slots per ciphertext (N/2).
    pub slots: usize,
    /// Images per backbone ciphertext.
    pub batch: usize,
    /// Composite sign precision.
    pub alpha: u32,
    /// Feature scaling.
    pub scaling: Scaling,
    /// Training samples.
    pub samples: usize,
    /// Classes.
    pub classes: usize,
}

/// A planned job: the backbone with its feature map, and the repacking.
#[derive(Clone, Debug)]
pub struct ImageJob {
    /// The backbone as the server runs it.
    pub model: CompiledModel,
    /// Its output into the training layout.
    pub repack: Repack,
    /// The training layout.
    pub layout: Layout,
    /// Per backbone feature, the factor the feature map multiplies it by.
    pub scales: Vec<f64>,
}

impl ImageJob {
    /// Plans `backbone` (a model whose output is the feature vector) with
    /// scaling bounds from `calibration` (public images, never the client's).
    pub fn plan(backbone: &Model, calibration: &[Tensor<f64>], opts: &JobOptions) -> Result<ImageJob, CnnError> {
        let copts = CompileOptions {
            slots: opts.slots,
            batch: opts.batch,
            alpha: Some(opts.alpha),
            // The job bootstraps (training does): a fused ReLU-of-max
            // saves one refresh per max-pool (it is also the default).
            relu_pool: ReluPool::Fused,
            ..CompileOptions::default()
        };
        let compiled = compile(backbone, calibration, &[], &copts)?;
        let dim = compiled.circuit.values[compiled.circuit.output].layout.len();
        let scales = match opts.scaling {
            Scaling::None => vec![1.0; dim],
            Scaling::MaxAbs => {
                let mut max = vec![0.0f64; dim];
                for img in calibration {
                    let f = compiled.circuit.eval_output(img.data(), &ExactActivation);
                    max.iter_mut().zip(&f).for_each(|(m, v)| *m = m.max(v.abs()));
                }
                max.into_iter().map(|m| if m > 0.0 { 1.0 / m } else { 1.0 }).collect()
            }
        };
        let features = dim + 1;
        // One training sample block per backbone batch: the repacking then
        // keeps the placement's structure (a few dozen rotation keys at any
        // sample count; a layout chosen for the trainer alone — 128 samples
        // per block for 1,024 — needed 287).
        let layout = Layout::with_samples_per_block(opts.batch, opts.classes, opts.slots)
            .or_else(|| Layout::choose(opts.samples, features, opts.classes, opts.slots))
            .ok_or_else(|| CnnError::Calibration(format!("no training layout for {features} columns")))?;
        let model = features::with_feature_map(compiled, &scales, &layout)?;
        let repack = Repack::new(&model, layout, opts.samples, features, opts.classes)?;
        Ok(ImageJob { model, repack, layout, scales })
    }

    /// Columns of the training matrix (bias included).
    pub fn features(&self) -> usize {
        self.repack.features()
    }

    /// Every rotation the job's evaluation keys need: the backbone's, the
    /// repacking's, the trainer's, and (when bootstrapping) the unpacking
    /// after a refresh of W and V.
    pub fn rotation_steps(&self, bootstrapping: bool) -> Vec<i64> {
        let mut s: std::collections::BTreeSet<i64> = self.model.rotation_steps().into_iter().collect();
        s.extend(self.repack.rotation_steps());
        s.extend(self.layout.rotation_steps());
        if bootstrapping {
            s.extend(crate::mlr::setup::refresh_rotation_steps(&self.layout, self.features()));
        }
        s.remove(&0);
        s.into_iter().collect()
    }
}
