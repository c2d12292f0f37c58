//! Server side of encrypted MLR training: quadratic-gradient Nesterov
//! iterations on ciphertexts with one [`EvaluationKeySet`] and nothing that
//! decrypts. (The client side — encryption of the upload, decryption and
//! checks of the model — is `mlr::client`, behind the `client` feature.)
//!
//! Depth per iteration is 4 on the critical path (`X·Vᵀ` 1, degree-3
//! sigmoid 2, gradient 1); the mask and the step size `1+γ_t` ride on the
//! sigmoid's plaintext multiplications, and the Nesterov mix of W costs one
//! level off the critical path. So T iterations need `4T + 1` levels.

use super::refresh::BootstrapRefresh;
use super::schedule::schedule;
use crate::packing::Layout;
use hecnn_ckks::circuits::{BootstrapConfig, Bootstrapper};
use hecnn_ckks::{
    Ciphertext, CkksError, Context, Encoder, EvaluationKeySet, Evaluator, GaloisKeys, Plaintext, RelinKey,
    SeededCiphertext,
};
use serde::Serialize;
use std::ops::ControlFlow;
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
    /// The caller asked to stop (its progress callback said so); the last
    /// checkpoint it was given is where to resume.
    #[error("stopped after {iterations} completed iterations")]
    Stopped { iterations: usize },
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

/// Levels between the data and the error `E` that meets `B̄ ⊙ X` in the
/// gradient (`X·Vᵀ` 1, sigmoid 2): `B̄ ⊙ X` is only ever used that low,
/// so the client encrypts it there — 3 of the 10 limbs of `training-2iter`
/// less for half of the upload.
pub const SCALED_DATA_LEVELS_BELOW: usize = 3;

/// Level of `B̄ ⊙ X` for data at `level` ([`SCALED_DATA_LEVELS_BELOW`] lower).
pub fn scaled_data_level(level: usize) -> usize {
    level.saturating_sub(SCALED_DATA_LEVELS_BELOW)
}

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
/// use hecnn_ml::mlr::server::refresh_plan;
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

/// Everything the client uploads for training (ciphertexts only). The
/// client makes it of [`SeededCiphertext`]s (what travels); the server
/// [`expand`](EncryptedDataset::expand)s it to full ciphertexts.
#[derive(Clone, Debug)]
pub struct EncryptedDataset<C = Ciphertext> {
    /// Block layout.
    pub layout: Layout,
    /// Samples n.
    pub samples: usize,
    /// Features d (bias column included).
    pub features: usize,
    /// Classes c.
    pub classes: usize,
    /// `X` blocks `[sample block][feature block]`.
    pub x: Vec<Vec<C>>,
    /// `B̄ ⊙ X` blocks (client-side preconditioning saves a level).
    pub x_scaled: Vec<Vec<C>>,
    /// One-hot labels at f = 0, one per sample block.
    pub labels: Vec<C>,
    /// Initial weights (W₀ = V₀), one per feature block.
    pub weights: Vec<C>,
}

impl<C> EncryptedDataset<C> {
    /// Number of ciphertexts in the upload.
    pub fn num_ciphertexts(&self) -> usize {
        self.x.iter().map(Vec::len).sum::<usize>()
            + self.x_scaled.iter().map(Vec::len).sum::<usize>()
            + self.labels.len()
            + self.weights.len()
    }

    /// Every ciphertext with its role and index (`x/b/f`, `xs/b/f`, `y/b`,
    /// `w0/f`): the order and names the upload files use.
    pub fn labelled(&self) -> Vec<(String, &C)> {
        let mut out = Vec::with_capacity(self.num_ciphertexts());
        for (prefix, blocks) in [("x", &self.x), ("xs", &self.x_scaled)] {
            for (b, row) in blocks.iter().enumerate() {
                out.extend(row.iter().enumerate().map(|(f, c)| (format!("{prefix}/{b}/{f}"), c)));
            }
        }
        out.extend(self.labels.iter().enumerate().map(|(b, c)| (format!("y/{b}"), c)));
        out.extend(self.weights.iter().enumerate().map(|(f, c)| (format!("w0/{f}"), c)));
        out
    }

