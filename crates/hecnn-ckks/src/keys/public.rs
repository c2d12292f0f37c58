//! Public key, relinearization key and Galois keys: public material a
//! server may hold. Their generation is client-side (`keys::keygen`).

use crate::context::Context;
use crate::error::{CkksError, Result};
use crate::keys::switching::SwitchingKey;
use crate::keys::KeySetId;
use crate::ring::sampling::UniformStream;
use crate::ring::RnsPoly;
use rayon::prelude::*;
use std::collections::BTreeMap;

/// `(b, a) = (−a·s + e, a)` over all ciphertext *and special* primes, NTT
/// form; `a` is expanded from `seed`. Encryption happens modulo Q·P and is
/// then divided by P (as SEAL does), which leaves only rounding noise.
#[derive(Clone, Debug, PartialEq)]
pub struct PublicKey {
    pub(crate) b: RnsPoly,
    pub(crate) a: RnsPoly,
    pub(crate) seed: [u8; 32],
    pub(crate) fingerprint: u64,
    pub(crate) key_set: KeySetId,
}

impl PublicKey {
    pub(crate) fn expand_a(ctx: &Context, seed: &[u8; 32]) -> RnsPoly {
        let n = ctx.n();
        let num_q = ctx.max_level() + 1;
        let mut a = RnsPoly::uninit(n, num_q, ctx.num_p(), true);
        a.data.par_chunks_mut(n).enumerate().for_each(|(i, limb)| {
            UniformStream::new(seed, i as u64, &ctx.moduli()[i]).fill(limb);
        });
        a
    }

    /// The key set this key belongs to.
    pub fn key_set(&self) -> KeySetId {
        self.key_set
    }
}

/// Switching key `s² → s`, used after ciphertext multiplication.
#[derive(Clone, Debug, PartialEq)]
pub struct RelinKey {
    pub(crate) key: SwitchingKey,
    pub(crate) fingerprint: u64,
    pub(crate) key_set: KeySetId,
}

impl RelinKey {
    /// The underlying switching key (for profiling and advanced use).
    pub fn switching_key(&self) -> &SwitchingKey {
        &self.key
    }

    /// The key set this key belongs to.
    pub fn key_set(&self) -> KeySetId {
        self.key_set
    }

    /// This key with its `a` held in memory up to `level`
    /// ([`SwitchingKey::expanded`]): for a stretch of many products, e.g.
    /// the polynomials of bootstrapping's EvalMod (about 25 relinearizations
    /// per ciphertext).
    pub fn expanded(&self, ctx: &Context, level: usize) -> RelinKey {
        RelinKey { key: self.key.expanded(ctx, level), fingerprint: self.fingerprint, key_set: self.key_set }
    }
}

/// Switching keys `σ_k(s) → s` for chosen Galois elements k.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct GaloisKeys {
    pub(crate) keys: BTreeMap<u64, SwitchingKey>,
    pub(crate) fingerprint: u64,
    pub(crate) key_set: KeySetId,
}

impl GaloisKeys {
    /// Adds keys from another set of the same parameters and key set; where
    /// both hold a key for one element, keeps the one reaching higher.
    pub fn extend(&mut self, other: GaloisKeys) -> Result<()> {
        if !self.keys.is_empty() {
            if self.fingerprint != other.fingerprint {
                return Err(CkksError::ParameterMismatch { expected: self.fingerprint, found: other.fingerprint });
            }
            if self.key_set != other.key_set {
                return Err(CkksError::KeySetMismatch { expected: self.key_set, found: other.key_set });
            }
        }
        self.fingerprint = other.fingerprint;
        self.key_set = other.key_set;
        // Of two keys for one element, the one reaching higher serves both.
        for (g, k) in other.keys {
            match self.keys.get(&g) {
                Some(mine) if mine.level() >= k.level() => {}
                _ => {
                    self.keys.insert(g, k);
                }
            }
        }
        Ok(())
    }

    /// Galois elements that have keys.
    pub fn elements(&self) -> impl Iterator<Item = u64> + '_ {
        self.keys.keys().copied()
    }

    /// The key set these keys belong to.
    pub fn key_set(&self) -> KeySetId {
        self.key_set
    }

    /// The first of `steps` (slot rotations) with no key here: a caller
    /// that knows its rotations checks once, before any work, instead of
    /// meeting [`CkksError::MissingGaloisKey`] halfway through it.
    pub fn first_missing_rotation(&self, ctx: &Context, steps: &[i64]) -> Option<i64> {
        steps.iter().copied().find(|&s| !self.keys.contains_key(&ctx.galois_element(s)))
    }

    /// The key of Galois element `g`, checked to reach `level`.
    pub(crate) fn get(&self, g: u64, rotation: Option<i64>, level: usize) -> Result<&SwitchingKey> {
        let key = self.keys.get(&g).ok_or(CkksError::MissingGaloisKey { galois_element: g, rotation })?;
        key.check_level(level, || match rotation {
            Some(r) => format!("rotation {r}"),
            None => format!("Galois element {g}"),
        })?;
        Ok(key)
    }

    /// The level each key reaches, by Galois element.
    pub fn levels(&self) -> impl Iterator<Item = (u64, usize)> + '_ {
        self.keys.iter().map(|(&g, k)| (g, k.level()))
    }

    /// Bytes of key material held in memory.
    pub fn memory_bytes(&self) -> usize {
        self.keys.values().map(SwitchingKey::memory_bytes).sum()
    }

    /// These keys with those of the Galois elements `elements` expanded up
    /// to `level` ([`SwitchingKey::expanded`]); the others and every `b`
    /// are shared, not copied. For a computation that uses a few keys many
    /// times (a BSGS transform's giant and baby hops).
    pub fn expanded(&self, ctx: &Context, elements: &[u64], level: usize) -> GaloisKeys {
        let mut out = self.clone();
        for g in elements {
            if let Some(k) = out.keys.get_mut(g) {
                *k = k.expanded(ctx, level);
            }
        }
        out
    }
}
