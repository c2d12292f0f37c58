//! From the inference layout to the training layout, on ciphertexts.
//!
//! The backbone leaves feature `f` of image `b` of batch β at slot
//! `p_f·B + b` of that batch's ciphertext (images innermost, so one rotation
//! moves every image); the trainer wants sample `i` of a block at slots
//! `i·G·C + f'·C + k` (samples outermost, features, then class slots;
//! [`crate::packing::Layout`]). Per target block (sample block, feature
//! block) that is one sparse linear map per source ciphertext, one level —
//! then the class slots are filled by rotate-and-add
//! (`⌈log2 c⌉ + popcount(c) − 1` rotations, no level) and the bias column
//! added as a plaintext.
//!
//! With [`super::features::feature_positions`] the entry of image `b` has
//! offset `src − dst = u − σ·b`, `σ = G·C − 1` (sample `b` moves by a whole
//! sample row `G·C`, its source by one slot) and `u` one of `B/C` values
//! per block: the diagonals form arithmetic progressions of stride σ, which
//! a power-of-two baby-step split does not see (83 key switches per block
//! for the bundled job). Split on the image index instead, `b = H·k + h`:
//! the babies `R^{−σh}` (H of them) are made once per source and shared by
//! all its blocks; each progression is then a Horner chain in
//! `R^{−σH}` and one rotation by `u` — `B/C · B/H` key switches per
//! block (8 at B = 32, C = 16, H = 8). The split is exact for any entries;
//! only its cost depends on the structure.

use std::collections::{BTreeMap, BTreeSet};

use hecnn_ckks::circuits::{baby_nodes, hop, rotations_by_hops, BabyHops};
use hecnn_ckks::{Ciphertext, Complex64, Encoder, Evaluator, GaloisKeys, PlainDotSum};
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

/// Babies per source ciphertext (`H`): images `b ≡ h (mod H)` share the
/// baby `R^{−σh}`. With 4 blocks per source, 32 images and 2 offsets per
/// image, 8 balances babies (7) against Horner steps (4 × 2 × 3).
const BABIES: usize = 8;

/// The babies' terms of one Horner step: `h → [(destination slot, value)]`.
type BabyTerms = BTreeMap<usize, Vec<(usize, f64)>>;

/// One target block's map from one source ciphertext, split on the image
/// index (see the module doc).
struct BlockMap {
    /// Source ciphertext.
    source: usize,
    /// `u → k → h → [(destination slot, value)]` for the entries of images
    /// `b = H·k + h` with offset `u − σ·b`.
    chains: BTreeMap<i64, BTreeMap<usize, BabyTerms>>,
}

impl BlockMap {
    /// The babies `h` its terms read.
    fn babies(&self) -> impl Iterator<Item = usize> + '_ {
        self.chains.values().flat_map(|ks| ks.values().flat_map(|hs| hs.keys().copied()))
    }
}

/// The rotations a source's babies `R^{−σh}` need, with the intermediate
/// nodes of their power-of-two hop chains (hops of σ, 2σ, 4σ, …).
fn baby_rotations(hs: impl IntoIterator<Item = usize>, sigma: i64) -> BTreeSet<i64> {
    baby_nodes(hs.into_iter().map(|h| -sigma * h as i64), -sigma, BabyHops::PowersOfTwo)
}

/// Signed representative of a rotation in `(−n/2, n/2]`.
fn signed(r: i64, n: i64) -> i64 {
    let r = r.rem_euclid(n);
    if r > n / 2 {
        r - n
    } else {
        r
    }
}