    /// The same dataset with `f` applied to every ciphertext.
    pub fn try_map<D, E>(&self, f: impl Fn(&C) -> Result<D, E>) -> Result<EncryptedDataset<D>, E> {
        let rows =
            |m: &Vec<Vec<C>>| -> Result<Vec<Vec<D>>, E> { m.iter().map(|r| r.iter().map(&f).collect()).collect() };
        Ok(EncryptedDataset {
            layout: self.layout,
            samples: self.samples,
            features: self.features,
            classes: self.classes,
            x: rows(&self.x)?,
            x_scaled: rows(&self.x_scaled)?,
            labels: self.labels.iter().map(&f).collect::<Result<_, _>>()?,
            weights: self.weights.iter().map(&f).collect::<Result<_, _>>()?,
        })
    }
}

impl EncryptedDataset<SeededCiphertext> {
    /// Full ciphertexts, each `c_1` regenerated from its seed (server side).
    pub fn expand(&self, ctx: &Context) -> Result<EncryptedDataset<Ciphertext>, TrainError> {
        Ok(self.try_map(|c| c.expand(ctx))?)
    }
}

/// What the Nesterov step of a run needs ([`Trainer::step_plan`]): the
/// driver of a sharded run keeps this while workers hold the data.
#[derive(Clone, Debug, PartialEq)]
pub struct StepPlan {
    /// Block layout.
    pub layout: Layout,
    /// Samples n (all shards).
    pub samples: usize,
    /// Scale of the X blocks.
    pub x_scale: f64,
    /// Iterations before which W and V are refreshed ([`refresh_plan`]).
    pub plan: Vec<usize>,
}

impl EncryptedDataset {
    /// Shard `k` of `shards`: a contiguous run of sample blocks (X, B̄⊙X,
    /// labels) with the job's metadata and W₀ — what one worker holds.
    pub fn shard(&self, k: usize, shards: usize) -> Result<EncryptedDataset, TrainError> {
        let nb = self.x.len();
        let range = crate::upload::shard_range(nb, k, shards)
            .ok_or_else(|| TrainError::InvalidInput(format!("shard {k} of {shards} ({nb} sample blocks)")))?;
        Ok(EncryptedDataset {
            layout: self.layout,
            samples: self.samples,
            features: self.features,
            classes: self.classes,
            x: self.x[range.clone()].to_vec(),
            x_scaled: self.x_scaled[range.clone()].to_vec(),
            labels: self.labels[range].to_vec(),
            weights: self.weights.clone(),
        })
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
    /// Seconds spent inside those bootstraps (part of the training time).
    pub bootstrap_seconds: f64,
}

impl TrainStats {
    /// Total key switches.
    pub fn key_switches(&self) -> usize {
        self.rotations + self.relinearizations
    }
}

/// What the server reports while it works.
#[derive(Clone, Copy, Debug)]
pub enum TrainProgress<'a> {
    /// Iteration `iteration` (0-based) finished stage `stage` of 4.
    Stage { iteration: usize, stage: usize },
    /// `model.iterations` iterations are done and W, V stand as given: a
    /// checkpoint that [`Trainer::train_from`] resumes from, to the same
    /// result (the server's arithmetic is deterministic).
    Checkpoint(&'a EncryptedModel),
}

/// Keys of one training stage with their `a` parts in memory
/// ([`Trainer::stage_keys`]).
struct StageKeys {
    gk: GaloisKeys,
    rlk: RelinKey,
}

/// Server side: evaluation keys only.
pub struct Trainer<'a> {
    ev: Evaluator,
    encoder: Encoder,
    rlk: &'a hecnn_ckks::RelinKey,
    gk: &'a hecnn_ckks::GaloisKeys,
    refresher: Option<&'a dyn Refresh>,
}

impl<'a> Trainer<'a> {
    /// Server for the context of `keys` (whose Galois keys must include
    /// [`Layout::rotation_steps`]).
    pub fn new(keys: &'a EvaluationKeySet) -> Self {
        let ctx = keys.context();
        Self {
            ev: Evaluator::new(ctx),
            encoder: Encoder::new(ctx),
            rlk: keys.relin(),
            gk: keys.galois(),
            refresher: None,
        }
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
        self.train_from(data, None, iterations, sigmoid, &mut |p| {
            progress(p);
            ControlFlow::Continue(())
        })
    }

