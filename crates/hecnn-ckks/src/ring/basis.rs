//! Fast RNS basis conversion (ModUp / ModDown building block).
//!
//! Given residues `x_i = x mod q_i` over a source basis Q, computes
//! `Σ_i [x_i·(Q/q_i)^{-1}]_{q_i} · (Q/q_i) mod t` for each target prime t,
//! which equals `x + u·Q` for a small `0 ≤ u < |Q|`: the approximate
//! conversion of hybrid key switching. Products are accumulated in 128 bits
//! and reduced once per output (lazy reduction).

use super::modulus::Modulus;
use rayon::prelude::*;

/// Precomputed tables for converting from one set of primes to another.
#[derive(Debug, Clone)]
pub struct BasisConverter {
    src: Vec<Modulus>,
    dst: Vec<Modulus>,
    /// `(Q/q_i)^{-1} mod q_i` and its Shoup companion, per source prime.
    qhat_inv: Vec<(u64, u64)>,
    /// `(Q/q_i) mod t_j`, laid out `[j * src.len() + i]`.
    qhat_mod_dst: Vec<u64>,
    /// `Q mod t_j`, to subtract `v` times.
    q_mod_dst: Vec<u64>,
    /// `1/q_i` as f64.
    inv_src: Vec<f64>,
}

impl BasisConverter {
    /// Tables for converting from `src` primes to `dst` primes.
    pub fn new(src: &[Modulus], dst: &[Modulus]) -> Self {
        let qhat_inv = src
            .iter()
            .enumerate()
            .map(|(i, qi)| {
                let mut prod = 1u64;
                for (k, qk) in src.iter().enumerate() {
                    if k != i {
                        prod = qi.mul(prod, qi.reduce(qk.value));
                    }
                }
                let inv = qi.inv(prod);
                (inv, qi.shoup(inv))
            })
            .collect();
        let mut qhat_mod_dst = Vec::with_capacity(src.len() * dst.len());
        for t in dst {
            for i in 0..src.len() {
                let mut prod = 1u64;
                for (k, qk) in src.iter().enumerate() {
                    if k != i {
                        prod = t.mul(prod, t.reduce(qk.value));
                    }
                }
                qhat_mod_dst.push(prod);
            }
        }
        let q_mod_dst = dst.iter().map(|t| src.iter().fold(1u64, |acc, q| t.mul(acc, t.reduce(q.value)))).collect();
        assert!(src.len() <= 32, "lazy 128-bit accumulation holds at most 32 terms");
        let inv_src = src.iter().map(|q| 1.0 / q.value as f64).collect();
        Self { src: src.to_vec(), dst: dst.to_vec(), qhat_inv, qhat_mod_dst, q_mod_dst, inv_src }
    }

    /// Source primes.
    pub fn src(&self) -> &[Modulus] {
        &self.src
    }

    /// Target primes.
    pub fn dst(&self) -> &[Modulus] {
        &self.dst
    }

    /// Converts coefficient-form limbs `input` (src.len() limbs of n) into
    /// `output` (dst.len() limbs of n). `scratch` holds src.len()·n words.
    pub fn convert(&self, n: usize, input: &[u64], output: &mut [u64], scratch: &mut Vec<u64>) {
        let s = self.src.len();
        debug_assert_eq!(input.len(), s * n);
        debug_assert_eq!(output.len(), self.dst.len() * n);
        scratch.resize(s * n, 0);
        // y_i = [x_i · qhat_inv_i]_{q_i}
        scratch
            .par_chunks_mut(n)
            .zip(input.par_chunks(n))
            .zip(self.src.par_iter().zip(self.qhat_inv.par_iter()))
            .for_each(|((y, x), (q, &(w, ws)))| {
                for (yy, &xx) in y.iter_mut().zip(x) {
                    *yy = q.mul_shoup(xx, w, ws);
                }
            });
        // v[c] = round(Σ_i y_i[c] / q_i): how many times Q to take off.
        let mut v = vec![0u8; n];
        v.par_chunks_mut(1024).enumerate().for_each(|(b, vb)| {
            let start = b * 1024;
            let mut f = [0f64; 1024];
            let f = &mut f[..vb.len()];
            for i in 0..s {
                let inv = self.inv_src[i];
                let row = &scratch[i * n + start..i * n + start + vb.len()];
                for (ff, &y) in f.iter_mut().zip(row) {
                    *ff += y as f64 * inv;
                }
            }
            for (o, &ff) in vb.iter_mut().zip(f.iter()) {
                *o = ff.round() as u8;
            }
        });
        let scratch = &scratch[..];
        output.par_chunks_mut(n).enumerate().for_each(|(j, out)| {
            let t = &self.dst[j];
            let table = &self.qhat_mod_dst[j * s..(j + 1) * s];
            convert_one(n, s, scratch, table, self.q_mod_dst[j], &v, t, out);
        });
    }
}

/// One target limb: `out[c] = Σ_i y_i[c]·table[i] − v[c]·Q mod t`.
#[inline]
fn convert_one(n: usize, s: usize, y: &[u64], table: &[u64], q_mod_t: u64, v: &[u8], t: &Modulus, out: &mut [u64]) {
    // Blocks of coefficients keep the s source rows in cache together.
    const BLOCK: usize = 256;
    let mut acc = [0u128; BLOCK];
    // v·Q mod t for every possible v (0..=s), so the correction is a lookup.
    let q_multiples: Vec<u64> = (0..=s as u64).map(|k| t.mul(t.reduce(k), q_mod_t)).collect();
    for start in (0..n).step_by(BLOCK) {
        let len = BLOCK.min(n - start);
        acc[..len].iter_mut().for_each(|a| *a = 0);
        for i in 0..s {
            let w = table[i] as u128;
            let row = &y[i * n + start..i * n + start + len];
            for (a, &x) in acc[..len].iter_mut().zip(row) {
                *a += x as u128 * w;
            }
        }
        let vs = &v[start..start + len];
        for ((o, &a), &k) in out[start..start + len].iter_mut().zip(&acc[..len]).zip(vs) {
            *o = t.sub(t.reduce_u128(a), q_multiples[k as usize]);
        }
    }
}
