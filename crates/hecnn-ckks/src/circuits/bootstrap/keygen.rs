//! Bootstrapping key generation (client side, feature `client`): the
//! ephemeral sparse secret and the keys that switch to and from it, plus
//! the rotation keys of the transforms.

use super::dft::SlotPlan;
use super::keys::{check_slots, encapsulation_context};
use super::{BootstrapConfig, BootstrapKeys};
use crate::error::Result;
use crate::keys::keygen::switching_key;
use crate::keys::public::GaloisKeys;
use crate::keys::secret::SecretKey;
use crate::ring::sampling::{os_seed, sparse_ternary, wipe_rng};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

impl BootstrapKeys {
    /// Generates keys for bootstrapping ciphertexts of each of `slots`.
    /// The sparse secret lives only inside this call (wiped on return).
    pub fn generate(sk: &SecretKey, config: &BootstrapConfig, slots: &[usize]) -> Result<Self> {
        let ctx = sk.context();
        config.check(ctx)?;
        // First: a sparse weight or ring without a published estimate fails
        // before any key is made.
        let encapsulation = encapsulation_context(ctx, config.hamming_weight)?;
        // Each key only up to the highest level its rotation runs at: the
        // SlotsToCoeffs keys sit low in the chain and need a fraction of
        // the limbs and digits of a CtS key.
        let top = ctx.max_level();
        let out = config.stc_output_level(top).expect("config.check passed");
        let mut elements = Vec::new();
        for &s in slots {
            check_slots(ctx, s)?;
            let plan = SlotPlan::new(ctx, s, config);
            elements.extend(
                plan.rotation_levels(top, out, config.input_level())
                    .into_iter()
                    .map(|(r, l)| (ctx.galois_element(r), l)),
            );
            elements.push((ctx.conjugation_element(), plan.conjugation_level(top)));
        }
        let galois = GaloisKeys::generate_at_levels(sk, &elements);
        let mut rng = ChaCha20Rng::from_seed(os_seed());
        let sparse_coeffs = sparse_ternary(&mut rng, ctx.n(), config.hamming_weight);
        wipe_rng(&mut rng);
        let sparse = SecretKey::from_coeffs(&encapsulation, sparse_coeffs, sk.key_set);
        let dense_low = SecretKey::from_coeffs(&encapsulation, sk.coeffs.to_vec(), sk.key_set);
        let to_sparse = switching_key(&encapsulation, &sparse, &dense_low.ntt, os_seed(), 0);
        let sparse_full = SecretKey::from_coeffs(ctx, sparse.coeffs.to_vec(), sk.key_set);
        let to_dense = switching_key(ctx, sk, &sparse_full.ntt, os_seed(), ctx.max_level());
        let mut slots = slots.to_vec();
        slots.sort_unstable();
        slots.dedup();
        Ok(Self {
            to_sparse,
            encapsulation,
            to_dense,
            galois,
            slots,
            fingerprint: ctx.fingerprint(),
            key_set: sk.key_set,
        })
    }
}
