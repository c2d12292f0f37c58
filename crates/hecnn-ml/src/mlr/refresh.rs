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
use hecnn_ckks::circuits::{BootstrapKeys, Bootstrapper};
use hecnn_ckks::{Ciphertext, CkksError, Encoder, EvaluationKeySet, Evaluator, GaloisKeys, RelinKey};
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
/// layout's period: mask (one level), then `log2(s/P)` rotations.
pub fn unpack(
    ev: &Evaluator,
    encoder: &Encoder,
    packed: &Ciphertext,
    blocks: usize,
    layout: &Layout,
    gk: &GaloisKeys,
) -> Result<Vec<Ciphertext>, TrainError> {
    let s = packed_slots(layout, blocks);
    let target = packed.scale();
    let steps = unpack_steps(layout, blocks);
    (0..blocks)
        .map(|j| {
            let mut x = ev.mul_values_rescale_to(packed, &block_mask(layout, j, s), target, encoder)?;
            for &st in &steps {
                let r = ev.rotate(&x, st, gk)?;
                x = ev.add(&x, &r)?;
            }
            Ok(x)
        })
        .collect()
}
