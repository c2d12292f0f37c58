//! Key generation (client side, feature `client`): the public key, the
//! relinearization and Galois keys from a secret key, and the check that a
//! secret key belongs with a relinearization key read from disk.
//!
//! Every temporary that is equivalent to the secret (products `a·s`,
//! powers and automorphisms of `s`) is wiped before its buffer returns to
//! the pool.

use crate::context::Context;
use crate::error::{CkksError, Result};
use crate::keys::public::{GaloisKeys, PublicKey, RelinKey};
use crate::keys::secret::SecretKey;
use crate::keys::switching::{digits_at, SwitchingKey};
use crate::ring::sampling::{gaussian, os_seed, seeded_rng, wipe_rng, ERROR_BOUND};
use crate::ring::RnsPoly;
use rayon::prelude::*;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

impl PublicKey {
    /// Derives the public key of `sk`.
    pub fn generate(sk: &SecretKey) -> Self {
        let ctx = &sk.ctx;
        let seed = os_seed();
        let a = Self::expand_a(ctx, &seed);
        let mut rng = seeded_rng(&os_seed(), 0);
        let e = Zeroizing::new(gaussian(&mut rng, ctx.n()));
        wipe_rng(&mut rng);
        let mut b = ctx.poly_from_signed(&e, ctx.max_level() + 1, ctx.num_p());
        let mut as_ = Zeroizing::new(a.clone());
        ctx.mul_assign(&mut as_, &sk.ntt);
        ctx.sub_assign(&mut b, &as_);
        Self { b, a, seed, fingerprint: ctx.fingerprint(), key_set: sk.key_set }
    }
}

impl RelinKey {
    /// Generates the relinearization key of `sk`.
    pub fn generate(sk: &SecretKey) -> Self {
        let ctx = &sk.ctx;
        let mut s2 = Zeroizing::new(sk.ntt.clone());
        ctx.mul_assign(&mut s2, &sk.ntt);
        let key = switching_key(ctx, sk, &s2, os_seed(), ctx.max_level());
        Self { key, fingerprint: ctx.fingerprint(), key_set: sk.key_set }
    }
}

impl GaloisKeys {
    /// Keys for left rotations by each of `steps` and, if asked, conjugation.
    pub fn generate(sk: &SecretKey, steps: &[i64], conjugation: bool) -> Self {
        let ctx = &sk.ctx;
        let mut elements: Vec<u64> = steps.iter().map(|&s| ctx.galois_element(s)).collect();
        if conjugation {
            elements.push(ctx.conjugation_element());
        }
        Self::generate_elements(sk, &elements)
    }

    /// Keys for the given Galois elements (odd, < 2N).
    pub fn generate_elements(sk: &SecretKey, elements: &[u64]) -> Self {
        let top = sk.ctx.max_level();
        let at: Vec<(u64, usize)> = elements.iter().map(|&g| (g, top)).collect();
        Self::generate_at_levels(sk, &at)
    }

    /// Keys for Galois elements, each cut to the highest level it will be
    /// used at: `(element, level)` pairs (an element listed twice gets the
    /// higher level). A key at level l holds the l + 1 ciphertext limbs and
    /// the digits present there, so keys used low in the chain are a
    /// fraction of a full one.
    pub fn generate_at_levels(sk: &SecretKey, elements: &[(u64, usize)]) -> Self {
        let ctx = &sk.ctx;
        let mut wanted: BTreeMap<u64, usize> = BTreeMap::new();
        for &(g, level) in elements {
            if g != 1 {
                let l = wanted.entry(g).or_insert(0);
                *l = (*l).max(level.min(ctx.max_level()));
            }
        }
        let keys = wanted
            .into_iter()
            .map(|(g, level)| {
                let s_rot = Zeroizing::new(ctx.automorphism(&sk.ntt, g));
                (g, switching_key(ctx, sk, &s_rot, os_seed(), level))
            })
            .collect();
        Self { keys, fingerprint: ctx.fingerprint(), key_set: sk.key_set }
    }
}

