//! Client side of encrypted MLR training (feature `client`): encrypting
//! the upload with the secret key, and reading back a model the server
//! claims to have trained — which the client treats as hostile input.
//!
//! A returned model is decrypted only after its ciphertexts match what the
//! client's own training job must produce (count, slots, parts, levels,
//! scales), and released only after the decrypted values pass the checks
//! an honest model passes: the padding slots decrypt to ~0, the weights are
//! replicated over the sample axis, they are real and finite, and (when the
//! client supplies it) they agree with the plaintext reference. What leaves
//! the client is noise-flooded and rounded (see [`ReleasePolicy`]).

pub use super::prep::{
    accuracy, design, fit_scaler, fit_scaler_with, precondition, preconditioner, predict, with_bias, Scaler, Scaling,
    DEFAULT_EPSILON, DEFAULT_INIT,
};
use super::server::{model_levels, scaled_data_level, EncryptedDataset, EncryptedModel, TrainError};
use crate::packing::Layout;
use hecnn_ckks::decrypt::Flooding;
use hecnn_ckks::{
    Ciphertext, CkksError, Complex64, Decryptor, Encoder, GaloisKeys, KeySetId, SecretKey, SeededCiphertext,
};
use thiserror::Error;

/// A `classes × features` weight matrix.
pub type Matrix = Vec<Vec<f64>>;

/// Encrypts the upload with the secret key (seeded "a" parts halve its
/// size) and decrypts, checks and releases the model.
pub struct TrainingClient<'a> {
    sk: &'a SecretKey,
    encoder: Encoder,
    level: usize,
}

impl<'a> TrainingClient<'a> {
    /// Client holding the secret key.
    pub fn new(sk: &'a SecretKey) -> Self {
        Self { encoder: Encoder::new(sk.context()), sk, level: sk.context().max_level() }
    }

    /// Encrypts at `level` instead of the top: with a bootstrappable chain the
    /// levels above the computation levels belong to bootstrapping (larger
    /// primes) and the data must start below them.
    pub fn at_level(mut self, level: usize) -> Self {
        self.level = level.min(self.sk.context().max_level());
        self
    }

    /// Level the data is encrypted at.
    pub fn level(&self) -> usize {
        self.level
    }

    /// `B̄` from the server's
    /// [`super::server::Trainer::preconditioner_statistics`] of non-negative
    /// features: each block decrypted and checked (real, zero in its padding,
    /// the same in every sample copy, non-negative), then
    /// `b̄_j = 1 / (ε + ¼ s_j)`, as [`preconditioner`] computes it from the
    /// features themselves.
    pub fn preconditioner_from_statistics(
        &self,
        blocks: &[Ciphertext],
        layout: Layout,
        features: usize,
        classes: usize,
        epsilon: f64,
        negative_fraction: f64,
    ) -> Result<Vec<f64>, ModelError> {
        if blocks.len() != layout.feature_blocks(features) {
            return Err(ModelError::Shape(format!(
                "{} statistics blocks for {features} features in blocks of {}",
                blocks.len(),
                layout.features_per_block
            )));
        }
        let dec = Decryptor::new(self.sk);
        let mut s = Vec::with_capacity(features);
        let mut tols = Vec::with_capacity(features);
        for (fb, ct) in blocks.iter().enumerate() {
            let slots = self.encoder.decode(&dec.decrypt(ct)?)?;
            // CKKS noise is relative to the values: sums of n·d products.
            let tol = 1e-6 * slots.iter().map(|z| z.re.abs()).filter(|v| v.is_finite()).fold(1.0, f64::max);
            check_block(
                &slots,
                &layout,
                fb,
                features,
                classes,
                "statistics",
                &BlockTolerance { value: tol, copies: tol },
            )?;
            for f in 0..layout.features_per_block.min(features - fb * layout.features_per_block) {
                s.push(slots[layout.slot(0, f, 0)].re);
                tols.push((fb, tol));
            }
        }
        // Features from approximate activations may be slightly negative
        // (the composite ReLU's error), and so may their statistics: up to
        // `negative_fraction` of the largest is accepted and read as 0.
        let largest = s.iter().fold(0.0f64, |m, v| m.max(*v));
        let mut b = Vec::with_capacity(features);
        for (v, (fb, tol)) in s.into_iter().zip(tols) {
            if v < -tol - negative_fraction * largest {
                return Err(ModelError::Negative { block: format!("statistics/{fb}") });
            }
            b.push(1.0 / (epsilon + 0.25 * v.max(0.0)));
        }
        Ok(b)
    }