    /// Runs iterations `start.iterations .. iterations` (all of them without
    /// a start), from W and V of a [`TrainProgress::Checkpoint`] of a run of
    /// the same `iterations` on the same data; a checkpoint at other levels
    /// or block counts is refused. `control` sees every stage and
    /// checkpoint; `Break` stops the run with [`TrainError::Stopped`].
    pub fn train_from(
        &self,
        data: &EncryptedDataset,
        start: Option<EncryptedModel>,
        iterations: usize,
        sigmoid: &Sigmoid3,
        control: &mut dyn FnMut(TrainProgress) -> ControlFlow<()>,
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
        let top = data.weights[0].level();
        // X, labels and W₀ at one level; B̄ ⊙ X at one level of its own, as
        // low as the gradient (where it is used) or higher.
        let xs_level = data.x_scaled[0][0].level();
        let levels = data.x.iter().flatten().chain(&data.labels).chain(&data.weights).map(|c| (c, top));
        for (c, level) in levels.chain(data.x_scaled.iter().flatten().map(|c| (c, xs_level))) {
            if c.level() != level || c.slots() != l.slots || c.num_parts() != 2 {
                return Err(TrainError::InvalidUpload("ciphertexts at mixed levels or slot counts".into()));
            }
        }
        if xs_level > top || xs_level < scaled_data_level(top) {
            return Err(TrainError::InvalidUpload(format!(
                "B̄⊙X at level {xs_level}: the gradient needs it between {} and the data's {top}",
                scaled_data_level(top)
            )));
        }
        // A refresh above the data's level buys nothing: the next products
        // with X land where X is.
        let after = self.refresher.map(|r| r.level_after().min(top));
        let plan = refresh_plan(top, after.unwrap_or(0), iterations)?;
        let (mut w, mut v, first) = match start {
            None => (data.weights.clone(), data.weights.clone(), 0),
            Some(m) => {
                check_checkpoint(&m, nf, &l, levels_after(top, after, iterations, m.iterations)?)?;
                (m.w, m.v, m.iterations)
            }
        };
        let stop = |flow: ControlFlow<()>, done: usize| match flow {
            ControlFlow::Continue(()) => Ok(()),
            ControlFlow::Break(()) => Err(TrainError::Stopped { iterations: done }),
        };
        let mut stats = TrainStats::default();
        let sp = StepPlan { layout: l, samples: data.samples, x_scale: data.x[0][0].scale(), plan };
        for t in first..iterations {
            if t == 0 {
                (w, v) = self.start(w, v, &sp, &mut stats)?;
            }
            let g = self.iteration_gradient(data, &v, t, sigmoid, &mut stats, &mut |stage| {
                stop(control(TrainProgress::Stage { iteration: t, stage }), t)
            })?;
            (w, v) = self.update(w, v, &g, t, &sp, &mut stats)?;
            stop(control(TrainProgress::Stage { iteration: t, stage: 4 }), t + 1)?;
            let model = EncryptedModel { w, v, iterations: t + 1 };
            stop(control(TrainProgress::Checkpoint(&model)), t + 1)?;
            (w, v) = (model.w, model.v);
        }
        Ok((EncryptedModel { w, v, iterations }, stats))
    }

    /// What the Nesterov step of a run of `iterations` on `data` needs:
    /// what a driver of a sharded run keeps while workers hold the data.
    pub fn step_plan(&self, data: &EncryptedDataset, iterations: usize) -> Result<StepPlan, TrainError> {
        let top = data.weights.first().ok_or_else(|| TrainError::InvalidUpload("no weight blocks".into()))?.level();
        let x_scale = data.x.first().and_then(|r| r.first()).map(Ciphertext::scale);
        let x_scale = x_scale.ok_or_else(|| TrainError::InvalidUpload("no data blocks".into()))?;
        let after = self.refresher.map(|r| r.level_after().min(top));
        let plan = refresh_plan(top, after.unwrap_or(0), iterations)?;
        Ok(StepPlan { layout: data.layout, samples: data.samples, x_scale, plan })
    }

    /// W, V before the first iteration: refreshed when the plan says so.
    pub fn start(
        &self,
        w: Vec<Ciphertext>,
        v: Vec<Ciphertext>,
        sp: &StepPlan,
        stats: &mut TrainStats,
    ) -> Result<(Vec<Ciphertext>, Vec<Ciphertext>), TrainError> {
        if !sp.plan.contains(&0) {
            return Ok((w, v));
        }
        let blocks: Vec<Vec<(&Ciphertext, f64)>> = w.iter().chain(&v).map(|c| vec![(c, 1.0)]).collect();
        self.refresh(&blocks, &sp.layout, stats)
    }

