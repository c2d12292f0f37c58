//! Hybrid key switching (Han–Ki): the digit decomposition, ModUp into
//! Q_l·P, the inner product with a switching key, and ModDown.
//!
//! Cost at level l with `d` digits of α primes and k special primes:
//! INTT (l+1) + per digit NTT (l+1+k−α) after a (centred, exact) basis
//! conversion α→(l+1+k−α); inner product 2·d products per residue; ModDown
//! per output INTT k + conversion k→(l+1) + NTT (l+1).

use crate::context::Context;
use crate::ring::ifma::{self, InnerReducer};
use crate::ring::modulus::WordReduce;
use crate::ring::sampling::UniformStream;
use crate::ring::{f64_arith, pool, RnsPoly};
use rayon::prelude::*;
use std::sync::Arc;

/// A key switching `s' → s`: for each digit j, `(b_j, a_j)` over Q_l·P in
/// NTT form with `b_j = −a_j·s + e_j + P·[digit j]·s'`. The `a_j` come from a
/// 32-byte seed, so only `b_j` and the seed are stored, on disk and in
/// memory: the inner product regenerates each `a_j` limb next to the
/// product that reads it ([`UniformStream`]), which halves a key's memory
/// for about an eighth of a key switch's time (+11–13 % measured; generating
/// 2^16 residues costs ≈ 0.3 ms, reading them from DRAM ≈ 0.1 ms).
///
/// A key covers the levels `0..=l` (its [`level`](Self::level)): a key used
/// only low in the chain (SlotsToCoeffs, computation after a bootstrap)
/// has fewer limbs and digits. Its residues are exactly those of the full
/// key with the same seed restricted to Q_l·P (`a` is expanded per global
/// prime index), and keys cut to different levels from one seed agree where they overlap.
///
/// A caller about to use one key many times in a row (a Horner chain of
/// giant steps, the relinearizations of a polynomial) takes an
/// [`expanded`](Self::expanded) copy: it shares `b` and holds the `a_j`
/// in memory for as long as the copy lives.
#[derive(Clone, Debug)]
pub struct SwitchingKey {
    pub(crate) b: Arc<Vec<RnsPoly>>,
    pub(crate) seed: [u8; 32],
    /// The `a_j` over Q_l·P (l = the level they were expanded to), when
    /// expanded; never serialized.
    pub(crate) a: Option<Arc<Vec<RnsPoly>>>,
}

/// Keys are equal when their material is: an expanded copy equals its key.
impl PartialEq for SwitchingKey {
    fn eq(&self, other: &Self) -> bool {
        self.seed == other.seed && self.b == other.b
    }
}

/// A polynomial decomposed into digits and raised to Q_l·P (NTT form),
/// ready for one or many inner products (hoisting).
pub struct Decomposed {
    pub(crate) level: usize,
    pub(crate) digits: Vec<RnsPoly>,
}

impl SwitchingKey {
    /// A key from its `b_j` and the seed of its `a_j`.
    pub(crate) fn new(b: Vec<RnsPoly>, seed: [u8; 32]) -> Self {
        Self { b: Arc::new(b), seed, a: None }
    }

    /// This key with its `a_j` generated once and held in memory up to
    /// `level` (at most the key's): each use at or below that level then
    /// reads them instead of regenerating them (≈ 0.3 ms per limb and
    /// digit, a sixth of a top-level key switch). Costs one generation and
    /// the memory of `b` again while the copy lives; `b` is shared.
    pub fn expanded(&self, ctx: &Context, level: usize) -> SwitchingKey {
        let level = level.min(self.level());
        if self.a.as_ref().is_some_and(|a| a[0].num_q > level) {
            return self.clone();
        }
        let (n, num_q, k) = (ctx.n(), level + 1, ctx.num_p());
        let a = (0..digits_at(ctx, level))
            .map(|j| {
                let mut aj = RnsPoly::uninit(n, num_q, k, true);
                aj.data.par_chunks_mut(n).enumerate().for_each(|(i, limb)| {
                    Self::a_stream(ctx, &self.seed, j, ctx.mod_index(num_q, i)).fill(limb);
                });
                aj
            })
            .collect();
        SwitchingKey { b: Arc::clone(&self.b), seed: self.seed, a: Some(Arc::new(a)) }
    }

