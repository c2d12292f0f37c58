//! CKKS bootstrapping: refreshes a level-0 ciphertext to a high level.
//!
//! Pipeline (Cheon–Han–Kim–Kim–Song with the Bossuat et al. refinements):
//!
//! 1. **Scale up** at level 0 by an integer `f` so the message ratio
//!    `q_0/(Δ·f)` is `2^log_message_ratio`: large enough that `sin` is linear
//!    on the message, small enough that EvalMod's error is not amplified much.
//! 2. **Encapsulation.** Key-switch to a sparse secret `s'` (weight h ≈ 32)
//!    at level 0, **ModRaise** (centred lift of `c_0, c_1` mod q_0 to all of
//!    Q), key-switch back to the dense secret. The lifted plaintext is
//!    `t = m + q_0·I` with `|I| ≤ K` small because `s'` is sparse, while
//!    everything else runs under the dense (128-bit secure) key.
//! 3. **Sub-sum** (sparse slots only): the trace to `Z[X^{N/2n}]` kills the
//!    coefficients the slots do not use, so the slot vector is periodic.
//! 4. **CoeffsToSlots**: the inverse special FFT's butterflies (without its
//!    bit reversal, which EvalMod does not care about) grouped into
//!    `cts_levels` BSGS linear transforms; conjugation splits the real and
//!    imaginary coefficient halves. All constant factors ride in the scale.
//! 5. **EvalMod**: `t/q_0 ↦ sin(2π t/q_0)` as a Chebyshev interpolant of
//!    `cos(2π((K+1)u − 1/4)/2^r)` on `[−1, 1]` followed by `r` double-angle
//!    steps `cos 2θ = 2cos²θ − 1` (default r = 0: one degree-127 interpolant
//!    of the sine itself), then the arcsine correction `s + s³/6`, which
//!    removes `sin`'s curvature so the message ratio can be small.
//! 6. **SlotsToCoeffs**: the forward butterflies, `stc_levels` transforms,
//!    landing on exactly the default scale Δ.
//!
//! With [`BootstrapConfig::slots_to_coeffs_first`] step 6 runs first, on
//! the input at level `stc_levels` — at the bottom of the chain, where a
//! key switch touches 4 limbs instead of 15 — and EvalMod's output, at
//! level `max − cts − EvalMod`, is the result: the same levels between
//! bootstraps, SlotsToCoeffs ≈ 4× cheaper. EvalMod's coefficients are then
//! the slot values themselves rather than their spread-out transform,
//! which costs 0.5–0.8 bit in the worst slot for complex values (21.9–22.3
//! bits against 22.6–22.9 at N = 2^16; the mean is the same). For **real**
//! values ([`Bootstrapper::bootstrap_real`]) the imaginary coefficient
//! half is zero, so one EvalMod instead of two runs, and the worst slot is
//! back at the usual order's 22.7 bits (only the real half's noise).
//!
//! One module per job (as Lattigo's `bootstrapping/`, `dft/`, `mod1/`):
//! `config` (the circuit's shape and chain), `dft` (steps 4 and 6),
//! `eval_mod` (step 5), `keys` and `keygen` (the key material, client-side
//! generation), and here the [`Bootstrapper`] that runs steps 1–6.

mod config;
mod dft;
mod eval_mod;
#[cfg(feature = "client")]
mod keygen;
mod keys;

pub use config::BootstrapConfig;
pub(crate) use keys::encapsulation_context;
pub use keys::BootstrapKeys;

use dft::SlotPlan;

/// What the slots of a ciphertext to bootstrap hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotValues {
    /// Any complex values.
    Complex,
    /// Real values (the imaginary parts are dropped): see
    /// [`Bootstrapper::bootstrap_real`].
    Real,
}

/// Where one bootstrap's time went, in seconds (wall clock).
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct BootstrapPhases {
    /// Scale-up, sparse encapsulation, ModRaise and the sub-sum.
    pub mod_raise: f64,
    /// CoeffsToSlots, with the conjugation that splits real and imaginary parts.
    pub coeffs_to_slots: f64,
    /// EvalMod (both halves, or the packed one).
    pub eval_mod: f64,
    /// SlotsToCoeffs.
    pub slots_to_coeffs: f64,
}
use eval_mod::EvalMod;
use keys::check_slots;

use crate::ciphertext::Ciphertext;
use crate::circuits::linear::LinearTransform;
use crate::context::Context;
use crate::encoding::Encoder;
use crate::error::{CkksError, Result};
use crate::eval::Evaluator;
use crate::keys::public::{GaloisKeys, RelinKey};
use crate::keys::switching::key_switch;
use crate::ring::RnsPoly;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::f64::consts::TAU;
use std::sync::Arc;
use std::time::Instant;

/// Bootstraps ciphertexts with public material only.
#[derive(Clone, Debug)]
pub struct Bootstrapper {
    ctx: Arc<Context>,
    ev: Evaluator,
    encoder: Encoder,
    config: BootstrapConfig,
    plans: BTreeMap<usize, SlotPlan>,
    eval_mod: EvalMod,
}

