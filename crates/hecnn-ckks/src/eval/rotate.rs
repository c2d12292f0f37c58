//! Slot rotations and conjugation, single and hoisted.

use super::Evaluator;
use crate::ciphertext::Ciphertext;
use crate::error::{CkksError, Result};
use crate::keys::public::GaloisKeys;
use crate::keys::switching::{decompose, inner_product, mod_down, Decomposed};

impl Evaluator {
    /// Rotates the slots left by `steps` (negative: right).
    pub fn rotate(&self, ct: &Ciphertext, steps: i64, gk: &GaloisKeys) -> Result<Ciphertext> {
        let g = self.ctx.galois_element(steps);
        if g == 1 {
            self.check_ct(ct)?;
            return Ok(ct.clone());
        }
        self.apply_galois(ct, g, Some(steps), gk)
    }

    /// Complex conjugation of every slot.
    pub fn conjugate(&self, ct: &Ciphertext, gk: &GaloisKeys) -> Result<Ciphertext> {
        self.apply_galois(ct, self.ctx.conjugation_element(), None, gk)
    }

    /// Applies `X → X^g` and switches the key back to s.
    pub fn apply_galois(&self, ct: &Ciphertext, g: u64, rotation: Option<i64>, gk: &GaloisKeys) -> Result<Ciphertext> {
        self.check_two_parts(ct)?;
        self.check_fp(gk.fingerprint)?;
        let key = gk.get(g, rotation, ct.level())?;
        let dec = decompose(&self.ctx, &ct.parts[1]);
        let perm = self.ctx.galois_permutation(g);
        self.finish_rotation(ct, &dec, g, &perm, key)
    }

    /// Rotations of one ciphertext by several steps sharing a single
    /// decomposition (hoisting): the INTT, ModUp and NTTs of `c_1` are done
    /// once; each extra step costs one inner product and one ModDown.
    pub fn rotate_hoisted(&self, ct: &Ciphertext, steps: &[i64], gk: &GaloisKeys) -> Result<Vec<Ciphertext>> {
        self.check_two_parts(ct)?;
        self.check_fp(gk.fingerprint)?;
        // Fail before any work if a key is missing.
        for &s in steps {
            let g = self.ctx.galois_element(s);
            if g != 1 {
                gk.get(g, Some(s), ct.level())?;
            }
        }
        let dec = decompose(&self.ctx, &ct.parts[1]);
        steps
            .iter()
            .map(|&s| {
                let g = self.ctx.galois_element(s);
                if g == 1 {
                    return Ok(ct.clone());
                }
                let perm = self.ctx.galois_permutation(g);
                self.finish_rotation(ct, &dec, g, &perm, gk.get(g, Some(s), ct.level())?)
            })
            .collect()
    }

    /// Decomposes `c_1` once for later [`Evaluator::rotate_decomposed`] calls.
    pub fn decompose_for_rotation(&self, ct: &Ciphertext) -> Result<Decomposed> {
        self.check_two_parts(ct)?;
        Ok(decompose(&self.ctx, &ct.parts[1]))
    }

    /// One hoisted rotation from a shared decomposition of `ct`.
    pub fn rotate_decomposed(
        &self,
        ct: &Ciphertext,
        dec: &Decomposed,
        steps: i64,
        gk: &GaloisKeys,
    ) -> Result<Ciphertext> {
        self.check_two_parts(ct)?;
        if dec.level != ct.level() {
            return Err(CkksError::InvalidCiphertext("decomposition made at another level".into()));
        }
        let g = self.ctx.galois_element(steps);
        if g == 1 {
            return Ok(ct.clone());
        }
        let key = gk.get(g, Some(steps), ct.level())?;
        let perm = self.ctx.galois_permutation(g);
        self.finish_rotation(ct, dec, g, &perm, key)
    }

    fn finish_rotation(
        &self,
        ct: &Ciphertext,
        dec: &Decomposed,
        g: u64,
        perm: &[u32],
        key: &crate::keys::switching::SwitchingKey,
    ) -> Result<Ciphertext> {
        let [x0, x1] = inner_product(&self.ctx, dec, key, Some(perm));
        let mut c0 = self.ctx.automorphism(&ct.parts[0], g);
        let u0 = mod_down(&self.ctx, &x0);
        let c1 = mod_down(&self.ctx, &x1);
        self.ctx.add_assign(&mut c0, &u0);
        Ok(ct.with_parts(vec![c0, c1]))
    }

    fn check_two_parts(&self, ct: &Ciphertext) -> Result<()> {
        self.check_ct(ct)?;
        if ct.parts.len() != 2 {
            return Err(CkksError::InvalidCiphertext("relinearize before rotating".into()));
        }
        Ok(())
    }
}
