//! Fuzz targets of the CLI's own JSON readers: the client record
//! (`keys/client.json`, written by `hecnn encrypt`) and the weights file
//! (written by `hecnn decrypt-model`), both read by `hecnn evaluate`.
//!
//! The types live in the binary, so each case runs the real binary on a
//! mutated copy of the seed corpus `fuzz/corpus/cli` (made by
//! [`corpus_loads`] when `HECNN_FUZZ_REGENERATE=1`, in the shapes of
//! `roles::ClientState` and `roles::WeightsFile`; `corpus_loads` checks that
//! `hecnn evaluate` takes them). Mutations: JSON value edits (extreme,
//! negative and non-finite numbers, strings, nulls, containers, deep
//! nesting, long arrays and strings, duplicated keys) and byte edits. The
//! property: `hecnn evaluate` exits with success or an error (status 0 or
//! 1), never a panic (101) or a signal, within the harness's time bound.
//! `HECNN_FUZZ_CASES=N` runs N cases per target (fuzz/README.md).

#[path = "../../../fuzz/harness.rs"]
mod harness;

use harness::{any_mutations, apply_any};
use hecnn_ml::mlr::client::{fit_scaler, with_bias, Scaler};
use hecnn_ml::mlr::reference::{self, MlrConfig};
use hecnn_ml::packing::Layout;
use hecnn_nn::csv::{format_features, FeatureSet};
use proptest::prelude::*;
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Default cases per target (a process each, ≈ 10 ms).
const CASES: u32 = 256;
const CLASSES: usize = 10;

/// The corpus job's data: `n` samples of 4 features, every class present.
fn features(n: usize, shift: usize) -> FeatureSet {
    FeatureSet {
        labels: (0..n).map(|i| ((i + shift) % CLASSES) as u8).collect(),
        features: (0..n)
            .map(|i| (0..4).map(|j| (((i + shift) * 4 + j) as f64 * 0.613).sin() * (j + 1) as f64).collect())
            .collect(),
    }
}

/// `roles::ClientState`'s shape (the binary's type is not reachable from
/// tests): what `hecnn encrypt` writes to `keys/client.json`.
#[derive(Serialize)]
struct ClientState {
    samples: usize,
    features: usize,
    classes: usize,
    scaler: Scaler,
    layout: Layout,
    key_set: String,
    data_level: usize,
    refresh_level: Option<usize>,
    data: DataOptions,
}

/// `train::DataOptions`'s shape.
#[derive(Serialize)]
struct DataOptions {
    features_csv: Option<PathBuf>,
    test_features_csv: Option<PathBuf>,
    mnist_dir: Option<PathBuf>,
}

/// `roles::WeightsFile`'s shape: what `hecnn decrypt-model` writes.
#[derive(Serialize)]
struct WeightsFile {
    classes: usize,
    features: usize,
    iterations_hint: Option<usize>,
    statistical_security: Option<u32>,
    precision: Option<f64>,
    private: bool,
    w: Vec<Vec<f64>>,
    v: Vec<Vec<f64>>,
}

/// Writes `cli/`: the data (paths relative to where `hecnn` runs),
/// `keys/client.json` and `weights.json` of a job on it.
fn write_corpus() {
    let train = features(40, 0);
    let test = features(10, 5);
    harness::write_corpus("cli/train.csv", format_features(&train).unwrap().as_bytes());
    harness::write_corpus("cli/test.csv", format_features(&test).unwrap().as_bytes());
    let scaler = fit_scaler(&train.features).unwrap();
    let x = with_bias(&scaler.apply(&train.features).unwrap());
    let d = x[0].len();
    let light_slots = 1 << 13;
    let client = ClientState {
        samples: train.labels.len(),
        features: d,
        classes: CLASSES,
        scaler,
        layout: Layout::choose(train.labels.len(), d, CLASSES, light_slots).unwrap(),
        key_set: "0123456789abcdef0123456789abcdef".into(),
        data_level: 7,
        refresh_level: None,
        data: DataOptions {
            features_csv: Some("train.csv".into()),
            test_features_csv: Some("test.csv".into()),
            mnist_dir: None,
        },
    };
    harness::write_corpus("cli/keys/client.json", &serde_json::to_vec_pretty(&client).unwrap());
    let cfg = MlrConfig { iterations: 2, ..MlrConfig::default() };
    let reference = reference::train(&x, &train.labels, CLASSES, &cfg).unwrap();
    let step = 1.0 / 1024.0;
    let round = |m: &[Vec<f64>]| -> Vec<Vec<f64>> {
        m.iter().map(|r| r.iter().map(|v| (v / step).round() * step).collect()).collect()
    };
    let weights = WeightsFile {
        classes: CLASSES,
        features: d,
        iterations_hint: Some(2),
        statistical_security: Some(30),
        precision: Some(step),
        private: false,
        w: round(&reference.w),
        v: round(&reference.w),
    };
    harness::write_corpus("cli/weights.json", &serde_json::to_vec_pretty(&weights).unwrap());
}

