//! Additions, negation, plaintext and constant operations.

use super::Evaluator;
use crate::ciphertext::{Ciphertext, Plaintext};
use crate::encoding::check_scale;
use crate::error::{CkksError, Result};
use crate::ring::{ifma, RnsPoly};
use rayon::prelude::*;

impl Evaluator {
    /// `a + b` (levels aligned down; scales must match).
    pub fn add(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        self.combine(a, b, false)
    }

    /// `a − b`.
    pub fn sub(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        self.combine(a, b, true)
    }

    fn combine(&self, a: &Ciphertext, b: &Ciphertext, subtract: bool) -> Result<Ciphertext> {
        let l = self.common_level(a, b)?;
        Self::check_scales(a.scale, b.scale)?;
        let mut x = if a.level() == l { a.clone() } else { self.drop_to_level(a, l)? };
        let y = b;
        if x.slots != y.slots {
            x.slots = x.slots.max(y.slots);
        }
        while x.parts.len() < y.parts.len() {
            let z = RnsPoly::zero(self.ctx.n(), x.level() + 1, 0, true);
            x.parts.push(z);
        }
        for (i, py) in y.parts.iter().enumerate() {
            if subtract {
                self.ctx.sub_assign(&mut x.parts[i], py);
            } else {
                self.ctx.add_assign(&mut x.parts[i], py);
            }
        }
        x.scale = a.scale;
        Ok(x)
    }

    /// Sums many ciphertexts (levels aligned to the lowest).
    pub fn add_many(&self, cts: &[Ciphertext]) -> Result<Ciphertext> {
        let (first, rest) = cts.split_first().ok_or_else(|| CkksError::InvalidCiphertext("empty sum".into()))?;
        let mut acc = first.clone();
        for c in rest {
            acc = self.add(&acc, c)?;
        }
        Ok(acc)
    }

    /// `−a`.
    pub fn neg(&self, a: &Ciphertext) -> Result<Ciphertext> {
        self.check_ct(a)?;
        let mut x = a.clone();
        for p in &mut x.parts {
            self.ctx.neg_assign(p);
        }
        Ok(x)
    }

    /// `a + pt` (the plaintext must have the ciphertext's scale).
    pub fn add_plain(&self, a: &Ciphertext, pt: &Plaintext) -> Result<Ciphertext> {
        self.combine_plain(a, pt, false)
    }

    /// `a − pt`.
    pub fn sub_plain(&self, a: &Ciphertext, pt: &Plaintext) -> Result<Ciphertext> {
        self.combine_plain(a, pt, true)
    }

    fn combine_plain(&self, a: &Ciphertext, pt: &Plaintext, subtract: bool) -> Result<Ciphertext> {
        self.check_ct(a)?;
        Self::check_scales(a.scale, pt.scale)?;
        self.check_plain(pt, a.level())?;
        let mut x = a.clone();
        if subtract {
            self.ctx.sub_assign(&mut x.parts[0], &pt.poly);
        } else {
            self.ctx.add_assign(&mut x.parts[0], &pt.poly);
        }
        Ok(x)
    }

    /// `acc += a ⊙ pt` in one pass over the limbs, with no temporary
    /// ciphertext: the inner sums of a diagonal (BSGS) linear transform,
    /// where a separate `mul_plain` and `add` would copy four polynomials per
    /// diagonal. `acc` must be at `a`'s level with `a`'s parts and scale
    /// `a.scale·pt.scale` (a product of the same form).
    pub fn mul_plain_add_assign(&self, acc: &mut Ciphertext, a: &Ciphertext, pt: &Plaintext) -> Result<()> {
        self.check_ct(a)?;
        self.check_ct(acc)?;
        Self::check_scales(acc.scale, a.scale * pt.scale)?;
        self.check_plain(pt, a.level())?;
        if acc.level() != a.level() || acc.parts.len() != a.parts.len() {
            return Err(CkksError::InvalidCiphertext(format!(
                "accumulator at level {} with {} parts, product at level {} with {} parts",
                acc.level(),
                acc.parts.len(),
                a.level(),
                a.parts.len()
            )));
        }
        for (x, y) in acc.parts.iter_mut().zip(&a.parts) {
            self.ctx.mul_add_assign(x, y, &pt.poly);
        }
        Ok(())
    }

    /// `a ⊙ pt`; the result has scale `a.scale·pt.scale` (rescale after).
    pub fn mul_plain(&self, a: &Ciphertext, pt: &Plaintext) -> Result<Ciphertext> {
        self.check_ct(a)?;
        let scale = a.scale * pt.scale;
        check_scale(scale, a.level(), &self.ctx)?;
        self.check_plain(pt, a.level())?;
        let mut x = a.clone();
        for part in &mut x.parts {
            self.ctx.mul_assign(part, &pt.poly);
        }
        x.scale = scale;
        Ok(x)
    }

    /// `a + c` for a real constant c, encoded at the ciphertext's scale.
    pub fn add_const(&self, a: &Ciphertext, c: f64) -> Result<Ciphertext> {
        self.check_ct(a)?;
        let residues = self.const_residues(c * a.scale, a.level())?;
        let mut x = a.clone();
        // A constant polynomial is the same value at every NTT evaluation.
        let n = self.ctx.n();
        for (i, &r) in residues.iter().enumerate() {
            let m = self.ctx.moduli()[i];
            x.parts[0].data[i * n..(i + 1) * n].iter_mut().for_each(|v| *v = m.add(*v, r));
        }
        Ok(x)
    }

