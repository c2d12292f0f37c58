//! Load test (loopback only, not part of CI): `CLIENTS` concurrent clients,
//! each with its own tenant, for `SECONDS`: upload a 64 KiB blob, poll the
//! blob listing, submit a training job on the tenant's dataset (a real
//! encrypted training, 128 samples × 2 iterations at `training-2iter`; the
//! queue holds 4 jobs, so most submissions are the intended 503s), and poll
//! the status of the tenant's last accepted job. Prints p50/p99 latencies
//! of the uploads, the listing polls and the job-status polls, the upload
//! throughput, jobs accepted, 503s, and every other status (none expected).
//!
//! The datasets are put in place through the store (as an operator would
//! restore them), not uploaded: the upload path is loaded by the blobs.
//!
//! `cargo run --release -p hecnn-server --example load -- [CLIENTS] [SECONDS]` (default 50, 60).

use std::time::{Duration, Instant};

use hecnn_ckks::{Context, EvaluationKeySet, Preset, RelinKey, SecretKey};
use hecnn_ml::mlr::client::{
    precondition, preconditioner, training_galois_keys, TrainingClient, DEFAULT_EPSILON, DEFAULT_INIT,
};
use hecnn_ml::mlr::setup;
use hecnn_ml::packing::Layout;
use hecnn_server::api::Limits;
use hecnn_server::store::{Files, Store};

/// A training upload (128 samples, 33 features, 4 classes) in `dir`.
fn training_upload(dir: &std::path::Path) {
    let ctx = Context::new(Preset::Training2Iter.params()).expect("context");
    let (n, d, c) = (128usize, 33usize, 4usize);
    let x: Vec<Vec<f64>> = (0..n)
        .map(|i| std::iter::once(1.0).chain((1..d).map(|j| ((i * 7 + j * 13) % 17) as f64 / 17.0)).collect())
        .collect();
    let xs = precondition(&x, &preconditioner(&x, DEFAULT_EPSILON).expect("B"));
    let y: Vec<u8> = (0..n).map(|i| (i % c) as u8).collect();
    let layout = Layout::choose(n, d, c, ctx.n() / 2).expect("layout");
    let sk = SecretKey::generate(&ctx);
    let gk = training_galois_keys(&sk, &layout.rotation_steps());
    let keys = EvaluationKeySet::new(&ctx, RelinKey::generate(&sk), gk, None).expect("keys");
    let client = TrainingClient::new(&sk).at_level(setup::data_level(ctx.params()));
    let data = client.encrypt_dataset(&x, &xs, &y, c, &vec![vec![DEFAULT_INIT; d]; c], layout).expect("upload");
    hecnn_ml::upload::save_upload(dir, &keys, &data).expect("save");
}

