//! Python bindings (`import hecnn`): the two roles of encrypted training as
//! classes. A [`Client`] holds the secret key: it encrypts features and
//! labels into an upload directory and decrypts (and checks) the model the
//! server returns. A [`Server`] holds nothing secret: it trains on an
//! upload directory and writes the encrypted model. The directories are
//! the CLI's (`hecnn encrypt` / `train-server` / `decrypt-model`), so
//! Python and the CLI interoperate. Every error is a `hecnn.HecnnError`
//! (or `ValueError` for malformed arguments) carrying the typed error's
//! message; long work releases the GIL.
//!
//! The Python package (`python/hecnn`) wraps this module with numpy in and
//! out; `hecnn.sharded` drives [`sharded::ShardWorker`]s and a
//! [`sharded::Driver`] on Ray.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hecnn_ckks::{Context, EvaluationKeySet, Preset, RelinKey, SecretKey};
use hecnn_ml::mlr::client::{
    self, training_bootstrap_keys, training_galois_keys, ModelExpectation, ReleasePolicy, Scaler, Scaling,
    TrainingClient,
};
use hecnn_ml::mlr::reference;
use hecnn_ml::mlr::server::TrainingServer;
use hecnn_ml::mlr::setup;
use hecnn_ml::packing::Layout;
use hecnn_ml::safe_fs::{self, Visibility};
use hecnn_ml::upload;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use serde::{Deserialize, Serialize};

mod data;
mod inference;
mod sharded;

pyo3::create_exception!(_hecnn, HecnnError, PyException, "An error of hecnn (bad file, refused model, ...).");

fn err(e: impl std::fmt::Display) -> PyErr {
    HecnnError::new_err(e.to_string())
}

/// What the client remembers about the job it encrypted: its own record,
/// against which a returned model is checked (never the server's word).
#[derive(Clone, Serialize, Deserialize)]
struct Job {
    x: Vec<Vec<f64>>,
    y: Vec<u8>,
    classes: usize,
    scaling: Scaling,
    scaler: Scaler,
    layout: Layout,
    data_level: usize,
    refresh_level: Option<usize>,
}

/// The client: secret key, encryption, decryption and checks.
#[pyclass(module = "hecnn._hecnn")]
struct Client {
    ctx: Arc<Context>,
    sk: SecretKey,
    job: Option<Job>,
}

const STATE_FILE: &str = "client.json";

/// `features` as rows of finite values, all of one length.
fn check_matrix(x: &[Vec<f64>], what: &str) -> PyResult<()> {
    let d = x.first().map_or(0, Vec::len);
    if x.is_empty() || d == 0 {
        return Err(PyValueError::new_err(format!("{what}: empty")));
    }
    if let Some(i) = x.iter().position(|r| r.len() != d) {
        return Err(PyValueError::new_err(format!("{what}: row {i} has {} values, row 0 has {d}", x[i].len())));
    }
    if let Some((i, j)) = x.iter().enumerate().find_map(|(i, r)| r.iter().position(|v| !v.is_finite()).map(|j| (i, j)))
    {
        return Err(PyValueError::new_err(format!("{what}: row {i}, column {j} is {}", x[i][j])));
    }
    Ok(())
}

fn scaling_of(name: &str) -> PyResult<Scaling> {
    match name {
        "max-abs" => Ok(Scaling::MaxAbs),
        "none" => Ok(Scaling::None),
        other => Err(PyValueError::new_err(format!("scaling {other:?} (max-abs or none)"))),
    }
}

#[pymethods]
impl Client {
    /// Fresh keys for a parameter preset (`training-2iter`: 2 iterations
    /// without bootstrapping; `bootstrappable`: any number, with
    /// bootstrapping keys in the upload).
    #[new]
    #[pyo3(signature = (preset = "training-2iter"))]
    fn new(py: Python<'_>, preset: &str) -> PyResult<Self> {
        let preset = Preset::from_name(preset).map_err(|e| PyValueError::new_err(e.to_string()))?;
        py.detach(|| {
            let ctx = Context::new(preset.params()).map_err(err)?;
            let sk = SecretKey::generate(&ctx);
            Ok(Self { ctx, sk, job: None })
        })
    }

