//! Parameter sets, named presets and the 128-bit security check.

use crate::error::{CkksError, Result};
use crate::ring::primes::{is_prime, ntt_primes, PrimeSide};
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// Largest log2(Q·P) giving 128-bit classical security for a uniform
/// ternary secret and σ = 3.19 (ours is 3.2): Table 5.2 of the HE security guidelines v2
/// (Bossuat, Cammarota, Cheon et al., "Security Guidelines for Implementing
/// Homomorphic Encryption", ePrint 2024/463; lattice-estimator, MATZOV
/// cost model, usvp / dual hybrid / primal hybrid / bdd, m = ∞).
///
/// It is the most conservative published table: for N ≤ 2^15 it is lower
/// than HomomorphicEncryption.org v1.1, SEAL and OpenFHE (868 against 881
/// at 2^15, 430 against 438 at 2^14, ...), and for 2^16 and 2^17 it is what
/// OpenFHE uses since its PR #807 (1747, 3523; SEAL has no entry there).
/// As OpenFHE and the guidelines' own checks do, it bounds log2 of Q·P,
/// special primes included. `tests/security_table.rs` checks every preset
/// against an independent copy of this table and of OpenFHE's.
pub fn max_log_qp_128(log_n: u32) -> Option<u32> {
    Some(match log_n {
        10 => 26,
        11 => 53,
        12 => 106,
        13 => 214,
        14 => 430,
        15 => 868,
        16 => 1747,
        17 => 3523,
        _ => return None,
    })
}

/// A published 128-bit estimate for RLWE with a sparse ternary secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SparseSecretBound {
    /// log2 of the ring degree.
    pub log_n: u32,
    /// Number of non-zero secret coefficients.
    pub hamming_weight: usize,
    /// Largest log2(Q·P) the estimate covers.
    pub max_log_qp: u32,
}

/// Sparse ternary secrets with a published estimate of at least 128 bits
/// (σ = 3.19–3.2). The HE security guidelines exclude sparse secrets, so
/// each entry rests on its own sources:
///
/// - N = 2^16, h = 32, log2(Q·P) ≤ 121 (bootstrapping's encapsulation key,
///   q_0·p_0 ≈ 2^120): Lattigo, which uses the same construction, "ensure\[s\]
///   over 128-bit security for an evaluation key of modulus 121 bits"
///   (`circuits/ckks/bootstrapping/parameters_literal.go`); the
///   lattice-estimator gives ≈ 2^172 for its best default attack at
///   log2 q = 121 (primal MITM hybrid; HomomorphicEncryption/SparseLWEkit,
///   `lattice_estimator_estimates.csv`, ID 9) and ≈ 2^164 for the
///   Cheon–Hhan–Hong–Son dual-MITM hybrid (164.6 at log2 q = 117 in
///   SparseLWEkit's former run, 163.8 at log2 q = 120 in our own run).
///   Estimates for sparse secrets are less mature (tools have differed by
///   ≈ 12 bits), so we claim 128 bits with a ≈ 35-bit margin, not 164.
///
/// Anything not listed is refused by [`Parameters::check_security`].
pub const SPARSE_SECRET_BOUNDS_128: &[SparseSecretBound] =
    &[SparseSecretBound { log_n: 16, hamming_weight: 32, max_log_qp: 121 }];

/// Largest log2(Q·P) with a published 128-bit estimate for a sparse ternary
/// secret of weight `hamming_weight` at N = 2^log_n
/// ([`SPARSE_SECRET_BOUNDS_128`]); `None` when there is none.
pub fn max_log_qp_128_sparse(log_n: u32, hamming_weight: usize) -> Option<u32> {
    SPARSE_SECRET_BOUNDS_128
        .iter()
        .find(|b| b.log_n == log_n && b.hamming_weight == hamming_weight)
        .map(|b| b.max_log_qp)
}

/// Rough classical security estimate for a uniform ternary secret: lattice
/// security grows about linearly in N/log(QP), so we scale the 128-bit
/// bound of [`max_log_qp_128`] (a conservative table, so the estimate is
/// too). Reliable near 128 bits only; used to report, never to accept
/// (acceptance uses the table itself).
pub fn estimated_security_bits(log_n: u32, log_qp: f64) -> f64 {
    match max_log_qp_128(log_n) {
        Some(max) => (128.0 * max as f64 / log_qp).min(256.0),
        None => 0.0,
    }
}

/// Distribution of the secret key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SecretDistribution {
    /// Uniform over {-1, 0, 1}^N (what the security table assumes).
    UniformTernary,
    /// Exactly `h` non-zero ternary coefficients (only inside bootstrapping,
    /// behind a dense-secret encapsulation).
    SparseTernary { hamming_weight: usize },
}

