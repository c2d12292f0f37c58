//! Client side (feature `client`): decryption, and secret-key encryption
//! whose uniform part is a 32-byte seed (half-size uploads).

use crate::ciphertext::{Ciphertext, Plaintext, SeededCiphertext};
use crate::encrypt::expand_ciphertext_a;
use crate::error::Result;
use crate::keys::secret::SecretKey;
use crate::ring::sampling::{gaussian, os_seed, seeded_rng, wipe_rng};
use zeroize::Zeroizing;

/// Holds a borrowed secret key; decrypts, and encrypts with it.
#[derive(Debug)]
pub struct Decryptor<'a> {
    sk: &'a SecretKey,
}

impl<'a> Decryptor<'a> {
    /// Decryptor holding a borrowed secret key.
    pub fn new(sk: &'a SecretKey) -> Self {
        Self { sk }
    }

    /// `m = c_0 + c_1·s (+ c_2·s²)`. The result is the message plus the
    /// ciphertext's noise at full precision: keep it on the client, or
    /// release it only through noise flooding.
    pub fn decrypt(&self, ct: &Ciphertext) -> Result<Plaintext> {
        let ctx = &self.sk.ctx;
        ctx.check_fingerprint(ct.fingerprint)?;
        let num_q = ct.parts[0].num_q;
        let s = self.sk.ntt_restricted(num_q, false);
        let mut m = ct.parts[0].clone();
        let mut s_pow = Zeroizing::new((*s).clone());
        for (i, part) in ct.parts.iter().enumerate().skip(1) {
            if i > 1 {
                ctx.mul_assign(&mut s_pow, &s);
            }
            let mut t = Zeroizing::new(part.clone());
            ctx.mul_assign(&mut t, &s_pow);
            ctx.add_assign(&mut m, &t);
        }
        Ok(Plaintext { poly: m, scale: ct.scale, slots: ct.slots, fingerprint: ct.fingerprint })
    }

    /// `(−a·s + e + m, a)` with `a` expanded from a fresh seed, returned as
    /// the seed and `c_0` only.
    pub fn encrypt_symmetric(&self, pt: &Plaintext) -> Result<SeededCiphertext> {
        let ctx = &self.sk.ctx;
        ctx.check_fingerprint(pt.fingerprint)?;
        let num_q = pt.poly.num_q;
        let seed = os_seed();
        let a = expand_ciphertext_a(ctx, &seed, num_q);
        let mut rng = seeded_rng(&os_seed(), 0);
        let e = Zeroizing::new(gaussian(&mut rng, ctx.n()));
        wipe_rng(&mut rng);
        let mut c0 = ctx.poly_from_signed(&e, num_q, 0);
        let mut as_ = Zeroizing::new(a);
        ctx.mul_assign(&mut as_, &self.sk.ntt_restricted(num_q, false));
        ctx.sub_assign(&mut c0, &as_);
        ctx.add_assign(&mut c0, &pt.poly);
        Ok(SeededCiphertext { c0, seed, scale: pt.scale, slots: pt.slots, fingerprint: ctx.fingerprint() })
    }
}

/// Noise flooding for a decryption whose result leaves the client.
///
/// A CKKS decryption is the message plus the ciphertext's noise `e`; anyone
/// who holds the ciphertext and learns the exact decryption learns `e`, and
/// with it a linear equation in the secret key (Li–Micciancio, IND-CPA^D).
/// OpenFHE's `NOISE_FLOODING_DECRYPT` adds Gaussian noise of standard
/// deviation `√(12τ)·2^(λ_s/2)·σ_e` to the coefficients, where σ_e is an
/// estimate of the noise's standard deviation, λ_s the statistical security
/// and τ the number of decryptions the adversary sees
/// (`openfhe-development/src/pke/lib/scheme/ckksrns/ckksrns-pke.cpp`). The
/// same here; coefficient and slot standard deviations differ by the same
/// factor √(N/2)/Δ for the noise and for the flooding, so the estimate and
/// the result are stated per slot ([`Flooding::slot_sigma`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Flooding {
    statistical_security: u32,
    queries: u32,
    log2_noise: f64,
}

impl Flooding {
    /// Flooding for `statistical_security` bits against `queries`
    /// decryptions, over a computation whose noise has standard deviation
    /// `2^log2_noise` per slot (message units).
    pub fn new(statistical_security: u32, queries: u32, log2_noise: f64) -> Self {
        Self { statistical_security, queries: queries.max(1), log2_noise }
    }

    /// Statistical security λ_s in bits.
    pub fn statistical_security(&self) -> u32 {
        self.statistical_security
    }

