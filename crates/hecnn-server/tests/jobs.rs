//! A whole encrypted training through the real server on a loopback port:
//! the client's upload directory (as `hecnn encrypt` writes it, on the
//! 128-bit `training-2iter` preset) goes up file by file as blobs, becomes a
//! dataset (checked by the file roles' validating readers), a job trains on
//! it, and the model's files come back; decrypted, they equal the file-role
//! path's model. Tampered files, foreign datasets and a full queue are
//! refused with the right status.

use std::path::Path;
use std::time::Duration;

use hecnn_ckks::{Context, EvaluationKeySet, Preset, RelinKey, SecretKey};
use hecnn_ml::mlr::client::{
    precondition, preconditioner, training_galois_keys, ModelExpectation, TrainingClient, DEFAULT_EPSILON, DEFAULT_INIT,
};
use hecnn_ml::mlr::server::TrainingServer;
use hecnn_ml::mlr::setup;
use hecnn_ml::packing::Layout;
use hecnn_ml::upload;
use hecnn_server::api::Limits;

mod common;
use common::*;
use hecnn_server::store::Store;

const CLASSES: usize = 4;

/// The client's job: 128 samples, 32 features and a bias, 4 classes.
fn client_upload(dir: &Path) -> (std::sync::Arc<Context>, SecretKey, Layout, usize) {
    let ctx = Context::new(Preset::Training2Iter.params()).unwrap();
    let (n, d) = (128usize, 33usize);
    let mut seed = 11u64;
    let mut rnd = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let x: Vec<Vec<f64>> = (0..n).map(|_| std::iter::once(1.0).chain((1..d).map(|_| rnd())).collect()).collect();
    let xs = precondition(&x, &preconditioner(&x, DEFAULT_EPSILON).unwrap());
    let y: Vec<u8> = (0..n).map(|i| (i % CLASSES) as u8).collect();
    let layout = Layout::choose(n, d, CLASSES, ctx.n() / 2).unwrap();
    let sk = SecretKey::generate(&ctx);
    let gk = training_galois_keys(&sk, &layout.rotation_steps());
    let keys = EvaluationKeySet::new(&ctx, RelinKey::generate(&sk), gk, None).unwrap();
    let client = TrainingClient::new(&sk).at_level(setup::data_level(ctx.params()));
    let init = vec![vec![DEFAULT_INIT; d]; CLASSES];
    let data = client.encrypt_dataset(&x, &xs, &y, CLASSES, &init, layout).unwrap();
    upload::save_upload(dir, &keys, &data).unwrap();
    (ctx, sk, layout, d)
}

fn decrypt(ctx: &std::sync::Arc<Context>, sk: &SecretKey, layout: Layout, d: usize, model_dir: &Path) -> Vec<Vec<f64>> {
    let (_, model) = upload::load_model(model_dir, ctx, sk.key_set(), (&layout, CLASSES, d)).unwrap();
    let expect = ModelExpectation {
        layout,
        classes: CLASSES,
        features: d,
        key_set: sk.key_set(),
        data_level: setup::data_level(ctx.params()),
        refresh_level: None,
        log_scale: ctx.params().log_scale(),
        max_iterations: 10,
        value_tolerance: 1e-3,
        reference: None,
    };
    TrainingClient::new(sk).decrypt_model_private(&model, &expect, 1e-3).unwrap().0
}

/// `model_dir`'s weights against the file roles' (`train-server` on the
/// same upload): the largest difference.
fn difference_from_file_roles(job: &Job, model_dir: &Path, work: &Path) -> (Vec<Vec<f64>>, f64) {
    let served = decrypt(&job.ctx, &job.sk, job.layout, job.d, model_dir);
    let loaded = upload::load_upload(&job.up).unwrap();
    let server = TrainingServer::new(loaded.keys).unwrap();
    let (model, _) = server.train(&loaded.data, 2, &mut |_| {}).unwrap();
    let direct = work.join("direct");
    let _ = std::fs::remove_dir_all(&direct);
    upload::save_model(&direct, server.keys(), &loaded.data, &model).unwrap();
    let expected = decrypt(&job.ctx, &job.sk, job.layout, job.d, &direct);
    let err = served.iter().flatten().zip(expected.iter().flatten()).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    (served, err)
}