    /// `a · c` for a real constant c. The constant is encoded at scale
    /// `q_l` (the prime the next rescale removes), so after [`rescale`]
    /// the scale is exactly `a.scale` again.
    ///
    /// [`rescale`]: Evaluator::rescale
    pub fn mul_const(&self, a: &Ciphertext, c: f64) -> Result<Ciphertext> {
        self.check_ct(a)?;
        let ql = self.ctx.params().q()[a.level()] as f64;
        self.mul_const_with_scale(a, c, ql)
    }

    /// `a · c` with the constant encoded at `const_scale` (result scale
    /// `a.scale · const_scale`).
    pub fn mul_const_with_scale(&self, a: &Ciphertext, c: f64, const_scale: f64) -> Result<Ciphertext> {
        self.check_ct(a)?;
        let scale = a.scale * const_scale;
        check_scale(scale, a.level(), &self.ctx)?;
        let residues = self.const_residues(c * const_scale, a.level())?;
        let mut x = a.clone();
        for p in &mut x.parts {
            self.ctx.mul_limb_constants(p, &residues);
        }
        x.scale = scale;
        Ok(x)
    }

    /// `Σ c_i · ct_i` at `level`, every constant encoded at `target_scale / ct_i.scale` so all
    /// terms land on exactly `target_scale` whatever their own scales and levels (not rescaled).
    /// This is how polynomial circuits fold their scalar products into the rescale that follows
    /// a ciphertext product, instead of spending a level on each.
    ///
    /// ```
    /// # use hecnn_ckks::*;
    /// # let ctx = Context::new(Parameters::insecure_for_tests(11, &[50, 40, 40], 3, 40).unwrap()).unwrap();
    /// # let sk = SecretKey::generate(&ctx);
    /// # let enc = Encoder::new(&ctx);
    /// # let dec = Decryptor::new(&sk);
    /// let ev = Evaluator::new(&ctx);
    /// let s = ctx.params().scale();
    /// let a = dec.encrypt_symmetric(&enc.encode_real(&[1.0], 1, 2, s).unwrap()).unwrap().expand(&ctx).unwrap();
    /// let b = dec.encrypt_symmetric(&enc.encode_real(&[2.0], 1, 1, 1.5 * s).unwrap()).unwrap().expand(&ctx).unwrap();
    /// let target = s * ctx.params().q()[1] as f64;
    /// let sum = ev.rescale(&ev.linear_combination(&[(&a, 0.25), (&b, -1.5)], target, 1).unwrap()).unwrap();
    /// assert!((enc.decode_real(&dec.decrypt(&sum).unwrap()).unwrap()[0] + 2.75).abs() < 1e-6);
    /// ```
    pub fn linear_combination(
        &self,
        terms: &[(&Ciphertext, f64)],
        target_scale: f64,
        level: usize,
    ) -> Result<Ciphertext> {
        let (first, _) =
            terms.first().ok_or_else(|| CkksError::InvalidCiphertext("empty linear combination".into()))?;
        check_scale(target_scale, level, &self.ctx)?;
        let mut constants = Vec::with_capacity(terms.len());
        for &(ct, c) in terms {
            self.check_ct(ct)?;
            if ct.parts.len() != 2 {
                return Err(CkksError::InvalidCiphertext("linear combination needs relinearized operands".into()));
            }
            if ct.level() < level {
                return Err(CkksError::LevelExhausted { needed: level, level: ct.level() });
            }
            if !c.is_finite() {
                return Err(CkksError::NonFinite { index: constants.len() });
            }
            constants.push(self.const_residues(c * (target_scale / ct.scale), level)?);
        }
        let n = self.ctx.n();
        let mut parts = [RnsPoly::zero(n, level + 1, 0, true), RnsPoly::zero(n, level + 1, 0, true)];
        for (j, part) in parts.iter_mut().enumerate() {
            part.data.par_chunks_mut(n).enumerate().for_each(|(i, acc)| {
                let m = self.ctx.moduli()[i];
                let xs: Vec<&[u64]> = terms.iter().map(|(ct, _)| ct.parts[j].limb(i)).collect();
                let ws: Vec<u64> = constants.iter().map(|w| w[i]).collect();
                if ifma::scaled_sum(&m, acc, None, &xs, &ws).is_some() {
                    return;
                }
                for ((ct, _), w) in terms.iter().zip(&constants) {
                    let (w, ws) = (w[i], m.shoup(w[i]));
                    for (a, &x) in acc.iter_mut().zip(ct.parts[j].limb(i)) {
                        *a = m.add(*a, m.mul_shoup(x, w, ws));
                    }
                }
            });
        }
        Ok(Ciphertext {
            parts: parts.into(),
            scale: target_scale,
            slots: terms.iter().map(|(ct, _)| ct.slots).max().unwrap_or(first.slots),
            fingerprint: first.fingerprint,
        })
    }

    /// `a · k` for a small integer k (no scale change, no level used).
    pub fn mul_integer(&self, a: &Ciphertext, k: i64) -> Result<Ciphertext> {
        self.check_ct(a)?;
        let residues: Vec<u64> = (0..=a.level()).map(|i| self.ctx.moduli()[i].from_i64(k)).collect();
        let mut x = a.clone();
        for p in &mut x.parts {
            self.ctx.mul_limb_constants(p, &residues);
        }
        Ok(x)
    }

    /// Residues of `round(v)` modulo q_0..q_level.
    fn const_residues(&self, v: f64, level: usize) -> Result<Vec<u64>> {
        if !v.is_finite() {
            return Err(CkksError::NonFinite { index: 0 });
        }
        if v.abs() >= 2f64.powi(126) {
            return Err(CkksError::ScaleOutOfBounds(format!("constant {v:e} too large")));
        }
        let r = v.round() as i128;
        Ok((0..=level).map(|i| self.ctx.moduli()[i].from_i128(r)).collect())
    }
}