    /// The key set's id (hex): what binds every file of a job.
    #[getter]
    fn key_set(&self) -> String {
        self.sk.key_set().to_hex()
    }

    /// Encrypts `features` (samples × d, raw) and `labels` (samples, in
    /// 0..classes) into the upload directory `out` (new or empty): scaling,
    /// the bias column and the preconditioner B̄ are applied here, as by
    /// `hecnn encrypt`. The block layout is chosen for `samples / shards`
    /// samples: for training on `shards` machines, where a worker's shard
    /// (not the whole set) decides which layout is cheapest and V's size
    /// (what crosses the network each iteration). Returns the bytes written.
    #[pyo3(signature = (features, labels, out, classes = 10, scaling = "max-abs", shards = 1))]
    #[allow(clippy::too_many_arguments)]
    fn encrypt(
        &mut self,
        py: Python<'_>,
        features: Vec<Vec<f64>>,
        labels: Vec<i64>,
        out: PathBuf,
        classes: usize,
        scaling: &str,
        shards: usize,
    ) -> PyResult<u64> {
        let scaling = scaling_of(scaling)?;
        check_matrix(&features, "features")?;
        if shards == 0 || shards > features.len() {
            return Err(PyValueError::new_err(format!("shards {shards} (1 to the {} samples)", features.len())));
        }
        if labels.len() != features.len() {
            return Err(PyValueError::new_err(format!("{} labels for {} samples", labels.len(), features.len())));
        }
        if !(2..=64).contains(&classes) {
            return Err(PyValueError::new_err(format!("classes {classes} (2 to 64)")));
        }
        if let Some(l) = labels.iter().find(|&&l| !(0..classes as i64).contains(&l)) {
            return Err(PyValueError::new_err(format!("label {l} outside 0..{classes}")));
        }
        let y: Vec<u8> = labels.iter().map(|&l| l as u8).collect();
        let (ctx, sk) = (self.ctx.clone(), &self.sk);
        let (job, bytes) = py.detach(|| -> PyResult<(Job, u64)> {
            if out.exists() && std::fs::read_dir(&out).map_err(err)?.next().is_some() {
                return Err(err(format!("{}: not empty", out.display())));
            }
            let (scaler, x, xs) = client::design(&features, scaling).map_err(err)?;
            let d = x[0].len();
            let layout = Layout::choose(x.len().div_ceil(shards), d, classes, ctx.n() / 2).ok_or_else(|| {
                err(format!("no packing of {} samples × {d} features fits {} slots", x.len(), ctx.n() / 2))
            })?;
            let mut gk = training_galois_keys(sk, &layout.rotation_steps());
            let boot = if setup::bootstraps(ctx.params()) {
                gk.extend(training_galois_keys(sk, &setup::refresh_rotation_steps(&layout, d))).map_err(err)?;
                Some(training_bootstrap_keys(sk, &layout, d).map_err(err)?)
            } else {
                None
            };
            let keys = EvaluationKeySet::new(&ctx, RelinKey::generate(sk), gk, boot).map_err(err)?;
            let tc = TrainingClient::new(sk).at_level(setup::data_level(ctx.params()));
            let init = vec![vec![client::DEFAULT_INIT; d]; classes];
            let bytes = upload::encrypt_upload(&out, &keys, &tc, &x, &xs, &y, &init, layout).map_err(err)?;
            let job = Job {
                x: features,
                y,
                classes,
                scaling,
                scaler,
                layout,
                data_level: tc.level(),
                refresh_level: setup::refresh_level(ctx.params()),
            };
            Ok((job, bytes))
        })?;
        self.job = Some(job);
        Ok(bytes)
    }

