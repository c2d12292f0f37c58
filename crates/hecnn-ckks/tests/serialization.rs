mod common;
use common::*;
use hecnn_ckks::*;
use proptest::prelude::*;
use std::sync::{Arc, OnceLock};

type Loader = fn(&Arc<Context>, &[u8]) -> Result<()>;

struct Fixture {
    s: Setup,
    other: Arc<Context>,
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
        let files: Vec<(&'static str, Vec<u8>, Loader)> = vec![
            ("params", ctx.params().to_bytes(), |_, b| Parameters::from_bytes(b, true).map(drop)),
            ("public key", pk.to_bytes(ctx), |c, b| PublicKey::from_bytes(c, b).map(drop)),
            ("relin key", s.rlk.to_bytes(ctx), |c, b| RelinKey::from_bytes(c, b).map(drop)),
            ("galois keys", gk.to_bytes(ctx), |c, b| GaloisKeys::from_bytes(c, b).map(drop)),
            ("plaintext", pt.to_bytes(ctx), |c, b| Plaintext::from_bytes(c, b).map(drop)),
            ("ciphertext", ct.to_bytes(ctx), |c, b| Ciphertext::from_bytes(c, b).map(drop)),
            ("seeded ciphertext", seeded.to_bytes(ctx), |c, b| Ciphertext::from_bytes(c, b).map(drop)),
            ("3-part ciphertext", three.to_bytes(ctx), |c, b| Ciphertext::from_bytes(c, b).map(drop)),
            ("secret key", s.sk.to_secret_bytes().to_vec(), |c, b| SecretKey::from_secret_bytes(c, b).map(drop)),
        ];
        Fixture { s, other, files }
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
    for (name, bytes, load) in &f.files {
        load(ctx, bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert_eq!(&Parameters::from_bytes(&ctx.params().to_bytes(), true).unwrap(), ctx.params());
    let v = random_vec(512, 2);
    let pt = s.encoder.encode_real(&v, 512, 2, ctx.params().scale()).unwrap();
    // Public-key ciphertext.
    let ct = s.enc.encrypt(&pt).unwrap();
    let back = Ciphertext::from_bytes(ctx, &ct.to_bytes(ctx)).unwrap();
    assert_eq!(back, ct);
    // Seeded ciphertext: c1 regenerated, about half the bytes.
    let seeded = Decryptor::new(&s.sk).encrypt_symmetric(&pt).unwrap();
    let bytes = seeded.to_bytes(ctx);
    assert!(bytes.len() * 10 < ct.to_bytes(ctx).len() * 6);
    let back = Ciphertext::from_bytes(ctx, &bytes).unwrap();
    assert_eq!(back, seeded);
    assert!(max_err(&v, &s.decrypt(&back)) < 1e-6);
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
    for (name, bytes, load) in &f.files {
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
        format_err(Plaintext::from_bytes(ctx, ct_bytes).map(drop)),
        FormatError::WrongKind { found: 6, expected: 5 }
    ));
    // Insecure parameter files are refused without the opt-in.
    let p = ctx.params().to_bytes();
    assert_eq!(format_err(Parameters::from_bytes(&p, false).map(drop)), FormatError::InsecureRefused);
    let secure = Preset::Light.params();
    assert_eq!(Parameters::from_bytes(&secure.to_bytes(), false).unwrap(), secure);
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
        prop_assert!(load(&f.s.ctx, &b).is_err());
    }

    /// Arbitrary bytes behind a valid header never panic the loaders.
    #[test]
    fn garbage_never_panics(which in 0usize..9, body in prop::collection::vec(any::<u8>(), 0..300)) {
        let f = fixture();
        let (_, bytes, load) = &f.files[which];
        let mut b = bytes[..28].to_vec();
        b.extend_from_slice(&body);
        prop_assert!(load(&f.s.ctx, &b).is_err());
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
        if name.contains("ciphertext") {
            let ct = Ciphertext::from_bytes(ctx, bytes).unwrap();
            assert_eq!(ct.serialized_len(ctx), bytes.len() as u64, "{name}");
        }
    }
}
