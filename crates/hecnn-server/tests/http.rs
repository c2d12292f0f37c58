//! The real server on a loopback port, driven over HTTP: blobs round-trip
//! byte for byte, tenants cannot see each other's objects (404 exactly as
//! for a missing one), bad or missing tokens are 401, names that are not
//! hashes never reach the file system, oversize bodies are 413 with
//! nothing left on disk, and everything committed survives a restart.

use std::path::Path;

use hecnn_server::api::Limits;
use hecnn_server::store::Store;

struct Server(hecnn_server::Background);

impl Server {
    fn start(dir: &Path, max_body: u64) -> Server {
        Server(hecnn_server::Background::start(dir, Limits { max_body, ..Limits::default() }).unwrap())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.0.url())
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// (status, body)
fn get(a: &ureq::Agent, url: &str, token: Option<&str>) -> (u16, Vec<u8>) {
    let mut req = a.get(url);
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut r = req.call().unwrap();
    (r.status().as_u16(), r.body_mut().read_to_vec().unwrap())
}

fn put(a: &ureq::Agent, url: &str, token: &str, body: &[u8]) -> (u16, serde_json::Value) {
    let mut r = a.put(url).header("Authorization", &format!("Bearer {token}")).send(body).unwrap();
    let status = r.status().as_u16();
    (status, serde_json::from_slice(&r.body_mut().read_to_vec().unwrap()).unwrap())
}

fn tokens(dir: &Path) -> (String, String) {
    let store = Store::open(dir).unwrap();
    (store.create_tenant("alice").unwrap(), store.create_tenant("bob").unwrap())
}

#[test]
fn blobs_round_trip_and_tenants_are_isolated() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, bob) = tokens(dir.path());
    let s = Server::start(dir.path(), 1 << 20);
    let a = agent();
    let data = bytes(100_000, 7);
    let (status, info) = put(&a, &s.url("/v1/blobs"), &alice, &data);
    assert_eq!(status, 201);
    let hash = info["hash"].as_str().unwrap().to_string();
    assert_eq!(hash, blake3::hash(&data).to_hex().to_string());
    assert_eq!(info["size"], 100_000);
    assert_eq!(get(&a, &s.url(&format!("/v1/blobs/{hash}")), Some(&alice)), (200, data.clone()));
    // Bob: the same 404 as for a blob nobody has.
    let theirs = get(&a, &s.url(&format!("/v1/blobs/{hash}")), Some(&bob));
    let missing = get(&a, &s.url(&format!("/v1/blobs/{}", "0".repeat(64))), Some(&bob));
    assert_eq!(theirs.0, 404);
    assert_eq!(theirs, missing);
    assert_eq!(get(&a, &s.url("/v1/blobs"), Some(&bob)), (200, b"[]".to_vec()));
    let (_, list) = get(&a, &s.url("/v1/blobs"), Some(&alice));
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&list).unwrap()[0]["hash"], hash.as_str());
    let del = |t: &str| {
        a.delete(&s.url(&format!("/v1/blobs/{hash}"))).header("Authorization", &format!("Bearer {t}")).call().unwrap()
    };
    assert_eq!(del(&bob).status().as_u16(), 404);
    assert_eq!(del(&alice).status().as_u16(), 204);
    assert_eq!(get(&a, &s.url(&format!("/v1/blobs/{hash}")), Some(&alice)).0, 404);
    assert!(
        !dir.path().join("blobs").join(&hash[..2]).join(&hash).exists(),
        "the last owner's delete removes the file"
    );
}

#[test]
fn missing_or_wrong_tokens_are_401() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, _) = tokens(dir.path());
    let s = Server::start(dir.path(), 1 << 20);
    let a = agent();
    let r = a.get(&s.url("/v1/blobs")).call().unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.headers().get("www-authenticate").unwrap(), "Bearer");
    assert_eq!(get(&a, &s.url("/v1/blobs"), Some("hecnn_not-a-token")).0, 401);
    let basic = a.get(&s.url("/v1/blobs")).header("Authorization", &format!("Basic {alice}")).call().unwrap();
    assert_eq!(basic.status().as_u16(), 401);
    let r = a.put(&s.url("/v1/blobs")).send(&b"x"[..]).unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(Store::open(dir.path()).unwrap().temporaries(), 0);
}