impl Bootstrapper {
    /// Precomputes the transforms for each slot count in `slots`.
    pub fn new(ctx: &Arc<Context>, config: BootstrapConfig, slots: &[usize]) -> Result<Self> {
        config.check(ctx)?;
        let mut plans = BTreeMap::new();
        for &s in slots {
            check_slots(ctx, s)?;
            plans.insert(s, SlotPlan::new(ctx, s, &config));
        }
        let eval_mod = EvalMod::new(&config)?;
        Ok(Self { ctx: ctx.clone(), ev: Evaluator::new(ctx), encoder: Encoder::new(ctx), config, plans, eval_mod })
    }

    /// The circuit shape.
    pub fn config(&self) -> &BootstrapConfig {
        &self.config
    }

    /// Levels a bootstrapped ciphertext has for computation before the next
    /// bootstrap: its [`output_level`](Self::output_level) minus the
    /// [`input_level`](Self::input_level) (the output level itself unless
    /// SlotsToCoeffs runs first).
    pub fn levels_left(&self) -> usize {
        self.config.levels_left(self.ctx.max_level()).expect("checked in new")
    }

    /// The level [`bootstrap`](Self::bootstrap) takes its input at.
    pub fn input_level(&self) -> usize {
        self.config.input_level()
    }

    /// The level a bootstrapped ciphertext comes out at.
    pub fn output_level(&self) -> usize {
        self.config.output_level(self.ctx.max_level()).expect("checked in new")
    }

