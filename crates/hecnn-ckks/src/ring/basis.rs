//! RNS basis conversion (ModUp / ModDown building block).
//!
//! Given residues `x_i = x mod q_i` over a source basis Q (x ∈ [0, Q)),
//! computes `y_i = [x_i·(Q/q_i)^{-1}]_{q_i}`, then
//! `Σ_i y_i · (Q/q_i) − v·Q mod t` for each target prime t, with
//! `v = round(Σ_i y_i / q_i)` estimated in f64. Since `Σ_i y_i·(Q/q_i) =
//! x + u·Q` with `u = floor(Σ_i y_i / q_i)` (the "fast" conversion, 0 ≤ u <
//! |Q|), subtracting `v·Q` instead gives the *centred* representative
//! `[x]_Q ∈ (−Q/2, Q/2)` exactly: `x` if `x < Q/2`, `x − Q` otherwise. The
//! only inexact case is `|x/Q − 1/2| < 2^-42` (the f64 error bound for up to
//! 32 source primes), where `x` itself may come out instead of `x − Q`.
//! `tests/ring_oracles.rs` checks this against big-integer CRT. Products are
//! accumulated in 128 bits and reduced once per output (lazy reduction).

use super::modulus::Modulus;
use rayon::prelude::*;

/// Precomputed tables for converting from one set of primes to another.
#[derive(Debug, Clone)]
pub struct BasisConverter {
    src: Vec<Modulus>,
    dst: Vec<Modulus>,
    /// `(Q/q_i)^{-1} mod q_i` and its Shoup companion, per source prime.
    qhat_inv: Vec<(u64, u64)>,
    /// The same times `N^{-1}`: for inputs straight out of an unnormalized
    /// inverse NTT (saves one pass over every source limb).
    qhat_inv_over_n: Vec<(u64, u64)>,
    /// `(Q/q_i) mod t_j`, laid out `[j * src.len() + i]`.
    qhat_mod_dst: Vec<u64>,
    /// `Q mod t_j`, to subtract `v` times.
    q_mod_dst: Vec<u64>,
    /// `1/q_i` as f64.
    inv_src: Vec<f64>,
}

impl BasisConverter {
    /// Tables for converting from `src` primes to `dst` primes, for ring degree `n`.
    pub fn new(src: &[Modulus], dst: &[Modulus], n: usize) -> Self {
        assert!(src.len() <= 32, "lazy 128-bit accumulation holds at most 32 terms");
        let qhat_inv: Vec<(u64, u64)> = src
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
        let qhat_inv_over_n = src
            .iter()
            .zip(&qhat_inv)
            .map(|(qi, &(w, _))| {
                let v = qi.mul(w, qi.inv(qi.reduce(n as u64)));
                (v, qi.shoup(v))
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
        let inv_src = src.iter().map(|q| 1.0 / q.value as f64).collect();
        Self { src: src.to_vec(), dst: dst.to_vec(), qhat_inv, qhat_inv_over_n, qhat_mod_dst, q_mod_dst, inv_src }
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
    /// `output` (dst.len() limbs of n, contiguous).
    pub fn convert(&self, n: usize, input: &[u64], output: &mut [u64]) {
        let outs: Vec<&mut [u64]> = output.chunks_mut(n).collect();
        self.convert_into(n, input, false, outs);
    }

    /// Converts into separate destination limbs (one slice per target
    /// prime). With `unnormalized`, the input is `N·x` as left by an inverse
    /// NTT without its final scaling, and the 1/N is folded in here.
    ///
    /// Work is split into blocks of coefficients: a block's scaled residues
    /// (stored coefficient-major, `[c·s + i]`) stay in L1 while every target
    /// limb is produced from them, each residue a short dot product kept in
    /// registers.
    pub fn convert_into(&self, n: usize, input: &[u64], unnormalized: bool, outputs: Vec<&mut [u64]>) {
        let s = self.src.len();
        debug_assert_eq!(input.len(), s * n);
        debug_assert_eq!(outputs.len(), self.dst.len());
        let factors = if unnormalized { &self.qhat_inv_over_n } else { &self.qhat_inv };
        const BLOCK: usize = 256;
        let block = BLOCK.min(n);
        let mut per_block: Vec<Vec<&mut [u64]>> = (0..n / block).map(|_| Vec::with_capacity(outputs.len())).collect();
        for out in outputs {
            for (b, chunk) in out.chunks_mut(block).enumerate() {
                per_block[b].push(chunk);
            }
        }
        // v·Q mod t_j for every possible v (0..=s): the correction is a lookup.
        let q_multiples: Vec<Vec<u64>> = self
            .dst
            .iter()
            .zip(&self.q_mod_dst)
            .map(|(t, &qm)| (0..=s as u64).map(|k| t.mul(t.reduce(k), qm)).collect())
            .collect();
        per_block.into_par_iter().enumerate().for_each_init(
            || (vec![0u64; block * s], vec![0u8; block]),
            |(yt, v), (b, mut outs)| {
                let start = b * block;
                // y_i = [x_i · qhat_inv_i]_{q_i}, transposed.
                for (i, (q, &(w, ws))) in self.src.iter().zip(factors).enumerate() {
                    let x = &input[i * n + start..i * n + start + block];
                    for (c, &xx) in x.iter().enumerate() {
                        yt[c * s + i] = q.mul_shoup(xx, w, ws);
                    }
                }
                // v = round(Σ y_i / q_i): how many times Q to take off.
                for (c, o) in v.iter_mut().enumerate() {
                    let row = &yt[c * s..(c + 1) * s];
                    let f: f64 = row.iter().zip(&self.inv_src).map(|(&y, &inv)| y as f64 * inv).sum();
                    *o = f.round() as u8;
                }
                for (j, out) in outs.iter_mut().enumerate() {
                    let t = &self.dst[j];
                    let table = &self.qhat_mod_dst[j * s..(j + 1) * s];
                    let qm = &q_multiples[j];
                    for ((o, row), &k) in out.iter_mut().zip(yt.chunks_exact(s)).zip(v.iter()) {
                        *o = t.sub(t.reduce_u128(dot(row, table)), qm[k as usize]);
                    }
                }
            },
        );
    }
}

/// `Σ y_i·w_i` in 128 bits, with two independent accumulators so the
/// add-with-carry chains of consecutive terms overlap.
#[inline(always)]
fn dot(y: &[u64], w: &[u64]) -> u128 {
    let mut a0: u128 = 0;
    let mut a1: u128 = 0;
    let mut yc = y.chunks_exact(2);
    let mut wc = w.chunks_exact(2);
    for (yy, ww) in (&mut yc).zip(&mut wc) {
        a0 += yy[0] as u128 * ww[0] as u128;
        a1 += yy[1] as u128 * ww[1] as u128;
    }
    for (&yy, &ww) in yc.remainder().iter().zip(wc.remainder()) {
        a0 += yy as u128 * ww as u128;
    }
    a0 + a1
}
