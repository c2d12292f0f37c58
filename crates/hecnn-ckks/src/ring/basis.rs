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
    /// `output` (dst.len() limbs of n). `scratch` is reused between calls.
    ///
    /// The scaled residues are stored coefficient-major (`[c·s + i]`) so each
    /// output residue is a short contiguous dot product kept in registers.
    pub fn convert(&self, n: usize, input: &[u64], output: &mut [u64], scratch: &mut Vec<u64>) {
        let s = self.src.len();
        debug_assert_eq!(input.len(), s * n);
        debug_assert_eq!(output.len(), self.dst.len() * n);
        scratch.resize(s * n, 0);
        const CHUNK: usize = 1024;
        // y_i = [x_i · qhat_inv_i]_{q_i}, transposed; v = round(Σ y_i / q_i).
        let mut v = vec![0u8; n];
        scratch.par_chunks_mut(CHUNK * s).zip(v.par_chunks_mut(CHUNK)).enumerate().for_each(|(b, (yt, vb))| {
            let start = b * CHUNK;
            let len = vb.len();
            for (i, (q, &(w, ws))) in self.src.iter().zip(&self.qhat_inv).enumerate() {
                let x = &input[i * n + start..i * n + start + len];
                for (c, &xx) in x.iter().enumerate() {
                    yt[c * s + i] = q.mul_shoup(xx, w, ws);
                }
            }
            for (c, o) in vb.iter_mut().enumerate() {
                let row = &yt[c * s..(c + 1) * s];
                let f: f64 = row.iter().zip(&self.inv_src).map(|(&y, &inv)| y as f64 * inv).sum();
                *o = f.round() as u8;
            }
        });
        let scratch = &scratch[..];
        let v = &v[..];
        output.par_chunks_mut(n).enumerate().for_each(|(j, out)| {
            let t = &self.dst[j];
            let table = &self.qhat_mod_dst[j * s..(j + 1) * s];
            // v·Q mod t for every possible v (0..=s): the correction is a lookup.
            let q_multiples: Vec<u64> = (0..=s as u64).map(|k| t.mul(t.reduce(k), self.q_mod_dst[j])).collect();
            for ((o, row), &k) in out.iter_mut().zip(scratch.chunks_exact(s)).zip(v) {
                let acc: u128 = row.iter().zip(table).map(|(&y, &w)| y as u128 * w as u128).sum();
                *o = t.sub(t.reduce_u128(acc), q_multiples[k as usize]);
            }
        });
    }
}
