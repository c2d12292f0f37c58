//! The client side of encrypted inference: what it is told about the
//! circuit (no weights), how it packs images, and how it reads and checks
//! the scores.

use serde::{Deserialize, Serialize};

use super::error::CnnError;

/// What the server publishes for its model: the slot layout of the input
/// and output, the scale factors at both ends, the rotations its keys must
/// cover and the largest score it can honestly return. No weight is in it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InferenceSpec {
    /// Slots per ciphertext.
    pub slots: usize,
    /// Images per ciphertext batch.
    pub batch: usize,
    /// `[C, H, W]` of one image.
    pub input_shape: Vec<usize>,
    /// Per input element: (ciphertext, position).
    pub input_positions: Vec<(u32, u32)>,
    /// Input ciphertexts per batch.
    pub input_cts: usize,
    /// Pixels are encrypted divided by this.
    pub input_factor: f64,
    /// Per score: (ciphertext, position).
    pub output_positions: Vec<(u32, u32)>,
    /// Output ciphertexts per batch.
    pub output_cts: usize,
    /// Decrypted values are multiplied by this.
    pub output_factor: f64,
    /// Largest |score| an honest run gives on in-range inputs.
    pub score_bound: f64,
    /// Rotation steps the Galois keys must cover.
    pub rotations: Vec<i64>,
}

impl InferenceSpec {
    /// Checks a spec read from a file: sizes within the slots, positions
    /// inside their ciphertexts and distinct, finite positive factors.
    pub fn validate(&self) -> Result<(), CnnError> {
        let bad = |m: String| Err(CnnError::Ciphertexts(format!("inference spec: {m}")));
        if !self.slots.is_power_of_two() || self.batch == 0 || self.batch > self.slots {
            return bad(format!("{} slots, batch {}", self.slots, self.batch));
        }
        if self.input_cts == 0 || self.output_cts == 0 || self.input_cts > 4096 || self.output_cts > 4096 {
            return bad(format!("{} input and {} output ciphertexts", self.input_cts, self.output_cts));
        }
        if self.image_len() != self.input_positions.len() || self.output_positions.is_empty() {
            return bad("position lists do not match the shapes".into());
        }
        let per = (self.slots / self.batch) as u32;
        for (list, cts) in [(&self.input_positions, self.input_cts), (&self.output_positions, self.output_cts)] {
            let mut seen = std::collections::HashSet::new();
            if list.iter().any(|&(c, p)| c as usize >= cts || p >= per || !seen.insert((c, p))) {
                return bad("a position outside its ciphertext, or used twice".into());
            }
        }
        let positive = |f: f64| f.is_finite() && f > 0.0;
        if !(positive(self.input_factor) && positive(self.output_factor) && positive(self.score_bound)) {
            return bad("factors and the score bound must be finite and positive".into());
        }
        Ok(())
    }

    /// Pixels per image.
    pub fn image_len(&self) -> usize {
        self.input_shape.iter().product()
    }

