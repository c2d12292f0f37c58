//! Bootstrapping: linear transforms, full and sparse slots, repeated
//! bootstraps with computation in between, typed errors.

mod common;

use common::*;
use hecnn_ckks::circuits::{BootstrapConfig, BootstrapKeys, Bootstrapper, DiagMatrix, LinearTransform};
use hecnn_ckks::*;
use std::time::Instant;

/// N=2^12 insecure ring with the bootstrappable chain's shape: q_0, 2
/// computation levels, 3 SlotsToCoeffs, 9 EvalMod, 3 CoeffsToSlots.
fn small_boot() -> Setup {
    let mut bits = vec![60, 40, 40];
    bits.extend([50; 3]);
    bits.extend([60; 12]);
    setup(Parameters::insecure_for_tests(12, &bits, 4, 40).unwrap())
}

fn cplx(v: &[f64], w: &[f64]) -> Vec<Complex64> {
    v.iter().zip(w).map(|(&a, &b)| Complex64::new(a, b)).collect()
}

fn max_cerr(a: &[Complex64], b: &[Complex64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).norm()).fold(0.0, f64::max)
}

#[test]
fn linear_transform_matches_plain_matrix_vector_product() {
    let s = small();
    let slots = 64;
    let rows: Vec<Vec<Complex64>> =
        (0..slots).map(|i| cplx(&random_vec(slots, 100 + i as u64), &random_vec(slots, 900 + i as u64))).collect();
    let m = DiagMatrix::from_dense(&rows);
    let lt = LinearTransform::new(m.clone());
    let gk = GaloisKeys::generate(&s.sk, &lt.rotations(), false);
    let v = cplx(&random_vec(slots, 1), &random_vec(slots, 2));
    let l = s.ctx.max_level();
    let ct = s.enc.encrypt(&s.encoder.encode(&v, slots, l, s.ctx.params().scale()).unwrap()).unwrap();
    let out = lt.apply(&s.ev, &s.encoder, &ct, &gk, s.ctx.params().scale()).unwrap();
    assert_eq!(out.level(), l - 1);
    let got = s.encoder.decode(&Decryptor::new(&s.sk).decrypt(&out).unwrap()).unwrap();
    let want = m.apply(&v);
    let err = max_cerr(&got, &want);
    assert!(err < 1e-6, "error {err}");
}

fn boot_check(s: &Setup, bs: &Bootstrapper, bk: &BootstrapKeys, slots: usize, seed: u64) -> f64 {
    let v = cplx(&random_vec(slots, seed), &random_vec(slots, seed + 1));
    let pt = s.encoder.encode(&v, slots, 0, s.ctx.params().scale()).unwrap();
    let ct = s.enc.encrypt(&pt).unwrap();
    let t = Instant::now();
    let out = bs.bootstrap(&ct, &s.rlk, bk).unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(out.level(), bs.levels_left());
    assert_eq!(out.scale(), s.ctx.params().scale());
    let got = s.encoder.decode(&Decryptor::new(&s.sk).decrypt(&out).unwrap()).unwrap();
    let err = max_cerr(&got, &v);
    eprintln!("slots {slots}: error 2^{:.1} in {secs:.2}s", err.log2());
    err
}

#[test]
fn bootstrap_small_ring_full_and_sparse_slots() {
    let s = small_boot();
    let config = BootstrapConfig::default();
    let slots = [s.ctx.n() / 2, 64, 8];
    let bs = Bootstrapper::new(&s.ctx, config.clone(), &slots).unwrap();
    assert_eq!(bs.levels_left(), 2);
    let bk = BootstrapKeys::generate(&s.sk, &config, &slots).unwrap();
    for (i, &n) in slots.iter().enumerate() {
        let err = boot_check(&s, &bs, &bk, n, 10 * i as u64);
        assert!(err < 2f64.powi(-20), "slots {n}: error 2^{:.1}", err.log2());
    }
}