    /// Encrypts `x` (bias column included), the labels and the initial
    /// weights `init` at the client's level, and `x_scaled = B̄ ⊙ x` at
    /// [`scaled_data_level`] below it (where the gradient uses it).
    pub fn encrypt_dataset(
        &self,
        x: &[Vec<f64>],
        x_scaled: &[Vec<f64>],
        labels: &[u8],
        classes: usize,
        init: &[Vec<f64>],
        layout: Layout,
    ) -> Result<EncryptedDataset<SeededCiphertext>, TrainError> {
        let job = DatasetJob::new(self, x, x_scaled, labels, classes, layout)?;
        let rows = job.sample_blocks(0..layout.sample_blocks(x.len()))?;
        let (mut xs, mut xss, mut ys) = (Vec::new(), Vec::new(), Vec::new());
        for (xb, xsb, yb) in rows {
            xs.push(xb);
            xss.push(xsb);
            ys.push(yb);
        }
        Ok(EncryptedDataset {
            layout,
            samples: x.len(),
            features: job.d,
            classes,
            x: xs,
            x_scaled: xss,
            labels: ys,
            weights: job.weights(init)?,
        })
    }

    /// [`Self::encrypt_dataset`] without holding it: the sample blocks are
    /// encrypted a few at a time ([`STREAM_CHUNK_BYTES`], in parallel) and each
    /// ciphertext goes to `sink` with its label (`x/b/f`, `xs/b/f`, `y/b`,
    /// then `w0/f`) — into an [`crate::upload::UploadWriter`], for a data set
    /// larger than memory (60,000 samples are 43 GB of ciphertexts).
    #[allow(clippy::too_many_arguments)]
    pub fn encrypt_streamed<E: From<TrainError>>(
        &self,
        x: &[Vec<f64>],
        x_scaled: &[Vec<f64>],
        labels: &[u8],
        classes: usize,
        init: &[Vec<f64>],
        layout: Layout,
        mut sink: impl FnMut(&str, &SeededCiphertext) -> Result<(), E>,
    ) -> Result<(), E> {
        let job = DatasetJob::new(self, x, x_scaled, labels, classes, layout)?;
        let nb = layout.sample_blocks(x.len());
        let chunk = job.blocks_per_chunk();
        for start in (0..nb).step_by(chunk) {
            let range = start..(start + chunk).min(nb);
            for (b, (xb, xsb, yb)) in range.clone().zip(job.sample_blocks(range)?) {
                for (prefix, row) in [("x", &xb), ("xs", &xsb)] {
                    for (f, ct) in row.iter().enumerate() {
                        sink(&format!("{prefix}/{b}/{f}"), ct)?;
                    }
                }
                sink(&format!("y/{b}"), &yb)?;
            }
        }
        for (f, ct) in job.weights(init)?.iter().enumerate() {
            sink(&format!("w0/{f}"), ct)?;
        }
        Ok(())
    }