    /// Standard deviation of the added noise per slot (message units):
    /// `√(12τ)·2^(λ_s/2)·σ_e`.
    pub fn slot_sigma(&self) -> f64 {
        (12.0 * self.queries as f64).sqrt() * (self.statistical_security as f64 / 2.0 + self.log2_noise).exp2()
    }
}

impl Decryptor<'_> {
    /// Decrypts, then adds the flooding noise: i.i.d. rounded Gaussians of
    /// standard deviation `σ_c = σ_slot·Δ/√(N/2)` on the coefficients, which
    /// puts standard deviation `σ_slot` on each slot's real and imaginary
    /// part. Fails when that noise would swamp the ciphertext's scale.
    pub fn decrypt_flooded(&self, ct: &Ciphertext, flooding: &Flooding) -> Result<Plaintext> {
        let ctx = &self.sk.ctx;
        let mut pt = self.decrypt(ct)?;
        let n = ctx.n();
        let sigma_c = flooding.slot_sigma() * ct.scale / ((n / 2) as f64).sqrt();
        if !sigma_c.is_finite() || sigma_c >= ct.scale || sigma_c >= (1u64 << 50) as f64 {
            return Err(crate::error::CkksError::ScaleOutOfBounds(format!(
                "flooding noise 2^{:.1} does not fit under the scale 2^{:.1}",
                sigma_c.log2(),
                ct.scale.log2()
            )));
        }
        let mut rng = seeded_rng(&os_seed(), 0);
        let noise: Zeroizing<Vec<i64>> =
            Zeroizing::new(gaussian_wide(&mut rng, n, sigma_c).into_iter().map(|x| x.round() as i64).collect());
        wipe_rng(&mut rng);
        let flood = ctx.poly_from_signed(&noise, pt.poly.num_q, 0);
        ctx.add_assign(&mut pt.poly, &flood);
        Ok(pt)
    }
}

/// `n` Gaussian samples of standard deviation `sigma` (Box–Muller, not cut).
fn gaussian_wide(rng: &mut rand_chacha::ChaCha20Rng, n: usize, sigma: f64) -> Vec<f64> {
    use rand_core::Rng;
    let unit = |r: &mut rand_chacha::ChaCha20Rng| ((r.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        let (u1, u2) = (unit(rng), unit(rng));
        let r = sigma * (-2.0 * u1.ln()).sqrt();
        let a = std::f64::consts::TAU * u2;
        out.push(r * a.cos());
        out.push(r * a.sin());
    }
    out.truncate(n);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::public::{GaloisKeys, PublicKey, RelinKey};
    use crate::{Context, Encoder, Encryptor, Parameters};

    /// Secret-equivalent temporaries (restricted copies and powers of `s`,
    /// products `a·s`, `v·b`) are wiped before their buffers go back to the
    /// pool: after key generation, encryption and decryption, no pooled
    /// buffer holds a run of the secret's NTT residues.
    #[test]
    fn pooled_buffers_hold_no_secret_material() {
        // Large enough that polynomials go through the pool (≥ 2^15 words).
        let params = Parameters::insecure_for_tests(12, &[50, 40, 40, 40, 40, 40, 40, 40], 2, 40).unwrap();
        let ctx = Context::new(params).unwrap();
        let sk = SecretKey::generate(&ctx);
        let n = ctx.n();
        let _ = (RelinKey::generate(&sk), GaloisKeys::generate(&sk, &[1, 2], true), PublicKey::generate(&sk));
        let enc = Encoder::new(&ctx);
        let pt = enc.encode_real(&[0.5, 0.25], 2, ctx.max_level(), ctx.params().scale()).unwrap();
        let dec = Decryptor::new(&sk);
        let ct = dec.encrypt_symmetric(&pt).unwrap().expand(&ctx).unwrap();
        let ct2 = Encryptor::new(&ctx, PublicKey::generate(&sk)).unwrap().encrypt(&pt).unwrap();
        let three = crate::Evaluator::new(&ctx).mul(&ct, &ct2).unwrap();
        for c in [&ct, &ct2, &three] {
            dec.decrypt(c).unwrap();
        }
        // Look for 8 consecutive residues of s (limb 0, and limb 1) in every pooled buffer.
        let needles: Vec<&[u64]> = (0..2).map(|l| &sk.ntt.data[l * n + 100..l * n + 108]).collect();
        let pooled = crate::ring::pool::drain();
        assert!(!pooled.is_empty(), "the test must exercise the pool");
        for buf in &pooled {
            for needle in &needles {
                assert!(!buf.windows(needle.len()).any(|w| w == *needle), "a pooled buffer holds the secret");
            }
        }
    }
}
