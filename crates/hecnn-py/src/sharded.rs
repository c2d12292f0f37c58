//! Sharded training (Ray): a [`ShardWorker`] holds the evaluation keys and
//! its shard's sample blocks and computes encrypted partial gradients; a
//! [`Driver`] holds W and V, adds the workers' gradients, takes the
//! Nesterov step (bootstrapping when planned) and hands V back out. What
//! crosses between them is ciphertexts as bytes, bound to the key set and
//! to their role (`ray/v/<block>`, `ray/g/<block>`), so a worker cannot be
//! handed another job's or another block's ciphertext unnoticed.

use std::collections::HashMap;
use std::path::Path;

use hecnn_ckks::{Binding, Ciphertext, EvaluationKeySet, Evaluator};
use hecnn_ml::mlr::server::{
    EncryptedDataset, EncryptedModel, StepPlan, TrainStats, Trainer, TrainingServer, PAPER_SIGMOID,
};
use hecnn_ml::upload;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::err;

/// Most bytes of one upload file handed to a worker (a bootstrapping key set is ≈ 1 GB).
const MAX_FILE: usize = 4 << 30;

/// The upload from `files` (name → bytes, as the upload directory holds
/// them), read with the validating readers through a private temporary
/// directory.
fn load_shard(files: HashMap<String, Vec<u8>>, k: usize, shards: usize) -> PyResult<upload::LoadedUpload> {
    let dir = tempfile::Builder::new().prefix("hecnn-shard-").tempdir().map_err(err)?;
    for (name, bytes) in &files {
        if !hecnn_ml::safe_fs::is_plain_file_name(name) || bytes.len() > MAX_FILE {
            return Err(err(format!("upload file {name:?} refused")));
        }
        hecnn_ml::safe_fs::write_new(&dir.path().join(name), bytes).map_err(err)?;
    }
    upload::load_upload_shard(dir.path(), k, shards).map_err(err)
}

fn binding(keys: &EvaluationKeySet, what: &str, block: usize) -> PyResult<Binding> {
    Binding::new(keys.key_set(), format!("ray/{what}/{block}")).map_err(err)
}

fn to_py<'py>(
    py: Python<'py>,
    keys: &EvaluationKeySet,
    what: &str,
    cts: &[Ciphertext],
) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    cts.iter()
        .enumerate()
        .map(|(b, c)| Ok(PyBytes::new(py, &c.to_bytes(keys.context(), &binding(keys, what, b)?))))
        .collect()
}

fn from_py(keys: &EvaluationKeySet, what: &str, blocks: &[Vec<u8>]) -> PyResult<Vec<Ciphertext>> {
    blocks
        .iter()
        .enumerate()
        .map(|(b, bytes)| Ciphertext::from_bytes(keys.context(), bytes, &binding(keys, what, b)?).map_err(err))
        .collect()
}

