//! Bootstrapping the model state during training.
//!
//! W and V are `2·⌈d/G⌉` ciphertexts whose slots repeat with period
//! `P = G·C` (the weights are replicated over the samples). Bootstrapping each
//! would cost one bootstrap per block; instead they are **packed** into one
//! sparse `s`-slot ciphertext (`s = next_pow2(blocks·P)`): block `j` is masked
//! to the positions `≡ [jP, (j+1)P) mod s` and the masked blocks are summed;
//! the trainer folds the masks into the Nesterov mix's plaintext products, so
//! packing costs no extra level. One bootstrap refreshes all of them; each block
//! is then masked out again and replicated over the period with
//! `log2(s/P)` rotations. The data X never needs bootstrapping: products
//! read its top-level limbs in place.

use super::server::{Refresh, TrainError};
use crate::packing::Layout;
use hecnn_ckks::circuits::{rotations_by_hops, BootstrapKeys, Bootstrapper};
use hecnn_ckks::{Ciphertext, CkksError, Encoder, EvaluationKeySet, Evaluator, GaloisKeys, Plaintext, RelinKey};
use std::cell::Cell;
use std::time::Instant;

/// A [`Refresh`] by packed sparse bootstrapping (server side, public keys only).
pub struct BootstrapRefresh<'a> {
    boot: &'a Bootstrapper,
    keys: &'a BootstrapKeys,
    rlk: &'a RelinKey,
    gk: &'a GaloisKeys,
    ev: Evaluator,
    encoder: Encoder,
    /// Wall time spent inside the bootstraps so far (reports).
    seconds: Cell<f64>,
}

impl<'a> BootstrapRefresh<'a> {
    /// Refresher over `boot` with the bootstrapping keys of `keys` (whose
    /// Galois keys must hold [`unpack_steps`] for the layout).
    pub fn new(keys: &'a EvaluationKeySet, boot: &'a Bootstrapper) -> Result<Self, TrainError> {
        let ctx = keys.context();
        let bk = keys
            .bootstrap()
            .ok_or_else(|| CkksError::MissingBootstrapKeys("the key set has no bootstrapping keys".into()))?;
        Ok(Self {
            boot,
            keys: bk,
            rlk: keys.relin(),
            gk: keys.galois(),
            ev: Evaluator::new(ctx),
            encoder: Encoder::new(ctx),
            seconds: Cell::new(0.0),
        })
    }

    /// Seconds spent bootstrapping so far (without the unpacking).
    pub fn bootstrap_seconds(&self) -> f64 {
        self.seconds.get()
    }
}

/// Sparse slot count that holds `blocks` blocks of the layout's period.
pub fn packed_slots(layout: &Layout, blocks: usize) -> usize {
    (blocks * period(layout)).next_power_of_two()
}

/// Rotation steps the unpacking needs: `P·2^k` up to half the packed slots.
pub fn unpack_steps(layout: &Layout, blocks: usize) -> Vec<i64> {
    let (p, s) = (period(layout), packed_slots(layout, blocks));
    std::iter::successors(Some(p), |&x| (2 * x < s).then_some(2 * x)).filter(|&x| x < s).map(|x| x as i64).collect()
}

fn period(layout: &Layout) -> usize {
    layout.features_per_block * layout.class_slots
}

/// Mask of the slots `≡ [jP, (j+1)P) mod s` over the full vector.
pub fn block_mask(layout: &Layout, j: usize, s: usize) -> Vec<f64> {
    let p = period(layout);
    (0..layout.slots).map(|i| if (i % s) / p == j { 1.0 } else { 0.0 }).collect()
}

impl Refresh for BootstrapRefresh<'_> {
    fn level_after(&self) -> usize {
        self.boot.levels_left() - 1
    }

    fn refresh(&self, packed: &Ciphertext, blocks: usize, layout: &Layout) -> Result<Vec<Ciphertext>, TrainError> {
        let ev = &self.ev;
        let s = packed_slots(layout, blocks);
        if s > layout.slots {
            return Err(TrainError::InvalidInput(format!(
                "{blocks} state blocks of {} slots do not fit one ciphertext",
                period(layout)
            )));
        }
        let low = ev.reinterpret_slots(&ev.drop_to_level(packed, 0)?, s)?;
        let t = Instant::now();
        let fresh = self.boot.bootstrap(&low, self.rlk, self.keys)?;
        self.seconds.set(self.seconds.get() + t.elapsed().as_secs_f64());
        let fresh = ev.reinterpret_slots(&fresh, layout.slots)?;
        unpack(ev, &self.encoder, &fresh, blocks, layout, self.gk)
    }
}

/// Splits a packed ciphertext into its blocks, each replicated over the
/// layout's period. With `r = s/P` block positions per period of the
/// packed slots, position i of `R^{kP}(packed)` holds block `(i + k) mod r`,
/// so block j replicated is `Σ_i mask_i ⊙ R^{(j−i) mod r · P}(packed)`
/// (`mask_i` the slots at position i): the `r − 1` rotations are made once
/// for all blocks — from one another by the keys `P·2^k` of
/// [`unpack_steps`], children of one parent sharing its decomposition — and
/// each block is one plaintext dot product (one level). `r − 1` key
/// switches per refresh instead of `log2(r)` per block (7 instead of 24
/// for 8 blocks).
pub fn unpack(
    ev: &Evaluator,
    encoder: &Encoder,
    packed: &Ciphertext,
    blocks: usize,
    layout: &Layout,
    gk: &GaloisKeys,
) -> Result<Vec<Ciphertext>, TrainError> {
    let (p, s) = (period(layout), packed_slots(layout, blocks));
    let r = s / p;
    let level = packed.level();
    if level == 0 {
        return Err(CkksError::LevelExhausted { needed: 1, level: 0 }.into());
    }
    let target = packed.scale();
    let q_l = ev.context().params().q()[level] as f64;
    let step = |k: usize| (k * p) as i64;
    // Rotation kP from (k − lowbit(k))·P by the key lowbit(k)·P.
    let parent = |x: i64| {
        let k = x / p as i64;
        (k - (k & -k)) * p as i64
    };
    let rotated = rotations_by_hops(ev, packed, (1..r).map(step).collect(), parent, gk)?;
    let masks: Vec<Plaintext> = (0..r)
        .map(|i| encoder.encode_real(&block_mask(layout, i, s), layout.slots, level, q_l))
        .collect::<Result<_, _>>()?;
    (0..blocks)
        .map(|j| {
            let terms: Vec<(&Ciphertext, &Plaintext)> =
                masks.iter().enumerate().map(|(i, m)| (&rotated[&step((j + r - i) % r)], m)).collect();
            Ok(ev.rescale_to(&ev.dot_plain(&terms)?, target)?)
        })
        .collect()
}
