//! Decisions both roles must make the same way, in one place: which
//! parameter preset a training job uses, whether it bootstraps, which
//! rotations its keys need, and at which level the client encrypts.
//! (Earlier the CLI made the bootstrapping decision twice, once by preset
//! and once by name string.)

use super::refresh::unpack_steps;
use super::server::required_levels;
use crate::packing::Layout;
use hecnn_ckks::circuits::BootstrapConfig;
use hecnn_ckks::{Parameters, Preset};

/// The preset for `iterations`: the smallest chain that fits without
/// bootstrapping, else the bootstrappable one (which refreshes W and V).
pub fn preset_for(iterations: usize) -> Preset {
    [Preset::Training2Iter, Preset::Deep]
        .into_iter()
        .find(|p| p.params().max_level() >= required_levels(iterations))
        .unwrap_or(Preset::Bootstrappable)
}

/// Whether a job on `params` bootstraps: exactly when they are the
/// bootstrappable preset.
pub fn bootstraps(params: &Parameters) -> bool {
    params.preset() == Some(Preset::Bootstrappable)
}

/// Level the client encrypts the data at: the top of the chain, or, when
/// the job bootstraps, the top of the computation levels (the levels above
/// belong to bootstrapping).
pub fn data_level(params: &Parameters) -> usize {
    if bootstraps(params) {
        BootstrapConfig::default().levels_left(params.max_level()).unwrap_or(0)
    } else {
        params.max_level()
    }
}

/// Level W and V come back at from a refresh, when the job bootstraps:
/// one level below the bootstrap's output (the unpacking mask).
pub fn refresh_level(params: &Parameters) -> Option<usize> {
    bootstraps(params).then(|| data_level(params).saturating_sub(1))
}

/// Rotation steps for every layout with `class_slots` innermost in `slots`
/// slots (±class_slots·2^j): keys made before n and d are known cover any
/// training job.
pub fn any_layout_rotation_steps(slots: usize, class_slots: usize) -> Vec<i64> {
    let mut steps = Vec::new();
    let mut s = class_slots;
    while s < slots {
        steps.push(s as i64);
        steps.push(-(s as i64));
        s *= 2;
    }
    steps
}

/// Blocks of the packed model state one bootstrap refreshes (W and V).
pub fn state_blocks(layout: &Layout, features: usize) -> usize {
    2 * layout.feature_blocks(features)
}

/// Rotation steps of the unpacking after a refresh of the model state.
pub fn refresh_rotation_steps(layout: &Layout, features: usize) -> Vec<i64> {
    unpack_steps(layout, state_blocks(layout, features))
}