    /// The stream of `a_j` on the prime of global index `global` (its
    /// position in q_0..q_L, p_0..p_{k−1}). Keyed by the digit and the
    /// prime's index in the whole chain, so a lower-level key is the
    /// restriction of the full one with the same seed.
    pub(crate) fn a_stream(ctx: &Context, seed: &[u8; 32], j: usize, global: usize) -> UniformStream {
        UniformStream::new(seed, ((j as u64) << 32) | global as u64, &ctx.moduli()[global])
    }

    /// Number of digits (those present at the key's level).
    pub fn dnum(&self) -> usize {
        self.b.len()
    }

    /// The highest level this key can switch at.
    pub fn level(&self) -> usize {
        self.b[0].num_q - 1
    }

    /// Bytes of key material held in memory (the `b_j`, and the `a_j` of
    /// an expanded copy; otherwise `a` is a seed).
    pub fn memory_bytes(&self) -> usize {
        self.b.iter().chain(self.a.iter().flat_map(|a| a.iter())).map(|p| p.data.len() * 8).sum()
    }

    /// `Ok` if the key can switch a ciphertext at `level`.
    pub(crate) fn check_level(&self, level: usize, what: impl FnOnce() -> String) -> crate::Result<()> {
        if level > self.level() {
            return Err(crate::CkksError::KeyLevel { what: what(), key_level: self.level(), level });
        }
        Ok(())
    }
}

/// Digits present at `level` (the top one possibly cut).
pub(crate) fn digits_at(ctx: &Context, level: usize) -> usize {
    ctx.level_tables(level).digits.len()
}

impl Decomposed {
    /// The raised digits (NTT form over Q_l·P), digit j first. Test hook for
    /// the big-integer ModUp oracle in `tests/ring_oracles.rs`; not part of
    /// the supported API.
    #[doc(hidden)]
    pub fn digits(&self) -> &[RnsPoly] {
        &self.digits
    }
}

/// Decomposes `d` (NTT form over Q_l) into digits raised to Q_l·P.
pub fn decompose(ctx: &Context, d: &RnsPoly) -> Decomposed {
    let n = ctx.n();
    let l = d.num_q - 1;
    let k = ctx.num_p();
    let tables = ctx.level_tables(l);
    // Coefficients (times N: the 1/N is folded into the conversion).
    let mut coeff = d.clone();
    coeff.data.par_chunks_mut(n).enumerate().for_each(|(i, limb)| ctx.limb_ntt(l + 1, i).inverse_unnormalized(limb));
    let digits = tables
        .digits
        .iter()
        .map(|dt| {
            let mut ext = RnsPoly::uninit(n, l + 1, k, true);
            ext.data[dt.start * n..dt.end * n].copy_from_slice(&d.data[dt.start * n..dt.end * n]);
            let outs: Vec<&mut [u64]> = ext
                .data
                .chunks_mut(n)
                .enumerate()
                .filter(|(i, _)| *i < dt.start || *i >= dt.end)
                .map(|(_, c)| c)
                .collect();
            dt.conv.convert_into(n, &coeff.data[dt.start * n..dt.end * n], true, outs);
            ext.data.par_chunks_mut(n).enumerate().filter(|(i, _)| *i < dt.start || *i >= dt.end).for_each(
                |(i, limb)| {
                    ctx.limb_ntt(l + 1, i).forward(limb);
                },
            );
            ext
        })
        .collect();
    Decomposed { level: l, digits }
}

