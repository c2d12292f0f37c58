//! Parameter sets, named presets and the 128-bit security check.

use crate::error::{CkksError, Result};
use crate::ring::primes::{is_prime, ntt_primes, PrimeSide};
use serde::{Deserialize, Serialize};

/// Largest log2(QP) giving 128-bit classical security for a uniform ternary
/// secret and σ = 3.2 (HomomorphicEncryption.org standard; 2^16 and 2^17 as
/// extrapolated by SEAL/OpenFHE).
pub fn max_log_qp_128(log_n: u32) -> Option<u32> {
    Some(match log_n {
        10 => 27,
        11 => 54,
        12 => 109,
        13 => 218,
        14 => 438,
        15 => 881,
        16 => 1772,
        17 => 3544,
        _ => return None,
    })
}

/// Rough classical security estimate: lattice security grows about linearly
/// in N/log(QP), so we scale the 128-bit bound. Reliable near 128 bits only;
/// used to report, never to accept (acceptance uses the table itself).
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
    /// N=2^16, primes [60, 11×40 | 3×40 | 9×60 | 4×60] + special 6×60, dnum
    /// 5 (log2 QP = 1760): 11 computation levels, then SlotsToCoeffs,
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
    /// Computation levels of the bootstrappable chain: 11 fit under the
    /// 128-bit bound next to the 16 levels a bootstrap consumes, and are
    /// what training needs for two iterations (2 × 5) plus the unpacking
    /// level between bootstraps.
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
        let two_n = 2u64 << log_n;
        let digit_size = q_bits.len().div_ceil(dnum);
        if digit_size > 32 {
            return Err(CkksError::InvalidParameters("more than 32 primes per digit".into()));
        }
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
        let max_digit_bits: f64 =
            q.chunks(digit_size).map(|c| c.iter().map(|&x| (x as f64).log2()).sum::<f64>()).fold(0.0, f64::max);
        // P within 2 bits of the largest digit: the ModUp error then adds at
        // most 2 bits to a key-switching noise that is ~2^30 below Δ anyway.
        let k = ((max_digit_bits - 2.0) / 60.0).ceil().max(1.0) as usize;
        let p = ntt_primes(60, k, two_n, PrimeSide::Below, &q)
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
        if self.digit_size() > MAX_CONVERSION_TERMS {
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
        if p_bits + 2.5 < self.max_digit_bits() {
            return bad("special primes P smaller than a key-switching digit".into());
        }
        Ok(())
    }

    /// log2 of the largest key-switching digit's modulus.
    fn max_digit_bits(&self) -> f64 {
        self.q.chunks(self.digit_size()).map(|c| c.iter().map(|&x| (x as f64).log2()).sum::<f64>()).fold(0.0, f64::max)
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

    /// Primes per key-switching digit.
    pub fn digit_size(&self) -> usize {
        self.q.len().div_ceil(self.dnum)
    }

    /// Estimated classical security in bits (see [`estimated_security_bits`]).
    pub fn security_bits(&self) -> f64 {
        estimated_security_bits(self.log_n, self.log_qp())
    }

    /// Checks the set against the 128-bit table.
    pub fn check_security(&self) -> Result<()> {
        let max = max_log_qp_128(self.log_n).unwrap_or(0);
        let log_qp = self.log_qp();
        if self.secret != SecretDistribution::UniformTernary || log_qp > max as f64 {
            return Err(CkksError::InsecureParameters { log_n: self.log_n, log_qp, max_log_qp: max });
        }
        Ok(())
    }

    /// The two-prime ring q_0·p_0 of bootstrapping's dense → sparse key
    /// (see `circuits::bootstrap::encapsulation_context`): one digit, one
    /// special prime. Insecure sets stay marked insecure.
    pub(crate) fn encapsulation(&self) -> Parameters {
        Parameters {
            name: format!("{}/encapsulation", self.name),
            log_n: self.log_n,
            q: vec![self.q[0]],
            p: vec![self.p[0]],
            dnum: 1,
            log_scale: self.log_scale,
            secret: self.secret,
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
