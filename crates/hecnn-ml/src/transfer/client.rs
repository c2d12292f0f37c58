//! The client's side of training from encrypted images: it encrypts its
//! images and labels, turns the server's encrypted statistics into `B̄`, and
//! encrypts `B̄` and the initial weights. It never needs the backbone.

use hecnn_ckks::{Ciphertext, Decryptor, Encoder, SecretKey, SeededCiphertext};

use crate::cnn::{CnnError, InferenceSpec};
use crate::mlr::client::{ModelError, TrainingClient};
use crate::mlr::server::TrainError;
use crate::packing::Layout;

/// The client of one image-training job.
pub struct ImageTrainingClient<'a> {
    sk: &'a SecretKey,
    encoder: Encoder,
}

impl<'a> ImageTrainingClient<'a> {
    /// Client holding the secret key.
    pub fn new(sk: &'a SecretKey) -> Self {
        Self { sk, encoder: Encoder::new(sk.context()) }
    }

    /// Encrypts `images` (pixels in the model's input order) in batches of
    /// the spec's batch size, each batch the engine's input ciphertexts.
    pub fn encrypt_images(
        &self,
        spec: &InferenceSpec,
        images: &[Vec<f64>],
        level: usize,
    ) -> Result<Vec<Vec<SeededCiphertext>>, CnnError> {
        images
            .chunks(spec.batch.max(1))
            .map(|chunk| crate::cnn::client::encrypt_images_seeded(spec, self.sk, self.sk.context(), chunk, level))
            .collect()
    }

    /// `B̄` from the server's statistics (see
    /// [`TrainingClient::preconditioner_from_statistics`]): `ε` =
    /// [`super::PIPELINE_EPSILON`], negative statistics down to
    /// [`super::NEGATIVE_FRACTION`] of the largest read as 0.
    pub fn preconditioner(
        &self,
        statistics: &[Ciphertext],
        layout: Layout,
        features: usize,
        classes: usize,
    ) -> Result<Vec<f64>, ModelError> {
        TrainingClient::new(self.sk).preconditioner_from_statistics(
            statistics,
            layout,
            features,
            classes,
            super::PIPELINE_EPSILON,
            super::NEGATIVE_FRACTION,
        )
    }

    /// `B̄` encrypted per feature block, replicated over the samples and the
    /// `classes` class slots, at `level` (the features') and scale `q_level`:
    /// the server's product with the features then lands on their scale.
    pub fn encrypt_preconditioner(
        &self,
        bbar: &[f64],
        layout: Layout,
        classes: usize,
        level: usize,
    ) -> Result<Vec<SeededCiphertext>, TrainError> {
        let ctx = self.sk.context();
        if level == 0 || level > ctx.max_level() {
            return Err(TrainError::InvalidInput(format!("B̄ at level {level}")));
        }
        let scale = ctx.params().q()[level] as f64;
        let rows = vec![bbar.to_vec(); classes];
        self.encrypt_blocks(
            (0..layout.feature_blocks(bbar.len())).map(|fb| layout.pack_weights(&rows, fb)),
            layout,
            level,
            scale,
        )
    }

    /// One-hot labels (one block per sample block) and the initial weights
    /// `init` (classes × features, one block per feature block), at
    /// `level` and scale Δ.
    pub fn encrypt_labels_and_weights(
        &self,
        labels: &[u8],
        init: &[Vec<f64>],
        layout: Layout,
        level: usize,
    ) -> Result<(Vec<SeededCiphertext>, Vec<SeededCiphertext>), TrainError> {
        let classes = init.len();
        let features = init.first().map_or(0, Vec::len);
        if labels.is_empty() || features == 0 || labels.iter().any(|&y| usize::from(y) >= classes) {
            return Err(TrainError::InvalidInput(format!(
                "{} labels for {classes} classes and {features} features",
                labels.len()
            )));
        }
        let delta = self.sk.context().params().scale();
        let y = self.encrypt_blocks(
            (0..layout.sample_blocks(labels.len())).map(|b| layout.pack_labels(labels, b, classes)),
            layout,
            level,
            delta,
        )?;
        let w = self.encrypt_blocks(
            (0..layout.feature_blocks(features)).map(|fb| layout.pack_weights(init, fb)),
            layout,
            level,
            delta,
        )?;
        Ok((y, w))
    }

    fn encrypt_blocks(
        &self,
        blocks: impl Iterator<Item = Vec<f64>>,
        layout: Layout,
        level: usize,
        scale: f64,
    ) -> Result<Vec<SeededCiphertext>, TrainError> {
        let dec = Decryptor::new(self.sk);
        blocks.map(|v| Ok(dec.encrypt_symmetric(&self.encoder.encode_real(&v, layout.slots, level, scale)?)?)).collect()
    }
}
