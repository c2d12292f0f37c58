//! Ciphertext multiplication, relinearization and rescaling.

use super::Evaluator;
use crate::ciphertext::Ciphertext;
use crate::encoding::check_scale;
use crate::error::{CkksError, Result};
use crate::keys::public::RelinKey;
use crate::keys::switching::{decompose, inner_product, key_switch, mod_down_rescale};
use crate::ring::{ifma, RnsPoly};
use rayon::prelude::*;

impl Evaluator {
    /// Tensor product `(a_0b_0, a_0b_1 + a_1b_0, a_1b_1)` without
    /// relinearization: several products can be summed first and
    /// relinearized once (lazy relinearization).
    pub fn mul(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        let l = self.common_level(a, b)?;
        let (x, y) = (a, b);
        if x.parts.len() != 2 || y.parts.len() != 2 {
            return Err(CkksError::InvalidCiphertext("multiply needs relinearized (2-part) operands".into()));
        }
        let scale = x.scale * y.scale;
        check_scale(scale, l, &self.ctx)?;
        let ctx = &self.ctx;
        let n = ctx.n();
        // Limbs 0..=l of both operands, read in place (no copy to the common level).
        let num_q = l + 1;
        let mut d0 = RnsPoly::uninit(n, num_q, 0, true);
        let mut d1 = RnsPoly::uninit(n, num_q, 0, true);
        let mut d2 = RnsPoly::uninit(n, num_q, 0, true);
        let (a0, a1, b0, b1) = (&x.parts[0], &x.parts[1], &y.parts[0], &y.parts[1]);
        d0.data.par_chunks_mut(n).zip(d1.data.par_chunks_mut(n)).zip(d2.data.par_chunks_mut(n)).enumerate().for_each(
            |(i, ((o0, o1), o2))| {
                let (a0, a1, b0, b1) = (a0.limb(i), a1.limb(i), b0.limb(i), b1.limb(i));
                crate::ring::modulus::tensor_slice(&ctx.moduli()[i], [a0, a1], [b0, b1], [o0, o1, o2]);
            },
        );
        Ok(Ciphertext { parts: vec![d0, d1, d2], scale, slots: x.slots.max(y.slots), fingerprint: x.fingerprint })
    }

    /// `a²` without relinearization.
    pub fn square(&self, a: &Ciphertext) -> Result<Ciphertext> {
        self.mul(a, a)
    }

    /// Turns a 3-part ciphertext back into 2 parts with one key switch.
    pub fn relinearize(&self, ct: &Ciphertext, rlk: &RelinKey) -> Result<Ciphertext> {
        self.check_ct(ct)?;
        self.check_fp(rlk.fingerprint)?;
        if ct.parts.len() == 2 {
            return Ok(ct.clone());
        }
        rlk.key.check_level(ct.level(), || "relinearization".into())?;
        let [u0, u1] = key_switch(&self.ctx, &ct.parts[2], &rlk.key);
        let mut c0 = ct.parts[0].clone();
        let mut c1 = ct.parts[1].clone();
        self.ctx.add_assign(&mut c0, &u0);
        self.ctx.add_assign(&mut c1, &u1);
        Ok(ct.with_parts(vec![c0, c1]))
    }

    /// `a·b`, relinearized.
    pub fn mul_relin(&self, a: &Ciphertext, b: &Ciphertext, rlk: &RelinKey) -> Result<Ciphertext> {
        self.relinearize(&self.mul(a, b)?, rlk)
    }

    /// `a·b`, relinearized and rescaled. The key switch's ModDown and the
    /// rescale are fused: `(P·d_{0,1} + ⟨d_2, rlk⟩) / (P·q_l)` in one basis
    /// conversion, saving about 2(l+1) NTTs over the two steps.
    pub fn mul_relin_rescale(&self, a: &Ciphertext, b: &Ciphertext, rlk: &RelinKey) -> Result<Ciphertext> {
        self.mul_relin_add_rescale(a, b, rlk, 1, None)
    }

