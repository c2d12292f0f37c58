//! The server's side of training from encrypted images: backbone, repacking,
//! the preconditioner's statistics, the training set, then the usual
//! encrypted trainer. Evaluation keys only; the server never sees an image,
//! a feature, a label or `B̄`.

use std::time::Instant;

use hecnn_ckks::{Ciphertext, Encoder, EvaluationKeySet, Evaluator};
use serde::Serialize;

use super::repack::{Repack, RepackStats};
use crate::cnn::{CnnError, CompiledModel, Engine, RunStats};
use crate::mlr::server::{EncryptedDataset, TrainError, Trainer, LEVELS_PER_ITERATION};
use crate::packing::Layout;

/// What the feature stage cost.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FeatureStats {
    /// Seconds in the backbone (all batches).
    pub backbone_seconds: f64,
    /// Of which in bootstrapping inside the backbone.
    pub backbone_bootstrap_seconds: f64,
    /// Bootstraps inside the backbone (ciphertexts).
    pub backbone_bootstraps: usize,
    /// Key switches in the backbone's linear maps.
    pub backbone_rotations: usize,
    /// Seconds bootstrapping the backbone's output before repacking (0 if
    /// its level sufficed).
    pub refresh_seconds: f64,
    /// Ciphertexts bootstrapped there.
    pub refreshed: usize,
    /// Seconds repacking into the training layout.
    pub repack_seconds: f64,
    /// Repacking counts.
    pub repack: RepackStats,
    /// Level of the training blocks.
    pub level: usize,
}

/// The server of one image-training job.
pub struct ImageTrainingServer<'a> {
    keys: &'a EvaluationKeySet,
    engine: Engine<'a>,
    repack: &'a Repack,
    layout: Layout,
    ev: Evaluator,
    encoder: Encoder,
}

impl<'a> ImageTrainingServer<'a> {
    /// Plans the backbone `model` (with its feature map) on `keys`.
    pub fn new(model: &'a CompiledModel, keys: &'a EvaluationKeySet, repack: &'a Repack) -> Result<Self, CnnError> {
        let ctx = keys.context();
        if let Some(step) = keys.galois().first_missing_rotation(ctx, &repack.rotation_steps()) {
            return Err(CnnError::Ciphertexts(format!("the Galois keys lack the repacking's rotation {step}")));
        }
        Ok(Self {
            keys,
            engine: Engine::new(model, keys)?,
            repack,
            layout: repack.layout(),
            ev: Evaluator::new(ctx),
            encoder: Encoder::new(ctx),
        })
    }

    /// Level the client encrypts images at.
    pub fn input_level(&self) -> usize {
        self.engine.input_level()
    }

    /// The backbone's level plan.
    pub fn plan(&self) -> &crate::cnn::Plan {
        self.engine.plan()
    }

    /// Level the training blocks need so that `iterations` run: the
    /// repacking's level, the `B̄` product's, and the trainer's (one
    /// iteration's when W and V can be refreshed, else all of them).
    pub fn needed_level(&self, iterations: usize) -> usize {
        let training = if self.engine.level_after_bootstrap().is_some() {
            LEVELS_PER_ITERATION
        } else {
            crate::mlr::server::required_levels(iterations)
        };
        // Repack (1), B̄ ⊙ X (1); the statistics take 2 below the blocks.
        2 + training.max(1)
    }