/// Named, secure parameter sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Preset {
    /// N=2^14, primes [60, 7×40] + special [60], dnum 8: small and quick.
    Light,
    /// N=2^15, primes [60, 14×40] + special 4×60, dnum 3: the chain used to
    /// compare with SEAL/OpenFHE at N=2^15.
    Medium,
    /// N=2^16, primes [60, 29×40] + special 7×60, dnum 3: the chain used to
    /// compare with SEAL/OpenFHE at N=2^16 (29 multiplications deep; 7
    /// encrypted training iterations without bootstrapping).
    Deep,
    /// N=2^15, primes [60, 9×40] + special 4×60, dnum 2: exactly the 9
    /// levels of 2 encrypted MLR iterations (4 each + the final W mix).
    Training2Iter,
    /// N=2^16, primes [60, 11×40 | 3×40 | 9×60 | 4×60] + special 5×60, dnum
    /// 5 in digits [60, 6×40] [7×40] [40, 4×60] [5×60] [4×60] (log2 QP ≈
    /// 1700 ≤ 1747): 11 computation levels, then SlotsToCoeffs,
    /// EvalMod (with the arcsine correction) and CoeffsToSlots for
    /// [`crate::circuits::Bootstrapper`] with the default
    /// [`crate::circuits::BootstrapConfig`] (11 levels left after a bootstrap).
    Bootstrappable,
}

impl Preset {
    /// Every preset, smallest first.
    pub const ALL: [Preset; 5] =
        [Preset::Light, Preset::Training2Iter, Preset::Medium, Preset::Deep, Preset::Bootstrappable];

    /// Name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Light => "light",
            Preset::Medium => "medium",
            Preset::Deep => "deep",
            Preset::Training2Iter => "training-2iter",
            Preset::Bootstrappable => "bootstrappable",
        }
    }

    /// Looks a preset up by its command-line name.
    pub fn from_name(name: &str) -> Result<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name).ok_or_else(|| CkksError::UnknownPreset(name.to_string()))
    }

    /// What the preset is for, in one line.
    pub fn purpose(self) -> &'static str {
        match self {
            Preset::Light => "small circuits (depth 7), fastest keys",
            Preset::Medium => "depth-14 circuits; N=2^15 comparison chain",
            Preset::Deep => "depth-29 circuits; N=2^16 comparison chain; 7 training iterations",
            Preset::Training2Iter => "encrypted MLR training, 2 iterations (the paper's workload)",
            Preset::Bootstrappable => "unbounded depth: bootstrapping, 11 levels between bootstraps",
        }
    }

    /// Builds the parameter set (checked for 128-bit security).
    pub fn params(self) -> Parameters {
        let (log_n, chain, dnum): (u32, Vec<u32>, usize) = match self {
            Preset::Light => (14, chain(60, 40, 7), 8),
            Preset::Medium => (15, chain(60, 40, 14), 3),
            Preset::Deep => (16, chain(60, 40, 29), 3),
            Preset::Training2Iter => (15, chain(60, 40, 9), 2),
            Preset::Bootstrappable => (16, bootstrappable_chain(), 5),
        };
        Parameters::new(self.name(), log_n, &chain, dnum, 40).expect("presets are valid and secure")
    }
}

impl Preset {
    /// Computation levels of the bootstrappable chain, next to the 16
    /// levels a bootstrap consumes: what training needs for two iterations
    /// (2 × 5) plus the unpacking level between bootstraps. (A 12th 40-bit
    /// level would still fit the 128-bit bound, log2 QP ≈ 1740 ≤ 1747.)
    pub const BOOTSTRAPPABLE_COMPUTATION_LEVELS: usize = 11;
}

/// The `bootstrappable` chain, bottom first: q_0 (60 bits: room for the
/// message ratio), the computation levels and SlotsToCoeffs' 3 levels (40),
/// then EvalMod's 9 and CoeffsToSlots' 4 levels (60). The shape belongs to
/// `circuits::BootstrapConfig::default()`; a test there checks that
/// `chain_bits` gives exactly this, so parameters do not depend on circuits.
fn bootstrappable_chain() -> Vec<u32> {
    const STC_LEVELS: usize = 3;
    const EVAL_MOD_AND_CTS_LEVELS: usize = 9 + 4;
    let mut bits = chain(60, 40, Preset::BOOTSTRAPPABLE_COMPUTATION_LEVELS + STC_LEVELS);
    bits.extend(std::iter::repeat_n(60, EVAL_MOD_AND_CTS_LEVELS));
    bits
}

fn chain(first: u32, rest: u32, count: usize) -> Vec<u32> {
    std::iter::once(first).chain(std::iter::repeat_n(rest, count)).collect()
}

/// A complete CKKS parameter set. The primes themselves (not only their
/// sizes) are part of it, so the fingerprint pins down the exact ring.
///
/// The fields are private and there is no `Deserialize`: a value exists
/// only after [`Parameters::new`], [`Parameters::insecure_for_tests`] or
/// [`Parameters::from_bytes`], all of which run [`Parameters::validate`], so
/// every limit the arithmetic relies on holds for every `Parameters`.
#[derive(Clone, Debug, PartialEq)]
pub struct Parameters {
    name: String,
    log_n: u32,
    q: Vec<u64>,
    p: Vec<u64>,
    dnum: usize,
    log_scale: u32,
    secret: SecretDistribution,
    insecure: bool,
}

