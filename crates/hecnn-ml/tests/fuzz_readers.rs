//! Fuzz targets of the directory readers: `upload::load_upload` (what the
//! server reads) and `upload::load_model` followed by the client's model
//! checks (`TrainingClient::decrypt_model_private` and `release_model`).
//!
//! Each case copies a valid directory to a temporary one (hard links for
//! the files it leaves alone) and changes one file: JSON value edits of
//! the manifest, byte edits of any file (of a binary file mostly resealed,
//! so the checksum passes), the file removed, another file of the
//! directory in its place, or a stray `bootstrap.key`; then it calls the
//! reader. The property: `Ok` or `Err`, never a panic, within
//! the time and heap bounds of the harness. `HECNN_FUZZ_CASES=N` runs N
//! cases per target (fuzz/README.md).
//!
//! The upload's seed corpus is `fuzz/corpus/upload` (its manifest and
//! `light` parameters); its keys and ciphertexts (about 7 MB at N = 2^14)
//! are made when the test starts. The model's is `fuzz/corpus/model` with
//! the client's ring and secret key in `fuzz/corpus/model-client`.

#[path = "../../../fuzz/envelope.rs"]
mod envelope;
#[path = "../../../fuzz/harness.rs"]
mod harness;

use envelope::{finish, hot_spots, post, Post};
use harness::{
    apply_all, apply_text_all, mutations, outcome, run_bounded, run_bounded_by, tally, text_mutations, Mutation,
    TextMutation,
};
use hecnn_ckks::*;
use hecnn_ml::mlr::client::{ModelExpectation, ReleasePolicy, TrainingClient};
use hecnn_ml::mlr::server::TrainingServer;
use hecnn_ml::packing::Layout;
use hecnn_ml::upload::{self, UploadError, BOOTSTRAP_KEYS_FILE, MAX_MODEL_ITERATIONS};
use proptest::prelude::*;
use proptest::sample::Index;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

#[global_allocator]
static ALLOC: harness::Counting = harness::Counting;

/// Default cases of the model target (a few ms each).
const MODEL_CASES: u32 = 512;
/// Default cases of the upload target (≈ 40 ms each: `light` keys).
const UPLOAD_CASES: u32 = 128;

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

/// A directory's files, sorted by name.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

// ---------------------------------------------------------------- upload

/// The upload job: 64 samples × 8 features (bias included) × 10 classes,
/// one ciphertext block each at N = 2^14 (`light`), so four ciphertexts.
const UP_SAMPLES: usize = 64;
const UP_FEATURES: usize = 8;
const UP_CLASSES: usize = 10;

/// Writes a whole upload for the `light` preset into `dir`; its manifest
/// and parameters are the corpus's (the key set comes from a fixed seed).
fn make_upload(dir: &Path) {
    let ctx = Context::new(Preset::Light.params()).unwrap();
    let sk = SecretKey::from_seed(&ctx, [9; 32]);
    let layout = Layout::choose(UP_SAMPLES, UP_FEATURES, UP_CLASSES, ctx.n() / 2).unwrap();
    let gk = GaloisKeys::generate(&sk, &layout.rotation_steps(), false);
    let keys = EvaluationKeySet::new(&ctx, RelinKey::generate(&sk), gk, None).unwrap();
    let x: Vec<Vec<f64>> =
        (0..UP_SAMPLES).map(|i| (0..UP_FEATURES).map(|j| ((i * 7 + j) as f64 * 0.29).sin()).collect()).collect();
    let xs: Vec<Vec<f64>> = x.iter().map(|r| r.iter().map(|v| v * 0.1).collect()).collect();
    let y: Vec<u8> = (0..UP_SAMPLES).map(|i| (i % UP_CLASSES) as u8).collect();
    let init = vec![vec![0.01; UP_FEATURES]; UP_CLASSES];
    // Level 0: one limb per ciphertext keeps the upload small.
    let client = TrainingClient::new(&sk).at_level(0);
    let data = client.encrypt_dataset(&x, &xs, &y, UP_CLASSES, &init, layout).unwrap();
    upload::save_upload(dir, &keys, &data).unwrap();
}

/// What `hecnn train-server` does with an upload directory before it
/// trains: load and check it, then build the server.
fn server_on(dir: &Path) -> std::result::Result<(), UploadError> {
    let up = upload::load_upload(dir)?;
    let _ = TrainingServer::new(up.keys);
    Ok(())
}

struct Upload {
    /// A complete, valid upload directory.
    dir: tempfile::TempDir,
    names: Vec<String>,
    /// The cases' heap bound: the honest upload carries the Galois keys
    /// its layout needs, and loading it with the server peaks above the
    /// default bound.
    max_bytes: usize,
}

