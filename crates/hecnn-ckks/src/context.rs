//! The precomputed state of one parameter set: NTT plans, the evaluation
//! order, basis converters for every level and digit, rescaling constants.
//! Built once, shared behind an `Arc` by keys, encoders and evaluators.

use crate::error::{CkksError, Result};
use crate::params::Parameters;
use crate::ring::automorphism::{permute, EvaluationOrder};
use crate::ring::basis::BasisConverter;
use crate::ring::ntt::NttTable;
use crate::ring::subring::SubringNtt;
use crate::ring::{Modulus, RnsPoly};
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// ModUp tables for one digit at one level.
#[derive(Debug)]
pub(crate) struct DigitTables {
    /// Q-limb indices of this digit (contiguous).
    pub start: usize,
    pub end: usize,
    /// Converter from the digit primes to every other limb of Q_l ∪ P, in
    /// limb order.
    pub conv: BasisConverter,
}

/// Tables for ciphertexts at one level l (l+1 ciphertext primes).
#[derive(Debug)]
pub(crate) struct LevelTables {
    /// `q_l^{-1} mod q_i` (+ Shoup) for i < l, used by rescale.
    pub rescale_inv: Vec<(u64, u64)>,
    /// Digits present at this level.
    pub digits: Vec<DigitTables>,
    /// P → Q_l converter for ModDown.
    pub mod_down: BasisConverter,
    /// `P^{-1} mod q_i` (+ Shoup), i ≤ l.
    pub p_inv: Vec<(u64, u64)>,
    /// {q_l} ∪ P → Q_{l−1} converter: ModDown and rescale in one step
    /// (l ≥ 1 only).
    pub mod_down_rescale: Option<BasisConverter>,
    /// `(P·q_l)^{-1} mod q_i` (+ Shoup), i < l.
    pub pq_inv: Vec<(u64, u64)>,
}

/// Shared precomputation for one parameter set.
pub struct Context {
    params: Parameters,
    fingerprint: u64,
    n: usize,
    /// q_0..q_L then p_0..p_{k-1}.
    moduli: Vec<Modulus>,
    ntt: Vec<NttTable>,
    order: EvaluationOrder,
    levels: Vec<LevelTables>,
    /// `P mod q_i` for every ciphertext prime (gadget of the switching keys).
    pub(crate) p_mod_q: Vec<u64>,
    galois_perms: RwLock<HashMap<u64, Arc<Vec<u32>>>>,
    /// Size-s NTT tables for subring polynomials, by s (built on first use;
    /// `None` where a size has no plan).
    subrings: RwLock<HashMap<usize, Option<Arc<SubringNtt>>>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("params", &self.params.name()).field("n", &self.n).finish()
    }
}