    /// Iteration `t`'s gradient over the sample blocks `data` holds — the
    /// whole upload, or one shard of it ([`EncryptedDataset::shard`]): the
    /// shards' gradients add up (ciphertext additions) to the whole one's,
    /// up to rounding. Feed the sum to [`Trainer::update`].
    pub fn gradient(
        &self,
        data: &EncryptedDataset,
        v: &[Ciphertext],
        t: usize,
        sigmoid: &Sigmoid3,
        stats: &mut TrainStats,
    ) -> Result<Vec<Ciphertext>, TrainError> {
        check_shard(data, v.len())?;
        self.iteration_gradient(data, v, t, sigmoid, stats, &mut |_| Ok(()))
    }

    /// [`Trainer::gradient`] over sample blocks that arrive in parts (each
    /// item of `parts` a data set of a few sample blocks, read when it is
    /// needed), with one part at a time in memory — training on more data
    /// than memory holds. The parts' gradient sums are added before their
    /// relinearization and sum over samples, so the key switches are those
    /// of one [`Trainer::gradient`] over all the blocks, and so is the
    /// result, bit for bit.
    pub fn gradient_in_parts<E: From<TrainError>>(
        &self,
        parts: impl Iterator<Item = Result<EncryptedDataset, E>>,
        v: &[Ciphertext],
        t: usize,
        sigmoid: &Sigmoid3,
        stats: &mut TrainStats,
    ) -> Result<Vec<Ciphertext>, E> {
        let mut sum: Option<(Vec<Ciphertext>, Layout)> = None;
        for part in parts {
            let part = part?;
            check_shard(&part, v.len())?;
            let tensors = self.gradient_tensors(&part, v, t, sigmoid, stats, &mut |_| Ok(()))?;
            sum = Some(match sum {
                None => (tensors, part.layout),
                Some((acc, l)) if l == part.layout => {
                    let added = acc.iter().zip(&tensors).map(|(a, b)| self.ev.add(a, b)).collect::<Result<_, _>>();
                    (added.map_err(TrainError::from)?, l)
                }
                Some(_) => return Err(TrainError::InvalidUpload("parts of different layouts".into()).into()),
            });
        }
        let (acc, layout) = sum.ok_or_else(|| TrainError::InvalidUpload("no sample blocks".into()))?;
        let steps = layout.sample_sum_steps();
        let keys = self.stage_keys(&steps, acc.first().map_or(0, Ciphertext::level));
        Ok(acc.iter().map(|a| self.finish_sum(a, &steps, &keys, stats)).collect::<Result<_, _>>()?)
    }

    fn iteration_gradient(
        &self,
        data: &EncryptedDataset,
        v: &[Ciphertext],
        t: usize,
        sigmoid: &Sigmoid3,
        stats: &mut TrainStats,
        stage: &mut dyn FnMut(usize) -> Result<(), TrainError>,
    ) -> Result<Vec<Ciphertext>, TrainError> {
        let tensors = self.gradient_tensors(data, v, t, sigmoid, stats, stage)?;
        let steps = data.layout.sample_sum_steps();
        let keys = self.stage_keys(&steps, tensors.first().map_or(0, Ciphertext::level));
        let g = tensors.iter().map(|a| self.finish_sum(a, &steps, &keys, stats)).collect::<Result<_, _>>()?;
        stage(3)?;
        Ok(g)
    }

    /// `Σ_b E_b ⊙ (B̄⊙X)[b][fb]` per feature block as tensors — the
    /// gradient before its relinearization and sum over samples
    /// ([`Self::finish_sum`]): `X·Vᵀ` (stage 1), the error `E` (stage 2), the
    /// products.
    fn gradient_tensors(
        &self,
        data: &EncryptedDataset,
        v: &[Ciphertext],
        t: usize,
        sigmoid: &Sigmoid3,
        stats: &mut TrainStats,
        stage: &mut dyn FnMut(usize) -> Result<(), TrainError>,
    ) -> Result<Vec<Ciphertext>, TrainError> {
        let (_, gamma) = schedule(t, data.samples);
        let z = self.forward(data, v, stats)?;
        stage(1)?;
        let e = self.error(data, &z, sigmoid, 1.0 + gamma, stats)?;
        stage(2)?;
        (0..data.weights.len())
            .map(|fb| self.tensor_sum(e.iter().zip(data.x_scaled.iter().map(|row| &row[fb])), stats))
            .collect()
    }