    /// `rescale(k·a·b + add)`, relinearized, for a small integer `k` and a
    /// ciphertext `add` at the product's scale and at least its level: the
    /// sum rides in the fused ModDown and rescale of
    /// [`mul_relin_rescale`](Self::mul_relin_rescale),
    /// `(k·⟨d_2, rlk⟩ + P·(k·d_{0,1} + add)) / (P·q_l)`. The Chebyshev
    /// recurrence `T_{i+j} = 2·T_i·T_j − T_{i−j}` is this with k = 2 (saves
    /// 2(l+1) NTTs and two passes over the ciphertext per step).
    pub fn mul_relin_add_rescale(
        &self,
        a: &Ciphertext,
        b: &Ciphertext,
        rlk: &RelinKey,
        k: i64,
        add: Option<&Ciphertext>,
    ) -> Result<Ciphertext> {
        self.check_fp(rlk.fingerprint)?;
        let t = self.mul(a, b)?;
        let l = t.level();
        if l == 0 {
            return Err(CkksError::LevelExhausted { needed: 1, level: 0 });
        }
        if let Some(add) = add {
            self.check_ct(add)?;
            if add.parts.len() != 2 {
                return Err(CkksError::InvalidCiphertext("the addend must be relinearized (2 parts)".into()));
            }
            if add.level() < l {
                return Err(CkksError::LevelExhausted { needed: l, level: add.level() });
            }
            Self::check_scales(add.scale, t.scale)?;
        }
        rlk.key.check_level(l, || "relinearization".into())?;
        let ctx = &self.ctx;
        let dec = decompose(ctx, &t.parts[2]);
        let [mut x0, mut x1] = inner_product(ctx, &dec, &rlk.key, None);
        let n = ctx.n();
        for (j, (x, d)) in [(&mut x0, &t.parts[0]), (&mut x1, &t.parts[1])].into_iter().enumerate() {
            let add = add.map(|c| &c.parts[j]);
            x.data.par_chunks_mut(n).enumerate().for_each(|(i, xl)| {
                let m = ctx.limb_modulus(l + 1, i);
                let kr = m.from_i64(k);
                // k·x + (k·p)·d + p·add in one pass where the CPU has IFMA.
                let fused = if i > l {
                    k == 1 || ifma::scaled_sum(m, xl, Some(kr), &[], &[]).is_some()
                } else {
                    let (p, dl) = (ctx.p_mod_q[i], d.limb(i));
                    let al = add.map(|c| c.limb(i));
                    let terms = 1 + usize::from(al.is_some());
                    let (xs, ws) = ([dl, al.unwrap_or(dl)], [m.mul(kr, p), p]);
                    ifma::scaled_sum(m, xl, Some(kr), &xs[..terms], &ws[..terms]).is_some()
                };
                if fused {
                    return;
                }
                let ks = m.shoup(kr);
                if k != 1 {
                    xl.iter_mut().for_each(|xx| *xx = m.mul_shoup(*xx, kr, ks));
                }
                if i > l {
                    // P·(…) vanishes modulo the special primes.
                    return;
                }
                let p = ctx.p_mod_q[i];
                let ps = m.shoup(p);
                let dl = d.limb(i);
                match add {
                    None if k == 1 => {
                        xl.iter_mut().zip(dl).for_each(|(xx, &dd)| *xx = m.add(*xx, m.mul_shoup(dd, p, ps)))
                    }
                    _ => {
                        let al = add.map(|c| c.limb(i));
                        for (c, (xx, &dd)) in xl.iter_mut().zip(dl).enumerate() {
                            let mut e = m.mul_shoup(dd, kr, ks);
                            if let Some(al) = al {
                                e = m.add(e, al[c]);
                            }
                            *xx = m.add(*xx, m.mul_shoup(e, p, ps));
                        }
                    }
                }
            });
        }
        let c0 = mod_down_rescale(ctx, &x0);
        let c1 = mod_down_rescale(ctx, &x1);
        let ql = ctx.params().q()[l] as f64;
        Ok(Ciphertext { parts: vec![c0, c1], scale: t.scale / ql, slots: t.slots, fingerprint: t.fingerprint })
    }

    /// Divides by the last prime q_l (rounding) and drops it: level − 1,
    /// scale / q_l.
    pub fn rescale(&self, ct: &Ciphertext) -> Result<Ciphertext> {
        self.check_ct(ct)?;
        let l = ct.level();
        if l == 0 {
            return Err(CkksError::LevelExhausted { needed: 1, level: 0 });
        }
        let ql = self.ctx.params().q()[l];
        let parts = ct.parts.iter().map(|p| self.rescale_poly(p)).collect();
        Ok(Ciphertext { parts, scale: ct.scale / ql as f64, slots: ct.slots, fingerprint: ct.fingerprint })
    }

    /// `round(p / q_l)` over Q_{l−1} for one polynomial `p` in NTT form over
    /// Q_l (no special limbs), what [`Evaluator::rescale`] applies to every
    /// part. Test hook for the big-integer oracle in `tests/ring_oracles.rs`;
    /// not part of the supported API.
    #[doc(hidden)]
    pub fn rescale_poly(&self, p: &RnsPoly) -> RnsPoly {
        let ctx = &self.ctx;
        let n = ctx.n();
        let l = p.num_q - 1;
        let ml = ctx.moduli()[l];
        let tables = ctx.level_tables(l);
        let mut last = p.limb(l).to_vec();
        ctx.limb_ntt(l + 1, l).inverse(&mut last);
        let mut out = RnsPoly::uninit(n, l, 0, true);
        out.data.par_chunks_mut(n).enumerate().for_each(|(i, o)| {
            let m = ctx.moduli()[i];
            // Centred lift of the last residue gives rounding, not flooring.
            centred_residues(&last, &ml, &m, o);
            ctx.limb_ntt(l, i).forward(o);
            let (w, ws) = tables.rescale_inv[i];
            // (x − o)·w as o·(−w) + x·w: one pass of the IFMA kernel.
            if ifma::scaled_sum(&m, o, Some(m.neg(w)), &[p.limb(i)], &[w]).is_some() {
                return;
            }
            for (t, &x) in o.iter_mut().zip(p.limb(i)) {
                *t = m.mul_shoup(m.sub(x, *t), w, ws);
            }
        });
        out
    }