    /// Checks the model's ciphertexts against `expect`, decrypts them,
    /// checks the values, and releases `W` and `V` under `policy`: flooded
    /// and rounded, safe to publish.
    pub fn release_model(
        &self,
        model: &EncryptedModel,
        expect: &ModelExpectation,
        policy: &ReleasePolicy,
    ) -> Result<ReleasedModel, ModelError> {
        let flooding = policy.flooding()?;
        let step = policy.precision()?;
        // Every check runs on the exact decryption (a refusal tells the
        // server one bit); only values that passed are released, from a
        // second, flooded decryption.
        self.decrypt_checked(model, expect, None, policy.reference_tolerance)?;
        let w = self.decrypt_blocks(&model.w, "W", expect, Some(&flooding))?;
        let v = self.decrypt_blocks(&model.v, "V", expect, Some(&flooding))?;
        let round = |m: Vec<Vec<f64>>| -> Vec<Vec<f64>> {
            m.into_iter().map(|row| row.into_iter().map(|x| (x / step).round() * step).collect()).collect()
        };
        Ok(ReleasedModel { w: round(w), v: round(v), iterations: model.iterations, precision: step })
    }

    /// The same checks without flooding or rounding: the model at full
    /// precision for the client's own use (evaluation, reports). Its values
    /// carry the ciphertext noise: never publish them.
    pub fn decrypt_model_private(
        &self,
        model: &EncryptedModel,
        expect: &ModelExpectation,
        reference_tolerance: f64,
    ) -> Result<(Matrix, Matrix), ModelError> {
        self.decrypt_checked(model, expect, None, reference_tolerance)
    }

    fn decrypt_checked(
        &self,
        model: &EncryptedModel,
        expect: &ModelExpectation,
        flooding: Option<&Flooding>,
        reference_tolerance: f64,
    ) -> Result<(Matrix, Matrix), ModelError> {
        expect.check_ciphertexts(self.sk.context().n() / 2, model)?;
        let w = self.decrypt_blocks(&model.w, "W", expect, flooding)?;
        let v = self.decrypt_blocks(&model.v, "V", expect, flooding)?;
        if let Some(reference) = &expect.reference {
            let err = max_abs_diff(&w, reference).ok_or(ModelError::Shape("reference of another shape".into()))?;
            if err > reference_tolerance {
                return Err(ModelError::FarFromReference { tolerance: reference_tolerance });
            }
        }
        Ok((w, v))
    }

    /// Decrypts one sequence's blocks (flooded when asked), checks padding,
    /// replication and imaginary parts, and unpacks `classes × features`.
    fn decrypt_blocks(
        &self,
        blocks: &[Ciphertext],
        name: &'static str,
        expect: &ModelExpectation,
        flooding: Option<&Flooding>,
    ) -> Result<Vec<Vec<f64>>, ModelError> {
        let dec = Decryptor::new(self.sk);
        let l = &expect.layout;
        // Honest blocks hold exactly zero / exact copies up to their noise
        // and the flooding's: 8 standard deviations of what is compared — a
        // slot (σ) for zeros and imaginary parts, the difference of two
        // independently flooded copies (√2·σ) for the copies. At 8σ for the
        // copies an honest model failed about once in 125 releases (≈ 5·10^5
        // comparisons at 1.5·10^-8 each); at 8√2σ, ≈ 10^-9.
        let sigma = flooding.map_or(0.0, Flooding::slot_sigma);
        let tol = BlockTolerance {
            value: expect.value_tolerance + 8.0 * sigma,
            copies: expect.value_tolerance + 8.0 * std::f64::consts::SQRT_2 * sigma,
        };
        let mut decoded = Vec::with_capacity(blocks.len());
        for (fb, ct) in blocks.iter().enumerate() {
            let pt = match flooding {
                Some(f) => dec.decrypt_flooded(ct, f)?,
                None => dec.decrypt(ct)?,
            };
            let slots: Vec<Complex64> = self.encoder.decode(&pt)?;
            check_block(&slots, l, fb, expect.features, expect.classes, name, &tol)?;
            decoded.push(slots.iter().map(|z| z.re).collect::<Vec<f64>>());
        }
        l.unpack_weights(&decoded, expect.classes, expect.features)
            .ok_or_else(|| ModelError::Shape(format!("{name}: blocks shorter than the layout")))
    }
}

