//! Training jobs on a bounded pool of workers. A job reads its dataset's
//! files through the same validating readers as `hecnn train-server`, trains
//! with the evaluation keys of the upload, and stores the encrypted model's
//! files as blobs of the job's tenant.
//!
//! Progress is persisted, and after every iteration W and V are saved as a
//! checkpoint (`jobs/<id>/ckpt-<t>`, written under a temporary name and
//! renamed when complete). A job that was running when the server died or
//! stopped is queued again at the next start and resumes from its last
//! checkpoint: the server's arithmetic is deterministic, so the model is the
//! one an uninterrupted run gives.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use hecnn_ml::cnn::roles::{self, InferenceUpload};
use hecnn_ml::mlr::server::{EncryptedModel, TrainError, TrainProgress, TrainingServer};
use hecnn_ml::upload;

use crate::api::AppState;
use crate::store::{Files, Store, TenantId};

/// Runs queued jobs forever, at most `state.limits.workers` at a time.
pub async fn dispatcher(state: Arc<AppState>) {
    let slots = state.slots.clone();
    loop {
        if state.stopping.load(Ordering::SeqCst) {
            return;
        }
        let queued = match state.store.queued_jobs() {
            Ok(q) => q,
            Err(e) => {
                tracing::error!("listing jobs: {e}");
                Vec::new()
            }
        };
        for (id, tenant, spec) in queued {
            let Ok(permit) = slots.clone().acquire_owned().await else { return };
            if state.stopping.load(Ordering::SeqCst) {
                return;
            }
            if !state.store.start_job(id).unwrap_or(false) {
                continue;
            }
            let st = state.clone();
            tokio::task::spawn_blocking(move || {
                tracing::info!(job = id, tenant, kind = spec.kind, dataset = spec.dataset, "starting");
                let outcome = match spec.kind.as_str() {
                    "infer" => infer(&st, id, tenant, spec.dataset),
                    _ => train(&st, id, tenant, spec.dataset, spec.iterations),
                };
                let recorded = match outcome {
                    Ok(files) => {
                        tracing::info!(job = id, "done");
                        let r = st.store.finish_job(id, Ok(&files));
                        let _ = std::fs::remove_dir_all(st.store.job_dir(id));
                        r
                    }
                    Err(Outcome::Stopped(done)) => {
                        tracing::info!(job = id, checkpoint = done, "stopped; resumes at the next start");
                        st.store.requeue_job(id)
                    }
                    Err(Outcome::Failed(e)) => {
                        tracing::warn!(job = id, "failed: {e}");
                        st.store.finish_job(id, Err(&e))
                    }
                };
                if let Err(e) = recorded {
                    tracing::error!(job = id, "recording the result: {e}");
                }
                drop(permit);
                st.notify.notify_one();
            });
        }
        tokio::select! {
            _ = state.notify.notified() => {}
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
    }
}

/// How a job run ended other than with its model.
enum Outcome {
    /// The server is stopping; W and V after this many iterations are saved.
    Stopped(usize),
    /// Why it failed.
    Failed(String),
}

impl<E: std::fmt::Display> From<E> for Outcome {
    fn from(e: E) -> Self {
        Outcome::Failed(e.to_string())
    }
}

/// Runs an inference job: the dataset's upload checked against the model it
/// names, every batch through the model, the encrypted scores stored. (An
/// interrupted inference job starts again from its first batch.)
fn infer(state: &AppState, id: i64, tenant: TenantId, dataset: i64) -> Result<Files, Outcome> {
    let dir = state.store.dataset_dir(dataset);
    let spec = roles::upload_spec_id(&dir)?;
    let model = state.models.by_spec_id(&spec).ok_or_else(|| format!("model spec {spec} is not served"))?;
    let up = InferenceUpload::load(&model, &dir)?;
    let out = state.store.job_dir(id).join("scores");
    let _ = std::fs::remove_dir_all(&out);
    let mut stopped = false;
    roles::infer_upload(&model, &up, &out, &mut |done, total| {
        let _ = state.store.set_progress(id, done as f64 / total as f64);
        stopped |= state.stopping.load(Ordering::SeqCst);
    })?;
    if stopped {
        tracing::info!(job = id, "finished while the server stops");
    }
    Ok(store_dir_as_blobs(&state.store, tenant, &out)?)
}

/// Runs a training job from its last checkpoint.
fn train(state: &AppState, id: i64, tenant: TenantId, dataset: i64, iterations: usize) -> Result<Files, Outcome> {
    let store = &state.store;
    let up = upload::load_upload(&store.dataset_dir(dataset))?;
    let server = TrainingServer::new(up.keys)?;
    let dir = store.job_dir(id);
    std::fs::create_dir_all(&dir)?;
    let start = match latest_checkpoint(&dir) {
        Some((t, path)) => {
            let ctx = server.keys().context();
            let job = (&up.data.layout, up.data.classes, up.data.features);
            let (_, model) = upload::load_model(&path, ctx, server.keys().key_set(), job)?;
            tracing::info!(job = id, checkpoint = t, "resuming");
            store.set_resumed(id, t)?;
            Some(model)
        }
        None => None,
    };
    let total = (4 * iterations) as f64;
    let mut saved: Result<(), Outcome> = Ok(());
    let trained = server.train_from(&up.data, start, iterations, &mut |p| {
        match p {
            TrainProgress::Stage { iteration, stage } => {
                let _ = store.set_progress(id, (4 * iteration + stage) as f64 / total);
                if state.limits.stage_pause_ms > 0 {
                    std::thread::sleep(std::time::Duration::from_millis(state.limits.stage_pause_ms));
                }
            }
            TrainProgress::Checkpoint(model) if model.iterations < iterations => {
                if let Err(e) = save_checkpoint(state, id, &dir, server.keys(), &up.data, model) {
                    saved = Err(e);
                    return ControlFlow::Break(());
                }
            }
            TrainProgress::Checkpoint(_) => {}
        }
        if state.stopping.load(Ordering::SeqCst) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    saved?;
    let model = match trained {
        Ok((model, _)) => model,
        Err(TrainError::Stopped { .. }) => return Err(Outcome::Stopped(checkpoint_iterations(&dir))),
        Err(e) => return Err(e.into()),
    };
    let out = dir.join("model");
    let _ = std::fs::remove_dir_all(&out);
    upload::save_model(&out, server.keys(), &up.data, &model)?;
    Ok(store_dir_as_blobs(store, tenant, &out)?)
}

/// Iterations of the last complete checkpoint in `dir` (0: none).
fn checkpoint_iterations(dir: &Path) -> usize {
    latest_checkpoint(dir).map_or(0, |(t, _)| t)
}

/// The last complete checkpoint in `dir`: `ckpt-<t>` with the largest `t`
/// (a `ckpt-<t>.part` is one a crash cut short).
fn latest_checkpoint(dir: &Path) -> Option<(usize, PathBuf)> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let t = name.strip_prefix("ckpt-")?.parse::<usize>().ok()?;
            Some((t, e.path()))
        })
        .max_by_key(|(t, _)| *t)
}