/// `Σ_j digit_j ⊙ key_j` over Q_l·P, optionally reading every digit through
/// an automorphism permutation (hoisted rotations). Lazy reduction: one
/// modular reduction per output residue. The key's `a_j` are generated from
/// its seed a block at a time, next to the products that read them.
pub fn inner_product(ctx: &Context, dec: &Decomposed, key: &SwitchingKey, perm: Option<&[u32]>) -> [RnsPoly; 2] {
    let n = ctx.n();
    let l = dec.level;
    let k = ctx.num_p();
    let key_q = key.level() + 1;
    debug_assert!(l < key_q, "callers check the key's level");
    let mut out0 = RnsPoly::uninit(n, l + 1, k, true);
    let mut out1 = RnsPoly::uninit(n, l + 1, k, true);
    let ifma_available = ifma::available() && n.is_multiple_of(8);
    out0.data.par_chunks_mut(n).zip(out1.data.par_chunks_mut(n)).enumerate().for_each(|(t, (o0, o1))| {
        let m = ctx.limb_modulus(l + 1, t);
        let kt = if t <= l { t } else { key_q + (t - l - 1) };
        let a = match key.a.as_deref().filter(|a| a[0].num_q > l) {
            // An expanded key: its limb of the same prime.
            Some(a) => {
                let at = if t <= l { t } else { a[0].num_q + (t - l - 1) };
                AParts::Memory(a.iter().map(|aj| aj.limb(at)).collect())
            }
            None => {
                let global = ctx.mod_index(l + 1, t);
                AParts::Stream(
                    (0..dec.digits.len()).map(|j| SwitchingKey::a_stream(ctx, &key.seed, j, global)).collect(),
                )
            }
        };
        let mut limb = LimbProduct { dec, key, a, perm, t, kt, m: *m, word: WordReduce::new(m.value) };
        // d products of residues < q fit in 64 bits when d·q² < 2^64 (four
        // digits of 31-bit primes): then the sums vectorize. Below 2^61
        // they do with AVX-512 IFMA, where the CPU has it.
        if (dec.digits.len() as u128) * (m.value as u128).pow(2) < 1 << 64 {
            accumulate_narrow(&mut limb, o0, o1);
        } else if let Some(r) = InnerReducer::new(m).filter(|r| ifma_available && dec.digits.len() <= r.max_digits()) {
            limb.accumulate_ifma(&r, o0, o1);
        } else if f64_arith::supports(m.value) && dec.digits.len() <= f64_arith::MAX_TERMS && n.is_multiple_of(4) {
            limb.accumulate_f64(o0, o1);
        } else {
            limb.accumulate::<u128>(o0, o1);
        }
    });
    [out0, out1]
}

/// The 64-bit accumulation, compiled for AVX2 as well and chosen at run
/// time (four 32×32→64-bit products per instruction; the default x86-64
/// target has SSE2's two). An explicit `target_feature` function rather
/// than `with_avx2`: the accumulation is too large for LLVM to inline a
/// closure of it into the AVX2 wrapper, and it then runs as SSE2 code.
fn accumulate_narrow(limb: &mut LimbProduct<'_>, o0: &mut [u64], o1: &mut [u64]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { accumulate_narrow_avx2(limb, o0, o1) };
    }
    limb.accumulate::<u64>(o0, o1)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn accumulate_narrow_avx2(limb: &mut LimbProduct<'_>, o0: &mut [u64], o1: &mut [u64]) {
    limb.accumulate::<u64>(o0, o1)
}

/// One output limb of [`inner_product`].
struct LimbProduct<'a> {
    dec: &'a Decomposed,
    key: &'a SwitchingKey,
    /// This limb of the `a_j`, one per digit.
    a: AParts<'a>,
    perm: Option<&'a [u32]>,
    /// Limb index in Q_l·P and in the key's Q·P.
    t: usize,
    kt: usize,
    m: crate::ring::Modulus,
    /// The vectorizable reduction, for primes below 2^31.
    word: Option<WordReduce>,
}

/// Where one limb of the `a_j` comes from.
enum AParts<'a> {
    /// Generated from the seed, a block at a time.
    Stream(Vec<UniformStream>),
    /// Read from an expanded key.
    Memory(Vec<&'a [u64]>),
}

impl AParts<'_> {
    /// Digit j's `a` over `range`: generated into `buf` when streamed.
    fn block<'b>(&'b mut self, j: usize, range: std::ops::Range<usize>, buf: &'b mut [u64]) -> &'b [u64] {
        match self {
            AParts::Stream(streams) => {
                streams[j].fill(buf);
                buf
            }
            AParts::Memory(limbs) => &limbs[j][range],
        }
    }
}

/// A lazy accumulator of residue products: 128 bits in general, 64 bits
/// when the caller has checked that the sum cannot overflow.
trait Accumulator: Copy + Default + std::ops::AddAssign {
    fn product(a: u64, b: u64) -> Self;
    /// `out[c] = acc[c] mod m` (`word`: the same modulus, when below 2^31).
    fn reduce_into(acc: &[Self], out: &mut [u64], m: &crate::ring::Modulus, word: Option<&WordReduce>);
}

