mod common;
use common::*;
use hecnn_ckks::*;
use proptest::prelude::*;
use std::sync::{Arc, OnceLock};

/// Loads one kind of object; ciphertexts must carry `binding`.
type Loader = fn(&Arc<Context>, &Binding, &[u8]) -> Result<()>;

struct Fixture {
    s: Setup,
    other: Arc<Context>,
    /// The binding every ciphertext and plaintext was written with.
    binding: Binding,
    /// (name, bytes, loader) for every serialized type.
    files: Vec<(&'static str, Vec<u8>, Loader)>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let s = setup(Parameters::insecure_for_tests(10, &[50, 40, 40], 2, 40).unwrap());
        let other = Context::new(Parameters::insecure_for_tests(10, &[50, 40], 2, 40).unwrap()).unwrap();
        let ctx = &s.ctx;
        let v = random_vec(512, 1);
        let pt = s.encoder.encode_real(&v, 512, 2, ctx.params().scale()).unwrap();
        let ct = s.enc.encrypt(&pt).unwrap();
        let seeded = Decryptor::new(&s.sk).encrypt_symmetric(&pt).unwrap();
        let three = s.ev.mul(&ct, &ct).unwrap();
        let pk = PublicKey::generate(&s.sk);
        let gk = GaloisKeys::generate(&s.sk, &[1, -3], true);
        let binding = Binding::new(s.sk.key_set(), "test/ct/0").unwrap();
        let b = &binding;
        let files: Vec<(&'static str, Vec<u8>, Loader)> = vec![
            ("params", ctx.params().to_bytes(), |_, _, b| Parameters::from_bytes(b, true).map(drop)),
            ("public key", pk.to_bytes(ctx), |c, _, b| PublicKey::from_bytes(c, b).map(drop)),
            ("relin key", s.rlk.to_bytes(ctx), |c, _, b| RelinKey::from_bytes(c, b).map(drop)),
            ("galois keys", gk.to_bytes(ctx), |c, _, b| GaloisKeys::from_bytes(c, b).map(drop)),
            ("plaintext", pt.to_bytes(ctx, b), |c, e, b| Plaintext::from_bytes(c, b, e).map(drop)),
            ("ciphertext", ct.to_bytes(ctx, b), |c, e, b| Ciphertext::from_bytes(c, b, e).map(drop)),
            ("seeded ciphertext", seeded.to_bytes(ctx, b), |c, e, b| SeededCiphertext::from_bytes(c, b, e).map(drop)),
            ("3-part ciphertext", three.to_bytes(ctx, b), |c, e, b| Ciphertext::from_bytes(c, b, e).map(drop)),
            ("secret key", s.sk.to_secret_bytes().to_vec(), |c, _, b| SecretKey::from_secret_bytes(c, b).map(drop)),
        ];
        Fixture { s, other, binding, files }
    })
}

fn format_err(r: Result<()>) -> FormatError {
    match r {
        Err(CkksError::Format(f)) => f,
        other => panic!("expected a format error, got {other:?}"),
    }
}

