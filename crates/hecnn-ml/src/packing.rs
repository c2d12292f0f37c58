//! How the training data and the model live in CKKS slots.
//!
//! A ciphertext of S slots holds an `I × G × C` block, slot
//! `i·(G·C) + f·C + k`: I samples (outermost), G features, C class slots
//! (innermost; the class count padded to a power of two). Samples and
//! features beyond one block go to other ciphertexts, where sums are free.
//!
//! * `X·Vᵀ` sums over features (the middle axis): `log2 G` rotations per
//!   sample block leave the sum at `f = 0`.
//! * The error `E` is masked to `f = 0` inside the sigmoid evaluation (the
//!   mask rides on plaintext multiplications the polynomial needs anyway)
//!   and replicated over f with `log2 G` rotations.
//! * The gradient `Eᵀ·X'` sums over samples, the *outermost* axis, so
//!   `log2 I` rotations per feature block leave the full sum in every
//!   sample position: exactly the layout the weights need, no re-packing.
//!
//! Per iteration: `2·⌈n/I⌉·log2 G + ⌈d/G⌉·log2 I` rotations, against ~3,000
//! for the paper's Volley Revolver.

use serde::{Deserialize, Serialize};

/// Block shape and slot mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// Samples per ciphertext (I, power of two).
    pub samples_per_block: usize,
    /// Features per ciphertext (G, power of two).
    pub features_per_block: usize,
    /// Class slots (C = classes rounded up to a power of two).
    pub class_slots: usize,
    /// Slots per ciphertext (I·G·C).
    pub slots: usize,
}

impl Layout {
    /// The block shape with the fewest rotations per iteration for `n`
    /// samples, `d` features (bias included) and `classes`, in `slots` slots.
    pub fn choose(n: usize, d: usize, classes: usize, slots: usize) -> Option<Self> {
        let c = classes.max(1).next_power_of_two();
        if !slots.is_power_of_two() || c > slots || n == 0 || d == 0 {
            return None;
        }
        let ig = slots / c;
        // Blocks larger than the data only waste slots — unless the whole
        // data set is smaller than one block, which then holds it padded.
        let (np, dp) = (n.next_power_of_two(), d.next_power_of_two());
        let (max_i, max_g) = (np.max(ig / dp.min(ig)), dp.max(ig / np.min(ig)));
        let mut best: Option<(usize, Layout)> = None;
        let mut i = 1;
        while i <= ig {
            let g = ig / i;
            if i <= max_i && g <= max_g {
                let l = Layout { samples_per_block: i, features_per_block: g, class_slots: c, slots };
                let cost = l.rotations_per_iteration(n, d);
                // Ties: fewer ciphertexts (larger blocks in use) first.
                let key = cost * 1_000_000 + l.sample_blocks(n) * l.feature_blocks(d);
                if best.as_ref().is_none_or(|(k, _)| key < *k) {
                    best = Some((key, l));
                }
            }
            i *= 2;
        }
        best.map(|(_, l)| l)
    }

    /// The block shape with `i` samples per block (a power of two) and the
    /// rest of the slots for features: for data that arrives `i` samples per
    /// ciphertext (a backbone's batch), so each source ciphertext feeds one
    /// sample block.
    pub fn with_samples_per_block(i: usize, classes: usize, slots: usize) -> Option<Self> {
        let c = classes.max(1).next_power_of_two();
        if !slots.is_power_of_two() || !i.is_power_of_two() || i * c > slots {
            return None;
        }
        Some(Layout { samples_per_block: i, features_per_block: slots / (i * c), class_slots: c, slots })
    }

    /// Slot of (sample i, feature f, class k) inside a block.
    #[inline]
    pub fn slot(&self, i: usize, f: usize, k: usize) -> usize {
        (i * self.features_per_block + f) * self.class_slots + k
    }

    /// Number of sample blocks for n samples.
    pub fn sample_blocks(&self, n: usize) -> usize {
        n.div_ceil(self.samples_per_block)
    }

    /// Number of feature blocks for d features.
    pub fn feature_blocks(&self, d: usize) -> usize {
        d.div_ceil(self.features_per_block)
    }

    /// Ciphertexts in a training upload of `n` samples and `d` features:
    /// X and B̄⊙X per block, labels per sample block, W₀ per feature block.
    pub fn upload_ciphertexts(&self, n: usize, d: usize) -> usize {
        let (nb, nf) = (self.sample_blocks(n), self.feature_blocks(d));
        2 * nb * nf + nb + nf
    }

    /// Rotations (key switches) per training iteration.
    pub fn rotations_per_iteration(&self, n: usize, d: usize) -> usize {
        let lg = self.features_per_block.trailing_zeros() as usize;
        let li = self.samples_per_block.trailing_zeros() as usize;
        2 * self.sample_blocks(n) * lg + self.feature_blocks(d) * li
    }

    /// Rotation steps that sum over the feature axis (result at f = 0).
    pub fn feature_sum_steps(&self) -> Vec<i64> {
        (0..self.features_per_block.trailing_zeros()).map(|j| (self.class_slots << j) as i64).collect()
    }

    /// Rotation steps that replicate the f = 0 value over all features.
    pub fn feature_replicate_steps(&self) -> Vec<i64> {
        self.feature_sum_steps().into_iter().map(|s| -s).collect()
    }

    /// Rotation steps that sum over the sample axis (result everywhere).
    pub fn sample_sum_steps(&self) -> Vec<i64> {
        (0..self.samples_per_block.trailing_zeros())
            .map(|j| ((self.features_per_block * self.class_slots) << j) as i64)
            .collect()
    }

