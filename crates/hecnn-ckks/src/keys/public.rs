//! Public key, relinearization key, Galois keys and the server-side bundle.

use crate::context::Context;
use crate::error::{CkksError, Result};
use crate::keys::secret::SecretKey;
use crate::keys::switching::SwitchingKey;
use crate::ring::sampling::{fill_uniform, gaussian, os_seed, seeded_rng};
use crate::ring::RnsPoly;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;

/// `(b, a) = (−a·s + e, a)` over all ciphertext *and special* primes, NTT
/// form; `a` is expanded from `seed`. Encryption happens modulo Q·P and is
/// then divided by P (as SEAL does), which leaves only rounding noise.
#[derive(Clone, Debug, PartialEq)]
pub struct PublicKey {
    pub(crate) b: RnsPoly,
    pub(crate) a: RnsPoly,
    pub(crate) seed: [u8; 32],
    pub(crate) fingerprint: u64,
}

impl PublicKey {
    /// Derives the public key of `sk`.
    pub fn generate(sk: &SecretKey) -> Self {
        let ctx = &sk.ctx;
        let seed = os_seed();
        let a = Self::expand_a(ctx, &seed);
        let e = gaussian(&mut seeded_rng(&os_seed(), 0), ctx.n());
        let mut b = ctx.poly_from_signed(&e, ctx.max_level() + 1, ctx.num_p());
        let mut as_ = a.clone();
        ctx.mul_assign(&mut as_, &sk.ntt);
        ctx.sub_assign(&mut b, &as_);
        Self { b, a, seed, fingerprint: ctx.fingerprint() }
    }

    pub(crate) fn expand_a(ctx: &Context, seed: &[u8; 32]) -> RnsPoly {
        let n = ctx.n();
        let num_q = ctx.max_level() + 1;
        let mut a = RnsPoly::uninit(n, num_q, ctx.num_p(), true);
        a.data.par_chunks_mut(n).enumerate().for_each(|(i, limb)| {
            let mut rng = seeded_rng(seed, i as u64);
            fill_uniform(&mut rng, &ctx.moduli()[i], limb);
        });
        a
    }
}

/// Switching key `s² → s`, used after ciphertext multiplication.
#[derive(Clone, Debug, PartialEq)]
pub struct RelinKey {
    pub(crate) key: SwitchingKey,
    pub(crate) fingerprint: u64,
}

impl RelinKey {
    /// The underlying switching key (for profiling and advanced use).
    pub fn switching_key(&self) -> &SwitchingKey {
        &self.key
    }

    /// Generates the relinearization key of `sk`.
    pub fn generate(sk: &SecretKey) -> Self {
        let ctx = &sk.ctx;
        let mut s2 = sk.ntt.clone();
        ctx.mul_assign(&mut s2, &sk.ntt);
        let key = SwitchingKey::generate(ctx, sk, &s2, os_seed());
        zeroize::Zeroize::zeroize(&mut s2);
        Self { key, fingerprint: ctx.fingerprint() }
    }
}

/// Switching keys `σ_k(s) → s` for chosen Galois elements k.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct GaloisKeys {
    pub(crate) keys: BTreeMap<u64, SwitchingKey>,
    pub(crate) fingerprint: u64,
}

impl GaloisKeys {
    /// Keys for left rotations by each of `steps` and, if asked, conjugation.
    pub fn generate(sk: &SecretKey, steps: &[i64], conjugation: bool) -> Self {
        let ctx = &sk.ctx;
        let mut elements: Vec<u64> = steps.iter().map(|&s| ctx.galois_element(s)).collect();
        if conjugation {
            elements.push(ctx.conjugation_element());
        }
        Self::generate_elements(sk, &elements)
    }

    /// Keys for the given Galois elements (odd, < 2N).
    pub fn generate_elements(sk: &SecretKey, elements: &[u64]) -> Self {
        let ctx = &sk.ctx;
        let mut keys = BTreeMap::new();
        for &g in elements {
            if g == 1 || keys.contains_key(&g) {
                continue;
            }
            let mut s_rot = ctx.automorphism(&sk.ntt, g);
            keys.insert(g, SwitchingKey::generate(ctx, sk, &s_rot, os_seed()));
            zeroize::Zeroize::zeroize(&mut s_rot);
        }
        Self { keys, fingerprint: ctx.fingerprint() }
    }

    /// Adds (or replaces) keys from another set of the same parameters.
    pub fn extend(&mut self, other: GaloisKeys) -> Result<()> {
        if !self.keys.is_empty() && self.fingerprint != other.fingerprint {
            return Err(CkksError::ParameterMismatch { expected: self.fingerprint, found: other.fingerprint });
        }
        self.fingerprint = other.fingerprint;
        self.keys.extend(other.keys);
        Ok(())
    }

    /// Galois elements that have keys.
    pub fn elements(&self) -> impl Iterator<Item = u64> + '_ {
        self.keys.keys().copied()
    }

    pub(crate) fn get(&self, g: u64, rotation: Option<i64>) -> Result<&SwitchingKey> {
        self.keys.get(&g).ok_or(CkksError::MissingGaloisKey { galois_element: g, rotation })
    }
}

/// Everything a server needs to compute, and nothing that decrypts.
#[derive(Clone, Debug)]
pub struct EvaluationKeys {
    /// Parameters the keys belong to.
    pub ctx: Arc<Context>,
    /// Relinearization key (ct×ct).
    pub relin: Option<RelinKey>,
    /// Rotation and conjugation keys.
    pub galois: GaloisKeys,
}
