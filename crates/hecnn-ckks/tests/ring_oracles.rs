//! Independent oracles for the ring layer (issue 13, item 9).
//!
//! Every expected value in this file is computed by code written here and
//! nowhere else: schoolbook negacyclic products, polynomial evaluation and
//! coefficient permutations in `u128`, and CRT reconstruction, reduction and
//! rounded division in `num_bigint::BigUint`. Nothing of the library's
//! modular arithmetic (`Modulus`: Barrett, Shoup), its NTT plans, evaluation
//! order or basis-conversion tables is used to compute an expectation: the
//! library only supplies the primes (from real parameter sets) and the
//! results under test.
//!
//! Relations asserted (x is a coefficient, as an integer):
//!
//! * NTT: `ntt_inverse(ntt_forward(a) ⊙ ntt_forward(b)) = a·b mod (X^N+1, q)`
//!   exactly; `ntt_forward(a)[j] = a(r_j)` for N distinct roots r_j of
//!   X^N + 1 mod q; `ntt_inverse ∘ ntt_forward = id`.
//! * Automorphism `X → X^k` (k odd): coefficient i moves to i·k mod 2N,
//!   negated when i·k mod 2N ≥ N.
//! * `BasisConverter` (source product D, target prime t): the output is the
//!   *centred* representative `[x]_D ∈ (−D/2, D/2)` reduced mod t — exact,
//!   not the "fast" `x + u·D` conversion — except where `|x/D − 1/2| <
//!   2^-40`: there the f64 estimate of the correction count may round either
//!   way, and `x mod t` (u = 0) is equally allowed. See [`converted`].
//! * ModUp (`decompose`): digit j over Q_l·P holds the digit's own residues
//!   unchanged and, on every other limb, the converter relation above for
//!   `x mod D_j` (D_j = product of the digit's primes).
//! * ModDown (`mod_down`), fused ModDown+rescale (`mod_down_rescale`): the
//!   result is `round(x / D) mod q_i` (D = P, resp. q_l·P), exact unless the
//!   fraction of x/D is within 2^-40 of 1/2, where floor or ceil is allowed:
//!   error bound `|result − x/D| ≤ 1/2 + 2^-40`.
//! * Rescale: `round(x / q_l) mod q_i`, exact for every input (the centring
//!   of the last residue is integer arithmetic, no estimate).
//!
//! Each of these deliberate bugs, injected one at a time, made at least one
//! test here fail: one forward-NTT output off by one; the inverse NTT
//! without its 1/N; the converter's correction `round` → `floor` (the
//! "fast" conversion); N−1 instead of N in the unnormalized converter
//! factor; a wrong prime skipped in the `(Q/q_i) mod t` table; `>=` instead
//! of `>` in `Modulus::center` (caught only by the rescale edge inputs); the
//! Galois permutation of k² instead of k; `P^{-1}` instead of `(q_l·P)^{-1}`
//! in the fused ModDown+rescale; an off-by-one in ModUp's NTT limb filter.

use hecnn_ckks::keys::switching::{decompose, mod_down, mod_down_rescale};
use hecnn_ckks::ring::basis::BasisConverter;
use hecnn_ckks::ring::RnsPoly;
use hecnn_ckks::{Context, Encoder, Encryptor, Evaluator, Parameters, PublicKey, SecretKey};
use num_bigint::BigUint;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::sync::Arc;

// ---------------------------------------------------------------------------
// Oracle arithmetic: u128 and BigUint only.
// ---------------------------------------------------------------------------

fn mulmod(a: u64, b: u64, q: u64) -> u64 {
    ((a as u128 * b as u128) % q as u128) as u64
}

fn powmod(mut a: u64, mut e: u64, q: u64) -> u64 {
    let mut r = 1 % q;
    a %= q;
    while e > 0 {
        if e & 1 == 1 {
            r = mulmod(r, a, q);
        }
        a = mulmod(a, a, q);
        e >>= 1;
    }
    r
}

/// `a·b` in `Z_q[X]/(X^N+1)` by the definition: `X^N = −1`, so the term of
/// degree `i+j ≥ N` lands on degree `i+j−N` with a minus sign.
fn negacyclic_schoolbook(a: &[u64], b: &[u64], q: u64) -> Vec<u64> {
    let n = a.len();
    let qq = q as u128;
    // Each product is reduced below q < 2^61, so N ≤ 2^10 of them fit in u128.
    let mut pos = vec![0u128; n];
    let mut neg = vec![0u128; n];
    for (i, &ai) in a.iter().enumerate() {
        if ai == 0 {
            continue;
        }
        for (j, &bj) in b.iter().enumerate() {
            let p = (ai as u128 * bj as u128) % qq;
            if i + j < n {
                pos[i + j] += p;
            } else {
                neg[i + j - n] += p;
            }
        }
    }
    pos.iter().zip(&neg).map(|(&p, &m)| ((p % qq + qq - m % qq) % qq) as u64).collect()
}

