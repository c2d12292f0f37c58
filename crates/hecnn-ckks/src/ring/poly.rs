//! RNS polynomials: one limb of N residues per prime, limb-major in memory.

use zeroize::Zeroize;

/// A polynomial of `Z[X]/(X^N+1)` in RNS form.
///
/// Limbs are `q_0..q_{num_q-1}` followed, when `num_p > 0`, by the special
/// primes `p_0..p_{num_p-1}` (the extended basis used inside key switching).
#[derive(Debug, PartialEq, Eq)]
pub struct RnsPoly {
    pub(crate) n: usize,
    pub(crate) num_q: usize,
    pub(crate) num_p: usize,
    pub(crate) ntt: bool,
    pub(crate) data: Vec<u64>,
}

impl RnsPoly {
    /// The zero polynomial over `num_q` ciphertext primes and `num_p` special primes.
    pub fn zero(n: usize, num_q: usize, num_p: usize, ntt: bool) -> Self {
        Self { n, num_q, num_p, ntt, data: super::pool::take_zeroed(n * (num_q + num_p)) }
    }

    /// A polynomial whose every residue the caller will overwrite (contents
    /// unspecified, skips zero-filling).
    pub(crate) fn uninit(n: usize, num_q: usize, num_p: usize, ntt: bool) -> Self {
        Self { n, num_q, num_p, ntt, data: super::pool::take(n * (num_q + num_p)) }
    }

    /// Ring degree N.
    pub fn degree(&self) -> usize {
        self.n
    }

    /// Number of ciphertext-prime limbs (level + 1).
    pub fn num_q(&self) -> usize {
        self.num_q
    }

    /// Number of special-prime limbs.
    pub fn num_p(&self) -> usize {
        self.num_p
    }

    /// Total number of limbs.
    pub fn num_limbs(&self) -> usize {
        self.num_q + self.num_p
    }

    /// Whether limbs hold NTT evaluations (true) or coefficients (false).
    pub fn is_ntt(&self) -> bool {
        self.ntt
    }

    /// Limb `i` (read-only).
    #[inline]
    pub fn limb(&self, i: usize) -> &[u64] {
        &self.data[i * self.n..(i + 1) * self.n]
    }

    /// Limb `i` (mutable).
    #[inline]
    pub fn limb_mut(&mut self, i: usize) -> &mut [u64] {
        &mut self.data[i * self.n..(i + 1) * self.n]
    }

    /// Drops ciphertext limbs above `num_q` (exact: a value mod Q_l is also
    /// valid mod any Q_j, j < l). Only for polynomials without special limbs.
    pub fn truncate_q(&mut self, num_q: usize) {
        debug_assert!(self.num_p == 0 && num_q <= self.num_q);
        self.data.truncate(num_q * self.n);
        self.num_q = num_q;
    }

    /// A copy of the first `num_q` ciphertext limbs and every special limb:
    /// the value at a lower level (over Q_l·P when it has special limbs),
    /// copying only what is kept.
    pub fn prefix(&self, num_q: usize) -> RnsPoly {
        debug_assert!(num_q <= self.num_q);
        let n = self.n;
        let mut data = super::pool::take((num_q + self.num_p) * n);
        data[..num_q * n].copy_from_slice(&self.data[..num_q * n]);
        data[num_q * n..].copy_from_slice(&self.data[self.num_q * n..]);
        RnsPoly { n, num_q, num_p: self.num_p, ntt: self.ntt, data }
    }

    /// Raw residues, limb-major.
    pub fn data(&self) -> &[u64] {
        &self.data
    }
}

impl Clone for RnsPoly {
    fn clone(&self) -> Self {
        let mut data = super::pool::take(self.data.len());
        data.copy_from_slice(&self.data);
        Self { n: self.n, num_q: self.num_q, num_p: self.num_p, ntt: self.ntt, data }
    }
}

impl Drop for RnsPoly {
    fn drop(&mut self) {
        super::pool::give(std::mem::take(&mut self.data));
    }
}

impl Zeroize for RnsPoly {
    fn zeroize(&mut self) {
        self.data.zeroize();
    }
}
