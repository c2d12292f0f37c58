//! Slot rotations and conjugation, single and hoisted.

use super::Evaluator;
use crate::ciphertext::Ciphertext;
use crate::error::{CkksError, Result};
use crate::keys::public::GaloisKeys;
use crate::keys::switching::{decompose, inner_product, mod_down, Decomposed};
use crate::ring::{ifma, RnsPoly};
use rayon::prelude::*;

/// A ciphertext in the middle of a chain of rotations and additions, with
/// `P·c_0` kept over Q_l·P: a rotation's `c_0` part needs no ModDown (its
/// automorphism and the key switch's output both live there), so a chain
/// of k rotations (Horner's rule for a transform's giant steps) pays k + 1
/// ModDowns instead of 2k, and rounds `c_0` once.
pub(crate) struct LazyC0 {
    c0p: RnsPoly,
    c1: RnsPoly,
    /// Scale, slots and fingerprint (no parts).
    meta: Ciphertext,
}

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
        self.check_rotations(ct, steps, gk)?;
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

    /// `ct ← ct + R^s(ct)` for each of `steps` in turn (the rotate-and-sum
    /// of a reduction: with steps 1, 2, 4, … every slot ends up holding the
    /// sum of a window). `P·c_0` stays over Q_l·P through the chain
    /// ([`LazyC0`]), so k steps take k + 1 ModDowns instead of 2k.
    pub fn rotate_sum(&self, ct: &Ciphertext, steps: &[i64], gk: &GaloisKeys) -> Result<Ciphertext> {
        self.check_rotations(ct, steps, gk)?;
        let mut y = self.lazy_c0(ct)?;
        for &s in steps {
            let g = self.ctx.galois_element(s);
            let r = if g == 1 {
                LazyC0 { c0p: y.c0p.clone(), c1: y.c1.clone(), meta: y.meta.clone() }
            } else {
                self.lazy_rotation(&y, g, gk.get(g, Some(s), ct.level())?)
            };
            self.ctx.add_assign(&mut y.c0p, &r.c0p);
            self.ctx.add_assign(&mut y.c1, &r.c1);
        }
        Ok(self.lazy_finish(y))
    }

    /// Starts a chain of rotations and additions with `c_0` kept lazily
    /// ([`LazyC0`]).
    pub(crate) fn lazy_c0(&self, ct: &Ciphertext) -> Result<LazyC0> {
        self.check_two_parts(ct)?;
        let (n, num_q) = (self.ctx.n(), ct.level() + 1);
        let mut c0p = RnsPoly::uninit(n, num_q, self.ctx.num_p(), true);
        c0p.data[num_q * n..].fill(0);
        self.times_p(&mut c0p, &ct.parts[0], false);
        Ok(LazyC0 { c0p, c1: ct.parts[1].clone(), meta: ct.with_parts(Vec::new()) })
    }

    /// `R^steps(y) + x`, keeping `c_0` over Q_l·P: one ModDown (of `c_1`,
    /// which the next rotation decomposes) instead of two.
    pub(crate) fn lazy_rotate_add(
        &self,
        y: LazyC0,
        steps: i64,
        gk: &GaloisKeys,
        x: Option<&Ciphertext>,
    ) -> Result<LazyC0> {
        let level = y.c1.num_q - 1;
        let g = self.ctx.galois_element(steps);
        let key = gk.get(g, Some(steps), level)?;
        if let Some(x) = x {
            self.check_two_parts(x)?;
            if x.level() != level {
                return Err(CkksError::InvalidCiphertext("lazy chain: operands at different levels".into()));
            }
            Self::check_scales(x.scale, y.meta.scale)?;
        }
        let mut r = self.lazy_rotation(&y, g, key);
        if let Some(x) = x {
            self.add_times_p(&mut r.c0p, &x.parts[0]);
            self.ctx.add_assign(&mut r.c1, &x.parts[1]);
        }
        Ok(r)
    }

    /// `R^g(y)`, lazily: `P·c_0` rotated in Q_l·P plus the key switch's
    /// output there, `c_1` brought down for the next decomposition.
    fn lazy_rotation(&self, y: &LazyC0, g: u64, key: &crate::keys::switching::SwitchingKey) -> LazyC0 {
        let dec = decompose(&self.ctx, &y.c1);
        let perm = self.ctx.galois_permutation(g);
        let [u0, u1] = inner_product(&self.ctx, &dec, key, Some(&perm));
        let mut c0p = self.ctx.automorphism(&y.c0p, g);
        self.ctx.add_assign(&mut c0p, &u0);
        LazyC0 { c0p, c1: mod_down(&self.ctx, &u1), meta: y.meta.clone() }
    }

    /// Ends a lazy chain: `c_0` comes down from Q_l·P.
    pub(crate) fn lazy_finish(&self, y: LazyC0) -> Ciphertext {
        let c0 = mod_down(&self.ctx, &y.c0p);
        y.meta.with_parts(vec![c0, y.c1])
    }

    /// `acc += P·c` on the Q limbs of `acc` (P·c vanishes modulo the
    /// special primes).
    fn add_times_p(&self, acc: &mut RnsPoly, c: &RnsPoly) {
        self.times_p(acc, c, true);
    }

    /// `P·c` written to (`add`: added to) the Q limbs of `out`.
    fn times_p(&self, out: &mut RnsPoly, c: &RnsPoly, add: bool) {
        let n = self.ctx.n();
        let num_q = out.num_q;
        out.data[..num_q * n].par_chunks_mut(n).enumerate().for_each(|(i, o)| {
            let m = self.ctx.moduli()[i];
            let p = self.ctx.p_mod_q[i];
            if ifma::scaled_sum(&m, o, add.then_some(1), &[c.limb(i)], &[p]).is_some() {
                return;
            }
            let ps = m.shoup(p);
            for (oo, &cc) in o.iter_mut().zip(c.limb(i)) {
                let pc = m.mul_shoup(cc, p, ps);
                *oo = if add { m.add(*oo, pc) } else { pc };
            }
        });
    }

    /// Fails before any work if `ct` cannot be rotated or a key for one of
    /// `steps` is missing or too low.
    fn check_rotations(&self, ct: &Ciphertext, steps: &[i64], gk: &GaloisKeys) -> Result<()> {
        self.check_two_parts(ct)?;
        self.check_fp(gk.fingerprint)?;
        for &s in steps {
            let g = self.ctx.galois_element(s);
            if g != 1 {
                gk.get(g, Some(s), ct.level())?;
            }
        }
        Ok(())
    }

    fn check_two_parts(&self, ct: &Ciphertext) -> Result<()> {
        self.check_ct(ct)?;
        if ct.parts.len() != 2 {
            return Err(CkksError::InvalidCiphertext("relinearize before rotating".into()));
        }
        Ok(())
    }
}
