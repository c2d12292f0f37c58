//! Training jobs on a bounded pool of workers. A job reads its dataset's
//! files through the same validating readers as `hecnn train-server`, trains
//! with the evaluation keys of the upload, and stores the encrypted model's
//! files as blobs of the job's tenant. Progress is persisted; a job that was
//! running when the server died is queued again at the next start (it
//! restarts from the beginning: checkpoints of W and V come next).

use std::path::Path;
use std::sync::Arc;

use hecnn_ml::mlr::server::{TrainProgress, TrainingServer};
use hecnn_ml::upload;
use tokio::sync::Semaphore;

use crate::api::AppState;
use crate::store::{Files, Store, TenantId};

/// Runs queued jobs forever, at most `state.limits.workers` at a time.
pub async fn dispatcher(state: Arc<AppState>) {
    let slots = Arc::new(Semaphore::new(state.limits.workers.max(1)));
    loop {
        let queued = match state.store.queued_jobs() {
            Ok(q) => q,
            Err(e) => {
                tracing::error!("listing jobs: {e}");
                Vec::new()
            }
        };
        for (id, tenant, dataset, iterations) in queued {
            let Ok(permit) = slots.clone().acquire_owned().await else { return };
            if !state.store.start_job(id).unwrap_or(false) {
                continue;
            }
            let st = state.clone();
            tokio::task::spawn_blocking(move || {
                tracing::info!(job = id, tenant, dataset, iterations, "training");
                let result = run(&st.store, id, tenant, dataset, iterations);
                match &result {
                    Ok(_) => tracing::info!(job = id, "done"),
                    Err(e) => tracing::warn!(job = id, "failed: {e}"),
                }
                if let Err(e) = st.store.finish_job(id, result.as_ref().map_err(String::as_str)) {
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

fn run(store: &Store, id: i64, tenant: TenantId, dataset: i64, iterations: usize) -> Result<Files, String> {
    let up = upload::load_upload(&store.dataset_dir(dataset)).map_err(|e| e.to_string())?;
    let server = TrainingServer::new(up.keys).map_err(|e| e.to_string())?;
    let total = (4 * iterations) as f64;
    let (model, _) = server
        .train(&up.data, iterations, &mut |p| match p {
            TrainProgress::Stage { iteration, stage } => {
                let _ = store.set_progress(id, (4 * iteration + stage) as f64 / total);
            }
        })
        .map_err(|e| e.to_string())?;
    let out = store.dir().join("jobs").join(id.to_string());
    let _ = std::fs::remove_dir_all(&out);
    upload::save_model(&out, server.keys(), &up.data, &model).map_err(|e| e.to_string())?;
    let files = store_dir_as_blobs(store, tenant, &out)?;
    let _ = std::fs::remove_dir_all(&out);
    Ok(files)
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
