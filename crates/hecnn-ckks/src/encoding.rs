//! CKKS encoding through the canonical embedding ("special FFT").
//!
//! `slots` complex values (a power of two ≤ N/2) map to a real polynomial
//! whose coefficients live at multiples of `gap = N / (2·slots)`: real parts
//! at `i·gap`, imaginary parts at `N/2 + i·gap`. Slot i is the evaluation at
//! `ζ^{5^i}` (ζ a primitive 2N-th root of unity), so rotating by r slots is
//! the automorphism `X → X^{5^r}`.

use crate::ciphertext::Plaintext;
use crate::context::Context;
use crate::error::{CkksError, Result};
use crate::ring::{ntt_f64, RnsPoly};
use num_complex::Complex64;
use rayon::prelude::*;
use std::sync::Arc;

/// Encodes and decodes vectors; cheap to clone (shares the context).
#[derive(Clone, Debug)]
pub struct Encoder {
    ctx: Arc<Context>,
    /// `5^j mod 2N` for j < N/2.
    rot_group: Vec<u64>,
    /// `exp(2πi·k/2N)` for k ≤ 2N.
    ksi: Vec<Complex64>,
}

impl Encoder {
    /// Precomputes the FFT tables of the context's ring.
    pub fn new(ctx: &Arc<Context>) -> Self {
        let n = ctx.n();
        let m = 2 * n as u64;
        let mut rot_group = Vec::with_capacity(n / 2);
        let mut g = 1u64;
        for _ in 0..n / 2 {
            rot_group.push(g);
            g = g * 5 % m;
        }
        let ksi = (0..=m)
            .map(|k| {
                let angle = std::f64::consts::TAU * k as f64 / m as f64;
                Complex64::new(angle.cos(), angle.sin())
            })
            .collect();
        Self { ctx: ctx.clone(), rot_group, ksi }
    }

    /// The context.
    pub fn context(&self) -> &Arc<Context> {
        &self.ctx
    }

    fn check_slots(&self, slots: usize, len: usize) -> Result<()> {
        let max = self.ctx.n() / 2;
        if !slots.is_power_of_two() || slots > max {
            return Err(CkksError::InvalidSlots(format!("{slots} slots: need a power of two ≤ {max}")));
        }
        if len > slots {
            return Err(CkksError::InvalidSlots(format!("{len} values do not fit in {slots} slots")));
        }
        Ok(())
    }

    /// Encodes real values (zero-padded to `slots`) at `level` and `scale`.
    pub fn encode_real(&self, values: &[f64], slots: usize, level: usize, scale: f64) -> Result<Plaintext> {
        let v: Vec<Complex64> = values.iter().map(|&x| Complex64::new(x, 0.0)).collect();
        self.encode(&v, slots, level, scale)
    }