    /// W, V after iteration `t` from its whole gradient `g`: the Nesterov
    /// step and, where the plan says, the refresh.
    pub fn update(
        &self,
        w: Vec<Ciphertext>,
        v: Vec<Ciphertext>,
        g: &[Ciphertext],
        t: usize,
        sp: &StepPlan,
        stats: &mut TrainStats,
    ) -> Result<(Vec<Ciphertext>, Vec<Ciphertext>), TrainError> {
        let nf = w.len();
        if v.len() != nf || g.len() != nf || nf == 0 {
            return Err(TrainError::InvalidInput(format!("{} W, {} V and {} gradient blocks", nf, v.len(), g.len())));
        }
        let (eta, _) = schedule(t, sp.samples);
        // V' = W + (1+γ)·B̄⊙g; W' = (1−η)·V' + η·V, with W' landing on the
        // scale the next iteration's gradient will have.
        let s_g = g[0].scale();
        let mut v_next = Vec::with_capacity(nf);
        for (wb, gb) in w.iter().zip(g) {
            let w_adj = if (wb.scale() / s_g - 1.0).abs() > 1e-12 {
                self.ev.mul_const_rescale_to(wb, 1.0, s_g)?
            } else {
                wb.clone()
            };
            v_next.push(self.ev.add(&w_adj, gb)?);
        }
        if sp.plan.contains(&(t + 1)) {
            // The mix and the packing share one plaintext product per term.
            let mut blocks: Vec<Vec<(&Ciphertext, f64)>> =
                v_next.iter().zip(&v).map(|(vn, vo)| vec![(vn, 1.0 - eta), (vo, eta)]).collect();
            blocks.extend(v_next.iter().map(|vn| vec![(vn, 1.0)]));
            return self.refresh(&blocks, &sp.layout, stats);
        }
        let target = self.next_gradient_scale(sp.x_scale, s_g, v_next[0].level()).unwrap_or(s_g);
        let mut w_next = Vec::with_capacity(nf);
        for (vn, vo) in v_next.iter().zip(&v) {
            let a = self.ev.mul_const_rescale_to(vn, 1.0 - eta, target)?;
            let b = self.ev.mul_const_rescale_to(vo, eta, target)?;
            w_next.push(self.ev.add(&a, &b)?);
        }
        Ok((w_next, v_next))
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
        let q = ctx.params().q()[level] as f64;
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

    /// The statistics of the quadratic-gradient preconditioner, computed on
    /// the encrypted features: per feature block, `s_j = Σ_i x_ij · Σ_l x_il`
    /// in every sample position and class slot `k < c` (0 elsewhere). For
    /// non-negative features (a backbone that ends in ReLU and max-pool)
    /// `B̄_j = 1 / (ε + ¼ s_j)`, which the client computes after decrypting
    /// these aggregates of its own data
    /// ([`super::client::TrainingClient::preconditioner_from_statistics`]):
    /// a client that never sees its features can still precondition
    /// (`docs/encrypted-transfer-learning.md`). Two levels below the data;
    /// `⌈n/I⌉·2·log2 G + ⌈d/G⌉·log2 I` rotations.
    pub fn preconditioner_statistics(
        &self,
        data: &EncryptedDataset,
    ) -> Result<(Vec<Ciphertext>, TrainStats), TrainError> {
        let l = data.layout;
        let ev = &self.ev;
        let mut stats = TrainStats::default();
        let blocks = data.x.first().map_or(0, Vec::len);
        if data.x.iter().any(|row| row.len() != blocks) {
            return Err(TrainError::InvalidUpload("block rows of different lengths".into()));
        }
        // Σ_l x_il at f = 0 (all feature blocks of a sample block added first),
        // masked to f = 0 and replicated over the features.
        let mut rows = Vec::with_capacity(data.x.len());
        let level = data.x.first().and_then(|r| r.first()).map_or(0, Ciphertext::level);
        // Rotations only (no relinearization until the sum over samples).
        let (sum_keys, replicate_keys) = (
            self.rotation_keys(&l.feature_sum_steps(), level),
            self.rotation_keys(&l.feature_replicate_steps(), level.saturating_sub(1)),
        );
        for row in &data.x {
            let (first, rest) = row.split_first().ok_or_else(|| TrainError::InvalidUpload("empty block row".into()))?;
            let mut sum = first.clone();
            for c in rest {
                sum = ev.add(&sum, c)?;
            }
            let sum = self.rotate_sum(sum, &l.feature_sum_steps(), &sum_keys, &mut stats)?;
            let masked =
                ev.mul_values_rescale_to(&sum, &l.feature0_mask(data.classes, 1.0), sum.scale(), &self.encoder)?;
            rows.push(self.rotate_sum(masked, &l.feature_replicate_steps(), &replicate_keys, &mut stats)?);
        }
        drop((sum_keys, replicate_keys));
        let steps = l.sample_sum_steps();
        let keys = self.stage_keys(&steps, level);
        let s = (0..blocks)
            .map(|fb| {
                self.sum_of_products(rows.iter().zip(data.x.iter().map(|row| &row[fb])), &steps, &keys, &mut stats)
            })
            .collect::<Result<_, _>>()?;
        Ok((s, stats))
    }

    /// The rotation keys of `steps` and the relinearization key with their
    /// `a` parts generated once, up to `level`, for a stage that uses them
    /// on every block. A seeded key regenerates its `a` at each key switch
    /// (about a third of one at the training's levels); a stage over four
    /// blocks then pays one generation per key instead of four, holding
    /// ≈ 17 MB per key (at the bootstrappable preset's data level) until it
    /// ends. Expanded keys give the same results bit for bit.
    fn stage_keys(&self, steps: &[i64], level: usize) -> StageKeys {
        StageKeys { gk: self.rotation_keys(steps, level), rlk: self.rlk.expanded(self.ev.context(), level) }
    }

    /// [`Self::stage_keys`] for a stage that only rotates.
    fn rotation_keys(&self, steps: &[i64], level: usize) -> GaloisKeys {
        let ctx = self.ev.context();
        let elements: Vec<u64> = steps.iter().map(|&s| ctx.galois_element(s)).collect();
        self.gk.expanded(ctx, &elements, level)
    }

    fn rotate_sum(
        &self,
        ct: Ciphertext,
        steps: &[i64],
        gk: &GaloisKeys,
        stats: &mut TrainStats,
    ) -> Result<Ciphertext, TrainError> {
        stats.rotations += steps.len();
        Ok(self.ev.rotate_sum(&ct, steps, gk)?)
    }

    /// `Σ_i a_i ⊙ b_i` as tensors (lazy relinearization: one key switch for
    /// the whole sum), rescaled, then rotated-and-summed over `steps`. The
    /// data blocks sit at the top level; products read their limbs in place.
    fn sum_of_products<'c>(
        &self,
        pairs: impl Iterator<Item = (&'c Ciphertext, &'c Ciphertext)>,
        steps: &[i64],
        keys: &StageKeys,
        stats: &mut TrainStats,
    ) -> Result<Ciphertext, TrainError> {
        let acc = self.tensor_sum(pairs, stats)?;
        self.finish_sum(&acc, steps, keys, stats)
    }

