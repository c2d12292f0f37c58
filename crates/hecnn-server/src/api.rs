//! The HTTP API (JSON for metadata, streamed binary bodies for blobs).
//! Every route needs `Authorization: Bearer <token>`; a missing or unknown
//! token is 401, an object the tenant does not own is 404 whether or not it
//! exists, a body over the limit is 413 with nothing left on disk.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::store::{hex, is_file_name, Files, JobSpec, Store, StoreError, TenantId};
use hecnn_ml::cnn::roles::{self, InferenceUpload};

/// Largest JSON request body: a dataset lists at most ≈ 8,200 files.
pub const MAX_JSON_BODY: usize = 4 << 20;

/// A job's peak memory per byte of its dataset, measured: training 128 × 30
/// with bootstrapping peaks at 12.5 GB for 4.24 GB uploaded (2.9×),
/// inference at 7.6 GB for 5.1 GB (1.5×); 3 covers both.
pub const MEMORY_PER_UPLOADED_BYTE: u64 = 3;

/// The service's limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest request body, in bytes.
    pub max_body: u64,
    /// Most jobs queued or running at once (more: 503 with Retry-After).
    pub queue_len: usize,
    /// Jobs run at once.
    pub workers: usize,
    /// Memory a job may need, in bytes (0: no limit). A job's need is
    /// estimated at submission as [`MEMORY_PER_UPLOADED_BYTE`] × its
    /// dataset's bytes; a job over the limit is refused with 400.
    pub job_memory: u64,
    /// A pause after every stage of a job: 0 in service; fault-injection
    /// tests use it to signal the server at a known point of a job.
    pub stage_pause_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_body: 4 << 30, queue_len: 16, workers: 1, job_memory: 0, stage_pause_ms: 0 }
    }
}

/// Shared by every request.
pub struct AppState {
    /// The data directory.
    pub store: Store,
    /// The limits.
    pub limits: Limits,
    /// The models served for inference.
    pub models: crate::models::Models,
    /// Wakes the job dispatcher.
    pub notify: tokio::sync::Notify,
    /// Set when the server stops: no job starts, running jobs stop at their
    /// next stage (their last checkpoint is saved) and are queued again.
    pub stopping: std::sync::atomic::AtomicBool,
    /// One permit per worker; a running job holds one.
    pub slots: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    /// State over `store` with `limits`, serving `models` for inference.
    pub fn new(store: Store, limits: Limits, models: crate::models::Models) -> Arc<Self> {
        Arc::new(Self {
            store,
            limits,
            models,
            notify: tokio::sync::Notify::new(),
            stopping: std::sync::atomic::AtomicBool::new(false),
            slots: Arc::new(tokio::sync::Semaphore::new(limits.workers.max(1))),
        })
    }

    /// Stops the jobs: none starts any more, and this returns once every
    /// running job has stopped at a stage boundary (a job keeps its last
    /// checkpoint and resumes from it at the next start).
    pub async fn stop_jobs(&self) {
        self.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
        self.notify.notify_one();
        let all = self.limits.workers.max(1) as u32;
        let _ = self.slots.acquire_many(all).await;
    }
}

/// An error as the client sees it: a status and a JSON message (never a
/// detail that tells another tenant's objects apart from missing ones).
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response();
        if self.0 == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        r
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!("store: {e}");
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
    }
}

fn not_found() -> ApiError {
    ApiError(StatusCode::NOT_FOUND, "no such object".into())
}

/// The routes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/blobs", put(upload_blob).get(list_blobs))
        .route("/v1/blobs/{hash}", get(download_blob).delete(delete_blob))
        .route("/v1/datasets", post(create_dataset))
        .route("/v1/datasets/{id}", axum::routing::delete(delete_dataset))
        .route("/v1/jobs", post(submit_job))
        .route("/v1/jobs/{id}", get(job_status))
        .route("/v1/models", get(list_models))
        .route("/v1/models/{name}/{file}", get(model_file))
        // JSON bodies (datasets, jobs) are bounded here; blob bodies are
        // streamed to disk under `max_body` by `upload_blob`, which reads
        // the raw body and is not subject to this limit.
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
        .with_state(state)
}

async fn tenant(state: &AppState, headers: &HeaderMap) -> Result<TenantId, ApiError> {
    let unauthorized = || ApiError(StatusCode::UNAUTHORIZED, "missing or unknown bearer token".into());
    let value = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).ok_or_else(unauthorized)?;
    let token = value.strip_prefix("Bearer ").ok_or_else(unauthorized)?;
    state.store.tenant_of(token.trim())?.ok_or_else(unauthorized)
}

