//! The untrusted server as an HTTP service (issue 17, first part): tenants
//! with bearer tokens stored hashed; content-addressed blobs (keys,
//! ciphertexts) streamed to disk under a size limit and committed only when
//! complete; datasets checked with the file roles' validating readers; and
//! training jobs on a bounded worker pool whose encrypted models become the
//! tenant's blobs. The server never holds a secret key.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! let store = hecnn_server::store::Store::open(std::path::Path::new("/tmp/hecnn-data"))?;
//! let state = hecnn_server::api::AppState::new(store, hecnn_server::api::Limits::default());
//! tokio::spawn(hecnn_server::jobs::dispatcher(state.clone()));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, hecnn_server::api::router(state)).await?;
//! # Ok(()) }
//! ```

pub mod api;
pub mod jobs;
pub mod store;
