mod common;
use common::*;
use hecnn_ckks::*;

#[test]
fn encode_decode_round_trip() {
    let s = small();
    for slots in [1usize, 8, 256, 2048] {
        let v = random_vec(slots, 1);
        let pt = s.encoder.encode_real(&v, slots, 3, s.ctx.params().scale()).unwrap();
        let back = s.encoder.decode_real(&pt).unwrap();
        assert!(max_err(&v, &back) < 1e-9, "slots {slots}: {}", max_err(&v, &back));
    }
    // Complex values.
    let z: Vec<Complex64> = (0..16).map(|i| Complex64::new(i as f64 / 16.0, -(i as f64) / 32.0)).collect();
    let pt = s.encoder.encode(&z, 16, 8, 2f64.powi(40)).unwrap();
    let back = s.encoder.decode(&pt).unwrap();
    for (a, b) in z.iter().zip(&back) {
        assert!((a - b).norm() < 1e-9);
    }
}

#[test]
fn encrypt_decrypt_public_and_secret_key() {
    let s = small();
    let v = random_vec(2048, 2);
    let ct = s.encrypt(&v);
    assert!(max_err(&v, &s.decrypt(&ct)) < 1e-6);
    let pt = s.encoder.encode_real(&v, 2048, 8, s.ctx.params().scale()).unwrap();
    let ct2 = Decryptor::new(&s.sk).encrypt_symmetric(&pt).unwrap().expand(&s.ctx).unwrap();
    assert!(max_err(&v, &s.decrypt(&ct2)) < 1e-6);
}

#[test]
fn add_sub_mul_and_constants() {
    let s = small();
    let (a, b) = (random_vec(2048, 3), random_vec(2048, 4));
    let (ca, cb) = (s.encrypt(&a), s.encrypt(&b));
    let sum: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
    let diff: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
    let prod: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x * y).collect();
    assert!(max_err(&sum, &s.decrypt(&s.ev.add(&ca, &cb).unwrap())) < 1e-6);
    assert!(max_err(&diff, &s.decrypt(&s.ev.sub(&ca, &cb).unwrap())) < 1e-6);
    let m = s.ev.mul_relin_rescale(&ca, &cb, &s.rlk).unwrap();
    assert_eq!(m.level(), s.ctx.max_level() - 1);
    assert!(max_err(&prod, &s.decrypt(&m)) < 1e-5);
    // Lazy relinearization: a·b + a·a relinearized once.
    let lazy = s.ev.add(&s.ev.mul(&ca, &cb).unwrap(), &s.ev.mul(&ca, &ca).unwrap()).unwrap();
    let lazy = s.ev.rescale(&s.ev.relinearize(&lazy, &s.rlk).unwrap()).unwrap();
    let want: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x * y + x * x).collect();
    assert!(max_err(&want, &s.decrypt(&lazy)) < 1e-5);
    // 3-part ciphertexts decrypt too.
    let three = s.ev.mul(&ca, &cb).unwrap();
    assert!(max_err(&prod, &s.decrypt(&three)) < 1e-5);
    // Constants and plaintexts.
    let c = s.ev.rescale(&s.ev.mul_const(&ca, -0.375).unwrap()).unwrap();
    assert_eq!(c.scale(), ca.scale());
    let want: Vec<f64> = a.iter().map(|x| -0.375 * x).collect();
    assert!(max_err(&want, &s.decrypt(&c)) < 1e-6);
    let c = s.ev.add_const(&ca, 0.5).unwrap();
    let want: Vec<f64> = a.iter().map(|x| x + 0.5).collect();
    assert!(max_err(&want, &s.decrypt(&c)) < 1e-6);
    let pb = s.encoder.encode_real(&b, 2048, 8, s.ctx.params().scale()).unwrap();
    let c = s.ev.rescale(&s.ev.mul_plain(&ca, &pb).unwrap()).unwrap();
    assert!(max_err(&prod, &s.decrypt(&c)) < 1e-5);
    // Fused multiply-accumulate: a⊙b + b⊙a + a⊙a in one accumulator.
    let pa = s.encoder.encode_real(&a, 2048, 8, s.ctx.params().scale()).unwrap();
    let mut acc = s.ev.mul_plain(&ca, &pb).unwrap();
    s.ev.mul_plain_add_assign(&mut acc, &cb, &pa).unwrap();
    s.ev.mul_plain_add_assign(&mut acc, &ca, &pa).unwrap();
    let want: Vec<f64> = a.iter().zip(&b).map(|(x, y)| 2.0 * x * y + x * x).collect();
    assert!(max_err(&want, &s.decrypt(&s.ev.rescale(&acc).unwrap())) < 1e-5);
    // ...refused at another level or scale.
    let low = s.ev.drop_to_level(&ca, 5).unwrap();
    assert!(matches!(s.ev.mul_plain_add_assign(&mut acc, &low, &pa), Err(CkksError::InvalidCiphertext(_))));
    let half_scale = s.encoder.encode_real(&a, 2048, 8, s.ctx.params().scale() / 2.0).unwrap();
    assert!(matches!(s.ev.mul_plain_add_assign(&mut acc, &ca, &half_scale), Err(CkksError::ScaleMismatch { .. })));
    // The same sum as one dot product, residue for residue (and its
    // chunked form, past `PlainDotSum::CHUNK` terms).
    let dot = s.ev.dot_plain(&[(&ca, &pb), (&cb, &pa), (&ca, &pa)]).unwrap();
    assert_eq!(dot, acc);
    let mut chunked = PlainDotSum::new(&s.ev);
    for _ in 0..PlainDotSum::CHUNK + 1 {
        chunked.push(&ca, pb.clone()).unwrap();
    }
    let nine: Vec<f64> = prod.iter().map(|x| 9.0 * x).collect();
    assert!(max_err(&nine, &s.decrypt(&s.ev.rescale(&chunked.finish().unwrap().unwrap()).unwrap())) < 1e-4);
    assert!(PlainDotSum::new(&s.ev).finish().unwrap().is_none());
    // ...refused when empty, across levels or scales.
    assert!(matches!(s.ev.dot_plain(&[]), Err(CkksError::InvalidCiphertext(_))));
    assert!(matches!(s.ev.dot_plain(&[(&ca, &pa), (&low, &pa)]), Err(CkksError::InvalidCiphertext(_))));
    assert!(matches!(s.ev.dot_plain(&[(&ca, &pa), (&cb, &half_scale)]), Err(CkksError::ScaleMismatch { .. })));
    let c = s.ev.mul_integer(&ca, -3).unwrap();
    let want: Vec<f64> = a.iter().map(|x| -3.0 * x).collect();
    assert!(max_err(&want, &s.decrypt(&c)) < 1e-6);
    let c = s.ev.neg(&ca).unwrap();
    let want: Vec<f64> = a.iter().map(|x| -x).collect();
    assert!(max_err(&want, &s.decrypt(&c)) < 1e-6);
}