/// Most bytes of ciphertexts [`TrainingClient::encrypt_streamed`] holds at
/// once (at least one sample block: 243 ciphertexts, ≈ 0.5 GB, for 60,000
/// MNIST samples at N = 2^15).
pub const STREAM_CHUNK_BYTES: u64 = 512 << 20;

/// One encryption job, checked: the client's matrices, level and layout.
struct DatasetJob<'c, 'a> {
    client: &'c TrainingClient<'a>,
    x: &'c [Vec<f64>],
    x_scaled: &'c [Vec<f64>],
    labels: &'c [u8],
    classes: usize,
    layout: Layout,
    d: usize,
}

/// The ciphertexts of one sample block: X and B̄⊙X per feature block, labels.
type BlockRow = (Vec<SeededCiphertext>, Vec<SeededCiphertext>, SeededCiphertext);

impl<'c, 'a> DatasetJob<'c, 'a> {
    fn new(
        client: &'c TrainingClient<'a>,
        x: &'c [Vec<f64>],
        x_scaled: &'c [Vec<f64>],
        labels: &'c [u8],
        classes: usize,
        layout: Layout,
    ) -> Result<Self, TrainError> {
        let ctx = client.sk.context();
        let n = x.len();
        let d = x.first().map_or(0, Vec::len);
        if n == 0 || d == 0 || x_scaled.len() != n || labels.len() != n {
            return Err(TrainError::InvalidInput(format!(
                "{n} samples, {} scaled rows, {} labels",
                x_scaled.len(),
                labels.len()
            )));
        }
        if layout.slots != ctx.n() / 2 {
            return Err(TrainError::InvalidInput(format!(
                "layout for {} slots, ring has {}",
                layout.slots,
                ctx.n() / 2
            )));
        }
        Ok(Self { client, x, x_scaled, labels, classes, layout, d })
    }

    fn encrypt(&self, dec: &Decryptor, values: Vec<f64>, level: usize) -> Result<SeededCiphertext, TrainError> {
        let c = self.client;
        let scale = c.sk.context().params().scale();
        Ok(dec.encrypt_symmetric(&c.encoder.encode_real(&values, self.layout.slots, level, scale)?)?)
    }

    /// Sample blocks per chunk of [`STREAM_CHUNK_BYTES`] (at least one).
    fn blocks_per_chunk(&self) -> usize {
        let ctx = self.client.sk.context();
        let per_ct = ctx.n() as u64 * (self.client.level as u64 + 1) * 8;
        let per_block = (2 * self.layout.feature_blocks(self.d) as u64 + 1) * per_ct;
        (STREAM_CHUNK_BYTES / per_block).max(1) as usize
    }

    /// Sample blocks `range`, every ciphertext encrypted in parallel.
    fn sample_blocks(&self, range: std::ops::Range<usize>) -> Result<Vec<BlockRow>, TrainError> {
        use rayon::prelude::*;
        let (l, nf) = (self.layout, self.layout.feature_blocks(self.d));
        let sk = self.client.sk;
        range
            .into_par_iter()
            .map(|b| {
                let row = |m: &[Vec<f64>], level: usize| -> Result<Vec<SeededCiphertext>, TrainError> {
                    (0..nf)
                        .into_par_iter()
                        .map_init(
                            || Decryptor::new(sk),
                            |dec, fb| self.encrypt(dec, l.pack_data(m, b, fb, self.classes), level),
                        )
                        .collect()
                };
                let level = self.client.level;
                let y = self.encrypt(&Decryptor::new(sk), l.pack_labels(self.labels, b, self.classes), level)?;
                Ok((row(self.x, level)?, row(self.x_scaled, scaled_data_level(level))?, y))
            })
            .collect()
    }