impl Context {
    /// Builds the context. Refuses insecure parameters unless they were made
    /// by [`Parameters::insecure_for_tests`].
    pub fn new(params: Parameters) -> Result<Arc<Self>> {
        params.validate()?;
        if !params.is_insecure() {
            params.check_security()?;
        }
        let n = params.n();
        let moduli: Vec<Modulus> = params.q().iter().chain(params.p()).map(|&q| Modulus::new(q)).collect();
        let ntt: Vec<NttTable> = moduli
            .par_iter()
            .map(|m| NttTable::new(n, m))
            .collect::<Option<_>>()
            .ok_or_else(|| CkksError::InvalidParameters("a prime is not NTT-friendly for this N".into()))?;
        let pairs: Vec<(Modulus, &NttTable)> = moduli.iter().copied().zip(ntt.iter()).collect();
        let order = EvaluationOrder::learn(n, &pairs)
            .ok_or_else(|| CkksError::InvalidParameters("NTT evaluation order not recognised".into()))?;
        let num_q = params.q().len();
        let qs = &moduli[..num_q];
        let ps = &moduli[num_q..];
        let digit_ranges = params.digit_ranges();
        let levels = (0..num_q)
            .into_par_iter()
            .map(|l| {
                let ql = &qs[..=l];
                let rescale_inv = (0..l)
                    .map(|i| {
                        let inv = qs[i].inv(qs[i].reduce(qs[l].value));
                        (inv, qs[i].shoup(inv))
                    })
                    .collect();
                // The digits present at level l, the top one cut at l + 1.
                let digits = digit_ranges
                    .iter()
                    .take_while(|r| r.start <= l)
                    .map(|r| {
                        let (start, end) = (r.start, r.end.min(l + 1));
                        let dst: Vec<Modulus> = ql
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| *i < start || *i >= end)
                            .map(|(_, m)| *m)
                            .chain(ps.iter().copied())
                            .collect();
                        DigitTables { start, end, conv: BasisConverter::new(&qs[start..end], &dst, n) }
                    })
                    .collect();
                let p_inv = ql
                    .iter()
                    .map(|qi| {
                        let prod = ps.iter().fold(1u64, |acc, p| qi.mul(acc, qi.reduce(p.value)));
                        let inv = qi.inv(prod);
                        (inv, qi.shoup(inv))
                    })
                    .collect();
                let (mod_down_rescale, pq_inv) = if l == 0 {
                    (None, Vec::new())
                } else {
                    let src: Vec<Modulus> = std::iter::once(qs[l]).chain(ps.iter().copied()).collect();
                    let pq_inv = qs[..l]
                        .iter()
                        .map(|qi| {
                            let prod = src.iter().fold(1u64, |acc, p| qi.mul(acc, qi.reduce(p.value)));
                            let inv = qi.inv(prod);
                            (inv, qi.shoup(inv))
                        })
                        .collect();
                    (Some(BasisConverter::new(&src, &qs[..l], n)), pq_inv)
                };
                LevelTables {
                    rescale_inv,
                    digits,
                    mod_down: BasisConverter::new(ps, ql, n),
                    p_inv,
                    mod_down_rescale,
                    pq_inv,
                }
            })
            .collect();
        let p_mod_q = qs.iter().map(|qi| ps.iter().fold(1u64, |acc, p| qi.mul(acc, qi.reduce(p.value)))).collect();
        Ok(Arc::new(Self {
            fingerprint: params.fingerprint(),
            params,
            n,
            moduli,
            ntt,
            order,
            levels,
            p_mod_q,
            galois_perms: RwLock::new(HashMap::new()),
            subrings: RwLock::new(HashMap::new()),
        }))
    }

    /// The parameter set.
    pub fn params(&self) -> &Parameters {
        &self.params
    }

    /// Fingerprint of the parameters (stamped on every object).
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// Fails with `ParameterMismatch` unless `found` is this context's fingerprint.
    pub fn check_fingerprint(&self, found: u64) -> Result<()> {
        if found != self.fingerprint {
            return Err(CkksError::ParameterMismatch { expected: self.fingerprint, found });
        }
        Ok(())
    }

    /// Ring degree N.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Highest level L.
    pub fn max_level(&self) -> usize {
        self.params.q().len() - 1
    }

    /// Number of special primes.
    pub fn num_p(&self) -> usize {
        self.params.p().len()
    }

    /// All moduli: q_0..q_L then p_0..p_{k-1}.
    pub fn moduli(&self) -> &[Modulus] {
        &self.moduli
    }

    /// Context index of limb `limb` of a polynomial with `num_q` Q-limbs.
    #[inline]
    pub(crate) fn mod_index(&self, num_q: usize, limb: usize) -> usize {
        if limb < num_q {
            limb
        } else {
            self.params.q().len() + (limb - num_q)
        }
    }

    /// Modulus of limb `limb` of a polynomial with `num_q` Q-limbs.
    #[inline]
    pub(crate) fn limb_modulus(&self, num_q: usize, limb: usize) -> &Modulus {
        &self.moduli[self.mod_index(num_q, limb)]
    }

    #[inline]
    pub(crate) fn limb_ntt(&self, num_q: usize, limb: usize) -> &NttTable {
        &self.ntt[self.mod_index(num_q, limb)]
    }

    pub(crate) fn level_tables(&self, level: usize) -> &LevelTables {
        &self.levels[level]
    }

    /// Galois element of a left rotation by `steps` slots (5^steps mod 2N).
    pub fn galois_element(&self, steps: i64) -> u64 {
        let half = (self.n / 2) as i64;
        let r = steps.rem_euclid(half) as u64;
        let two_n = 2 * self.n as u64;
        (0..r).fold(1u64, |g, _| g * 5 % two_n)
    }

    /// Galois element of complex conjugation (X → X^{-1}).
    pub fn conjugation_element(&self) -> u64 {
        2 * self.n as u64 - 1
    }

    /// NTT-domain permutation of `X → X^k`, cached.
    pub(crate) fn galois_permutation(&self, k: u64) -> Arc<Vec<u32>> {
        if let Some(p) = self.galois_perms.read().expect("no poisoning").get(&k) {
            return p.clone();
        }
        let p = Arc::new(self.order.permutation(k));
        self.galois_perms.write().expect("no poisoning").insert(k, p.clone());
        p
    }

    /// Tables for NTTs of polynomials in `Z[X^{N/s}]` (cached), or `None`
    /// where size s has no plan for every prime.
    pub(crate) fn subring_ntt(&self, s: usize) -> Option<Arc<SubringNtt>> {
        if let Some(t) = self.subrings.read().expect("no poisoning").get(&s) {
            return t.clone();
        }
        let t = SubringNtt::new(s, self.n, &self.moduli, &self.ntt, &self.order).map(Arc::new);
        self.subrings.write().expect("no poisoning").insert(s, t.clone());
        t
    }

    /// NTT form of `m(X) = m'(X^{N/s})` from the residues of `m'` (coefficient
    /// form, s per limb): one size-s NTT and s run fills per limb.
    pub(crate) fn subring_forward(&self, tables: &SubringNtt, small: &mut RnsPoly) -> RnsPoly {
        let (n, s, nq) = (self.n, tables.size(), small.num_q);
        debug_assert!(!small.ntt && small.n == s);
        let mut out = RnsPoly::uninit(n, nq, small.num_p, true);
        out.data.par_chunks_mut(n).zip(small.data.par_chunks_mut(s)).enumerate().for_each(|(i, (o, x))| {
            tables.forward(self.mod_index(nq, i), x, o);
        });
        out
    }

    // ---- polynomial operations (all limbs in parallel) ----

    /// Coefficients → evaluations.
    pub fn ntt_forward(&self, a: &mut RnsPoly) {
        debug_assert!(!a.ntt);
        let (n, nq) = (a.n, a.num_q);
        a.data.par_chunks_mut(n).enumerate().for_each(|(i, l)| self.limb_ntt(nq, i).forward(l));
        a.ntt = true;
    }

    /// Evaluations → coefficients.
    pub fn ntt_inverse(&self, a: &mut RnsPoly) {
        debug_assert!(a.ntt);
        let (n, nq) = (a.n, a.num_q);
        a.data.par_chunks_mut(n).enumerate().for_each(|(i, l)| self.limb_ntt(nq, i).inverse(l));
        a.ntt = false;
    }

    /// `a += b` (same form; `b` may have more Q limbs, see `zip_limbs`).
    pub fn add_assign(&self, a: &mut RnsPoly, b: &RnsPoly) {
        self.zip_limbs(a, b, |m, x, y| *x = m.add(*x, y));
    }

    /// `a -= b`.
    pub fn sub_assign(&self, a: &mut RnsPoly, b: &RnsPoly) {
        self.zip_limbs(a, b, |m, x, y| *x = m.sub(*x, y));
    }

    /// `acc += a ⊙ b` pointwise (all in NTT form, `acc` and `a` of the same
    /// shape; `b` may have more Q limbs), one reduction per residue.
    pub fn mul_add_assign(&self, acc: &mut RnsPoly, a: &RnsPoly, b: &RnsPoly) {
        debug_assert!(acc.ntt && a.ntt && b.ntt);
        debug_assert!(acc.num_q == a.num_q && acc.num_p == a.num_p && acc.num_p == b.num_p);
        debug_assert!(if b.num_p == 0 { b.num_q >= a.num_q } else { b.num_q == a.num_q });
        let (n, nq) = (acc.n, acc.num_q);
        acc.data.par_chunks_mut(n).zip(a.data.par_chunks(n)).zip(b.data.par_chunks(n)).enumerate().for_each(
            |(i, ((x, y), z))| {
                crate::ring::modulus::mul_add_slice(self.limb_modulus(nq, i), x, y, z);
            },
        );
    }

    /// `a *= b` pointwise (both in NTT form).
    pub fn mul_assign(&self, a: &mut RnsPoly, b: &RnsPoly) {
        debug_assert!(a.ntt && b.ntt);
        debug_assert!(a.num_p == b.num_p);
        debug_assert!(if a.num_p == 0 { b.num_q >= a.num_q } else { b.num_q == a.num_q });
        let (n, nq) = (a.n, a.num_q);
        a.data.par_chunks_mut(n).zip(b.data.par_chunks(n)).enumerate().for_each(|(i, (x, y))| {
            crate::ring::modulus::mul_slice(self.limb_modulus(nq, i), x, y);
        });
    }

    /// `a = -a`.
    pub fn neg_assign(&self, a: &mut RnsPoly) {
        let (n, nq) = (a.n, a.num_q);
        a.data.par_chunks_mut(n).enumerate().for_each(|(i, l)| {
            let m = self.limb_modulus(nq, i);
            l.iter_mut().for_each(|x| *x = m.neg(*x));
        });
    }

    /// Multiplies limb i by the constant `c[i]` (already reduced mod that limb's prime).
    pub fn mul_limb_constants(&self, a: &mut RnsPoly, c: &[u64]) {
        let (n, nq) = (a.n, a.num_q);
        a.data.par_chunks_mut(n).zip(c.par_iter()).enumerate().for_each(|(i, (l, &w))| {
            let m = self.limb_modulus(nq, i);
            let ws = m.shoup(w);
            l.iter_mut().for_each(|x| *x = m.mul_shoup(*x, w, ws));
        });
    }

    /// Applies `X → X^k` to a polynomial in NTT form.
    pub fn automorphism(&self, a: &RnsPoly, k: u64) -> RnsPoly {
        debug_assert!(a.ntt);
        let perm = self.galois_permutation(k);
        let mut out = RnsPoly::uninit(a.n, a.num_q, a.num_p, true);
        out.data.par_chunks_mut(a.n).zip(a.data.par_chunks(a.n)).for_each(|(o, x)| permute(x, &perm, o));
        out
    }

    /// Lifts small signed coefficients to every limb of an NTT-form polynomial.
    pub fn poly_from_signed(&self, coeffs: &[i64], num_q: usize, num_p: usize) -> RnsPoly {
        let mut p = RnsPoly::uninit(self.n, num_q, num_p, false);
        p.data.par_chunks_mut(self.n).enumerate().for_each(|(i, l)| {
            let m = self.limb_modulus(num_q, i);
            for (x, &c) in l.iter_mut().zip(coeffs) {
                *x = m.from_i64(c);
            }
        });
        self.ntt_forward(&mut p);
        p
    }

    /// `f` on the limbs of `a` and the matching limbs of `b`. `b` may sit at
    /// a higher level than `a` (no special limbs): only its first
    /// `a.num_q` limbs are read, which is exactly "dropping" it, with no copy.
    fn zip_limbs(&self, a: &mut RnsPoly, b: &RnsPoly, f: impl Fn(&Modulus, &mut u64, u64) + Sync) {
        debug_assert!(a.ntt == b.ntt && a.num_p == b.num_p);
        debug_assert!(if a.num_p == 0 { b.num_q >= a.num_q } else { b.num_q == a.num_q });
        let (n, nq) = (a.n, a.num_q);
        a.data.par_chunks_mut(n).zip(b.data.par_chunks(n)).enumerate().for_each(|(i, (x, y))| {
            let m = self.limb_modulus(nq, i);
            for (xx, &yy) in x.iter_mut().zip(y) {
                f(m, xx, yy);
            }
        });
    }
}