fn corpus() -> &'static [Vec<u8>; 4] {
    static C: std::sync::OnceLock<[Vec<u8>; 4]> = std::sync::OnceLock::new();
    C.get_or_init(|| {
        if harness::regenerate() {
            write_corpus();
        }
        ["cli/keys/client.json", "cli/weights.json", "cli/train.csv", "cli/test.csv"].map(harness::read_corpus)
    })
}

/// How `hecnn evaluate` ended.
struct Run {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `hecnn evaluate` in a fresh directory holding the corpus with
/// `client` and `weights` in place of its JSON files. When the client
/// record names no data, the tiny corpus MNIST is given (the default, the
/// bundled MNIST through the backbone, is a legitimate but slow input).
fn evaluate(client: &[u8], weights: &[u8]) -> Result<Run, String> {
    let c = corpus();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("keys")).unwrap();
    std::fs::write(d.join("keys/client.json"), client).unwrap();
    std::fs::write(d.join("weights.json"), weights).unwrap();
    std::fs::write(d.join("train.csv"), &c[2]).unwrap();
    std::fs::write(d.join("test.csv"), &c[3]).unwrap();
    let mut args = vec![
        "evaluate".to_string(),
        "--keys".into(),
        "keys".into(),
        "--weights".into(),
        "weights.json".into(),
        "--json".into(),
    ];
    let names_data = serde_json::from_slice::<Value>(client).ok().is_some_and(|v| {
        let data = &v["data"];
        !data["features_csv"].is_null() || !data["mnist_dir"].is_null()
    });
    if !names_data {
        args.extend(["--mnist-dir".into(), harness::corpus_dir().join("mnist").to_string_lossy().into_owned()]);
    }
    let (out, err) = (d.join("stdout"), d.join("stderr"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_hecnn"))
        .args(&args)
        .current_dir(d)
        // Errors without backtraces (capturing one costs 100+ ms a case).
        .env("RUST_BACKTRACE", "0")
        .env("RUST_LIB_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .map_err(|e| format!("cannot run hecnn: {e}"))?;
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > harness::timeout() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("hecnn {args:?} still running after {:?} (hang)", harness::timeout()));
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    let read = |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned();
    Ok(Run { status: status.code(), stdout: read(&out), stderr: read(&err) })
}

/// Success or an error message; anything else (a panic's status 101, a
/// signal) fails the case.
fn check(target: &str, client: &[u8], weights: &[u8]) -> Result<(), TestCaseError> {
    let run = evaluate(client, weights).map_err(TestCaseError::fail)?;
    if std::env::var_os("HECNN_FUZZ_STATS").is_some() {
        let first: String = run.stderr.lines().next().unwrap_or("").chars().take(72).collect();
        eprintln!("fuzz-outcome {target} {:?} {first}", run.status);
    }
    match run.status {
        Some(0) | Some(1) if !run.stderr.contains("panicked") => Ok(()),
        s => Err(TestCaseError::fail(format!("hecnn evaluate ended with {s:?}:\n{}", run.stderr))),
    }
}

/// The committed corpus is what `hecnn evaluate` takes.
#[test]
fn corpus_loads() {
    let c = corpus();
    let run = evaluate(&c[0], &c[1]).unwrap();
    assert_eq!(run.status, Some(0), "{}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["test_samples"], 10, "{report}");
    assert!(report["reference_accuracy"].is_number(), "{report}");
}

/// Regression (found by `fuzz_client_json`): a client record whose data is
/// an MNIST directory with fewer training images than the job's samples
/// panicked in `train::load_data` (slice out of range); now an error.
#[test]
fn regression_mnist_dir_with_fewer_images_than_samples() {
    let c = corpus();
    let mut client: Value = serde_json::from_slice(&c[0]).unwrap();
    let mnist = harness::corpus_dir().join("mnist");
    client["data"] = serde_json::json!({ "features_csv": null, "test_features_csv": null, "mnist_dir": mnist });
    let run = evaluate(&serde_json::to_vec(&client).unwrap(), &c[1]).unwrap();
    assert_eq!(run.status, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("has 3 training images, 40 requested"), "{}", run.stderr);
}

proptest! {
    #![proptest_config(harness::config(CASES))]

    /// `keys/client.json` (`roles::load_state`, then what `evaluate` does
    /// with the record: data, scaler, layout).
    #[test]
    fn fuzz_client_json(m in any_mutations()) {
        let c = corpus();
        let pool: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
        check("client_json", &apply_any(&c[0], &m, &pool), &c[1])?;
    }

    /// The weights file (`roles::evaluate`: shape and finiteness checks,
    /// the plaintext reference for the claimed iterations, accuracy).
    #[test]
    fn fuzz_weights_json(m in any_mutations()) {
        let c = corpus();
        let pool: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
        check("weights_json", &c[0], &apply_any(&c[1], &m, &pool))?;
    }
}