    /// The slot vectors of the input ciphertexts for `images` (at most
    /// `batch`; missing images are zeros). Checks sizes and finiteness.
    pub fn pack_images(&self, images: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, CnnError> {
        if images.len() > self.batch {
            return Err(CnnError::BatchTooLarge { images: images.len(), capacity: self.batch });
        }
        let len = self.image_len();
        let mut slots = vec![vec![0.0; self.slots]; self.input_cts];
        for (b, img) in images.iter().enumerate() {
            if img.len() != len {
                return Err(CnnError::BadImage {
                    image: b,
                    reason: format!("{} pixels, the model takes {:?} = {len}", img.len(), self.input_shape),
                });
            }
            if let Some(k) = img.iter().position(|v| !v.is_finite()) {
                return Err(CnnError::BadImage { image: b, reason: format!("pixel {k} is {}", img[k]) });
            }
            for (&v, &(ct, p)) in img.iter().zip(&self.input_positions) {
                slots[ct as usize][p as usize * self.batch + b] = v / self.input_factor;
            }
        }
        Ok(slots)
    }

    /// Reads the scores of the first `images` images from decrypted output
    /// slot vectors, and checks them: every score finite and within the
    /// bound (an activation beyond its bound, or a server that computed
    /// something else, gives scores far outside it), and every slot that
    /// holds no score near zero (the circuit's last map clears them).
    pub fn read_scores(&self, decrypted: &[Vec<f64>], images: usize) -> Result<Vec<Vec<f64>>, CnnError> {
        if decrypted.len() != self.output_cts || decrypted.iter().any(|d| d.len() != self.slots) {
            return Err(CnnError::Ciphertexts(format!(
                "{} decrypted vectors, the circuit returns {} of {} slots",
                decrypted.len(),
                self.output_cts,
                self.slots
            )));
        }
        if images > self.batch {
            return Err(CnnError::BatchTooLarge { images, capacity: self.batch });
        }
        let mut used = vec![vec![false; self.slots]; self.output_cts];
        let mut scores = vec![Vec::with_capacity(self.output_positions.len()); images];
        for &(ct, p) in &self.output_positions {
            let base = p as usize * self.batch;
            used[ct as usize][base..base + self.batch].iter_mut().for_each(|u| *u = true);
            for (b, s) in scores.iter_mut().enumerate() {
                s.push(decrypted[ct as usize][base + b] * self.output_factor);
            }
        }
        for (image, s) in scores.iter().enumerate() {
            if let Some(v) = s.iter().find(|v| !(v.is_finite() && v.abs() <= self.score_bound)) {
                return Err(CnnError::ScoreCheck {
                    image,
                    reason: format!(
                        "score {v:.4e} outside the calibrated bound ±{:.3e}: an activation left its bound at run \
                         time, or the server did not run the published model",
                        self.score_bound
                    ),
                });
            }
        }
        let tolerance = 1e-2 * self.score_bound.max(1.0) / self.output_factor;
        for (ct, (d, u)) in decrypted.iter().zip(&used).enumerate() {
            if let Some(slot) = (0..self.slots).find(|&s| !u[s] && d[s].abs() > tolerance) {
                return Err(CnnError::ScoreCheck {
                    image: slot % self.batch,
                    reason: format!(
                        "output ciphertext {ct} holds {:.3e} in slot {slot}, which carries no score: the server did \
                         not run the published model",
                        d[slot]
                    ),
                });
            }
        }
        Ok(scores)
    }
}

/// Index of the largest score.
pub fn argmax(scores: &[f64]) -> usize {
    scores.iter().enumerate().fold((0, f64::NEG_INFINITY), |b, (i, &v)| if v > b.1 { (i, v) } else { b }).0
}

#[cfg(feature = "client")]
mod keyed {
    use hecnn_ckks::{
        Ciphertext, Context, Decryptor, Encoder, EvaluationKeySet, GaloisKeys, RelinKey, SecretKey, SeededCiphertext,
    };
    use std::sync::Arc;

    use super::{CnnError, InferenceSpec};

    /// Encrypts a batch of images (symmetric, at `level`, scale Δ).
    pub fn encrypt_images(
        spec: &InferenceSpec,
        sk: &SecretKey,
        ctx: &Arc<Context>,
        images: &[Vec<f64>],
        level: usize,
    ) -> Result<Vec<Ciphertext>, CnnError> {
        encrypt_images_seeded(spec, sk, ctx, images, level)?.iter().map(|c| Ok(c.expand(ctx)?)).collect()
    }

    /// [`encrypt_images`] as seeded ciphertexts (half the bytes to upload).
    pub fn encrypt_images_seeded(
        spec: &InferenceSpec,
        sk: &SecretKey,
        ctx: &Arc<Context>,
        images: &[Vec<f64>],
        level: usize,
    ) -> Result<Vec<SeededCiphertext>, CnnError> {
        let encoder = Encoder::new(ctx);
        let dec = Decryptor::new(sk);
        spec.pack_images(images)?
            .iter()
            .map(|v| {
                let pt = encoder.encode_real(v, spec.slots, level.min(ctx.max_level()), ctx.params().scale())?;
                Ok(dec.encrypt_symmetric(&pt)?)
            })
            .collect()
    }

    /// The evaluation keys a client makes for a published model:
    /// relinearization, the model's rotations (`steps`), and bootstrapping
    /// keys (full slots) when the model bootstraps.
    pub fn evaluation_keys(sk: &SecretKey, steps: &[i64], bootstrapping: bool) -> Result<EvaluationKeySet, CnnError> {
        let ctx = sk.context();
        let boot = if bootstrapping {
            let cfg = hecnn_ckks::circuits::BootstrapConfig::default();
            Some(hecnn_ckks::circuits::BootstrapKeys::generate(sk, &cfg, &[ctx.n() / 2])?)
        } else {
            None
        };
        let galois = GaloisKeys::generate(sk, steps, false);
        Ok(EvaluationKeySet::new(ctx, RelinKey::generate(sk), galois, boot)?)
    }

    /// Decrypts and checks the scores of the first `images` images.
    pub fn decrypt_scores(
        spec: &InferenceSpec,
        sk: &SecretKey,
        ctx: &Arc<Context>,
        cts: &[Ciphertext],
        images: usize,
    ) -> Result<Vec<Vec<f64>>, CnnError> {
        let encoder = Encoder::new(ctx);
        let dec = Decryptor::new(sk);
        let plain: Vec<Vec<f64>> =
            cts.iter().map(|c| Ok(encoder.decode_real(&dec.decrypt(c)?)?)).collect::<Result<_, CnnError>>()?;
        spec.read_scores(&plain, images)
    }
}

#[cfg(feature = "client")]
pub use keyed::{decrypt_scores, encrypt_images, encrypt_images_seeded, evaluation_keys};