    /// Slot counts this bootstrapper has transforms for.
    pub fn slot_counts(&self) -> impl Iterator<Item = usize> + '_ {
        self.plans.keys().copied()
    }

    /// Key switches per bootstrap for `slots` (rotations of the transforms,
    /// sub-sum, conjugation, encapsulation), for reports.
    pub fn rotation_count(&self, slots: usize) -> Option<usize> {
        let plan = self.plans.get(&slots)?;
        let lt: usize = plan.cts.iter().chain(&plan.stc).map(|t| t.rotation_counts().0 + t.rotation_counts().1).sum();
        // + the input's pre-rotation, + conjugation, + the packing and
        // unpacking rotations, + the two encapsulation switches.
        Some(lt + usize::from(plan.pre != 0) + plan.trace.len() + 1 + 2 * usize::from(plan.packed) + 2)
    }

    /// Refreshes `ct` (at [`input_level`](Self::input_level), scale within a
    /// factor 2 of Δ) to [`output_level`](Self::output_level) at scale
    /// exactly Δ.
    pub fn bootstrap(&self, ct: &Ciphertext, rlk: &RelinKey, keys: &BootstrapKeys) -> Result<Ciphertext> {
        Ok(self.bootstrap_scaled(ct, rlk, keys, 1.0, SlotValues::Complex, &mut |_, _| {})?.0)
    }

    /// Bootstraps a ciphertext of **real** slot values: returns the real
    /// part of its slots, refreshed like [`bootstrap`](Self::bootstrap).
    ///
    /// With [`BootstrapConfig::slots_to_coeffs_first`] this halves EvalMod:
    /// SlotsToCoeffs turns the slots `v` into the coefficients `(Re v, Im v)`,
    /// and for real `v` the second half is zero — after ModRaise only
    /// `q_0·I`, which EvalMod would map to zero anyway. So only the real
    /// half `x + x̄` of CoeffsToSlots' output goes through EvalMod (one
    /// interpolant instead of two at full slots, and no packing rotations
    /// at sparse slots). In the usual order every coefficient of a real
    /// vector is in use and this is [`bootstrap`](Self::bootstrap).
    ///
    /// ```no_run
    /// # use hecnn_ckks::circuits::{BootstrapConfig, BootstrapKeys, Bootstrapper};
    /// # use hecnn_ckks::{Context, Decryptor, Encoder, Preset, RelinKey, SecretKey};
    /// let ctx = Context::new(Preset::Bootstrappable.params()).unwrap();
    /// let sk = SecretKey::generate(&ctx);
    /// let (rlk, slots) = (RelinKey::generate(&sk), ctx.n() / 2);
    /// let config = BootstrapConfig { slots_to_coeffs_first: true, ..BootstrapConfig::default() };
    /// let keys = BootstrapKeys::generate(&sk, &config, &[slots]).unwrap();
    /// let boot = Bootstrapper::new(&ctx, config, &[slots]).unwrap();
    /// let (enc, dec) = (Encoder::new(&ctx), Decryptor::new(&sk));
    /// let pt = enc.encode_real(&[0.5, -0.25], slots, boot.input_level(), ctx.params().scale()).unwrap();
    /// let ct = dec.encrypt_symmetric(&pt).unwrap().expand(&ctx).unwrap();
    /// let fresh = boot.bootstrap_real(&ct, &rlk, &keys).unwrap();
    /// assert_eq!(fresh.level(), boot.output_level());
    /// ```
    pub fn bootstrap_real(&self, ct: &Ciphertext, rlk: &RelinKey, keys: &BootstrapKeys) -> Result<Ciphertext> {
        Ok(self.bootstrap_scaled(ct, rlk, keys, 1.0, SlotValues::Real, &mut |_, _| {})?.0)
    }

    /// [`bootstrap`](Self::bootstrap) or, for [`SlotValues::Real`],
    /// [`bootstrap_real`](Self::bootstrap_real), also returning where its
    /// time went (`hecnn bench bootstrap` reports it).
    pub fn bootstrap_phased(
        &self,
        ct: &Ciphertext,
        rlk: &RelinKey,
        keys: &BootstrapKeys,
        values: SlotValues,
    ) -> Result<(Ciphertext, BootstrapPhases)> {
        self.bootstrap_scaled(ct, rlk, keys, 1.0, values, &mut |_, _| {})
    }

    /// Bootstraps two ciphertexts of **real** values for the price of one:
    /// `z = a + i·b` goes through a single bootstrap, then one conjugation
    /// (a key switch at the output level) splits it again, `a = z + z̄` and
    /// `b = −i·(z − z̄)`, with the ½ of both folded into SlotsToCoeffs (or,
    /// when it runs first, into EvalMod's landing scale).
    ///
    /// Both inputs must be at the input level with the same scale and slot count,
    /// and hold real values: an imaginary part in one would land in the
    /// other's output.
    ///
    /// ```no_run
    /// # use hecnn_ckks::circuits::{BootstrapConfig, BootstrapKeys, Bootstrapper};
    /// # use hecnn_ckks::{Context, Decryptor, Encoder, Preset, RelinKey, SecretKey};
    /// let ctx = Context::new(Preset::Bootstrappable.params()).unwrap();
    /// let sk = SecretKey::generate(&ctx);
    /// let (rlk, slots) = (RelinKey::generate(&sk), ctx.n() / 2);
    /// let keys = BootstrapKeys::generate(&sk, &BootstrapConfig::default(), &[slots]).unwrap();
    /// let boot = Bootstrapper::new(&ctx, BootstrapConfig::default(), &[slots]).unwrap();
    /// let (enc, dec) = (Encoder::new(&ctx), Decryptor::new(&sk));
    /// let a = dec.encrypt_symmetric(&enc.encode_real(&[0.5, -0.25], slots, 0, ctx.params().scale()).unwrap()).unwrap().expand(&ctx).unwrap();
    /// let b = dec.encrypt_symmetric(&enc.encode_real(&[0.125, 1.0], slots, 0, ctx.params().scale()).unwrap()).unwrap().expand(&ctx).unwrap();
    /// let (a2, b2) = boot.bootstrap_real_pair(&a, &b, &rlk, &keys).unwrap();
    /// assert_eq!(a2.level(), boot.levels_left());
    /// ```
    pub fn bootstrap_real_pair(
        &self,
        a: &Ciphertext,
        b: &Ciphertext,
        rlk: &RelinKey,
        keys: &BootstrapKeys,
    ) -> Result<(Ciphertext, Ciphertext)> {
        if a.slots() != b.slots() {
            return Err(CkksError::InvalidSlots(format!(
                "a real pair needs equal slot counts ({} and {})",
                a.slots(),
                b.slots()
            )));
        }
        let input = self.input_level();
        if a.level() != input || b.level() != input {
            return Err(CkksError::BootstrapInput(format!(
                "bootstrapping needs level-{input} ciphertexts (got levels {} and {})",
                a.level(),
                b.level()
            )));
        }
        let ev = &self.ev;
        let z = ev.add(a, &self.mul_i(b, false))?;
        let z = self.bootstrap_scaled(&z, rlk, keys, 0.5, SlotValues::Complex, &mut |_, _| {})?.0;
        let conj = ev.conjugate(&z, &keys.galois)?;
        let re = ev.add(&z, &conj)?;
        let im = self.mul_i(&ev.sub(&z, &conj)?, true);
        Ok((re, im))
    }

    /// [`bootstrap`](Self::bootstrap) returning `factor` times the input
    /// (the factor rides in the SlotsToCoeffs scale, free), showing `probe`
    /// the intermediate ciphertexts (error analysis in tests).
    fn bootstrap_scaled(
        &self,
        ct: &Ciphertext,
        rlk: &RelinKey,
        keys: &BootstrapKeys,
        factor: f64,
        values: SlotValues,
        probe: &mut dyn FnMut(&str, &Ciphertext),
    ) -> Result<(Ciphertext, BootstrapPhases)> {
        let ctx = &self.ctx;
        let ev = &self.ev;
        ctx.check_fingerprint(ct.fingerprint())?;
        ctx.check_fingerprint(keys.fingerprint)?;
        ctx.check_fingerprint(rlk.fingerprint)?;
        if ct.num_parts() != 2 {
            return Err(CkksError::InvalidCiphertext("relinearize before bootstrapping".into()));
        }
        let input = self.input_level();
        if ct.level() != input {
            return Err(CkksError::BootstrapInput(format!(
                "ciphertext at level {}: bootstrap at level {input} (drop_to_level first)",
                ct.level()
            )));
        }
        let delta = ctx.params().scale();
        if !(ct.scale() >= delta / 2.0 && ct.scale() <= delta * 2.0) {
            return Err(CkksError::BootstrapInput(format!(
                "scale {:e} is not within a factor 2 of the default scale {delta:e}",
                ct.scale()
            )));
        }
        let slots = ct.slots();
        if !keys.slots.contains(&slots) {
            return Err(CkksError::MissingBootstrapKeys(format!(
                "no bootstrapping keys for {slots} slots (keys cover {:?})",
                keys.slots
            )));
        }
        let plan = self.plans.get(&slots).ok_or_else(|| {
            CkksError::InvalidSlots(format!("bootstrapper built without transforms for {slots} slots"))
        })?;
        let gk = &keys.galois;
        let q0 = ctx.params().q()[0] as f64;
        let mut phases = BootstrapPhases::default();
        let mut clock = Instant::now();
        let mut lap = || std::mem::replace(&mut clock, Instant::now()).elapsed().as_secs_f64();

        // The rotation the transforms' alignment leaves over, paid here at
        // the input's level (1 or 4 limbs) rather than after the last one.
        let rotated;
        let ct = if plan.pre != 0 {
            rotated = ev.rotate(ct, plan.pre, gk)?;
            &rotated
        } else {
            ct
        };

        // 0. SlotsToCoeffs first (if so configured): slots → coefficients
        // at the bottom of the chain, landing on level 0 at Δ.
        let stc_first = self.config.slots_to_coeffs_first;
        let coeffs;
        let ct = if stc_first {
            coeffs = self.run_transforms(&plan.stc, ct.clone(), delta, plan.stc.len(), gk)?;
            phases.slots_to_coeffs = lap();
            &coeffs
        } else {
            ct
        };

        // 1. Scale up at level 0 (exact integer product).
        let f = (q0 / (self.log_message_ratio(slots).exp2() * ct.scale())).round().max(1.0);
        let ct = ev.mul_integer(ct, f as i64)?;
        let scale = ct.scale() * f;
        let ratio = q0 / scale;

        // 2. Dense → sparse, ModRaise, sparse → dense.
        let [u0, u1] = key_switch(&keys.encapsulation, &ct.parts[1], &keys.to_sparse);
        let mut c0 = ct.parts[0].clone();
        ctx.add_assign(&mut c0, &u0);
        let raised = [self.mod_raise(&c0), self.mod_raise(&u1)];
        let [v0, v1] = key_switch(ctx, &raised[1], &keys.to_dense);
        let mut c0 = raised[0].clone();
        ctx.add_assign(&mut c0, &v0);
        // Values t·c with c = Δ_in/(q_0 (K+1) N): the CtS 1/slots, the 1/2 of
        // the real/imaginary split and the sub-sum's N/(2·slots) together.
        let k1 = self.config.k + 1.0;
        let mut x =
            Ciphertext { parts: vec![c0, v1], scale: q0 * k1 * ctx.n() as f64, slots, fingerprint: ctx.fingerprint() };

        // 3. Sub-sum.
        if !plan.trace.is_empty() {
            x = ev.rotate_sum(&x, &plan.trace, gk)?;
        }

        probe("raised", &x);
        phases.mod_raise = lap();

        // 4. CoeffsToSlots, landing on scale ≈ q at the EvalMod input level.
        let top = x.level();
        let q = |l: usize| ctx.params().q()[l] as f64;
        let end_scale_level = top - plan.cts.len();
        let end_scale = q(end_scale_level);
        // The last transform is left unrescaled so the conjugation's
        // key-switch noise is divided by q_l with everything else (at scale
        // ≈ q it would dominate the whole bootstrap's error).
        let (last, rest) = plan.cts.split_last().expect("at least one CtS level");
        x = self.run_transforms(rest, x, end_scale, plan.cts.len(), gk)?;
        if plan.packed {
            x = ev.reinterpret_slots(&x, 2 * slots)?;
        }
        let x = last.apply_unrescaled(ev, &self.encoder, &x, gk, end_scale)?;
        let conj = ev.conjugate(&x, gk)?;
        let re = ev.add(&x, &conj)?;
        // Real slots through SlotsToCoeffs first leave the imaginary
        // coefficient half at zero: it needs no EvalMod.
        let real_only = stc_first && values == SlotValues::Real;
        let im = if real_only { None } else { Some(self.mul_i(&ev.sub(&x, &conj)?, true)) };
        phases.coeffs_to_slots = lap();

        // 5. EvalMod, on both halves or on one packed ciphertext, with the
        // relinearization key's `a` generated once for its ≈ 25 products
        // per ciphertext.
        let rlk = &rlk.expanded(ctx, end_scale_level);
        // EvalMod lands on ≈ the prime below it (60 bits: SlotsToCoeffs
        // keeps that precision and brings it down to Δ), or, when
        // SlotsToCoeffs ran first, on the scale that the ratio/2π fold
        // below turns into exactly Δ.
        let eval_target = stc_first.then(|| delta * ratio * factor / TAU);
        let mut w = match im {
            Some(im) if plan.packed => {
                // [re | im] over 2·slots: the unrescaled rotation's key-switch
                // noise is divided by q_l with the rest.
                let packed = ev.add(&re, &ev.rotate(&im, slots as i64, gk)?)?;
                let packed = ev.rescale_to(&packed, end_scale)?;
                probe("packed", &packed);
                self.eval_mod.apply(&self.ctx, &self.ev, &packed, rlk, eval_target)?
            }
            Some(im) => {
                let re = ev.rescale_to(&re, end_scale)?;
                let im = ev.rescale_to(&im, end_scale)?;
                probe("re", &re);
                probe("im", &im);
                // The two halves are independent: on more than one thread they
                // run side by side (each op's limb loops alone scale ≈ 1.75× on 2).
                let (re, im) = rayon::join(
                    || self.eval_mod.apply(&self.ctx, &self.ev, &re, rlk, eval_target),
                    || self.eval_mod.apply(&self.ctx, &self.ev, &im, rlk, eval_target),
                );
                let (re, im) = (re?, im?);
                probe("re_mod", &re);
                probe("im_mod", &im);
                ev.add(&re, &self.mul_i(&im, false))?
            }
            // Real values, SlotsToCoeffs first: the real half alone.
            None => {
                let re = ev.rescale_to(&re, end_scale)?;
                probe("re", &re);
                self.eval_mod.apply(&self.ctx, &self.ev, &re, rlk, eval_target)?
            }
        };
        // sin(2πy) = 2π·m/ratio: fold ratio/2π (and the output factor) into the scale.
        w.scale *= TAU / ratio / factor;
        phases.eval_mod = lap();
        if stc_first {
            Evaluator::check_scales(w.scale, delta)?;
            w.scale = delta;
            return Ok((w, phases));
        }

        // 6. SlotsToCoeffs, landing on exactly Δ (the first transform folds
        // a packed ciphertext back to `slots`).
        let k = plan.stc.len();
        let mut y = self.run_transforms(&plan.stc[..1], w, delta, k, gk)?;
        if plan.packed {
            y = ev.add(&y, &ev.rotate(&y, slots as i64, gk)?)?;
            y = ev.reinterpret_slots(&y, plan.slots)?;
        }
        let out = self.run_transforms(&plan.stc[1..], y, delta, k - 1, gk)?;
        phases.slots_to_coeffs = lap();
        Ok((out, phases))
    }

    /// Applies the first transforms of a chain of `k` with geometrically
    /// interpolated intermediate scales towards `end_scale` (keeps every
    /// plaintext's scale, hence its rounding error, balanced).
    fn run_transforms(
        &self,
        ts: &[LinearTransform],
        mut x: Ciphertext,
        end_scale: f64,
        k: usize,
        gk: &GaloisKeys,
    ) -> Result<Ciphertext> {
        let start = x.scale().log2();
        let end = end_scale.log2();
        for (i, t) in ts.iter().enumerate() {
            let target =
                if i + 1 == k { end_scale } else { (start + (end - start) * (i + 1) as f64 / k as f64).exp2() };
            x = t.apply(&self.ev, &self.encoder, &x, gk, target)?;
        }
        Ok(x)
    }

    /// The message ratio for `slots`: `log_message_ratio` at full slots,
    /// higher for fewer slots (up to 2^14), whose larger coefficients feel
    /// `sin`'s curvature more (the arcsine correction's residual grows as
    /// the fourth power) while SlotsToCoeffs amplifies the EvalMod error
    /// less (by about √slots).
    pub fn log_message_ratio(&self, slots: usize) -> f64 {
        let below_full = ((self.ctx.n() / 2) as f64).log2() - (slots as f64).log2();
        (self.config.log_message_ratio + below_full / 2.0).min(self.config.log_message_ratio.max(14.0))
    }

    /// Centred lift of a level-0 polynomial to every ciphertext prime.
    fn mod_raise(&self, p: &RnsPoly) -> RnsPoly {
        let ctx = &self.ctx;
        let n = ctx.n();
        let mut low = p.limb(0).to_vec();
        ctx.limb_ntt(1, 0).inverse(&mut low);
        let m0 = ctx.moduli()[0];
        let centred: Vec<i64> = low.iter().map(|&x| m0.center(x)).collect();
        let num_q = ctx.max_level() + 1;
        let mut out = RnsPoly::uninit(n, num_q, 0, false);
        out.data.par_chunks_mut(n).enumerate().for_each(|(i, limb)| {
            let m = ctx.moduli()[i];
            for (o, &c) in limb.iter_mut().zip(&centred) {
                *o = m.from_i64(c);
            }
        });
        ctx.ntt_forward(&mut out);
        out
    }

    /// Multiplies every slot by `i` (or `−i`): the monomial `±X^{N/2}`,
    /// exact and free of levels.
    fn mul_i(&self, ct: &Ciphertext, negate: bool) -> Ciphertext {
        let ctx = &self.ctx;
        let n = ctx.n();
        let mut mono = vec![0i64; n];
        mono[n / 2] = if negate { -1 } else { 1 };
        let m = ctx.poly_from_signed(&mono, ct.level() + 1, 0);
        let mut out = ct.clone();
        for p in &mut out.parts {
            ctx.mul_assign(p, &m);
        }
        out
    }
}

