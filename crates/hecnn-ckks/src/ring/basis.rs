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
//! accumulated lazily and reduced once per output: in 128 bits in general,
//! and in 64 bits for a target prime t < 2^32 whose sums fit (chains of
//! ~30-bit primes). That path keeps the scaled residues as u32 rows — a
//! residue of a source prime above 2^32 as two rows, its low and high words
//! — and runs 32×32→64-bit products across coefficients, which vectorize
//! (AVX2 `vpmuludq`); the 128-bit path is a scalar add-with-carry chain per
//! coefficient. Two kernels replace it where the CPU allows: AVX-512 IFMA
//! for targets below 2^61 ([`super::ifma`]), and without IFMA, exact
//! double-precision FMAs for targets below 2^44 ([`super::conv_f64`]: the
//! 40-bit half of the bootstrapping chain on AVX2 machines).

use super::conv_f64::{self, F64Conversion};
use super::ifma::{self, IfmaTables, ScaledSum};
use super::modulus::{with_avx2, Modulus, WordReduce};
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
    /// The 32-bit rows of the narrow path: (source prime, word 0 or 1).
    rows: Vec<(usize, u32)>,
    /// Per row, `2^(32·word) / q_i` as f64 (for `v`).
    row_inv: Vec<f64>,
    /// `(Q/q_i)·2^(32·word) mod t_j`, laid out `[j * rows.len() + r]`.
    row_weights: Vec<u64>,
    /// Per target prime: its row sums fit 64 bits. The narrow path runs
    /// when any target does.
    narrow_dst: Vec<bool>,
    /// Per target prime below 2^31 on the narrow path: its vectorizable
    /// reduction and `−Q mod t`, the `v·Q` correction folded into the sum
    /// before reducing.
    word_reduce: Vec<Option<(WordReduce, u64)>>,
    /// The 128-bit path's AVX-512 IFMA kernels for targets below 2^61
    /// (`None` on other CPUs): see [`super::ifma`].
    ifma: Option<IfmaTables>,
    /// Without IFMA, the double-precision path for targets below 2^44
    /// (`None` without AVX2 and FMA): see [`super::conv_f64`].
    f64: Option<F64Conversion>,
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
        let qhat_inv_over_n: Vec<(u64, u64)> = src
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
        let q_mod_dst: Vec<u64> =
            dst.iter().map(|t| src.iter().fold(1u64, |acc, q| t.mul(acc, t.reduce(q.value)))).collect();
        let inv_src = src.iter().map(|q| 1.0 / q.value as f64).collect();
        let rows: Vec<(usize, u32)> = src
            .iter()
            .enumerate()
            .flat_map(|(i, q)| std::iter::once((i, 0)).chain((q.value >> 32 > 0).then_some((i, 1))))
            .collect();
        let row_max = |&(i, word): &(usize, u32)| -> u128 {
            let y = src[i].value as u128 - 1;
            if word == 0 {
                y.min(u32::MAX as u128)
            } else {
                y >> 32
            }
        };
        let row_inv = rows.iter().map(|&(i, word)| (32.0 * word as f64).exp2() / src[i].value as f64).collect();
        let mut row_weights = Vec::with_capacity(rows.len() * dst.len());
        for (j, t) in dst.iter().enumerate() {
            let two32 = t.reduce(1 << 32);
            for &(i, word) in &rows {
                let w = qhat_mod_dst[j * src.len() + i];
                row_weights.push(if word == 0 { w } else { t.mul(w, two32) });
            }
        }
        let narrow_dst: Vec<bool> = dst
            .iter()
            .map(|t| {
                let bound: u128 = rows.iter().map(|r| row_max(r) * (t.value as u128 - 1)).sum();
                t.value < 1 << 32 && bound < 1 << 64
            })
            .collect();
        let word_reduce = dst
            .iter()
            .zip(&narrow_dst)
            .zip(&q_mod_dst)
            .map(|((t, &narrow), &qm)| {
                let bound: u128 = rows.iter().map(|r| row_max(r) * (t.value as u128 - 1)).sum::<u128>()
                    + src.len() as u128 * (t.value as u128 - 1);
                WordReduce::new(t.value).filter(|_| narrow && bound < 1 << 64).map(|wr| (wr, t.neg(qm)))
            })
            .collect();
        let ifma = IfmaTables::new(src, dst, &qhat_mod_dst, &q_mod_dst).map(|mut t| {
            let scales =
                |f: &[(u64, u64)]| src.iter().zip(f).map(|(q, &(w, _))| ScaledSum::new(q, None, &[w])).collect();
            t.row_scales = [scales(&qhat_inv), scales(&qhat_inv_over_n)];
            t
        });
        let f64 = if ifma.is_none() { F64Conversion::new(src, dst, &qhat_mod_dst, &q_mod_dst) } else { None };
        Self {
            ifma,
            f64,
            src: src.to_vec(),
            dst: dst.to_vec(),
            qhat_inv,
            qhat_inv_over_n,
            qhat_mod_dst,
            q_mod_dst,
            inv_src,
            rows,
            row_inv,
            row_weights,
            narrow_dst,
            word_reduce,
        }
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
        if self.narrow_dst.iter().any(|&x| x) {
            let r = self.rows.len();
            per_block.into_par_iter().enumerate().for_each_init(
                || (vec![0u32; block * r], vec![0f64; block], vec![0u8; block], vec![0u64; block]),
                |(ys, f, v, acc), (b, outs)| {
                    self.convert_block_narrow(n, input, factors, &q_multiples, b * block, ys, f, v, acc, outs)
                },
            );
            return;
        }
        // Targets below 2^61 by IFMA where the CPU has it (whole blocks of
        // 32 coefficients); without IFMA, targets below 2^44 in double
        // precision (blocks of 16); the scalar 128-bit path takes the rest.
        let ifma = self.ifma.as_ref().filter(|_| block.is_multiple_of(ifma::CHUNK));
        let f64c = self.f64.as_ref().filter(|_| ifma.is_none() && block.is_multiple_of(16));
        let done: Vec<bool> = (0..self.dst.len())
            .map(|j| ifma.is_some_and(|t| t.targets[j].is_some()) || f64c.is_some_and(|f| f.has_target(j)))
            .collect();
        let scalar_left = done.iter().any(|&d| !d);
        let wide = ifma.map_or(0, |t| t.wide_sources.len());
        per_block.into_par_iter().enumerate().for_each_init(
            || {
                let rows = IfmaRows::new(if ifma.is_some() { block } else { 0 }, s, wide);
                let f64_rows = f64c.map(|f| f.block_rows(block));
                (vec![0u64; if scalar_left { block * s } else { 0 }], vec![0u8; block], rows, f64_rows)
            },
            |(yt, v, rows, f64_rows), (b, mut outs)| {
                let start = b * block;
                if let Some(tables) = ifma {
                    let scales = tables.row_scales[usize::from(unnormalized)].as_deref();
                    let block_input =
                        BlockInput { conv: self, input, factors, scales, start, n, wide_sources: &tables.wide_sources };
                    rows.fill(&block_input, scalar_left.then_some(&mut yt[..]));
                    v.iter_mut().zip(&rows.v).for_each(|(o, &k)| *o = k as u8);
                    for ((out, target), d) in outs.iter_mut().zip(&tables.targets).zip(&done) {
                        if let (Some(target), true) = (target, d) {
                            ifma::convert_target(target, &rows.lo, &rows.hi, &rows.v, out);
                        }
                    }
                    if !scalar_left {
                        return;
                    }
                } else if let (Some(fc), Some(fr)) = (f64c, f64_rows.as_mut()) {
                    fc.prepare(conv_f64::BlockInput { input, factors, start, n }, fr, v);
                    for (j, out) in outs.iter_mut().enumerate().filter(|(j, _)| fc.has_target(*j)) {
                        fc.convert_target(j, fr, out);
                    }
                    if !scalar_left {
                        return;
                    }
                    for (i, y) in fr.y.chunks_exact(block).enumerate() {
                        y.iter().enumerate().for_each(|(c, &y)| yt[c * s + i] = y);
                    }
                } else {
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
                }
                match s {
                    1 => self.accumulate_wide::<1>(yt, v, &mut outs, &q_multiples, &done),
                    2 => self.accumulate_wide::<2>(yt, v, &mut outs, &q_multiples, &done),
                    3 => self.accumulate_wide::<3>(yt, v, &mut outs, &q_multiples, &done),
                    4 => self.accumulate_wide::<4>(yt, v, &mut outs, &q_multiples, &done),
                    5 => self.accumulate_wide::<5>(yt, v, &mut outs, &q_multiples, &done),
                    6 => self.accumulate_wide::<6>(yt, v, &mut outs, &q_multiples, &done),
                    7 => self.accumulate_wide::<7>(yt, v, &mut outs, &q_multiples, &done),
                    8 => self.accumulate_wide::<8>(yt, v, &mut outs, &q_multiples, &done),
                    _ => {
                        for (j, out) in outs.iter_mut().enumerate().filter(|(j, _)| !done[*j]) {
                            let t = &self.dst[j];
                            let table = &self.qhat_mod_dst[j * s..(j + 1) * s];
                            let qm = &q_multiples[j];
                            for ((o, row), &k) in out.iter_mut().zip(yt.chunks_exact(s)).zip(v.iter()) {
                                *o = t.sub(t.reduce_u128(dot(row, table)), qm[k as usize]);
                            }
                        }
                    }
                }
            },
        );
    }

    /// The 128-bit dot products of one block for `S` source primes, the
    /// sum unrolled (the loop over a slice of run-time length ran at three
    /// quarters of this speed).
    #[inline(always)]
    fn accumulate_wide<const S: usize>(
        &self,
        yt: &[u64],
        v: &[u8],
        outs: &mut [&mut [u64]],
        q_multiples: &[Vec<u64>],
        done: &[bool],
    ) {
        for (j, out) in outs.iter_mut().enumerate().filter(|(j, _)| !done[*j]) {
            let t = &self.dst[j];
            let table: &[u64; S] = self.qhat_mod_dst[j * S..(j + 1) * S].try_into().expect("S weights per target");
            let qm = &q_multiples[j];
            for ((o, row), &k) in out.iter_mut().zip(yt.chunks_exact(S)).zip(v.iter()) {
                let row: &[u64; S] = row.try_into().expect("chunks of S");
                let mut acc = 0u128;
                for i in 0..S {
                    acc += row[i] as u128 * table[i] as u128;
                }
                *o = t.sub(t.reduce_u128(acc), qm[k as usize]);
            }
        }
    }

    /// One block of [`Self::convert_into`] on the narrow path: the scaled
    /// residues are kept as u32 rows, source-major, so every pass below runs
    /// across coefficients (vectorizable); targets whose sums fit 64 bits
    /// accumulate in u64, the others in u128.
    #[allow(clippy::too_many_arguments)]
    fn convert_block_narrow(
        &self,
        n: usize,
        input: &[u64],
        factors: &[(u64, u64)],
        q_multiples: &[Vec<u64>],
        start: usize,
        ys: &mut [u32],
        f: &mut [f64],
        v: &mut [u8],
        acc: &mut [u64],
        mut outs: Vec<&mut [u64]>,
    ) {
        let block = f.len();
        // y_i = [x_i · qhat_inv_i]_{q_i}, one row per 32-bit word.
        let mut r = 0;
        for (i, (q, &(w, ws))) in self.src.iter().zip(factors).enumerate() {
            let x = &input[i * n + start..i * n + start + block];
            if q.value >> 32 == 0 {
                for (y, &xx) in ys[r * block..(r + 1) * block].iter_mut().zip(x) {
                    *y = q.mul_shoup(xx, w, ws) as u32;
                }
                r += 1;
            } else {
                let (lo, hi) = ys[r * block..(r + 2) * block].split_at_mut(block);
                for ((l, h), &xx) in lo.iter_mut().zip(hi.iter_mut()).zip(x) {
                    let y = q.mul_shoup(xx, w, ws);
                    (*l, *h) = (y as u32, (y >> 32) as u32);
                }
                r += 2;
            }
        }
        // v = round(Σ y_i / q_i): how many times Q to take off.
        f.fill(0.0);
        for (row, &inv) in ys.chunks_exact(block).zip(&self.row_inv) {
            for (fc, &y) in f.iter_mut().zip(row) {
                *fc += y as f64 * inv;
            }
        }
        for (k, &fc) in v.iter_mut().zip(f.iter()) {
            *k = fc.round() as u8;
        }
        let nr = self.rows.len();
        for (j, out) in outs.iter_mut().enumerate() {
            let t = &self.dst[j];
            let table = &self.row_weights[j * nr..(j + 1) * nr];
            let qm = &q_multiples[j];
            if let Some((wr, minus_q)) = &self.word_reduce[j] {
                multiply_accumulate(acc, ys, table);
                reduce_words(wr, *minus_q, acc, v, out);
            } else if self.narrow_dst[j] {
                multiply_accumulate(acc, ys, table);
                for ((o, &a), &k) in out.iter_mut().zip(acc.iter()).zip(v.iter()) {
                    *o = t.sub(t.reduce(a), qm[k as usize]);
                }
            } else {
                for (c, (o, &k)) in out.iter_mut().zip(v.iter()).enumerate() {
                    let sum: u128 = ys.chunks_exact(block).zip(table).map(|(row, &w)| row[c] as u128 * w as u128).sum();
                    *o = t.sub(t.reduce_u128(sum), qm[k as usize]);
                }
            }
        }
    }
}