#[test]
fn round_trips_preserve_values() {
    let f = fixture();
    let s = &f.s;
    let ctx = &s.ctx;
    let b = &f.binding;
    for (name, bytes, load) in &f.files {
        load(ctx, b, bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert_eq!(&Parameters::from_bytes(&ctx.params().to_bytes(), true).unwrap(), ctx.params());
    let v = random_vec(512, 2);
    let pt = s.encoder.encode_real(&v, 512, 2, ctx.params().scale()).unwrap();
    // Public-key ciphertext.
    let ct = s.enc.encrypt(&pt).unwrap();
    let back = Ciphertext::from_bytes(ctx, &ct.to_bytes(ctx, b), b).unwrap();
    assert_eq!(back, ct);
    // Seeded ciphertext: c1 regenerated, about half the bytes.
    let seeded = Decryptor::new(&s.sk).encrypt_symmetric(&pt).unwrap();
    let bytes = seeded.to_bytes(ctx, b);
    assert!(bytes.len() * 10 < ct.to_bytes(ctx, b).len() * 6);
    let back = SeededCiphertext::from_bytes(ctx, &bytes, b).unwrap();
    assert_eq!(back, seeded);
    assert!(max_err(&v, &s.decrypt(&back.expand(ctx).unwrap())) < 1e-6);
    // Keys: loaded keys work.
    let rlk = RelinKey::from_bytes(ctx, &s.rlk.to_bytes(ctx)).unwrap();
    assert_eq!(rlk, s.rlk);
    let sq = s.ev.mul_relin_rescale(&ct, &ct, &rlk).unwrap();
    let want: Vec<f64> = v.iter().map(|x| x * x).collect();
    assert!(max_err(&want, &s.decrypt(&sq)) < 1e-5);
    let gk = GaloisKeys::generate(&s.sk, &[5], false);
    let gk2 = GaloisKeys::from_bytes(ctx, &gk.to_bytes(ctx)).unwrap();
    assert_eq!(gk2, gk);
    let sk2 = SecretKey::from_secret_bytes(ctx, &s.sk.to_secret_bytes()).unwrap();
    let dec = s.encoder.decode_real(&Decryptor::new(&sk2).decrypt(&ct).unwrap()).unwrap();
    assert!(max_err(&v, &dec) < 1e-6);
    let pk = PublicKey::generate(&s.sk);
    assert_eq!(PublicKey::from_bytes(ctx, &pk.to_bytes(ctx)).unwrap(), pk);
}

#[test]
fn targeted_corruptions_give_typed_errors() {
    let f = fixture();
    let ctx = &f.s.ctx;
    let bd = &f.binding;
    let load = |l: &Loader, c: &Arc<Context>, b: &[u8]| l(c, bd, b);
    for (name, bytes, loader) in &f.files {
        let load = |c: &Arc<Context>, b: &[u8]| load(loader, c, b);
        // Truncated.
        let e = format_err(load(ctx, &bytes[..bytes.len() - 1]));
        assert!(matches!(e, FormatError::Truncated { .. }), "{name}: {e}");
        let e = format_err(load(ctx, &bytes[..10]));
        assert!(matches!(e, FormatError::Truncated { .. }), "{name}: {e}");
        // Bit flip in the body.
        let mut b = bytes.clone();
        let mid = b.len() / 2;
        b[mid] ^= 0x10;
        assert_eq!(format_err(load(ctx, &b)), FormatError::Checksum, "{name}");
        // Wrong magic.
        let mut b = bytes.clone();
        b[0] = b'X';
        assert_eq!(format_err(load(ctx, &b)), FormatError::BadMagic, "{name}");
        // Wrong version.
        let mut b = bytes.clone();
        b[8] = 9;
        assert_eq!(
            format_err(load(ctx, &b)),
            FormatError::UnsupportedVersion { found: 9, supported: hecnn_ckks::serial::VERSION },
            "{name}"
        );
        // Extra bytes.
        let mut b = bytes.clone();
        b.push(0);
        assert_eq!(format_err(load(ctx, &b)), FormatError::TrailingBytes(1), "{name}");
        // Other parameters.
        if *name != "params" {
            let e = format_err(load(&f.other, bytes));
            assert!(matches!(e, FormatError::ParameterMismatch { .. }), "{name}: {e}");
        }
    }
    // Wrong kind.
    let ct_bytes = &f.files[5].1;
    assert!(matches!(
        format_err(Plaintext::from_bytes(ctx, ct_bytes, bd).map(drop)),
        FormatError::WrongKind { found: 6, expected: 5 }
    ));
    // Insecure parameter files are refused without the opt-in.
    let p = ctx.params().to_bytes();
    assert_eq!(format_err(Parameters::from_bytes(&p, false).map(drop)), FormatError::InsecureRefused);
    let secure = Preset::Light.params();
    assert_eq!(Parameters::from_bytes(&secure.to_bytes(), false).unwrap(), secure);
}

/// A ciphertext is read only where its key set and label say it belongs:
/// another key set, another role or another index is refused by name.
#[test]
fn bindings_are_checked() {
    let f = fixture();
    let ctx = &f.s.ctx;
    let ct_bytes = &f.files[5].1;
    let other_set = KeySetId([9; 16]);
    let e = format_err(Ciphertext::from_bytes(ctx, ct_bytes, &Binding::new(other_set, "test/ct/0").unwrap()).map(drop));
    assert_eq!(e, FormatError::KeySetMismatch { expected: other_set, found: f.s.sk.key_set() });
    let e = format_err(
        Ciphertext::from_bytes(ctx, ct_bytes, &Binding::new(f.s.sk.key_set(), "test/ct/1").unwrap()).map(drop),
    );
    assert_eq!(e, FormatError::LabelMismatch { expected: "test/ct/1".into(), found: "test/ct/0".into() });
    assert!(e.to_string().contains("test/ct/0"), "{e}");
    // A seeded file is not a full ciphertext, and the reverse.
    let seeded = &f.files[6].1;
    assert!(matches!(
        format_err(Ciphertext::from_bytes(ctx, seeded, &f.binding).map(drop)),
        FormatError::WrongKind { .. }
    ));
    for bad in ["", "a b", "é", &"x".repeat(65)] {
        assert!(Binding::new(f.s.sk.key_set(), bad).is_err(), "{bad:?}");
    }
    // Keys carry their key set through a round trip.
    let rlk = RelinKey::from_bytes(ctx, &f.files[2].1).unwrap();
    assert_eq!(rlk.key_set(), f.s.sk.key_set());
}

/// The secret key is checked against the relinearization key before use:
/// another key set's secret fails even with a forged header.
#[test]
fn secret_key_is_checked_against_the_relinearization_key() {
    let f = fixture();
    let s = &f.s;
    s.sk.check_relin_key(&s.rlk).unwrap();
    let stranger = SecretKey::generate(&s.ctx);
    assert!(matches!(stranger.check_relin_key(&s.rlk), Err(CkksError::KeySetMismatch { .. })));
    // Forge: rewrite the stranger's header to claim the fixture's key set.
    let mut bytes = stranger.to_secret_bytes().to_vec();
    bytes[20..36].copy_from_slice(&s.sk.key_set().0);
    hecnn_ckks::serial::reseal(&mut bytes);
    let forged = SecretKey::from_secret_bytes(&s.ctx, &bytes).unwrap();
    assert_eq!(forged.key_set(), s.sk.key_set());
    assert!(matches!(forged.check_relin_key(&s.rlk), Err(CkksError::KeyCheck(_))));
}

/// Parameter files: only presets load without the test opt-in, and every
/// limit the arithmetic needs is checked (no panic in `Context::new`).
#[test]
fn crafted_parameter_sets_are_refused() {
    let light = Preset::Light.params();
    // A valid, secure, fingerprinted set that is not a preset.
    let custom = Parameters::new("light", 14, &[60, 40, 40], 1, 40).unwrap();
    assert_eq!(
        format_err(Parameters::from_bytes(&custom.to_bytes(), false).map(drop)),
        FormatError::UnknownParameterSet("light".into())
    );
    // Hand-built bodies with a correct fingerprint and checksum.
    let craft = |q: &[u64], p: &[u64], dnum: u16| -> Vec<u8> { craft_params(light.log_n(), q, p, dnum) };
    let q = light.q().to_vec();
    // 32 special primes (valid NTT primes of the ring): over the lazy-accumulation limit.
    let many_p = hecnn_ckks::ring::primes::ntt_primes(
        50,
        32,
        2u64 << light.log_n(),
        hecnn_ckks::ring::primes::PrimeSide::Below,
        &q,
    )
    .unwrap();
    for allow in [false, true] {
        let e = Parameters::from_bytes(&craft(&q, &many_p, 1), allow).unwrap_err();
        assert!(matches!(e, CkksError::Format(FormatError::InvalidField { field: "p count", .. })), "{e}");
        // A prime both in q and in p.
        let e = Parameters::from_bytes(&craft(&q, &[q[1]], 8), allow).unwrap_err();
        assert!(matches!(&e, CkksError::InvalidParameters(m) if m.contains("twice")), "{e}");
        // A composite "prime".
        let mut bad = q.clone();
        bad[2] = bad[1] * 3;
        assert!(Parameters::from_bytes(&craft(&bad, light.p(), 8), allow).is_err());
    }
}

/// A parameter file with the given primes, a valid fingerprint and checksum.
fn craft_params(log_n: u32, q: &[u64], p: &[u64], dnum: u16) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&5u16.to_le_bytes());
    body.extend_from_slice(b"light");
    body.extend_from_slice(&log_n.to_le_bytes());
    for list in [q, p] {
        body.extend_from_slice(&(list.len() as u16).to_le_bytes());
        list.iter().for_each(|x| body.extend_from_slice(&x.to_le_bytes()));
    }
    body.extend_from_slice(&dnum.to_le_bytes());
    body.extend_from_slice(&40u32.to_le_bytes());
    body.extend_from_slice(&[0, 0]);
    // The fingerprint covers the fields above; recompute it as the library does.
    let fp = fingerprint(log_n, q, p, dnum as u64, 40);
    let mut out = Vec::new();
    out.extend_from_slice(hecnn_ckks::serial::MAGIC);
    out.extend_from_slice(&hecnn_ckks::serial::VERSION.to_le_bytes());
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&fp.to_le_bytes());
    out.extend_from_slice(&[0; 16]);
    out.push(6);
    out.extend_from_slice(b"params");
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&body);
    out.extend_from_slice(&[0; 32]);
    hecnn_ckks::serial::reseal(&mut out);
    out
}

