//! Encrypted CNN inference from Python: the server compiles a pre-trained
//! model (precise composite ReLU and max-pool) and publishes its spec; the
//! client makes keys for that spec, encrypts images, and decrypts the
//! scores the server returns. The directories are the CLI's
//! (`infer-server --publish` / `encrypt-images` / `infer-server --upload` /
//! `decrypt-scores`), through `hecnn_ml::cnn::roles`.

use std::path::PathBuf;
use std::sync::Arc;

use hecnn_ckks::{Context, SecretKey};
use hecnn_ml::cnn::client::{decrypt_scores, encrypt_images_seeded, evaluation_keys};
use hecnn_ml::cnn::roles::{self, InferenceUpload, PublishedModel, SpecFile};
use hecnn_ml::cnn::{toy, ApproxActivation};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::err;

/// The inference server: a compiled model, no secret.
#[pyclass(module = "hecnn._hecnn")]
pub struct InferenceServer {
    model: PublishedModel,
}

#[pymethods]
impl InferenceServer {
    /// Compiles a bundled MNIST model (`bundled`, `residual`) as `hecnn
    /// infer-server` does by default (128-bit parameters; calibration and
    /// the choice of α take a while).
    #[new]
    #[pyo3(signature = (model = "bundled"))]
    fn new(py: Python<'_>, model: &str) -> PyResult<Self> {
        let name = model.to_string();
        py.detach(|| Ok(Self { model: roles::bundled_model(&name).map_err(err)? }))
    }

    /// A tiny model on an **insecure** ring (8×8 images, 3 classes): for
    /// tests of the exchange only.
    #[staticmethod]
    fn insecure_toy(py: Python<'_>) -> PyResult<Self> {
        py.detach(|| Ok(Self { model: toy::published().map_err(err)? }))
    }

    /// The model's name.
    #[getter]
    fn name(&self) -> String {
        self.model.file.model.clone()
    }

    /// Pixels per image the model takes.
    #[getter]
    fn image_len(&self) -> usize {
        self.model.file.spec.image_len()
    }

    /// The compiled circuit in f64 on `images` (each the model's input, pixels
    /// in [0, 1]) with the same composite polynomials, no encryption: what
    /// the decrypted scores should be, up to the CKKS noise.
    fn simulate(&self, images: Vec<Vec<f64>>) -> PyResult<Vec<Vec<f64>>> {
        let c = &self.model.compiled;
        let len = self.model.file.spec.image_len();
        if images.iter().any(|i| i.len() != len) {
            return Err(PyValueError::new_err(format!("images: {len} pixels each")));
        }
        let act = ApproxActivation { sign: &c.composite, factors: &c.factors };
        Ok(images.iter().map(|i| c.circuit.eval_output(i, &act)).collect())
    }

    /// Writes `spec.json` and `params.bin` (what clients make keys for) into `dir`.
    fn publish(&self, dir: PathBuf) -> PyResult<()> {
        roles::publish(&self.model, &dir).map_err(err)
    }

    /// Runs the model on the client's upload `upload` (evaluation keys and
    /// encrypted images only) and writes the encrypted scores into `out`.
    /// Returns the batches run.
    fn infer(&self, py: Python<'_>, upload: PathBuf, out: PathBuf) -> PyResult<usize> {
        py.detach(|| {
            let up = InferenceUpload::load(&self.model, &upload).map_err(err)?;
            roles::infer_upload(&self.model, &up, &out, &mut |_, _| {}).map_err(err)?;
            Ok(up.manifest.batches)
        })
    }
}

/// The inference client: the published spec, the secret key, what it sent.
#[pyclass(module = "hecnn._hecnn")]
pub struct InferenceClient {
    file: SpecFile,
    spec_bytes: Vec<u8>,
    ctx: Arc<Context>,
    sk: SecretKey,
    images: Option<usize>,
}

#[pymethods]
impl InferenceClient {
    /// Fresh keys for the model published in `published` (checked first;
    /// parameters below 128-bit security are refused unless
    /// `insecure_for_tests`).
    #[new]
    #[pyo3(signature = (published, insecure_for_tests = false))]
    fn new(py: Python<'_>, published: PathBuf, insecure_for_tests: bool) -> PyResult<Self> {
        py.detach(|| {
            let (file, spec_bytes, params) = roles::read_published(&published, insecure_for_tests).map_err(err)?;
            let ctx = Context::new(params).map_err(err)?;
            let sk = SecretKey::generate(&ctx);
            Ok(Self { file, spec_bytes, ctx, sk, images: None })
        })
    }

    /// Pixels per image the model takes.
    #[getter]
    fn image_len(&self) -> usize {
        self.file.spec.image_len()
    }

    /// Encrypts `images` (each `image_len` pixels in [0, 1], the model's
    /// input order) with the evaluation keys into the new upload directory
    /// `out`. Returns the bytes written.
    fn encrypt(&mut self, py: Python<'_>, images: Vec<Vec<f64>>, out: PathBuf) -> PyResult<u64> {
        let len = self.file.spec.image_len();
        if images.is_empty() || images.iter().any(|i| i.len() != len || i.iter().any(|p| !p.is_finite())) {
            return Err(PyValueError::new_err(format!("images: at least one, each {len} finite pixels")));
        }
        if out.exists() && std::fs::read_dir(&out).map_err(err)?.next().is_some() {
            return Err(err(format!("{}: not empty", out.display())));
        }
        let (file, sk, ctx) = (&self.file, &self.sk, &self.ctx);
        let n = images.len();
        let bytes = py.detach(|| {
            let keys = evaluation_keys(sk, &file.spec.rotations, file.bootstrapping).map_err(err)?;
            let batches = n.div_ceil(file.spec.batch);
            roles::write_upload(&out, &keys, &self.spec_bytes, (batches, n), &mut |b| {
                let chunk = &images[b * file.spec.batch..((b + 1) * file.spec.batch).min(n)];
                Ok(encrypt_images_seeded(&file.spec, sk, ctx, chunk, file.input_level)?)
            })
            .map_err(err)
        })?;
        self.images = Some(n);
        Ok(bytes)
    }

    /// The scores of the images this client encrypted (images × outputs),
    /// from the server's result in `result`: the result must be for this
    /// client's key set, model and batches, and every score ciphertext
    /// decrypts to a well-formed block (zero padding, finite values).
    fn decrypt_scores(&self, py: Python<'_>, result: PathBuf) -> PyResult<Vec<Vec<f64>>> {
        let n = self.images.ok_or_else(|| err("this client has encrypted no images"))?;
        let (file, sk, ctx) = (&self.file, &self.sk, &self.ctx);
        py.detach(|| {
            let id = roles::spec_id(&self.spec_bytes);
            let batches = n.div_ceil(file.spec.batch);
            let cts = roles::load_result(&result, ctx, sk.key_set(), (&id, &file.spec), batches).map_err(err)?;
            let mut scores = Vec::with_capacity(n);
            for (b, batch) in cts.iter().enumerate() {
                let count = (n - b * file.spec.batch).min(file.spec.batch);
                scores.extend(
                    decrypt_scores(&file.spec, sk, ctx, batch, count)
                        .map_err(|e| err(format!("{}: batch {b} refused: {e}", result.display())))?,
                );
            }
            Ok(scores)
        })
    }
}