fn main() {
    let arg = |i: usize, d: u64| std::env::args().nth(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (clients, seconds) = (arg(1, 50) as usize, arg(2, 60));
    let dir = tempfile::tempdir().expect("temp dir");
    let up = tempfile::tempdir().expect("temp dir");
    training_upload(up.path());
    let tenants: Vec<(String, i64)> = {
        let store = Store::open(dir.path()).expect("store");
        // The first tenant's blobs are the upload's files; the others own the
        // same content (a hard link committed under its hash, no copy).
        let mut first: Option<(i64, Files)> = None;
        (0..clients)
            .map(|i| {
                let token = store.create_tenant(&format!("t{i}")).expect("tenant");
                let tenant = store.tenant_of(&token).expect("db").expect("tenant");
                let files = match &first {
                    None => {
                        let mut files = Files::new();
                        for entry in std::fs::read_dir(up.path()).expect("upload") {
                            let path = entry.expect("entry").path();
                            let name = path.file_name().and_then(|n| n.to_str()).expect("name").to_string();
                            files.insert(name, store.add_file_as_blob(tenant, &path).expect("blob"));
                        }
                        first = Some((tenant, files.clone()));
                        files
                    }
                    Some((owner, files)) => {
                        for hash in files.values() {
                            let (path, size) = store.blob(*owner, hash).expect("db").expect("blob");
                            let temp = store.temp_path();
                            std::fs::hard_link(&path, &temp).expect("link");
                            store.commit_blob(tenant, &temp, hash, size).expect("commit");
                        }
                        files.clone()
                    }
                };
                let dataset = store.create_dataset(tenant, &files).expect("db").expect("dataset");
                (token, dataset)
            })
            .collect()
    };
    let limits = Limits { queue_len: 4, workers: 1, ..Limits::default() };
    let server = hecnn_server::Background::start(dir.path(), limits).expect("server");
    let url = server.url();
    let end = Instant::now() + Duration::from_secs(seconds);
    let threads: Vec<_> = tenants
        .into_iter()
        .enumerate()
        .map(|(i, (token, dataset))| {
            let url = url.clone();
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
                let auth = format!("Bearer {token}");
                let (mut polls, mut puts, mut odd) = (Vec::new(), Vec::new(), Vec::new());
                let (mut statuses, mut accepted, mut busy, mut last_job) = (Vec::new(), 0usize, 0usize, None);
                let mut n = 0u64;
                while Instant::now() < end {
                    let body: Vec<u8> = (0..65536u32).map(|k| (k as u64 * 31 + n * 7 + i as u64) as u8).collect();
                    let t = Instant::now();
                    let r = agent.put(&format!("{url}/v1/blobs")).header("Authorization", &auth).send(&body[..]);
                    puts.push(t.elapsed());
                    match r {
                        Ok(r) if r.status().as_u16() == 201 => {}
                        Ok(r) => odd.push(r.status().as_u16()),
                        Err(_) => odd.push(0),
                    }
                    let t = Instant::now();
                    let r = agent.get(&format!("{url}/v1/blobs")).header("Authorization", &auth).call();
                    polls.push(t.elapsed());
                    match r {
                        Ok(mut r) if r.status().as_u16() == 200 => {
                            let _ = r.body_mut().read_to_vec();
                        }
                        Ok(r) => odd.push(r.status().as_u16()),
                        Err(_) => odd.push(0),
                    }
                    let r = agent
                        .post(&format!("{url}/v1/jobs"))
                        .header("Authorization", &auth)
                        .header("Content-Type", "application/json")
                        .send(format!("{{\"dataset\": {dataset}, \"iterations\": 2}}").as_bytes());
                    match r {
                        Ok(mut r) if r.status().as_u16() == 202 => {
                            accepted += 1;
                            let v: serde_json::Value =
                                serde_json::from_slice(&r.body_mut().read_to_vec().unwrap_or_default())
                                    .unwrap_or_default();
                            last_job = v["id"].as_i64().or(last_job);
                        }
                        Ok(r) if r.status().as_u16() == 503 => busy += 1,
                        Ok(r) => odd.push(r.status().as_u16()),
                        Err(_) => odd.push(0),
                    }
                    if let Some(job) = last_job {
                        let t = Instant::now();
                        let r = agent.get(&format!("{url}/v1/jobs/{job}")).header("Authorization", &auth).call();
                        statuses.push(t.elapsed());
                        match r {
                            Ok(mut r) if r.status().as_u16() == 200 => {
                                let _ = r.body_mut().read_to_vec();
                            }
                            Ok(r) => odd.push(r.status().as_u16()),
                            Err(_) => odd.push(0),
                        }
                    }
                    n += 1;
                }
                (polls, puts, odd, statuses, accepted, busy)
            })
        })
        .collect();
    let (mut polls, mut puts, mut odd, mut statuses) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut accepted, mut busy) = (0, 0);
    for t in threads {
        let (p, u, o, s, a, b) = t.join().expect("client thread");
        polls.extend(p);
        puts.extend(u);
        odd.extend(o);
        statuses.extend(s);
        accepted += a;
        busy += b;
    }
    polls.sort();
    puts.sort();
    statuses.sort();
    let pct = |v: &[Duration], q: f64| v[((v.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1e3;
    println!(
        "{clients} clients, {seconds} s: {} uploads of 64 KiB ({:.1} MiB/s), {} listing polls, {} job-status polls; \
         upload p50 {:.2} ms p99 {:.2} ms; listing p50 {:.2} ms p99 {:.2} ms; job status p50 {:.2} ms p99 {:.2} ms; \
         jobs accepted {accepted}, queue full (503) {busy}; other statuses: {:?}",
        puts.len(),
        puts.len() as f64 * 65536.0 / 1048576.0 / seconds as f64,
        polls.len(),
        statuses.len(),
        pct(&puts, 0.5),
        pct(&puts, 0.99),
        pct(&polls, 0.5),
        pct(&polls, 0.99),
        pct(&statuses, 0.5),
        pct(&statuses, 0.99),
        odd
    );
}