/// Copies of Python `bytes` (taken as bytes, not element by element).
fn bytes_of(blocks: &[Bound<'_, PyBytes>]) -> Vec<Vec<u8>> {
    blocks.iter().map(|b| b.as_bytes().to_vec()).collect()
}

/// Most bytes of expanded ciphertexts a streaming worker reads at once by
/// default (at least one sample block).
const STREAM_BYTES: u64 = 1 << 30;

/// Where a worker's sample blocks live.
enum Shard {
    /// In memory (received through the object store), with the keys.
    Held(EvaluationKeySet, EncryptedDataset),
    /// Read from the upload directory, `at_once` sample blocks at a time,
    /// every iteration: for shards larger than the worker's memory.
    Streamed { reader: upload::UploadReader, range: std::ops::Range<usize>, at_once: usize },
}

/// One Ray worker's state: the evaluation keys and shard `k` of `shards`.
#[pyclass(module = "hecnn._hecnn")]
pub struct ShardWorker {
    shard: Shard,
}

impl ShardWorker {
    fn keys(&self) -> &EvaluationKeySet {
        match &self.shard {
            Shard::Held(keys, _) => keys,
            Shard::Streamed { reader, .. } => reader.keys(),
        }
    }
}

#[pymethods]
impl ShardWorker {
    /// Shard `k` of `shards` from the upload's files (name → bytes: what
    /// the driver put in Ray's object store once): `common` (parameters,
    /// manifest, keys, W₀; the same for every shard) and `own` (this
    /// shard's blocks), as [`upload_files`] and [`shard_file_names`] give them.
    #[new]
    fn new(
        py: Python<'_>,
        common: HashMap<String, Bound<'_, PyBytes>>,
        own: HashMap<String, Bound<'_, PyBytes>>,
        k: usize,
        shards: usize,
    ) -> PyResult<Self> {
        let files: HashMap<String, Vec<u8>> =
            common.into_iter().chain(own).map(|(n, b)| (n, b.as_bytes().to_vec())).collect();
        py.detach(|| {
            let up = load_shard(files, k, shards)?;
            Ok(Self { shard: Shard::Held(up.keys, up.data) })
        })
    }

    /// Shard `k` of `shards` of the upload directory `dir` (on this machine
    /// or a shared file system), read a few sample blocks at a time at
    /// every iteration instead of held: memory for the keys and `at_once`
    /// sample blocks (default: as many as fit in 1 GiB expanded, at least
    /// one), whatever the shard's size.
    #[staticmethod]
    #[pyo3(signature = (dir, k, shards, at_once = None))]
    fn streaming(py: Python<'_>, dir: &str, k: usize, shards: usize, at_once: Option<usize>) -> PyResult<Self> {
        if at_once == Some(0) {
            return Err(err("at_once must be at least 1"));
        }
        let dir = Path::new(dir).to_path_buf();
        py.detach(|| {
            let reader = upload::UploadReader::open(&dir).map_err(err)?;
            let range = reader.shard(k, shards).map_err(err)?;
            let at_once = at_once.unwrap_or_else(|| reader.blocks_within(STREAM_BYTES));
            Ok(Self { shard: Shard::Streamed { reader, range, at_once } })
        })
    }

    /// Sample blocks held or streamed.
    #[getter]
    fn blocks(&self) -> usize {
        match &self.shard {
            Shard::Held(_, d) => d.x.len(),
            Shard::Streamed { range, .. } => range.len(),
        }
    }

    /// Iteration `t`'s partial gradient on this shard, given V (bytes per feature block).
    fn gradient<'py>(
        &self,
        py: Python<'py>,
        v: Vec<Bound<'py, PyBytes>>,
        t: usize,
    ) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        let v = bytes_of(&v);
        let g = py.detach(|| {
            let v = from_py(self.keys(), "v", &v)?;
            let mut stats = TrainStats::default();
            let trainer = Trainer::new(self.keys());
            match &self.shard {
                Shard::Held(_, d) => trainer.gradient(d, &v, t, &PAPER_SIGMOID, &mut stats).map_err(err),
                Shard::Streamed { reader, range, at_once } => {
                    let parts = range.clone().step_by(*at_once).map(|s| reader.blocks(s..(s + at_once).min(range.end)));
                    trainer
                        .gradient_in_parts::<upload::UploadError>(parts, &v, t, &PAPER_SIGMOID, &mut stats)
                        .map_err(err)
                }
            }
        })?;
        to_py(py, self.keys(), "g", &g)
    }
}

/// The Ray driver's state: the training server (keys, bootstrapper), the
/// step plan, W and V.
#[pyclass(module = "hecnn._hecnn")]
pub struct Driver {
    server: TrainingServer,
    /// The upload without its sample blocks (what the model's manifest describes).
    meta: EncryptedDataset,
    plan: StepPlan,
    iterations: usize,
    done: usize,
    w: Vec<Ciphertext>,
    v: Vec<Ciphertext>,
}

