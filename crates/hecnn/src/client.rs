//! `hecnn client …`: the file roles' uploads and models through
//! `hecnn-server` over HTTP. The token comes from `HECNN_TOKEN` or a file
//! (never the command line, where other users could read it).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use hecnn_ml::cnn::roles::MAX_JSON;
use serde_json::Value;

/// Largest result file accepted from the server (W and V blocks, score ciphertexts: a few MB each).
const MAX_MODEL_FILE: u64 = 1 << 30;

/// Where the server is and who we are.
pub struct Connection {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl Connection {
    /// `server` (e.g. `http://127.0.0.1:8080`); the token from `token_file`,
    /// else the `HECNN_TOKEN` environment variable.
    pub fn new(server: &str, token_file: Option<&Path>) -> Result<Self> {
        let token = match token_file {
            Some(f) => std::fs::read_to_string(f).with_context(|| format!("{}", f.display()))?.trim().to_string(),
            None => std::env::var("HECNN_TOKEN").context("no token: set HECNN_TOKEN or give --token-file")?,
        };
        if token.is_empty() {
            bail!("the token is empty");
        }
        let agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        Ok(Self { base: server.trim_end_matches('/').to_string(), token, agent })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }

    /// The JSON answer, or the server's error message with its status.
    fn answer(mut r: ureq::http::Response<ureq::Body>, what: &str) -> Result<Value> {
        let status = r.status().as_u16();
        let body = r.body_mut().read_to_vec().with_context(|| format!("{what}: reading the answer"))?;
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            let msg = v["error"].as_str().unwrap_or("no message");
            bail!("{what}: the server answered {status}: {msg}");
        }
        Ok(v)
    }

    fn post(&self, path: &str, body: Value, what: &str) -> Result<Value> {
        let r = self
            .agent
            .post(&self.url(path))
            .header("Authorization", &self.auth())
            .header("Content-Type", "application/json")
            .send(body.to_string().as_bytes())
            .with_context(|| format!("{what}: {}", self.base))?;
        Self::answer(r, what)
    }

    fn get_json(&self, path: &str, what: &str) -> Result<Value> {
        let r = self.agent.get(&self.url(path)).header("Authorization", &self.auth()).call();
        Self::answer(r.with_context(|| format!("{what}: {}", self.base))?, what)
    }

    /// The body of `GET path` (at most `limit` bytes), or the server's status.
    fn get_bytes(&self, path: &str, limit: u64, what: &str) -> Result<Vec<u8>> {
        let mut r = self
            .agent
            .get(&self.url(path))
            .header("Authorization", &self.auth())
            .call()
            .with_context(|| what.to_string())?;
        if r.status().as_u16() != 200 {
            bail!("{what}: the server answered {}", r.status());
        }
        r.body_mut().with_config().limit(limit).read_to_vec().with_context(|| what.to_string())
    }

    /// Streams `path` up as a blob (its bytes counted on `pb`); returns its hash.
    fn put_file(&self, path: &Path, pb: &indicatif::ProgressBar) -> Result<String> {
        let file = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
        let len = file.metadata()?.len();
        let r = self
            .agent
            .put(&self.url("/v1/blobs"))
            .header("Authorization", &self.auth())
            .header("Content-Length", &len.to_string())
            .send(ureq::SendBody::from_owned_reader(pb.wrap_read(file)))
            .with_context(|| format!("uploading {}", path.display()))?;
        let v = Self::answer(r, &format!("uploading {}", path.display()))?;
        v["hash"].as_str().map(str::to_string).context("the server's answer has no hash")
    }
}

/// Uploads every file of an upload directory and makes it a dataset; returns its id.
pub fn upload(c: &Connection, dir: &Path, quiet: bool) -> Result<i64> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.retain(|p| p.is_file());
    paths.sort();
    if paths.is_empty() {
        bail!("{}: no files", dir.display());
    }
    let total: u64 = paths.iter().map(|p| p.metadata().map(|m| m.len()).unwrap_or(0)).sum();
    let pb = if quiet { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(total) };
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:>28} {bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} [{elapsed}]",
        )
        .expect("valid template"),
    );
    let mut files = serde_json::Map::new();
    for p in &paths {
        let name = p.file_name().and_then(|n| n.to_str()).context("a file name that is not UTF-8")?;
        pb.set_message(format!("uploading {name}"));
        files.insert(name.to_string(), c.put_file(p, &pb)?.into());
    }
    pb.finish_and_clear();
    let v = c.post("/v1/datasets", serde_json::json!({ "files": files }), "making the dataset")?;
    let id = v["id"].as_i64().context("the server's answer has no dataset id")?;
    if v["kind"] == "images" {
        println!(
            "dataset {id}: {} encrypted images for model {} in {} batches (checked by the server)",
            v["images"], v["model"], v["batches"]
        );
    } else {
        println!(
            "dataset {id}: {} samples, {} features, {} classes, {} ciphertexts (checked by the server)",
            v["samples"], v["features"], v["classes"], v["ciphertexts"]
        );
    }
    Ok(id)
}