    /// The initial weights, one block per feature block.
    fn weights(&self, init: &[Vec<f64>]) -> Result<Vec<SeededCiphertext>, TrainError> {
        let dec = Decryptor::new(self.client.sk);
        let level = self.client.level;
        (0..self.layout.feature_blocks(self.d))
            .map(|fb| self.encrypt(&dec, self.layout.pack_weights(init, fb), level))
            .collect()
    }
}

/// What the client's own training job must return: the client knows all of
/// it from its own records, not from the server's manifest.
#[derive(Clone, Debug)]
pub struct ModelExpectation {
    /// The job's layout (slots = N/2).
    pub layout: Layout,
    /// Classes c.
    pub classes: usize,
    /// Features d (bias included).
    pub features: usize,
    /// The key set the upload was made with.
    pub key_set: KeySetId,
    /// Level the client encrypted the data at.
    pub data_level: usize,
    /// Level a refresh (bootstrap) returns W and V at; `None` without
    /// bootstrapping keys.
    pub refresh_level: Option<usize>,
    /// log2 of the default scale Δ.
    pub log_scale: u32,
    /// Largest iteration count the client accepts.
    pub max_iterations: usize,
    /// A padding slot, an imaginary part or a copy's spread above this (in
    /// weight units, before flooding) rejects the model: a few times the
    /// computation's own noise.
    pub value_tolerance: f64,
    /// The plaintext reference `W` for the claimed iteration count, when the
    /// client computed it: the released `W` must agree with it.
    pub reference: Option<Vec<Vec<f64>>>,
}

impl ModelExpectation {
    /// Shape, slots, parts, levels and scales of every model ciphertext
    /// (cheap: run it before work that the claimed iteration count drives).
    pub fn check_ciphertexts(&self, max_slots: usize, model: &EncryptedModel) -> Result<(), ModelError> {
        let l = &self.layout;
        if l.slots != max_slots {
            return Err(ModelError::Shape(format!("layout of {} slots, the ring has {max_slots}", l.slots)));
        }
        if model.iterations == 0 || model.iterations > self.max_iterations {
            return Err(ModelError::Iterations { claimed: model.iterations, max: self.max_iterations });
        }
        let nf = l.feature_blocks(self.features);
        if model.w.len() != nf || model.v.len() != nf {
            return Err(ModelError::Shape(format!(
                "{} W and {} V blocks, the layout has {nf}",
                model.w.len(),
                model.v.len()
            )));
        }
        let (w_level, v_level) = model_levels(self.data_level, self.refresh_level, model.iterations)
            .map_err(|e| ModelError::Shape(e.to_string()))?;
        let delta = (self.log_scale as f64).exp2();
        for (name, blocks, level) in [("W", &model.w, w_level), ("V", &model.v, v_level)] {
            for (fb, ct) in blocks.iter().enumerate() {
                if ct.slots() != l.slots || ct.num_parts() != 2 {
                    return Err(ModelError::Shape(format!(
                        "{name} block {fb}: {} slots, {} parts (expected {} slots, 2 parts)",
                        ct.slots(),
                        ct.num_parts(),
                        l.slots
                    )));
                }
                if ct.level() != level {
                    return Err(ModelError::Level {
                        block: format!("{name}/{fb}"),
                        found: ct.level(),
                        expected: level,
                    });
                }
                // The trainer's scales stay within a factor 4 of Δ.
                let ratio = ct.scale() / delta;
                if !(0.25..=4.0).contains(&ratio) {
                    return Err(ModelError::Scale { block: format!("{name}/{fb}"), log2_ratio: ratio.log2() });
                }
            }
        }
        Ok(())
    }
}