    /// Encodes complex values (zero-padded to `slots`) at `level` and `scale`.
    pub fn encode(&self, values: &[Complex64], slots: usize, level: usize, scale: f64) -> Result<Plaintext> {
        self.check_slots(slots, values.len())?;
        if let Some(index) = values.iter().position(|z| !z.re.is_finite() || !z.im.is_finite()) {
            return Err(CkksError::NonFinite { index });
        }
        if level > self.ctx.max_level() {
            return Err(CkksError::LevelExhausted { needed: level, level: self.ctx.max_level() });
        }
        check_scale(scale, level, &self.ctx)?;
        let n = self.ctx.n();
        let mut vals = values.to_vec();
        vals.resize(slots, Complex64::new(0.0, 0.0));
        // A vector that repeats with period p encodes into Z[X^{N/2p}]: a
        // size-p FFT and size-2p NTTs (see `ring::subring`).
        let p = period(&vals);
        let subring = if 2 * p < n { self.ctx.subring_ntt(2 * p) } else { None };
        if subring.is_some() {
            vals.truncate(p);
        }
        self.fft_special_inv(&mut vals);
        let (width, gap) = match subring {
            Some(_) => (2 * p, 1),
            None => (n, n / (2 * vals.len())),
        };
        let mut coeffs = vec![0f64; width];
        for (i, z) in vals.iter().enumerate() {
            coeffs[i * gap] = z.re * scale;
            coeffs[width / 2 + i * gap] = z.im * scale;
        }
        let bound = (self.ctx.params().q()[..=level].iter().map(|&q| (q as f64).log2()).sum::<f64>() - 1.0).min(126.0);
        let limit = bound.exp2();
        if coeffs.iter().any(|c| c.abs() >= limit) {
            return Err(CkksError::ScaleOutOfBounds(format!(
                "encoded coefficients exceed 2^{bound:.0} (values too large for scale {scale:e})"
            )));
        }
        let mut poly = self.residue_poly(&coeffs, level + 1);
        let poly = match subring {
            Some(tables) => self.ctx.subring_forward(&tables, &mut poly),
            None => {
                self.ctx.ntt_forward(&mut poly);
                poly
            }
        };
        Ok(Plaintext { poly, scale, slots, fingerprint: self.ctx.fingerprint() })
    }

    /// Encodes the same constant in every slot (no FFT: a constant is the
    /// constant polynomial).
    pub fn encode_constant(&self, value: f64, slots: usize, level: usize, scale: f64) -> Result<Plaintext> {
        self.check_slots(slots, 0)?;
        if !value.is_finite() {
            return Err(CkksError::NonFinite { index: 0 });
        }
        check_scale(scale, level, &self.ctx)?;
        let mut coeffs = vec![0f64; self.ctx.n()];
        coeffs[0] = value * scale;
        let mut poly = self.residue_poly(&coeffs, level + 1);
        self.ctx.ntt_forward(&mut poly);
        Ok(Plaintext { poly, scale, slots, fingerprint: self.ctx.fingerprint() })
    }

    /// The coefficients rounded to integers, as residues (coefficient form,
    /// as many per limb as `coeffs` has).
    fn residue_poly(&self, coeffs: &[f64], num_q: usize) -> RnsPoly {
        let n = coeffs.len();
        let mut poly = RnsPoly::uninit(n, num_q, 0, false);
        let moduli = self.ctx.moduli();
        // AVX has a rounding instruction; SSE2 (the default target) calls libm.
        let (rounded, largest) = crate::ring::modulus::with_avx2(|| {
            let rounded: Vec<f64> = coeffs.iter().map(|c| c.round()).collect();
            let largest = rounded.iter().fold(0f64, |m, c| m.max(c.abs()));
            (rounded, largest)
        });
        if largest < I64_F64 {
            // Every coefficient is an integer that fits an i64: residues by
            // f64 arithmetic where the prime allows (vectorizable: below
            // 2^31 for coefficients below 2^52, below 2^43 with FMA for any
            // of them), i64 otherwise.
            poly.data.par_chunks_mut(n).enumerate().for_each(|(i, l)| {
                let m = &moduli[i];
                if m.value < 1 << 31 && largest < EXACT_F64 {
                    residues_f64(&rounded, m.value, l);
                } else if !(m.value < ntt_f64::MAX_PRIME && ntt_f64::residues(&rounded, m.value, l)) {
                    residues_i64(&rounded, m, largest < 15.0 * m.value as f64, l);
                }
            });
        } else {
            let ints: Vec<i128> = rounded.iter().map(|&c| c as i128).collect();
            poly.data.par_chunks_mut(n).enumerate().for_each(|(i, l)| {
                let m = &moduli[i];
                for (x, &c) in l.iter_mut().zip(&ints) {
                    *x = m.from_i128(c);
                }
            });
        }
        poly
    }