    /// Reads the encrypted model in `model` (a `train-server` output for
    /// this client's upload), checks every ciphertext and the decrypted
    /// weights against the client's own plaintext reference, and returns
    /// `(w, iterations)`: `w` classes × (1 + d), bias first. With `private`
    /// the exact weights (never publish them); else noise-flooded for
    /// `statistical_security` bits and rounded (`docs/security.md` §3).
    #[pyo3(signature = (model, private = false, statistical_security = None))]
    fn decrypt_model(
        &self,
        py: Python<'_>,
        model: PathBuf,
        private: bool,
        statistical_security: Option<u32>,
    ) -> PyResult<(Vec<Vec<f64>>, usize)> {
        let job = self.job.as_ref().ok_or_else(|| err("this client has encrypted no job"))?;
        let (ctx, sk) = (&self.ctx, &self.sk);
        py.detach(|| {
            let features = job.layout_features();
            let (_, m) =
                upload::load_model(&model, ctx, sk.key_set(), (&job.layout, job.classes, features)).map_err(err)?;
            let mut expect = ModelExpectation {
                layout: job.layout,
                classes: job.classes,
                features,
                key_set: sk.key_set(),
                data_level: job.data_level,
                refresh_level: job.refresh_level,
                log_scale: ctx.params().log_scale(),
                max_iterations: upload::MAX_MODEL_ITERATIONS,
                value_tolerance: 0.0,
                reference: None,
            };
            expect
                .check_ciphertexts(ctx.n() / 2, &m)
                .map_err(|e| err(format!("{}: model refused: {e}", model.display())))?;
            let reference = job.reference(m.iterations)?;
            let mut policy = ReleasePolicy::for_job(job.refresh_level.is_some());
            if let Some(s) = statistical_security {
                policy.statistical_security = s;
            }
            expect.value_tolerance = policy.reference_tolerance;
            expect.reference = Some(reference);
            let tc = TrainingClient::new(sk);
            let refused =
                |e: hecnn_ml::mlr::client::ModelError| err(format!("{}: model refused: {e}", model.display()));
            let w = if private {
                tc.decrypt_model_private(&m, &expect, policy.reference_tolerance).map_err(refused)?.0
            } else {
                tc.release_model(&m, &expect, &policy).map_err(refused)?.w
            };
            Ok((w, m.iterations))
        })
    }

    /// Accuracy of weights `w` (classes × (1 + d), bias first: what
    /// [`Client::decrypt_model`] returns) on raw `features` and `labels`
    /// (a test set), scaled as this client's job scaled its training data.
    fn evaluate(&self, w: Vec<Vec<f64>>, features: Vec<Vec<f64>>, labels: Vec<i64>) -> PyResult<f64> {
        let job = self.job.as_ref().ok_or_else(|| err("this client has encrypted no job"))?;
        check_matrix(&features, "features")?;
        if labels.len() != features.len() || labels.iter().any(|&l| !(0..job.classes as i64).contains(&l)) {
            return Err(PyValueError::new_err(format!("labels: one per sample, each in 0..{}", job.classes)));
        }
        let y: Vec<u8> = labels.iter().map(|&l| l as u8).collect();
        data::accuracy(&job.scaler, &w, &features, &y)
    }

    /// Writes the secret key (mode 0600), the parameters and the client's
    /// record of its job into the new directory `dir`.
    fn save(&self, dir: PathBuf) -> PyResult<()> {
        safe_fs::create_private_dir(&dir).map_err(err)?;
        safe_fs::write_new(&dir.join("params.bin"), &self.ctx.params().to_bytes()).map_err(err)?;
        safe_fs::write_private_new(&dir.join("secret.key"), &self.sk.to_secret_bytes()).map_err(err)?;
        let state = serde_json::to_vec(&self.job).map_err(err)?;
        safe_fs::write_atomic(&dir.join(STATE_FILE), &state, Visibility::Private).map_err(err)
    }

    /// A client saved by [`Client::save`].
    #[staticmethod]
    fn load(dir: PathBuf) -> PyResult<Self> {
        let params = upload::load_params(&dir.join("params.bin")).map_err(err)?;
        let ctx = Context::new(params).map_err(err)?;
        let bytes = zeroize::Zeroizing::new(upload::read_bounded(&dir.join("secret.key"), 1 << 20).map_err(err)?);
        let sk = SecretKey::from_secret_bytes(&ctx, &bytes)
            .map_err(|e| err(format!("{}: {e}", dir.join("secret.key").display())))?;
        let state = upload::read_bounded(&dir.join(STATE_FILE), 1 << 30).map_err(err)?;
        let job: Option<Job> =
            serde_json::from_slice(&state).map_err(|e| err(format!("{}: {e}", dir.join(STATE_FILE).display())))?;
        if let Some(j) = &job {
            if j.x.len() != j.y.len() || j.x.is_empty() || j.classes < 2 {
                return Err(err(format!("{}: inconsistent job record", dir.join(STATE_FILE).display())));
            }
        }
        Ok(Self { ctx, sk, job })
    }
}