    /// Rescales and pins the result to `target`, which must equal the
    /// rescaled scale up to float rounding (a plaintext encoded at
    /// `target·q_l/scale` makes it so); a real mismatch is an error.
    pub fn rescale_to(&self, ct: &Ciphertext, target: f64) -> Result<Ciphertext> {
        let mut out = self.rescale(ct)?;
        Self::check_scales(out.scale, target)?;
        out.scale = target;
        Ok(out)
    }

    /// Brings `ct` to exactly `target` scale by multiplying with the constant
    /// 1 encoded at `target·q_l/scale` and rescaling (one level).
    pub fn set_scale(&self, ct: &Ciphertext, target: f64) -> Result<Ciphertext> {
        self.mul_const_rescale_to(ct, 1.0, target)
    }
}

impl Evaluator {
    /// `ct ⊙ values`, rescaled, landing on exactly `target` scale: the
    /// plaintext is encoded at `target·q_l / ct.scale`. This is how a
    /// circuit keeps the scales of values that meet in an addition equal
    /// without spending extra levels.
    pub fn mul_values_rescale_to(
        &self,
        ct: &Ciphertext,
        values: &[f64],
        target: f64,
        encoder: &crate::encoding::Encoder,
    ) -> Result<Ciphertext> {
        self.check_ct(ct)?;
        let l = ct.level();
        if l == 0 {
            return Err(CkksError::LevelExhausted { needed: 1, level: 0 });
        }
        let ql = self.ctx.params().q()[l] as f64;
        let pt_scale = target * ql / ct.scale;
        let pt = encoder.encode_real(values, ct.slots, l, pt_scale)?;
        let mut out = self.rescale(&self.mul_plain(ct, &pt)?)?;
        Self::check_scales(out.scale, target)?;
        out.scale = target;
        Ok(out)
    }

    /// `ct · c`, rescaled, landing on exactly `target` scale (the constant is
    /// encoded at `target·q_l / ct.scale`).
    pub fn mul_const_rescale_to(&self, ct: &Ciphertext, c: f64, target: f64) -> Result<Ciphertext> {
        self.check_ct(ct)?;
        let l = ct.level();
        if l == 0 {
            return Err(CkksError::LevelExhausted { needed: 1, level: 0 });
        }
        let ql = self.ctx.params().q()[l] as f64;
        let mut out = self.rescale(&self.mul_const_with_scale(ct, c, target * ql / ct.scale)?)?;
        Self::check_scales(out.scale, target)?;
        out.scale = target;
        Ok(out)
    }

    /// Scale after multiplying two ciphertexts of scales `a`, `b` at level
    /// `level` and rescaling (for planning circuits ahead of time).
    pub fn product_scale(&self, a: f64, b: f64, level: usize) -> f64 {
        a * b / self.ctx.params().q()[level] as f64
    }
}

/// `out[k] = [centre_{q_l}(x[k])]_{q_i}` for residues `x < q_l`: the value,
/// or `x − q_l` above `q_l/2`. Branch-free — each branch of the obvious
/// code is taken half the time at random, and the mispredictions made this
/// pass cost more than the NTT that follows it (4.7 ns per coefficient at
/// N = 2^16): selects by mask and `min` of wrapped differences.
fn centred_residues(x: &[u64], ql: &crate::ring::Modulus, qi: &crate::ring::Modulus, out: &mut [u64]) {
    let q = qi.value;
    let half = ql.value / 2;
    let ql_mod = qi.reduce(ql.value);
    // x < q_l < 2·q_i: one conditional subtraction reduces x (the usual
    // case, primes of one size); otherwise Barrett (also branch-free).
    let one_subtraction = ql.value <= 2 * q;
    for (o, &v) in out.iter_mut().zip(x) {
        let r = if one_subtraction { v.min(v.wrapping_sub(q)) } else { qi.reduce(v) };
        // All ones when v > q_l/2 (then subtract q_l mod q_i).
        let above = ((half as i64).wrapping_sub(v as i64) >> 63) as u64;
        let d = r.wrapping_sub(ql_mod & above);
        *o = d.min(d.wrapping_add(q));
    }
}