#[test]
fn depth_ten_chain_of_products() {
    let s =
        setup(Parameters::insecure_for_tests(12, &[60, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40], 4, 40).unwrap());
    let a = random_vec(2048, 5);
    let b: Vec<f64> = random_vec(2048, 6).iter().map(|x| 0.9 + 0.1 * x).collect();
    let mut ct = s.encrypt(&a);
    let cb = s.encrypt(&b);
    let mut want = a.clone();
    for _ in 0..10 {
        ct = s.ev.mul_relin_rescale(&ct, &cb, &s.rlk).unwrap();
        want.iter_mut().zip(&b).for_each(|(w, x)| *w *= x);
    }
    assert_eq!(ct.level(), 1);
    let err = max_err(&want, &s.decrypt(&ct));
    assert!(err < 1e-4, "depth-10 error {err}");
}

#[test]
fn level_alignment_and_scale_checks() {
    let s = small();
    let a = random_vec(2048, 7);
    let ca = s.encrypt(&a);
    let low = s.ev.drop_to_level(&ca, 3).unwrap();
    // Different levels: aligned down automatically.
    let sum = s.ev.add(&ca, &low).unwrap();
    assert_eq!(sum.level(), 3);
    let want: Vec<f64> = a.iter().map(|x| 2.0 * x).collect();
    assert!(max_err(&want, &s.decrypt(&sum)) < 1e-6);
    // Different scales: refused.
    let sq = s.ev.mul_relin(&ca, &ca, &s.rlk).unwrap();
    assert!(matches!(s.ev.add(&sq, &ca), Err(CkksError::ScaleMismatch { .. })));
    // set_scale fixes it explicitly.
    let fixed = s.ev.set_scale(&s.ev.rescale(&sq).unwrap(), ca.scale()).unwrap();
    let want: Vec<f64> = a.iter().map(|x| x * x + x).collect();
    assert!(max_err(&want, &s.decrypt(&s.ev.add(&fixed, &ca).unwrap())) < 1e-5);
    // Level exhausted.
    let bottom = s.ev.drop_to_level(&ca, 0).unwrap();
    assert_eq!(s.ev.rescale(&bottom).unwrap_err(), CkksError::LevelExhausted { needed: 1, level: 0 });
    // Scale overflow is an error, not garbage.
    let mut x = s.ev.drop_to_level(&ca, 1).unwrap();
    x = s.ev.mul_relin(&x, &x, &s.rlk).unwrap();
    assert!(matches!(s.ev.mul(&x, &x), Err(CkksError::ScaleOutOfBounds(_))));
    // Levels beyond the chain are refused, not a panic.
    assert!(matches!(s.encoder.encode_constant(1.0, 4, 99, 1e10), Err(CkksError::LevelExhausted { .. })));
    assert!(matches!(s.encoder.encode_real(&[1.0], 4, 99, 1e10), Err(CkksError::LevelExhausted { .. })));
    // NaN input.
    assert_eq!(s.encoder.encode_real(&[1.0, f64::NAN], 4, 1, 1e10).unwrap_err(), CkksError::NonFinite { index: 1 });
}

