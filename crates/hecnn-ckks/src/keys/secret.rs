//! The secret key: client-side only, zeroized on drop, never `Serialize`.

use crate::context::Context;
use crate::keys::KeySetId;
use crate::params::SecretDistribution;
use crate::ring::sampling::wipe_rng;
use crate::ring::sampling::{sparse_ternary, ternary};
use crate::ring::RnsPoly;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::sync::Arc;
use zeroize::{Zeroize, Zeroizing};

/// A ternary secret `s`, kept in coefficient form and in NTT form over
/// every ciphertext and special prime.
///
/// Deliberately not `Clone`, `Debug`-printing or `serde::Serialize`: the
/// only way out is [`SecretKey::to_secret_bytes`], whose name says what it
/// is. The evaluator API never takes one, so server code cannot use it.
pub struct SecretKey {
    pub(crate) ctx: Arc<Context>,
    pub(crate) coeffs: Zeroizing<Vec<i8>>,
    pub(crate) ntt: RnsPoly,
    pub(crate) key_set: KeySetId,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.ntt.zeroize();
    }
}

impl SecretKey {
    /// A fresh secret from operating-system randomness.
    pub fn generate(ctx: &Arc<Context>) -> Self {
        Self::from_seed(ctx, crate::ring::sampling::os_seed())
    }

    /// A secret derived from a 32-byte seed (reproducible; keep the seed secret).
    pub fn from_seed(ctx: &Arc<Context>, seed: [u8; 32]) -> Self {
        let mut seed = Zeroizing::new(seed);
        // The key set's public name: a one-way function of the seed.
        let key_set = {
            let h = blake3::derive_key("hecnn-ckks key set id v1", &seed[..]);
            KeySetId(h[..16].try_into().expect("16 bytes"))
        };
        let mut rng = ChaCha20Rng::from_seed(*seed);
        seed.zeroize();
        let n = ctx.n();
        let coeffs = match ctx.params().secret() {
            SecretDistribution::UniformTernary => ternary(&mut rng, n),
            SecretDistribution::SparseTernary { hamming_weight } => sparse_ternary(&mut rng, n, hamming_weight),
        };
        wipe_rng(&mut rng);
        Self::from_coeffs(ctx, coeffs, key_set)
    }

    pub(crate) fn from_coeffs(ctx: &Arc<Context>, coeffs: Vec<i8>, key_set: KeySetId) -> Self {
        let coeffs = Zeroizing::new(coeffs);
        let wide: Zeroizing<Vec<i64>> = Zeroizing::new(coeffs.iter().map(|&c| c as i64).collect());
        let ntt = ctx.poly_from_signed(&wide, ctx.max_level() + 1, ctx.num_p());
        Self { ctx: ctx.clone(), coeffs, ntt, key_set }
    }

    /// The key set this secret defines.
    pub fn key_set(&self) -> KeySetId {
        self.key_set
    }

    /// The context this key belongs to.
    pub fn context(&self) -> &Arc<Context> {
        &self.ctx
    }

    /// `s` restricted to the first `num_q` ciphertext primes (and optionally P).
    /// The copy is wiped when dropped (before its buffer goes back to the pool).
    pub(crate) fn ntt_restricted(&self, num_q: usize, with_p: bool) -> Zeroizing<RnsPoly> {
        let n = self.ctx.n();
        let num_p = if with_p { self.ctx.num_p() } else { 0 };
        let mut p = Zeroizing::new(RnsPoly::uninit(n, num_q, num_p, true));
        p.data[..num_q * n].copy_from_slice(&self.ntt.data[..num_q * n]);
        if with_p {
            let full_q = self.ctx.max_level() + 1;
            p.data[num_q * n..].copy_from_slice(&self.ntt.data[full_q * n..]);
        }
        p
    }
}