    /// Decodes a plaintext to its complex slot values.
    pub fn decode(&self, pt: &Plaintext) -> Result<Vec<Complex64>> {
        self.ctx.check_fingerprint(pt.fingerprint)?;
        let n = self.ctx.n();
        let slots = pt.slots;
        let gap = n / (2 * slots);
        let mut poly = pt.poly.clone();
        if poly.ntt {
            self.ctx.ntt_inverse(&mut poly);
        }
        let crt = Crt::new(&self.ctx, poly.num_q);
        let mut vals: Vec<Complex64> = (0..slots)
            .into_par_iter()
            .map(|i| {
                let re = crt.to_f64(&poly, i * gap);
                let im = crt.to_f64(&poly, n / 2 + i * gap);
                Complex64::new(re / pt.scale, im / pt.scale)
            })
            .collect();
        self.fft_special(&mut vals);
        Ok(vals)
    }

    /// Decodes and keeps the real parts.
    pub fn decode_real(&self, pt: &Plaintext) -> Result<Vec<f64>> {
        Ok(self.decode(pt)?.into_iter().map(|z| z.re).collect())
    }

    fn fft_special(&self, vals: &mut [Complex64]) {
        let size = vals.len();
        let m = 2 * self.ctx.n();
        bit_reverse(vals);
        let mut len = 2;
        while len <= size {
            let lenh = len / 2;
            let lenq = len * 4;
            // lenq divides m = 2N (both powers of two): a mask and a
            // product instead of two divisions per butterfly.
            let (mask, step) = (lenq - 1, m / lenq);
            for i in (0..size).step_by(len) {
                for j in 0..lenh {
                    let idx = (self.rot_group[j] as usize & mask) * step;
                    let u = vals[i + j];
                    let v = vals[i + j + lenh] * self.ksi[idx];
                    vals[i + j] = u + v;
                    vals[i + j + lenh] = u - v;
                }
            }
            len *= 2;
        }
    }

    fn fft_special_inv(&self, vals: &mut [Complex64]) {
        let size = vals.len();
        let m = 2 * self.ctx.n();
        let mut len = size;
        while len >= 2 {
            let lenh = len / 2;
            let lenq = len * 4;
            let (mask, step) = (lenq - 1, m / lenq);
            for i in (0..size).step_by(len) {
                for j in 0..lenh {
                    let idx = (lenq - (self.rot_group[j] as usize & mask)) * step;
                    let u = vals[i + j] + vals[i + j + lenh];
                    let v = (vals[i + j] - vals[i + j + lenh]) * self.ksi[idx];
                    vals[i + j] = u;
                    vals[i + j + lenh] = v;
                }
            }
            len /= 2;
        }
        bit_reverse(vals);
        let inv = 1.0 / size as f64;
        vals.iter_mut().for_each(|v| *v *= inv);
    }
}

/// The smallest power-of-two period of `v` (a power-of-two length; the
/// length itself if none shorter): `v[j] == v[j mod p]` exactly. A vector
/// with period p has period p/2 iff its first two halves of p agree, so
/// halving from the length compares at most `len` pairs, and an aperiodic
/// vector stops at its halves' first difference.
fn period(v: &[Complex64]) -> usize {
    let mut p = v.len();
    while p > 1 && v[..p / 2] == v[p / 2..p] {
        p /= 2;
    }
    p
}

/// Rejects scales that are not finite, below 1, or beyond the modulus.
pub(crate) fn check_scale(scale: f64, level: usize, ctx: &Context) -> Result<()> {
    if level > ctx.max_level() {
        return Err(CkksError::LevelExhausted { needed: level, level: ctx.max_level() });
    }
    let log_q: f64 = ctx.params().q()[..=level].iter().map(|&q| (q as f64).log2()).sum();
    if !scale.is_finite() || scale < 1.0 || scale.log2() >= log_q - 1.0 {
        return Err(CkksError::ScaleOutOfBounds(format!(
            "scale {scale:e} must be ≥ 1 and < 2^{:.0} at level {level}",
            log_q - 1.0
        )));
    }
    Ok(())
}