#[test]
fn names_that_are_not_hashes_never_reach_the_file_system() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, _) = tokens(dir.path());
    let s = Server::start(dir.path(), 1 << 20);
    let a = agent();
    for name in ["..%2F..%2Fhecnn.db", "..%2Fhecnn.db", "%2e%2e", &"A".repeat(64), &"g".repeat(64), "hecnn.db"] {
        let (status, _) = get(&a, &s.url(&format!("/v1/blobs/{name}")), Some(&alice));
        assert!(status == 404, "{name}: {status}");
    }
}

#[test]
fn oversize_bodies_are_413_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, _) = tokens(dir.path());
    let s = Server::start(dir.path(), 1000);
    let a = agent();
    // Declared too large (Content-Length).
    let (status, err) = put(&a, &s.url("/v1/blobs"), &alice, &bytes(5000, 1));
    assert_eq!(status, 413);
    assert!(err["error"].as_str().unwrap().contains("1000 bytes"));
    // Streamed without a length: cut off while reading.
    let body = bytes(5000, 2);
    let mut reader = &body[..];
    let r = a
        .put(&s.url("/v1/blobs"))
        .header("Authorization", &format!("Bearer {alice}"))
        .send(ureq::SendBody::from_reader(&mut reader));
    // The server may answer 413 before the client has sent everything.
    if let Ok(r) = r {
        assert_eq!(r.status().as_u16(), 413);
    }
    // At the limit: accepted.
    assert_eq!(put(&a, &s.url("/v1/blobs"), &alice, &bytes(1000, 3)).0, 201);
    drop(s);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.temporaries(), 0);
    let owned = store.blobs(store.tenant_of(&alice).unwrap().unwrap()).unwrap();
    assert_eq!(owned.len(), 1);
    assert_eq!(owned[0].size, 1000);
}

#[test]
fn committed_blobs_survive_a_restart_and_stray_temporaries_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, _) = tokens(dir.path());
    let data = bytes(30_000, 9);
    let hash = {
        let s = Server::start(dir.path(), 1 << 20);
        let (status, info) = put(&agent(), &s.url("/v1/blobs"), &alice, &data);
        assert_eq!(status, 201);
        info["hash"].as_str().unwrap().to_string()
    };
    // An upload cut off by a crash leaves a temporary: removed at start.
    std::fs::write(dir.path().join("tmp").join("cut.part"), b"half").unwrap();
    let s = Server::start(dir.path(), 1 << 20);
    assert_eq!(Store::open(dir.path()).unwrap().temporaries(), 0);
    assert_eq!(get(&agent(), &s.url(&format!("/v1/blobs/{hash}")), Some(&alice)), (200, data));
}

#[test]
fn tenant_names_and_duplicates_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.create_tenant("a").unwrap();
    assert_eq!(store.create_tenant("a").unwrap_err().to_string(), "tenant \"a\" exists");
    assert!(store.create_tenant("../x").unwrap_err().to_string().starts_with("tenant name \"../x\""));
    assert!(store.create_tenant("").is_err());
}

#[test]
fn json_bodies_are_bounded_and_blob_bodies_are_not_cut_by_that_bound() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, _) = tokens(dir.path());
    let s = Server::start(dir.path(), 16 << 20);
    let a = agent();
    // A blob larger than the JSON bound, within --max-body: accepted whole.
    let big = bytes(hecnn_server::api::MAX_JSON_BODY + 12_345, 5);
    let (status, info) = put(&a, &s.url("/v1/blobs"), &alice, &big);
    assert_eq!((status, info["size"].as_u64()), (201, Some(big.len() as u64)));
    // A JSON body over its bound: 413 before it is parsed.
    let names: serde_json::Map<String, serde_json::Value> =
        (0..60_000).map(|i| (format!("file-{i:06}.ct"), "0".repeat(64).into())).collect();
    let body = serde_json::json!({ "files": names }).to_string();
    assert!(body.len() > hecnn_server::api::MAX_JSON_BODY);
    let r = a
        .post(&s.url("/v1/datasets"))
        .header("Authorization", &format!("Bearer {alice}"))
        .header("Content-Type", "application/json")
        .send(body.as_bytes());
    // The server answers 413 as soon as the bound is passed and closes the
    // connection; a client still writing the rest may see that close (a
    // broken pipe or a reset) before it reads the answer. Either way the
    // body was refused, and the server goes on serving.
    match r {
        Ok(r) => assert_eq!(r.status().as_u16(), 413),
        Err(ureq::Error::Io(e)) => {
            assert!(matches!(e.kind(), std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset), "{e}")
        }
        Err(e) => panic!("{e}"),
    }
    assert_eq!(get(&a, &s.url("/v1/blobs"), Some(&alice)).0, 200, "still serving");
}