/// `a(r) mod q` by Horner's rule.
fn evaluate(a: &[u64], r: u64, q: u64) -> u64 {
    a.iter().rev().fold(0u64, |acc, &c| ((mulmod(acc, r, q) as u128 + c as u128) % q as u128) as u64)
}

/// `a(X^k)` in `Z_q[X]/(X^N+1)`: coefficient i goes to `i·k mod 2N`, negated
/// when that is ≥ N (X^N = −1).
fn automorphism_oracle(a: &[u64], k: u64, q: u64) -> Vec<u64> {
    let n = a.len();
    let two_n = 2 * n as u64;
    let mut out = vec![u64::MAX; n];
    for (i, &c) in a.iter().enumerate() {
        let e = (i as u64 * k % two_n) as usize;
        if e < n {
            out[e] = c;
        } else {
            out[e - n] = (q - c) % q;
        }
    }
    assert!(out.iter().all(|&c| c != u64::MAX), "X → X^{k} is not a bijection on the coefficients");
    out
}

fn big(x: u64) -> BigUint {
    BigUint::from(x)
}

fn product(primes: &[u64]) -> BigUint {
    primes.iter().fold(big(1), |acc, &q| acc * q)
}

fn residue(x: &BigUint, q: u64) -> u64 {
    u64::try_from(&(x % q)).expect("a residue is below q")
}

/// CRT over a list of pairwise coprime moduli, with its own constants.
struct Crt {
    primes: Vec<u64>,
    m: BigUint,
    /// `(M/q_i) · [(M/q_i)^{-1}]_{q_i}`: 1 mod q_i, 0 mod the others.
    lift: Vec<BigUint>,
}

impl Crt {
    fn new(primes: &[u64]) -> Self {
        let m = product(primes);
        let lift = primes
            .iter()
            .map(|&q| {
                let mi = &m / q;
                let mi_mod = residue(&mi, q);
                let inv = powmod(mi_mod, q - 2, q);
                assert_eq!(mulmod(mi_mod, inv, q), 1, "{q} is not coprime to the others or not prime");
                mi * inv
            })
            .collect();
        Self { primes: primes.to_vec(), m, lift }
    }

    /// The x ∈ [0, M) with the given residues.
    fn reconstruct(&self, residues: &[u64]) -> BigUint {
        assert_eq!(residues.len(), self.primes.len());
        let sum = residues.iter().zip(&self.lift).fold(big(0), |acc, (&r, l)| acc + l * r);
        sum % &self.m
    }

    fn residues(&self, x: &BigUint) -> Vec<u64> {
        self.primes.iter().map(|&q| residue(x, q)).collect()
    }
}

/// Whether `|r/D − 1/2| < 2^-40`, i.e. `|2r − D| · 2^39 < D`: the window in
/// which the converter's f64 correction estimate is allowed to round either
/// way (its error is below s·(s+3)·2^-53 < 2^-42 for s ≤ 32 source primes).
fn near_half(r: &BigUint, d: &BigUint) -> bool {
    let two_r: BigUint = r << 1u32;
    let diff = if &two_r > d { two_r - d } else { d - two_r };
    (diff << 39u32) < *d
}

/// What the converter may output mod t for `x ∈ [0, D)`: the centred
/// representative (`x` if `x < D/2`, `x − D` otherwise) mod t; near D/2 also
/// the other one.
fn converted(x: &BigUint, d: &BigUint, t: u64) -> Vec<u64> {
    assert!(x < d);
    let plain = residue(x, t);
    let minus_d = (plain + t - residue(d, t)) % t;
    let centred = if (x << 1u32) > *d { minus_d } else { plain };
    if near_half(x, d) {
        vec![centred, if centred == plain { minus_d } else { plain }]
    } else {
        vec![centred]
    }
}

/// What a divide-and-round may output mod t: `round(x/D)` (D odd: no ties),
/// and near a half also the other neighbour of x/D.
fn rounded_quotient(x: &BigUint, d: &BigUint, t: u64) -> Vec<u64> {
    let floor = x / d;
    let r = x % d;
    let round = (((x << 1u32) + d) / (d << 1u32)) % t;
    let round = u64::try_from(&round).expect("reduced");
    if near_half(&r, d) {
        let f = residue(&floor, t);
        vec![round, if round == f { (f + 1) % t } else { f }]
    } else {
        vec![round]
    }
}