#[cfg(all(test, feature = "client"))]
mod tests {
    use super::dft::fft_stages;
    use super::*;
    use crate::circuits::linear::DiagMatrix;
    use crate::circuits::poly::PolyEvaluator;
    use crate::decrypt::Decryptor;
    use crate::encrypt::Encryptor;
    use crate::keys::public::PublicKey;
    use crate::keys::secret::SecretKey;
    use crate::params::Parameters;
    use num_complex::Complex64;

    /// The preset's chain (built in `params` without this module) is the
    /// default circuit's chain with its computation levels.
    #[test]
    fn bootstrappable_preset_is_the_default_circuits_chain() {
        let config = BootstrapConfig::default();
        let preset = crate::params::Preset::Bootstrappable.params();
        let levels = crate::params::Preset::BOOTSTRAPPABLE_COMPUTATION_LEVELS;
        let built = Parameters::new("bootstrappable", 16, &config.chain_bits(levels), preset.dnum(), 40).unwrap();
        assert_eq!(built, preset);
        assert_eq!(config.levels_left(preset.max_level()), Some(levels));
    }

    /// The left-aligned chain, after the input's pre-rotation, computes
    /// exactly the product of the FFT stages (the rotations the transforms
    /// owe cancel), in both orders, and at full slots CoeffsToSlots needs
    /// no key for a negative rotation.
    #[test]
    fn left_aligned_transforms_compute_the_fft_and_need_positive_cts_keys() {
        let bits = BootstrapConfig::default().chain_bits(2);
        let ctx = Context::new(Parameters::insecure_for_tests(12, &bits, 5, 40).unwrap()).unwrap();
        let config = BootstrapConfig::default();
        let slots = ctx.n() / 2;
        let plan = SlotPlan::new(&ctx, slots, &config);
        let v: Vec<Complex64> =
            (0..slots).map(|i| Complex64::new((i as f64 * 0.37).sin(), (i as f64 * 0.11).cos())).collect();
        let stages = fft_stages(slots, 2 * ctx.n());
        let mut want = v.clone();
        for s in stages.iter().rev() {
            want = s.inverse.apply(&want);
        }
        for s in &stages {
            want = s.forward.apply(&want);
        }
        // The rotation the chain owes is paid on the input, not by the last transform.
        assert_ne!(plan.pre, 0);
        assert_eq!(plan.stc.last().unwrap().post_rotation(), 0);
        let mut got = DiagMatrix::rotation(slots, plan.pre).apply(&v);
        for t in plan.cts.iter().chain(&plan.stc) {
            got = t.matrix().apply(&got);
        }
        let err = got.iter().zip(&want).map(|(a, b)| (a - b).norm()).fold(0.0, f64::max);
        assert!(err < 1e-9, "{err}");
        for t in &plan.cts {
            assert!(t.rotations().iter().all(|&r| r > 0), "{:?}", t.rotations());
        }
        let last = plan.stc.last().unwrap();
        assert!(plan.stc[..plan.stc.len() - 1].iter().all(|t| t.rotations().iter().all(|&r| r > 0)));
        assert!(last.rotation_counts().1 <= 4, "{:?}", last.rotation_counts());
        // SlotsToCoeffs first: the same matrices in the other order, the
        // same identity (StC then CtS is the identity up to the FFT scale).
        let first = BootstrapConfig { slots_to_coeffs_first: true, ..config.clone() };
        let plan = SlotPlan::new(&ctx, slots, &first);
        let mut want = v.clone();
        for s in &stages {
            want = s.forward.apply(&want);
        }
        for s in stages.iter().rev() {
            want = s.inverse.apply(&want);
        }
        let mut got = DiagMatrix::rotation(slots, plan.pre).apply(&v);
        for t in plan.stc.iter().chain(&plan.cts) {
            got = t.matrix().apply(&got);
        }
        let err = got.iter().zip(&want).map(|(a, b)| (a - b).norm()).fold(0.0, f64::max);
        assert!(err < 1e-9, "SlotsToCoeffs first: {err}");
        assert_eq!(plan.cts.last().unwrap().post_rotation(), 0);
        // Two keys per transform (its unit and its giant step) but the last,
        // at full slots and packed (where the periodic extensions keep their
        // diagonals' signed indices, so −1 stays next to 0).
        for slots in [slots, 64] {
            let plan = SlotPlan::new(&ctx, slots, &config);
            let (last, rest) = plan.stc.split_last().unwrap();
            for t in plan.cts.iter().chain(rest) {
                assert!(t.rotations().len() <= 2, "{slots} slots: {:?}", t.rotations());
            }
            assert!(last.rotations().len() <= 3, "{slots} slots: {:?}", last.rotations());
        }
    }

