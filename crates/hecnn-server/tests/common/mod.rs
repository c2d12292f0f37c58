//! What the service tests share: a client over plain HTTP (`ureq`) and
//! the two kinds of server it talks to.
#![allow(dead_code)] // each test file uses its own part

use std::path::Path;
use std::time::{Duration, Instant};

use hecnn_server::api::Limits;

/// Where requests go: the in-process server or the real binary.
pub trait Base {
    fn url(&self, path: &str) -> String;
}

pub struct Server(pub hecnn_server::Background);

impl Server {
    pub fn start(dir: &Path, limits: Limits) -> Server {
        Server(hecnn_server::Background::start(dir, limits).unwrap())
    }
}

impl Base for Server {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.0.url())
    }
}

/// The real binary's address.
pub struct Remote(pub String);

impl Base for Remote {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }
}

pub struct Client {
    pub agent: ureq::Agent,
    pub token: String,
}

impl Client {
    pub fn new(token: String) -> Self {
        Self { agent: ureq::Agent::config_builder().http_status_as_error(false).build().into(), token }
    }

    pub fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }

    pub fn put_blob(&self, s: &impl Base, bytes: &[u8]) -> String {
        let mut r = self.agent.put(&s.url("/v1/blobs")).header("Authorization", &self.auth()).send(bytes).unwrap();
        assert_eq!(r.status().as_u16(), 201);
        let v: serde_json::Value = serde_json::from_slice(&r.body_mut().read_to_vec().unwrap()).unwrap();
        v["hash"].as_str().unwrap().to_string()
    }

    pub fn post(&self, s: &impl Base, path: &str, body: serde_json::Value) -> (u16, serde_json::Value, Option<String>) {
        let mut r = self
            .agent
            .post(&s.url(path))
            .header("Authorization", &self.auth())
            .header("Content-Type", "application/json")
            .send(body.to_string().as_bytes())
            .unwrap();
        let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
        let status = r.status().as_u16();
        (status, serde_json::from_slice(&r.body_mut().read_to_vec().unwrap()).unwrap(), retry)
    }

    pub fn delete(&self, s: &impl Base, path: &str) -> u16 {
        self.agent.delete(&s.url(path)).header("Authorization", &self.auth()).call().unwrap().status().as_u16()
    }

    pub fn get(&self, s: &impl Base, path: &str) -> (u16, Vec<u8>) {
        let mut r = self.agent.get(&s.url(path)).header("Authorization", &self.auth()).call().unwrap();
        (r.status().as_u16(), r.body_mut().with_config().limit(1 << 30).read_to_vec().unwrap())
    }

    /// Uploads every file of `dir` (with `tamper` applied to the one named) and returns name → hash.
    pub fn upload_dir(&self, s: &impl Base, dir: &Path, tamper: Option<&str>) -> serde_json::Value {
        let mut files = serde_json::Map::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            let mut bytes = std::fs::read(&path).unwrap();
            if tamper == Some(name.as_str()) {
                let k = bytes.len() / 2;
                bytes[k] ^= 0x5a;
            }
            files.insert(name, self.put_blob(s, &bytes).into());
        }
        serde_json::Value::Object(files)
    }
}

/// Polls job `job` until it is done (panics if it fails or takes 5 minutes).
pub fn wait_done(a: &Client, s: &impl Base, job: i64) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let (status, body) = a.get(s, &format!("/v1/jobs/{job}"));
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        match v["state"].as_str().unwrap() {
            "done" => return v,
            "failed" => panic!("job failed: {v}"),
            _ => {
                assert!(start.elapsed() < Duration::from_secs(300), "job still {v}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Downloads a finished job's model files into `dir`.
pub fn download_model(a: &Client, s: &impl Base, info: &serde_json::Value, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, hash) in info["result"].as_object().unwrap() {
        let (status, bytes) = a.get(s, &format!("/v1/blobs/{}", hash.as_str().unwrap()));
        assert_eq!(status, 200);
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}