fn upload_fixture() -> &'static Upload {
    static U: OnceLock<Upload> = OnceLock::new();
    U.get_or_init(|| {
        let (dir, names) = harness::exclusive(|| {
            let dir = tempdir();
            make_upload(dir.path());
            for name in ["manifest.json", "params.bin"] {
                let rel = format!("upload/{name}");
                if harness::regenerate() {
                    harness::write_corpus(&rel, &std::fs::read(dir.path().join(name)).unwrap());
                }
                std::fs::write(dir.path().join(name), harness::read_corpus(&rel)).unwrap();
            }
            let names = listing(dir.path());
            (dir, names)
        });
        // Measured outside `exclusive`: a bounded run takes the same lock.
        let honest = dir.path().to_path_buf();
        let (_, peak) = run_bounded_by(usize::MAX, move || server_on(&honest).expect("the honest upload loads"))
            .expect("the honest upload runs");
        Upload { dir, names, max_bytes: harness::bound_above(peak) }
    })
}

// ---------------------------------------------------------------- model

/// The model job: 4 samples × 3 features × 2 classes, trained for one
/// iteration on the corpus ring (N = 32, data at the top level 5).
const M_SAMPLES: usize = 4;
const M_FEATURES: usize = 3;
const M_CLASSES: usize = 2;

fn model_params() -> Parameters {
    Parameters::insecure_for_tests(5, &[60, 40, 40, 40, 40, 40], 3, 40).unwrap()
}

/// Trains the model job with the real server code and writes the model
/// directory and the client's parameters and secret key.
fn write_model_corpus() {
    let ctx = Context::new(model_params()).unwrap();
    let sk = SecretKey::from_seed(&ctx, [5; 32]);
    let x: Vec<Vec<f64>> = (0..M_SAMPLES)
        .map(|i| std::iter::once(1.0).chain((1..M_FEATURES).map(|j| ((i * 3 + j) as f64).sin())).collect())
        .collect();
    let xs: Vec<Vec<f64>> = x.iter().map(|r| r.iter().map(|v| v * 0.2).collect()).collect();
    let y: Vec<u8> = (0..M_SAMPLES).map(|i| (i % M_CLASSES) as u8).collect();
    let layout = model_layout(&ctx);
    let keys = EvaluationKeySet::new(
        &ctx,
        RelinKey::generate(&sk),
        GaloisKeys::generate(&sk, &layout.rotation_steps(), false),
        None,
    )
    .unwrap();
    let init = vec![vec![0.01; M_FEATURES]; M_CLASSES];
    let data = TrainingClient::new(&sk).encrypt_dataset(&x, &xs, &y, M_CLASSES, &init, layout).unwrap();
    let data = data.expand(&ctx).unwrap();
    let (model, _) = TrainingServer::new(keys.clone()).unwrap().train(&data, 1, &mut |_| {}).unwrap();
    let dir = tempdir();
    upload::save_model(dir.path(), &keys, &data, &model).unwrap();
    for name in listing(dir.path()) {
        harness::write_corpus(&format!("model/{name}"), &std::fs::read(dir.path().join(&name)).unwrap());
    }
    harness::write_corpus("model-client/params.bin", &ctx.params().to_bytes());
    harness::write_corpus("model-client/secret.key", &sk.to_secret_bytes());
}

fn model_layout(ctx: &Context) -> Layout {
    Layout::choose(M_SAMPLES, M_FEATURES, M_CLASSES, ctx.n() / 2).unwrap()
}

struct ModelFixture {
    ctx: Arc<Context>,
    sk: SecretKey,
    layout: Layout,
    /// The corpus model directory (a copy).
    dir: tempfile::TempDir,
    names: Vec<String>,
}

fn model_fixture() -> &'static ModelFixture {
    static M: OnceLock<ModelFixture> = OnceLock::new();
    M.get_or_init(|| {
        harness::exclusive(|| {
            if harness::regenerate() {
                write_model_corpus();
            }
            let params = Parameters::from_bytes(&harness::read_corpus("model-client/params.bin"), true).unwrap();
            let ctx = Context::new(params).unwrap();
            let sk = SecretKey::from_secret_bytes(&ctx, &harness::read_corpus("model-client/secret.key")).unwrap();
            let layout = model_layout(&ctx);
            let names = listing(&harness::corpus_dir().join("model"));
            let dir = tempdir();
            for n in &names {
                std::fs::write(dir.path().join(n), harness::read_corpus(&format!("model/{n}"))).unwrap();
            }
            ModelFixture { ctx, sk, layout, dir, names }
        })
    })
}

/// What the client expects of its own job (from its records, not the manifest).
fn expectation(m: &ModelFixture) -> ModelExpectation {
    ModelExpectation {
        layout: m.layout,
        classes: M_CLASSES,
        features: M_FEATURES,
        key_set: m.sk.key_set(),
        data_level: m.ctx.max_level(),
        refresh_level: None,
        log_scale: m.ctx.params().log_scale(),
        max_iterations: MAX_MODEL_ITERATIONS,
        value_tolerance: ReleasePolicy::for_job(false).reference_tolerance,
        reference: None,
    }
}

