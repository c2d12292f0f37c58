//! Fuzz targets of the binary envelope readers: parameters, public,
//! relinearization, Galois, bootstrapping and secret keys, plaintexts,
//! ciphertexts (2- and 3-part) and seeded ciphertexts.
//!
//! Each target mutates a file of the seed corpus `fuzz/corpus/ckks`
//! (made by [`corpus_loads`] when `HECNN_FUZZ_REGENERATE=1`) and feeds it to
//! its reader, then to what the reader's caller does next with an `Ok`
//! (decrypt, expand, check against the relinearization key...). Most
//! cases recompute the checksum (`serial::reseal`), often after fitting the
//! body length to the file, so the mutations reach the body parsers. The
//! property: `Ok` or `Err`, never a panic, within the time and heap bounds
//! of the harness. `HECNN_FUZZ_CASES=N` runs N cases per target
//! (fuzz/README.md).

#[path = "../../../fuzz/envelope.rs"]
mod envelope;
#[path = "../../../fuzz/harness.rs"]
mod harness;

use envelope::{finish, hot_spots, post, Post};
use harness::{apply_all, mutations, run_bounded, Mutation};
use hecnn_ckks::circuits::{BootstrapConfig, BootstrapKeys, Bootstrapper};
use hecnn_ckks::ring::primes::{ntt_primes, PrimeSide};
use hecnn_ckks::serial::{reseal, MAGIC, VERSION};
use hecnn_ckks::*;
use proptest::prelude::*;
use proptest::sample::Index;
use std::sync::{Arc, OnceLock};

#[global_allocator]
static ALLOC: harness::Counting = harness::Counting;

/// Default cases per target.
const CASES: u32 = 1024;

/// The ring of the corpus: N = 32, six ciphertext primes (enough levels
/// for the smallest bootstrapping circuit), so every key is a few KiB.
fn corpus_params() -> Parameters {
    Parameters::insecure_for_tests(5, &[60, 40, 40, 40, 40, 40], 3, 40).unwrap()
}

/// The smallest bootstrapping circuit the key generator accepts.
fn tiny_bootstrap() -> BootstrapConfig {
    BootstrapConfig {
        cts_levels: 1,
        stc_levels: 1,
        cheb_degree: 3,
        double_angle: 0,
        arcsine: false,
        hamming_weight: 4,
        ..BootstrapConfig::default()
    }
}

const LABEL: &str = "fuzz/ct/0";

/// Corpus files: (name, path under fuzz/corpus).
const FILES: &[(&str, &str)] = &[
    ("params", "ckks/params.bin"),
    ("params-light", "ckks/params-light.bin"),
    ("public-key", "ckks/public.key"),
    ("relin-key", "ckks/relin.key"),
    ("galois-keys", "ckks/galois.key"),
    ("bootstrap-keys", "ckks/bootstrap.key"),
    ("secret-key", "ckks/secret.key"),
    ("plaintext", "ckks/plaintext.pt"),
    ("ciphertext", "ckks/ciphertext.ct"),
    ("ciphertext-3", "ckks/ciphertext-3.ct"),
    ("seeded", "ckks/seeded.ct"),
];

/// Writes the corpus: parameters (the test ring and the `light` preset)
/// and one object of every kind, all of one key set.
fn write_corpus() {
    let params = corpus_params();
    let ctx = Context::new(params.clone()).unwrap();
    let sk = SecretKey::from_seed(&ctx, [7; 32]);
    let binding = Binding::new(sk.key_set(), LABEL).unwrap();
    let encoder = Encoder::new(&ctx);
    let values: Vec<f64> = (0..16).map(|i| (i as f64 - 7.5) / 8.0).collect();
    let pt = encoder.encode_real(&values, 16, 3, ctx.params().scale()).unwrap();
    let pk = PublicKey::generate(&sk);
    let ct = Encryptor::new(&ctx, pk.clone()).unwrap().encrypt(&pt).unwrap();
    let ct3 = Evaluator::new(&ctx).mul(&ct, &ct).unwrap();
    let seeded = Decryptor::new(&sk).encrypt_symmetric(&pt).unwrap();
    let boot = BootstrapKeys::generate(&sk, &tiny_bootstrap(), &[4]).unwrap();
    let files: Vec<Vec<u8>> = vec![
        params.to_bytes(),
        Preset::Light.params().to_bytes(),
        pk.to_bytes(&ctx),
        RelinKey::generate(&sk).to_bytes(&ctx),
        GaloisKeys::generate(&sk, &[1, 2, -3], true).to_bytes(&ctx),
        boot.to_bytes(&ctx),
        sk.to_secret_bytes().to_vec(),
        pt.to_bytes(&ctx, &binding),
        ct.to_bytes(&ctx, &binding),
        ct3.to_bytes(&ctx, &binding),
        seeded.to_bytes(&ctx, &binding),
    ];
    for ((_, path), bytes) in FILES.iter().zip(files) {
        harness::write_corpus(path, &bytes);
    }
}

