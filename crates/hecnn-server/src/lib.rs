//! The untrusted server as an HTTP service (issue 17, first part): tenants
//! with bearer tokens stored hashed, and content-addressed blobs (keys,
//! ciphertexts) streamed to disk under a size limit and committed only when
//! complete. Training and inference jobs on the stored blobs come next; the
//! server never holds a secret key.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! let store = hecnn_server::store::Store::open(std::path::Path::new("/tmp/hecnn-data"))?;
//! let state = Arc::new(hecnn_server::api::AppState { store, max_body: 4 << 30 });
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, hecnn_server::api::router(state)).await?;
//! # Ok(()) }
//! ```

pub mod api;
pub mod store;