    /// Runs the backbone on every batch of encrypted images (each batch the
    /// engine's input ciphertexts), refreshes its output when the levels
    /// left would not carry the training, and repacks it into training
    /// blocks `x[sample block][feature block]` at scale Δ.
    pub fn features(
        &self,
        batches: Vec<Vec<Ciphertext>>,
        iterations: usize,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<(Vec<Vec<Ciphertext>>, FeatureStats), CnnError> {
        let mut stats = FeatureStats::default();
        let t = Instant::now();
        let mut outputs = Vec::new();
        let total = batches.len();
        for (i, batch) in batches.into_iter().enumerate() {
            let (out, run): (Vec<Ciphertext>, RunStats) = self.engine.run(batch, &|_, _| {})?;
            stats.backbone_bootstrap_seconds += run.seconds_bootstrap;
            stats.backbone_bootstraps += run.bootstraps;
            stats.backbone_rotations += run.rotations;
            outputs.extend(out);
            progress(i + 1, total);
        }
        stats.backbone_seconds = t.elapsed().as_secs_f64();
        let needed = self.needed_level(iterations);
        let level = outputs.iter().map(Ciphertext::level).min().unwrap_or(0);
        if level < needed {
            match self.engine.level_after_bootstrap() {
                Some(after) if after >= needed => {
                    let t = Instant::now();
                    stats.refreshed = outputs.len();
                    outputs = self.engine.bootstrap(outputs)?;
                    stats.refresh_seconds = t.elapsed().as_secs_f64();
                }
                _ => {
                    return Err(CnnError::TooDeep {
                        step: "the training after the backbone".into(),
                        needed,
                        available: level,
                        bootstrapping: self.engine.level_after_bootstrap().is_some(),
                    })
                }
            }
        }
        let t = Instant::now();
        let delta = self.keys.context().params().scale();
        let (x, repack) = self.repack.apply(&self.ev, &self.encoder, self.keys.galois(), &outputs, delta)?;
        stats.repack_seconds = t.elapsed().as_secs_f64();
        stats.repack = repack;
        stats.level = x.first().and_then(|r| r.first()).map_or(0, Ciphertext::level);
        Ok((x, stats))
    }

    /// The preconditioner's statistics `s_j = Σ_i x_ij · Σ_l x_il`, one
    /// ciphertext per feature block, for the client to decrypt
    /// ([`crate::mlr::client::TrainingClient::preconditioner_from_statistics`]).
    pub fn statistics(&self, x: Vec<Vec<Ciphertext>>) -> Result<(Vec<Ciphertext>, Vec<Vec<Ciphertext>>), TrainError> {
        let data = EncryptedDataset {
            layout: self.layout,
            samples: self.repack.samples(),
            features: self.repack.features(),
            classes: self.repack.classes(),
            x,
            x_scaled: Vec::new(),
            labels: Vec::new(),
            weights: Vec::new(),
        };
        let (s, _) = Trainer::new(self.keys).preconditioner_statistics(&data)?;
        Ok((s, data.x))
    }

    /// The training set: `B̄ ⊙ X` from the client's encrypted `B̄` (one block
    /// per feature block, at the level of `x`, at scale `q_level` so the
    /// product lands on Δ), `X` one level down beside it, and the client's
    /// labels and initial weights (scale Δ, at that level or above).
    pub fn dataset(
        &self,
        x: Vec<Vec<Ciphertext>>,
        bbar: &[Ciphertext],
        labels: Vec<Ciphertext>,
        weights: Vec<Ciphertext>,
    ) -> Result<EncryptedDataset, TrainError> {
        let l = self.layout;
        let (n, d) = (self.repack.samples(), self.repack.features());
        let level = x.first().and_then(|r| r.first()).map_or(0, Ciphertext::level);
        if bbar.len() != l.feature_blocks(d)
            || labels.len() != l.sample_blocks(n)
            || weights.len() != l.feature_blocks(d)
            || x.len() != l.sample_blocks(n)
            || x.iter().any(|r| r.len() != l.feature_blocks(d))
        {
            return Err(TrainError::InvalidUpload(format!(
                "{} B̄ blocks, {} label blocks, {} weight blocks for {n} samples and {d} features",
                bbar.len(),
                labels.len(),
                weights.len()
            )));
        }
        if level == 0 || bbar.iter().any(|c| c.level() != level) {
            return Err(TrainError::InvalidUpload(format!("B̄ must be at the features' level {level}")));
        }
        // Labels and weights may come from the first upload, before the
        // client knew the features' level: anything at or above it is
        // brought down here.
        if labels.iter().chain(&weights).any(|c| c.level() < level - 1) {
            return Err(TrainError::InvalidUpload(format!(
                "labels and weights must be at level {} or above",
                level - 1
            )));
        }
        let down = |v: Vec<Ciphertext>| -> Result<Vec<Ciphertext>, TrainError> {
            Ok(v.iter().map(|c| self.ev.drop_to_level(c, level - 1)).collect::<Result<_, _>>()?)
        };
        let (labels, weights) = (down(labels)?, down(weights)?);
        let rlk = self.keys.relin();
        let x_scaled = x
            .iter()
            .map(|row| row.iter().zip(bbar).map(|(c, b)| self.ev.mul_relin_rescale(c, b, rlk)).collect())
            .collect::<Result<Vec<Vec<_>>, _>>()?;
        let x = x
            .iter()
            .map(|row| row.iter().map(|c| self.ev.drop_to_level(c, level - 1)).collect())
            .collect::<Result<Vec<Vec<_>>, _>>()?;
        Ok(EncryptedDataset {
            layout: l,
            samples: n,
            features: d,
            classes: self.repack.classes(),
            x,
            x_scaled,
            labels,
            weights,
        })
    }
}