    /// The only key under the sparse secret lives modulo q_0·p_0 and
    /// nothing more: two limbs, one digit, ≈ 120 bits at N=2^16.
    #[test]
    fn sparse_secret_key_is_confined_to_q0_p0() {
        let params = crate::params::Preset::Bootstrappable.params();
        let ring = params.encapsulation(32);
        assert_eq!((ring.q(), ring.p(), ring.dnum()), (&params.q()[..1], &params.p()[..1], 1));
        assert!(ring.log_qp() < 121.0, "log2(q_0·p_0) = {}", ring.log_qp());
        let ctx =
            Context::new(Parameters::insecure_for_tests(10, &BootstrapConfig::default().chain_bits(1), 5, 40).unwrap())
                .unwrap();
        let sk = SecretKey::generate(&ctx);
        let keys = BootstrapKeys::generate(&sk, &BootstrapConfig::default(), &[8]).unwrap();
        assert_eq!((keys.to_sparse.b.len(), keys.to_sparse.b[0].num_q, keys.to_sparse.b[0].num_p), (1, 1, 1));
        assert_eq!(keys.encapsulation.params().q(), vec![ctx.params().q()[0]]);
    }

    /// `encapsulation_context` labels the ring with the config's sparse
    /// weight and runs the sparse rule: the bootstrappable preset's q_0·p_0
    /// passes for h = 32; another weight, or a ring degree without a
    /// published estimate, is refused (keys cannot be made).
    #[test]
    fn encapsulation_context_runs_the_sparse_check() {
        let ctx = Context::new(crate::params::Preset::Bootstrappable.params()).unwrap();
        let ring = encapsulation_context(&ctx, 32).unwrap();
        assert_eq!(ring.params().secret(), crate::params::SecretDistribution::SparseTernary { hamming_weight: 32 });
        assert!(ring.params().log_qp() <= 121.0);
        let refused = CkksError::UnestimatedSecret { log_n: 16, hamming_weight: 16 };
        assert_eq!(encapsulation_context(&ctx, 16).unwrap_err(), refused);
        let light = Context::new(crate::params::Preset::Light.params()).unwrap();
        assert!(matches!(encapsulation_context(&light, 32), Err(CkksError::UnestimatedSecret { log_n: 14, .. })));
        let sk = SecretKey::generate(&light);
        let config =
            BootstrapConfig { cts_levels: 1, stc_levels: 1, cheb_degree: 3, arcsine: false, ..Default::default() };
        assert!(matches!(
            BootstrapKeys::generate(&sk, &config, &[light.n() / 2]),
            Err(CkksError::UnestimatedSecret { log_n: 14, .. })
        ));
    }