/// How decrypted weights may leave the client.
///
/// Decrypted CKKS values carry the ciphertext's noise; published at full
/// precision they let whoever holds the ciphertext solve for the secret
/// key (Li–Micciancio, IND-CPA^D). So the release decrypts with Gaussian
/// flooding of standard deviation `√(12τ)·2^(λ_s/2)·σ_e` (OpenFHE's
/// `NOISE_FLOODING_DECRYPT`, with its defaults λ_s = 30, τ = 1), where σ_e is
/// the estimated standard deviation of the computation's own noise, and
/// rounds to the power of two below that (finer digits would be noise).
/// See docs/security.md.
#[derive(Clone, Debug)]
pub struct ReleasePolicy {
    /// Statistical security λ_s in bits.
    pub statistical_security: u32,
    /// Number of decryptions of ciphertexts related to the same key the
    /// adversary may see (τ).
    pub queries: u32,
    /// log2 of the estimated noise standard deviation σ_e per slot, in
    /// weight units: a public function of the job (see
    /// [`ReleasePolicy::for_job`]), never measured on the data.
    pub log2_noise: f64,
    /// Largest flooding noise per weight the release accepts: above it the
    /// weights would be noise, and the release is refused instead.
    pub max_noise: f64,
    /// Largest |W − reference| accepted (before flooding) when the client
    /// checks against its plaintext reference.
    pub reference_tolerance: f64,
}

impl ReleasePolicy {
    /// OpenFHE's defaults (λ_s = 30, τ = 1) with the noise estimate of the
    /// job class: `bootstrapped` or not. The estimates sit about a bit above the
    /// rms errors measured on the bundled workloads (docs/security.md).
    pub fn for_job(bootstrapped: bool) -> Self {
        let log2_noise = if bootstrapped { BOOTSTRAPPED_LOG2_NOISE } else { LEVELED_LOG2_NOISE };
        Self {
            statistical_security: DEFAULT_STATISTICAL_SECURITY,
            queries: 1,
            log2_noise,
            max_noise: MAX_RELEASE_NOISE,
            reference_tolerance: 64.0 * log2_noise.exp2(),
        }
    }

    /// The flooding, or why this policy cannot release anything useful.
    pub fn flooding(&self) -> Result<Flooding, ModelError> {
        let f = Flooding::new(self.statistical_security, self.queries, self.log2_noise);
        if f.slot_sigma() > self.max_noise {
            return Err(ModelError::NoPrecisionLeft {
                statistical_security: self.statistical_security,
                sigma: f.slot_sigma(),
                max: self.max_noise,
            });
        }
        Ok(f)
    }

    /// Grid the released values are rounded to: the power of two at or
    /// below the flooding noise's standard deviation.
    pub fn precision(&self) -> Result<f64, ModelError> {
        Ok(self.flooding()?.slot_sigma().log2().floor().exp2())
    }
}

/// OpenFHE's default statistical security for flooding.
pub const DEFAULT_STATISTICAL_SECURITY: u32 = 30;
/// log2 σ_e of a leveled (2-iteration) job's weights.
pub const LEVELED_LOG2_NOISE: f64 = -23.5;
/// log2 σ_e of a bootstrapped job's weights.
pub const BOOTSTRAPPED_LOG2_NOISE: f64 = -17.5;
/// Flooding noise per weight above which a release is refused.
pub const MAX_RELEASE_NOISE: f64 = 1.0 / 64.0;

/// What the client writes out: flooded, rounded `W` and `V`.
#[derive(Clone, Debug, PartialEq)]
pub struct ReleasedModel {
    /// The model, classes × features, bias first.
    pub w: Vec<Vec<f64>>,
    /// The look-ahead sequence.
    pub v: Vec<Vec<f64>>,
    /// Iterations the server ran.
    pub iterations: usize,
    /// Rounding grid of the values.
    pub precision: f64,
}

