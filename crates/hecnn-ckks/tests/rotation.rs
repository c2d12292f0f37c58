mod common;
use common::*;
use hecnn_ckks::*;

fn rotated(v: &[f64], k: i64) -> Vec<f64> {
    let n = v.len() as i64;
    (0..n).map(|i| v[((i + k).rem_euclid(n)) as usize]).collect()
}

#[test]
fn rotations_and_hoisting() {
    let s = small();
    let slots = s.ctx.n() / 2;
    let steps = [1i64, -1, 7, -7, (s.ctx.n() / 4) as i64 - 1];
    let gk = GaloisKeys::generate(&s.sk, &steps, true);
    let v = random_vec(slots, 11);
    let ct = s.encrypt(&v);
    let hoisted = s.ev.rotate_hoisted(&ct, &steps, &gk).unwrap();
    for (&k, h) in steps.iter().zip(&hoisted) {
        let r = s.ev.rotate(&ct, k, &gk).unwrap();
        let got = s.decrypt(&r);
        assert!(max_err(&rotated(&v, k), &got) < 1e-6, "rotation {k}");
        // Hoisted and plain rotations decrypt to the same values.
        assert!(max_err(&got, &s.decrypt(h)) < 1e-7, "hoisted {k}");
    }
    // Conjugation of complex slots.
    let z: Vec<Complex64> = (0..slots).map(|i| Complex64::new(v[i], v[(i + 1) % slots])).collect();
    let pt = s.encoder.encode(&z, slots, s.ctx.max_level(), s.ctx.params().scale()).unwrap();
    let cz = s.enc.encrypt(&pt).unwrap();
    let conj = s.ev.conjugate(&cz, &gk).unwrap();
    let back = s.encoder.decode(&Decryptor::new(&s.sk).decrypt(&conj).unwrap()).unwrap();
    for (a, b) in z.iter().zip(&back) {
        assert!((a.conj() - b).norm() < 1e-6);
    }
    // Missing key is a typed error.
    assert!(matches!(s.ev.rotate(&ct, 3, &gk), Err(CkksError::MissingGaloisKey { rotation: Some(3), .. })));
}

#[test]
fn sparse_slot_rotation() {
    let s = small();
    let gk = GaloisKeys::generate(&s.sk, &[1, 3], false);
    let v = random_vec(16, 12);
    let pt = s.encoder.encode_real(&v, 16, 8, s.ctx.params().scale()).unwrap();
    let ct = s.enc.encrypt(&pt).unwrap();
    let r = s.ev.rotate(&ct, 3, &gk).unwrap();
    let got = s.encoder.decode_real(&Decryptor::new(&s.sk).decrypt(&r).unwrap()).unwrap();
    assert!(max_err(&rotated(&v, 3), &got) < 1e-6);
}

/// 30-bit primes take the 32-bit NTT and the 64-bit lazy inner product
/// (the inference chains): rotations, hoisted rotations and relinearized
/// products must decrypt as on the 40-bit chain.
#[test]
fn small_prime_chain_rotates_and_multiplies() {
    let s = setup(Parameters::insecure_for_tests(12, &[50, 30, 30, 30, 30, 30, 30], 3, 30).unwrap());
    let slots = s.ctx.n() / 2;
    let steps = [1i64, -5, 64];
    let gk = GaloisKeys::generate(&s.sk, &steps, false);
    let v = random_vec(slots, 21);
    let ct = s.encrypt(&v);
    let hoisted = s.ev.rotate_hoisted(&ct, &steps, &gk).unwrap();
    for (&k, h) in steps.iter().zip(&hoisted) {
        let got = s.decrypt(&s.ev.rotate(&ct, k, &gk).unwrap());
        assert!(max_err(&rotated(&v, k), &got) < 1e-4, "rotation {k}");
        assert!(max_err(&got, &s.decrypt(h)) < 1e-4, "hoisted {k}");
    }
    let sq = s.ev.rescale(&s.ev.mul_relin(&ct, &ct, &s.rlk).unwrap()).unwrap();
    let want: Vec<f64> = v.iter().map(|x| x * x).collect();
    assert!(max_err(&want, &s.decrypt(&sq)) < 1e-4);
}
