//! NTTs of polynomials in a subring `Z[X^g]`.
//!
//! A slot vector that repeats with period p encodes to `m(X) = m'(X^g)` with
//! `g = N/(2p)` and `m'` of degree below `s = 2p` (the subring fixed by the
//! rotations by p). Its evaluations at the odd powers `ψ^e` are
//! `m'(ω^e)`, `ω = ψ^g` of order `2s`: only s distinct values, one size-s
//! NTT per limb instead of a size-N one. In tfhe-ntt's evaluation order
//! `e_j mod 2s` is constant on runs of N/s consecutive slots, so the
//! values land as s runs, each one fill (checked when the tables are made).
//! Most of bootstrapping's CoeffsToSlots/SlotsToCoeffs diagonals are such
//! vectors (the FFT's early stages repeat with short periods), and so is
//! every vector of fewer slots than N/2.

use super::automorphism::{monomial_evaluations, EvaluationOrder};
use super::modulus::Modulus;
use super::ntt::NttTable;

/// The size-s plan of one prime and how its slots map to the ring's.
#[derive(Debug)]
struct PrimeTables {
    ntt: NttTable,
    /// `run_source[r]`: the small slot whose value fills big slots
    /// `r·N/s .. (r+1)·N/s`.
    run_source: Vec<u32>,
}

/// Size-s NTT tables for every prime of a ring of degree N (s < N).
#[derive(Debug)]
pub struct SubringNtt {
    s: usize,
    primes: Vec<PrimeTables>,
}

impl SubringNtt {
    /// Tables for `s` (a power of two, 16 ≤ s < N) over `moduli`, whose
    /// degree-N NTTs are `big` with evaluation order `order`. `None` when a
    /// prime has no size-s plan, its order is not recognised, or the big
    /// order does not keep `e_j mod 2s` constant on runs of N/s slots.
    pub fn new(s: usize, n: usize, moduli: &[Modulus], big: &[NttTable], order: &EvaluationOrder) -> Option<Self> {
        if !s.is_power_of_two() || s < 16 || s >= n {
            return None;
        }
        let g = (n / s) as u64;
        let two_s = 2 * s as u64;
        let mask = two_s - 1;
        let exponents = order.exponents();
        let run = n / s;
        if !exponents.chunks(run).all(|c| c.iter().all(|&e| (e as u64 & mask) == (c[0] as u64 & mask))) {
            return None;
        }
        let primes = moduli
            .iter()
            .zip(big)
            .map(|(m, big)| {
                let ntt = NttTable::new(s, m)?;
                let small = EvaluationOrder::learn(s, &[(*m, &ntt)])?;
                // ψ = NTT_N(X)[0] and ω' = NTT_s(Y)[0] define the two orders'
                // exponents (both read 1 at slot 0); find c with ω' = ψ^(g·c).
                let psi = monomial_evaluations(n, big)[0];
                let omega_small = monomial_evaluations(s, &ntt)[0];
                let omega = m.pow(psi, g);
                let c = (1..two_s).step_by(2).find(|&c| m.pow(omega, c) == omega_small)?;
                // Small slot i holds m'(ω^{c·f_i}); big slot j needs m'(ω^{e_j}).
                let c_inv = (1..two_s).step_by(2).find(|&x| (x * c) % two_s == 1)?;
                let run_source = exponents
                    .chunks(run)
                    .map(|chunk| small.index_of((((chunk[0] as u64 & mask) * c_inv) & mask) as usize))
                    .collect();
                Some(PrimeTables { ntt, run_source })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Self { s, primes })
    }

    /// Size of the small NTT.
    pub fn size(&self) -> usize {
        self.s
    }

    /// `out` (N evaluations over prime `prime`) of `m'(X^g)`, from the s
    /// coefficients of `m'` in `small` (overwritten by their NTT).
    pub fn forward(&self, prime: usize, small: &mut [u64], out: &mut [u64]) {
        debug_assert!(small.len() == self.s && out.len().is_multiple_of(self.s));
        let t = &self.primes[prime];
        t.ntt.forward(small);
        let run = out.len() / self.s;
        for (o, &src) in out.chunks_mut(run).zip(&t.run_source) {
            o.fill(small[src as usize]);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::context::Context;
    use crate::params::{Parameters, Preset};
    use crate::ring::RnsPoly;

    /// The size-s NTT and gather give exactly the degree-N NTT of
    /// `m'(X^{N/s})`, on every limb (40- and 60-bit primes, Q and P), for
    /// every s from 16 to N/2.
    fn matches_the_full_ntt(ctx: &Context) {
        let n = ctx.n();
        let (nq, np) = (ctx.params().q().len(), ctx.num_p());
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut s = 16;
        while s < n {
            let tables = ctx.subring_ntt(s).expect("a plan for this size");
            let mut small = RnsPoly::uninit(s, nq, np, false);
            let mut full = RnsPoly::zero(n, nq, np, false);
            let g = n / s;
            for i in 0..nq + np {
                let q = ctx.moduli()[i].value;
                for c in 0..s {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let x = state % q;
                    small.data[i * s + c] = x;
                    full.data[i * n + c * g] = x;
                }
            }
            let got = ctx.subring_forward(&tables, &mut small);
            ctx.ntt_forward(&mut full);
            assert!(got.ntt && got.num_q == nq && got.num_p == np);
            assert!(got.data == full.data, "s = {s}: the subring NTT differs from the full one");
            s *= 2;
        }
    }

    #[test]
    fn subring_ntt_equals_the_full_ntt_on_the_bootstrappable_ring() {
        matches_the_full_ntt(&Context::new(Preset::Bootstrappable.params()).unwrap());
    }

    #[test]
    fn subring_ntt_equals_the_full_ntt_on_31_bit_primes() {
        // Primes below 2^31 take tfhe-ntt's 32-bit plans.
        let params = Parameters::insecure_for_tests(11, &[31, 30, 30, 30], 2, 30).unwrap();
        matches_the_full_ntt(&Context::new(params).unwrap());
    }

    /// Sizes without a plan (below 16, or N itself) fall back to the full NTT.
    #[test]
    fn sizes_without_a_small_plan_are_refused() {
        let ctx = Context::new(Parameters::insecure_for_tests(10, &[40, 40], 1, 30).unwrap()).unwrap();
        assert!(ctx.subring_ntt(8).is_none());
        assert!(ctx.subring_ntt(ctx.n()).is_none());
        assert!(ctx.subring_ntt(48).is_none());
        assert!(ctx.subring_ntt(16).is_some());
    }
}