/// Name prefix of [`Parameters::inference_chain`] sets.
const INFERENCE_PREFIX: &str = "inference-";

/// Most primes in one key-switching digit, and most special primes plus one:
/// the basis conversions accumulate that many 120-bit products in 128 bits.
pub const MAX_CONVERSION_TERMS: usize = 32;
/// Most ciphertext primes in a chain.
pub const MAX_Q_PRIMES: usize = 64;
/// Largest prime the modular arithmetic accepts (exclusive): 2^61.
pub const MAX_PRIME: u64 = 1 << 61;

impl Parameters {
    /// Parameters with primes of the given bit sizes (first entry: q_0, then
    /// one per level), `dnum` key-switching digits and special primes chosen
    /// to cover the largest digit. Fails unless the set is 128-bit secure.
    pub fn new(name: &str, log_n: u32, q_bits: &[u32], dnum: usize, log_scale: u32) -> Result<Self> {
        let p = Self::build(name, log_n, q_bits, dnum, log_scale, false)?;
        p.check_security()?;
        Ok(p)
    }

    /// Same as [`Parameters::new`] without the security check, for fast tests
    /// only. Such sets are marked insecure and refused by loaders unless the
    /// caller opts in.
    pub fn insecure_for_tests(log_n: u32, q_bits: &[u32], dnum: usize, log_scale: u32) -> Result<Self> {
        Self::build("insecure-test", log_n, q_bits, dnum, log_scale, true)
    }

    fn build(name: &str, log_n: u32, q_bits: &[u32], dnum: usize, log_scale: u32, insecure: bool) -> Result<Self> {
        if !(if insecure { 4..=17 } else { 12..=17 }).contains(&log_n) {
            return Err(CkksError::InvalidParameters(format!("log_n = {log_n} out of range")));
        }
        if q_bits.is_empty() || q_bits.len() > 64 {
            return Err(CkksError::InvalidParameters("need 1 to 64 ciphertext primes".into()));
        }
        if let Some(b) = q_bits.iter().find(|&&b| !(20..=60).contains(&b)) {
            return Err(CkksError::InvalidParameters(format!("prime size {b} bits outside 20..=60")));
        }
        if dnum == 0 || dnum > q_bits.len() {
            return Err(CkksError::InvalidParameters(format!("dnum = {dnum} must be in 1..={}", q_bits.len())));
        }
        if !(10..=60).contains(&log_scale) {
            return Err(CkksError::InvalidParameters(format!("log_scale = {log_scale} outside 10..=60")));
        }
        if q_bits.len() > dnum * MAX_CONVERSION_TERMS {
            return Err(CkksError::InvalidParameters(format!("more than {MAX_CONVERSION_TERMS} primes per digit")));
        }
        let two_n = 2u64 << log_n;
        // Ciphertext primes: q_0 below 2^b, the others around 2^b (keeps the
        // scale close to 2^b after each rescale).
        let mut q: Vec<u64> = Vec::with_capacity(q_bits.len());
        let mut i = 0;
        while i < q_bits.len() {
            let b = q_bits[i];
            let run = q_bits[i..].iter().take_while(|&&x| x == b).count();
            let side = if i == 0 { PrimeSide::Below } else { PrimeSide::Around };
            let count = if i == 0 { 1 } else { run };
            let got = ntt_primes(b, count, two_n, side, &q)
                .ok_or_else(|| CkksError::InvalidParameters(format!("not enough {b}-bit NTT primes")))?;
            q.extend(got);
            i += count;
        }
        let digits = balanced_digits(&q, dnum).expect("dnum and the prime count were checked above");
        let max_digit_bits = max_digit_bits(&q, &digits);
        // P within 2 bits of the largest digit: the ModUp error then adds at
        // most 2 bits to a key-switching noise that is ~2^30 below Δ anyway.
        let p_bits = special_prime_bits(q_bits);
        let k = ((max_digit_bits - 2.0) / p_bits as f64).ceil().max(1.0) as usize;
        let p = ntt_primes(p_bits, k, two_n, PrimeSide::Below, &q)
            .ok_or_else(|| CkksError::InvalidParameters("not enough special primes".into()))?;
        let params = Self {
            name: name.to_string(),
            log_n,
            q,
            p,
            dnum,
            log_scale,
            secret: SecretDistribution::UniformTernary,
            insecure,
        };
        params.validate()?;
        Ok(params)
    }