    /// `Σ_i a_i ⊙ b_i` as one tensor (three parts, neither relinearized nor
    /// rescaled). Such sums add exactly (integers mod q): sums over parts of
    /// a data set, added, equal the sum over the whole, bit for bit.
    fn tensor_sum<'c>(
        &self,
        pairs: impl Iterator<Item = (&'c Ciphertext, &'c Ciphertext)>,
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
        acc.ok_or_else(|| TrainError::InvalidUpload("empty block row".into()))
    }

    /// A [`Self::tensor_sum`] relinearized (one key switch), rescaled, then
    /// rotated-and-summed over `steps`.
    fn finish_sum(
        &self,
        acc: &Ciphertext,
        steps: &[i64],
        keys: &StageKeys,
        stats: &mut TrainStats,
    ) -> Result<Ciphertext, TrainError> {
        stats.relinearizations += 1;
        let r = self.ev.rescale(&self.ev.relinearize(acc, &keys.rlk)?)?;
        self.rotate_sum(r, steps, &keys.gk, stats)
    }

    /// `Z_b = Σ_fb X[b][fb] ⊙ V[fb]`, summed over features (at f = 0).
    fn forward(
        &self,
        data: &EncryptedDataset,
        v: &[Ciphertext],
        stats: &mut TrainStats,
    ) -> Result<Vec<Ciphertext>, TrainError> {
        let steps = data.layout.feature_sum_steps();
        let level = data.x.first().and_then(|r| r.first()).map_or(0, Ciphertext::level);
        let keys = self.stage_keys(&steps, level);
        data.x.iter().map(|row| self.sum_of_products(row.iter().zip(v), &steps, &keys, stats)).collect()
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
        let keys = self.stage_keys(&steps, z.first().map_or(0, Ciphertext::level));
        let mut masks = MaskCache::new(self, l, c);
        z.iter()
            .zip(&data.labels)
            .map(|(zb, yb)| {
                let zz = ev.mul_relin_rescale(zb, zb, &keys.rlk)?;
                stats.relinearizations += 1;
                stats.ct_ct_products += 1;
                let s_a = zz.scale();
                let u = masks.mul_rescale_to(zb, step * sig[3], s_a)?;
                let cube = ev.mul_relin_rescale(&zz, &u, &keys.rlk)?;
                stats.relinearizations += 1;
                stats.ct_ct_products += 1;
                let s_e = cube.scale();
                let mut poly = cube;
                if sig[2] != 0.0 {
                    let sq = masks.mul_rescale_to(&zz, step * sig[2], s_e)?;
                    poly = ev.add(&poly, &sq)?;
                }
                let lin = masks.mul_rescale_to(zb, step * sig[1], s_e)?;
                poly = ev.add(&poly, &lin)?;
                poly = ev.add_plain(&poly, masks.get(step * sig[0], poly.level(), s_e)?)?;
                let y = masks.mul_rescale_to(yb, step, s_e)?;
                let e = ev.sub(&y, &poly)?;
                self.rotate_sum(e, &steps, &keys.gk, stats)
            })
            .collect()
    }
}