fn bit_reverse<T>(v: &mut [T]) {
    let n = v.len();
    let mut j = 0;
    for i in 1..n {
        let mut bit = n >> 1;
        while j & bit != 0 {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
        if i < j {
            v.swap(i, j);
        }
    }
}

/// Garner's mixed-radix CRT: exact reconstruction of a residue vector as a
/// centred value, then conversion to f64 (no big integers needed).
pub(crate) struct Crt<'a> {
    moduli: &'a [crate::ring::Modulus],
    /// `inv[i][j] = q_i^{-1} mod q_j` for i < j.
    inv: Vec<Vec<u64>>,
    /// Mixed-radix digits of (Q−1)/2, most significant last.
    half: Vec<u64>,
    /// `q_0·…·q_{i-1}` as f64.
    radix: Vec<f64>,
}

impl<'a> Crt<'a> {
    pub(crate) fn new(ctx: &'a Context, num_q: usize) -> Self {
        let moduli = &ctx.moduli()[..num_q];
        let inv = (0..num_q)
            .map(|i| {
                (0..num_q).map(|j| if i < j { moduli[j].inv(moduli[j].reduce(moduli[i].value)) } else { 0 }).collect()
            })
            .collect();
        let mut radix = Vec::with_capacity(num_q);
        let mut r = 1.0f64;
        for m in moduli {
            radix.push(r);
            r *= m.value as f64;
        }
        // (Q-1)/2 in mixed radix: digits (q_i - 1)/2 would be wrong; compute
        // via Garner on the residues of (Q-1)/2 = (Q-1)·2^{-1} mod each q_i.
        let mut s = Self { moduli, inv, half: Vec::new(), radix };
        let residues: Vec<u64> = moduli
            .iter()
            .map(|m| {
                // (Q-1)/2 mod q_i = (-1) · 2^{-1} mod q_i, since Q ≡ 0.
                m.neg(m.inv(2))
            })
            .collect();
        s.half = s.digits(&residues);
        s
    }

    fn digits(&self, r: &[u64]) -> Vec<u64> {
        let k = r.len();
        let mut a = Vec::with_capacity(k);
        for (j, (m, &rj)) in self.moduli.iter().zip(r).enumerate() {
            let mut x = rj;
            for (i, &ai) in a.iter().enumerate() {
                // x = (x - a_i) * q_i^{-1} mod q_j
                x = m.mul(m.sub(x, m.reduce(ai)), self.inv[i][j]);
            }
            a.push(x);
        }
        a
    }

    /// Centred value of coefficient `c` of a coefficient-form polynomial.
    pub(crate) fn to_f64(&self, poly: &RnsPoly, c: usize) -> f64 {
        let k = self.moduli.len();
        let r: Vec<u64> = (0..k).map(|i| poly.limb(i)[c]).collect();
        let a = self.digits(&r);
        // Compare with (Q-1)/2 from the most significant digit.
        let mut negative = false;
        for i in (0..k).rev() {
            if a[i] != self.half[i] {
                negative = a[i] > self.half[i];
                break;
            }
        }
        let mut v = 0.0f64;
        if negative {
            // Q - x = Σ (q_i - 1 - a_i)·M_i + 1
            for ((m, &ai), &radix) in self.moduli.iter().zip(&a).zip(&self.radix) {
                let d = m.value - 1 - ai;
                if d != 0 {
                    v += d as f64 * radix;
                }
            }
            -(v + 1.0)
        } else {
            for (&ai, &radix) in a.iter().zip(&self.radix) {
                if ai != 0 {
                    v += ai as f64 * radix;
                }
            }
            v
        }
    }
}

/// Below this magnitude every integer is exact in f64, and so are the
/// quotient estimates of [`residues_f64`] to within one.
const EXACT_F64: f64 = (1u64 << 52) as f64;

