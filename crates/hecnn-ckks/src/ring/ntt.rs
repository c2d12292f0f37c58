//! Negacyclic NTT over one prime, delegated to the `tfhe-ntt` crate.

use super::modulus::Modulus;
use super::ntt_f64::F64Plan;
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
/// key switch on the 30-bit inference chains. Primes up to 2^43 (the
/// 40-bit levels) take the double-precision plan of `ntt_f64`, FMA units
/// instead of emulated products; the rest, `tfhe-ntt`'s 64-bit plan.
enum Plan {
    Small(prime32::Plan),
    Double(F64Plan),
    Large(prime64::Plan),
}

impl std::fmt::Debug for NttTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.plan {
            Plan::Small(p) => write!(f, "NttTable(n={}, q={}, 32-bit)", p.ntt_size(), p.modulus()),
            Plan::Double(_) => write!(f, "NttTable(f64)"),
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
            None => {
                let large = prime64::Plan::try_new(n, q.value)?;
                match F64Plan::preferred().then(|| F64Plan::new(n, q, |a| large.fwd(a))).flatten() {
                    Some(p) => Plan::Double(p),
                    None => Plan::Large(large),
                }
            }
        };
        Some(Self { plan })
    }

    /// Coefficients → evaluations, in place.
    #[inline]
    pub fn forward(&self, a: &mut [u64]) {
        match &self.plan {
            Plan::Small(p) => in_32_bits(a, |b| p.fwd(b)),
            Plan::Double(p) => p.forward(a),
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
            Plan::Double(p) => p.inverse(a, true),
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
            Plan::Double(p) => p.inverse(a, false),
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

    fn prime(bits: u32, n: usize) -> Modulus {
        use crate::ring::primes::{ntt_primes, PrimeSide};
        Modulus::new(ntt_primes(bits, 1, 2 * n as u64, PrimeSide::Below, &[]).unwrap()[0])
    }

    /// The double-precision plan must give `tfhe-ntt`'s values exactly, at
    /// every size the blocking treats differently and at both ends of its
    /// prime range, on residues up to q − 1 (the largest intermediates).
    /// Built directly, so it is checked on CPUs that would not choose it.
    #[test]
    fn double_plan_matches_the_64_bit_plan() {
        if !(std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")) {
            assert!(F64Plan::new(64, &prime(40, 64), |_| ()).is_none());
            return;
        }
        for log_n in [5, 6, 11, 12, 13, 16] {
            let n = 1usize << log_n;
            for bits in [32, 40, 43] {
                let q = prime(bits, n);
                let large = prime64::Plan::try_new(n, q.value).unwrap();
                let double = F64Plan::new(n, &q, |a| large.fwd(a)).expect("the f64 plan for this prime");
                let mut x: Vec<u64> = (0..n as u64).map(|i| (i * i * 7919 + 3 * i + 1) % q.value).collect();
                x[0] = q.value - 1;
                x[n - 1] = q.value - 1;
                let (mut a, mut b) = (x.clone(), x.clone());
                double.forward(&mut a);
                large.fwd(&mut b);
                assert_eq!(a, b, "forward, 2^{log_n}, {bits} bits");
                let mut all_max = vec![q.value - 1; n];
                let mut all_max_ref = all_max.clone();
                double.forward(&mut all_max);
                large.fwd(&mut all_max_ref);
                assert_eq!(all_max, all_max_ref, "forward of q − 1, 2^{log_n}, {bits} bits");
                let mut c = b.clone();
                double.inverse(&mut b, false);
                large.inv(&mut c);
                assert_eq!(b, c, "inverse, 2^{log_n}, {bits} bits");
                double.inverse(&mut a, true);
                assert_eq!(a, x, "round trip, 2^{log_n}, {bits} bits");
            }
        }
    }

    /// A plan whose order differs from `tfhe-ntt`'s is refused.
    #[test]
    fn double_plan_refuses_another_order() {
        let n = 64;
        let q = prime(40, n);
        let large = prime64::Plan::try_new(n, q.value).unwrap();
        // The same evaluations, the first two swapped.
        let swapped = |a: &mut [u64]| {
            large.fwd(a);
            a.swap(0, 1);
        };
        assert!(F64Plan::new(n, &q, swapped).is_none());
    }

    /// Primes outside the double plan's range stay on `tfhe-ntt`.
    #[test]
    fn plans_by_prime_size() {
        let n = 1 << 10;
        assert!(matches!(NttTable::new(n, &prime(30, n)).unwrap().plan, Plan::Small(_)));
        let forty = NttTable::new(n, &prime(40, n)).unwrap().plan;
        assert_eq!(matches!(forty, Plan::Double(_)), F64Plan::preferred());
        assert!(matches!(NttTable::new(n, &prime(50, n)).unwrap().plan, Plan::Large(_)));
        assert!(matches!(NttTable::new(n, &prime(60, n)).unwrap().plan, Plan::Large(_)));
    }
}