/// The error stage's plaintexts `coef · mask` (the mask of f = 0 and the
/// first c class slots), each encoded once per level and scale: every
/// sample block's ciphertexts have the same levels and scales, so the
/// blocks share them (5 encodings per iteration instead of 5 per block).
struct MaskCache<'t, 'a> {
    trainer: &'t Trainer<'a>,
    layout: Layout,
    classes: usize,
    encoded: Vec<((u64, usize, u64), Plaintext)>,
}

impl<'t, 'a> MaskCache<'t, 'a> {
    fn new(trainer: &'t Trainer<'a>, layout: Layout, classes: usize) -> Self {
        Self { trainer, layout, classes, encoded: Vec::new() }
    }

    /// `coef · mask` encoded at `level` and `scale`.
    fn get(&mut self, coef: f64, level: usize, scale: f64) -> Result<&Plaintext, TrainError> {
        let key = (coef.to_bits(), level, scale.to_bits());
        let i = match self.encoded.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                let values = self.layout.feature0_mask(self.classes, coef);
                let pt = self.trainer.encoder.encode_real(&values, self.layout.slots, level, scale)?;
                self.encoded.push((key, pt));
                self.encoded.len() - 1
            }
        };
        Ok(&self.encoded[i].1)
    }

    /// `ct ⊙ coef·mask`, rescaled, landing on exactly `target`
    /// ([`Evaluator::mul_values_rescale_to`] with the plaintext reused).
    fn mul_rescale_to(&mut self, ct: &Ciphertext, coef: f64, target: f64) -> Result<Ciphertext, TrainError> {
        let level = ct.level();
        if level == 0 {
            return Err(CkksError::LevelExhausted { needed: 1, level: 0 }.into());
        }
        let ev = &self.trainer.ev;
        let pt_scale = target * ev.context().params().q()[level] as f64 / ct.scale();
        let pt = self.get(coef, level, pt_scale)?;
        Ok(ev.rescale_to(&ev.mul_plain(ct, pt)?, target)?)
    }
}

/// A shard's (or part's) block counts against its layout and V's `nf` blocks.
fn check_shard(data: &EncryptedDataset, nf: usize) -> Result<(), TrainError> {
    if data.x.is_empty()
        || data.x.len() != data.x_scaled.len()
        || data.x.len() != data.labels.len()
        || nf != data.layout.feature_blocks(data.features)
        || data.x.iter().chain(&data.x_scaled).any(|r| r.len() != nf)
    {
        return Err(TrainError::InvalidUpload("block counts of the shard do not match".into()));
    }
    Ok(())
}

/// Levels of (W, V) after `iterations` iterations that start at level
/// `top`, with refreshes back to `level_after` where [`refresh_plan`] puts
/// them (`None`: no refresh). The client checks a returned model against it.
pub fn model_levels(top: usize, level_after: Option<usize>, iterations: usize) -> Result<(usize, usize), TrainError> {
    levels_after(top, level_after, iterations, iterations)
}

/// Levels of (W, V) after the first `done` of `iterations` iterations (a
/// checkpoint: a refresh planned for the next iteration is already done).
pub fn levels_after(
    top: usize,
    level_after: Option<usize>,
    iterations: usize,
    done: usize,
) -> Result<(usize, usize), TrainError> {
    // As in the trainer: after a refresh, W and V work at most at the data's level.
    let after = level_after.unwrap_or(0).min(top);
    let plan = refresh_plan(top, after, iterations)?;
    let (mut w, mut v) = (top, top);
    for t in 0..done.min(iterations) {
        if t == 0 && plan.contains(&0) {
            v = after;
        }
        // The gradient, and with it V' = W + G, lands 4 levels below V; the
        // Nesterov mix puts W' one level below V' (or both are refreshed).
        let v_next = v.checked_sub(4).ok_or(TrainError::LevelBudget { iterations, needed: 4, available: v })?;
        (w, v) = if plan.contains(&(t + 1)) { (after, after) } else { (v_next.saturating_sub(1), v_next) };
    }
    Ok((w, v))
}

