//! From the inference layout to the training layout, on ciphertexts.
//!
//! The backbone leaves feature `f` of image `b` of batch β at slot
//! `p_f·B + b` of that batch's ciphertext (images innermost, so one rotation
//! moves every image); the trainer wants sample `i` of a block at slots
//! `i·G·C + f'·C + k` (samples outermost, features, then class slots;
//! [`crate::packing::Layout`]). Per target block (sample block, feature
//! block) that is one sparse linear map per source ciphertext — a BSGS
//! [`LinearTransform`], one level — then the class slots are filled by
//! rotate-and-add (`⌈log2 c⌉ + popcount(c) − 1` rotations, no level) and the
//! bias column added as a plaintext. With [`super::features::feature_positions`]
//! a map has `B/C · B` diagonals (64 for the bundled backbone at B = 32):
//! about 2·√64 key switches per target block.

use hecnn_ckks::circuits::{DiagMatrix, LinearTransform};
use hecnn_ckks::{Ciphertext, Complex64, Encoder, Evaluator, GaloisKeys};
use rayon::prelude::*;

use crate::cnn::{CnnError, CompiledModel};
use crate::packing::Layout;

/// The repacking of one job: `samples` images through a compiled feature
/// map into `layout` blocks of `features` columns (bias first) for
/// `classes` classes.
#[derive(Clone, Debug)]
pub struct Repack {
    layout: Layout,
    samples: usize,
    features: usize,
    classes: usize,
    batch: usize,
    cts_per_batch: usize,
    /// Per MLR feature `f ≥ 1`: (ciphertext within a batch, position).
    pos: Vec<(u32, u32)>,
    /// Actual value = stored value × factor.
    factor: f64,
}

/// Key switches and counts of one repacking.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct RepackStats {
    /// Rotations (baby and giant) in the linear maps.
    pub map_rotations: usize,
    /// Rotations that fill the class slots.
    pub fill_rotations: usize,
    /// Diagonals (plaintext products) in the linear maps.
    pub diagonals: usize,
}

impl Repack {
    /// The repacking of `model`'s output (made by
    /// [`super::features::with_feature_map`] for the same `layout`).
    pub fn new(
        model: &CompiledModel,
        layout: Layout,
        samples: usize,
        features: usize,
        classes: usize,
    ) -> Result<Self, CnnError> {
        let c = &model.circuit;
        let out = &c.values[c.output];
        if out.layout.len() + 1 != features || samples == 0 || classes == 0 || classes > layout.class_slots {
            return Err(CnnError::Calibration(format!(
                "repacking {} backbone features into {features} columns for {samples} samples and {classes} classes",
                out.layout.len()
            )));
        }
        if layout.slots != c.geo.slots {
            return Err(CnnError::Calibration(format!(
                "training layout of {} slots for a model of {} slots",
                layout.slots, c.geo.slots
            )));
        }
        Ok(Self {
            layout,
            samples,
            features,
            classes,
            batch: c.geo.batch,
            cts_per_batch: out.layout.cts,
            pos: out.layout.pos.clone(),
            factor: model.factors[out.class],
        })
    }

    /// The training layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Samples.
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// Columns, bias included.
    pub fn features(&self) -> usize {
        self.features
    }

    /// Classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Source ciphertexts the backbone produces for all samples (batch after batch).
    pub fn source_cts(&self) -> usize {
        self.samples.div_ceil(self.batch) * self.cts_per_batch
    }