struct Fixture {
    ctx: Arc<Context>,
    sk: SecretKey,
    rlk: RelinKey,
    gk: GaloisKeys,
    ct: Ciphertext,
    ct3: Ciphertext,
    binding: Binding,
    files: Vec<Vec<u8>>,
}

/// The corpus, loaded with the readers under test (so a corpus that no
/// longer loads fails here first).
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        harness::exclusive(|| {
            if harness::regenerate() {
                write_corpus();
            }
            let files: Vec<Vec<u8>> = FILES.iter().map(|(_, p)| harness::read_corpus(p)).collect();
            let file = |name: &str| &files[FILES.iter().position(|(n, _)| *n == name).unwrap()];
            let params = Parameters::from_bytes(file("params"), true).expect("corpus parameters load");
            let ctx = Context::new(params).unwrap();
            let sk = SecretKey::from_secret_bytes(&ctx, file("secret-key")).expect("corpus secret key loads");
            let rlk = RelinKey::from_bytes(&ctx, file("relin-key")).expect("corpus relinearization key loads");
            let gk = GaloisKeys::from_bytes(&ctx, file("galois-keys")).expect("corpus Galois keys load");
            let binding = Binding::new(sk.key_set(), LABEL).unwrap();
            let ct = Ciphertext::from_bytes(&ctx, file("ciphertext"), &binding).expect("corpus ciphertext loads");
            let ct3 =
                Ciphertext::from_bytes(&ctx, file("ciphertext-3"), &binding).expect("corpus 3-part ciphertext loads");
            Fixture { ctx, sk, rlk, gk, ct, ct3, binding, files }
        })
    })
}

fn corpus_file(name: &str) -> &'static [u8] {
    &fixture().files[FILES.iter().position(|(n, _)| *n == name).unwrap()]
}

/// Every committed corpus file loads and is what its reader expects.
#[test]
fn corpus_loads() {
    let f = fixture();
    let ctx = &f.ctx;
    assert!(Parameters::from_bytes(corpus_file("params-light"), false).unwrap().preset() == Some(Preset::Light));
    f.sk.check_relin_key(&f.rlk).unwrap();
    let pk = PublicKey::from_bytes(ctx, corpus_file("public-key")).unwrap();
    let boot = BootstrapKeys::from_bytes(ctx, corpus_file("bootstrap-keys")).unwrap();
    assert_eq!(boot.slots(), &[4]);
    EvaluationKeySet::new(ctx, f.rlk.clone(), f.gk.clone(), Some(boot)).unwrap();
    let pt = Plaintext::from_bytes(ctx, corpus_file("plaintext"), &f.binding).unwrap();
    let seeded = SeededCiphertext::from_bytes(ctx, corpus_file("seeded"), &f.binding).unwrap();
    assert_eq!(f.ct3.num_parts(), 3);
    let encoder = Encoder::new(ctx);
    let want = encoder.decode_real(&pt).unwrap();
    let dec = Decryptor::new(&f.sk);
    let fresh = Encryptor::new(ctx, pk).unwrap().encrypt(&pt).unwrap();
    for ct in [&f.ct, &seeded.expand(ctx).unwrap(), &fresh] {
        let got = encoder.decode_real(&dec.decrypt(ct).unwrap()).unwrap();
        let err = want.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(err < 1e-4, "corpus ciphertext decrypts {err} off");
    }
}

// ---------------------------------------------------------------- mutation

fn pool() -> Vec<&'static [u8]> {
    fixture().files.iter().map(Vec::as_slice).collect()
}

fn mutate(name: &str, ms: &[Mutation], post: Post) -> Vec<u8> {
    let base = corpus_file(name);
    finish(apply_all(base, ms, &pool(), &hot_spots(base)), post)
}

