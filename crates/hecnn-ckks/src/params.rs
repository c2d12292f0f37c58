//! Parameter sets, named presets and the 128-bit security check.

use crate::error::{CkksError, Result};
use crate::ring::primes::{ntt_primes, PrimeSide};
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

    /// Levels left for computation after a bootstrap with the default
    /// [`crate::circuits::BootstrapConfig`] (`None`: not bootstrappable).
    pub fn levels_after_bootstrap(self) -> Option<usize> {
        match self {
            Preset::Bootstrappable => {
                crate::circuits::BootstrapConfig::default().levels_left(self.params().max_level())
            }
            _ => None,
        }
    }

    /// Builds the parameter set (checked for 128-bit security).
    pub fn params(self) -> Parameters {
        let (log_n, chain, dnum): (u32, Vec<u32>, usize) = match self {
            Preset::Light => (14, chain(60, 40, 7), 8),
            Preset::Medium => (15, chain(60, 40, 14), 3),
            Preset::Deep => (16, chain(60, 40, 29), 3),
            Preset::Training2Iter => (15, chain(60, 40, 9), 2),
            Preset::Bootstrappable => {
                (16, crate::circuits::BootstrapConfig::default().chain_bits(Self::BOOTSTRAPPABLE_COMPUTATION_LEVELS), 5)
            }
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

fn chain(first: u32, rest: u32, count: usize) -> Vec<u32> {
    std::iter::once(first).chain(std::iter::repeat_n(rest, count)).collect()
}

/// A complete CKKS parameter set. The primes themselves (not only their
/// sizes) are part of it, so the fingerprint pins down the exact ring.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Parameters {
    /// Name for reports (preset name or "custom").
    pub name: String,
    /// log2 of the ring degree N.
    pub log_n: u32,
    /// Ciphertext primes q_0..q_L (q_0 first, rescaling drops from the end).
    pub q: Vec<u64>,
    /// Special primes p_0..p_{k-1} for hybrid key switching.
    pub p: Vec<u64>,
    /// Number of key-switching digits.
    pub dnum: usize,
    /// Default scale is 2^log_scale.
    pub log_scale: u32,
    /// Secret-key distribution.
    pub secret: SecretDistribution,
    /// Set only by [`Parameters::insecure_for_tests`].
    pub insecure: bool,
}

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
        Ok(Self {
            name: name.to_string(),
            log_n,
            q,
            p,
            dnum,
            log_scale,
            secret: SecretDistribution::UniformTernary,
            insecure,
        })
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