/// A checkpoint's shape: `nf` blocks each of W and V, at `levels`, in the layout's slots.
fn check_checkpoint(m: &EncryptedModel, nf: usize, l: &Layout, levels: (usize, usize)) -> Result<(), TrainError> {
    let bad =
        |what: String| Err(TrainError::InvalidInput(format!("checkpoint after {} iterations: {what}", m.iterations)));
    if m.w.len() != nf || m.v.len() != nf {
        return bad(format!("{} and {} blocks (expected {nf})", m.w.len(), m.v.len()));
    }
    for (name, blocks, level) in [("W", &m.w, levels.0), ("V", &m.v, levels.1)] {
        if let Some(c) = blocks.iter().find(|c| c.level() != level || c.slots() != l.slots || c.num_parts() != 2) {
            return bad(format!(
                "a {name} block at level {} with {} slots (expected {level}, {})",
                c.level(),
                c.slots(),
                l.slots
            ));
        }
    }
    Ok(())
}

/// The server's whole training setup from one evaluation-key set: the
/// trainer, and — when the key set has bootstrapping keys — the
/// bootstrapper and the refresh of W and V, so any number of iterations
/// runs. The CLI, a service or a Python binding all train through this.
pub struct TrainingServer {
    keys: EvaluationKeySet,
    bootstrapper: Option<Bootstrapper>,
}

impl TrainingServer {
    /// Prepares training with `keys` (precomputes the bootstrapping
    /// transforms when the key set can bootstrap).
    pub fn new(keys: EvaluationKeySet) -> Result<Self, TrainError> {
        let bootstrapper = match keys.bootstrap() {
            Some(b) => Some(Bootstrapper::new(keys.context(), BootstrapConfig::default(), b.slots())?),
            None => None,
        };
        Ok(Self { keys, bootstrapper })
    }

    /// The evaluation keys.
    pub fn keys(&self) -> &EvaluationKeySet {
        &self.keys
    }

    /// Level W and V come back at from a refresh (`None`: no bootstrapping).
    pub fn refresh_level(&self) -> Option<usize> {
        self.bootstrapper.as_ref().map(|b| b.levels_left() - 1)
    }

    /// Runs `iterations` iterations of the paper's training on `data`.
    pub fn train(
        &self,
        data: &EncryptedDataset,
        iterations: usize,
        progress: &mut dyn FnMut(TrainProgress),
    ) -> Result<(EncryptedModel, TrainStats), TrainError> {
        self.train_from(data, None, iterations, &mut |p| {
            progress(p);
            ControlFlow::Continue(())
        })
    }

    /// [`TrainingServer::train`] from a checkpoint, stoppable: see [`Trainer::train_from`].
    pub fn train_from(
        &self,
        data: &EncryptedDataset,
        start: Option<EncryptedModel>,
        iterations: usize,
        control: &mut dyn FnMut(TrainProgress) -> ControlFlow<()>,
    ) -> Result<(EncryptedModel, TrainStats), TrainError> {
        let (result, seconds) =
            self.with_trainer(|trainer| trainer.train_from(data, start, iterations, &PAPER_SIGMOID, control))?;
        let (model, mut stats) = result?;
        stats.bootstrap_seconds = seconds;
        Ok((model, stats))
    }

    /// Runs `f` with this server's trainer (its refresh of W and V included
    /// when the keys can bootstrap); also returns the seconds spent in
    /// bootstraps. For callers that drive iterations themselves (a sharded
    /// run's driver: [`Trainer::start`], [`Trainer::update`]).
    pub fn with_trainer<R>(&self, f: impl FnOnce(&Trainer) -> R) -> Result<(R, f64), TrainError> {
        let refresh = match &self.bootstrapper {
            Some(b) => Some(BootstrapRefresh::new(&self.keys, b)?),
            None => None,
        };
        let mut trainer = Trainer::new(&self.keys);
        if let Some(r) = &refresh {
            trainer = trainer.with_refresh(r);
        }
        let r = f(&trainer);
        Ok((r, refresh.as_ref().map_or(0.0, BootstrapRefresh::bootstrap_seconds)))
    }
}
