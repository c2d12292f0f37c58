//! Bootstrapping the model state during training.
//!
//! W and V are `2·⌈d/G⌉` ciphertexts whose slots repeat with period
//! `P = G·C` (the weights are replicated over the samples). Bootstrapping each
//! would cost one bootstrap per block; instead they are **packed** into one
//! sparse `s`-slot ciphertext (`s = next_pow2(blocks·P)`): block `j` is masked
//! to the positions `≡ [jP, (j+1)P) mod s` and the masked blocks are summed
//! (one level, one rescale). One bootstrap refreshes all of them; each block
//! is then masked out again and replicated over the period with
//! `log2(s/P)` rotations. The data X never needs bootstrapping: products
//! read its top-level limbs in place.

use super::encrypted::{Refresh, TrainError};
use crate::packing::Layout;
use hecnn_ckks::circuits::{BootstrapKeys, Bootstrapper};
use hecnn_ckks::{Ciphertext, CkksError, Context, Encoder, Evaluator, GaloisKeys, RelinKey};
use std::sync::Arc;

/// A [`Refresh`] by packed sparse bootstrapping (server side, public keys only).
pub struct BootstrapRefresh<'a> {
    boot: &'a Bootstrapper,
    keys: &'a BootstrapKeys,
    rlk: &'a RelinKey,
    gk: &'a GaloisKeys,
    ev: Evaluator,
    encoder: Encoder,
}

impl<'a> BootstrapRefresh<'a> {
    /// Refresher over `boot`; `gk` must hold [`unpack_steps`] for the layout.
    pub fn new(
        ctx: &Arc<Context>,
        boot: &'a Bootstrapper,
        keys: &'a BootstrapKeys,
        rlk: &'a RelinKey,
        gk: &'a GaloisKeys,
    ) -> Self {
        Self { boot, keys, rlk, gk, ev: Evaluator::new(ctx), encoder: Encoder::new(ctx) }
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
fn block_mask(layout: &Layout, j: usize, s: usize) -> Vec<f64> {
    let p = period(layout);
    (0..layout.slots).map(|i| if (i % s) / p == j { 1.0 } else { 0.0 }).collect()
}

impl Refresh for BootstrapRefresh<'_> {
    fn level_after(&self) -> usize {
        self.boot.levels_left() - 1
    }

    fn reserve(&self) -> usize {
        1
    }

    fn refresh(&self, cts: &[Ciphertext], layout: &Layout) -> Result<Vec<Ciphertext>, TrainError> {
        let ev = &self.ev;
        let s = packed_slots(layout, cts.len());
        if s > layout.slots {
            return Err(TrainError::InvalidInput(format!(
                "{} state blocks of {} slots do not fit one ciphertext",
                cts.len(),
                period(layout)
            )));
        }
        let first = cts.first().ok_or_else(|| TrainError::InvalidInput("nothing to refresh".into()))?;
        let level = first.level();
        if level == 0 {
            return Err(CkksError::LevelExhausted { needed: 1, level: 0 }.into());
        }
        // Pack: Σ_j mask_j ⊙ block_j, masks at q_level so one rescale keeps the scale.
        let q = ev.context().params().q[level] as f64;
        let mut acc: Option<Ciphertext> = None;
        for (j, ct) in cts.iter().enumerate() {
            let mask = self.encoder.encode_real(&block_mask(layout, j, s), layout.slots, level, q)?;
            let term = ev.mul_plain(ct, &mask)?;
            acc = Some(match acc {
                None => term,
                Some(a) => ev.add(&a, &term)?,
            });
        }
        let packed = ev.rescale(&acc.expect("non-empty"))?;
        let packed = ev.drop_to_level(&packed, 0)?;
        let packed = ev.reinterpret_slots(&packed, s)?;
        let fresh = self.boot.bootstrap(&packed, self.rlk, self.keys)?;
        let fresh = ev.reinterpret_slots(&fresh, layout.slots)?;
        // Unpack: mask block j, replicate it over the period.
        let target = fresh.scale();
        let steps = unpack_steps(layout, cts.len());
        (0..cts.len())
            .map(|j| {
                let mut x = ev.mul_values_rescale_to(&fresh, &block_mask(layout, j, s), target, &self.encoder)?;
                for &st in &steps {
                    let r = ev.rotate(&x, st, self.gk)?;
                    x = ev.add(&x, &r)?;
                }
                Ok(x)
            })
            .collect()
    }
}