impl Accumulator for u128 {
    #[inline(always)]
    fn product(a: u64, b: u64) -> Self {
        a as u128 * b as u128
    }
    #[inline(always)]
    fn reduce_into(acc: &[Self], out: &mut [u64], m: &crate::ring::Modulus, _: Option<&WordReduce>) {
        for (o, &a) in out.iter_mut().zip(acc) {
            *o = m.reduce_u128(a);
        }
    }
}

impl Accumulator for u64 {
    /// Residues are < 2^32 on this path, so the truncating casts are exact
    /// and let the compiler use the 32×32→64-bit vector multiply.
    #[inline(always)]
    fn product(a: u64, b: u64) -> Self {
        (a as u32 as u64) * (b as u32 as u64)
    }
    #[inline(always)]
    fn reduce_into(acc: &[Self], out: &mut [u64], m: &crate::ring::Modulus, word: Option<&WordReduce>) {
        match word {
            Some(w) => out.iter_mut().zip(acc).for_each(|(o, &a)| *o = w.reduce(a)),
            None => out.iter_mut().zip(acc).for_each(|(o, &a)| *o = m.reduce(a)),
        }
    }
}

impl LimbProduct<'_> {
    /// The products by the AVX-512 IFMA kernel (prime below 2^61): the
    /// whole limb at once from an expanded key, a block of coefficients at
    /// a time when the `a_j` are streamed (generated per block).
    fn accumulate_ifma(&mut self, reducer: &InnerReducer, o0: &mut [u64], o1: &mut [u64]) {
        const BLOCK: usize = 256;
        let n = o0.len();
        let block = if matches!(self.a, AParts::Memory(_)) { n } else { BLOCK.min(n) };
        let digits = &self.dec.digits;
        let d: Vec<&[u64]> = digits.iter().map(|dj| dj.limb(self.t)).collect();
        let streamed = if matches!(self.a, AParts::Stream(_)) { digits.len() } else { 0 };
        let mut a_blocks = vec![[0u64; BLOCK]; streamed];
        for start in (0..n).step_by(block) {
            let range = start..start + block;
            let b: Vec<&[u64]> =
                self.key.b.iter().take(digits.len()).map(|bj| &bj.limb(self.kt)[range.clone()]).collect();
            let a: Vec<&[u64]> = match &mut self.a {
                AParts::Stream(streams) => {
                    for (stream, a) in streams.iter_mut().zip(a_blocks.iter_mut()) {
                        stream.fill(&mut a[..block]);
                    }
                    a_blocks.iter().map(|a| &a[..block]).collect()
                }
                AParts::Memory(limbs) => limbs.iter().take(digits.len()).map(|a| &a[range.clone()]).collect(),
            };
            let perm = self.perm.map(|p| &p[range.clone()]);
            let (o0, o1) = (&mut o0[range.clone()], &mut o1[range]);
            let block = ifma::InnerBlock { d: &d, start, perm, b: &b, a: &a };
            ifma::inner_product(reducer, &block, o0, o1).expect("the caller checked the CPU");
        }
    }

    /// The products in exact `f64` sums (a prime between 2^31 and 2^44 on
    /// an AVX2 CPU without IFMA; see [`f64_arith`]), a block at a time.
    fn accumulate_f64(&mut self, o0: &mut [u64], o1: &mut [u64]) {
        const BLOCK: usize = 256;
        let (n, q) = (o0.len(), self.m.value);
        let block = BLOCK.min(n);
        let (mut acc0, mut acc1) = ([0f64; BLOCK], [0f64; BLOCK]);
        let (mut a_block, mut d_block) = ([0u64; BLOCK], [0u64; BLOCK]);
        let (acc0, acc1) = (&mut acc0[..block], &mut acc1[..block]);
        let (a_block, d_block) = (&mut a_block[..block], &mut d_block[..block]);
        for start in (0..n).step_by(block) {
            let range = start..start + block;
            acc0.fill(0.0);
            acc1.fill(0.0);
            for (j, dj) in self.dec.digits.iter().enumerate() {
                let d = dj.limb(self.t);
                let d: &[u64] = match self.perm {
                    None => &d[range.clone()],
                    Some(p) => {
                        d_block.iter_mut().zip(&p[range.clone()]).for_each(|(x, &pi)| *x = d[pi as usize]);
                        d_block
                    }
                };
                let b = &self.key.b[j].limb(self.kt)[range.clone()];
                let a = self.a.block(j, range.clone(), a_block);
                f64_arith::mul_acc(q, acc0, d, b);
                f64_arith::mul_acc(q, acc1, d, a);
            }
            f64_arith::finish(q, acc0, false, &mut o0[range.clone()]);
            f64_arith::finish(q, acc1, false, &mut o1[range]);
        }
    }

    #[inline(always)]
    fn accumulate<A: Accumulator>(&mut self, o0: &mut [u64], o1: &mut [u64]) {
        const BLOCK: usize = 256;
        let n = o0.len();
        let block = BLOCK.min(n);
        let mut acc0 = [A::default(); BLOCK];
        let mut acc1 = [A::default(); BLOCK];
        let mut a_block = [0u64; BLOCK];
        let (acc0, acc1, a_block) = (&mut acc0[..block], &mut acc1[..block], &mut a_block[..block]);
        for start in (0..n).step_by(block) {
            let range = start..start + block;
            acc0.fill(A::default());
            acc1.fill(A::default());
            for (j, dj) in self.dec.digits.iter().enumerate() {
                let d = dj.limb(self.t);
                let b = &self.key.b[j].limb(self.kt)[range.clone()];
                let a = self.a.block(j, range.clone(), a_block);
                match self.perm {
                    None => {
                        let d = &d[range.clone()];
                        for ((((x0, x1), &dv), &bv), &av) in acc0.iter_mut().zip(acc1.iter_mut()).zip(d).zip(b).zip(a) {
                            *x0 += A::product(dv, bv);
                            *x1 += A::product(dv, av);
                        }
                    }
                    Some(p) => {
                        let p = &p[range.clone()];
                        for ((((x0, x1), &pi), &bv), &av) in acc0.iter_mut().zip(acc1.iter_mut()).zip(p).zip(b).zip(a) {
                            let dv = d[pi as usize];
                            *x0 += A::product(dv, bv);
                            *x1 += A::product(dv, av);
                        }
                    }
                }
            }
            A::reduce_into(acc0, &mut o0[range.clone()], &self.m, self.word.as_ref());
            A::reduce_into(acc1, &mut o1[range], &self.m, self.word.as_ref());
        }
    }
}

