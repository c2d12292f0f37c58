//! Automorphisms `X → X^k` (k odd) acting on NTT evaluations as permutations.
//!
//! Evaluation slot `j` of the NTT holds `a(ψ^{e_j})` for a primitive 2N-th
//! root ψ and odd exponent `e_j`. Then `(σ_k a)(ψ^{e_j}) = a(ψ^{e_j·k})`, so
//! σ_k is the permutation `j ↦ index(e_j·k mod 2N)`, the same for every
//! prime. The exponent order is read off the NTT itself once, not assumed.

use super::modulus::Modulus;
use super::ntt::NttTable;

/// The map between NTT slot indices and odd exponents of ψ.
#[derive(Debug, Clone)]
pub struct EvaluationOrder {
    /// `exponent[j]`: odd e with slot j holding `a(ψ^e)`.
    exponent: Vec<u32>,
    /// `index[e]` for odd e < 2N: the slot holding `a(ψ^e)`.
    index: Vec<u32>,
}

impl EvaluationOrder {
    /// Learns the order from the NTT of the monomial X over the given prime
    /// and checks it on the others (a few slots each). `None` if the NTT does
    /// not behave like an evaluation at odd powers of one root.
    pub fn learn(n: usize, tables: &[(Modulus, &NttTable)]) -> Option<Self> {
        let two_n = 2 * n as u64;
        let (q, ntt) = tables.first()?;
        let x = monomial_evaluations(n, ntt);
        let psi = x[0];
        // Table of ψ^e for odd e.
        let mut exp_of = std::collections::HashMap::with_capacity(n);
        let psi2 = q.mul(psi, psi);
        let mut p = psi;
        for e in (1..two_n).step_by(2) {
            exp_of.insert(p, e as u32);
            p = q.mul(p, psi2);
        }
        let mut exponent = Vec::with_capacity(n);
        for &v in &x {
            exponent.push(*exp_of.get(&v)?);
        }
        let mut index = vec![u32::MAX; 2 * n];
        for (j, &e) in exponent.iter().enumerate() {
            if index[e as usize] != u32::MAX {
                return None;
            }
            index[e as usize] = j as u32;
        }
        // Spot-check the same order on the other primes.
        for (q, ntt) in &tables[1..] {
            let y = monomial_evaluations(n, ntt);
            let psi = y[0];
            for j in (0..n).step_by((n / 64).max(1)) {
                if q.pow(psi, exponent[j] as u64) != y[j] {
                    return None;
                }
            }
        }
        Some(Self { exponent, index })
    }

    /// `e_j` for every slot j.
    pub(crate) fn exponents(&self) -> &[u32] {
        &self.exponent
    }

    /// The slot holding `a(ψ^e)` (e odd, below 2N).
    pub(crate) fn index_of(&self, e: usize) -> u32 {
        self.index[e]
    }

    /// Permutation `perm` with `(σ_k a)[j] = a[perm[j]]` on evaluations.
    pub fn permutation(&self, k: u64) -> Vec<u32> {
        let two_n = self.index.len() as u64;
        self.exponent.iter().map(|&e| self.index[((e as u64 * k) % two_n) as usize]).collect()
    }
}

/// The NTT of the monomial X: slot j holds `ψ^{e_j}`, and slot 0 the root
/// `ψ` that defines the exponents.
pub(crate) fn monomial_evaluations(n: usize, ntt: &NttTable) -> Vec<u64> {
    let mut x = vec![0u64; n];
    x[1] = 1;
    ntt.forward(&mut x);
    x
}

/// Applies `σ_k` to one limb of evaluations: `out[j] = a[perm[j]]`.
#[inline]
pub fn permute(a: &[u64], perm: &[u32], out: &mut [u64]) {
    for (o, &p) in out.iter_mut().zip(perm) {
        *o = a[p as usize];
    }
}