/// Runs `check` on `bytes` within the harness bounds; fails the case on a
/// panic, a hang or a heap peak.
fn run(bytes: Vec<u8>, check: fn(&'static Fixture, &[u8])) -> std::result::Result<(), TestCaseError> {
    let f = fixture();
    run_bounded(move || check(f, &bytes)).map_err(TestCaseError::fail)
}

// ---------------------------------------------------------------- checks

fn check_params(_: &'static Fixture, b: &[u8], allow_insecure: bool, target: &str) {
    let r = Parameters::from_bytes(b, allow_insecure);
    harness::tally(target, &harness::outcome(&r));
    if let Ok(p) = r {
        if let Ok(ctx) = Context::new(p) {
            let _ = Encoder::new(&ctx);
        }
    }
}

fn check_public_key(f: &'static Fixture, b: &[u8]) {
    let r = PublicKey::from_bytes(&f.ctx, b);
    harness::tally("public_key", &harness::outcome(&r));
    if let Ok(pk) = r {
        let pt = Encoder::new(&f.ctx).encode_real(&[0.5], 16, 2, f.ctx.params().scale()).unwrap();
        let _ = Encryptor::new(&f.ctx, pk).and_then(|e| e.encrypt(&pt));
    }
}

fn check_relin_key(f: &'static Fixture, b: &[u8]) {
    let r = RelinKey::from_bytes(&f.ctx, b);
    harness::tally("relin_key", &harness::outcome(&r));
    if let Ok(rlk) = r {
        let _ = f.sk.check_relin_key(&rlk);
        let _ = Evaluator::new(&f.ctx).relinearize(&f.ct3, &rlk);
    }
}

fn check_galois_keys(f: &'static Fixture, b: &[u8]) {
    let r = GaloisKeys::from_bytes(&f.ctx, b);
    harness::tally("galois_keys", &harness::outcome(&r));
    if let Ok(gk) = r {
        let ev = Evaluator::new(&f.ctx);
        for step in [1, 2, -3, 5] {
            let _ = ev.rotate(&f.ct, step, &gk);
        }
        let _ = ev.conjugate(&f.ct, &gk);
        let _ = ev.rotate_hoisted(&f.ct, &[1, 2, -3], &gk);
        let _ = EvaluationKeySet::new(&f.ctx, f.rlk.clone(), gk, None);
    }
}

fn check_bootstrap_keys(f: &'static Fixture, b: &[u8]) {
    let r = BootstrapKeys::from_bytes(&f.ctx, b);
    harness::tally("bootstrap_keys", &harness::outcome(&r));
    // The streaming reader accepts exactly what the in-memory one does.
    let streamed = BootstrapKeys::read_from(&f.ctx, &mut &b[..], b.len() as u64);
    match (&r, &streamed) {
        (Ok(x), Ok(y)) => assert!(x.to_bytes(&f.ctx) == y.to_bytes(&f.ctx), "streamed keys differ"),
        (Err(_), Err(_)) => {}
        _ => panic!("from_bytes {:?} but read_from {:?}", r.as_ref().map(drop), streamed.as_ref().map(drop)),
    }
    if let Ok(bk) = r {
        // What a server does next: the bootstrapper for the keys' slot counts.
        if let Ok(b) = Bootstrapper::new(&f.ctx, tiny_bootstrap(), bk.slots()) {
            for &s in bk.slots() {
                let _ = b.rotation_count(s);
            }
        }
        let _ = EvaluationKeySet::new(&f.ctx, f.rlk.clone(), f.gk.clone(), Some(bk));
    }
}

fn check_secret_key(f: &'static Fixture, b: &[u8]) {
    let r = SecretKey::from_secret_bytes(&f.ctx, b);
    harness::tally("secret_key", &harness::outcome(&r));
    if let Ok(sk) = r {
        let _ = sk.check_relin_key(&f.rlk);
        let _ = Decryptor::new(&sk).decrypt(&f.ct).and_then(|pt| Encoder::new(&f.ctx).decode(&pt));
    }
}

fn check_plaintext(f: &'static Fixture, b: &[u8]) {
    let r = Plaintext::from_bytes(&f.ctx, b, &f.binding);
    harness::tally("plaintext", &harness::outcome(&r));
    if let Ok(pt) = r {
        let _ = Encoder::new(&f.ctx).decode(&pt);
        let _ = Evaluator::new(&f.ctx).mul_plain(&f.ct, &pt);
    }
}

fn use_ciphertext(f: &'static Fixture, ct: &Ciphertext) {
    let _ = Decryptor::new(&f.sk).decrypt(ct).and_then(|pt| Encoder::new(&f.ctx).decode(&pt));
    let ev = Evaluator::new(&f.ctx);
    let _ = ev.relinearize(ct, &f.rlk).and_then(|c| ev.rescale(&c));
    let _ = ev.add(ct, &f.ct);
}

fn check_ciphertext(f: &'static Fixture, b: &[u8]) {
    let r = Ciphertext::from_bytes(&f.ctx, b, &f.binding);
    harness::tally("ciphertext", &harness::outcome(&r));
    if let Ok(ct) = r {
        use_ciphertext(f, &ct);
    }
}

fn check_seeded(f: &'static Fixture, b: &[u8]) {
    let r = SeededCiphertext::from_bytes(&f.ctx, b, &f.binding);
    harness::tally("seeded", &harness::outcome(&r));
    if let Ok(s) = r {
        if let Ok(ct) = s.expand(&f.ctx) {
            use_ciphertext(f, &ct);
        }
    }
}

// ---------------------------------------------------------------- structured parameters

/// NTT-friendly primes for N ≤ 2^8 (so valid for every ring the structured
/// strategy draws), 20 to 60 bits.
fn prime_pool() -> &'static [u64] {
    static P: OnceLock<Vec<u64>> = OnceLock::new();
    P.get_or_init(|| {
        let mut out: Vec<u64> = Vec::new();
        for bits in [60, 50, 40, 30, 20] {
            let got = ntt_primes(bits, 4, 1 << 9, PrimeSide::Below, &out).unwrap();
            out.extend(got);
        }
        out
    })
}

