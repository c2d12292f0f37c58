//! Encrypted MLR training: the client encrypts its data, the server runs
//! quadratic-gradient Nesterov iterations on ciphertexts with evaluation
//! keys only, the client decrypts the model.
//!
//! Depth per iteration is 4 on the critical path (`X·Vᵀ` 1, degree-3
//! sigmoid 2, gradient 1); the mask and the step size `1+γ_t` ride on the
//! sigmoid's plaintext multiplications, and the Nesterov mix of W costs one
//! level off the critical path. So T iterations need `4T + 1` levels.

use super::schedule::schedule;
use crate::packing::Layout;
use hecnn_ckks::{Ciphertext, CkksError, Decryptor, Encoder, Evaluator, GaloisKeys, RelinKey, SecretKey};
use serde::Serialize;
use thiserror::Error;

/// Errors of encrypted training.
#[derive(Debug, Error)]
pub enum TrainError {
    /// A CKKS operation failed (parameter mismatch, missing key, ...).
    #[error(transparent)]
    Ckks(#[from] CkksError),
    /// Not enough levels for the requested iterations.
    #[error("level budget: {iterations} iterations need {needed} levels, the upload has {available}")]
    LevelBudget { iterations: usize, needed: usize, available: usize },
    /// The upload is inconsistent (block counts, levels, slots).
    #[error("invalid upload: {0}")]
    InvalidUpload(String),
    /// Bad client input.
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

/// Sigmoid polynomial `c0 + c1·t + c2·t² + c3·t³` (power basis).
pub type Sigmoid3 = [f64; 4];

/// The paper's sigmoid fit on [−8, 8] (`DESIGN.md`): the trainer's own copy
/// of the coefficients; `tests/mlr_crosscheck.rs` checks it against the
/// reference's `Z3`.
pub const PAPER_SIGMOID: Sigmoid3 = [0.5, 0.10679534503216294, 0.0, -0.00038503259805075];

/// `σ(t)` in `f64`, term by term in the order [`Trainer`] evaluates it on
/// ciphertexts: `(c₃·t)·t² + c₂·t² + c₁·t + c₀` (the step `1+γ_t` and the
/// mask, which ride on the same products, left out). Exists so that tests
/// can hold the circuit's polynomial against the reference's Horner form.
pub fn sigmoid3(sig: &Sigmoid3, t: f64) -> f64 {
    let square = t * t;
    let mut poly = square * (sig[3] * t);
    if sig[2] != 0.0 {
        poly += sig[2] * square;
    }
    poly + sig[1] * t + sig[0]
}

/// Levels needed for `iterations` iterations (W's mix one level below V).
pub fn required_levels(iterations: usize) -> usize {
    4 * iterations + 1
}

/// Level V must have at the start of an iteration: 4 on its path and one
/// for W's Nesterov mix.
pub const LEVELS_PER_ITERATION: usize = 5;

/// Something that brings the model state (W, V) back to a high level with
/// the same values: bootstrapping on the server. The trainer calls it only
/// where [`refresh_plan`] says, never on the data. W and V are handed over
/// *packed*: `2·⌈d/G⌉` blocks of period `P = G·C` in one sparse ciphertext
/// (see [`crate::mlr::refresh`]); the packing rides on the Nesterov mix's
/// plaintext products, so it costs no level of its own.
pub trait Refresh {
    /// Level the refreshed (and unpacked) blocks come back at.
    fn level_after(&self) -> usize;
    /// Refreshes `packed` (`blocks` blocks packed by [`crate::mlr::refresh::block_mask`])
    /// and returns the blocks in the layout, replicated over the samples.
    fn refresh(&self, packed: &Ciphertext, blocks: usize, layout: &Layout) -> Result<Vec<Ciphertext>, TrainError>;
}

/// Iterations (0-based) before which W and V must be refreshed, when they
/// start at level `top` and come back from a refresh at `level_after`: each
/// iteration takes V down by 4 and needs [`LEVELS_PER_ITERATION`] to start.
///
/// ```
/// use hecnn_ml::mlr::encrypted::refresh_plan;
/// assert_eq!(refresh_plan(9, 9, 2).unwrap(), Vec::<usize>::new()); // the paper's workload
/// assert_eq!(refresh_plan(9, 13, 6).unwrap(), vec![2, 5]); // 9, 5, then 13, 9, 5 per refresh
/// ```
pub fn refresh_plan(top: usize, level_after: usize, iterations: usize) -> Result<Vec<usize>, TrainError> {
    if level_after < LEVELS_PER_ITERATION {
        // No usable refresh: the levels must suffice on their own.
        let needed = required_levels(iterations);
        if top < needed {
            return Err(TrainError::LevelBudget { iterations, needed, available: top });
        }
        return Ok(Vec::new());
    }
    let mut plan = Vec::new();
    let mut level = top;
    for t in 0..iterations {
        if level < LEVELS_PER_ITERATION {
            plan.push(t);
            level = level_after;
        }
        level -= 4;
    }
    Ok(plan)
}

/// Everything the client uploads for training (ciphertexts only).
#[derive(Clone, Debug)]
pub struct EncryptedDataset {
    /// Block layout.
    pub layout: Layout,
    /// Samples n.
    pub samples: usize,
    /// Features d (bias column included).
    pub features: usize,
    /// Classes c.
    pub classes: usize,
    /// `X` blocks `[sample block][feature block]`.
    pub x: Vec<Vec<Ciphertext>>,
    /// `B̄ ⊙ X` blocks (client-side preconditioning saves a level).
    pub x_scaled: Vec<Vec<Ciphertext>>,
    /// One-hot labels at f = 0, one per sample block.
    pub labels: Vec<Ciphertext>,
    /// Initial weights (W₀ = V₀), one per feature block.
    pub weights: Vec<Ciphertext>,
}

impl EncryptedDataset {
    /// Number of ciphertexts in the upload.
    pub fn num_ciphertexts(&self) -> usize {
        self.x.iter().map(Vec::len).sum::<usize>()
            + self.x_scaled.iter().map(Vec::len).sum::<usize>()
            + self.labels.len()
            + self.weights.len()
    }
}

/// The trained model, still encrypted: both Nesterov sequences.
#[derive(Clone, Debug)]
pub struct EncryptedModel {
    /// W blocks (the averaged sequence).
    pub w: Vec<Ciphertext>,
    /// V blocks (the look-ahead sequence, where gradients are taken).
    pub v: Vec<Ciphertext>,
    /// Iterations run.
    pub iterations: usize,
}

/// Operation counts of a training run.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct TrainStats {
    /// Rotations (each one key switch).
    pub rotations: usize,
    /// Relinearizations (each one key switch).
    pub relinearizations: usize,
    /// Refreshes (bootstraps) of the model state W, V.
    pub refreshes: usize,
    /// Ciphertext × ciphertext products (tensor only).
    pub ct_ct_products: usize,
}

impl TrainStats {
    /// Total key switches.
    pub fn key_switches(&self) -> usize {
        self.rotations + self.relinearizations
    }
}

/// Client side: encrypts the upload with the secret key (seeded "a" parts
/// halve its size) and decrypts the model.
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