    /// Every rotation the trainer needs a key for.
    pub fn rotation_steps(&self) -> Vec<i64> {
        let mut s = self.feature_sum_steps();
        s.extend(self.feature_replicate_steps());
        s.extend(self.sample_sum_steps());
        s
    }

    /// Data block (b, fb): `x[b·I + i][fb·G + f]` replicated over classes.
    pub fn pack_data(&self, x: &[Vec<f64>], b: usize, fb: usize, classes: usize) -> Vec<f64> {
        let mut v = vec![0.0; self.slots];
        for i in 0..self.samples_per_block {
            let Some(row) = x.get(b * self.samples_per_block + i) else { break };
            for f in 0..self.features_per_block {
                let Some(&val) = row.get(fb * self.features_per_block + f) else { break };
                for k in 0..classes {
                    v[self.slot(i, f, k)] = val;
                }
            }
        }
        v
    }

    /// Label block b: one-hot `y[b·I + i][k]` at f = 0 only.
    pub fn pack_labels(&self, labels: &[u8], b: usize, classes: usize) -> Vec<f64> {
        let mut v = vec![0.0; self.slots];
        for i in 0..self.samples_per_block {
            let Some(&y) = labels.get(b * self.samples_per_block + i) else { break };
            if (y as usize) < classes {
                v[self.slot(i, 0, y as usize)] = 1.0;
            }
        }
        v
    }

    /// Weight block fb: `w[k][fb·G + f]` replicated over samples.
    pub fn pack_weights(&self, w: &[Vec<f64>], fb: usize) -> Vec<f64> {
        let mut v = vec![0.0; self.slots];
        for (k, row) in w.iter().enumerate().take(self.class_slots) {
            for f in 0..self.features_per_block {
                let Some(&val) = row.get(fb * self.features_per_block + f) else { break };
                for i in 0..self.samples_per_block {
                    v[self.slot(i, f, k)] = val;
                }
            }
        }
        v
    }

    /// Reads a `classes × d` weight matrix back from its blocks (sample 0);
    /// `None` when a block is too short or missing (blocks from outside).
    pub fn unpack_weights(&self, blocks: &[Vec<f64>], classes: usize, d: usize) -> Option<Vec<Vec<f64>>> {
        (0..classes)
            .map(|k| {
                (0..d)
                    .map(|j| {
                        let (fb, f) = (j / self.features_per_block, j % self.features_per_block);
                        blocks.get(fb)?.get(self.slot(0, f, k)).copied()
                    })
                    .collect()
            })
            .collect()
    }

    /// Checks the shape from outside (a manifest, a client record): powers
    /// of two whose product is `slots`, and room for `classes`.
    pub fn validate(&self, classes: usize) -> Result<(), String> {
        let l = self;
        let ok = l.samples_per_block.is_power_of_two()
            && l.features_per_block.is_power_of_two()
            && l.class_slots.is_power_of_two()
            && l.slots.is_power_of_two()
            && classes >= 1
            && l.class_slots >= classes
            && l.samples_per_block.checked_mul(l.features_per_block).and_then(|x| x.checked_mul(l.class_slots))
                == Some(l.slots);
        if ok {
            Ok(())
        } else {
            Err(format!(
                "layout {}×{}×{} in {} slots for {classes} classes is not a valid split",
                l.samples_per_block, l.features_per_block, l.class_slots, l.slots
            ))
        }
    }

    /// `scale` at (f = 0, k < classes), zero elsewhere.
    pub fn feature0_mask(&self, classes: usize, scale: f64) -> Vec<f64> {
        let mut v = vec![0.0; self.slots];
        for i in 0..self.samples_per_block {
            for k in 0..classes {
                v[self.slot(i, 0, k)] = scale;
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chooses_the_split_layout_for_the_paper_workload() {
        let l = Layout::choose(128, 241, 10, 1 << 14).unwrap();
        assert_eq!((l.samples_per_block, l.features_per_block, l.class_slots), (32, 32, 16));
        assert_eq!(l.rotations_per_iteration(128, 241), 80);
        assert_eq!(l.sample_blocks(128) * l.feature_blocks(241), 32);
    }

    #[test]
    fn a_data_set_smaller_than_one_block_fits_one_padded_block() {
        // 64 × 13 × 4 fills 4,096 of 16,384 slots: one block, not none.
        let l = Layout::choose(64, 13, 4, 1 << 14).unwrap();
        assert_eq!(l.sample_blocks(64) * l.feature_blocks(13), 1);
        assert_eq!(l.samples_per_block * l.features_per_block * l.class_slots, 1 << 14);
        // Data that fills a block keeps the bounds it had (the paper workload's split above).
        assert_eq!(Layout::choose(128, 241, 10, 1 << 14).unwrap().samples_per_block, 32);
    }

    #[test]
    fn weights_round_trip_through_blocks() {
        let l = Layout::choose(64, 70, 10, 1 << 12).unwrap();
        let w: Vec<Vec<f64>> = (0..10).map(|k| (0..70).map(|j| (k * 100 + j) as f64).collect()).collect();
        let blocks: Vec<Vec<f64>> = (0..l.feature_blocks(70)).map(|fb| l.pack_weights(&w, fb)).collect();
        assert_eq!(l.unpack_weights(&blocks, 10, 70), Some(w));
        assert_eq!(l.unpack_weights(&blocks[..1], 10, 70), None);
        assert_eq!(l.unpack_weights(&[vec![0.0; 1]], 10, 70), None);
    }
}