/// The parameter fingerprint, written out independently of the library.
fn fingerprint(log_n: u32, q: &[u64], p: &[u64], dnum: u64, log_scale: u32) -> u64 {
    let mut h = blake3::Hasher::new_derive_key("hecnn-ckks parameters v1");
    h.update(&log_n.to_le_bytes());
    for list in [q, p] {
        h.update(&(list.len() as u64).to_le_bytes());
        list.iter().for_each(|x| {
            h.update(&x.to_le_bytes());
        });
    }
    h.update(&dnum.to_le_bytes());
    h.update(&log_scale.to_le_bytes());
    h.update(&[0]);
    h.update(&[0]);
    u64::from_le_bytes(h.finalize().as_bytes()[..8].try_into().unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    /// Random corruptions of any file are rejected with an error, never a panic.
    #[test]
    fn random_corruptions_are_rejected(which in 0usize..9, flips in prop::collection::vec((any::<usize>(), 0u8..8), 1..4), cut in any::<Option<usize>>()) {
        let f = fixture();
        let (_, bytes, load) = &f.files[which];
        let mut b = bytes.clone();
        for (pos, bit) in &flips {
            let p = pos % b.len();
            b[p] ^= 1 << bit;
        }
        if let Some(c) = cut {
            b.truncate(c % b.len());
        }
        prop_assert!(load(&f.s.ctx, &f.binding, &b).is_err());
    }

    /// Arbitrary bytes behind a valid header never panic the loaders.
    #[test]
    fn garbage_never_panics(which in 0usize..9, body in prop::collection::vec(any::<u8>(), 0..300)) {
        let f = fixture();
        let (_, bytes, load) = &f.files[which];
        let header = 45 + bytes[36] as usize;
        let mut b = bytes[..header].to_vec();
        b.extend_from_slice(&body);
        prop_assert!(load(&f.s.ctx, &f.binding, &b).is_err());
    }
}

/// A sink that takes `.0` more bytes, then fails like a full disk.
struct FullDisk(usize);

impl std::io::Write for FullDisk {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if b.len() > self.0 {
            return Err(std::io::Error::new(std::io::ErrorKind::StorageFull, "disk full"));
        }
        self.0 -= b.len();
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Streaming gives exactly the in-memory bytes, lengths are known without
/// serializing, and a failing sink's error comes back instead of a panic.
#[test]
fn streamed_serialization_matches_memory_and_reports_sink_errors() {
    let f = fixture();
    let s = &f.s;
    let ctx = &s.ctx;
    let gk = GaloisKeys::generate(&s.sk, &[1, 2, -3], true);
    let bytes = gk.to_bytes(ctx);
    assert_eq!(gk.serialized_len(ctx), bytes.len() as u64);
    let mut out = Vec::new();
    assert_eq!(gk.write_to(ctx, &mut out).unwrap(), bytes.len() as u64);
    assert!(out == bytes, "streamed bytes differ from to_bytes");
    let err = gk.write_to(ctx, &mut FullDisk(bytes.len() / 2)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::StorageFull);
    assert_eq!(s.rlk.serialized_len(ctx), s.rlk.to_bytes(ctx).len() as u64);
    for (name, bytes, _) in &f.files {
        if name.contains("ciphertext") && !name.contains("seeded") {
            let ct = Ciphertext::from_bytes(ctx, bytes, &f.binding).unwrap();
            assert_eq!(ct.serialized_len(ctx, &f.binding), bytes.len() as u64, "{name}");
        }
    }
    let seeded = SeededCiphertext::from_bytes(ctx, &f.files[6].1, &f.binding).unwrap();
    assert_eq!(seeded.serialized_len(ctx, &f.binding), f.files[6].1.len() as u64);
}
