//! The untrusted server as an HTTP service: tenants with bearer tokens
//! stored hashed; content-addressed blobs (keys, ciphertexts) streamed to
//! disk under a size limit and committed only when complete; datasets
//! (encrypted features or encrypted images) checked with the file roles'
//! validating readers; training jobs (checkpointed every iteration, resumed
//! after a crash) and inference jobs on a bounded worker pool, whose
//! encrypted models and scores become the tenant's blobs. The server never
//! holds a secret key.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! let store = hecnn_server::store::Store::open(std::path::Path::new("/tmp/hecnn-data"))?;
//! let models = hecnn_server::models::Models::bundled(&["bundled".to_string()])?;
//! let state = hecnn_server::api::AppState::new(store, hecnn_server::api::Limits::default(), models);
//! tokio::spawn(hecnn_server::jobs::dispatcher(state.clone()));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, hecnn_server::api::router(state)).await?;
//! # Ok(()) }
//! ```

pub mod api;
pub mod jobs;
pub mod models;
pub mod store;

use std::path::Path;

/// The whole service (API and job dispatcher) on a loopback port in a
/// thread of its own, stopped gracefully when dropped: for tests and for
/// embedding the server in another program.
pub struct Background {
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    /// Opens the store in `dir` and serves it on `127.0.0.1` (a free port),
    /// without inference models.
    pub fn start(dir: &Path, limits: api::Limits) -> Result<Self, Box<dyn std::error::Error>> {
        Self::start_with(dir, limits, models::Models::new())
    }

    /// [`Background::start`] serving `models` for inference.
    pub fn start_with(
        dir: &Path,
        limits: api::Limits,
        models: models::Models,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let state = api::AppState::new(store::Store::open(dir)?, limits, models);
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            rt.block_on(async move {
                tokio::spawn(jobs::dispatcher(state.clone()));
                let stopped = async { drop(rx.await) };
                if let Err(e) = axum::serve(listener, api::router(state.clone())).with_graceful_shutdown(stopped).await
                {
                    tracing::error!("server: {e}");
                }
                state.stop_jobs().await;
            });
        });
        Ok(Self { addr, stop: Some(tx), thread: Some(thread) })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