/// ModDown: `x ∈ Q_l·P` (NTT) ↦ `round(x / P) ∈ Q_l` (NTT).
pub fn mod_down(ctx: &Context, x: &RnsPoly) -> RnsPoly {
    let l = x.num_q - 1;
    let tables = ctx.level_tables(l);
    let src: Vec<usize> = (l + 1..l + 1 + x.num_p).collect();
    divide_and_round(ctx, x, &src, &tables.mod_down, l + 1, &tables.p_inv)
}

/// ModDown fused with a rescale: `x ∈ Q_l·P` (NTT) ↦ `round(x / (P·q_l))`
/// over Q_{l−1}. One conversion and l NTTs instead of two rounds (saves
/// about l+1 NTTs per polynomial in `mul_relin_rescale`).
pub fn mod_down_rescale(ctx: &Context, x: &RnsPoly) -> RnsPoly {
    let l = x.num_q - 1;
    let tables = ctx.level_tables(l);
    let conv = tables.mod_down_rescale.as_ref().expect("caller checks level ≥ 1");
    let src: Vec<usize> = std::iter::once(l).chain(l + 1..l + 1 + x.num_p).collect();
    divide_and_round(ctx, x, &src, conv, l, &tables.pq_inv)
}

/// `round(x / D)` over the first `keep` Q-limbs, where D is the product of
/// the limbs `src` of x (NTT form in and out): exact centred conversion of
/// `[x]_D` to the kept primes, subtraction, multiplication by `D^{-1}`.
fn divide_and_round(
    ctx: &Context,
    x: &RnsPoly,
    src: &[usize],
    conv: &crate::ring::basis::BasisConverter,
    keep: usize,
    d_inv: &[(u64, u64)],
) -> RnsPoly {
    let n = ctx.n();
    let num_q = x.num_q;
    let mut part = pool::take(src.len() * n);
    part.par_chunks_mut(n).zip(src.par_iter()).for_each(|(limb, &i)| {
        limb.copy_from_slice(x.limb(i));
        ctx.limb_ntt(num_q, i).inverse_unnormalized(limb);
    });
    let mut out = RnsPoly::uninit(n, keep, 0, true);
    let outs: Vec<&mut [u64]> = out.data.chunks_mut(n).collect();
    conv.convert_into(n, &part, true, outs);
    pool::give(part);
    out.data.par_chunks_mut(n).enumerate().for_each(|(i, o)| {
        let m = ctx.moduli()[i];
        ctx.limb_ntt(keep, i).forward(o);
        let (w, ws) = d_inv[i];
        // (x − o)·w as o·(−w) + x·w: one pass of the IFMA kernel.
        if ifma::scaled_sum(&m, o, Some(m.neg(w)), &[x.limb(i)], &[w]).is_some() {
            return;
        }
        for (oo, &xx) in o.iter_mut().zip(x.limb(i)) {
            *oo = m.mul_shoup(m.sub(xx, *oo), w, ws);
        }
    });
    out
}