    /// Sparse slots (2·slots ≤ N/2) pack both coefficient halves into one
    /// ciphertext: EvalMod runs once, and the result is still right.
    #[test]
    fn sparse_slots_run_eval_mod_once() {
        let ctx =
            Context::new(Parameters::insecure_for_tests(12, &BootstrapConfig::default().chain_bits(1), 5, 40).unwrap())
                .unwrap();
        let sk = SecretKey::generate(&ctx);
        let enc = Encryptor::new(&ctx, PublicKey::generate(&sk)).unwrap();
        let rlk = RelinKey::generate(&sk);
        let encoder = Encoder::new(&ctx);
        let config = BootstrapConfig::default();
        let slots = [ctx.n() / 4, 32, ctx.n() / 2];
        let bs = Bootstrapper::new(&ctx, config.clone(), &slots).unwrap();
        let keys = BootstrapKeys::generate(&sk, &config, &slots).unwrap();
        let dec = Decryptor::new(&sk);
        for n in slots {
            let v: Vec<Complex64> = (0..n)
                .map(|i| Complex64::new(((i * 29) % 83) as f64 / 41.5 - 1.0, ((i * 7) % 13) as f64 / 13.0))
                .collect();
            let ct = enc.encrypt(&encoder.encode(&v, n, 0, ctx.params().scale()).unwrap()).unwrap();
            let mut labels = Vec::new();
            let out = bs
                .bootstrap_scaled(&ct, &rlk, &keys, 1.0, SlotValues::Complex, &mut |l, _| labels.push(l.to_string()))
                .unwrap()
                .0;
            let want: &[&str] =
                if 2 * n <= ctx.n() / 2 { &["raised", "packed"] } else { &["raised", "re", "im", "re_mod", "im_mod"] };
            assert_eq!(labels, want, "{n} slots");
            let got = encoder.decode(&dec.decrypt(&out).unwrap()).unwrap();
            let err = got.iter().zip(&v).map(|(a, b)| (a - b).norm()).fold(0.0, f64::max);
            assert!(err < 2f64.powi(-24), "{n} slots: error 2^{:.1}", err.log2());
        }
    }