/// The client's side of a job: its upload directory and what decrypts it.
struct Job {
    up: std::path::PathBuf,
    ctx: std::sync::Arc<Context>,
    sk: SecretKey,
    layout: Layout,
    d: usize,
}

impl Job {
    fn new(work: &Path) -> Job {
        let up = work.join("upload");
        let (ctx, sk, layout, d) = client_upload(&up);
        Job { up, ctx, sk, layout, d }
    }
}

#[test]
fn a_training_through_the_server_equals_the_file_roles() {
    let work = tempfile::tempdir().unwrap();
    let job_data = Job::new(work.path());
    let (up, d) = (job_data.up.clone(), job_data.d);
    let data = work.path().join("server");
    let (alice, bob) = {
        let store = Store::open(&data).unwrap();
        (store.create_tenant("alice").unwrap(), store.create_tenant("bob").unwrap())
    };
    let s = Server::start(&data, Limits { queue_len: 1, ..Limits::default() });
    let (a, b) = (Client::new(alice), Client::new(bob));

    // Refused datasets: a tampered ciphertext, a name that is a path, a blob of someone else.
    let tampered = a.upload_dir(&s, &up, Some("x-0-0.ct"));
    let (status, err, _) = a.post(&s, "/v1/datasets", serde_json::json!({ "files": tampered }));
    assert_eq!(status, 400);
    assert!(err["error"].as_str().unwrap().contains("x-0-0.ct"), "{err}");
    let mut traversal = tampered.clone();
    traversal["../x-0-0.ct"] = traversal["x-0-0.ct"].clone();
    assert_eq!(a.post(&s, "/v1/datasets", serde_json::json!({ "files": traversal })).0, 400);
    let files = a.upload_dir(&s, &up, None);
    let (status, err, _) = b.post(&s, "/v1/datasets", serde_json::json!({ "files": files }));
    assert_eq!(status, 400);
    assert!(err["error"].as_str().unwrap().ends_with("no such blob"), "{err}");

    // The dataset, the job, and a second job while the queue (length 1) is busy.
    let (status, ds, _) = a.post(&s, "/v1/datasets", serde_json::json!({ "files": files }));
    assert_eq!(status, 201, "{ds}");
    assert_eq!((ds["samples"].as_u64(), ds["features"].as_u64()), (Some(128), Some(d as u64)));
    let id = ds["id"].as_i64().unwrap();
    assert_eq!(b.post(&s, "/v1/jobs", serde_json::json!({ "dataset": id, "iterations": 2 })).0, 404);
    let (status, job, _) = a.post(&s, "/v1/jobs", serde_json::json!({ "dataset": id, "iterations": 2 }));
    assert_eq!(status, 202);
    let (status, _, retry) = a.post(&s, "/v1/jobs", serde_json::json!({ "dataset": id, "iterations": 2 }));
    assert_eq!((status, retry.as_deref()), (503, Some("30")));
    let job = job["id"].as_i64().unwrap();
    assert_eq!(b.get(&s, &format!("/v1/jobs/{job}")).0, 404);
    assert_eq!(a.delete(&s, &format!("/v1/datasets/{id}")), 409, "a job uses it");
    let info = wait_done(&a, &s, job);
    assert_eq!(info["progress"], 1.0);

    // The model's files, downloaded, decrypted: the file-role path's model.
    let model_dir = work.path().join("model");
    download_model(&a, &s, &info, &model_dir);
    let (served, err) = difference_from_file_roles(&job_data, &model_dir, work.path());
    assert!(err < 1e-9, "served model differs from the file roles' by {err:.2e}");
    assert!(served.iter().flatten().any(|w| (w - DEFAULT_INIT).abs() > 1e-3), "the model trained");

    // Deleting: another tenant gets 404; the owner 204, and the dataset is gone.
    assert_eq!(b.delete(&s, &format!("/v1/datasets/{id}")), 404);
    assert_eq!(a.delete(&s, &format!("/v1/datasets/{id}")), 204);
    assert!(!data.join("datasets").join(id.to_string()).exists());
    assert_eq!(a.delete(&s, &format!("/v1/datasets/{id}")), 404);
    assert_eq!(a.post(&s, "/v1/jobs", serde_json::json!({ "dataset": id, "iterations": 2 })).0, 404);
}