/// Full key switch of `d` (NTT over Q_l): returns `(u_0, u_1)` over Q_l with
/// `u_0 + u_1·s ≈ d·s'`.
pub fn key_switch(ctx: &Context, d: &RnsPoly, key: &SwitchingKey) -> [RnsPoly; 2] {
    let dec = decompose(ctx, d);
    let [x0, x1] = inner_product(ctx, &dec, key, None);
    [mod_down(ctx, &x0), mod_down(ctx, &x1)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::public::RelinKey;
    use crate::keys::secret::SecretKey;
    use crate::params::Parameters;

    /// The inner product equals its definition in u128 arithmetic on every
    /// limb — 40-bit and 60-bit primes (the AVX-512 IFMA kernels where the
    /// CPU has them, the scalar 128-bit path elsewhere) — with the key's `a_j` streamed from the
    /// seed and expanded, with and without an automorphism's permutation.
    #[test]
    fn inner_product_matches_u128_sums() {
        let ctx = Context::new(Parameters::insecure_for_tests(10, &[60, 40, 40, 40, 40, 60], 3, 40).unwrap()).unwrap();
        let n = ctx.n();
        let rlk = RelinKey::generate(&SecretKey::generate(&ctx));
        let top = ctx.max_level();
        // At the top, and below it where the key has more digits than the
        // decomposition (and its P limbs sit after its unused Q limbs).
        for l in [top, 1] {
            let mut d = RnsPoly::uninit(n, l + 1, 0, true);
            let mut s = 0x2545_f491_4f6c_dd1du64;
            for (i, limb) in d.data.chunks_mut(n).enumerate() {
                let q = ctx.moduli()[i].value;
                for (c, x) in limb.iter_mut().enumerate() {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    *x = if c < 2 { q - 1 - c as u64 } else { s % q };
                }
            }
            let dec = decompose(&ctx, &d);
            let perm: Vec<u32> = (0..n as u32).map(|c| (c * 5 + 3) % n as u32).collect();
            let seeded = rlk.switching_key();
            let expanded = seeded.expanded(&ctx, top);
            let a = expanded.a.as_ref().expect("expanded");
            for p in [None, Some(&perm[..])] {
                let want: Vec<[u64; 2]> = (0..dec.digits[0].data.len())
                    .map(|k| {
                        let (t, c) = (k / n, k % n);
                        let m = ctx.limb_modulus(l + 1, t).value as u128;
                        let src = p.map_or(c, |p| p[c] as usize);
                        // The key's limb of the same prime.
                        let kt = if t <= l { t } else { top + 1 + (t - l - 1) };
                        let (mut x0, mut x1) = (0u128, 0u128);
                        for (j, dj) in dec.digits.iter().enumerate() {
                            let dv = dj.limb(t)[src] as u128;
                            x0 += dv * seeded.b[j].limb(kt)[c] as u128 % m;
                            x1 += dv * a[j].limb(kt)[c] as u128 % m;
                        }
                        [(x0 % m) as u64, (x1 % m) as u64]
                    })
                    .collect();
                for key in [seeded, &expanded] {
                    let [o0, o1] = inner_product(&ctx, &dec, key, p);
                    let got: Vec<[u64; 2]> = o0.data.iter().zip(&o1.data).map(|(&x, &y)| [x, y]).collect();
                    assert_eq!(got, want, "level {l}, expanded {}, permuted {}", key.a.is_some(), p.is_some());
                }
            }
            assert!(l == top || dec.digits.len() < seeded.dnum(), "the low level has fewer digits");
        }
    }
}
