//! Running the real `hecnn` binary from integration tests.

#![allow(dead_code)] // each test binary uses its own subset

use assert_cmd::Command;
use std::path::Path;

pub fn hecnn() -> Command {
    Command::cargo_bin("hecnn").expect("binary built")
}

/// Runs `hecnn args`, asserts success, returns stdout.
pub fn run_ok(args: &[&str]) -> String {
    let out = hecnn().args(args).output().expect("runs");
    assert!(out.status.success(), "hecnn {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `hecnn args`, asserts failure, returns stderr.
pub fn run_err(args: &[&str]) -> String {
    let out = hecnn().args(args).output().expect("runs");
    assert!(!out.status.success(), "hecnn {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}
