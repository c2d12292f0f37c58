//! `hecnn simulate` through the real binary: JSON keys and value ranges on a
//! small run, the sweep, ONNX models, and the errors bad models give.

use assert_cmd::Command;
use hecnn_nn::model::{ModelBuilder, Pool2d};
use serde_json::Value;
use std::path::PathBuf;

fn hecnn() -> Command {
    Command::cargo_bin("hecnn").expect("binary built")
}

fn json_lines(args: &[&str]) -> Vec<Value> {
    let out = hecnn().arg("simulate").args(args).arg("--json").output().expect("runs");
    assert!(out.status.success(), "hecnn simulate {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("one JSON object")).collect()
}

fn run_err(args: &[&str]) -> String {
    let out = hecnn().arg("simulate").args(args).output().expect("runs");
    assert!(!out.status.success(), "hecnn simulate {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn repo(path: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(path).to_string_lossy().into_owned()
}

fn f(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("{key} missing or not a number in {v}"))
}

#[test]
fn one_alpha_reports_keys_and_ranges() {
    let rows = json_lines(&["--alpha", "8", "--test-images", "200", "--calibration-images", "1000"]);
    let [row] = rows.as_slice() else { panic!("expected one object, got {rows:?}") };
    assert_eq!(row["alpha"], 8);
    assert_eq!(row["images"], 200);
    let (exact, approx) = (f(row, "exact_accuracy"), f(row, "approx_accuracy"));
    assert!((0.95..=1.0).contains(&exact), "exact {exact}");
    assert!((0.0..=1.0).contains(&approx) && (exact - approx).abs() <= 0.02, "approx {approx}");
    assert!((f(row, "loss_points") - (exact - approx) * 100.0).abs() < 1e-8);
    assert_eq!(row["out_of_range"].as_u64(), Some(0));
    assert_eq!(row["sign_evaluations"].as_u64(), Some(200 * 9_744));
    assert_eq!(row["degrees"].as_array().map(Vec::len), Some(2));
    assert!(f(row, "depth") >= 9.0);

    // The ONNX export of the bundled classifier gives the same results.
    let onnx = repo("models/classifier.onnx");
    let rows = json_lines(&["--model", &onnx, "--alpha", "8", "--test-images", "200", "--calibration-images", "1000"]);
    assert_eq!((f(&rows[0], "exact_accuracy"), f(&rows[0], "approx_accuracy")), (exact, approx));
}

#[test]
fn sweep_gives_one_object_per_alpha() {
    let rows = json_lines(&["--alpha-sweep", "--test-images", "30", "--calibration-images", "200"]);
    let alphas: Vec<u64> = rows.iter().map(|r| r["alpha"].as_u64().unwrap()).collect();
    assert_eq!(alphas, (6..=16).collect::<Vec<_>>());
    for r in &rows {
        for key in ["exact_accuracy", "approx_accuracy"] {
            assert!((0.0..=1.0).contains(&f(r, key)), "{key} in {r}");
        }
        assert!(r["out_of_range"].is_u64(), "{r}");
    }
    // Depth grows with precision.
    assert!(f(&rows[10], "depth") > f(&rows[0], "depth"));
    // The human-readable table has a header and one line per α.
    let out = hecnn().args(["simulate", "--alpha", "6", "--test-images", "10", "--calibration-images", "50"]).output();
    let out = out.expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains("7∘7∘7"), "{text}");
}

#[test]
fn bad_models_and_options_are_named_errors() {
    // Unsupported ONNX operator: the node and the op are named.
    let err = run_err(&["--model", &repo("crates/hecnn-nn/tests/data/unsupported_op.onnx")]);
    assert!(err.contains("act_sigmoid") && err.contains("Sigmoid"), "{err}");
    // Wrong image size and wrong output size (models written here in the hecnn format).
    let tmp = tempfile::tempdir().unwrap();
    let wide = tmp.path().join("wide.bin");
    let m = ModelBuilder::new(vec![1, 32, 32]).relu().max_pool(Pool2d::square(2)).flatten().build().unwrap();
    std::fs::write(&wide, m.to_bytes()).unwrap();
    let err = run_err(&["--model", wide.to_str().unwrap()]);
    assert!(err.contains("[1, 32, 32]") && err.contains("[1, 28, 28]"), "{err}");
    let flat = tmp.path().join("flat.bin");
    let m = ModelBuilder::new(vec![1, 28, 28]).relu().max_pool(Pool2d::square(2)).flatten().build().unwrap();
    std::fs::write(&flat, m.to_bytes()).unwrap();
    let err = run_err(&["--model", flat.to_str().unwrap()]);
    assert!(err.contains("196 values"), "{err}");
    // Garbage, a missing file, bad options.
    let junk = tmp.path().join("junk.onnx");
    std::fs::write(&junk, b"\xff\xff not a model").unwrap();
    assert!(run_err(&["--model", junk.to_str().unwrap()]).contains("not a valid ONNX protobuf"));
    assert!(run_err(&["--model", tmp.path().join("none.onnx").to_str().unwrap()]).contains("none.onnx"));
    assert!(run_err(&["--alpha", "30"]).contains("30"));
    assert!(run_err(&["--alpha", "8", "--alpha-sweep"]).contains("cannot be used with"));
    assert!(run_err(&["--margin", "0.5", "--test-images", "5"]).contains("margin"));
    assert!(run_err(&["--calibration-images", "60000"]).contains("50000"));
}