/// The readers' fuzz corpus (`fuzz/corpus/`: keys, ciphertexts, parameters
/// and manifests of other jobs and rings) put in the place of each file of
/// a valid upload, and truncated or byte-flipped files, go through the
/// HTTP upload: every dataset is refused with a 400 naming the problem (or
/// accepted, for a flip the readers cannot tell from data), never a 500 or
/// a panic, and the server goes on serving.
#[test]
fn the_fuzz_corpus_through_the_upload_finds_no_panic() {
    let work = tempfile::tempdir().unwrap();
    let up = work.path().join("upload");
    client_upload(&up);
    let data = work.path().join("server");
    let token = Store::open(&data).unwrap().create_tenant("alice").unwrap();
    let s = Server::start(&data, Limits::default());
    let a = Client::new(token);
    let files = a.upload_dir(&s, &up, None);
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for sub in ["ckks", "upload"] {
        for entry in std::fs::read_dir(corpus.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let name = path.file_name().unwrap().to_str().unwrap();
            let targets: &[&str] = match name {
                n if n.ends_with(".ct") || n.ends_with(".pt") => &["x-0-0.ct", "y-0.ct"],
                "params.bin" | "params-light.bin" => &["params.bin"],
                "manifest.json" => &["manifest.json"],
                _ => &["relin.key", "galois.key"],
            };
            cases.extend(targets.iter().map(|t| (t.to_string(), bytes.clone())));
        }
    }
    let ct = std::fs::read(up.join("x-0-0.ct")).unwrap();
    let manifest = std::fs::read(up.join("manifest.json")).unwrap();
    for (k, cut) in [0usize, 1, 17, ct.len() / 2, ct.len() - 1].into_iter().enumerate() {
        cases.push(("x-0-0.ct".into(), ct[..cut].to_vec()));
        let mut flipped = manifest.clone();
        flipped[(k * 37) % manifest.len()] ^= 0x21;
        cases.push(("manifest.json".into(), flipped));
    }
    let mut refused = 0;
    for (target, bytes) in &cases {
        let mut f = files.clone();
        f[target.as_str()] = a.put_blob(&s, bytes).into();
        let (status, body, _) = a.post(&s, "/v1/datasets", serde_json::json!({ "files": f }));
        assert!(status == 400 || status == 201, "{target}: {status} {body}");
        if status == 400 {
            refused += 1;
            assert_ne!(body["error"], "internal error", "{target}");
        }
    }
    assert!(refused >= cases.len() - 2, "{refused} of {} refused", cases.len());
    assert_eq!(a.post(&s, "/v1/datasets", serde_json::json!({ "files": files })).0, 201, "still serving");
}

