//! The backbone as the training needs it: the compiled feature extractor
//! with one more affine step that scales every feature and moves it where
//! the repacking ([`super::repack`]) wants it.
//!
//! Why a step of its own: the backbone's last value sits on the image grid
//! (channels in the gaps of a `28 × 28` block), and moving it straight into
//! the training layout (samples outermost) would cost a diagonal per
//! (image, feature) pair. One position-space map first — the same for every
//! image of a batch, so it costs what a small convolution costs — puts
//! feature `f'` of feature block `fb` at position `fb·S + π(f')`, with π
//! chosen so that the repacking's offsets take only `B/C · B` values
//! (see [`feature_positions`]). The per-feature scale rides on the same
//! diagonals, at no level of its own.

use crate::cnn::circuit::{Rows, Step, ValueInfo};
use crate::cnn::layout::{Geometry, Layout as CtLayout};
use crate::cnn::{CnnError, CompiledModel};
use crate::packing::Layout;

/// Where the feature map puts MLR feature `f` (1-based: column 0 is the
/// bias, which the server adds as a constant): `(ciphertext, position)`
/// in the engine's position space (slot `position·B + image`).
///
/// With `B ≥ C` (the usual case: 32 images, 16 class slots), write
/// `f' = q·(B/C) + r`; then `π(f') = q + r·G·C/B` makes
/// `π(f')·B − f'·C = r·(G·C − C)`, so the repacking's offsets
/// `src − dst` take `B/C` values per image instead of one per feature.
pub fn feature_positions(geo: &Geometry, layout: &Layout, features: usize) -> Option<Vec<(u32, u32)>> {
    let (b, c, g) = (geo.batch, layout.class_slots, layout.features_per_block);
    let positions = geo.positions();
    let (span, pi): (usize, Box<dyn Fn(usize) -> usize>) = if b >= c && g * c >= b && b % c == 0 {
        let r0 = b / c;
        (g, Box::new(move |f: usize| f / r0 + (f % r0) * (g * c / b)))
    } else if b < c && c % b == 0 {
        (g * c / b, Box::new(move |f: usize| f * (c / b)))
    } else {
        (g, Box::new(|f: usize| f))
    };
    if span > positions {
        return None;
    }
    let per_ct = positions / span;
    let pos = (1..features)
        .map(|f| {
            let (fb, fp) = (f / g, f % g);
            ((fb / per_ct) as u32, ((fb % per_ct) * span + pi(fp)) as u32)
        })
        .collect();
    Some(pos)
}

/// `compiled` (a backbone: its output is the feature vector) with one more
/// affine step: feature `e` times `scales[e]`, placed at
/// [`feature_positions`] for MLR feature `e + 1`. Its values are stored at
/// a new scale class whose factor bounds the scaled calibration features.
pub fn with_feature_map(compiled: CompiledModel, scales: &[f64], layout: &Layout) -> Result<CompiledModel, CnnError> {
    let CompiledModel { mut circuit, mut factors, sign, score_bound, key_mode, alpha_search, .. } = compiled;
    let out = circuit.output;
    let n = circuit.values[out].layout.len();
    if scales.len() != n || scales.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
        return Err(CnnError::Calibration(format!(
            "{} feature scales for {n} features (each finite, > 0)",
            scales.len()
        )));
    }
    let pos = feature_positions(&circuit.geo, layout, n + 1).ok_or_else(|| {
        CnnError::Calibration(format!(
            "feature blocks of {} features do not fit {} positions per image",
            layout.features_per_block,
            circuit.geo.positions()
        ))
    })?;
    let cts = pos.iter().map(|p| p.0 as usize + 1).max().unwrap_or(1);
    let class = circuit.classes;
    let largest = scales.iter().fold(0.0f64, |m, s| m.max(*s));
    factors.push(factors[circuit.values[out].class] * largest);
    let node = circuit.values[out].node;
    let value = circuit.values.len();
    circuit.values.push(ValueInfo { shape: vec![n], layout: CtLayout { cts, gap: 1, pos }, class, node });
    let rows: Rows = scales.iter().enumerate().map(|(e, &s)| vec![(e as u32, s)]).collect();
    circuit.steps.push(Step::Affine { out: value, terms: vec![(out, rows)], bias: vec![0.0; n], node });
    circuit.classes += 1;
    circuit.output = value;
    let mut model = CompiledModel::new(circuit, factors, sign, score_bound, key_mode)?;
    model.alpha_search = alpha_search;
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The placement is injective, inside one image's positions, and makes
    /// the repacking's offsets `src − dst` take B/C values per image (64 for
    /// the bundled job) instead of one per (image, feature).
    #[test]
    fn feature_positions_are_injective_and_give_few_repacking_offsets() {
        let geo = Geometry { slots: 1 << 15, batch: 32, grid_h: 28, grid_w: 28 };
        let layout = Layout::choose(128, 241, 10, 1 << 15).unwrap();
        assert_eq!((layout.samples_per_block, layout.features_per_block, layout.class_slots), (32, 64, 16));
        let pos = feature_positions(&geo, &layout, 241).unwrap();
        let mut seen = std::collections::HashSet::new();
        assert!(pos.iter().all(|&p| seen.insert(p) && (p.1 as usize) < geo.positions()));
        for fb in 0..layout.feature_blocks(241) {
            let mut offsets = std::collections::HashSet::new();
            for b in 0..32 {
                for fp in 0..64 {
                    let f = fb * 64 + fp;
                    if f == 0 || f >= 241 {
                        continue;
                    }
                    let (_, p) = pos[f - 1];
                    offsets.insert(p as i64 * 32 + b as i64 - layout.slot(b, fp, 0) as i64);
                }
            }
            assert_eq!(offsets.len(), 64, "feature block {fb}");
        }
        // Batches smaller than the class slots: a stride instead.
        let small = Geometry { slots: 2048, batch: 4, grid_h: 6, grid_w: 6 };
        let l = Layout::choose(40, 9, 3, 2048).unwrap();
        let p = feature_positions(&small, &l, 9).unwrap();
        let mut seen = std::collections::HashSet::new();
        assert!(p.iter().all(|&q| seen.insert(q) && (q.1 as usize) < small.positions()));
    }
}