/// Submits a training job; with `wait`, follows it to the end. Returns its id.
pub fn train(c: &Connection, dataset: i64, iterations: usize, wait: bool, quiet: bool) -> Result<i64> {
    submit(c, serde_json::json!({ "dataset": dataset, "iterations": iterations }), wait, quiet)
}

/// Submits a job; with `wait`, follows it with a progress bar to the end.
fn submit(c: &Connection, body: Value, wait: bool, quiet: bool) -> Result<i64> {
    let v = c.post("/v1/jobs", body, "submitting")?;
    let id = v["id"].as_i64().context("the server's answer has no job id")?;
    println!("job {id} queued");
    if wait {
        let pb = crate::infer::bar(quiet, 1000, &format!("job {id}"));
        loop {
            let s = status(c, id)?;
            pb.set_position((s["progress"].as_f64().unwrap_or(0.0) * 1000.0) as u64);
            match s["state"].as_str() {
                Some("done") => break,
                Some("failed") => bail!("job {id} failed: {}", s["error"].as_str().unwrap_or("no message")),
                _ => std::thread::sleep(Duration::from_millis(500)),
            }
        }
        pb.finish_and_clear();
        println!("job {id} done");
    }
    Ok(id)
}

/// Encrypted inference through the server: fetches model `model`'s spec,
/// makes fresh keys in `keys` and encrypts MNIST test images
/// `offset..offset+images` into `upload_dir` (as `hecnn encrypt-images`
/// does), uploads them, submits the job; with `out`, waits for it and
/// downloads the encrypted scores there (then `hecnn decrypt-scores`).
pub fn infer(c: &Connection, model: &str, dirs: (&Path, &Path, Option<&Path>), images: (usize, usize)) -> Result<i64> {
    let (keys, upload_dir, out) = dirs;
    if !hecnn_ml::safe_fs::is_plain_file_name(model) {
        bail!("model name {model:?}");
    }
    let fetch = |file: &str| -> Result<Vec<u8>> {
        c.get_bytes(&format!("/v1/models/{model}/{file}"), MAX_JSON, &format!("fetching model {model}'s {file}"))
    };
    let bytes = fetch("spec.json")?;
    let file = serde_json::from_slice(&bytes).with_context(|| format!("model {model}'s spec.json"))?;
    let params = hecnn_ckks::Parameters::from_bytes(&fetch("params.bin")?, false)
        .with_context(|| format!("model {model}'s params.bin"))?;
    let spec = crate::infer_roles::Published { file, bytes, params, from: format!("{}/v1/models/{model}", c.base) };
    crate::infer_roles::encrypt_images_for(spec, keys, upload_dir, images.0, images.1, false)?;
    let dataset = upload(c, upload_dir, false)?;
    let job = submit(c, serde_json::json!({ "dataset": dataset, "kind": "infer" }), out.is_some(), false)?;
    if let Some(out) = out {
        download(c, job, out)?;
        println!("decrypt with: hecnn decrypt-scores --keys {} --result {}", keys.display(), out.display());
    }
    Ok(job)
}

/// A job's state as the server reports it.
pub fn status(c: &Connection, job: i64) -> Result<Value> {
    c.get_json(&format!("/v1/jobs/{job}"), &format!("job {job}"))
}

/// Downloads a finished job's encrypted model or scores into `out` (new or empty),
/// checking each file's hash.
pub fn download(c: &Connection, job: i64, out: &Path) -> Result<()> {
    crate::train::fresh_dir(out)?;
    let s = status(c, job)?;
    if s["state"] != "done" {
        bail!("job {job} is {}", s["state"]);
    }
    let files = s["result"].as_object().context("the job reports no files")?;
    std::fs::create_dir_all(out).with_context(|| format!("{}", out.display()))?;
    for (name, hash) in files {
        let hash = hash.as_str().context("a file without a hash")?;
        if !hecnn_ml::safe_fs::is_plain_file_name(name) {
            bail!("the server names a file {name:?}");
        }
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            bail!("the server names {name}'s blob {hash:?}");
        }
        // The server is not trusted: a model file is a few MB, never more than this.
        let bytes = c.get_bytes(&format!("/v1/blobs/{hash}"), MAX_MODEL_FILE, &format!("downloading {name}"))?;
        if blake3::hash(&bytes).to_hex().as_str() != hash {
            bail!("downloading {name}: the content does not match its hash");
        }
        hecnn_ml::safe_fs::write_new(&out.join(name), &bytes)?;
    }
    println!("job {job}'s encrypted result ({} files) in {}", files.len(), out.display());
    Ok(())
}