#[test]
fn mixing_parameter_sets_is_an_error() {
    let s = small();
    let t = setup(Parameters::insecure_for_tests(12, &[60, 40, 40], 1, 40).unwrap());
    let ca = s.encrypt(&[0.5]);
    let cb = t.encrypt(&[0.5]);
    assert!(matches!(s.ev.add(&ca, &cb), Err(CkksError::ParameterMismatch { .. })));
    assert!(matches!(t.ev.rescale(&ca), Err(CkksError::ParameterMismatch { .. })));
    assert!(matches!(Decryptor::new(&t.sk).decrypt(&ca), Err(CkksError::ParameterMismatch { .. })));
}

#[test]
fn insecure_parameters_are_refused() {
    let err = Parameters::new("too-big", 13, &[60; 5], 1, 40).unwrap_err();
    assert!(matches!(err, CkksError::InsecureParameters { log_n: 13, .. }));
    // An insecure set cannot lose its mark: it loads only with the opt-in.
    let p = Parameters::insecure_for_tests(13, &[60; 5], 1, 40).unwrap();
    assert!(p.is_insecure());
    assert!(Parameters::from_bytes(&p.to_bytes(), false).is_err());
    for preset in Preset::ALL {
        let p = preset.params();
        assert!(p.log_qp() <= hecnn_ckks::params::max_log_qp_128(p.log_n()).unwrap() as f64);
        assert!(p.security_bits() >= 128.0);
    }
}

/// `rescale(k·a·b + add)` fused into the relinearization's ModDown equals
/// the unfused steps within the product's noise; an addend at another
/// scale or below the product's level is refused.
#[test]
fn fused_product_with_addend() {
    let s = small();
    let (a, b, c) = (random_vec(2048, 41), random_vec(2048, 42), random_vec(2048, 43));
    let (ca, cb, cc) = (s.encrypt(&a), s.encrypt(&b), s.encrypt(&c));
    // c at the product's scale (Δ²), as a Chebyshev step's −T_{i−j} is.
    let scale = ca.scale() * cb.scale();
    let cc2 = s.ev.linear_combination(&[(&cc, -1.0)], scale, cc.level()).unwrap();
    let fused = s.ev.mul_relin_add_rescale(&ca, &cb, &s.rlk, 2, Some(&cc2)).unwrap();
    let want: Vec<f64> = (0..a.len()).map(|i| 2.0 * a[i] * b[i] - c[i]).collect();
    assert_eq!((fused.level(), fused.scale()), (ca.level() - 1, scale / s.ctx.params().q()[ca.level()] as f64));
    let unfused = s
        .ev
        .rescale(&s.ev.add(&s.ev.mul_integer(&s.ev.mul_relin(&ca, &cb, &s.rlk).unwrap(), 2).unwrap(), &cc2).unwrap())
        .unwrap();
    assert!(max_err(&want, &s.decrypt(&fused)) < 1e-5);
    assert!(max_err(&s.decrypt(&unfused), &s.decrypt(&fused)) < 1e-6);
    assert!(matches!(s.ev.mul_relin_add_rescale(&ca, &cb, &s.rlk, 2, Some(&cc)), Err(CkksError::ScaleMismatch { .. })));
    let low = s.ev.drop_to_level(&cc2, 1).unwrap();
    assert!(matches!(
        s.ev.mul_relin_add_rescale(&ca, &cb, &s.rlk, 2, Some(&low)),
        Err(CkksError::LevelExhausted { .. })
    ));
}
