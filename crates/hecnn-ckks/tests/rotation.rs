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

/// A Galois key cut to level l rotates every ciphertext at levels ≤ l
/// exactly like a full key, is refused above l with a typed error, and
/// costs the limbs and digits of its level only (on disk too).
#[test]
fn level_restricted_keys_rotate_up_to_their_level() {
    let s = small();
    let ctx = &s.ctx;
    let slots = ctx.n() / 2;
    let (g1, g7) = (ctx.galois_element(1), ctx.galois_element(7));
    // Element 1 at level 4 (5 of 9 limbs, 2 of 3 digits), 7 at the top; 1
    // asked twice keeps the higher of its levels.
    let cut = GaloisKeys::generate_at_levels(&s.sk, &[(g1, 2), (g1, 4), (g7, ctx.max_level())]);
    let levels: Vec<(u64, usize)> = cut.levels().collect();
    assert_eq!(levels, {
        let mut l = vec![(g1, 4), (g7, ctx.max_level())];
        l.sort();
        l
    });
    let full = GaloisKeys::generate(&s.sk, &[1, 7], false);
    let v = random_vec(slots, 31);
    for level in [4usize, 3, 0] {
        let pt = s.encoder.encode_real(&v, slots, level, ctx.params().scale()).unwrap();
        let ct = s.enc.encrypt(&pt).unwrap();
        let got = s.decrypt(&s.ev.rotate(&ct, 1, &cut).unwrap());
        assert!(max_err(&rotated(&v, 1), &got) < 1e-5, "level {level}");
        let hoisted = s.ev.rotate_hoisted(&ct, &[1, 7], &cut).unwrap();
        assert!(max_err(&rotated(&v, 1), &s.decrypt(&hoisted[0])) < 1e-5, "hoisted, level {level}");
        assert!(max_err(&rotated(&v, 7), &s.decrypt(&hoisted[1])) < 1e-5, "hoisted 7, level {level}");
    }
    // Above its level: refused before any work, naming both levels.
    let ct = s.encrypt(&v);
    match s.ev.rotate(&ct, 1, &cut) {
        Err(CkksError::KeyLevel { key_level: 4, level, .. }) => assert_eq!(level, ctx.max_level()),
        other => panic!("expected KeyLevel, got {other:?}"),
    }
    assert!(matches!(s.ev.rotate_hoisted(&ct, &[7, 1], &cut), Err(CkksError::KeyLevel { key_level: 4, .. })));
    // Extending with a higher key replaces the low one; a lower one does not.
    let mut merged = cut.clone();
    merged.extend(full.clone()).unwrap();
    assert!(merged.levels().all(|(_, l)| l == ctx.max_level()));
    let mut kept = full.clone();
    kept.extend(cut.clone()).unwrap();
    assert_eq!(kept, full);
    // Size: element 1 holds 2 digits of 5 + k limbs, a full key 3 of 9 + k.
    let k = ctx.params().p().len();
    let (cut_units, full_units) = (2 * (5 + k) + 3 * (9 + k), 2 * 3 * (9 + k));
    assert_eq!(cut.memory_bytes() * full_units, full.memory_bytes() * cut_units);
    let back = GaloisKeys::from_bytes(ctx, &cut.to_bytes(ctx)).unwrap();
    assert_eq!(back, cut);
    assert!(cut.serialized_len(ctx) < full.serialized_len(ctx) * 3 / 4);
}

/// A key with its `a` expanded in memory switches exactly as the seeded
/// key (the same residues, read instead of regenerated), at its level and
/// below; above the level it was expanded to it falls back to the seed.
#[test]
fn expanded_keys_switch_exactly_as_seeded_ones() {
    let s = small();
    let slots = s.ctx.n() / 2;
    let gk = GaloisKeys::generate(&s.sk, &[3], false);
    let g = s.ctx.galois_element(3);
    let top = s.ctx.max_level();
    let expanded = gk.expanded(&s.ctx, &[g], top - 1);
    assert!(expanded.memory_bytes() > gk.memory_bytes());
    assert_eq!(expanded, gk, "expansion changes no key material");
    let rlk = s.rlk.expanded(&s.ctx, top);
    let v = random_vec(slots, 31);
    for level in [top, top - 1, 1] {
        let pt = s.encoder.encode_real(&v, slots, level, s.ctx.params().scale()).unwrap();
        let ct = s.enc.encrypt(&pt).unwrap();
        assert_eq!(s.ev.rotate(&ct, 3, &expanded).unwrap(), s.ev.rotate(&ct, 3, &gk).unwrap(), "level {level}");
        assert_eq!(s.ev.mul_relin(&ct, &ct, &rlk).unwrap(), s.ev.mul_relin(&ct, &ct, &s.rlk).unwrap(), "level {level}");
    }
}

/// `rotate_sum` (c_0 kept over Q·P through the chain) equals the chain of
/// rotations and additions it replaces, for steps that include a full turn.
#[test]
fn rotate_sum_matches_rotations_and_additions() {
    let s = small();
    let slots = s.ctx.n() / 2;
    let steps = [1i64, 2, 4, slots as i64, 64];
    let gk = GaloisKeys::generate(&s.sk, &steps, false);
    let v = random_vec(slots, 51);
    let ct = s.encrypt(&v);
    let mut chain = ct.clone();
    let mut want = v.clone();
    for &k in &steps {
        chain = s.ev.add(&chain, &s.ev.rotate(&chain, k, &gk).unwrap()).unwrap();
        let r = rotated(&want, k);
        want = want.iter().zip(&r).map(|(a, b)| a + b).collect();
    }
    let lazy = s.ev.rotate_sum(&ct, &steps, &gk).unwrap();
    let (got, reference) = (s.decrypt(&lazy), s.decrypt(&chain));
    assert!(max_err(&want, &got) < 1e-4, "{}", max_err(&want, &got));
    assert!(max_err(&reference, &got) < 1e-5);
    assert!(matches!(s.ev.rotate_sum(&ct, &[3], &gk), Err(CkksError::MissingGaloisKey { rotation: Some(3), .. })));
}