/// `PUT /v1/blobs`: stores the body, returns `{hash, size}` (201).
async fn upload_blob(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers).await?;
    let too_large =
        || ApiError(StatusCode::PAYLOAD_TOO_LARGE, format!("body over the limit of {} bytes", state.limits.max_body));
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > state.limits.max_body) {
        return Err(too_large());
    }
    let temp = state.store.temp_path();
    let result = async {
        let mut file = tokio::fs::File::create(&temp).await.map_err(internal)?;
        let mut hasher = blake3::Hasher::new();
        let mut size = 0u64;
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("reading the body: {e}")))?;
            size += chunk.len() as u64;
            if size > state.limits.max_body {
                return Err(too_large());
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(internal)?;
        }
        file.sync_all().await.map_err(internal)?;
        Ok((hex(&hasher.finalize()), size))
    }
    .await;
    let (hash, size) = match result {
        Ok(v) => v,
        Err(e) => {
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(e);
        }
    };
    let st = state.clone();
    let info = tokio::task::spawn_blocking(move || st.store.commit_blob(tenant, &temp, &hash, size))
        .await
        .map_err(internal)??;
    tracing::info!(tenant, hash = %info.hash, size = info.size, "blob stored");
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

/// `GET /v1/blobs`: the tenant's blobs.
async fn list_blobs(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers).await?;
    Ok(Json(state.store.blobs(tenant)?).into_response())
}

/// `GET /v1/blobs/{hash}`: the content, streamed.
async fn download_blob(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers).await?;
    let (path, size) = state.store.blob(tenant, &hash)?.ok_or_else(not_found)?;
    let file = tokio::fs::File::open(&path).await.map_err(internal)?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream".to_string()), (header::CONTENT_LENGTH, size.to_string())],
        body,
    )
        .into_response())
}

/// `DELETE /v1/blobs/{hash}`.
async fn delete_blob(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(hash): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers).await?;
    if state.store.delete_blob(tenant, &hash)? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(not_found())
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!("{e}");
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
}

fn bad_request(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

/// `POST /v1/datasets` with `{"files": {name: hash}}`: the files of an
/// upload directory (as `hecnn encrypt` writes it), each a blob the tenant
/// uploaded; checked with the same validating readers as `train-server`
/// (keys, parameters, manifest, every ciphertext) before it is recorded.
async fn create_dataset(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(body): Json<DatasetRequest>,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers).await?;
    if body.files.is_empty() || body.files.len() > hecnn_ml::upload::MAX_CIPHERTEXTS + 8 {
        return Err(bad_request(format!("{} files", body.files.len())));
    }
    if let Some(name) = body.files.keys().find(|n| !is_file_name(n)) {
        return Err(bad_request(format!("file name {name:?} refused")));
    }
    let st = state.clone();
    let checked = tokio::task::spawn_blocking(move || -> Result<Result<serde_json::Value, String>, StoreError> {
        let id = match st.store.create_dataset(tenant, &body.files)? {
            Ok(id) => id,
            Err(name) => return Ok(Err(format!("file {name}: no such blob"))),
        };
        let checked = check_dataset(&st, &st.store.dataset_dir(id));
        if checked.is_err() {
            st.store.delete_dataset(id)?;
        }
        Ok(checked.map(|mut v| {
            v["id"] = id.into();
            v
        }))
    })
    .await
    .map_err(internal)??;
    match checked {
        Ok(v) => Ok((StatusCode::CREATED, Json(v)).into_response()),
        Err(e) => Err(bad_request(e)),
    }
}

/// Reads a dataset with the file roles' validating readers: an inference
/// upload (its manifest says so) against the served model it names, every
/// input ciphertext included; otherwise a training upload.
fn check_dataset(state: &AppState, dir: &std::path::Path) -> Result<serde_json::Value, String> {
    if roles::is_inference_upload(dir) {
        let id = roles::upload_spec_id(dir).map_err(|e| e.to_string())?;
        let model = state
            .models
            .by_spec_id(&id)
            .ok_or_else(|| format!("manifest.json: encrypted for model spec {id}, which this server does not serve"))?;
        let up = InferenceUpload::load(&model, dir).map_err(|e| e.to_string())?;
        for b in 0..up.manifest.batches {
            up.batch(&model, b).map_err(|e| e.to_string())?;
        }
        return Ok(serde_json::json!({
            "kind": "images",
            "model": model.file.model,
            "images": up.manifest.images,
            "batches": up.manifest.batches,
            "bootstrapping": up.keys.bootstrap().is_some(),
        }));
    }
    let up = hecnn_ml::upload::load_upload(dir).map_err(|e| e.to_string())?;
    Ok(serde_json::json!({
        "kind": "features",
        "samples": up.data.samples,
        "features": up.data.features,
        "classes": up.data.classes,
        "ciphertexts": up.data.num_ciphertexts(),
        "bootstrapping": up.keys.bootstrap().is_some(),
    }))
}

/// Body of `POST /v1/datasets`.
#[derive(serde::Deserialize)]
pub struct DatasetRequest {
    /// File name → blob hash.
    pub files: Files,
}

