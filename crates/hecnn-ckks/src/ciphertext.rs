//! Plaintexts and ciphertexts: RNS polynomials in NTT form plus the level,
//! scale and slot count that give them meaning.

use crate::ring::RnsPoly;

/// An encoded message: `m(X)` with `m ≈ Δ·(values)` under the canonical embedding.
#[derive(Clone, Debug, PartialEq)]
pub struct Plaintext {
    pub(crate) poly: RnsPoly,
    pub(crate) scale: f64,
    pub(crate) slots: usize,
    pub(crate) fingerprint: u64,
}

impl Plaintext {
    /// Level (number of ciphertext primes − 1).
    pub fn level(&self) -> usize {
        self.poly.num_q - 1
    }
    /// Scale Δ the values were multiplied by.
    pub fn scale(&self) -> f64 {
        self.scale
    }
    /// Number of complex slots encoded.
    pub fn slots(&self) -> usize {
        self.slots
    }
    /// The underlying polynomial.
    pub fn poly(&self) -> &RnsPoly {
        &self.poly
    }
}

/// A CKKS ciphertext `(c_0, c_1[, c_2])` with `c_0 + c_1·s (+ c_2·s²) ≈ m`.
///
/// Three parts only between a multiplication and its (deferred)
/// relinearization.
#[derive(Clone, Debug, PartialEq)]
pub struct Ciphertext {
    pub(crate) parts: Vec<RnsPoly>,
    pub(crate) scale: f64,
    pub(crate) slots: usize,
    pub(crate) fingerprint: u64,
}

impl Ciphertext {
    /// Level l: the ciphertext lives modulo q_0·…·q_l.
    pub fn level(&self) -> usize {
        self.parts[0].num_q - 1
    }
    /// Current scale.
    pub fn scale(&self) -> f64 {
        self.scale
    }
    /// Number of complex slots in use.
    pub fn slots(&self) -> usize {
        self.slots
    }
    /// 2 normally, 3 after a multiplication without relinearization.
    pub fn num_parts(&self) -> usize {
        self.parts.len()
    }
    /// Parameter fingerprint this ciphertext belongs to.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }
    /// The polynomials (NTT form).
    pub fn parts(&self) -> &[RnsPoly] {
        &self.parts
    }

    /// A ciphertext with new parts and this one's scale, slots and
    /// parameters (the result of an operation that keeps them).
    pub(crate) fn with_parts(&self, parts: Vec<RnsPoly>) -> Ciphertext {
        Ciphertext { parts, scale: self.scale, slots: self.slots, fingerprint: self.fingerprint }
    }
}

/// A fresh secret-key encryption as it travels: `c_0` and the 32-byte seed
/// its uniform `c_1` expands from (half the size of a [`Ciphertext`]). The
/// only thing to do with it is [`SeededCiphertext::expand`]; evaluation
/// never sees a seed, so no operation has to remember to drop one.
#[derive(Clone, Debug, PartialEq)]
pub struct SeededCiphertext {
    pub(crate) c0: RnsPoly,
    pub(crate) seed: [u8; 32],
    pub(crate) scale: f64,
    pub(crate) slots: usize,
    pub(crate) fingerprint: u64,
}

impl SeededCiphertext {
    /// Level l.
    pub fn level(&self) -> usize {
        self.c0.num_q - 1
    }
    /// Scale.
    pub fn scale(&self) -> f64 {
        self.scale
    }
    /// Number of complex slots in use.
    pub fn slots(&self) -> usize {
        self.slots
    }
    /// Parameter fingerprint.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// The full ciphertext `(c_0, c_1)` with `c_1` regenerated from the seed.
    pub fn expand(&self, ctx: &crate::Context) -> crate::Result<Ciphertext> {
        ctx.check_fingerprint(self.fingerprint)?;
        let c1 = crate::encrypt::expand_ciphertext_a(ctx, &self.seed, self.c0.num_q);
        Ok(Ciphertext {
            parts: vec![self.c0.clone(), c1],
            scale: self.scale,
            slots: self.slots,
            fingerprint: self.fingerprint,
        })
    }
}