/// Where one block of a conversion reads its input.
#[derive(Clone, Copy)]
struct BlockInput<'a> {
    conv: &'a BasisConverter,
    input: &'a [u64],
    /// `(Q/q_i)^{-1}` (times `N^{-1}` for unnormalized input) and Shoup companions.
    factors: &'a [(u64, u64)],
    /// The same factors as IFMA row scalings, where every source has one.
    scales: Option<&'a [ScaledSum]>,
    start: usize,
    n: usize,
    wide_sources: &'a [usize],
}

/// One block's scaled residues in the layout of the IFMA kernel:
/// source-major rows of their low 52 bits, of the high parts of the wide
/// sources, and `v`, in 64 bits.
struct IfmaRows {
    lo: Vec<u64>,
    hi: Vec<u64>,
    v: Vec<u64>,
    f: Vec<f64>,
    f_hi: Vec<u64>,
}

impl IfmaRows {
    fn new(block: usize, sources: usize, wide: usize) -> Self {
        let (lo, hi) = (vec![0; block * sources], vec![0; block * wide]);
        Self { lo, hi, v: vec![0; block], f: vec![0.0; block], f_hi: vec![0; block] }
    }

    /// `y_i = [x_i · qhat_inv_i]_{q_i}` of the block at `start` and `v =
    /// round(Σ y_i / q_i)`; also coefficient-major into `yt` when given.
    /// Compiled for AVX-512 (the CPU has it wherever these rows exist): the
    /// u64 → f64 conversions and the rounding are then single instructions.
    fn fill(&mut self, block: &BlockInput<'_>, yt: Option<&mut [u64]>) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: IFMA rows are only made where `ifma::available()` held.
        unsafe {
            self.fill_avx512(block, yt)
        }
        #[cfg(not(target_arch = "x86_64"))]
        self.fill_portable(block, yt)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512dq")]
    unsafe fn fill_avx512(&mut self, block: &BlockInput<'_>, yt: Option<&mut [u64]>) {
        self.fill_portable(block, yt)
    }

    #[inline(always)]
    fn fill_portable(&mut self, b: &BlockInput<'_>, mut yt: Option<&mut [u64]>) {
        let BlockInput { conv, input, factors, scales, start, n, wide_sources } = *b;
        const MASK: u64 = (1 << 52) - 1;
        let (block, s) = (self.v.len(), conv.src.len());
        self.f.fill(0.0);
        let mut k = 0;
        for (i, ((q, &(w, ws)), &inv)) in conv.src.iter().zip(factors).zip(&conv.inv_src).enumerate() {
            let x = &input[i * n + start..i * n + start + block];
            let lo = &mut self.lo[i * block..(i + 1) * block];
            // The wide sources' high parts; a narrow source writes into a
            // scratch row that nothing reads.
            let is_wide = wide_sources.get(k) == Some(&i);
            let hi: &mut [u64] = if is_wide { &mut self.hi[k * block..(k + 1) * block] } else { &mut self.f_hi };
            // y_i first (eight at a time by IFMA where the scalings exist),
            // then split and summed for v in one vectorizable pass.
            if scales.and_then(|sc| sc[i].apply(lo, &[x])).is_none() {
                lo.iter_mut().zip(x).for_each(|(l, &xx)| *l = q.mul_shoup(xx, w, ws));
            }
            if let Some(yt) = yt.as_deref_mut() {
                lo.iter().enumerate().for_each(|(c, &y)| yt[c * s + i] = y);
            }
            for ((l, f), h) in lo.iter_mut().zip(self.f.iter_mut()).zip(hi.iter_mut()) {
                let y = *l;
                *l = y & MASK;
                *h = y >> 52;
                *f += y as f64 * inv;
            }
            k += usize::from(is_wide);
        }
        for (o, &f) in self.v.iter_mut().zip(&self.f) {
            *o = f.round() as u64;
        }
    }
}

/// `acc[c] = Σ_i rows[i][c]·w_i` for u32 rows and weights below 2^32 whose
/// sums the caller has bounded below 2^64, compiled for AVX2 where the CPU
/// has it (four 32×32→64-bit products per instruction).
fn multiply_accumulate(acc: &mut [u64], rows: &[u32], w: &[u64]) {
    with_avx2(|| multiply_accumulate_portable(acc, rows, w))
}

#[inline(always)]
fn multiply_accumulate_portable(acc: &mut [u64], rows: &[u32], w: &[u64]) {
    acc.fill(0);
    for (row, &w) in rows.chunks_exact(acc.len()).zip(w) {
        let w = w as u32 as u64;
        for (a, &y) in acc.iter_mut().zip(row) {
            *a = a.wrapping_add(y as u64 * w);
        }
    }
}

/// `out[c] = (acc[c] − v[c]·Q) mod t` by a [`WordReduce`], with `−Q mod t`
/// added `v[c]` times first; AVX2 where the CPU has it.
fn reduce_words(wr: &WordReduce, minus_q: u64, acc: &[u64], v: &[u8], out: &mut [u64]) {
    with_avx2(|| reduce_words_portable(wr, minus_q, acc, v, out))
}

#[inline(always)]
fn reduce_words_portable(wr: &WordReduce, minus_q: u64, acc: &[u64], v: &[u8], out: &mut [u64]) {
    for ((o, &a), &k) in out.iter_mut().zip(acc).zip(v) {
        // The caller's bound leaves room for v·(−Q mod t) < s·t.
        *o = wr.reduce(a.wrapping_add(k as u64 * minus_q));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The IFMA kernel (where the CPU has it), or else the double-precision
    /// one for targets below 2^44, gives the scalar 128-bit path's outputs
    /// bit for bit, for sources of 40 and 60 bits (with
    /// and without high parts), 1 to 12 of them, targets of 36 to 61 bits
    /// (both paths in one conversion), residues at 0, 1 and q − 1 and
    /// random ones, normalized and not. On a CPU with neither IFMA nor
    /// AVX2 and FMA it checks the scalar path against itself.
    #[test]
    fn convert_matches_the_scalar_path() {
        use super::super::primes::{ntt_primes, PrimeSide};
        let n = 512;
        let mut seed = 0x853c_49e6_748f_ea9bu64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let p60 = ntt_primes(60, 14, 2 * n as u64, PrimeSide::Below, &[]).unwrap();
        let p40 = ntt_primes(40, 14, 2 * n as u64, PrimeSide::Below, &[]).unwrap();
        let p44 = ntt_primes(44, 2, 2 * n as u64, PrimeSide::Below, &[]).unwrap();
        let p36 = ntt_primes(36, 2, 2 * n as u64, PrimeSide::Below, &[]).unwrap();
        // The widest admitted: 32 sources and targets just below 2^61, and
        // targets just above 2^45 (the two IFMA paths' edges).
        let p61 = ntt_primes(61, 34, 2 * n as u64, PrimeSide::Below, &[]).unwrap();
        let p45 = ntt_primes(45, 2, 2 * n as u64, PrimeSide::Around, &[]).unwrap();
        for (src, dst) in [
            (p61[..32].to_vec(), [&p61[32..], &p45[..], &p40[..2]].concat()),
            (vec![p60[0]], vec![p40[0], p60[1]]),
            (p40[..5].to_vec(), [&p40[5..12], &p60[..3]].concat()),
            (p60[..5].to_vec(), [&p40[..9], &p60[5..8], &p44[..]].concat()),
            ([&p60[..3], &p40[..4]].concat(), [&p40[4..10], &p60[3..9], &p36[..]].concat()),
            (p40[..12].to_vec(), [&p60[..4], &p44[..]].concat()),
        ] {
            let m = |v: &[u64]| v.iter().map(|&q| Modulus::new(q)).collect::<Vec<_>>();
            let fast = BasisConverter::new(&m(&src), &m(&dst), n);
            let scalar = BasisConverter { ifma: None, f64: None, ..fast.clone() };
            assert_eq!(fast.ifma.is_some(), ifma::available(), "the tables follow the CPU");
            // Every case has a target below 2^44: without IFMA, the f64 path runs.
            let f64_path = !ifma::available() && super::super::conv_f64::available();
            assert_eq!(fast.f64.is_some(), f64_path, "the f64 tables follow the CPU");
            let input: Vec<u64> = (0..src.len() * n)
                .map(|k| {
                    let q = src[k / n];
                    match k % n {
                        0 => 0,
                        1 => 1,
                        2..64 => q - 1 - (k % n) as u64 % 2,
                        _ => next() % q,
                    }
                })
                .collect();
            for unnormalized in [false, true] {
                let (mut a, mut b) = (vec![0u64; dst.len() * n], vec![0u64; dst.len() * n]);
                fast.convert_into(n, &input, unnormalized, a.chunks_mut(n).collect());
                scalar.convert_into(n, &input, unnormalized, b.chunks_mut(n).collect());
                assert_eq!(a, b, "{} → {} primes", src.len(), dst.len());
                assert!(a.iter().enumerate().all(|(k, &x)| x < dst[k / n]), "outputs reduced");
                if let (false, [q]) = (unnormalized, &src[..]) {
                    // One source: the output is the centred residue itself.
                    for (k, &got) in a.iter().enumerate() {
                        let (t, x) = (dst[k / n] as i128, input[k % n] as i128);
                        let centred = if 2 * x > *q as i128 { x - *q as i128 } else { x };
                        assert_eq!(got as i128, centred.rem_euclid(t), "{x} mod {q} → mod {t}");
                    }
                }
            }
        }
    }

    /// The run-time-dispatched kernel (AVX2 where the CPU has it) and the
    /// portable one give the same sums as u128 arithmetic, near the largest
    /// inputs the callers admit (a full 32-bit row, as q_0's low words,
    /// and nine 30-bit rows, times 30-bit weights).
    #[test]
    fn multiply_accumulate_kernels_agree_with_u128_sums() {
        let (block, rows) = (256, 10);
        let mut s = 0x2545_f491_4f6c_dd1du64;
        let mut next = |bits: u32| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s >> (64 - bits)
        };
        let mut ys: Vec<u32> = (0..block * rows).map(|_| next(30) as u32).collect();
        ys[..block].fill(u32::MAX);
        let w: Vec<u64> = (0..rows).map(|_| (1 << 30) - 1 - next(8)).collect();
        let want: Vec<u128> =
            (0..block).map(|c| (0..rows).map(|r| ys[r * block + c] as u128 * w[r] as u128).sum()).collect();
        assert!(want.iter().all(|&x| x < 1 << 64), "the test stays inside the admitted bound");
        let (mut a, mut b) = (vec![7u64; block], vec![7u64; block]);
        multiply_accumulate(&mut a, &ys, &w);
        multiply_accumulate_portable(&mut b, &ys, &w);
        for ((&x, &y), &z) in a.iter().zip(&b).zip(&want) {
            assert_eq!((x as u128, y as u128), (z, z));
        }
    }

    /// The word-wise reduction equals `(a − v·Q) mod t` for sums up to the
    /// largest the callers admit, both kernels.
    #[test]
    fn word_reduction_matches_u128_remainder() {
        for t in [65537u64, (1 << 30) + 3 * (1 << 17) + 1, (1 << 31) - 1] {
            let m = Modulus::new(t);
            let q_mod = 123_456_789 % t;
            let wr = WordReduce::new(t).unwrap();
            let minus_q = m.neg(q_mod);
            let top = u64::MAX - 20 * t;
            let mut acc: Vec<u64> = vec![0, 1, t - 1, t, 2 * t - 1, 4 * t, (1 << 32) - 1, 1 << 32, top, top - 1];
            let mut s = 0x9e37_79b9_7f4a_7c15u64;
            while acc.len() < 256 {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                acc.push(s % top);
            }
            let v: Vec<u8> = (0..256).map(|i| (i % 21) as u8).collect();
            let (mut a, mut b) = (vec![0u64; 256], vec![0u64; 256]);
            reduce_words(&wr, minus_q, &acc, &v, &mut a);
            reduce_words_portable(&wr, minus_q, &acc, &v, &mut b);
            for ((&x, &k), (&ga, &gb)) in acc.iter().zip(&v).zip(a.iter().zip(&b)) {
                let want = ((x as u128 + t as u128 * 32 - (k as u128 * q_mod as u128)) % t as u128) as u64;
                assert_eq!((ga, gb), (want, want), "{x} − {k}·Q mod {t}");
            }
        }
    }
}
