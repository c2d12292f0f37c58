//! The client CLI against the real server on a loopback port: `hecnn
//! client train --dir --out` (upload, train, wait, download) / status /
//! download / keygen / decrypt (and `client infer` refused for
//! a model the server does not serve), then `decrypt-model` (which
//! checks the model against the client's own plaintext reference) — the
//! same weights as the file roles' `train-server`.

mod common;

use common::*;
use hecnn_server::api::Limits;
use hecnn_server::store::Store;

#[test]
fn training_through_the_service_equals_the_file_roles() {
    let work = tempfile::tempdir().unwrap();
    let w = |name: &str| work.path().join(name);
    let token = Store::open(&w("server")).unwrap().create_tenant("alice").unwrap();
    std::fs::write(w("token"), &token).unwrap();
    let server = hecnn_server::Background::start(&w("server"), Limits::default()).unwrap();
    let url = server.url();
    // Keys are made locally: `client keygen` needs no token and no server.
    run_ok(&["client", "keygen", "--out", p(&w("keys")), "--preset", "training-2iter"]);
    run_ok(&["encrypt", "--keys", p(&w("keys")), "--out", p(&w("upload")), "--samples", "128"]);
    let token_file = w("token");
    let client = |args: &[&str]| -> String {
        let mut all = vec!["client", "--server", &url, "--token-file", p(&token_file)];
        all.extend_from_slice(args);
        run_ok(&all)
    };
    // Upload, train, wait and download in one command; then the job's status.
    let out = client(&["train", "--dir", p(&w("upload")), "--iterations", "2", "--out", p(&w("model"))]);
    assert!(out.contains("128 samples"), "{out}");
    let job = out.lines().find_map(|l| l.strip_prefix("job ")?.strip_suffix(" done")).unwrap().to_string();
    let status: serde_json::Value = serde_json::from_str(&client(&["status", "--job", &job])).unwrap();
    assert_eq!((&status["state"], &status["checkpoint"]), (&"done".into(), &1.into()), "{status}");
    let out = client(&["download", "--job", &job, "--out", p(&w("model-again"))]);
    let files = std::fs::read_dir(w("model")).unwrap().count();
    assert!(out.contains(&format!("encrypted result ({files} files)")), "{out}");
    for entry in std::fs::read_dir(w("model")).unwrap() {
        let name = entry.unwrap().file_name();
        assert_eq!(
            std::fs::read(w("model").join(&name)).unwrap(),
            std::fs::read(w("model-again").join(&name)).unwrap()
        );
    }
    // A wrong token is refused with the server's status.
    let bad = w("bad-token");
    std::fs::write(&bad, "hecnn_wrong").unwrap();
    let err = run_err(&["client", "--server", &url, "--token-file", p(&bad), "status", "--job", &job]);
    assert!(err.contains("401"), "{err}");
    // Inference with a model the server does not serve: refused before any key is made.
    let err = run_err(&[
        "client",
        "--server",
        &url,
        "--token-file",
        p(&token_file),
        "infer",
        "--model",
        "lenet",
        "--keys",
        p(&w("ikeys")),
        "--upload",
        p(&w("iupload")),
    ]);
    assert!(err.contains("fetching model lenet's spec.json: the server answered 404"), "{err}");
    assert!(!w("ikeys").exists());
    drop(server);

    run_ok(&[
        "client",
        "decrypt",
        "--keys",
        p(&w("keys")),
        "--result",
        p(&w("model")),
        "--out",
        p(&w("served.json")),
        "--private",
    ]);
    run_ok(&["train-server", "--upload", p(&w("upload")), "--out", p(&w("model2")), "--iterations", "2"]);
    run_ok(&[
        "decrypt-model",
        "--keys",
        p(&w("keys")),
        "--model",
        p(&w("model2")),
        "--out",
        p(&w("direct.json")),
        "--private",
    ]);
    let weights = |f: &str| -> Vec<f64> {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(w(f)).unwrap()).unwrap();
        v["w"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
            .collect()
    };
    let (a, b) = (weights("served.json"), weights("direct.json"));
    assert_eq!(a.len(), 10 * 241);
    let err = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    assert!(err < 1e-9, "served and file-role models differ by {err:.2e}");
}