impl Job {
    /// Features per sample with the bias column.
    fn layout_features(&self) -> usize {
        self.x[0].len() + 1
    }

    /// The plaintext reference's W after `iterations`, from the raw features.
    fn reference(&self, iterations: usize) -> PyResult<Vec<Vec<f64>>> {
        reference_w(&self.x, &self.y, self.classes, self.scaling, iterations)
    }
}

/// The reference's own scaling, bias and training (none of the client's
/// preparation code: a slip there shows as a difference).
fn reference_w(
    raw: &[Vec<f64>],
    y: &[u8],
    classes: usize,
    scaling: Scaling,
    iterations: usize,
) -> PyResult<Vec<Vec<f64>>> {
    Ok(reference::train_raw(raw, y, classes, scaling == Scaling::MaxAbs, iterations).map_err(err)?.0)
}

/// The server: trains on an upload directory with its evaluation keys only.
#[pyclass(module = "hecnn._hecnn")]
struct Server {
    upload: PathBuf,
}

#[pymethods]
impl Server {
    /// A server for the upload directory `upload` (read when training).
    #[new]
    fn new(upload: PathBuf) -> Self {
        Self { upload }
    }

    /// Runs `iterations` encrypted iterations (bootstrapping W and V when
    /// the upload has bootstrapping keys) and writes the encrypted model
    /// into `out` (new). Returns the bytes written.
    fn train(&self, py: Python<'_>, iterations: usize, out: PathBuf) -> PyResult<u64> {
        if !(1..=upload::MAX_MODEL_ITERATIONS).contains(&iterations) {
            return Err(PyValueError::new_err(format!(
                "iterations {iterations} (1 to {})",
                upload::MAX_MODEL_ITERATIONS
            )));
        }
        let dir: &Path = &self.upload;
        py.detach(|| {
            let up = upload::load_upload(dir).map_err(err)?;
            let server = TrainingServer::new(up.keys).map_err(err)?;
            let (model, _) = server.train(&up.data, iterations, &mut |_| {}).map_err(err)?;
            upload::save_model(&out, server.keys(), &up.data, &model).map_err(err)
        })
    }
}

/// The plaintext reference (f64) of the same training: W after
/// `iterations` on raw `features` and `labels`, classes × (1 + d).
#[pyfunction]
#[pyo3(signature = (features, labels, iterations, classes = 10, scaling = "max-abs"))]
fn reference_train(
    features: Vec<Vec<f64>>,
    labels: Vec<i64>,
    iterations: usize,
    classes: usize,
    scaling: &str,
) -> PyResult<Vec<Vec<f64>>> {
    check_matrix(&features, "features")?;
    if labels.len() != features.len() || labels.iter().any(|&l| !(0..classes as i64).contains(&l)) {
        return Err(PyValueError::new_err("labels: one per sample, each in 0..classes"));
    }
    if !(2..=64).contains(&classes) || iterations > upload::MAX_MODEL_ITERATIONS {
        return Err(PyValueError::new_err(format!("classes {classes} (2 to 64), iterations {iterations}")));
    }
    let y: Vec<u8> = labels.iter().map(|&l| l as u8).collect();
    reference_w(&features, &y, classes, scaling_of(scaling)?, iterations)
}

#[pymodule]
fn _hecnn(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Client>()?;
    m.add_class::<Server>()?;
    m.add_function(wrap_pyfunction!(reference_train, m)?)?;
    m.add_function(wrap_pyfunction!(data::mnist, m)?)?;
    m.add_function(wrap_pyfunction!(data::backbone_features, m)?)?;
    m.add_class::<inference::InferenceServer>()?;
    m.add_class::<inference::InferenceClient>()?;
    m.add_class::<sharded::ShardWorker>()?;
    m.add_class::<sharded::Driver>()?;
    m.add_function(wrap_pyfunction!(sharded::upload_files, m)?)?;
    m.add_function(wrap_pyfunction!(sharded::shard_file_names, m)?)?;
    m.add("HecnnError", m.py().get_type::<HecnnError>())?;
    Ok(())
}
