//! Negacyclic NTT over one prime, delegated to the `tfhe-ntt` crate.

use super::modulus::Modulus;
use tfhe_ntt::{prime32, prime64};

/// Forward/inverse negacyclic NTT of size N modulo one prime.
///
/// The forward transform leaves values in the bit-reversed order chosen by
/// `tfhe-ntt`; the context learns that order once (see `automorphism`) so
/// automorphisms can act directly on evaluations. Both plans below use the
/// same order (a test checks it), so a chain may mix prime sizes.
pub struct NttTable {
    plan: Plan,
}

/// Primes below 2^31 take `tfhe-ntt`'s 32-bit plan: eight AVX2 lanes with
/// native 32×32-bit products instead of four emulated 64-bit ones — 3.8×
/// faster at N = 2^16 (144 µs against 552 µs per limb), which is most of a
/// key switch on the 30-bit inference chains.
enum Plan {
    Small(prime32::Plan),
    Large(prime64::Plan),
}

impl std::fmt::Debug for NttTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.plan {
            Plan::Small(p) => write!(f, "NttTable(n={}, q={}, 32-bit)", p.ntt_size(), p.modulus()),
            Plan::Large(p) => write!(f, "NttTable(n={}, q={})", p.ntt_size(), p.modulus()),
        }
    }
}

impl NttTable {
    /// Builds the plan; `None` if `q` is not an NTT-friendly prime for `n`.
    pub fn new(n: usize, q: &Modulus) -> Option<Self> {
        // The 32-bit plan also needs N ≥ 32; tiny test rings use the 64-bit one.
        let small = if q.value < 1 << 31 { prime32::Plan::try_new(n, q.value as u32) } else { None };
        let plan = match small {
            Some(p) => Plan::Small(p),
            None => Plan::Large(prime64::Plan::try_new(n, q.value)?),
        };
        Some(Self { plan })
    }

    /// Coefficients → evaluations, in place.
    #[inline]
    pub fn forward(&self, a: &mut [u64]) {
        match &self.plan {
            Plan::Small(p) => in_32_bits(a, |b| p.fwd(b)),
            Plan::Large(p) => p.fwd(a),
        }
    }

    /// Evaluations → coefficients, in place, including the 1/N factor.
    #[inline]
    pub fn inverse(&self, a: &mut [u64]) {
        match &self.plan {
            Plan::Small(p) => in_32_bits(a, |b| {
                p.inv(b);
                p.normalize(b);
            }),
            Plan::Large(p) => {
                p.inv(a);
                p.normalize(a);
            }
        }
    }

    /// Evaluations → N·coefficients (no 1/N factor), for callers that fold
    /// 1/N into a constant they multiply by anyway.
    #[inline]
    pub fn inverse_unnormalized(&self, a: &mut [u64]) {
        match &self.plan {
            Plan::Small(p) => in_32_bits(a, |b| p.inv(b)),
            Plan::Large(p) => p.inv(a),
        }
    }
}

/// Runs `f` on the residues of `a` (all < 2^31) as 32-bit words, in a
/// per-thread scratch buffer: the narrowing and widening copies are plain
/// element-wise loops between two buffers, which vectorize (an in-place
/// repacking cannot: each step reads what the previous one may have
/// written, and at N = 2^16 that scalar loop cost half as much as the NTT).
fn in_32_bits(a: &mut [u64], f: impl FnOnce(&mut [u32])) {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<u32>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|cell| {
        // A re-entrant call (none today) gets its own buffer instead of a panic.
        let mut own = Vec::new();
        let mut guard = cell.try_borrow_mut().ok();
        let words = guard.as_deref_mut().unwrap_or(&mut own);
        words.resize(a.len(), 0);
        narrow(a, words);
        f(words);
        widen(words, a);
    });
}

fn narrow(src: &[u64], dst: &mut [u32]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = s as u32;
    }
}

fn widen(src: &[u32], dst: &mut [u64]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = u64::from(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 32-bit plan must agree with the 64-bit one value for value (the
    /// automorphism tables assume one evaluation order for every limb).
    #[test]
    fn small_prime_plan_matches_the_64_bit_plan() {
        let n = 1 << 12;
        let q = Modulus::new(
            crate::ring::primes::ntt_primes(30, 1, 2 * n as u64, crate::ring::primes::PrimeSide::Below, &[]).unwrap()
                [0],
        );
        let small = NttTable::new(n, &q).unwrap();
        let large = NttTable { plan: Plan::Large(prime64::Plan::try_new(n, q.value).unwrap()) };
        let x: Vec<u64> = (0..n as u64).map(|i| (i * i * 7919 + 3) % q.value).collect();
        let (mut a, mut b) = (x.clone(), x.clone());
        small.forward(&mut a);
        large.forward(&mut b);
        assert_eq!(a, b);
        small.inverse(&mut a);
        assert_eq!(a, x);
        let mut c = b.clone();
        small.inverse_unnormalized(&mut b);
        large.inverse_unnormalized(&mut c);
        assert_eq!(b, c);
    }
}