/// Key switches and counts of one repacking.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
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

    /// `σ`: how much further apart consecutive samples are in the training
    /// layout than consecutive images in the backbone's.
    /// (At least 1: the split is exact for any stride, and 0 would make
    /// every baby the identity.)
    fn stride(&self) -> i64 {
        (self.layout.slot(1, 0, 0) as i64 - self.layout.slot(0, 0, 0) as i64 - 1).max(1)
    }

    /// The maps into target block (`sb`, `fb`), one per source ciphertext,
    /// in actual units.
    fn block_maps(&self, sb: usize, fb: usize) -> Vec<BlockMap> {
        let l = &self.layout;
        let sigma = self.stride();
        let n = l.slots as i64;
        let mut maps: Vec<BlockMap> = Vec::new();
        for i in 0..l.samples_per_block {
            let m = sb * l.samples_per_block + i;
            if m >= self.samples {
                break;
            }
            let (beta, b) = (m / self.batch, m % self.batch);
            for fp in 0..l.features_per_block {
                let f = fb * l.features_per_block + fp;
                if f == 0 || f >= self.features {
                    continue;
                }
                let (ct, p) = self.pos[f - 1];
                let src = beta * self.cts_per_batch + ct as usize;
                let (src_slot, dst_slot) = (p as usize * self.batch + b, l.slot(i, fp, 0));
                let u = signed(src_slot as i64 - dst_slot as i64 + sigma * b as i64, n);
                let map = match maps.iter().position(|m| m.source == src) {
                    Some(k) => &mut maps[k],
                    None => {
                        maps.push(BlockMap { source: src, chains: BTreeMap::new() });
                        maps.last_mut().expect("just pushed")
                    }
                };
                let (k, h) = (b / BABIES, b % BABIES);
                let entries = map.chains.entry(u).or_default().entry(k).or_default().entry(h).or_default();
                entries.push((dst_slot, self.factor));
            }
        }
        maps
    }

    /// What [`Repack::apply`] will cost, from the plan alone: key switches
    /// (babies once per source, then per block and offset its Horner chain
    /// and final rotation), class-fill rotations and diagonals.
    pub fn planned(&self) -> RepackStats {
        let l = &self.layout;
        let mut st = RepackStats::default();
        let mut babies: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
        for sb in 0..l.sample_blocks(self.samples) {
            for fb in 0..l.feature_blocks(self.features) {
                st.fill_rotations += fill_rotations(self.classes);
                for map in self.block_maps(sb, fb) {
                    for (&u, ks) in &map.chains {
                        st.map_rotations += ks.keys().next_back().copied().unwrap_or(0) + usize::from(u != 0);
                        st.diagonals += ks.values().map(BTreeMap::len).sum::<usize>();
                    }
                    babies.entry(map.source).or_default().extend(map.babies());
                }
            }
        }
        let sigma = self.stride();
        st.map_rotations += babies.into_values().map(|hs| baby_rotations(hs, sigma).len()).sum::<usize>();
        st
    }

    /// Rotation steps the evaluation keys must cover.
    pub fn rotation_steps(&self) -> Vec<i64> {
        let l = &self.layout;
        let n = l.slots as i64;
        let sigma = self.stride();
        let mut steps = BTreeSet::new();
        let mut babies = BTreeSet::new();
        for sb in 0..l.sample_blocks(self.samples) {
            for fb in 0..l.feature_blocks(self.features) {
                for map in self.block_maps(sb, fb) {
                    for (&u, ks) in &map.chains {
                        steps.insert(u);
                        if ks.keys().any(|&k| k > 0) {
                            steps.insert(signed(-sigma * BABIES as i64, n));
                        }
                    }
                    babies.extend(map.babies());
                }
            }
        }
        let hops = baby_rotations(babies, sigma).into_iter().map(|r| signed(hop(r, -sigma, BabyHops::PowersOfTwo), n));
        steps.extend(hops);
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
        let n = l.slots as i64;
        let sigma = self.stride();
        let targets: Vec<(usize, usize)> = (0..l.sample_blocks(self.samples))
            .flat_map(|sb| (0..l.feature_blocks(self.features)).map(move |fb| (sb, fb)))
            .collect();
        let maps: Vec<Vec<BlockMap>> = targets.par_iter().map(|&(sb, fb)| self.block_maps(sb, fb)).collect();
        let q_l = ev.context().params().q()[level] as f64;
        let pt_scale = target_scale * q_l / sources[0].scale();
        // Source by source: its babies once, then every block it feeds.
        let mut partial: Vec<Option<Ciphertext>> = vec![None; targets.len()];
        let mut stats: Vec<RepackStats> = vec![RepackStats::default(); targets.len()];
        let mut baby_count = 0;
        let used: BTreeSet<usize> = maps.iter().flatten().map(|m| m.source).collect();
        for src in used {
            let nodes =
                baby_rotations(maps.iter().flatten().filter(|m| m.source == src).flat_map(BlockMap::babies), sigma);
            baby_count += nodes.len();
            let made = rotations_by_hops(ev, &sources[src], nodes, |r| r - hop(r, -sigma, BabyHops::PowersOfTwo), gk)?;
            let babies: BTreeMap<usize, Ciphertext> =
                made.into_iter().map(|(r, ct)| ((r / -sigma) as usize, ct)).collect();
            let parts = maps
                .par_iter()
                .map(|block| -> Result<Option<(Ciphertext, RepackStats)>, CnnError> {
                    let Some(map) = block.iter().find(|m| m.source == src) else { return Ok(None) };
                    Ok(Some(apply_map(
                        ev,
                        encoder,
                        gk,
                        map,
                        &babies,
                        level,
                        pt_scale,
                        signed(-sigma * BABIES as i64, n),
                    )?))
                })
                .collect::<Result<Vec<_>, _>>()?;
            for (t, part) in parts.into_iter().enumerate() {
                if let Some((ct, st)) = part {
                    stats[t].map_rotations += st.map_rotations;
                    stats[t].diagonals += st.diagonals;
                    partial[t] = Some(match partial[t].take() {
                        None => ct,
                        Some(a) => ev.add(&a, &ct)?,
                    });
                }
            }
        }
        let blocks = targets
            .par_iter()
            .zip(partial)
            .zip(stats)
            .map(|((&(sb, fb), acc), mut st)| -> Result<(Ciphertext, RepackStats), CnnError> {
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
        let mut stats = RepackStats { map_rotations: baby_count, ..RepackStats::default() };
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

/// One block's map from one source, unrescaled: per offset `u`, the Horner
/// chain `y ← R^{step}(y) + Σ_h w_{u,k,h} ⊙ R^{−σh}x` from the largest `k`
/// down, then `R^u y`. The diagonal of (u, k, h) holds each entry at
/// `dst + G`, `G = u + k·step` its giant rotation, so that the rotations
/// bring it back to `dst`.
#[allow(clippy::too_many_arguments)]
fn apply_map(
    ev: &Evaluator,
    encoder: &Encoder,
    gk: &GaloisKeys,
    map: &BlockMap,
    babies: &BTreeMap<usize, Ciphertext>,
    level: usize,
    pt_scale: f64,
    step: i64,
) -> Result<(Ciphertext, RepackStats), CnnError> {
    let slots = encoder.context().n() / 2;
    let n = slots as i64;
    let mut st = RepackStats::default();
    let mut acc: Option<Ciphertext> = None;
    for (&u, ks) in &map.chains {
        let top = *ks.keys().next_back().expect("a chain has a term");
        let mut y: Option<Ciphertext> = None;
        for k in (0..=top).rev() {
            if let Some(prev) = y.take() {
                st.map_rotations += 1;
                y = Some(ev.rotate(&prev, step, gk)?);
            }
            let Some(hs) = ks.get(&k) else { continue };
            let giant = (u + k as i64 * step).rem_euclid(n);
            let mut terms = PlainDotSum::new(ev);
            for (h, entries) in hs {
                let mut diag = vec![Complex64::new(0.0, 0.0); slots];
                for &(dst, v) in entries {
                    diag[(dst as i64 + giant).rem_euclid(n) as usize].re = v;
                }
                st.diagonals += 1;
                terms.push(&babies[h], encoder.encode(&diag, slots, level, pt_scale)?)?;
            }
            if let Some(sum) = terms.finish()? {
                y = Some(match y {
                    None => sum,
                    Some(x) => ev.add(&x, &sum)?,
                });
            }
        }
        let mut y = y.expect("the chain's top term exists");
        if u != 0 {
            st.map_rotations += 1;
            y = ev.rotate(&y, u, gk)?;
        }
        acc = Some(match acc {
            None => y,
            Some(a) => ev.add(&a, &y)?,
        });
    }
    Ok((acc.expect("a map has a chain"), st))
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

/// Rotations [`fill_classes`] makes for `classes`.
fn fill_rotations(classes: usize) -> usize {
    let (doubling, placing) = fill_plan(classes);
    doubling.len() + placing.iter().filter(|(_, s)| *s != 0).count()
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