    /// Encrypts `x` (bias column included), `x_scaled = B̄ ⊙ x`, the labels
    /// and the initial weights `init` at the top level.
    pub fn encrypt_dataset(
        &self,
        x: &[Vec<f64>],
        x_scaled: &[Vec<f64>],
        labels: &[u8],
        classes: usize,
        init: &[Vec<f64>],
        layout: Layout,
    ) -> Result<EncryptedDataset, TrainError> {
        let ctx = self.sk.context();
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
        let level = self.level;
        let scale = ctx.params().scale();
        let dec = Decryptor::new(self.sk);
        let enc = |v: Vec<f64>| -> Result<Ciphertext, TrainError> {
            Ok(dec.encrypt_symmetric(&self.encoder.encode_real(&v, layout.slots, level, scale)?)?)
        };
        let (nb, nf) = (layout.sample_blocks(n), layout.feature_blocks(d));
        let blocks = |m: &[Vec<f64>]| -> Result<Vec<Vec<Ciphertext>>, TrainError> {
            (0..nb).map(|b| (0..nf).map(|fb| enc(layout.pack_data(m, b, fb, classes))).collect()).collect()
        };
        Ok(EncryptedDataset {
            layout,
            samples: n,
            features: d,
            classes,
            x: blocks(x)?,
            x_scaled: blocks(x_scaled)?,
            labels: (0..nb).map(|b| enc(layout.pack_labels(labels, b, classes))).collect::<Result<_, _>>()?,
            weights: (0..nf).map(|fb| enc(layout.pack_weights(init, fb))).collect::<Result<_, _>>()?,
        })
    }