fn check_limb(got: &[u64], want: &[u64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    if let Some(i) = got.iter().zip(want).position(|(g, w)| g != w) {
        panic!("{what}: coefficient {i} is {} but the oracle says {}", got[i], want[i]);
    }
}

// ---------------------------------------------------------------------------
// Plumbing: moving residues in and out of RnsPoly.
// ---------------------------------------------------------------------------

/// Primes of the limbs of a polynomial with `num_q` Q-limbs and `num_p`
/// special limbs, read from the parameter set.
fn limb_primes(ctx: &Context, num_q: usize, num_p: usize) -> Vec<u64> {
    let p = ctx.params();
    p.q()[..num_q].iter().chain(&p.p()[..num_p]).copied().collect()
}

fn poly(n: usize, num_q: usize, num_p: usize, limbs: &[Vec<u64>]) -> RnsPoly {
    let mut p = RnsPoly::zero(n, num_q, num_p, false);
    assert_eq!(limbs.len(), num_q + num_p);
    for (i, l) in limbs.iter().enumerate() {
        p.limb_mut(i).copy_from_slice(l);
    }
    p
}

/// Residues of a polynomial, one vector per limb.
type Limbs = Vec<Vec<u64>>;

fn limbs(p: &RnsPoly) -> Limbs {
    (0..p.num_limbs()).map(|i| p.limb(i).to_vec()).collect()
}

/// Coefficient-form limbs for the integers `xs` (one per coefficient).
fn limbs_of(xs: &[BigUint], primes: &[u64]) -> Vec<Vec<u64>> {
    primes.iter().map(|&q| xs.iter().map(|x| residue(x, q)).collect()).collect()
}

/// N uniform integers in [0, M) (uniform residues = uniform x by CRT), with
/// `edges` written over the first coefficients.
fn inputs(rng: &mut StdRng, crt: &Crt, n: usize, edges: &[BigUint]) -> Vec<BigUint> {
    assert!(edges.len() <= n);
    (0..n)
        .map(|c| match edges.get(c) {
            Some(x) => {
                assert!(x < &crt.m, "edge input out of range");
                x.clone()
            }
            None => {
                let r: Vec<u64> = crt.primes.iter().map(|&q| rng.random_range(0..q)).collect();
                crt.reconstruct(&r)
            }
        })
        .collect()
}

/// Inputs near the boundaries of a conversion from D: 0, ±1, ±2, the two
/// integers around D/2 (inside the f64 window), D/2 ± D/2^30 (outside it:
/// the centring must be exact there), D/3, 2D/3.
fn conversion_edges(d: &BigUint) -> Vec<BigUint> {
    let half = d >> 1u32; // (D−1)/2, D odd
    let off = d >> 30u32;
    vec![
        big(0),
        big(1),
        big(2),
        d - 1u32,
        d - 2u32,
        half.clone(),
        &half + 1u32,
        &half - &off,
        &half + &off,
        d / 3u32,
        (d << 1u32) / 3u32,
    ]
}

/// Inputs in [0, M) near the rounding boundaries of x/D: k·D + each of
/// `conversion_edges(D)` for a few k (including the last multiple of D).
fn division_edges(rng: &mut StdRng, m: &BigUint, d: &BigUint) -> Vec<BigUint> {
    let count = m / d; // M = D·count
    let last = &count - 1u32;
    let mut ks = vec![big(0), last];
    for _ in 0..3 {
        // A random multiplier below `count`: random residues mod count's size.
        let r = BigUint::from_bytes_le(&(0..(count.bits() / 8 + 8)).map(|_| rng.random::<u8>()).collect::<Vec<_>>());
        ks.push(r % &count);
    }
    let mut out = Vec::new();
    for k in ks {
        for e in conversion_edges(d) {
            out.push(&k * d + e);
        }
    }
    out
}

fn ntt_forward(ctx: &Context, num_q: usize, num_p: usize, l: &[Vec<u64>]) -> Vec<Vec<u64>> {
    let mut p = poly(ctx.n(), num_q, num_p, l);
    ctx.ntt_forward(&mut p);
    assert!(p.is_ntt());
    limbs(&p)
}

// ---------------------------------------------------------------------------
// Parameter sets (real prime chains; insecure sizes for speed).
// ---------------------------------------------------------------------------

/// Primes of 60, 50, 40, 30 and 20 bits plus three 60-bit special primes.
fn ntt_context(log_n: u32) -> Arc<Context> {
    Context::new(Parameters::insecure_for_tests(log_n, &[60, 50, 40, 30, 20], 2, 20).unwrap()).unwrap()
}

/// N = 2^10, 7 ciphertext primes (60 + 6×40) in 2 digits (as
/// `Parameters::digit_ranges` balances them: 140 and 160 bits), 3 special
/// 60-bit primes.
fn switching_context() -> Arc<Context> {
    let ctx = Context::new(Parameters::insecure_for_tests(10, &[60, 40, 40, 40, 40, 40, 40], 2, 40).unwrap()).unwrap();
    let p = ctx.params();
    assert_eq!((p.q().len(), p.p().len(), p.digit_ranges().len()), (7, 3, 2));
    ctx
}

// ---------------------------------------------------------------------------
// NTT
// ---------------------------------------------------------------------------

#[test]
fn ntt_product_matches_schoolbook_negacyclic_product() {
    for log_n in 4..=10u32 {
        let ctx = ntt_context(log_n);
        let n = ctx.n();
        let (nq, np) = (ctx.params().q().len(), ctx.params().p().len());
        let primes = limb_primes(&ctx, nq, np);
        let mut rng = StdRng::seed_from_u64(0x0a11_0000 + log_n as u64);
        let random = |rng: &mut StdRng| -> Vec<Vec<u64>> {
            primes.iter().map(|&q| (0..n).map(|_| rng.random_range(0..q)).collect()).collect()
        };
        let constant = |f: &dyn Fn(u64) -> u64| -> Vec<Vec<u64>> { primes.iter().map(|&q| vec![f(q); n]).collect() };
        let monomial = |k: usize| -> Vec<Vec<u64>> {
            primes
                .iter()
                .map(|_| {
                    let mut v = vec![0; n];
                    v[k] = 1;
                    v
                })
                .collect()
        };
        let one = monomial(0);
        let (i, j) = (rng.random_range(0..n), rng.random_range(0..n));
        let cases: Vec<(&str, Limbs, Limbs)> = vec![
            ("random·random", random(&mut rng), random(&mut rng)),
            ("random·random (2)", random(&mut rng), random(&mut rng)),
            ("0·random", constant(&|_| 0), random(&mut rng)),
            ("1·random", one, random(&mut rng)),
            ("(q−1)·(q−1) everywhere", constant(&|q| q - 1), constant(&|q| q - 1)),
            ("X^(N−1)·X", monomial(n - 1), monomial(1)),
            ("X^i·X^j", monomial(i), monomial(j)),
        ];
        let product = |a: &[Vec<u64>], b: &[Vec<u64>]| -> RnsPoly {
            let mut xa = poly(n, nq, np, a);
            let mut xb = poly(n, nq, np, b);
            ctx.ntt_forward(&mut xa);
            ctx.ntt_forward(&mut xb);
            ctx.mul_assign(&mut xa, &xb);
            ctx.ntt_inverse(&mut xa);
            assert!(!xa.is_ntt());
            xa
        };
        for (name, a, b) in &cases {
            let got = product(a, b);
            for (k, &q) in primes.iter().enumerate() {
                let want = negacyclic_schoolbook(&a[k], &b[k], q);
                check_limb(got.limb(k), &want, &format!("N = {n}, q = {q}, {name}"));
            }
        }
        // Closed forms, independent of the schoolbook routine too.
        for (k, &q) in primes.iter().enumerate() {
            let prod = |a: &[Vec<u64>], b: &[Vec<u64>]| -> Vec<u64> { product(a, b).limb(k).to_vec() };
            // X^(N−1)·X = X^N = −1.
            let mut minus_one = vec![0; n];
            minus_one[0] = q - 1;
            check_limb(&prod(&monomial(n - 1), &monomial(1)), &minus_one, &format!("N = {n}, q = {q}, X^(N−1)·X"));
            // (−Σ X^i)² = Σ_k (2k + 2 − N) X^k.
            let all = constant(&|q| q - 1);
            let want: Vec<u64> = (0..n as i64).map(|c| (2 * c + 2 - n as i64).rem_euclid(q as i64) as u64).collect();
            check_limb(&prod(&all, &all), &want, &format!("N = {n}, q = {q}, (q−1)(1+…+X^(N−1)) squared"));
            // X^i·X^j = ±X^{(i+j) mod N}.
            let mut want = vec![0; n];
            if i + j < n {
                want[i + j] = 1;
            } else {
                want[i + j - n] = q - 1;
            }
            check_limb(&prod(&monomial(i), &monomial(j)), &want, &format!("N = {n}, q = {q}, X^{i}·X^{j}"));
        }
    }
}

#[test]
fn ntt_forward_evaluates_at_the_roots_of_x_n_plus_1_and_inverse_undoes_it() {
    for log_n in 4..=10u32 {
        let ctx = ntt_context(log_n);
        let n = ctx.n();
        let (nq, np) = (ctx.params().q().len(), ctx.params().p().len());
        let primes = limb_primes(&ctx, nq, np);
        let mut rng = StdRng::seed_from_u64(0x0a12_0000 + log_n as u64);
        // The transform of X lists the evaluation points themselves.
        let x: Vec<Vec<u64>> = primes
            .iter()
            .map(|_| {
                let mut v = vec![0; n];
                v[1] = 1;
                v
            })
            .collect();
        let roots = ntt_forward(&ctx, nq, np, &x);
        let a: Vec<Vec<u64>> = primes.iter().map(|&q| (0..n).map(|_| rng.random_range(0..q)).collect()).collect();
        let fa = ntt_forward(&ctx, nq, np, &a);
        for (k, &q) in primes.iter().enumerate() {
            assert_eq!(q % (2 * n as u64), 1, "q = {q} is not 1 mod 2N");
            let mut distinct = roots[k].clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(distinct.len(), n, "N = {n}, q = {q}: evaluation points repeat");
            for &r in &roots[k] {
                assert_eq!(powmod(r, n as u64, q), q - 1, "N = {n}, q = {q}: {r} is not a root of X^N + 1");
            }
            let want: Vec<u64> = roots[k].iter().map(|&r| evaluate(&a[k], r, q)).collect();
            check_limb(&fa[k], &want, &format!("N = {n}, q = {q}, forward NTT vs evaluation"));
        }
        // Round trips both ways.
        let mut p = poly(n, nq, np, &a);
        ctx.ntt_forward(&mut p);
        ctx.ntt_inverse(&mut p);
        for (k, &q) in primes.iter().enumerate() {
            check_limb(p.limb(k), &a[k], &format!("N = {n}, q = {q}, inverse(forward(a))"));
        }
        let mut e = poly(n, nq, np, &a);
        ctx.ntt_forward(&mut e); // only to get the NTT flag …
        for (k, l) in a.iter().enumerate() {
            e.limb_mut(k).copy_from_slice(l); // … on arbitrary evaluations
        }
        ctx.ntt_inverse(&mut e);
        ctx.ntt_forward(&mut e);
        for (k, &q) in primes.iter().enumerate() {
            check_limb(e.limb(k), &a[k], &format!("N = {n}, q = {q}, forward(inverse(e))"));
        }
    }
}

#[test]
fn automorphism_matches_signed_coefficient_permutation() {
    for log_n in 4..=10u32 {
        let ctx = ntt_context(log_n);
        let n = ctx.n();
        let two_n = 2 * n as u64;
        let (nq, np) = (ctx.params().q().len(), ctx.params().p().len());
        let primes = limb_primes(&ctx, nq, np);
        let mut rng = StdRng::seed_from_u64(0x0a13_0000 + log_n as u64);
        let a: Vec<Vec<u64>> = primes.iter().map(|&q| (0..n).map(|_| rng.random_range(0..q)).collect()).collect();
        let mut pa = poly(n, nq, np, &a);
        ctx.ntt_forward(&mut pa);
        let half = n as i64 / 2;
        let mut elements: Vec<u64> = Vec::new();
        for steps in [0, 1, 2, 3, 7, half - 1, -1, -2] {
            let k = powmod(5, steps.rem_euclid(half) as u64, two_n);
            assert_eq!(ctx.galois_element(steps), k, "N = {n}: Galois element of a rotation by {steps}");
            elements.push(k);
        }
        assert_eq!(ctx.conjugation_element(), two_n - 1);
        elements.push(two_n - 1);
        elements.push(5 * (two_n - 1) % two_n); // conjugation ∘ rotation
        for k in elements {
            let mut out = ctx.automorphism(&pa, k);
            ctx.ntt_inverse(&mut out);
            for (l, &q) in primes.iter().enumerate() {
                check_limb(out.limb(l), &automorphism_oracle(&a[l], k, q), &format!("N = {n}, q = {q}, X → X^{k}"));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Basis conversion, ModUp, ModDown, rescale
// ---------------------------------------------------------------------------

fn idx(r: std::ops::Range<usize>) -> Vec<usize> {
    r.collect()
}

#[test]
fn basis_converter_outputs_the_centred_crt_value() {
    let ctx = switching_context(); // q0..q6, p0..p2
    check_conversions(
        &ctx,
        vec![
            (idx(0..1), idx(1..10)),                    // one 60-bit prime → everything else
            (idx(6..7), idx(0..6)),                     // one 40-bit prime
            (idx(0..3), idx(3..10)),                    // a ModUp digit
            (idx(7..10), idx(0..7)),                    // P → Q (ModDown)
            (vec![6, 7, 8, 9], idx(0..6)),              // {q_l} ∪ P → Q_{l−1}
            (idx(0..7), idx(7..10)),                    // Q → P
            (idx(0..9), idx(9..10)),                    // nine primes → one
            (vec![1, 3, 5, 7, 9], vec![0, 2, 4, 6, 8]), // interleaved
        ],
    );
}

/// A chain of 30-bit primes (q_0 of 50 bits) takes 30-bit special primes,
/// and conversions into primes below 2^32 sum their products in 64 bits
/// (the narrow path: q_0's residues as two 32-bit rows); targets of 50 bits
/// (q_0) stay on 128-bit sums. Ten 30-bit primes per digit, and q_0 with
/// ten more: close to the largest sums the 64-bit path admits.
#[test]
fn small_prime_conversions_output_the_centred_crt_value() {
    let mut bits = vec![50];
    bits.extend([30; 20]);
    let ctx = Context::new(Parameters::insecure_for_tests(10, &bits, 2, 30).unwrap()).unwrap();
    let (num_q, num_p) = (ctx.params().q().len(), ctx.num_p());
    assert!(ctx.params().p().iter().all(|&p| p < 1 << 30), "30-bit special primes");
    let all = num_q + num_p;
    check_conversions(
        &ctx,
        vec![
            (idx(11..21), (0..all).filter(|i| !(11..21).contains(i)).collect()), // ModUp digit, 10 primes
            (idx(num_q..all), idx(0..num_q)),                                    // P → Q (ModDown)
            (std::iter::once(num_q - 1).chain(num_q..all).collect(), idx(0..num_q - 1)), // {q_l} ∪ P → Q_{l−1}
            (idx(0..11), idx(11..all)),                                          // q_0 among the sources (two rows)
        ],
    );
}

fn check_conversions(ctx: &Context, splits: Vec<(Vec<usize>, Vec<usize>)>) {
    let n = ctx.n();
    let moduli = ctx.moduli();
    let mut rng = StdRng::seed_from_u64(0x0a14);
    for (src, dst) in splits {
        let src_m: Vec<_> = src.iter().map(|&i| moduli[i]).collect();
        let dst_m: Vec<_> = dst.iter().map(|&i| moduli[i]).collect();
        let src_q: Vec<u64> = src_m.iter().map(|m| m.value).collect();
        let dst_q: Vec<u64> = dst_m.iter().map(|m| m.value).collect();
        let crt = Crt::new(&src_q);
        let xs = inputs(&mut rng, &crt, n, &conversion_edges(&crt.m));
        let input: Vec<u64> = limbs_of(&xs, &src_q).concat();
        let conv = BasisConverter::new(&src_m, &dst_m, n);
        assert_eq!(conv.src(), &src_m[..]);
        assert_eq!(conv.dst(), &dst_m[..]);
        let mut out = vec![0u64; dst.len() * n];
        conv.convert(n, &input, &mut out);
        // The unnormalized path: input N·x (as an inverse NTT without its
        // 1/N leaves it), same expected output.
        let input_n: Vec<u64> = src_q
            .iter()
            .enumerate()
            .flat_map(|(i, &q)| input[i * n..(i + 1) * n].iter().map(move |&x| mulmod(x, n as u64, q)))
            .collect();
        let mut out_n = vec![0u64; dst.len() * n];
        conv.convert_into(n, &input_n, true, out_n.chunks_mut(n).collect());
        let mut in_window = 0;
        for (j, &t) in dst_q.iter().enumerate() {
            for (c, x) in xs.iter().enumerate() {
                let allowed = converted(x, &crt.m, t);
                in_window += (allowed.len() > 1) as usize;
                for (path, o) in [("convert", &out), ("convert_into(unnormalized)", &out_n)] {
                    let got = o[j * n + c];
                    assert!(
                        allowed.contains(&got),
                        "{path} {src:?} → prime {t}: coefficient {c} (x = {x}) gave {got}, allowed {allowed:?}"
                    );
                }
            }
        }
        // Exactly the two inputs next to D/2 sit in the f64 window; every
        // other input (random ones included) was checked for exact centring.
        assert_eq!(in_window, 2 * dst.len(), "{src:?}: unexpected inputs in the rounding window");
    }
}

#[test]
fn mod_up_raises_each_digit_to_its_centred_value() {
    let ctx = switching_context();
    let n = ctx.n();
    let k = ctx.num_p();
    let all_digits = ctx.params().digit_ranges();
    let mut rng = StdRng::seed_from_u64(0x0a15);
    for l in 0..=ctx.max_level() {
        let q_l = limb_primes(&ctx, l + 1, 0);
        let all = limb_primes(&ctx, l + 1, k);
        let crt = Crt::new(&q_l);
        // The digits present at level l: each range clipped to the l+1 primes.
        let digit_ranges: Vec<(usize, usize)> =
            all_digits.iter().filter(|r| r.start <= l).map(|r| (r.start, r.end.min(l + 1))).collect();
        let mut edges = vec![&crt.m - 1u32];
        for &(s, e) in &digit_ranges {
            edges.extend(conversion_edges(&product(&q_l[s..e])));
        }
        let xs = inputs(&mut rng, &crt, n, &edges);
        let mut d = poly(n, l + 1, 0, &limbs_of(&xs, &q_l));
        ctx.ntt_forward(&mut d);
        let dec = decompose(&ctx, &d);
        assert_eq!(dec.digits().len(), digit_ranges.len(), "level {l}: number of digits");
        for (j, (&(s, e), digit)) in digit_ranges.iter().zip(dec.digits()).enumerate() {
            assert_eq!((digit.num_q(), digit.num_p(), digit.is_ntt()), (l + 1, k, true));
            let d_j = product(&q_l[s..e]);
            let mut coeff = digit.clone();
            ctx.ntt_inverse(&mut coeff);
            for (t, &prime) in all.iter().enumerate() {
                for (c, x) in xs.iter().enumerate() {
                    let got = coeff.limb(t)[c];
                    if (s..e).contains(&t) {
                        assert_eq!(got, residue(x, prime), "level {l} digit {j}: own limb {t} changed");
                    } else {
                        let allowed = converted(&(x % &d_j), &d_j, prime);
                        assert!(
                            allowed.contains(&got),
                            "level {l} digit {j} limb {t}: coefficient {c} gave {got}, allowed {allowed:?}"
                        );
                    }
                }
            }
        }
    }
}

/// Checks a divide-and-round `f` from `num_q` Q-limbs plus `num_p` special
/// limbs (product M) by D to the first `keep` Q-limbs.
fn check_division(
    ctx: &Context,
    rng: &mut StdRng,
    (num_q, num_p, keep): (usize, usize, usize),
    d: &BigUint,
    f: &dyn Fn(&RnsPoly) -> RnsPoly,
    what: &str,
) {
    let n = ctx.n();
    let primes = limb_primes(ctx, num_q, num_p);
    let crt = Crt::new(&primes);
    assert_eq!(&crt.m % d, big(0));
    let edges = division_edges(rng, &crt.m, d);
    let xs = inputs(rng, &crt, n, &edges);
    let mut x = poly(n, num_q, num_p, &limbs_of(&xs, &primes));
    ctx.ntt_forward(&mut x);
    let mut out = f(&x);
    assert_eq!((out.num_q(), out.num_p(), out.is_ntt()), (keep, 0, true), "{what}: shape");
    ctx.ntt_inverse(&mut out);
    let mut in_window = 0;
    for (i, &q) in primes[..keep].iter().enumerate() {
        for (c, xc) in xs.iter().enumerate() {
            let allowed = rounded_quotient(xc, d, q);
            in_window += (allowed.len() > 1) as usize;
            let got = out.limb(i)[c];
            assert!(
                allowed.contains(&got),
                "{what}: limb {i} coefficient {c} (x = {xc}) gave {got}, allowed {allowed:?}"
            );
        }
    }
    // Only the edge inputs next to a half sit in the window (2 per multiple).
    assert_eq!(in_window, 2 * 5 * keep, "{what}: unexpected inputs in the rounding window");
}

#[test]
fn mod_down_divides_by_p_with_rounding() {
    let ctx = switching_context();
    let k = ctx.num_p();
    let p = product(ctx.params().p());
    let mut rng = StdRng::seed_from_u64(0x0a16);
    for l in 0..=ctx.max_level() {
        check_division(&ctx, &mut rng, (l + 1, k, l + 1), &p, &|x| mod_down(&ctx, x), &format!("ModDown at level {l}"));
    }
}

#[test]
fn mod_down_rescale_divides_by_p_times_q_l_with_rounding() {
    let ctx = switching_context();
    let k = ctx.num_p();
    let mut rng = StdRng::seed_from_u64(0x0a17);
    for l in 1..=ctx.max_level() {
        let d = product(ctx.params().p()) * ctx.params().q()[l];
        let what = format!("ModDown+rescale at level {l}");
        check_division(&ctx, &mut rng, (l + 1, k, l), &d, &|x| mod_down_rescale(&ctx, x), &what);
    }
}

/// Rescale has no f64 estimate: the centred lift of the last residue is
/// integer arithmetic, so the result is `round(x / q_l)` for every input,
/// those at exactly (q_l ± 1)/2 mod q_l included.
#[test]
fn rescale_divides_by_the_last_prime_with_exact_rounding() {
    // The switching chain (a 40-bit q_l into 60- and 40-bit limbs: one
    // conditional subtraction lifts it) and a chain whose 60-bit top primes
    // rescale into 40-bit limbs (q_l > 2·q_i: Barrett), as in `bootstrappable`.
    let wide_top = Context::new(Parameters::insecure_for_tests(10, &[60, 40, 40, 60, 60], 2, 40).unwrap()).unwrap();
    for ctx in [switching_context(), wide_top] {
        check_rescale(&ctx);
    }
}

fn check_rescale(ctx: &Arc<Context>) {
    let n = ctx.n();
    let ev = Evaluator::new(ctx);
    let mut rng = StdRng::seed_from_u64(0x0a18);
    for l in 1..=ctx.max_level() {
        let primes = limb_primes(ctx, l + 1, 0);
        let crt = Crt::new(&primes);
        let ql = big(primes[l]);
        let edges = division_edges(&mut rng, &crt.m, &ql);
        let xs = inputs(&mut rng, &crt, n, &edges);
        let mut x = poly(n, l + 1, 0, &limbs_of(&xs, &primes));
        ctx.ntt_forward(&mut x);
        let mut out = ev.rescale_poly(&x);
        assert_eq!((out.num_q(), out.num_p(), out.is_ntt()), (l, 0, true));
        ctx.ntt_inverse(&mut out);
        for (i, &q) in primes[..l].iter().enumerate() {
            for (c, xc) in xs.iter().enumerate() {
                let want = residue(&(((xc << 1u32) + &ql) / (&ql << 1u32)), q);
                assert_eq!(out.limb(i)[c], want, "rescale at level {l}: limb {i} coefficient {c} (x = {xc})");
            }
        }
    }
}

/// The public `Evaluator::rescale` on a real ciphertext (uniform-looking
/// parts over Q_L) against the same oracle, with no test hook involved.
#[test]
fn evaluator_rescale_of_a_ciphertext_matches_big_integer_rounding() {
    let ctx = switching_context();
    let n = ctx.n();
    let sk = SecretKey::generate(&ctx);
    let enc = Encryptor::new(&ctx, PublicKey::generate(&sk)).unwrap();
    let encoder = Encoder::new(&ctx);
    let ev = Evaluator::new(&ctx);
    let pt = encoder.encode_real(&[0.5, -0.25, 1.0], 4, ctx.max_level(), ctx.params().scale()).unwrap();
    let mut ct = enc.encrypt(&pt).unwrap();
    for l in (1..=ctx.max_level()).rev() {
        let primes = limb_primes(&ctx, l + 1, 0);
        let crt = Crt::new(&primes);
        let ql = big(primes[l]);
        let next = ev.rescale(&ct).unwrap();
        assert_eq!(next.level(), l - 1);
        for (part_in, part_out) in ct.parts().iter().zip(next.parts()) {
            let mut a = part_in.clone();
            let mut b = part_out.clone();
            ctx.ntt_inverse(&mut a);
            ctx.ntt_inverse(&mut b);
            for c in 0..n {
                let x = crt.reconstruct(&(0..=l).map(|i| a.limb(i)[c]).collect::<Vec<_>>());
                assert_eq!(crt.residues(&x), (0..=l).map(|i| a.limb(i)[c]).collect::<Vec<_>>());
                let q = ((x << 1u32) + &ql) / (&ql << 1u32);
                for (i, &p) in primes[..l].iter().enumerate() {
                    assert_eq!(b.limb(i)[c], residue(&q, p), "Evaluator::rescale at level {l}: limb {i} coeff {c}");
                }
            }
        }
        ct = next;
    }
}