    /// The maps into target block (`sb`, `fb`): per source ciphertext, the
    /// matrix taking its slots to the block's `k = 0` slots, in actual units.
    fn maps(&self, sb: usize, fb: usize) -> Vec<(usize, DiagMatrix)> {
        let l = &self.layout;
        let mut maps: Vec<(usize, DiagMatrix)> = Vec::new();
        for i in 0..l.samples_per_block {
            let n = sb * l.samples_per_block + i;
            if n >= self.samples {
                break;
            }
            let (beta, b) = (n / self.batch, n % self.batch);
            for fp in 0..l.features_per_block {
                let f = fb * l.features_per_block + fp;
                if f == 0 || f >= self.features {
                    continue;
                }
                let (ct, p) = self.pos[f - 1];
                let src = beta * self.cts_per_batch + ct as usize;
                let (src_slot, dst_slot) = (p as usize * self.batch + b, l.slot(i, fp, 0));
                let m = match maps.iter().position(|(s, _)| *s == src) {
                    Some(k) => &mut maps[k].1,
                    None => {
                        maps.push((src, DiagMatrix::zero(l.slots)));
                        &mut maps.last_mut().expect("just pushed").1
                    }
                };
                m.add_entry(src_slot as i64 - dst_slot as i64, dst_slot, Complex64::new(self.factor, 0.0));
            }
        }
        maps
    }

    /// Every target block, each as (source, transform) pairs.
    fn transforms(&self, sb: usize, fb: usize) -> Vec<(usize, LinearTransform)> {
        self.maps(sb, fb).into_iter().map(|(s, m)| (s, LinearTransform::new(m))).collect()
    }

    /// Rotation steps the evaluation keys must cover.
    pub fn rotation_steps(&self) -> Vec<i64> {
        let l = &self.layout;
        let mut steps = std::collections::BTreeSet::new();
        for sb in 0..l.sample_blocks(self.samples) {
            for fb in 0..l.feature_blocks(self.features) {
                for (_, t) in self.transforms(sb, fb) {
                    steps.extend(t.rotations());
                }
            }
        }
        steps.extend(class_fill_steps(self.classes));
        steps.remove(&0);
        steps.into_iter().collect()
    }

