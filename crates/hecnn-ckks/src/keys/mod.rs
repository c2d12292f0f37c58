//! Key material: the client's secret (feature `client`), and the public and
//! evaluation keys a server may hold.
//!
//! Key *generation* lives in [`keygen`] and the secret key in [`secret`],
//! both compiled only with the `client` feature: a build without it (what a
//! server links) has no way to name a secret key or make a key.

#[cfg(feature = "client")]
pub mod keygen;
pub mod public;
#[cfg(feature = "client")]
pub mod secret;
pub mod switching;

use crate::circuits::BootstrapKeys;
use crate::context::Context;
use crate::error::{CkksError, Result};
use public::{GaloisKeys, RelinKey};
use std::sync::Arc;

/// Identifier of one key set: drawn when the secret key is generated and
/// carried by every key and by the header of every file made for that key
/// set, so files of two key sets cannot be mixed unnoticed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct KeySetId(pub [u8; 16]);

impl KeySetId {
    /// No key set (parameter files, which any key set may share).
    pub const NONE: KeySetId = KeySetId([0; 16]);

    /// Hex form (32 characters), as manifests store it.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses [`KeySetId::to_hex`]'s form.
    pub fn from_hex(s: &str) -> Option<Self> {
        if s.len() != 32 || !s.is_ascii() {
            return None;
        }
        let mut out = [0u8; 16];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(KeySetId(out))
    }
}

impl std::fmt::Display for KeySetId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl std::fmt::Debug for KeySetId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeySetId({})", self.to_hex())
    }
}

/// Everything the server side computes with, handed over once: the
/// relinearization key, the Galois keys and (for unbounded depth) the
/// bootstrapping keys of one key set, checked to belong together. Nothing
/// in it decrypts.
#[derive(Clone, Debug)]
pub struct EvaluationKeySet {
    ctx: Arc<Context>,
    key_set: KeySetId,
    relin: RelinKey,
    galois: GaloisKeys,
    bootstrap: Option<BootstrapKeys>,
}

impl EvaluationKeySet {
    /// Bundles the keys; fails unless all were made for `ctx` and by the
    /// same key set.
    pub fn new(
        ctx: &Arc<Context>,
        relin: RelinKey,
        galois: GaloisKeys,
        bootstrap: Option<BootstrapKeys>,
    ) -> Result<Self> {
        ctx.check_fingerprint(relin.fingerprint)?;
        ctx.check_fingerprint(galois.fingerprint)?;
        let key_set = relin.key_set;
        let mut sets = vec![galois.key_set];
        if let Some(b) = &bootstrap {
            ctx.check_fingerprint(b.fingerprint)?;
            sets.push(b.key_set);
        }
        if let Some(&found) = sets.iter().find(|&&s| s != key_set) {
            return Err(CkksError::KeySetMismatch { expected: key_set, found });
        }
        Ok(Self { ctx: ctx.clone(), key_set, relin, galois, bootstrap })
    }

    /// The parameters' context.
    pub fn context(&self) -> &Arc<Context> {
        &self.ctx
    }

    /// The key set the keys belong to.
    pub fn key_set(&self) -> KeySetId {
        self.key_set
    }

    /// Relinearization key.
    pub fn relin(&self) -> &RelinKey {
        &self.relin
    }

    /// Rotation (and conjugation) keys.
    pub fn galois(&self) -> &GaloisKeys {
        &self.galois
    }

    /// Bootstrapping keys, when the client made them.
    pub fn bootstrap(&self) -> Option<&BootstrapKeys> {
        self.bootstrap.as_ref()
    }
}