/// Why a returned model was refused. Messages say which check failed and
/// where, never the decrypted values (they are what must not leak).
#[derive(Debug, Error)]
pub enum ModelError {
    /// Block counts, slot counts, parts, or a layout that is not the job's.
    #[error("model shape: {0}")]
    Shape(String),
    /// An iteration count outside what the client accepts.
    #[error("the model claims {claimed} iterations; this client accepts 1 to {max}")]
    Iterations { claimed: usize, max: usize },
    /// A ciphertext at a level the trainer cannot produce.
    #[error("model block {block} is at level {found}; the trainer leaves it at level {expected}")]
    Level { block: String, found: usize, expected: usize },
    /// A scale the trainer cannot produce.
    #[error("model block {block} has a scale 2^{log2_ratio:.1} times Δ; the trainer keeps it within 4×")]
    Scale { block: String, log2_ratio: f64 },
    /// A padding slot (class ≥ c, feature ≥ d) that does not decrypt to ~0.
    #[error("model block {block}: a padding slot is not zero (not a model of this job)")]
    Padding { block: String },
    /// The sample copies of a weight differ: not a weight vector.
    #[error("model block {block}: the copies over the sample axis differ (not a model of this job)")]
    NotReplicated { block: String },
    /// A slot with an imaginary part, NaN or infinity.
    #[error("model block {block}: a value is complex or not finite")]
    NotReal { block: String },
    /// A preconditioner statistic below zero: not a sum of products of
    /// non-negative features.
    #[error("statistics block {block}: a negative sum of non-negative features")]
    Negative { block: String },
    /// The released W is farther from the plaintext reference than allowed.
    #[error("the model differs from the plaintext reference by more than {tolerance:e}")]
    FarFromReference { tolerance: f64 },
    /// Flooding at the asked statistical security would drown the weights.
    #[error(
        "flooding for {statistical_security}-bit statistical security adds noise σ = {sigma:.2e} per weight, above \
         the {max:.2e} a useful model allows; lower the statistical security explicitly, or keep the model private"
    )]
    NoPrecisionLeft { statistical_security: u32, sigma: f64, max: f64 },
    /// Decryption failed (parameters of another set, ...).
    #[error(transparent)]
    Ckks(#[from] CkksError),
}

/// How far an honest block's values may be off: a single value (padding
/// zeros, imaginary parts) and the difference of two sample copies.
struct BlockTolerance {
    value: f64,
    copies: f64,
}

/// Checks one decrypted block: every slot real and finite; padding slots
/// (class ≥ c, or feature ≥ d in the last block) ~0; every copy over the
/// sample axis equal to sample 0's.
fn check_block(
    slots: &[Complex64],
    l: &Layout,
    fb: usize,
    features: usize,
    classes: usize,
    name: &str,
    tol: &BlockTolerance,
) -> Result<(), ModelError> {
    let block = || format!("{name}/{fb}");
    if slots.len() != l.slots {
        return Err(ModelError::Shape(format!("{name} block {fb}: {} slots decoded", slots.len())));
    }
    if slots.iter().any(|z| !z.re.is_finite() || !z.im.is_finite() || z.im.abs() > tol.value) {
        return Err(ModelError::NotReal { block: block() });
    }
    for f in 0..l.features_per_block {
        let feature_used = fb * l.features_per_block + f < features;
        for k in 0..l.class_slots {
            let used = feature_used && k < classes;
            let first = slots[l.slot(0, f, k)].re;
            if !used && first.abs() > tol.value {
                return Err(ModelError::Padding { block: block() });
            }
            if (1..l.samples_per_block).any(|i| (slots[l.slot(i, f, k)].re - first).abs() > tol.copies) {
                return Err(ModelError::NotReplicated { block: block() });
            }
        }
    }
    Ok(())
}

fn max_abs_diff(a: &[Vec<f64>], b: &[Vec<f64>]) -> Option<f64> {
    if a.len() != b.len() || a.iter().zip(b).any(|(x, y)| x.len() != y.len()) {
        return None;
    }
    Some(a.iter().flatten().zip(b.iter().flatten()).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max))
}