    /// The training blocks `x[sample block][feature block]` (bias column
    /// included, class slots `k < classes` filled) at scale `target_scale`,
    /// one level below `sources` (all at one level).
    pub fn apply(
        &self,
        ev: &Evaluator,
        encoder: &Encoder,
        gk: &GaloisKeys,
        sources: &[Ciphertext],
        target_scale: f64,
    ) -> Result<(Vec<Vec<Ciphertext>>, RepackStats), CnnError> {
        if sources.len() != self.source_cts() {
            return Err(CnnError::Ciphertexts(format!(
                "{} feature ciphertexts, {} samples in batches of {} need {}",
                sources.len(),
                self.samples,
                self.batch,
                self.source_cts()
            )));
        }
        let level = sources[0].level();
        if sources.iter().any(|c| c.level() != level || c.slots() != self.layout.slots) {
            return Err(CnnError::Ciphertexts("feature ciphertexts at mixed levels or slot counts".into()));
        }
        let l = &self.layout;
        let targets: Vec<(usize, usize)> = (0..l.sample_blocks(self.samples))
            .flat_map(|sb| (0..l.feature_blocks(self.features)).map(move |fb| (sb, fb)))
            .collect();
        let blocks = targets
            .par_iter()
            .map(|&(sb, fb)| -> Result<(Ciphertext, RepackStats), CnnError> {
                let mut st = RepackStats::default();
                let mut acc: Option<Ciphertext> = None;
                for (src, t) in self.transforms(sb, fb) {
                    let (babies, giants) = t.rotation_counts();
                    st.map_rotations += babies + giants;
                    st.diagonals += t.diagonal_count();
                    let part = t.apply_unrescaled(ev, encoder, &sources[src], gk, target_scale)?;
                    acc = Some(match acc {
                        None => part,
                        Some(a) => ev.add(&a, &part)?,
                    });
                }
                let first = match acc {
                    Some(a) => ev.rescale_to(&a, target_scale)?,
                    // A block with no backbone feature (only the bias): zero.
                    None => ev.mul_const_rescale_to(&sources[0], 0.0, target_scale)?,
                };
                let (filled, fills) = fill_classes(ev, &first, self.classes, gk)?;
                st.fill_rotations += fills;
                let x = if fb == 0 {
                    let mut bias = vec![0.0; l.slots];
                    let valid = (self.samples - sb * l.samples_per_block).min(l.samples_per_block);
                    for i in 0..valid {
                        for k in 0..self.classes {
                            bias[l.slot(i, 0, k)] = 1.0;
                        }
                    }
                    let pt = encoder.encode_real(&bias, l.slots, filled.level(), filled.scale())?;
                    ev.add_plain(&filled, &pt)?
                } else {
                    filled
                };
                Ok((x, st))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut stats = RepackStats::default();
        let mut rows: Vec<Vec<Ciphertext>> = Vec::new();
        for (&(sb, _), (ct, st)) in targets.iter().zip(blocks) {
            stats.map_rotations += st.map_rotations;
            stats.fill_rotations += st.fill_rotations;
            stats.diagonals += st.diagonals;
            if rows.len() <= sb {
                rows.push(Vec::new());
            }
            rows[sb].push(ct);
        }
        Ok((rows, stats))
    }
}

/// Rotation steps of [`fill_classes`]: `−2^j` doubling the filled run, then
/// `−offset` placing each power-of-two run of `classes`' binary expansion.
pub fn class_fill_steps(classes: usize) -> Vec<i64> {
    let (doubling, placing) = fill_plan(classes);
    doubling.into_iter().chain(placing.into_iter().map(|(_, o)| o)).filter(|&s| s != 0).collect()
}

/// (doubling steps, [(run index j, placing step)]).
fn fill_plan(classes: usize) -> (Vec<i64>, Vec<(usize, i64)>) {
    let top = usize::BITS - 1 - classes.max(1).leading_zeros();
    let doubling: Vec<i64> = (0..top).map(|j| -(1i64 << j)).collect();
    let mut placing = Vec::new();
    let mut offset = 0i64;
    for j in (0..=top as usize).rev() {
        if classes & (1 << j) != 0 {
            placing.push((j, -offset));
            offset += 1 << j;
        }
    }
    (doubling, placing)
}

/// Copies slot `k = 0` of every class group into `k < classes` (the other
/// class slots must be zero): runs of 1, 2, 4, … by rotate-and-add, then
/// `classes`' binary expansion placed run after run. Returns the rotations.
pub fn fill_classes(
    ev: &Evaluator,
    ct: &Ciphertext,
    classes: usize,
    gk: &GaloisKeys,
) -> Result<(Ciphertext, usize), CnnError> {
    let (doubling, placing) = fill_plan(classes);
    let mut runs = vec![ct.clone()];
    for &s in &doubling {
        let last = runs.last().expect("starts with one run");
        runs.push(ev.add(last, &ev.rotate(last, s, gk)?)?);
    }
    let mut rotations = doubling.len();
    let mut acc: Option<Ciphertext> = None;
    for (j, s) in placing {
        let part = if s == 0 {
            runs[j].clone()
        } else {
            rotations += 1;
            ev.rotate(&runs[j], s, gk)?
        };
        acc = Some(match acc {
            None => part,
            Some(a) => ev.add(&a, &part)?,
        });
    }
    Ok((acc.expect("classes ≥ 1 has a set bit"), rotations))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_fill_plan_covers_exactly_the_classes() {
        for classes in 1..=40usize {
            let (doubling, placing) = fill_plan(classes);
            // Simulate on the positions 0..64: runs[j] covers 0..2^j.
            let mut covered = vec![0u32; 64];
            for (j, s) in placing {
                for k in 0..(1usize << j) {
                    covered[k + (-s) as usize] += 1;
                }
            }
            assert!(covered[..classes].iter().all(|&c| c == 1), "{classes}: {covered:?}");
            assert!(covered[classes..].iter().all(|&c| c == 0), "{classes}");
            assert_eq!(doubling.len(), (usize::BITS - 1 - classes.leading_zeros()) as usize);
        }
        assert_eq!(class_fill_steps(10), vec![-1, -2, -4, -8]);
    }
}