/// `load_model`, then the client's checks and release on what loads.
fn check_model(m: &'static ModelFixture, dir: &Path) -> std::result::Result<(), String> {
    let job = (&m.layout, M_CLASSES, M_FEATURES);
    let r = upload::load_model(dir, &m.ctx, m.sk.key_set(), job);
    tally("model_dir", &outcome(&r));
    let (_, model) = r.map_err(|e| e.to_string())?;
    let client = TrainingClient::new(&m.sk);
    let expect = expectation(m);
    let policy = ReleasePolicy::for_job(false);
    let private = client.decrypt_model_private(&model, &expect, policy.reference_tolerance);
    tally("model_checks", &outcome(&private));
    let released = client.release_model(&model, &expect, &policy);
    assert_eq!(private.is_ok(), released.is_ok(), "the release and the private decryption disagree");
    private.map(drop).map_err(|e| e.to_string())
}

// ---------------------------------------------------------------- corpus

/// The committed corpus loads: the upload (with keys and ciphertexts made
/// now) and the model, which passes the client's checks.
#[test]
fn corpus_loads() {
    let up = upload_fixture();
    let loaded = upload::load_upload(up.dir.path()).expect("corpus upload loads");
    assert_eq!((loaded.data.samples, loaded.data.features, loaded.data.classes), (UP_SAMPLES, UP_FEATURES, UP_CLASSES));
    let m = model_fixture();
    assert!(m.names.len() >= 3 && m.names.contains(&"manifest.json".to_string()), "{:?}", m.names);
    check_model(m, m.dir.path()).expect("corpus model loads and passes the client's checks");
}

// ---------------------------------------------------------------- directory mutation

/// What happens to a file of a directory.
#[derive(Clone, Debug)]
enum Change {
    /// JSON value edits of `manifest.json`.
    Json(Vec<TextMutation>),
    /// Byte edits of the chosen file, then (binary files) the envelope's
    /// post-processing.
    Bytes(Vec<Mutation>, Post),
    /// The chosen file is removed.
    Remove,
    /// Another file of the directory takes the chosen one's place.
    Replace(Index),
    /// A `bootstrap.key` appears, a copy of the chosen file.
    StrayBootstrapKeys,
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        8 => text_mutations().prop_map(Change::Json),
        16 => (mutations(), post()).prop_map(|(m, p)| Change::Bytes(m, p)),
        1 => Just(Change::Remove),
        2 => any::<Index>().prop_map(Change::Replace),
        1 => Just(Change::StrayBootstrapKeys),
    ]
}

/// Builds the mutated directory in `out`: every file of `src` (`names`),
/// hard-linked when untouched, with `change` applied to file `which`.
fn mutated_dir(out: &Path, src: &Path, names: &[String], which: usize, change: &Change) {
    let which = match change {
        Change::Json(_) => names.iter().position(|n| n == "manifest.json").expect("a manifest"),
        _ => which,
    };
    let read = |i: usize| std::fs::read(src.join(&names[i])).unwrap();
    for (i, name) in names.iter().enumerate() {
        let target = out.join(name);
        if i != which {
            if std::fs::hard_link(src.join(name), &target).is_err() {
                std::fs::copy(src.join(name), &target).unwrap();
            }
            continue;
        }
        let base = read(i);
        let edited = match change {
            Change::Remove => continue,
            Change::Replace(k) => read(k.index(names.len())),
            Change::StrayBootstrapKeys => {
                std::fs::write(out.join(BOOTSTRAP_KEYS_FILE), &base).unwrap();
                base
            }
            Change::Json(ms) => apply_text_all(&base, ms),
            Change::Bytes(ms, p) => {
                let edited = apply_all(&base, ms, &[], &hot_spots(&base));
                if name.ends_with(".json") {
                    edited
                } else {
                    finish(edited, *p)
                }
            }
        };
        std::fs::write(&target, edited).unwrap();
    }
}

fn run_dir<F>(check: F) -> std::result::Result<(), TestCaseError>
where
    F: FnOnce() + Send + 'static,
{
    run_bounded(check).map_err(TestCaseError::fail)
}

// ---------------------------------------------------------------- targets

proptest! {
    #![proptest_config(harness::config(MODEL_CASES))]

    /// `upload::load_model` on a mutated model directory, then the client's
    /// checks, decryption and release of what loads.
    #[test]
    fn fuzz_model_dir(which in any::<Index>(), change in change()) {
        let m = model_fixture();
        let out = tempdir();
        mutated_dir(out.path(), m.dir.path(), &m.names, which.index(m.names.len()), &change);
        let dir: PathBuf = out.path().to_path_buf();
        run_dir(move || {
            let _ = check_model(m, &dir);
        })?;
    }
}

proptest! {
    #![proptest_config(harness::config(UPLOAD_CASES))]

    /// `upload::load_upload` on a mutated upload directory (`light`
    /// parameters, relinearization and Galois keys, manifest, four seeded
    /// ciphertexts), then the training server on what loads.
    #[test]
    fn fuzz_upload_dir(which in any::<Index>(), change in change()) {
        let up = upload_fixture();
        let out = tempdir();
        mutated_dir(out.path(), up.dir.path(), &up.names, which.index(up.names.len()), &change);
        let dir: PathBuf = out.path().to_path_buf();
        run_bounded_by(up.max_bytes, move || {
            let r = server_on(&dir);
            tally("upload_dir", &outcome(&r));
        })
        .map_err(TestCaseError::fail)?;
    }
}