/// A parameter body field by field; written with its true fingerprint.
#[derive(Clone, Debug)]
struct ParamSpec {
    name: Vec<u8>,
    log_n: u32,
    q: Vec<u64>,
    p: Vec<u64>,
    dnum: u16,
    log_scale: u32,
    secret: (u8, u32),
    insecure: u8,
}

fn prime_list(max: usize) -> impl Strategy<Value = Vec<u64>> {
    let one = prop_oneof![
        8 => any::<Index>().prop_map(|i| prime_pool()[i.index(prime_pool().len())]),
        1 => any::<Index>().prop_map(|i| prime_pool()[i.index(prime_pool().len())] + 2),
        1 => prop_oneof![Just(0u64), Just(1), Just(2), Just(1 << 17), Just((1 << 61) - 1), Just(u64::MAX), any::<u64>()],
    ];
    prop::collection::vec(one, 0..=max)
}

fn param_spec() -> impl Strategy<Value = ParamSpec> {
    let name = prop_oneof![
        Just(b"insecure-test".to_vec()),
        Just(b"light".to_vec()),
        Just(Vec::new()),
        prop::collection::vec(any::<u8>(), 0..300),
    ];
    let log_n = prop_oneof![8 => 3u32..=9, 1 => Just(17u32), 1 => any::<u32>()];
    let dnum = prop_oneof![4 => 0u16..=4, 1 => any::<u16>()];
    let log_scale = prop_oneof![4 => 9u32..=61, 1 => any::<u32>()];
    let secret = prop_oneof![
        4 => Just((0u8, 0u32)),
        3 => (Just(1u8), prop_oneof![0u32..=300, any::<u32>()]),
        1 => (2u8..=255, any::<u32>()),
    ];
    let insecure = prop_oneof![8 => Just(1u8), 2 => Just(0u8), 1 => 2u8..=255];
    (name, log_n, prime_list(9), prime_list(3), dnum, log_scale, secret, insecure).prop_map(
        |(name, log_n, q, p, dnum, log_scale, secret, insecure)| ParamSpec {
            name,
            log_n,
            q,
            p,
            dnum,
            log_scale,
            secret,
            insecure,
        },
    )
}

/// The library's parameter fingerprint, written out independently.
fn fingerprint(s: &ParamSpec) -> u64 {
    let mut h = blake3::Hasher::new_derive_key("hecnn-ckks parameters v1");
    h.update(&s.log_n.to_le_bytes());
    for list in [&s.q, &s.p] {
        h.update(&(list.len() as u64).to_le_bytes());
        list.iter().for_each(|x| {
            h.update(&x.to_le_bytes());
        });
    }
    h.update(&(s.dnum as u64).to_le_bytes());
    h.update(&s.log_scale.to_le_bytes());
    match s.secret.0 {
        1 => h.update(&[1]).update(&(s.secret.1 as u64).to_le_bytes()),
        _ => h.update(&[0]),
    };
    h.update(&[s.insecure]);
    u64::from_le_bytes(h.finalize().as_bytes()[..8].try_into().unwrap())
}