/// `out[k] = c[k] mod q` for integer-valued `|c[k]| < 2^63` (`small`: all
/// below 16q — callers test `< 15q` in f64, whose rounding of q cannot
/// then admit 16q), branch-free: encoded coefficients have random signs and
/// magnitudes around q, and branching on either (as `Modulus::from_i64`
/// does) mispredicted every other coefficient — half of a bootstrapping
/// diagonal's encoding time.
fn residues_i64(c: &[f64], m: &crate::ring::Modulus, small: bool, out: &mut [u64]) {
    let q = m.value;
    for (o, &x) in out.iter_mut().zip(c) {
        let x = x as i64;
        let a = x.unsigned_abs();
        let r = if small {
            // a < 16q and 8q < 2^64: four conditional subtractions.
            let mut r = a;
            for k in [8, 4, 2, 1] {
                r = r.min(r.wrapping_sub(k * q));
            }
            r
        } else {
            m.reduce(a)
        };
        let minus = q - r;
        let minus = minus.min(minus.wrapping_sub(q));
        let negative = (x >> 63) as u64;
        *o = (minus & negative) | (r & !negative);
    }
}

/// Below this magnitude an integer-valued f64 converts to i64 exactly.
const I64_F64: f64 = 9_223_372_036_854_775_808.0; // 2^63

/// `out[k] = c[k] mod q` for integers `|c| < 2^52` held in f64 and `q <
/// 2^31`: `c − q·floor(c/q)` in f64 is exact up to one q (the quotient
/// estimate may be off by one at a boundary), fixed by two selects. All in
/// f64 lanes, no 128-bit Barrett per coefficient; AVX2 where the CPU has it.
fn residues_f64(c: &[f64], q: u64, out: &mut [u64]) {
    crate::ring::modulus::with_avx2(|| residues_f64_portable(c, q, out))
}

