//! Negacyclic NTT over one prime, delegated to the `tfhe-ntt` crate.

use super::modulus::Modulus;
use tfhe_ntt::prime64::Plan;

/// Forward/inverse negacyclic NTT of size N modulo one prime.
///
/// The forward transform leaves values in the bit-reversed order chosen by
/// `tfhe-ntt`; the context learns that order once (see `automorphism`) so
/// automorphisms can act directly on evaluations.
pub struct NttTable {
    plan: Plan,
}

impl std::fmt::Debug for NttTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NttTable(n={}, q={})", self.plan.ntt_size(), self.plan.modulus())
    }
}

impl NttTable {
    /// Builds the plan; `None` if `q` is not an NTT-friendly prime for `n`.
    pub fn new(n: usize, q: &Modulus) -> Option<Self> {
        Plan::try_new(n, q.value).map(|plan| Self { plan })
    }

    /// Coefficients → evaluations, in place.
    #[inline]
    pub fn forward(&self, a: &mut [u64]) {
        self.plan.fwd(a);
    }

    /// Evaluations → coefficients, in place, including the 1/N factor.
    #[inline]
    pub fn inverse(&self, a: &mut [u64]) {
        self.plan.inv(a);
        self.plan.normalize(a);
    }

    /// Evaluations → N·coefficients (no 1/N factor), for callers that fold
    /// 1/N into a constant they multiply by anyway.
    #[inline]
    pub fn inverse_unnormalized(&self, a: &mut [u64]) {
        self.plan.inv(a);
    }
}
