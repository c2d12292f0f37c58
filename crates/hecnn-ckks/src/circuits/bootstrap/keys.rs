//! Bootstrapping's key material: the dense↔sparse switching keys and the
//! Galois keys of the transforms, each at the level where it runs.

use crate::context::Context;
use crate::error::{CkksError, Result};
use crate::keys::public::GaloisKeys;
use crate::keys::switching::SwitchingKey;
use crate::keys::KeySetId;
use std::sync::Arc;

/// Key material for bootstrapping, generated once by the client: the
/// dense↔sparse switching keys and the Galois keys of the transforms.
#[derive(Clone, Debug)]
pub struct BootstrapKeys {
    /// Dense → sparse, used only at level 0, in the two-prime ring of
    /// [`encapsulation_context`]: the sparse secret is exposed only modulo
    /// q_0·p_0.
    pub(crate) to_sparse: SwitchingKey,
    pub(crate) encapsulation: Arc<Context>,
    /// Sparse → dense, used at the top level right after ModRaise (an
    /// encryption under the dense secret: as secure as any other key).
    pub(crate) to_dense: SwitchingKey,
    pub(crate) galois: GaloisKeys,
    pub(crate) slots: Vec<usize>,
    pub(crate) fingerprint: u64,
    pub(crate) key_set: KeySetId,
}

/// The ring of the dense → sparse key: N with the primes q_0 and p_0 only,
/// labelled with the sparse secret of weight `hamming_weight` it carries.
///
/// A key under the sparse secret is a sparse-secret RLWE sample, and sparse
/// secrets are weaker than uniform ternary ones for the same modulus.
/// Lattigo's encapsulation therefore keeps that key at q_0·p_0 (≈ 2^120
/// here); key-switching a level-0 ciphertext needs nothing more (one digit,
/// q_0, and a special prime of the same size). Unless the parameters are
/// insecure test ones, the ring must pass the sparse-secret rule of
/// [`Parameters::check_security`]: N = 2^16, h = 32, log2(q_0·p_0) ≤ 121
/// is the published estimate (≈ 2^164 for the best known attack); any
/// other weight, ring degree or larger modulus is refused. Earlier versions
/// zeroed the limbs above q_0 of a key over q_0·P ≈ 2^420, a far larger
/// modulus whose sparse-secret security was never established.
///
/// [`Parameters::check_security`]: crate::Parameters::check_security
pub(crate) fn encapsulation_context(ctx: &Context, hamming_weight: usize) -> Result<Arc<Context>> {
    let params = ctx.params().encapsulation(hamming_weight);
    if !params.is_insecure() {
        params.check_security()?;
    }
    Context::new(params)
}

impl BootstrapKeys {
    /// Slot counts these keys can bootstrap.
    pub fn slots(&self) -> &[usize] {
        &self.slots
    }

    /// The Galois keys (rotations of the transforms and conjugation).
    pub fn galois_keys(&self) -> &GaloisKeys {
        &self.galois
    }

    /// Bytes of key material held in memory (every key's `b`; `a` is a seed).
    pub fn memory_bytes(&self) -> usize {
        self.galois.memory_bytes() + self.to_sparse.memory_bytes() + self.to_dense.memory_bytes()
    }

    /// The key set these keys belong to.
    pub fn key_set(&self) -> KeySetId {
        self.key_set
    }
}

pub(crate) fn check_slots(ctx: &Context, slots: usize) -> Result<()> {
    if !slots.is_power_of_two() || slots < 2 || slots > ctx.n() / 2 {
        return Err(CkksError::InvalidSlots(format!("{slots} slots: need a power of two in 2..={}", ctx.n() / 2)));
    }
    Ok(())
}