fn param_file(s: &ParamSpec) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&(s.name.len() as u16).to_le_bytes());
    body.extend_from_slice(&s.name);
    body.extend_from_slice(&s.log_n.to_le_bytes());
    for list in [&s.q, &s.p] {
        body.extend_from_slice(&(list.len() as u16).to_le_bytes());
        list.iter().for_each(|x| body.extend_from_slice(&x.to_le_bytes()));
    }
    body.extend_from_slice(&s.dnum.to_le_bytes());
    body.extend_from_slice(&s.log_scale.to_le_bytes());
    body.push(s.secret.0);
    if s.secret.0 == 1 {
        body.extend_from_slice(&s.secret.1.to_le_bytes());
    }
    body.push(s.insecure);
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&fingerprint(s).to_le_bytes());
    out.extend_from_slice(&[0; 16]);
    out.push(6);
    out.extend_from_slice(b"params");
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&body);
    out.extend_from_slice(&[0; 32]);
    reseal(&mut out);
    out
}

// ---------------------------------------------------------------- targets

proptest! {
    #![proptest_config(harness::config(CASES))]

    /// `Parameters::from_bytes` (with and without the insecure opt-in), then
    /// `Context::new` on what it accepts, on the test ring and `light`.
    #[test]
    fn fuzz_parameters(light in any::<bool>(), allow in any::<bool>(), ms in mutations(), post in post()) {
        let bytes = mutate(if light { "params-light" } else { "params" }, &ms, post);
        let f = fixture();
        run_bounded(move || check_params(f, &bytes, allow, "parameters")).map_err(TestCaseError::fail)?;
    }

    /// Parameter files built field by field with a valid fingerprint and
    /// checksum: every limit `validate` and `Context::new` rely on.
    #[test]
    fn fuzz_parameters_structured(spec in param_spec(), allow in any::<bool>()) {
        let bytes = param_file(&spec);
        let f = fixture();
        run_bounded(move || check_params(f, &bytes, allow, "parameters_structured")).map_err(TestCaseError::fail)?;
    }

    /// `PublicKey::from_bytes`, then encryption with the key.
    #[test]
    fn fuzz_public_key(ms in mutations(), post in post()) {
        run(mutate("public-key", &ms, post), check_public_key)?;
    }

    /// `RelinKey::from_bytes`, the secret key's check against it, and a relinearization.
    #[test]
    fn fuzz_relin_key(ms in mutations(), post in post()) {
        run(mutate("relin-key", &ms, post), check_relin_key)?;
    }

    /// `GaloisKeys::from_bytes`, then rotations and conjugation with the keys.
    #[test]
    fn fuzz_galois_keys(ms in mutations(), post in post()) {
        run(mutate("galois-keys", &ms, post), check_galois_keys)?;
    }

    /// `BootstrapKeys::from_bytes` (nested Galois envelope resealed too), then
    /// a bootstrapper for its slot counts and the evaluation-key set.
    #[test]
    fn fuzz_bootstrap_keys(ms in mutations(), post in post()) {
        run(mutate("bootstrap-keys", &ms, post), check_bootstrap_keys)?;
    }

    /// `SecretKey::from_secret_bytes`, its check against the relinearization
    /// key, and a decryption.
    #[test]
    fn fuzz_secret_key(ms in mutations(), post in post()) {
        run(mutate("secret-key", &ms, post), check_secret_key)?;
    }

    /// `Plaintext::from_bytes`, decoding, a plaintext product.
    #[test]
    fn fuzz_plaintext(ms in mutations(), post in post()) {
        run(mutate("plaintext", &ms, post), check_plaintext)?;
    }

    /// `Ciphertext::from_bytes` on 2- and 3-part ciphertexts, then decryption,
    /// relinearization, rescaling, addition.
    #[test]
    fn fuzz_ciphertext(three in any::<bool>(), ms in mutations(), post in post()) {
        run(mutate(if three { "ciphertext-3" } else { "ciphertext" }, &ms, post), check_ciphertext)?;
    }

    /// `SeededCiphertext::from_bytes`, expansion (what the server does), decryption.
    #[test]
    fn fuzz_seeded_ciphertext(ms in mutations(), post in post()) {
        run(mutate("seeded", &ms, post), check_seeded)?;
    }
}