    /// Assembles a parameter set read from bytes; [`Parameters::validate`]
    /// is the caller's next step.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_parts(
        name: String,
        log_n: u32,
        q: Vec<u64>,
        p: Vec<u64>,
        dnum: usize,
        log_scale: u32,
        secret: SecretDistribution,
        insecure: bool,
    ) -> Self {
        Self { name, log_n, q, p, dnum, log_scale, secret, insecure }
    }

    /// Every limit the ring arithmetic relies on: ring degree, prime counts
    /// and sizes, NTT-friendliness, primality, no prime twice (in q or p or
    /// both), digit and special-prime counts within the 128-bit lazy
    /// accumulation, P covering the largest digit, and a sane scale. Run on
    /// every construction path, so [`crate::Context::new`] cannot panic.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(CkksError::InvalidParameters(m));
        if !(if self.insecure { 4..=17 } else { 12..=17 }).contains(&self.log_n) {
            return bad(format!("log_n = {} out of range", self.log_n));
        }
        if self.q.is_empty() || self.q.len() > MAX_Q_PRIMES {
            return bad(format!("{} ciphertext primes (need 1 to {MAX_Q_PRIMES})", self.q.len()));
        }
        if self.p.is_empty() || self.p.len() + 1 > MAX_CONVERSION_TERMS {
            return bad(format!("{} special primes (need 1 to {})", self.p.len(), MAX_CONVERSION_TERMS - 1));
        }
        if self.dnum == 0 || self.dnum > self.q.len() {
            return bad(format!("dnum = {} must be in 1..={}", self.dnum, self.q.len()));
        }
        if self.q.len() > self.dnum * MAX_CONVERSION_TERMS {
            return bad(format!("more than {MAX_CONVERSION_TERMS} primes per digit"));
        }
        if !(10..=60).contains(&self.log_scale) {
            return bad(format!("log_scale = {} outside 10..=60", self.log_scale));
        }
        let two_n = 2u64 << self.log_n;
        let mut seen = std::collections::BTreeSet::new();
        for &x in self.q.iter().chain(&self.p) {
            if !(1 << 17..MAX_PRIME).contains(&x) || x % two_n != 1 || !is_prime(x) {
                return bad(format!("{x} is not an NTT-friendly prime below 2^61 for N = 2^{}", self.log_n));
            }
            if !seen.insert(x) {
                return bad(format!("prime {x} appears twice"));
            }
        }
        if let SecretDistribution::SparseTernary { hamming_weight } = self.secret {
            if hamming_weight == 0 || hamming_weight > self.n() {
                return bad(format!("hamming weight {hamming_weight}"));
            }
        }
        let p_bits: f64 = self.p.iter().map(|&x| (x as f64).log2()).sum();
        if p_bits + 2.5 < max_digit_bits(&self.q, &self.digit_ranges()) {
            return bad("special primes P smaller than a key-switching digit".into());
        }
        Ok(())
    }

    /// The key-switching digits: `dnum` contiguous, non-empty ranges of
    /// ciphertext-prime indices, bottom first, covering q_0..q_L. At level l
    /// a digit is its range cut at l + 1 (digits above l are absent).
    /// Everything that forms digits uses this: the special-prime count,
    /// [`Parameters::validate`], the context's ModUp tables, key generation
    /// and key switching.
    ///
    /// The partition is the one of at most [`MAX_CONVERSION_TERMS`] primes
    /// per digit that minimises the largest digit's modulus, which the
    /// special primes P must cover: P, and with it every key-switching limb
    /// it adds, is as small as `dnum` allows. Among the partitions reaching
    /// that minimum it is the one whose digits, from the top, each take as
    /// many primes as fit, so the smallest digit is at the bottom: a key
    /// switch adds noise ∝ (digits present at its level)/P, and the low
    /// levels, where computation runs between bootstraps, see only small
    /// digits (filled from the bottom, `bootstrappable`'s first digit was
    /// 300 bits = P, and every key switch at levels ≥ 6 added about a fresh
    /// encryption's noise). It is a deterministic function of the primes
    /// and `dnum`, which the fingerprint covers; sizes are compared as
    /// integer fixed-point logarithms, never through a platform's
    /// `f64::log2`, so client and server always agree on a key's digits.
    ///
    /// Equal chunks of ⌈L/dnum⌉ primes (what earlier versions used) give the
    /// same digits for every preset but `bootstrappable`, whose chain
    /// [60, 14×40, 13×60] they cut into a 6×60 = 360-bit digit; balanced,
    /// its largest digit is 300 bits and P has 5 special primes, not 6, and
    /// its digits are [60, 4×40] · [7×40] · [3×40, 3×60] · [5×60] · [5×60].
    pub fn digit_ranges(&self) -> Vec<Range<usize>> {
        balanced_digits(&self.q, self.dnum).expect("validate checks dnum and the prime count")
    }

    /// Name for reports (the preset's name, or a custom one).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// log2 of the ring degree N.
    pub fn log_n(&self) -> u32 {
        self.log_n
    }

    /// Ciphertext primes q_0..q_L (q_0 first; rescaling drops from the end).
    pub fn q(&self) -> &[u64] {
        &self.q
    }

    /// Special primes p_0..p_{k-1} of hybrid key switching.
    pub fn p(&self) -> &[u64] {
        &self.p
    }

    /// Number of key-switching digits.
    pub fn dnum(&self) -> usize {
        self.dnum
    }

    /// The default scale is 2^log_scale.
    pub fn log_scale(&self) -> u32 {
        self.log_scale
    }

    /// Distribution of the secret key.
    pub fn secret(&self) -> SecretDistribution {
        self.secret
    }

    /// Made by [`Parameters::insecure_for_tests`] (refused by loaders
    /// unless the caller opts in).
    pub fn is_insecure(&self) -> bool {
        self.insecure
    }

    /// The preset these parameters are exactly equal to, if any: what a
    /// server that only runs its own parameter sets accepts.
    pub fn preset(&self) -> Option<Preset> {
        Preset::from_name(&self.name).ok().filter(|p| p.params() == *self)
    }

    /// True for a set this build generates itself: a [`Preset`] or an
    /// [`inference chain`](Parameters::inference_chain).
    pub fn is_known(&self) -> bool {
        if self.preset().is_some() {
            return true;
        }
        let depth = self.name.strip_prefix(INFERENCE_PREFIX).and_then(|d| d.parse::<usize>().ok());
        depth.is_some_and(|d| d <= MAX_Q_PRIMES && Self::inference_chain(d).is_ok_and(|p| p == *self))
    }

    /// The 128-bit chain for `depth` levels without bootstrapping, named
    /// `inference-<depth>`: N = 2^16, q_0 of 50 bits (room for results of
    /// magnitude up to 2^19), `depth` primes of 30 bits at Δ = 2^30, and the
    /// fewest key-switching digits that keep log2 QP within the bound
    /// (a digit costs key size and key-switch time, so fewer is better).
    /// Its special primes are 30-bit too (`special_prime_bits`), so every
    /// limb but q_0 takes the small-prime NTT and 64-bit lazy sums.
    /// Encrypted CNN inference uses it when its circuit fits.
    pub fn inference_chain(depth: usize) -> Result<Self> {
        let mut chain = vec![50u32];
        chain.extend(std::iter::repeat_n(30, depth));
        let mut last = CkksError::InvalidParameters(format!("no 128-bit chain of depth {depth}"));
        for dnum in 2..=depth.clamp(2, 24) {
            match Self::new(&format!("{INFERENCE_PREFIX}{depth}"), 16, &chain, dnum, 30) {
                Ok(p) => return Ok(p),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Ring degree N.
    pub fn n(&self) -> usize {
        1 << self.log_n
    }

    /// Maximum number of complex slots, N/2.
    pub fn max_slots(&self) -> usize {
        self.n() / 2
    }

    /// Highest level L (a fresh ciphertext has L+1 limbs).
    pub fn max_level(&self) -> usize {
        self.q.len() - 1
    }

    /// Default scale Δ.
    pub fn scale(&self) -> f64 {
        (self.log_scale as f64).exp2()
    }

    /// log2 of Q·P (what the security table bounds).
    pub fn log_qp(&self) -> f64 {
        self.q.iter().chain(&self.p).map(|&x| (x as f64).log2()).sum()
    }

    /// Estimated classical security in bits: for a uniform ternary secret
    /// see [`estimated_security_bits`]; for a sparse one only what the
    /// published estimates vouch for, 128 if [`Parameters::check_security`]
    /// passes and 0 otherwise.
    pub fn security_bits(&self) -> f64 {
        match self.secret {
            SecretDistribution::UniformTernary => estimated_security_bits(self.log_n, self.log_qp()),
            SecretDistribution::SparseTernary { .. } => {
                if self.check_security().is_ok() {
                    128.0
                } else {
                    0.0
                }
            }
        }
    }

    /// Checks the set for 128-bit security: a uniform ternary secret against
    /// [`max_log_qp_128`], a sparse one against the published estimates of
    /// [`SPARSE_SECRET_BOUNDS_128`] (a weight or ring degree without one is
    /// refused).
    pub fn check_security(&self) -> Result<()> {
        let log_qp = self.log_qp();
        let max = match self.secret {
            SecretDistribution::UniformTernary => max_log_qp_128(self.log_n).unwrap_or(0),
            SecretDistribution::SparseTernary { hamming_weight } => {
                max_log_qp_128_sparse(self.log_n, hamming_weight)
                    .ok_or(CkksError::UnestimatedSecret { log_n: self.log_n, hamming_weight })?
            }
        };
        if log_qp > max as f64 {
            return Err(CkksError::InsecureParameters { log_n: self.log_n, log_qp, max_log_qp: max });
        }
        Ok(())
    }

    /// The two-prime ring q_0·p_0 of bootstrapping's dense → sparse key
    /// (see `circuits::bootstrap::encapsulation_context`): one digit, one
    /// special prime, labelled with the sparse secret of weight
    /// `hamming_weight` it carries, so [`Parameters::check_security`] applies
    /// the sparse rule. Insecure sets stay marked insecure.
    pub(crate) fn encapsulation(&self, hamming_weight: usize) -> Parameters {
        Parameters {
            name: format!("{}/encapsulation", self.name),
            log_n: self.log_n,
            q: vec![self.q[0]],
            p: vec![self.p[0]],
            dnum: 1,
            log_scale: self.log_scale,
            secret: SecretDistribution::SparseTernary { hamming_weight },
            insecure: self.insecure,
        }
    }

    /// 64-bit fingerprint of everything that defines the ring and the keys.
    pub fn fingerprint(&self) -> u64 {
        let mut h = blake3::Hasher::new_derive_key("hecnn-ckks parameters v1");
        h.update(&self.log_n.to_le_bytes());
        for list in [&self.q, &self.p] {
            h.update(&(list.len() as u64).to_le_bytes());
            for x in list {
                h.update(&x.to_le_bytes());
            }
        }
        h.update(&(self.dnum as u64).to_le_bytes());
        h.update(&self.log_scale.to_le_bytes());
        match self.secret {
            SecretDistribution::UniformTernary => h.update(&[0]),
            SecretDistribution::SparseTernary { hamming_weight } => {
                h.update(&[1]).update(&(hamming_weight as u64).to_le_bytes())
            }
        };
        h.update(&[self.insecure as u8]);
        u64::from_le_bytes(h.finalize().as_bytes()[..8].try_into().expect("8 bytes"))
    }
}

/// [`Parameters::digit_ranges`] of the primes `q` with `dnum` digits; `None`
/// if no partition exists (`dnum` is 0 or above the prime count, or there
/// are more than 32·dnum primes).
///
/// Digits are filled from the top: the greedy below runs on the reversed
/// primes, so the small remainder lands at the bottom of the chain. A key
/// switch's noise grows with the digits present at its level over P; the
/// low levels, where most computation happens, then see small digits (on
/// `bootstrappable` the bottom digit is 220 bits instead of 300 = P).
fn balanced_digits(q: &[u64], dnum: usize) -> Option<Vec<Range<usize>>> {
    let len = q.len();
    if dnum == 0 || dnum > len || len > dnum * MAX_CONVERSION_TERMS {
        return None;
    }
    // Prefix sums of the fixed-point sizes, top prime first.
    let mut prefix = vec![0u64; len + 1];
    for (i, &x) in q.iter().rev().enumerate() {
        prefix[i + 1] = prefix[i] + log2_fixed(x);
    }
    let size = |r: &Range<usize>| prefix[r.end] - prefix[r.start];
    // From `start`, the end of the longest digit within `bound` that leaves
    // a prime for each of the `left` digits after it.
    let reach = |start: usize, bound: u64, left: usize| {
        let mut end = start + 1;
        while end < len - left && end - start < MAX_CONVERSION_TERMS && size(&(start..end + 1)) <= bound {
            end += 1;
        }
        end
    };
    // Top-first greedy digits within `bound` (in reversed indices): `None`
    // unless `dnum` digits cover every prime (a first digit over the bound
    // is never taken).
    let greedy = |bound: u64| -> Option<Vec<Range<usize>>> {
        let mut out = Vec::with_capacity(dnum);
        let mut start = 0;
        for j in 0..dnum {
            let end = if j + 1 == dnum { len } else { reach(start, bound, dnum - 1 - j) };
            let r = start..end;
            if size(&r) > bound || r.len() > MAX_CONVERSION_TERMS {
                return None;
            }
            out.push(r);
            start = end;
        }
        Some(out)
    };
    // The smallest feasible bound is the size of some range: binary search
    // over all of them (greedy feasibility is monotone in the bound).
    let mut sizes: Vec<u64> = (0..len)
        .flat_map(|a| (a + 1..=len.min(a + MAX_CONVERSION_TERMS)).map(move |b| (a, b)))
        .map(|(a, b)| size(&(a..b)))
        .collect();
    sizes.sort_unstable();
    sizes.dedup();
    let first = sizes.partition_point(|&b| greedy(b).is_none());
    let reversed = greedy(*sizes.get(first)?)?;
    // Back to chain indices, bottom digit first.
    Some(reversed.into_iter().rev().map(|r| len - r.end..len - r.start).collect())
}

/// log2 of the largest digit's modulus.
/// Size of the special primes. 60 bits (fewest limbs) unless the level
/// primes are all at most 30 bits: then P is made of primes of their size, so
/// every limb of a key switch but q_0's keeps the small-prime fast paths —
/// the 32-bit NTT (primes < 2^31) and 64-bit lazy sums in the basis
/// conversions and the inner product (`Σ q_i·t < 2^64`). For the same P
/// that is twice the special limbs, each several times cheaper: a key switch
/// at `inference-45` costs about half.
fn special_prime_bits(q_bits: &[u32]) -> u32 {
    match q_bits.get(1..).and_then(|levels| levels.iter().max()) {
        Some(&b) if b <= 30 => b,
        _ => 60,
    }
}

fn max_digit_bits(q: &[u64], digits: &[Range<usize>]) -> f64 {
    digits.iter().map(|r| q[r.clone()].iter().map(|&x| (x as f64).log2()).sum::<f64>()).fold(0.0, f64::max)
}

/// log2(x) in fixed point with 32 fractional bits (truncated), computed
/// with integer arithmetic only, so it is the same on every platform.
fn log2_fixed(x: u64) -> u64 {
    debug_assert!(x > 0);
    let int = 63 - x.leading_zeros();
    // y = x / 2^int ∈ [1, 2) with 62 fractional bits; squaring it moves the
    // next fractional bit of log2 into the integer part.
    let one = 1u128 << 62;
    let mut y = if int <= 62 { (x as u128) << (62 - int) } else { (x as u128) >> (int - 62) };
    let mut frac = 0u64;
    for bit in (0..32).rev() {
        y = (y * y) >> 62;
        if y >= 2 * one {
            y >>= 1;
            frac |= 1 << bit;
        }
    }
    ((int as u64) << 32) | frac
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Context;

    /// The equal chunks of ⌈L/dnum⌉ primes that earlier versions used.
    fn chunks(len: usize, dnum: usize) -> Vec<Range<usize>> {
        let size = len.div_ceil(dnum);
        (0..len).step_by(size).map(|s| s..(s + size).min(len)).collect()
    }

    fn bits(p: &Parameters, r: &Range<usize>) -> f64 {
        p.q()[r.clone()].iter().map(|&x| (x as f64).log2()).sum()
    }

    /// Every preset but `bootstrappable` keeps its digits (so its primes,
    /// fingerprint and key files); `bootstrappable` goes from a 360-bit
    /// digit and 6 special primes to 300 bits and 5, 60 bits off log2 QP.
    #[test]
    fn balanced_digits_change_only_the_bootstrappable_preset() {
        for preset in Preset::ALL {
            let p = preset.params();
            let digits = p.digit_ranges();
            assert_eq!(digits.len(), p.dnum());
            if preset == Preset::Bootstrappable {
                // Filled from the top: [60, 4×40] · [7×40] · [3×40, 3×60] · [5×60] · [5×60].
                assert_eq!(digits, vec![0..5, 5..12, 12..18, 18..23, 23..28]);
                assert_eq!(chunks(p.q().len(), p.dnum()), vec![0..6, 6..12, 12..18, 18..24, 24..28]);
                assert_eq!(p.p().len(), 5);
                let largest = digits.iter().map(|r| bits(&p, r)).fold(0.0, f64::max);
                assert!((299.0..301.0).contains(&largest), "{largest}");
                assert!((1699.0..1701.0).contains(&p.log_qp()), "{}", p.log_qp());
            } else {
                assert_eq!(digits, chunks(p.q().len(), p.dnum()), "{}", preset.name());
            }
        }
        let expected_p = [(Preset::Light, 1), (Preset::Training2Iter, 4), (Preset::Medium, 4), (Preset::Deep, 7)];
        for (preset, k) in expected_p {
            assert_eq!(preset.params().p().len(), k, "{}", preset.name());
        }
    }

    /// Brute force over every contiguous partition: the balanced digits are
    /// exactly `dnum` non-empty ranges covering the primes in order, no
    /// partition has a smaller largest digit, and of those that reach it none
    /// has a smaller bottom digit (the one present at every level).
    #[test]
    fn balanced_digits_minimise_the_largest_digit() {
        fn best(w: &[u64], dnum: usize) -> u64 {
            if dnum == 1 {
                return w.iter().sum();
            }
            (1..=w.len() - (dnum - 1)).map(|c| w[..c].iter().sum::<u64>().max(best(&w[c..], dnum - 1))).min().unwrap()
        }
        let pool: Vec<u64> = [20u32, 30, 40, 50, 60, 61]
            .iter()
            .flat_map(|&b| ntt_primes(b.min(60), 3, 1 << 13, PrimeSide::Below, &[]).unwrap())
            .collect();
        let mut state = 7u64;
        for case in 0..300 {
            let len = 1 + case % 11;
            let q: Vec<u64> = (0..len)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    pool[(state >> 33) as usize % pool.len()]
                })
                .collect();
            let w: Vec<u64> = q.iter().map(|&x| log2_fixed(x)).collect();
            for dnum in 1..=len {
                let d = balanced_digits(&q, dnum).unwrap();
                assert_eq!(d.len(), dnum);
                assert_eq!((d[0].start, d[dnum - 1].end), (0, len));
                assert!(d.iter().all(|r| !r.is_empty()) && d.windows(2).all(|x| x[0].end == x[1].start));
                let largest = d.iter().map(|r| w[r.clone()].iter().sum::<u64>()).max().unwrap();
                let optimum = best(&w, dnum);
                assert_eq!(largest, optimum, "{q:?}, dnum {dnum}");
                // The smallest bottom digit c with the rest splitting within the optimum.
                let bottoms = if dnum == 1 { len..=len } else { 1..=len - (dnum - 1) };
                let smallest_bottom = bottoms
                    .filter(|&c| {
                        w[..c].iter().sum::<u64>() <= optimum && (dnum == 1 || best(&w[c..], dnum - 1) <= optimum)
                    })
                    .map(|c| w[..c].iter().sum::<u64>())
                    .min()
                    .unwrap();
                assert_eq!(w[d[0].clone()].iter().sum::<u64>(), smallest_bottom, "{q:?}, dnum {dnum}");
            }
            assert_eq!(balanced_digits(&q, 0), None);
            assert_eq!(balanced_digits(&q, len + 1), None);
        }
        // At most 32 primes per digit, even where the bits alone would put
        // 40 in one (40×30 | 20×60 halves the bits exactly).
        let mut q = ntt_primes(30, 40, 1 << 13, PrimeSide::Below, &[]).unwrap();
        q.extend(ntt_primes(60, 20, 1 << 13, PrimeSide::Below, &q).unwrap());
        let d = balanced_digits(&q, 2).unwrap();
        assert!(d.iter().all(|r| r.len() <= MAX_CONVERSION_TERMS), "{d:?}");
        assert_eq!(balanced_digits(&q[..33], 1), None);
    }

    #[test]
    fn fixed_point_log2_matches_f64() {
        for x in [3u64, 65537, (1 << 40) + 1, (1 << 60) - 93, (1 << 61) - 1, u64::MAX] {
            let got = log2_fixed(x) as f64 / 2f64.powi(32);
            assert!((got - (x as f64).log2()).abs() < 2e-8, "{x}: {got}");
        }
        assert_eq!(log2_fixed(1 << 40), 40 << 32);
    }

    /// The encapsulation ring carries the sparse label and passes the sparse
    /// rule; the same secret over a larger modulus, another weight or
    /// another ring degree is refused, by the check and by `Context::new`.
    #[test]
    fn sparse_rule_admits_only_the_published_estimate() {
        let params = Preset::Bootstrappable.params();
        let ring = params.encapsulation(32);
        assert_eq!(ring.secret(), SecretDistribution::SparseTernary { hamming_weight: 32 });
        assert!(!ring.is_insecure());
        assert!(ring.log_qp() <= 121.0, "{}", ring.log_qp());
        ring.check_security().unwrap();
        assert_eq!(ring.security_bits(), 128.0);
        Context::new(ring.clone()).unwrap();

        // q_0·p_0·p_1 ≈ 2^180 under the same sparse secret.
        let larger = Parameters { p: params.p()[..2].to_vec(), ..ring.clone() };
        larger.validate().unwrap();
        let err = larger.check_security().unwrap_err();
        assert!(matches!(err, CkksError::InsecureParameters { log_n: 16, max_log_qp: 121, .. }), "{err}");
        assert_eq!(Context::new(larger.clone()).unwrap_err(), err);
        assert_eq!(larger.security_bits(), 0.0);

        let heavier = params.encapsulation(64);
        let err = CkksError::UnestimatedSecret { log_n: 16, hamming_weight: 64 };
        assert_eq!(heavier.check_security().unwrap_err(), err);
        assert_eq!(Context::new(heavier).unwrap_err(), err);
        let smaller_ring = Preset::Medium.params().encapsulation(32);
        assert!(matches!(smaller_ring.check_security(), Err(CkksError::UnestimatedSecret { log_n: 15, .. })));
        // The dense rule never applies to a sparse secret: 120 bits would
        // pass the uniform-ternary table at N=2^15 by far.
        assert!(Context::new(smaller_ring).is_err());
    }

    #[test]
    fn tables_are_the_guidelines_v2() {
        let v2 = [(10, 26), (11, 53), (12, 106), (13, 214), (14, 430), (15, 868), (16, 1747), (17, 3523)];
        for (log_n, max) in v2 {
            assert_eq!(max_log_qp_128(log_n), Some(max));
        }
        assert_eq!((max_log_qp_128(9), max_log_qp_128(18)), (None, None));
        assert_eq!(max_log_qp_128_sparse(16, 32), Some(121));
        assert_eq!(max_log_qp_128_sparse(16, 33), None);
        // The rough estimate is 128 at the bound and grows below it.
        assert_eq!(estimated_security_bits(16, 1747.0), 128.0);
        assert!(estimated_security_bits(16, 1700.0) > 128.0 && estimated_security_bits(16, 1800.0) < 128.0);
    }
}
