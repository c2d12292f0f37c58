//! Bootstrapping: linear transforms, full and sparse slots, repeated
//! bootstraps with computation in between, typed errors.

mod common;

use common::*;
use hecnn_ckks::circuits::{BootstrapConfig, BootstrapKeys, Bootstrapper, DiagMatrix, LinearTransform};
use hecnn_ckks::*;
use std::time::Instant;

/// N=2^12 insecure ring with the bootstrappable chain's shape and 2
/// computation levels.
fn small_boot() -> Setup {
    let bits = BootstrapConfig::default().chain_bits(2);
    setup(Parameters::insecure_for_tests(12, &bits, 5, 40).unwrap())
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
    // 64 diagonals, signed −31..32: giant steps −32, −24, …, 32 of 8 (−32
    // for −31..−25 and 32 for 32, one Galois element), taken by Horner's
    // rule with the keys ±8 (8 key switches, 2 keys instead of 8), and
    // babies 1..7 made by hops of 1, 2 and 4 (3 keys instead of 7).
    assert_eq!(lt.rotations(), vec![-8, 1, 2, 4, 8]);
    assert_eq!(lt.rotation_counts(), (7, 8));
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

/// Bootstraps a fresh encryption (at the bootstrapper's input level) of
/// random complex values in the unit box; returns (max, mean) error over the slots.
fn boot_errors(s: &Setup, bs: &Bootstrapper, bk: &BootstrapKeys, slots: usize, seed: u64) -> (f64, f64) {
    let v = cplx(&random_vec(slots, seed), &random_vec(slots, seed + 1));
    let pt = s.encoder.encode(&v, slots, bs.input_level(), s.ctx.params().scale()).unwrap();
    let ct = s.enc.encrypt(&pt).unwrap();
    let t = Instant::now();
    let out = bs.bootstrap(&ct, &s.rlk, bk).unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(out.level(), bs.output_level());
    assert_eq!(out.scale(), s.ctx.params().scale());
    let got = s.encoder.decode(&Decryptor::new(&s.sk).decrypt(&out).unwrap()).unwrap();
    let err = max_cerr(&got, &v);
    let mean = got.iter().zip(&v).map(|(x, y)| (x - y).norm()).sum::<f64>() / slots as f64;
    eprintln!("slots {slots}: max error 2^{:.1}, mean 2^{:.1}, in {secs:.2}s", err.log2(), mean.log2());
    (err, mean)
}

fn boot_check(s: &Setup, bs: &Bootstrapper, bk: &BootstrapKeys, slots: usize, seed: u64) -> f64 {
    boot_errors(s, bs, bk, slots, seed).0
}

#[test]
fn bootstrap_small_ring_full_and_sparse_slots() {
    let s = small_boot();
    let config = BootstrapConfig::default();
    let slots = [s.ctx.n() / 2, 64, 8];
    let bs = Bootstrapper::new(&s.ctx, config.clone(), &slots).unwrap();
    assert_eq!(bs.levels_left(), 2);
    assert_eq!(config.depth(), 16);
    let bk = BootstrapKeys::generate(&s.sk, &config, &slots).unwrap();
    // Each key is cut to the highest level its rotation runs at (a key cut
    // too low would stop the bootstraps below with `KeyLevel`): the sub-sum
    // and CtS keys in the top four levels, the SlotsToCoeffs-only keys at
    // most 3 above the output level (most StC hops are CtS keys too), and
    // at level 0 the rotation the full-slot chain's alignment leaves over,
    // paid on the input.
    let (top, out) = (s.ctx.max_level(), bs.levels_left());
    let levels: Vec<usize> = bk.galois_keys().levels().map(|(_, l)| l).collect();
    let allowed = |l: usize| (top - 3..=top).contains(&l) || (out + 1..=out + 3).contains(&l) || l == 0;
    assert!(levels.iter().all(|&l| allowed(l)), "{levels:?}");
    assert_eq!(levels.iter().filter(|&&l| l == 0).count(), 1, "{levels:?}");
    assert!(levels.iter().any(|&l| l <= out + 3), "{levels:?}");
    assert_eq!(levels.iter().max(), Some(&top));
    // Measured 2^-27.3, 2^-30.7, 2^-32.3 (full, 64, 8 slots); bounds ≈ 20× those.
    let bounds = [-23.0, -26.5, -28.0];
    for (i, (&n, bound)) in slots.iter().zip(bounds).enumerate() {
        let err = boot_check(&s, &bs, &bk, n, 10 * i as u64);
        assert!(err < f64::exp2(bound), "slots {n}: error 2^{:.1} (bound 2^{bound})", err.log2());
    }
}

/// N=2^16, 128-bit secure preset, full slots: ≥ 20 bits in the worst slot,
/// 11 levels left.
#[test]
fn bootstrap_n16_full_slots() {
    let t = Instant::now();
    let s = setup(Preset::Bootstrappable.params());
    s.ctx.params().check_security().unwrap();
    let config = BootstrapConfig::default();
    let full = s.ctx.n() / 2;
    let bs = Bootstrapper::new(&s.ctx, config.clone(), &[full]).unwrap();
    assert_eq!(bs.levels_left(), 11);
    assert_eq!(config.levels_left(Preset::Bootstrappable.params().max_level()), Some(11));
    eprintln!(
        "setup {:.1}s, {} key switches per bootstrap",
        t.elapsed().as_secs_f64(),
        bs.rotation_count(full).unwrap()
    );
    let t = Instant::now();
    let bk = BootstrapKeys::generate(&s.sk, &config, &[full]).unwrap();
    eprintln!(
        "keys {:.1}s: {} Galois keys, {:.1} MiB serialized",
        t.elapsed().as_secs_f64(),
        bk.galois_keys().elements().count(),
        bk.serialized_len(&s.ctx) as f64 / (1 << 20) as f64
    );
    // The worst of the 2^15 slots ≥ 20 bits (the target), the
    // mean (as Lattigo reports it) about 2 bits better.
    let (max, mean) = boot_errors(&s, &bs, &bk, full, 7);
    // Measured 22.4–22.9 bits worst, 24.5 mean (2026-12-01..05).
    assert!(max < f64::exp2(-21.5), "max error 2^{:.1}", max.log2());
    assert!(mean < f64::exp2(-23.5), "mean error 2^{:.1}", mean.log2());
    drop(bk);
    // SlotsToCoeffs first: the same 11 levels between bootstraps (input
    // at 3, output at 14), within half a bit of the usual order.
    let config = BootstrapConfig { slots_to_coeffs_first: true, ..config };
    let bs = Bootstrapper::new(&s.ctx, config.clone(), &[full]).unwrap();
    assert_eq!((bs.input_level(), bs.output_level(), bs.levels_left()), (3, 14, 11));
    let bk = BootstrapKeys::generate(&s.sk, &config, &[full]).unwrap();
    let (max, mean) = boot_errors(&s, &bs, &bk, full, 8);
    // Measured 21.9–22.3 bits worst (hecnn bench bootstrap --stc-first).
    assert!(max < f64::exp2(-21.5), "SlotsToCoeffs first: max error 2^{:.1}", max.log2());
    assert!(mean < f64::exp2(-23.5), "SlotsToCoeffs first: mean error 2^{:.1}", mean.log2());
    // Real values, one EvalMod: the usual order's precision (measured
    // 22.4 bits worst, 25.2 mean here with the imaginary leakage; 22.7
    // bits on the real parts in `hecnn bench bootstrap --stc-first --real`).
    let (max, mean) = real_errors(&s, &bs, &bk, full, 9);
    assert!(max < f64::exp2(-21.5), "real, SlotsToCoeffs first: max error 2^{:.1}", max.log2());
    assert!(mean < f64::exp2(-24.5), "real, SlotsToCoeffs first: mean error 2^{:.1}", mean.log2());
}

/// [`Bootstrapper::bootstrap_real`] of a fresh encryption of `v + i·w`
/// (random reals; `w` zero unless `imaginary`): lands on the output level
/// at exactly Δ; returns the (max, mean) distance of the slots to `v`.
fn real_errors_of(
    s: &Setup,
    bs: &Bootstrapper,
    bk: &BootstrapKeys,
    slots: usize,
    seed: u64,
    imaginary: bool,
) -> (f64, f64) {
    let (delta, dec) = (s.ctx.params().scale(), Decryptor::new(&s.sk));
    let v = random_vec(slots, seed);
    let w = if imaginary { random_vec(slots, seed + 1) } else { vec![0.0; slots] };
    let ct = s.enc.encrypt(&s.encoder.encode(&cplx(&v, &w), slots, bs.input_level(), delta).unwrap()).unwrap();
    let out = bs.bootstrap_real(&ct, &s.rlk, bk).unwrap();
    assert_eq!((out.level(), out.scale()), (bs.output_level(), delta));
    let got = s.encoder.decode(&dec.decrypt(&out).unwrap()).unwrap();
    let errs: Vec<f64> = got.iter().zip(&v).map(|(g, &x)| (g - Complex64::new(x, 0.0)).norm()).collect();
    let (max, mean) = (errs.iter().fold(0.0f64, |a, &b| a.max(b)), errs.iter().sum::<f64>() / slots as f64);
    eprintln!(
        "real, {slots} slots (imaginary part: {imaginary}): max error 2^{:.1}, mean 2^{:.1}",
        max.log2(),
        mean.log2()
    );
    (max, mean)
}

fn real_errors(s: &Setup, bs: &Bootstrapper, bk: &BootstrapKeys, slots: usize, seed: u64) -> (f64, f64) {
    real_errors_of(s, bs, bk, slots, seed, false)
}

/// A near-constant vector puts a coefficient of magnitude ≈ 0.9 through
/// EvalMod: without the arcsine correction `sin`'s curvature would cost
/// (2π·0.9/2^8.5)²/6 ≈ 2^-13.6 relative at this message ratio.
#[test]
fn bootstrap_keeps_large_coefficients_precise() {
    let s = small_boot();
    let config = BootstrapConfig::default();
    let slots = s.ctx.n() / 2;
    let bs = Bootstrapper::new(&s.ctx, config.clone(), &[slots]).unwrap();
    let bk = BootstrapKeys::generate(&s.sk, &config, &[slots]).unwrap();
    let delta = s.ctx.params().scale();
    let v: Vec<f64> = random_vec(slots, 5).iter().map(|x| 0.9 + 0.1 * x).collect();
    let ct = s.enc.encrypt(&s.encoder.encode_real(&v, slots, 0, delta).unwrap()).unwrap();
    let out = bs.bootstrap(&ct, &s.rlk, &bk).unwrap();
    let err = max_err(&s.decrypt(&out)[..slots], &v);
    eprintln!("near-constant vector: error 2^{:.1}", err.log2());
    assert!(err < 2f64.powi(-22), "error 2^{:.1}", err.log2());
    // The same circuit without the correction shows the curvature.
    let plain = BootstrapConfig { arcsine: false, ..config.clone() };
    let small = setup(Parameters::insecure_for_tests(12, &plain.chain_bits(2), 5, 40).unwrap());
    let bs = Bootstrapper::new(&small.ctx, plain.clone(), &[slots]).unwrap();
    let bk = BootstrapKeys::generate(&small.sk, &plain, &[slots]).unwrap();
    let ct = small.enc.encrypt(&small.encoder.encode_real(&v, slots, 0, delta).unwrap()).unwrap();
    let out = bs.bootstrap(&ct, &small.rlk, &bk).unwrap();
    let uncorrected = max_err(&small.decrypt(&out)[..slots], &v);
    eprintln!("without the arcsine correction: error 2^{:.1}", uncorrected.log2());
    assert!(uncorrected > 2f64.powi(-16), "error 2^{:.1}", uncorrected.log2());
}

/// Bootstrap, compute on every remaining level, bootstrap again: 5 times,
/// against a plaintext reference, precision kept.
#[test]
fn bootstrap_five_times_with_computation_in_between() {
    let s = small_boot();
    let config = BootstrapConfig::default();
    let slots = 64;
    let bs = Bootstrapper::new(&s.ctx, config.clone(), &[slots]).unwrap();
    let bk = BootstrapKeys::generate(&s.sk, &config, &[slots]).unwrap();
    let delta = s.ctx.params().scale();
    let v = random_vec(slots, 42);
    let half_v: Vec<f64> = v.iter().map(|x| 0.5 * x).collect();
    let mut want = v.clone();
    let mut ct = s.enc.encrypt(&s.encoder.encode_real(&v, slots, 0, delta).unwrap()).unwrap();
    for round in 0..5 {
        ct = bs.bootstrap(&ct, &s.rlk, &bk).unwrap();
        assert_eq!(ct.level(), bs.levels_left());
        // x ← x²/2 + v/2 on the two levels left (values stay in [−1, 1]).
        let sq = s.ev.mul_relin_rescale(&ct, &ct, &s.rlk).unwrap();
        let half = s.ev.mul_const_rescale_to(&sq, 0.5, delta).unwrap();
        let pt = s.encoder.encode_real(&half_v, slots, half.level(), delta).unwrap();
        ct = s.ev.add_plain(&half, &pt).unwrap();
        assert_eq!(ct.level(), 0);
        want = want.iter().zip(&v).map(|(x, y)| 0.5 * x * x + 0.5 * y).collect();
        let err = max_err(&s.decrypt(&ct)[..slots], &want);
        eprintln!("round {round}: error 2^{:.1}", err.log2());
        // Measured 2^-30.4 to 2^-31.5.
        assert!(err < 2f64.powi(-26), "round {round}: error 2^{:.1}", err.log2());
    }
}

#[test]
fn bootstrap_rejects_bad_input_with_typed_errors() {
    let s = small_boot();
    let config = BootstrapConfig::default();
    let bs = Bootstrapper::new(&s.ctx, config.clone(), &[8, 16]).unwrap();
    let bk = BootstrapKeys::generate(&s.sk, &config, &[8]).unwrap();
    let delta = s.ctx.params().scale();
    let v = random_vec(8, 3);
    // Wrong level.
    let high = s.enc.encrypt(&s.encoder.encode_real(&v, 8, 2, delta).unwrap()).unwrap();
    assert!(matches!(bs.bootstrap(&high, &s.rlk, &bk), Err(CkksError::BootstrapInput(_))));
    // Wrong scale.
    let scaled = s.enc.encrypt(&s.encoder.encode_real(&v, 8, 0, delta * 8.0).unwrap()).unwrap();
    assert!(matches!(bs.bootstrap(&scaled, &s.rlk, &bk), Err(CkksError::BootstrapInput(_))));
    // Three parts.
    let low = s.enc.encrypt(&s.encoder.encode_real(&v, 8, 1, delta).unwrap()).unwrap();
    let three = s.ev.mul(&low, &low).unwrap();
    assert!(matches!(bs.bootstrap(&three, &s.rlk, &bk), Err(CkksError::InvalidCiphertext(_))));
    // A slot count without keys.
    let ct16 = s.enc.encrypt(&s.encoder.encode_real(&v, 16, 0, delta).unwrap()).unwrap();
    assert!(matches!(bs.bootstrap(&ct16, &s.rlk, &bk), Err(CkksError::MissingBootstrapKeys(_))));
    // A slot count the bootstrapper has no transforms for.
    let bk32 = BootstrapKeys::generate(&s.sk, &config, &[32]).unwrap();
    let ct32 = s.enc.encrypt(&s.encoder.encode_real(&v, 32, 0, delta).unwrap()).unwrap();
    assert!(matches!(bs.bootstrap(&ct32, &s.rlk, &bk32), Err(CkksError::InvalidSlots(_))));
    // Keys of other parameters.
    let bits = BootstrapConfig::default().chain_bits(3);
    let other = setup(Parameters::insecure_for_tests(12, &bits, 5, 40).unwrap());
    let bk_other = BootstrapKeys::generate(&other.sk, &config, &[8]).unwrap();
    let ct8 = s.enc.encrypt(&s.encoder.encode_real(&v, 8, 0, delta).unwrap()).unwrap();
    assert!(matches!(bs.bootstrap(&ct8, &s.rlk, &bk_other), Err(CkksError::ParameterMismatch { .. })));
    // Bad slot counts and too short a chain.
    assert!(matches!(BootstrapKeys::generate(&s.sk, &config, &[12]), Err(CkksError::InvalidSlots(_))));
    assert!(matches!(Bootstrapper::new(&s.ctx, config.clone(), &[1 << 12]), Err(CkksError::InvalidSlots(_))));
    let short = small();
    assert!(matches!(Bootstrapper::new(&short.ctx, config, &[8]), Err(CkksError::InvalidParameters(_))));
}

/// Keys survive serialization (seeded `a` parts) and still bootstrap.
#[test]
fn bootstrap_keys_round_trip_through_bytes() {
    let s = small_boot();
    let config = BootstrapConfig::default();
    let bs = Bootstrapper::new(&s.ctx, config.clone(), &[16]).unwrap();
    let bk = BootstrapKeys::generate(&s.sk, &config, &[16]).unwrap();
    let bytes = bk.to_bytes(&s.ctx);
    assert_eq!(bytes.len() as u64, bk.serialized_len(&s.ctx));
    // Streaming to a writer gives the same bytes.
    let mut streamed = Vec::new();
    assert_eq!(bk.write_to(&s.ctx, &mut streamed).unwrap(), bytes.len() as u64);
    assert!(streamed == bytes, "streamed and in-memory serializations differ");
    let loaded = BootstrapKeys::from_bytes(&s.ctx, &bytes).unwrap();
    assert_eq!(loaded.slots(), &[16]);
    let err = boot_check(&s, &bs, &loaded, 16, 5);
    // Measured 2^-31.5.
    assert!(err < 2f64.powi(-27), "error 2^{:.1}", err.log2());
    let mut bad = bytes.clone();
    bad[40] ^= 1;
    assert!(matches!(BootstrapKeys::from_bytes(&s.ctx, &bad), Err(CkksError::Format(_))));
    // Read from a stream a key at a time: the same keys, the same refusals.
    let read = |b: &[u8]| BootstrapKeys::read_from(&s.ctx, &mut &b[..], b.len() as u64);
    assert!(read(&bytes).unwrap().to_bytes(&s.ctx) == bytes);
    let mut flipped = bytes.clone();
    let last_key = bytes.len() - 1000;
    flipped[last_key] ^= 1;
    assert_eq!(read(&flipped).unwrap_err(), CkksError::Format(FormatError::Checksum));
    assert!(matches!(read(&bytes[..bytes.len() - 1]), Err(CkksError::Format(FormatError::Truncated { .. }))));
    // A stream shorter than it claims is a read error, not a panic.
    assert!(matches!(BootstrapKeys::read_from(&s.ctx, &mut &bytes[..100], bytes.len() as u64), Err(CkksError::Io(_))));
}

/// Two random real vectors of `slots` values through one real-pair
/// bootstrap (at the bootstrapper's input level): both land on its output
/// level at exactly Δ; returns their max errors (imaginary leakage included).
fn real_pair_errors(s: &Setup, bs: &Bootstrapper, bk: &BootstrapKeys, slots: usize, seed: u64) -> [f64; 2] {
    let (delta, dec) = (s.ctx.params().scale(), Decryptor::new(&s.sk));
    let (va, vb) = (random_vec(slots, seed), random_vec(slots, seed + 1));
    let enc = |v: &[f64]| s.enc.encrypt(&s.encoder.encode_real(v, slots, bs.input_level(), delta).unwrap()).unwrap();
    let (ra, rb) = bs.bootstrap_real_pair(&enc(&va), &enc(&vb), &s.rlk, bk).unwrap();
    [(&ra, &va), (&rb, &vb)].map(|(out, want)| {
        assert_eq!((out.level(), out.scale()), (bs.output_level(), delta));
        let got = s.encoder.decode(&dec.decrypt(out).unwrap()).unwrap();
        let err = got.iter().zip(want).map(|(g, &w)| (g - Complex64::new(w, 0.0)).norm()).fold(0.0, f64::max);
        eprintln!("real pair, {slots} slots at level {}: error 2^{:.1}", bs.input_level(), err.log2());
        err
    })
}

/// SlotsToCoeffs first: the input at level 3 (StC's depth), the output at
/// the level the usual order would reach plus 3 (the same levels between
/// bootstraps), StC's keys at the bottom of the chain, single and
/// real-pair bootstraps within bounds close to the usual order's, at full
/// and (unpacked) sparse slots; input at another level is refused.
#[test]
fn bootstrap_slots_to_coeffs_first() {
    let s = small_boot();
    let config = BootstrapConfig { slots_to_coeffs_first: true, ..BootstrapConfig::default() };
    let full = s.ctx.n() / 2;
    let bs = Bootstrapper::new(&s.ctx, config.clone(), &[full]).unwrap();
    let usual = Bootstrapper::new(&s.ctx, BootstrapConfig::default(), &[full]).unwrap();
    assert_eq!((bs.input_level(), bs.output_level(), bs.levels_left()), (3, usual.output_level() + 3, 2));
    let bk = BootstrapKeys::generate(&s.sk, &config, &[full]).unwrap();
    // CtS keys in the top four levels, StC-only keys at levels 1–3.
    let top = s.ctx.max_level();
    let levels: Vec<usize> = bk.galois_keys().levels().map(|(_, l)| l).collect();
    assert!(levels.iter().all(|&l| (top - 3..=top).contains(&l) || (1..=3).contains(&l)), "{levels:?}");
    assert!(levels.iter().any(|&l| l <= 3), "{levels:?}");
    let (delta, dec) = (s.ctx.params().scale(), Decryptor::new(&s.sk));
    let v = cplx(&random_vec(full, 70), &random_vec(full, 71));
    let ct = s.enc.encrypt(&s.encoder.encode(&v, full, 3, delta).unwrap()).unwrap();
    let out = bs.bootstrap(&ct, &s.rlk, &bk).unwrap();
    assert_eq!((out.level(), out.scale()), (bs.output_level(), delta));
    let err = max_cerr(&s.encoder.decode(&dec.decrypt(&out).unwrap()).unwrap(), &v);
    eprintln!("SlotsToCoeffs first, full slots: error 2^{:.1}", err.log2());
    // Measured 2^-26.0; the usual order 2^-27.3 (above).
    assert!(err < f64::exp2(-23.0), "error 2^{:.1}", err.log2());
    for err in real_pair_errors(&s, &bs, &bk, full, 72) {
        assert!(err < f64::exp2(-22.5), "SlotsToCoeffs first, real pair: error 2^{:.1}", err.log2());
    }
    // Sparse slots, unpacked: complex values through two EvalMods
    // (measured 2^-30.0; real ones through one: the next test).
    let sparse = Bootstrapper::new(&s.ctx, config.clone(), &[64]).unwrap();
    let sparse_keys = BootstrapKeys::generate(&s.sk, &config, &[64]).unwrap();
    let (err, _) = boot_errors(&s, &sparse, &sparse_keys, 64, 73);
    assert!(err < f64::exp2(-27.5), "SlotsToCoeffs first, 64 slots: error 2^{:.1}", err.log2());
    // Level 0 (the usual order's input) is refused.
    let low = s.enc.encrypt(&s.encoder.encode(&v, full, 0, delta).unwrap()).unwrap();
    assert!(matches!(bs.bootstrap(&low, &s.rlk, &bk), Err(CkksError::BootstrapInput(_))));
    assert!(matches!(bs.bootstrap_real(&low, &s.rlk, &bk), Err(CkksError::BootstrapInput(_))));
    assert!(matches!(bs.bootstrap_real_pair(&low, &low, &s.rlk, &bk), Err(CkksError::BootstrapInput(_))));
    let squaring_last = BootstrapConfig { arcsine: false, double_angle: 1, cheb_degree: 63, ..config };
    let refused = Bootstrapper::new(&s.ctx, squaring_last, &[full]).unwrap_err();
    assert!(matches!(&refused, CkksError::InvalidParameters(m) if m.contains("arcsine")), "{refused}");
}

/// Real values with SlotsToCoeffs first: one EvalMod (the imaginary
/// coefficient half is zero), within the complex bootstrap's precision at
/// full and sparse slots; an imaginary part is dropped (the result is the
/// real part). In the usual order `bootstrap_real` is `bootstrap`.
#[test]
fn bootstrap_real_refreshes_the_real_part() {
    let s = small_boot();
    let config = BootstrapConfig { slots_to_coeffs_first: true, ..BootstrapConfig::default() };
    let slots = [s.ctx.n() / 2, 64];
    let bs = Bootstrapper::new(&s.ctx, config.clone(), &slots).unwrap();
    let bk = BootstrapKeys::generate(&s.sk, &config, &slots).unwrap();
    // Measured 2^-26.5 / 2^-30.4 (full, 64 slots) for real inputs, the
    // same with an imaginary part dropped; the complex bootstrap 2^-26.0
    // at full slots (previous test).
    for (&n, bound) in slots.iter().zip([-24.5, -28.0]) {
        for (seed, imaginary) in [(80, false), (82, true)] {
            let (max, _) = real_errors_of(&s, &bs, &bk, n, seed, imaginary);
            assert!(max < f64::exp2(bound), "{n} slots, imaginary {imaginary}: error 2^{:.1}", max.log2());
        }
    }
    // The usual order: the same as `bootstrap` for real input.
    let usual = Bootstrapper::new(&s.ctx, BootstrapConfig::default(), &[64]).unwrap();
    let usual_keys = BootstrapKeys::generate(&s.sk, &BootstrapConfig::default(), &[64]).unwrap();
    let (max, _) = real_errors(&s, &usual, &usual_keys, 64, 84);
    // Measured 2^-30.5.
    assert!(max < f64::exp2(-28.0), "usual order, 64 slots: error 2^{:.1}", max.log2());
}

/// Two real vectors through one bootstrap (`a + i·b`, split by one
/// conjugation): both come back within the single-vector precision, at
/// the same level and exactly Δ; mismatched inputs are typed errors.
#[test]
fn bootstrap_real_pair_refreshes_two_vectors_at_once() {
    let s = small_boot();
    let config = BootstrapConfig::default();
    let slots = [s.ctx.n() / 2, 64];
    let bs = Bootstrapper::new(&s.ctx, config.clone(), &slots).unwrap();
    let bk = BootstrapKeys::generate(&s.sk, &config, &slots).unwrap();
    let delta = s.ctx.params().scale();
    for (i, &n) in slots.iter().enumerate() {
        for err in real_pair_errors(&s, &bs, &bk, n, 40 + 10 * i as u64) {
            // Measured 2^-26.5 (full) and 2^-29.8 (64 slots); bounds ≈ 16× those.
            let bound = if n == 64 { -25.5 } else { -22.5 };
            assert!(err < f64::exp2(bound), "{n} slots: error 2^{:.1}", err.log2());
        }
    }
    let v = random_vec(64, 3);
    let a = s.enc.encrypt(&s.encoder.encode_real(&v, 64, 0, delta).unwrap()).unwrap();
    let b32 = s.enc.encrypt(&s.encoder.encode_real(&v[..32], 32, 0, delta).unwrap()).unwrap();
    assert!(matches!(bs.bootstrap_real_pair(&a, &b32, &s.rlk, &bk), Err(CkksError::InvalidSlots(_))));
    let b1 = s.enc.encrypt(&s.encoder.encode_real(&v, 64, 1, delta).unwrap()).unwrap();
    assert!(matches!(bs.bootstrap_real_pair(&a, &b1, &s.rlk, &bk), Err(CkksError::BootstrapInput(_))));
    let b_scale = s.enc.encrypt(&s.encoder.encode_real(&v, 64, 0, delta * 1.5).unwrap()).unwrap();
    assert!(matches!(bs.bootstrap_real_pair(&a, &b_scale, &s.rlk, &bk), Err(CkksError::ScaleMismatch { .. })));
}