#[inline(always)]
fn residues_f64_portable(c: &[f64], q: u64, out: &mut [u64]) {
    let qf = q as f64;
    let inv = 1.0 / qf;
    for (o, &x) in out.iter_mut().zip(c) {
        let mut r = x - (x * inv).floor() * qf;
        r = if r < 0.0 { r + qf } else { r };
        r = if r >= qf { r - qf } else { r };
        *o = r as u32 as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::Modulus;

    /// The residues of large coefficients (the bootstrapping diagonals',
    /// scaled by a 60-bit prime): the FMA path for primes below 2^43 and the
    /// branch-free integer path (both of its regimes) equal the exact
    /// 128-bit reduction, for both signs, multiples of q and their
    /// neighbours, 16q (where the regimes meet) and the largest i64 values.
    #[test]
    fn wide_residues_match_exact_residues() {
        for q in [(1u64 << 31) + 11, 1_099_511_627_689, (1 << 43) - 57, (1 << 59) + 21, (1 << 60) - 93] {
            let m = Modulus::new(q);
            let q_i = q as i128;
            let mut xs: Vec<i128> = vec![0, 1, -1, (1 << 62) + (1 << 61), -(1 << 62) - (1 << 61)];
            for k in [1i128, 2, 7, 8, 15, 16, 17] {
                for d in [-1i128, 0, 1] {
                    xs.push(k * q_i + d);
                    xs.push(-(k * q_i + d));
                }
            }
            let mut s = 0x9e37_79b9_7f4a_7c15u64;
            for _ in 0..10_000 {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                xs.push(((s as i64) >> (s % 40)) as i128);
            }
            // f64 holds these only where they are exact: keep those.
            xs.retain(|&x| (x as f64) as i128 == x && x.abs() < 1 << 63);
            xs.truncate(xs.len() / 4 * 4);
            let c: Vec<f64> = xs.iter().map(|&x| x as f64).collect();
            let want: Vec<u64> = xs.iter().map(|&x| m.from_i128(x)).collect();
            let largest = c.iter().fold(0f64, |a, x| a.max(x.abs()));
            for small in [false, true] {
                let sub: Vec<usize> = (0..c.len()).filter(|&i| !small || xs[i].abs() < 16 * q_i).collect();
                let cs: Vec<f64> = sub.iter().map(|&i| c[i]).collect();
                let mut got = vec![0u64; cs.len()];
                residues_i64(&cs, &m, small, &mut got);
                for (k, &i) in sub.iter().enumerate() {
                    assert_eq!(got[k], want[i], "{} mod {q} (small: {small}, largest {largest:e})", xs[i]);
                }
            }
            if q < ntt_f64::MAX_PRIME {
                let mut got = vec![0u64; c.len()];
                if ntt_f64::residues(&c, q, &mut got) {
                    assert_eq!(got, want, "FMA residues mod {q}");
                }
            }
        }
    }

    /// A vector that repeats with period p encodes into `Z[X^{N/2p}]` by the
    /// subring path: its coefficients off that subring are exactly zero
    /// (the full FFT leaves rounding residue there), and it decodes to the
    /// input as precisely as an aperiodic vector does. A vector whose
    /// period is the slot count of a sparse encoding takes the same path.
    #[test]
    fn periodic_vectors_encode_into_their_subring() {
        let params = crate::params::Parameters::insecure_for_tests(12, &[60, 40, 40], 2, 40).unwrap();
        let ctx = Context::new(params).unwrap();
        let enc = Encoder::new(&ctx);
        let n = ctx.n();
        let mut s = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        };
        for (period, slots) in [(8usize, n / 2), (64, n / 2), (512, n / 2), (16, 256), (n / 2, n / 2)] {
            let one: Vec<Complex64> = (0..period).map(|_| Complex64::new(rnd(), rnd())).collect();
            let v: Vec<Complex64> = (0..slots).map(|j| one[j % period]).collect();
            let pt = enc.encode(&v, slots, 2, 2f64.powi(40)).unwrap();
            let got = enc.decode(&pt).unwrap();
            let err = got.iter().zip(&v).map(|(a, b)| (a - b).norm()).fold(0.0, f64::max);
            assert!(err < 1e-9, "period {period}, {slots} slots: error {err:e}");
            let mut coeffs = pt.poly.clone();
            ctx.ntt_inverse(&mut coeffs);
            let gap = n / (2 * period);
            let off: usize = coeffs.data.chunks(n).map(|l| (0..n).filter(|c| c % gap != 0 && l[*c] != 0).count()).sum();
            if period < n / 2 {
                assert_eq!(off, 0, "period {period}: coefficients off the subring");
            }
        }
    }

    /// The f64 residues equal the integer ones for edge values: multiples
    /// of q and their neighbours, both signs, the largest magnitudes
    /// admitted, and primes from 17 to 31 bits.
    #[test]
    fn f64_residues_match_integer_residues() {
        for q in [65537u64, 786433, (1 << 30) - 35, 1_073_750_017, (1 << 31) - 1] {
            let m = Modulus::new(q);
            let mut xs: Vec<i64> = vec![0, 1, -1, (1 << 52) - 1, -(1 << 52) + 1];
            // Near 2^52 the quotient estimate's error approaches 1/q: the
            // corrections are needed there.
            let top = ((1i64 << 52) - 2) / q as i64;
            for k in [1i64, 2, 3, 1 << 20].into_iter().chain(top - 3000..=top) {
                for d in [-1i64, 0, 1] {
                    xs.push(k * q as i64 + d);
                    xs.push(-(k * q as i64 + d));
                }
            }
            let mut s = 0x9e37_79b9_7f4a_7c15u64;
            for _ in 0..10_000 {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                xs.push((s as i64) >> 12);
            }
            let c: Vec<f64> = xs.iter().map(|&x| x as f64).collect();
            let mut got = vec![0u64; c.len()];
            residues_f64(&c, q, &mut got);
            for (&x, &g) in xs.iter().zip(&got) {
                assert_eq!(g, m.from_i64(x), "{x} mod {q}");
            }
        }
    }
}
