//! Homomorphic evaluation with public material only.
//!
//! The [`Evaluator`] never sees a secret key: its methods take ciphertexts,
//! plaintexts, and [`RelinKey`](crate::RelinKey)/[`GaloisKeys`](crate::GaloisKeys).
//! Levels are aligned automatically (dropping limbs is exact); scales must
//! agree to 2^-32 relative or the operation fails with `ScaleMismatch`, and
//! every scale is checked against the modulus so overflow cannot go unseen.

mod arith;

pub use arith::PlainDotSum;
mod mul;
pub(crate) mod rotate;

use crate::ciphertext::{Ciphertext, Plaintext};
use crate::context::Context;
use crate::error::{CkksError, Result};
use std::sync::Arc;

/// Relative tolerance under which two scales count as equal (below the
/// precision of any 40-bit-scale computation).
pub const SCALE_TOLERANCE: f64 = 1.0 / (1u64 << 32) as f64;

/// Stateless evaluator over one context; cheap to clone.
#[derive(Clone, Debug)]
pub struct Evaluator {
    ctx: Arc<Context>,
}

impl Evaluator {
    /// Evaluator for the given parameters.
    pub fn new(ctx: &Arc<Context>) -> Self {
        Self { ctx: ctx.clone() }
    }

    /// The context.
    pub fn context(&self) -> &Arc<Context> {
        &self.ctx
    }

    fn check_fp(&self, found: u64) -> Result<()> {
        self.ctx.check_fingerprint(found)
    }

    fn check_ct(&self, ct: &Ciphertext) -> Result<()> {
        self.check_fp(ct.fingerprint)?;
        if ct.parts.len() < 2 || ct.parts.len() > 3 {
            return Err(CkksError::InvalidCiphertext(format!("{} parts", ct.parts.len())));
        }
        Ok(())
    }

    pub(crate) fn check_scales(a: f64, b: f64) -> Result<()> {
        if ((a - b) / a).abs() > SCALE_TOLERANCE {
            return Err(CkksError::ScaleMismatch { a, b });
        }
        Ok(())
    }

    /// The same ciphertext read with `slots` slots. A vector whose slots
    /// repeat with period `slots` *is* the `slots`-slot vector (its plaintext
    /// lies in `Z[X^(N/2·slots)]`), so this only changes how the slots are
    /// counted: how sparse bootstrapping packs small vectors, and how they are
    /// read back as full vectors. The caller vouches for the periodicity.
    pub fn reinterpret_slots(&self, ct: &Ciphertext, slots: usize) -> Result<Ciphertext> {
        self.check_ct(ct)?;
        if !slots.is_power_of_two() || slots > self.ctx.n() / 2 {
            return Err(CkksError::InvalidSlots(format!("{slots} slots (a power of two up to {})", self.ctx.n() / 2)));
        }
        let mut out = ct.clone();
        out.slots = slots;
        Ok(out)
    }

    /// Drops `ct` to `level` (exact; no scale change).
    pub fn drop_to_level(&self, ct: &Ciphertext, level: usize) -> Result<Ciphertext> {
        self.check_ct(ct)?;
        if level > ct.level() {
            return Err(CkksError::LevelExhausted { needed: level, level: ct.level() });
        }
        Ok(ct.with_parts(ct.parts.iter().map(|p| p.prefix(level + 1)).collect()))
    }

    /// Common level of two operands. Binary operations read the higher one's
    /// first limbs in place instead of copying it down.
    fn common_level(&self, a: &Ciphertext, b: &Ciphertext) -> Result<usize> {
        self.check_ct(a)?;
        self.check_ct(b)?;
        Ok(a.level().min(b.level()))
    }

    /// Checks a plaintext can be used at `level` (its limbs are read in place).
    fn check_plain(&self, pt: &Plaintext, level: usize) -> Result<()> {
        self.check_fp(pt.fingerprint)?;
        if pt.level() < level {
            return Err(CkksError::LevelExhausted { needed: level, level: pt.level() });
        }
        Ok(())
    }
}