/// Body of `POST /v1/jobs`.
#[derive(serde::Deserialize)]
pub struct JobRequest {
    /// Dataset id.
    pub dataset: i64,
    /// `train` (the default) or `infer`.
    #[serde(default)]
    pub kind: Option<String>,
    /// Encrypted iterations (training).
    #[serde(default)]
    pub iterations: usize,
}

/// `POST /v1/jobs` with `{"dataset": id, "iterations": T}`: 202 `{id}`, or
/// 503 with Retry-After when the queue is full.
async fn submit_job(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(body): Json<JobRequest>,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers).await?;
    let kind = body.kind.as_deref().unwrap_or("train");
    match kind {
        "train" if !(1..=hecnn_ml::upload::MAX_MODEL_ITERATIONS).contains(&body.iterations) => {
            return Err(bad_request(format!(
                "iterations {} (1 to {})",
                body.iterations,
                hecnn_ml::upload::MAX_MODEL_ITERATIONS
            )));
        }
        "infer" if body.iterations != 0 => return Err(bad_request("an inference job takes no iterations")),
        "train" | "infer" => {}
        other => return Err(bad_request(format!("kind {other:?} (train or infer)"))),
    }
    if !state.store.owns_dataset(tenant, body.dataset)? {
        return Err(not_found());
    }
    let dir = state.store.dataset_dir(body.dataset);
    let images = roles::is_inference_upload(&dir);
    if images != (kind == "infer") {
        return Err(bad_request(format!(
            "dataset {} holds {}: a {kind} job needs {}",
            body.dataset,
            if images { "encrypted images" } else { "encrypted features" },
            if kind == "infer" { "encrypted images" } else { "encrypted features" }
        )));
    }
    let need = MEMORY_PER_UPLOADED_BYTE * dir_bytes(&dir);
    if state.limits.job_memory > 0 && need > state.limits.job_memory {
        return Err(bad_request(format!(
            "the job needs an estimated {:.2} GB, more than this server's per-job limit of {:.2} GB",
            need as f64 / 1e9,
            state.limits.job_memory as f64 / 1e9
        )));
    }
    let spec = JobSpec { kind: kind.to_string(), dataset: body.dataset, iterations: body.iterations };
    match state.store.queue_job(tenant, &spec, state.limits.queue_len)? {
        Some(id) => {
            state.notify.notify_one();
            Ok((StatusCode::ACCEPTED, Json(serde_json::json!({ "id": id }))).into_response())
        }
        None => {
            let mut r = ApiError(StatusCode::SERVICE_UNAVAILABLE, "the job queue is full".into()).into_response();
            r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("30"));
            Ok(r)
        }
    }
}

/// `GET /v1/jobs/{id}`: state, progress, and the model's files when done.
async fn job_status(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers).await?;
    let id = object_id(&id)?;
    Ok(Json(state.store.job(tenant, id)?.ok_or_else(not_found)?).into_response())
}

/// Bytes of the files in `dir`.
fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir).map(|d| d.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum()).unwrap_or(0)
}

/// `GET /v1/models`: the names of the models served for inference.
async fn list_models(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    tenant(&state, &headers).await?;
    Ok(Json(serde_json::json!({ "models": state.models.names() })).into_response())
}

/// `GET /v1/models/{name}/spec.json` or `…/params.bin`: what a client needs
/// to make keys and encrypt images for the model (compiled on first use).
async fn model_file(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((name, file)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    tenant(&state, &headers).await?;
    if file != "spec.json" && file != "params.bin" {
        return Err(not_found());
    }
    let st = state.clone();
    let model = tokio::task::spawn_blocking(move || st.models.get(&name)).await.map_err(internal)?;
    let model = model.ok_or_else(not_found)?.map_err(internal)?;
    let (bytes, kind) = if file == "spec.json" {
        (model.spec_bytes.clone(), "application/json")
    } else {
        (model.params.to_bytes(), "application/octet-stream")
    };
    Ok(([(header::CONTENT_TYPE, kind)], bytes).into_response())
}

/// `DELETE /v1/datasets/{id}`: forgets the dataset (its blobs stay the
/// tenant's until deleted themselves); 409 while a job uses it.
async fn delete_dataset(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = tenant(&state, &headers).await?;
    let id = object_id(&id)?;
    if !state.store.owns_dataset(tenant, id)? {
        return Err(not_found());
    }
    if state.store.dataset_in_use(id)? {
        return Err(ApiError(StatusCode::CONFLICT, format!("dataset {id} is used by a queued or running job")));
    }
    state.store.delete_dataset(id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A job's or dataset's id from the path: anything but a number is a missing object.
fn object_id(s: &str) -> Result<i64, ApiError> {
    s.parse().map_err(|_| not_found())
}
