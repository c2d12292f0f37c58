//! The roles are a compile-time boundary: a crate that links hecnn-ml and
//! hecnn-ckks without their `client` feature (as a server does) builds and
//! trains, and cannot name a secret key, a decryptor or the training
//! client. Each fixture in `tests/boundary/` is checked as its own crate
//! with `cargo check --offline` (features are unified inside this
//! workspace, so only a separate crate shows what the server side sees).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Writes a one-file crate around `fixture` that depends on the server side
/// only, and runs `cargo check` on it; returns (success, stderr).
fn check(fixture: &str) -> (bool, String) {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let crates = manifest_dir.parent().expect("crates/");
    let workspace = crates.parent().expect("workspace root");
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let src = std::fs::read_to_string(manifest_dir.join("tests/boundary").join(format!("{fixture}.rs"))).unwrap();
    std::fs::write(dir.join("src/lib.rs"), src).unwrap();
    let toml = format!(
        "[package]\nname = \"boundary-{}\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
         [dependencies]\nhecnn-ml = {{ path = {:?}, default-features = false }}\n\
         hecnn-ckks = {{ path = {:?}, default-features = false }}\n\n[workspace]\n",
        fixture.replace('_', "-"),
        crates.join("hecnn-ml"),
        crates.join("hecnn-ckks"),
    );
    std::fs::write(dir.join("Cargo.toml"), toml).unwrap();
    // The workspace's lock file pins the versions already downloaded.
    std::fs::copy(workspace.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["check", "--offline", "--quiet", "--lib", "--release", "--target-dir"])
        .arg(target_dir())
        .current_dir(dir)
        .env_remove("RUSTFLAGS")
        .output()
        .expect("cargo runs");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A target directory of its own beside this test binary's (no lock
/// contention with the running `cargo test`, reused between runs).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<binary>
    exe.ancestors().nth(3).expect("target dir").join("server-boundary")
}

#[test]
fn server_side_builds_without_the_client_feature_and_cannot_name_client_types() {
    let (ok, err) = check("server_ok");
    assert!(ok, "the server side must build without the client feature:\n{err}");
    for (fixture, name) in
        [("names_secret_key", "SecretKey"), ("names_decryptor", "Decryptor"), ("names_client_module", "client")]
    {
        let (ok, err) = check(fixture);
        assert!(!ok, "{fixture} compiled: the server side can name {name}");
        // rustc names the item and says why it is missing.
        assert!(
            err.contains(&format!("`{name}`")) && err.contains("gated behind the `client` feature"),
            "{fixture} failed for another reason than the missing {name}:\n{err}"
        );
    }
}