/// The rotation keys of a training job for `steps`, each cut to the level
/// the client encrypts at ([`super::setup::data_level`]): a job that
/// bootstraps computes only below the bootstrapping levels, so on the
/// `bootstrappable` chain its keys hold 12 of the 28 ciphertext limbs and
/// 2 of the 5 digits (a fifth of a full key). Other chains: full keys.
pub fn training_galois_keys(sk: &SecretKey, steps: &[i64]) -> GaloisKeys {
    let ctx = sk.context();
    let level = super::setup::data_level(ctx.params());
    let elements: Vec<(u64, usize)> = steps.iter().map(|&s| (ctx.galois_element(s), level)).collect();
    GaloisKeys::generate_at_levels(sk, &elements)
}

/// The bootstrapping keys of a training job: for the packed W/V state of
/// `layout` with `features` features (one sparse slot count).
pub fn training_bootstrap_keys(
    sk: &SecretKey,
    layout: &Layout,
    features: usize,
) -> Result<hecnn_ckks::circuits::BootstrapKeys, TrainError> {
    use super::refresh::packed_slots;
    use super::setup::state_blocks;
    let slots = packed_slots(layout, state_blocks(layout, features));
    Ok(hecnn_ckks::circuits::BootstrapKeys::generate(sk, &hecnn_ckks::circuits::BootstrapConfig::default(), &[slots])?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hecnn_ckks::{Context, Preset};

    /// Two flooded copies differ by √2·σ in standard deviation: a spread of
    /// 10σ between copies (7 of their deviations) is an honest model's, a
    /// padding slot or imaginary part 10σ off is not, and copies 12σ
    /// apart are not copies.
    #[test]
    fn copies_get_the_tolerance_of_a_difference() {
        // 4 samples × 4 feature slots (3 used) × 4 class slots (3 used).
        let l = crate::packing::Layout::with_samples_per_block(4, 3, 64).unwrap();
        assert_eq!((l.features_per_block, l.class_slots), (4, 4));
        let sigma = 1e-3;
        let tol = BlockTolerance { value: 8.0 * sigma, copies: 8.0 * std::f64::consts::SQRT_2 * sigma };
        let honest = || {
            let mut slots = vec![Complex64::new(0.0, 0.0); l.slots];
            for i in 0..l.samples_per_block {
                for f in 0..3 {
                    for k in 0..3 {
                        slots[l.slot(i, f, k)].re = 0.25 * (f + k) as f64;
                    }
                }
            }
            slots
        };
        let check = |slots: &[Complex64]| check_block(slots, &l, 0, 3, 3, "W", &tol);
        assert!(check(&honest()).is_ok());
        let mut spread = honest();
        spread[l.slot(1, 1, 1)].re += 10.0 * sigma;
        assert!(check(&spread).is_ok());
        spread[l.slot(1, 1, 1)].re += 2.0 * sigma;
        assert!(matches!(check(&spread), Err(ModelError::NotReplicated { .. })));
        let mut padding = honest();
        padding[l.slot(0, 0, 3)].re = 10.0 * sigma;
        assert!(matches!(check(&padding), Err(ModelError::Padding { .. })));
        let mut complex = honest();
        complex[l.slot(0, 0, 0)].im = 10.0 * sigma;
        assert!(matches!(check(&complex), Err(ModelError::NotReal { .. })));
    }

    /// A job that bootstraps computes at the data level and below, so its
    /// rotation keys stop there; a job that does not gets full keys.
    #[test]
    fn training_rotation_keys_stop_at_the_data_level() {
        for (preset, level) in [(Preset::Bootstrappable, 11), (Preset::Training2Iter, 9)] {
            let ctx = Context::new(preset.params()).unwrap();
            assert_eq!(super::super::setup::data_level(ctx.params()), level);
            let sk = SecretKey::generate(&ctx);
            let keys = training_galois_keys(&sk, &[1, -16]);
            let levels: Vec<usize> = keys.levels().map(|(_, l)| l).collect();
            assert_eq!(levels, vec![level, level], "{}", preset.name());
        }
    }
}