    /// Decrypts weight blocks into a `classes × features` matrix.
    pub fn decrypt_weights(
        &self,
        blocks: &[Ciphertext],
        layout: &Layout,
        classes: usize,
        features: usize,
    ) -> Result<Vec<Vec<f64>>, TrainError> {
        let dec = Decryptor::new(self.sk);
        let plain: Vec<Vec<f64>> =
            blocks.iter().map(|c| self.encoder.decode_real(&dec.decrypt(c)?)).collect::<Result<_, CkksError>>()?;
        Ok(layout.unpack_weights(&plain, classes, features))
    }
}

/// What the server reports while it works.
#[derive(Clone, Copy, Debug)]
pub enum TrainProgress {
    /// Iteration `iteration` (0-based) finished stage `stage` of 4.
    Stage { iteration: usize, stage: usize },
}

/// Server side: evaluation keys only.
pub struct Trainer<'a> {
    ev: Evaluator,
    encoder: Encoder,
    rlk: &'a RelinKey,
    gk: &'a GaloisKeys,
    refresher: Option<&'a dyn Refresh>,
}

impl<'a> Trainer<'a> {
    /// Server for the context of `rlk`/`gk` (which must include
    /// [`Layout::rotation_steps`]).
    pub fn new(ctx: &std::sync::Arc<hecnn_ckks::Context>, rlk: &'a RelinKey, gk: &'a GaloisKeys) -> Self {
        Self { ev: Evaluator::new(ctx), encoder: Encoder::new(ctx), rlk, gk, refresher: None }
    }

    /// Lets the trainer refresh W and V (bootstrapping) when their levels run
    /// low, so any number of iterations runs.
    pub fn with_refresh(mut self, refresher: &'a dyn Refresh) -> Self {
        self.refresher = Some(refresher);
        self
    }

    /// Runs `iterations` encrypted iterations on the upload.
    pub fn train(
        &self,
        data: &EncryptedDataset,
        iterations: usize,
        sigmoid: &Sigmoid3,
        progress: &mut dyn FnMut(TrainProgress),
    ) -> Result<(EncryptedModel, TrainStats), TrainError> {
        let l = data.layout;
        let (nb, nf) = (l.sample_blocks(data.samples), l.feature_blocks(data.features));
        if data.x.len() != nb
            || data.x_scaled.len() != nb
            || data.labels.len() != nb
            || data.weights.len() != nf
            || data.x.iter().chain(&data.x_scaled).any(|r| r.len() != nf)
        {
            return Err(TrainError::InvalidUpload("block counts do not match the layout".into()));
        }
        let all =
            data.x.iter().flatten().chain(data.x_scaled.iter().flatten()).chain(&data.labels).chain(&data.weights);
        let top = data.weights[0].level();
        for c in all {
            if c.level() != top || c.slots() != l.slots || c.num_parts() != 2 {
                return Err(TrainError::InvalidUpload("ciphertexts at mixed levels or slot counts".into()));
            }
        }
        let plan = match self.refresher {
            Some(r) => refresh_plan(top, r.level_after(), iterations)?,
            None => refresh_plan(top, 0, iterations)?,
        };
        let mut stats = TrainStats::default();
        let s_x = data.x[0][0].scale();
        let mut v = data.weights.clone();
        let mut w = data.weights.clone();
        for t in 0..iterations {
            if t == 0 && plan.contains(&0) {
                let blocks: Vec<Vec<(&Ciphertext, f64)>> = w.iter().chain(&v).map(|c| vec![(c, 1.0)]).collect();
                (w, v) = self.refresh(&blocks, &l, &mut stats)?;
            }
            let (eta, gamma) = schedule(t, data.samples);
            let step = 1.0 + gamma;
            let z = self.forward(data, &v, &mut stats)?;
            progress(TrainProgress::Stage { iteration: t, stage: 1 });
            let e = self.error(data, &z, sigmoid, step, &mut stats)?;
            progress(TrainProgress::Stage { iteration: t, stage: 2 });
            let g = self.gradient(data, &e, &mut stats)?;
            progress(TrainProgress::Stage { iteration: t, stage: 3 });
            // V' = W + (1+γ)·B̄⊙g; W' = (1−η)·V' + η·V, with W' landing on the
            // scale the next iteration's gradient will have.
            let s_g = g[0].scale();
            let mut v_next = Vec::with_capacity(nf);
            for (wb, gb) in w.iter().zip(&g) {
                let w_adj = if (wb.scale() / s_g - 1.0).abs() > 1e-12 {
                    self.ev.mul_const_rescale_to(wb, 1.0, s_g)?
                } else {
                    wb.clone()
                };
                v_next.push(self.ev.add(&w_adj, gb)?);
            }
            if plan.contains(&(t + 1)) {
                // The mix and the packing share one plaintext product per term.
                let mut blocks: Vec<Vec<(&Ciphertext, f64)>> =
                    v_next.iter().zip(&v).map(|(vn, vo)| vec![(vn, 1.0 - eta), (vo, eta)]).collect();
                blocks.extend(v_next.iter().map(|vn| vec![(vn, 1.0)]));
                (w, v) = self.refresh(&blocks, &l, &mut stats)?;
            } else {
                let target = self.next_gradient_scale(s_x, s_g, v_next[0].level()).unwrap_or(s_g);
                let mut w_next = Vec::with_capacity(nf);
                for (vn, vo) in v_next.iter().zip(&v) {
                    let a = self.ev.mul_const_rescale_to(vn, 1.0 - eta, target)?;
                    let b = self.ev.mul_const_rescale_to(vo, eta, target)?;
                    w_next.push(self.ev.add(&a, &b)?);
                }
                v = v_next;
                w = w_next;
            }
            progress(TrainProgress::Stage { iteration: t, stage: 4 });
        }
        Ok((EncryptedModel { w, v, iterations }, stats))
    }

