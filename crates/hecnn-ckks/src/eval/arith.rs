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

    /// `Σ_k a_k ⊙ pt_k`, the inner sum of a diagonal (BSGS) linear
    /// transform, with one modular reduction per residue for the whole sum
    /// (the key switch's inner-product kernel, with the plaintexts in the
    /// digits' place and the two ciphertext parts in the key's), and no
    /// copy: half the cycles of a [`mul_plain`](Self::mul_plain) and
    /// [`mul_plain_add_assign`](Self::mul_plain_add_assign) per term in a
    /// full-slot bootstrap's transforms (perf: ≈ 10 % → 5 % of it), most
    /// of it on the 60-bit limbs, where a product alone took a 128-bit
    /// reduction.
    ///
    /// The ciphertexts must share a level and a part count, the products a
    /// scale (`a_k.scale·pt_k.scale`); the result has that scale.
    ///
    /// ```
    /// # use hecnn_ckks::{Context, Decryptor, Encoder, Encryptor, Evaluator, Parameters, PublicKey, SecretKey};
    /// let ctx = Context::new(Parameters::insecure_for_tests(10, &[60, 40], 2, 40).unwrap()).unwrap();
    /// let sk = SecretKey::generate(&ctx);
    /// let (enc, ev, dec) = (Encoder::new(&ctx), Evaluator::new(&ctx), Decryptor::new(&sk));
    /// let encrypt = Encryptor::new(&ctx, PublicKey::generate(&sk)).unwrap();
    /// let delta = ctx.params().scale();
    /// let x = encrypt.encrypt(&enc.encode_real(&[1.0, 2.0], 2, 1, delta).unwrap()).unwrap();
    /// let y = encrypt.encrypt(&enc.encode_real(&[3.0, -1.0], 2, 1, delta).unwrap()).unwrap();
    /// let (p, q) = (enc.encode_real(&[0.5, 0.5], 2, 1, delta).unwrap(), enc.encode_real(&[1.0, 2.0], 2, 1, delta).unwrap());
    /// let sum = ev.rescale(&ev.dot_plain(&[(&x, &p), (&y, &q)]).unwrap()).unwrap();
    /// let got = enc.decode_real(&dec.decrypt(&sum).unwrap()).unwrap();
    /// assert!((got[0] - 3.5).abs() < 1e-6 && (got[1] + 1.0).abs() < 1e-6);
    /// ```
    pub fn dot_plain(&self, terms: &[(&Ciphertext, &Plaintext)]) -> Result<Ciphertext> {
        let &(first, first_pt) =
            terms.first().ok_or_else(|| CkksError::InvalidCiphertext("empty plaintext dot product".into()))?;
        let (level, parts, scale) = (first.level(), first.parts.len(), first.scale * first_pt.scale);
        check_scale(scale, level, &self.ctx)?;
        for &(a, pt) in terms {
            self.check_ct(a)?;
            self.check_plain(pt, level)?;
            if a.level() != level || a.parts.len() != parts {
                return Err(CkksError::InvalidCiphertext(format!(
                    "dot product of a ciphertext at level {} with {} parts and one at level {} with {} parts",
                    level,
                    parts,
                    a.level(),
                    a.parts.len()
                )));
            }
            Self::check_scales(scale, a.scale * pt.scale)?;
        }
        let (ctx, n) = (&self.ctx, self.ctx.n());
        let mut out: Vec<RnsPoly> = (0..parts).map(|_| RnsPoly::uninit(n, level + 1, 0, true)).collect();
        let kernel = parts == 2 && n.is_multiple_of(8);
        if let [o0, o1] = &mut out[..] {
            o0.data.par_chunks_mut(n).zip(o1.data.par_chunks_mut(n)).enumerate().for_each(|(i, (o0, o1))| {
                let m = &ctx.moduli()[i];
                let reducer = ifma::InnerReducer::new(m).filter(|r| kernel && terms.len() <= r.max_digits());
                let Some(reducer) = reducer else {
                    plain_dot_part(m, i, 0, terms, o0);
                    return plain_dot_part(m, i, 1, terms, o1);
                };
                let pts: Vec<&[u64]> = terms.iter().map(|(_, pt)| pt.poly.limb(i)).collect();
                let c0: Vec<&[u64]> = terms.iter().map(|(a, _)| a.parts[0].limb(i)).collect();
                let c1: Vec<&[u64]> = terms.iter().map(|(a, _)| a.parts[1].limb(i)).collect();
                let block = ifma::InnerBlock { d: &pts, start: 0, perm: None, b: &c0, a: &c1 };
                ifma::inner_product(&reducer, &block, o0, o1).expect("the reducer exists, so the CPU has IFMA");
            });
        } else {
            for (p, o) in out.iter_mut().enumerate() {
                o.data
                    .par_chunks_mut(n)
                    .enumerate()
                    .for_each(|(i, o)| plain_dot_part(&ctx.moduli()[i], i, p, terms, o));
            }
        }
        let slots = terms.iter().map(|(a, _)| a.slots).max().unwrap_or(first.slots);
        Ok(Ciphertext { parts: out, scale, slots, fingerprint: first.fingerprint })
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

/// `Σ_k a_k ⊙ pt_k` over terms that arrive one at a time (plaintexts
/// encoded on the fly): [`Evaluator::dot_plain`] over chunks of
/// [`CHUNK`](Self::CHUNK) terms, so that at most that many encoded
/// plaintexts are alive at once, and the chunks' sums added.
pub struct PlainDotSum<'a> {
    ev: &'a Evaluator,
    pending: Vec<(&'a Ciphertext, Plaintext)>,
    acc: Option<Ciphertext>,
}

impl<'a> PlainDotSum<'a> {
    /// Terms per [`Evaluator::dot_plain`] call.
    pub const CHUNK: usize = 8;

    /// An empty sum.
    pub fn new(ev: &'a Evaluator) -> Self {
        Self { ev, pending: Vec::with_capacity(Self::CHUNK), acc: None }
    }

    /// Adds `a ⊙ pt`.
    pub fn push(&mut self, a: &'a Ciphertext, pt: Plaintext) -> Result<()> {
        self.pending.push((a, pt));
        if self.pending.len() == Self::CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let terms: Vec<(&Ciphertext, &Plaintext)> = self.pending.iter().map(|(a, pt)| (*a, pt)).collect();
        let sum = self.ev.dot_plain(&terms)?;
        self.pending.clear();
        self.acc = Some(match self.acc.take() {
            None => sum,
            Some(acc) => self.ev.add(&acc, &sum)?,
        });
        Ok(())
    }

    /// The sum; `None` if no term was pushed.
    pub fn finish(mut self) -> Result<Option<Ciphertext>> {
        self.flush()?;
        Ok(self.acc)
    }
}

/// Limb i of part p of [`Evaluator::dot_plain`] without the IFMA kernel.
fn plain_dot_part(m: &crate::ring::Modulus, i: usize, p: usize, terms: &[(&Ciphertext, &Plaintext)], o: &mut [u64]) {
    let pairs: Vec<(&[u64], &[u64])> = terms.iter().map(|(a, pt)| (a.parts[p].limb(i), pt.poly.limb(i))).collect();
    crate::ring::modulus::dot_slices(m, &pairs, o);
}