#[pymethods]
impl Driver {
    /// For `iterations` iterations on the upload in directory `upload`.
    #[new]
    fn new(py: Python<'_>, upload: &str, iterations: usize) -> PyResult<Self> {
        let dir = Path::new(upload).to_path_buf();
        py.detach(|| {
            // W₀, the keys and one sample block (the step plan reads the data's
            // scale): the workers hold (or stream) the sample blocks.
            let reader = upload::UploadReader::open(&dir).map_err(err)?;
            let mut meta = reader.blocks(0..1).map_err(err)?;
            let server = TrainingServer::new(reader.into_keys()).map_err(err)?;
            let (started, _) = server
                .with_trainer(|trainer| -> PyResult<_> {
                    let plan = trainer.step_plan(&meta, iterations).map_err(err)?;
                    let mut stats = TrainStats::default();
                    let (w, v) =
                        trainer.start(meta.weights.clone(), meta.weights.clone(), &plan, &mut stats).map_err(err)?;
                    Ok((plan, w, v))
                })
                .map_err(err)?;
            let (plan, w, v) = started?;
            meta.x.clear();
            meta.x_scaled.clear();
            meta.labels.clear();
            Ok(Self { server, meta, plan, iterations, done: 0, w, v })
        })
    }

    /// Iterations done.
    #[getter]
    fn done(&self) -> usize {
        self.done
    }

    /// V as bytes per feature block (what the workers take the gradient at).
    fn v<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        to_py(py, self.server.keys(), "v", &self.v)
    }

    /// Adds the workers' partial gradients of iteration `done` and takes the step.
    fn update(&mut self, py: Python<'_>, parts: Vec<Vec<Bound<'_, PyBytes>>>) -> PyResult<()> {
        let parts: Vec<Vec<Vec<u8>>> = parts.iter().map(|p| bytes_of(p)).collect();
        if self.done >= self.iterations {
            return Err(err(format!("all {} iterations are done", self.iterations)));
        }
        if parts.is_empty() {
            return Err(err("no partial gradients"));
        }
        let (w, v) = py.detach(|| {
            let keys = self.server.keys();
            let ev = Evaluator::new(keys.context());
            let mut g: Option<Vec<Ciphertext>> = None;
            for part in &parts {
                let gk = from_py(keys, "g", part)?;
                g = Some(match g {
                    None => gk,
                    Some(acc) => {
                        if acc.len() != gk.len() {
                            return Err(err("partial gradients of different block counts"));
                        }
                        acc.iter().zip(&gk).map(|(a, b)| ev.add(a, b).map_err(err)).collect::<PyResult<_>>()?
                    }
                });
            }
            let g = g.expect("parts is not empty");
            let mut stats = TrainStats::default();
            let (w, v) = (self.w.clone(), self.v.clone());
            let (r, _) = self
                .server
                .with_trainer(|trainer| trainer.update(w, v, &g, self.done, &self.plan, &mut stats))
                .map_err(err)?;
            r.map_err(err)
        })?;
        (self.w, self.v) = (w, v);
        self.done += 1;
        Ok(())
    }

    /// Writes the encrypted model (the CLI's format) into the new directory `out`.
    fn save_model(&self, out: &str) -> PyResult<u64> {
        if self.done != self.iterations {
            return Err(err(format!("{} of {} iterations done", self.done, self.iterations)));
        }
        let model = EncryptedModel { w: self.w.clone(), v: self.v.clone(), iterations: self.done };
        upload::save_model(Path::new(out), self.server.keys(), &self.meta, &model).map_err(err)
    }
}

/// Files `names` of the upload directory `dir` (name → bytes), for the object store.
#[pyfunction]
pub fn upload_files(py: Python<'_>, dir: &str, names: Vec<String>) -> PyResult<HashMap<String, Py<PyBytes>>> {
    let mut files = HashMap::new();
    for name in names {
        if !hecnn_ml::safe_fs::is_plain_file_name(&name) {
            return Err(err(format!("file name {name:?} refused")));
        }
        let bytes = upload::read_bounded(&Path::new(dir).join(&name), MAX_FILE as u64).map_err(err)?;
        files.insert(name, PyBytes::new(py, &bytes).unbind());
    }
    Ok(files)
}

/// The files shard `k` of `shards` of the upload in `dir` needs: (common to
/// every shard, its own blocks).
#[pyfunction]
pub fn shard_file_names(dir: &str, k: usize, shards: usize) -> PyResult<(Vec<String>, Vec<String>)> {
    upload::shard_file_names(Path::new(dir), k, shards).map_err(err)
}