    /// Packs block `j = Σ_i c_i·ct_i` for every `j` into one ciphertext (each
    /// term one plaintext product `c_i·mask_j ⊙ ct_i`, all landing on Δ, one
    /// rescale), refreshes it and splits the blocks into (W, V).
    fn refresh(
        &self,
        blocks: &[Vec<(&Ciphertext, f64)>],
        layout: &Layout,
        stats: &mut TrainStats,
    ) -> Result<(Vec<Ciphertext>, Vec<Ciphertext>), TrainError> {
        let r = self.refresher.ok_or_else(|| TrainError::InvalidInput("no refresh configured".into()))?;
        let level = blocks.iter().flatten().map(|(c, _)| c.level()).min().unwrap_or(0);
        if level == 0 {
            return Err(CkksError::LevelExhausted { needed: 1, level: 0 }.into());
        }
        let ctx = self.ev.context();
        let target = ctx.params().scale();
        let q = ctx.params().q[level] as f64;
        let s = super::refresh::packed_slots(layout, blocks.len());
        let mut acc: Option<Ciphertext> = None;
        for (j, terms) in blocks.iter().enumerate() {
            let mask = super::refresh::block_mask(layout, j, s);
            for &(ct, coef) in terms {
                let values: Vec<f64> = mask.iter().map(|m| m * coef).collect();
                let pt = self.encoder.encode_real(&values, layout.slots, ct.level(), target * q / ct.scale())?;
                let term = self.ev.mul_plain(ct, &pt)?;
                acc = Some(match acc {
                    None => term,
                    Some(a) => self.ev.add(&a, &term)?,
                });
            }
        }
        let packed = self.ev.rescale(&acc.ok_or_else(|| TrainError::InvalidInput("nothing to refresh".into()))?)?;
        let mut fresh = r.refresh(&packed, blocks.len(), layout)?;
        if fresh.len() != blocks.len() {
            return Err(TrainError::InvalidUpload(format!("refresh returned {} blocks", fresh.len())));
        }
        stats.refreshes += 1;
        let v = fresh.split_off(blocks.len() / 2);
        Ok((fresh, v))
    }

    /// Scale of the gradient one iteration later, when V has `s_v` at `level`.
    fn next_gradient_scale(&self, s_x: f64, s_v: f64, level: usize) -> Option<f64> {
        if level < 4 {
            return None;
        }
        let ev = &self.ev;
        let s_z = ev.product_scale(s_x, s_v, level);
        let s_a = ev.product_scale(s_z, s_z, level - 1);
        let s_e = ev.product_scale(s_a, s_a, level - 2);
        Some(ev.product_scale(s_e, s_x, level - 3))
    }