/// The switching key from `s'` (NTT over all of Q·P of `ctx`) to `sk`,
/// covering levels `0..=level`: for each digit j present at that level,
/// `b_j = −a_j·s + e_j + P·[digit j]·s'` over Q_level·P.
pub(crate) fn switching_key(
    ctx: &Context,
    sk: &SecretKey,
    s_from: &RnsPoly,
    seed: [u8; 32],
    level: usize,
) -> SwitchingKey {
    let n = ctx.n();
    let num_q = level + 1;
    let num_p = ctx.num_p();
    let digits = &ctx.params().digit_ranges()[..digits_at(ctx, level)];
    let mut b = Vec::with_capacity(digits.len());
    let mut err_rng = seeded_rng(&os_seed(), 0);
    let s_cut = Zeroizing::new(sk.ntt.prefix(num_q));
    for (j, digit) in digits.iter().enumerate() {
        let e = Zeroizing::new(gaussian(&mut err_rng, n));
        let mut bj = ctx.poly_from_signed(&e, num_q, num_p);
        // − a_j·s limb by limb, each `a_j` limb generated where it is used
        // (the key keeps only the seed).
        bj.data.par_chunks_mut(n).zip(s_cut.data.par_chunks(n)).enumerate().for_each_init(
            || vec![0u64; n],
            |a, (i, (x, s))| {
                let global = ctx.mod_index(num_q, i);
                let m = ctx.moduli()[global];
                SwitchingKey::a_stream(ctx, &seed, j, global).fill(a);
                for ((x, &a), &s) in x.iter_mut().zip(a.iter()).zip(s) {
                    *x = m.sub(*x, m.mul(a, s));
                }
            },
        );
        // + P·s' on the limbs of digit j (cut at the key's level).
        for i in digit.start..digit.end.min(num_q) {
            let m = ctx.moduli()[i];
            let pm = ctx.p_mod_q[i];
            let src = &s_from.data[i * n..(i + 1) * n];
            for (x, &s) in bj.limb_mut(i).iter_mut().zip(src) {
                *x = m.add(*x, m.mul(pm, s));
            }
        }
        b.push(bj);
    }
    wipe_rng(&mut err_rng);
    SwitchingKey::new(b, seed)
}

impl SecretKey {
    /// Checks that `rlk` is this secret's relinearization key before the
    /// secret is used with files that came with it: same parameters, same
    /// key set, and `b_0 + a_0·s − P·s²` small (the key's own error) on q_0.
    /// A secret key from another key set fails the last test with
    /// overwhelming probability even if its header was rewritten.
    pub fn check_relin_key(&self, rlk: &RelinKey) -> Result<()> {
        let ctx = &self.ctx;
        ctx.check_fingerprint(rlk.fingerprint)?;
        if rlk.key_set != self.key_set {
            return Err(CkksError::KeySetMismatch { expected: self.key_set, found: rlk.key_set });
        }
        let key = &rlk.key;
        if key.b.is_empty() {
            return Err(CkksError::KeyCheck("empty relinearization key".into()));
        }
        let n = ctx.n();
        let m = ctx.moduli()[0];
        let ntt = ctx.limb_ntt(ctx.max_level() + 1, 0);
        let s = &self.ntt.data[..n];
        let pm = ctx.p_mod_q[0];
        let mut a0 = vec![0u64; n];
        SwitchingKey::a_stream(ctx, &key.seed, 0, 0).fill(&mut a0);
        let mut e = Zeroizing::new(vec![0u64; n]);
        for (i, x) in e.iter_mut().enumerate() {
            let s2 = m.mul(s[i], s[i]);
            let v = m.add(key.b[0].data[i], m.mul(a0[i], s[i]));
            *x = m.sub(v, m.mul(pm, s2));
        }
        ntt.inverse(&mut e);
        let half = m.value / 2;
        let worst = e.iter().map(|&x| if x > half { m.value - x } else { x }).max().unwrap_or(0);
        if worst > ERROR_BOUND as u64 {
            return Err(CkksError::KeyCheck(format!(
                "relinearization key error reaches {worst} (a matching key stays within {ERROR_BOUND})"
            )));
        }
        Ok(())
    }
}