/// Saves W and V after `model.iterations` iterations as `ckpt-<t>`
/// (written as `ckpt-<t>.part`, renamed when complete), then drops older ones.
fn save_checkpoint(
    state: &AppState,
    id: i64,
    dir: &Path,
    keys: &hecnn_ckks::EvaluationKeySet,
    data: &hecnn_ml::mlr::server::EncryptedDataset,
    model: &EncryptedModel,
) -> Result<(), Outcome> {
    let t = model.iterations;
    let part = dir.join(format!("ckpt-{t}.part"));
    let _ = std::fs::remove_dir_all(&part);
    upload::save_model(&part, keys, data, model)?;
    let done = dir.join(format!("ckpt-{t}"));
    std::fs::rename(&part, &done)?;
    std::fs::File::open(dir).and_then(|d| d.sync_all())?;
    state.store.set_checkpoint(id, t)?;
    for entry in std::fs::read_dir(dir)?.filter_map(|e| e.ok()) {
        let name = entry.file_name().into_string().unwrap_or_default();
        if name.strip_prefix("ckpt-").and_then(|n| n.parse::<usize>().ok()).is_some_and(|old| old < t) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    Ok(())
}

fn store_dir_as_blobs(store: &Store, tenant: TenantId, dir: &Path) -> Result<Files, String> {
    let mut files = Files::new();
    for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let name = path.file_name().and_then(|n| n.to_str()).ok_or("a model file without a name")?.to_string();
        files.insert(name, store.add_file_as_blob(tenant, &path).map_err(|e| e.to_string())?);
    }
    Ok(files)
}
