//! User errors print one line — `error: ` and the message naming the flag
//! or file — and exit with code 1, even with `RUST_BACKTRACE=1` set (as it
//! is on many developers' machines). Files that are not regular files are
//! refused without hanging.

mod common;

use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// Runs `hecnn args` with backtraces requested; returns (exit code, stderr).
fn fail(args: &[&str]) -> (i32, String) {
    let t = Instant::now();
    let out = hecnn()
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LIB_BACKTRACE", "1")
        .timeout(Duration::from_secs(60))
        .output()
        .expect("runs");
    assert!(t.elapsed() < Duration::from_secs(60), "hecnn {args:?} did not finish");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Exit code 1, exactly one line starting `error: ` that contains `needle`.
fn assert_one_line(args: &[&str], needle: &str) {
    let (code, err) = fail(args);
    assert_eq!(code, 1, "hecnn {args:?}: exit code {code}, stderr:\n{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "hecnn {args:?}: not one line:\n{err}");
    assert!(lines[0].starts_with("error: ") && lines[0].contains(needle), "hecnn {args:?}: {err}");
    assert!(!err.to_lowercase().contains("backtrace"), "hecnn {args:?}: {err}");
}

#[cfg(unix)]
fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

#[test]
fn user_errors_are_one_line_without_backtrace() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-keys");
    let out = tmp.path().join("up");
    assert_one_line(&["encrypt", "--keys", p(&missing), "--out", p(&out)], "no-such-keys");
    assert_one_line(&["train", "--samples", "0"], "--samples");
    let csv = tmp.path().join("bad.csv");
    std::fs::write(&csv, "1,0.5,0.25\n2,0.1,oops\n").unwrap();
    assert_one_line(&["train", "--samples", "2", "--features-csv", p(&csv)], "bad.csv:2");
    assert_one_line(&["keygen", "--out", p(&tmp.path().join("k")), "--preset", "nosuch"], "nosuch");
    // clap's own usage errors keep clap's format and exit code 2.
    let (code, _) = fail(&["train", "--samples", "many"]);
    assert_eq!(code, 2);
}

#[cfg(unix)]
#[test]
fn special_files_are_refused_by_name_without_hanging() {
    let tmp = tempfile::tempdir().unwrap();
    // A FIFO given as the features CSV.
    let fifo = tmp.path().join("features.csv");
    mkfifo(&fifo);
    assert_one_line(&["train", "--samples", "2", "--features-csv", p(&fifo)], "features.csv");
    // A key directory whose secret.key is a link to /dev/zero, and one whose
    // params.bin is a FIFO.
    let keys = tmp.path().join("keys");
    run_ok(&["keygen", "--out", p(&keys), "--preset", "light"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&keys).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "key directory open to others: {mode:o}");
    }
    let secret = keys.join("secret.key");
    std::fs::remove_file(&secret).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &secret).unwrap();
    let out = tmp.path().join("upload");
    assert_one_line(&["encrypt", "--keys", p(&keys), "--out", p(&out)], "secret.key");
    let params = keys.join("params.bin");
    std::fs::remove_file(&params).unwrap();
    mkfifo(&params);
    assert_one_line(&["encrypt", "--keys", p(&keys), "--out", p(&out)], "params.bin");
}

/// Encrypted inference refuses what it cannot run, naming the node, flag or file.
#[test]
fn inference_errors_name_the_node_flag_or_file() {
    let tmp = tempfile::tempdir().unwrap();
    let unsupported = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hecnn-nn/tests/data/unsupported_op.onnx");
    assert_one_line(&["infer", "--model", p(&unsupported), "--images", "1"], "act_sigmoid");
    assert_one_line(&["infer", "--images", "0"], "--images");
    assert_one_line(&["infer", "--images", "2", "--offset", "9999"], "--offset");
    let missing = tmp.path().join("no-spec");
    let (keys, up) = (tmp.path().join("keys"), tmp.path().join("up"));
    assert_one_line(&["encrypt-images", "--spec", p(&missing), "--keys", p(&keys), "--out", p(&up)], "no-spec");
    // A published spec whose positions were altered is refused before any key is made.
    let spec = tmp.path().join("spec");
    let out = hecnn().args(["infer-server", "--alpha", "4", "--publish", p(&spec)]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let path = spec.join("spec.json");
    let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    json["spec"]["input_positions"][3] = serde_json::json!([0, 4_000_000]);
    std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
    assert_one_line(&["encrypt-images", "--spec", p(&spec), "--keys", p(&keys), "--out", p(&up)], "spec.json");
    assert!(!keys.exists(), "no key directory is left behind");
    assert_one_line(&["decrypt-scores", "--keys", p(&keys), "--result", p(&up)], "client.json");
}