    /// Error budget of each step at N=2^12 (printed with --nocapture): the
    /// Chebyshev evaluation's own noise (≈ 2^-40 at scale 2^60), multiplied
    /// by the message ratio, dominates; CoeffsToSlots is ≈ 2^-47 in EvalMod
    /// input units.
    #[test]
    fn error_budget_by_step() {
        let bits = BootstrapConfig::default().chain_bits(2);
        let ctx = Context::new(Parameters::insecure_for_tests(12, &bits, 5, 40).unwrap()).unwrap();
        let sk = SecretKey::generate(&ctx);
        let enc = Encryptor::new(&ctx, PublicKey::generate(&sk)).unwrap();
        let rlk = RelinKey::generate(&sk);
        let encoder = Encoder::new(&ctx);
        let config = BootstrapConfig::default();
        let slots = ctx.n() / 2;
        let bs = Bootstrapper::new(&ctx, config.clone(), &[slots]).unwrap();
        let keys = BootstrapKeys::generate(&sk, &config, &[slots]).unwrap();
        let v: Vec<Complex64> = (0..slots)
            .map(|i| Complex64::new(((i * 37) % 101) as f64 / 50.5 - 1.0, ((i * 53) % 97) as f64 / 48.5 - 1.0))
            .collect();
        let ct = enc.encrypt(&encoder.encode(&v, slots, 0, ctx.params().scale()).unwrap()).unwrap();
        let dec = Decryptor::new(&sk);
        let fresh = encoder.decode(&dec.decrypt(&ct).unwrap()).unwrap();
        let mut seen: BTreeMap<String, Vec<Complex64>> = BTreeMap::new();
        let mut cts: BTreeMap<String, Ciphertext> = BTreeMap::new();
        let out = bs
            .bootstrap_scaled(&ct, &rlk, &keys, 1.0, SlotValues::Complex, &mut |label, c| {
                seen.insert(label.to_string(), encoder.decode(&dec.decrypt(c).unwrap()).unwrap());
                cts.insert(label.to_string(), c.clone());
            })
            .unwrap()
            .0;
        let u_re: Vec<f64> = seen["re"].iter().map(|z| z.re).collect();
        let cheb_f64: Vec<f64> =
            u_re.iter().map(|&u| hecnn_approx::chebyshev::clenshaw(&bs.eval_mod.cheb, u)).collect();
        let (kk, r) = (config.k, config.double_angle);
        let cos_exact: Vec<f64> =
            u_re.iter().map(|&u| (TAU * ((kk + 1.0) * u - 0.25) / (1u64 << r) as f64).cos()).collect();
        let approx = cheb_f64.iter().zip(&cos_exact).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        eprintln!("Chebyshev approximation error:    2^{:.1}", approx.log2());
        let target = ctx.params().q()[cts["re"].level() - crate::circuits::poly::depth(config.cheb_degree)] as f64;
        let c = PolyEvaluator::new(&bs.ev, &rlk).chebyshev(&cts["re"], &bs.eval_mod.cheb, target).unwrap();
        let got_c = encoder.decode_real(&dec.decrypt(&c).unwrap()).unwrap();
        let pe = got_c.iter().zip(&cheb_f64).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        eprintln!(
            "Chebyshev evaluation error:       2^{:.1} (scale 2^{:.1}, level {})",
            pe.log2(),
            c.scale().log2(),
            c.level()
        );
        let mut x = c;
        let mut want = got_c.clone();
        for _ in 0..r {
            let sq = bs.ev.mul_relin_rescale(&x, &x, &rlk).unwrap();
            x = bs.ev.add_const(&bs.ev.mul_integer(&sq, 2).unwrap(), -1.0).unwrap();
            let got = encoder.decode_real(&dec.decrypt(&x).unwrap()).unwrap();
            want = want.iter().map(|w| 2.0 * w * w - 1.0).collect();
            let e = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            eprintln!("  double angle step error:        2^{:.1} (scale 2^{:.1})", e.log2(), x.scale().log2());
            want = got;
        }
        let err =
            |a: &[Complex64], b: &[Complex64]| a.iter().zip(b).map(|(x, y)| (x - y).norm()).fold(0.0, f64::max).log2();
        let plan = &bs.plans[&slots];
        let mut u = seen["raised"].clone();
        for t in &plan.cts {
            u = t.matrix().apply(&u);
        }
        let re_exp: Vec<Complex64> = u.iter().map(|z| Complex64::new(2.0 * z.re, 0.0)).collect();
        let im_exp: Vec<Complex64> = u.iter().map(|z| Complex64::new(2.0 * z.im, 0.0)).collect();
        let k1 = config.k + 1.0;
        // EvalMod's target: 2π·frac((K+1)u) with the arcsine correction, its sine without.
        let sin = |x: &[Complex64]| -> Vec<Complex64> {
            x.iter()
                .map(|z| {
                    let a = TAU * k1 * z.re;
                    Complex64::new(if config.arcsine { a - TAU * (k1 * z.re).round() } else { a.sin() }, 0.0)
                })
                .collect()
        };
        let ratio = bs.log_message_ratio(slots).exp2();
        eprintln!("input noise (fresh vs v):         2^{:.1}", err(&fresh, &v));
        eprintln!("CtS error re (u units):           2^{:.1}", err(&seen["re"], &re_exp));
        eprintln!("CtS error im (u units):           2^{:.1}", err(&seen["im"], &im_exp));
        eprintln!("  → per coefficient, message units 2^{:.1}", err(&seen["re"], &re_exp) + (k1 * ratio).log2());
        eprintln!("EvalMod error re (2π·m/q_0 units): 2^{:.1}", err(&seen["re_mod"], &sin(&seen["re"])));
        eprintln!(
            "  → per coefficient, message units 2^{:.1}",
            err(&seen["re_mod"], &sin(&seen["re"])) + (ratio / TAU).log2()
        );
        let got = encoder.decode(&dec.decrypt(&out).unwrap()).unwrap();
        eprintln!("final error vs v:                 2^{:.1}", err(&got, &v));
        eprintln!("final error vs fresh decryption:  2^{:.1}", err(&got, &fresh));
        // The budget as analysed: CtS ≪ EvalMod noise (amplified by the
        // message ratio) ≈ final error.
        assert!(err(&seen["re"], &re_exp) < -44.0);
        assert!(approx < 2f64.powi(-40) && pe < 2f64.powi(-38));
        assert!(err(&got, &v) < -22.0);
    }
}