/// A server process, killed when the test ends however it ends (a failed
/// assertion must not leave it running).
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The real binary, killed with SIGKILL during an upload and during a
/// training job, restarted on the same data directory, then stopped with
/// SIGTERM during the resumed job and restarted again: no temporary is
/// left, every committed blob and a finished job's model read back intact,
/// the interrupted job resumes from its checkpoint of W and V (each time)
/// and ends with the model an uninterrupted run gives.
#[cfg(unix)]
#[test]
fn kill_9_and_sigterm_lose_nothing_and_the_job_resumes() {
    use std::io::{BufRead, Read};
    let work = tempfile::tempdir().unwrap();
    let job_data = Job::new(work.path());
    let data = work.path().join("server");
    let token = Store::open(&data).unwrap().create_tenant("alice").unwrap();
    // Starts the binary on a free port.
    // Every stage of a job pauses 300 ms, so the signals land inside a job.
    let spawn = || -> (Reaped, Remote) {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hecnn-server"))
            .args(["--data-dir", data.to_str().unwrap(), "--listen", "127.0.0.1:0"])
            .env("NO_COLOR", "1")
            .env("HECNN_STAGE_PAUSE_MS", "300")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let line = lines.find(|l| l.as_ref().is_ok_and(|l| l.contains("listening"))).unwrap().unwrap();
        let addr = line.split("addr=").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
        std::thread::spawn(move || for _ in lines {}); // keep draining the log
        (Reaped(child), Remote(format!("http://{addr}")))
    };
    let a = Client::new(token);
    let (mut child, r) = spawn();
    // Committed before the crash: the upload, and a finished job's model.
    let files = a.upload_dir(&r, &job_data.up, None);
    let (status, ds, _) = a.post(&r, "/v1/datasets", serde_json::json!({ "files": files }));
    assert_eq!(status, 201, "{ds}");
    let submit = |r: &Remote| -> i64 {
        let (status, job, _) = a.post(r, "/v1/jobs", serde_json::json!({ "dataset": ds["id"], "iterations": 2 }));
        assert_eq!(status, 202);
        job["id"].as_i64().unwrap()
    };
    let finished = wait_done(&a, &r, submit(&r));
    let finished_dir = work.path().join("finished");
    download_model(&a, &r, &finished, &finished_dir);
    // An upload in flight: a body that trickles, cut by the kill.
    struct Slow(usize);
    impl Read for Slow {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            std::thread::sleep(Duration::from_millis(20));
            self.0 += 1;
            buf[0] = self.0 as u8;
            Ok(1)
        }
    }
    let (agent, url, auth) = (a.agent.clone(), r.url("/v1/blobs"), a.auth());
    let trickle = std::thread::spawn(move || {
        let _ = agent.put(&url).header("Authorization", &auth).send(ureq::SendBody::from_owned_reader(Slow(0)));
    });
    let job = submit(&r);
    let state =
        |r: &Remote| -> serde_json::Value { serde_json::from_slice(&a.get(r, &format!("/v1/jobs/{job}")).1).unwrap() };
    // Waits for the job to reach `pred`, polling every 5 ms.
    let wait_for = |r: &Remote, pred: &dyn Fn(&serde_json::Value) -> bool| loop {
        let s = state(r);
        assert!(s["state"] != "failed" && s["state"] != "done", "the job ended before the signal: {s}");
        if pred(&s) {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    wait_for(&r, &|s| s["checkpoint"] == 1);
    child.0.kill().unwrap(); // SIGKILL, during the second iteration
    child.0.wait().unwrap();
    trickle.join().unwrap();

    let (mut child, r) = spawn();
    assert_eq!(std::fs::read_dir(data.join("tmp")).unwrap().count(), 0, "no temporary survives a restart");
    for (name, hash) in files.as_object().unwrap() {
        let (status, bytes) = a.get(&r, &format!("/v1/blobs/{}", hash.as_str().unwrap()));
        assert_eq!(status, 200);
        assert_eq!(bytes, std::fs::read(job_data.up.join(name)).unwrap(), "{name} intact");
    }
    for (name, hash) in finished["result"].as_object().unwrap() {
        let (status, bytes) = a.get(&r, &format!("/v1/blobs/{}", hash.as_str().unwrap()));
        assert_eq!(
            (status, bytes),
            (200, std::fs::read(finished_dir.join(name)).unwrap()),
            "{name} of the finished job"
        );
    }
    // Resumed from iteration 1; SIGTERM while it runs the second: it stops and keeps its checkpoint.
    wait_for(&r, &|s| s["resumed_from"] == 1 && s["state"] == "running");
    let term = std::process::Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status().unwrap();
    assert!(term.success());
    assert!(child.0.wait().unwrap().success(), "SIGTERM ends the server cleanly");

    let (mut child, r) = spawn();
    let s = state(&r);
    assert!(s["state"] != "done" && s["checkpoint"] == 1, "{s}");
    let info = wait_done(&a, &r, job);
    assert_eq!(info["resumed_from"], 1, "{info}");
    let model_dir = work.path().join("model");
    download_model(&a, &r, &info, &model_dir);
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let (_, err) = difference_from_file_roles(&job_data, &model_dir, work.path());
    assert!(err < 1e-9, "the interrupted job's model differs by {err:.2e}");
    let (_, err) = difference_from_file_roles(&job_data, &finished_dir, work.path());
    assert!(err < 1e-9, "the finished job's model differs by {err:.2e}");
}