    fn rotate_sum(&self, mut ct: Ciphertext, steps: &[i64], stats: &mut TrainStats) -> Result<Ciphertext, TrainError> {
        for &s in steps {
            let r = self.ev.rotate(&ct, s, self.gk)?;
            stats.rotations += 1;
            ct = self.ev.add(&ct, &r)?;
        }
        Ok(ct)
    }

    /// `Σ_i a_i ⊙ b_i` as tensors (lazy relinearization: one key switch for
    /// the whole sum), rescaled, then rotated-and-summed over `steps`. The
    /// data blocks sit at the top level; products read their limbs in place.
    fn sum_of_products<'c>(
        &self,
        pairs: impl Iterator<Item = (&'c Ciphertext, &'c Ciphertext)>,
        steps: &[i64],
        stats: &mut TrainStats,
    ) -> Result<Ciphertext, TrainError> {
        let mut acc: Option<Ciphertext> = None;
        for (a, b) in pairs {
            let p = self.ev.mul(a, b)?;
            stats.ct_ct_products += 1;
            acc = Some(match acc {
                None => p,
                Some(s) => self.ev.add(&s, &p)?,
            });
        }
        let acc = acc.ok_or_else(|| TrainError::InvalidUpload("empty block row".into()))?;
        stats.relinearizations += 1;
        let r = self.ev.rescale(&self.ev.relinearize(&acc, self.rlk)?)?;
        self.rotate_sum(r, steps, stats)
    }

    /// `Z_b = Σ_fb X[b][fb] ⊙ V[fb]`, summed over features (at f = 0).
    fn forward(
        &self,
        data: &EncryptedDataset,
        v: &[Ciphertext],
        stats: &mut TrainStats,
    ) -> Result<Vec<Ciphertext>, TrainError> {
        let steps = data.layout.feature_sum_steps();
        data.x.iter().map(|row| self.sum_of_products(row.iter().zip(v), &steps, stats)).collect()
    }

    /// `E_b = step·mask ⊙ (Ȳ_b − σ(Z_b))`, replicated over features.
    fn error(
        &self,
        data: &EncryptedDataset,
        z: &[Ciphertext],
        sig: &Sigmoid3,
        step: f64,
        stats: &mut TrainStats,
    ) -> Result<Vec<Ciphertext>, TrainError> {
        let l = data.layout;
        let c = data.classes;
        let steps = l.feature_replicate_steps();
        let ev = &self.ev;
        z.iter()
            .zip(&data.labels)
            .map(|(zb, yb)| {
                let zz = ev.mul_relin_rescale(zb, zb, self.rlk)?;
                stats.relinearizations += 1;
                stats.ct_ct_products += 1;
                let s_a = zz.scale();
                let u = ev.mul_values_rescale_to(zb, &l.feature0_mask(c, step * sig[3]), s_a, &self.encoder)?;
                let cube = ev.mul_relin_rescale(&zz, &u, self.rlk)?;
                stats.relinearizations += 1;
                stats.ct_ct_products += 1;
                let s_e = cube.scale();
                let mut poly = cube;
                if sig[2] != 0.0 {
                    let sq = ev.mul_values_rescale_to(&zz, &l.feature0_mask(c, step * sig[2]), s_e, &self.encoder)?;
                    poly = ev.add(&poly, &sq)?;
                }
                let lin = ev.mul_values_rescale_to(zb, &l.feature0_mask(c, step * sig[1]), s_e, &self.encoder)?;
                poly = ev.add(&poly, &lin)?;
                let constant =
                    self.encoder.encode_real(&l.feature0_mask(c, step * sig[0]), l.slots, poly.level(), s_e)?;
                poly = ev.add_plain(&poly, &constant)?;
                let y = ev.mul_values_rescale_to(yb, &l.feature0_mask(c, step), s_e, &self.encoder)?;
                let e = ev.sub(&y, &poly)?;
                self.rotate_sum(e, &steps, stats)
            })
            .collect()
    }

    /// `G_fb = Σ_b E_b ⊙ (B̄⊙X)[b][fb]`, summed over samples (everywhere).
    fn gradient(
        &self,
        data: &EncryptedDataset,
        e: &[Ciphertext],
        stats: &mut TrainStats,
    ) -> Result<Vec<Ciphertext>, TrainError> {
        let steps = data.layout.sample_sum_steps();
        (0..data.weights.len())
            .map(|fb| self.sum_of_products(e.iter().zip(data.x_scaled.iter().map(|row| &row[fb])), &steps, stats))
            .collect()
    }
}
