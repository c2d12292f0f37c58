//! Encrypted inference between a client and a server that exchange files:
//! the server publishes a compiled model's spec (`spec.json`, `params.bin`),
//! the client uploads evaluation keys and encrypted images
//! ([`write_upload`]), the server checks the upload against the model
//! ([`InferenceUpload::load`]) and writes encrypted scores ([`infer_upload`]),
//! the client reads them back ([`load_result`]). The CLI's file roles and
//! `hecnn-server`'s inference jobs both go through here, so their formats
//! cannot drift apart. Nothing here needs a secret key.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hecnn_ckks::{Binding, Ciphertext, CkksError, Context, EvaluationKeySet, KeySetId, Parameters, SeededCiphertext};
use hecnn_nn::features::image_tensors;
use hecnn_nn::mnist::Mnist;
use hecnn_nn::model::Model;
use hecnn_nn::simulate::CALIBRATION_START;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::{compile, inference_params, CnnError, CompileOptions, CompiledModel, Engine, InferenceSpec};
use crate::safe_fs;
use crate::upload::{self, UploadError};

/// Format tag of `spec.json`.
pub const SPEC_FORMAT: &str = "hecnn-inference-spec-v1";
/// Format tag of an upload's manifest.
pub const UPLOAD_FORMAT: &str = "hecnn-inference-upload-v1";
/// Format tag of a result's manifest.
pub const RESULT_FORMAT: &str = "hecnn-inference-result-v1";
/// Most batches in one upload.
pub const MAX_BATCHES: usize = 4096;
/// Largest JSON file read (a spec lists every input and output position).
pub const MAX_JSON: u64 = 64 << 20;
/// First training image of the validation images that choose α (after the
/// calibration images; never test images).
pub const VALIDATION_START: usize = 30_000;

/// Why an inference exchange failed.
#[derive(Debug, Error)]
pub enum InferenceError {
    /// A file: unreadable, malformed, or not what the model needs.
    #[error(transparent)]
    Upload(#[from] UploadError),
    /// A CKKS object or operation.
    #[error(transparent)]
    Ckks(#[from] CkksError),
    /// The model or the encrypted circuit.
    #[error(transparent)]
    Cnn(#[from] CnnError),
}

/// What the server publishes: the client's view of the compiled model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SpecFile {
    /// [`SPEC_FORMAT`].
    pub format: String,
    /// The model's name.
    pub model: String,
    /// The activations' precision α.
    pub alpha: u32,
    /// Levels the circuit needs.
    pub depth: usize,
    /// Whether the client must make bootstrapping keys.
    pub bootstrapping: bool,
    /// Level the client encrypts at.
    pub input_level: usize,
    /// Name of the parameter set.
    pub params: String,
    /// Packing, rotations, batch.
    pub spec: InferenceSpec,
}

/// An upload's or a result's manifest.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// [`UPLOAD_FORMAT`] or [`RESULT_FORMAT`].
    pub format: String,
    /// The client's key set (hex).
    pub key_set: String,
    /// [`spec_id`] of the model's `spec.json`.
    pub spec_id: String,
    /// Ciphertext batches.
    pub batches: usize,
    /// Images.
    pub images: usize,
    /// Hash id of `bootstrap.key` (uploads of bootstrapped models).
    pub bootstrap_key_id: Option<String>,
}

/// A short content id of a published spec (how uploads are matched to it).
pub fn spec_id(bytes: &[u8]) -> String {
    blake3::hash(bytes).as_bytes()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Binding of ciphertext `i` of batch `batch` in `dir` (`in` or `out`).
pub fn binding(key_set: KeySetId, dir: &str, batch: usize, i: usize) -> Result<Binding, CkksError> {
    Binding::new(key_set, format!("infer/{dir}/{batch}/{i}"))
}

/// A JSON file of at most [`MAX_JSON`] bytes, and its bytes.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<(T, Vec<u8>), UploadError> {
    let bytes = upload::read_bounded(path, MAX_JSON)?;
    let v = serde_json::from_slice(&bytes).map_err(|e| UploadError::Manifest {
        path: path.to_path_buf(),
        reason: format!("not a file of this version: {e}"),
    })?;
    Ok((v, bytes))
}

/// Compiles `model` for 28×28 MNIST images: activations calibrated on
/// `calibration_images` training images from 10,000, α chosen (unless
/// given) on `validation_images` training images from 30,000, `batch`
/// images per ciphertext of 2^15 slots.
pub fn compile_for_mnist(
    model: &Model,
    mnist: &Mnist,
    calibration_images: usize,
    validation_images: usize,
    alpha: Option<u32>,
    batch: usize,
) -> Result<CompiledModel, CnnError> {
    let calib_end = CALIBRATION_START + calibration_images;
    let val_end = VALIDATION_START + validation_images;
    if calibration_images == 0 || calib_end > VALIDATION_START || val_end > mnist.train_images.len() {
        return Err(CnnError::Calibration(format!(
            "calibration images must be in 1..={} and validation images at most {}",
            VALIDATION_START - CALIBRATION_START,
            mnist.train_images.len().saturating_sub(VALIDATION_START)
        )));
    }
    let calib = image_tensors::<f64>(&mnist.train_images.slice(CALIBRATION_START..calib_end));
    let val = image_tensors::<f64>(&mnist.train_images.slice(VALIDATION_START..val_end));
    let copts = CompileOptions { slots: 1 << 15, batch, alpha, ..CompileOptions::default() };
    compile(model, &calib, &val, &copts)
}

/// Calibration images of the bundled models (the CLI's default).
pub const BUNDLED_CALIBRATION_IMAGES: usize = 2000;
/// Validation images that choose α for the bundled models (the CLI's default).
pub const BUNDLED_VALIDATION_IMAGES: usize = 1000;
/// Images per ciphertext at N = 2^16 (the CLI's default).
pub const BUNDLED_BATCH: usize = 32;

/// A bundled MNIST model by name (`bundled`: the classifier whose backbone
/// makes the training features; `residual`), compiled as `hecnn
/// infer-server` compiles it by default and published on 128-bit
/// parameters. Calibration and the choice of α take a while.
pub fn bundled_model(name: &str) -> Result<PublishedModel, InferenceError> {
    let model = match name {
        "bundled" => hecnn_nn::backbone::bundled_classifier(),
        "residual" => hecnn_nn::backbone::bundled_residual(),
        other => return Err(CnnError::Calibration(format!("unknown model {other:?} (bundled, residual)")).into()),
    }
    .map_err(|e| CnnError::Calibration(format!("model {name}: {e}")))?;
    let dir = hecnn_nn::mnist::bundled_mnist_dir();
    let mnist = Mnist::load_dir(&dir).map_err(|e| CnnError::Calibration(format!("MNIST in {}: {e}", dir.display())))?;
    let compiled =
        compile_for_mnist(&model, &mnist, BUNDLED_CALIBRATION_IMAGES, BUNDLED_VALIDATION_IMAGES, None, BUNDLED_BATCH)?;
    PublishedModel::new(name, compiled, false)
}

/// A published model as a client receives it (`spec.json` and
/// `params.bin` in `dir`), checked: the spec's format and shape, and
/// parameters that are the ones it names. Returns (spec, its exact bytes,
/// parameters). Parameters below 128-bit security are refused unless
/// `insecure` (tests with small rings only).
pub fn read_published(dir: &Path, insecure: bool) -> Result<(SpecFile, Vec<u8>, Parameters), InferenceError> {
    let spath = dir.join("spec.json");
    let (file, bytes): (SpecFile, _) = read_json(&spath)?;
    let params = upload::load_params_allowing(&dir.join("params.bin"), insecure)?;
    check_published(&file, &params).map_err(|reason| UploadError::Manifest { path: spath, reason })?;
    Ok((file, bytes, params))
}

/// A spec and parameters from a server, checked before any key is made:
/// the spec's format and shape, and parameters that are the ones it names.
pub fn check_published(file: &SpecFile, params: &Parameters) -> Result<(), String> {
    if file.format != SPEC_FORMAT {
        return Err(format!("spec format {:?}, expected {SPEC_FORMAT}", file.format));
    }
    file.spec.validate().map_err(|e| e.to_string())?;
    if params.n() / 2 != file.spec.slots || params.name() != file.params || file.input_level > params.max_level() {
        return Err("params.bin does not match spec.json".into());
    }
    Ok(())
}

/// Writes `model`'s `spec.json` and `params.bin` into `dir` (new or empty):
/// what clients read with [`read_published`].
pub fn publish(model: &PublishedModel, dir: &Path) -> Result<(), InferenceError> {
    std::fs::create_dir_all(dir).map_err(|source| UploadError::Io { path: dir.to_path_buf(), source })?;
    safe_fs::write_new(&dir.join("spec.json"), &model.spec_bytes).map_err(UploadError::from)?;
    safe_fs::write_new(&dir.join("params.bin"), &model.params.to_bytes()).map_err(UploadError::from)?;
    Ok(())
}

/// The chain for a circuit of `depth` levels: the inference chain without
/// bootstrapping when one is 128-bit secure (unless `force_bootstrapping`),
/// else the `bootstrappable` preset (11 levels between bootstraps).
/// Returns (parameters, bootstrapping).
pub fn choose_params(depth: usize, force_bootstrapping: bool) -> (Parameters, bool) {
    match (force_bootstrapping, inference_params(depth)) {
        (false, Ok(p)) => (p, false),
        _ => (hecnn_ckks::Preset::Bootstrappable.params(), true),
    }
}

/// A compiled model as a server publishes it: the spec file (and its exact
/// bytes, whose [`spec_id`] uploads name), the parameters, the circuit.
pub struct PublishedModel {
    /// The spec.
    pub file: SpecFile,
    /// `spec.json` as published.
    pub spec_bytes: Vec<u8>,
    /// The parameters the client must use.
    pub params: Parameters,
    /// The circuit the server runs.
    pub compiled: CompiledModel,
}

impl PublishedModel {
    /// Publishes `compiled` as `name` on the inference chain without
    /// bootstrapping when one is 128-bit secure for its depth (unless
    /// `force_bootstrapping`), else on the `bootstrappable` preset.
    pub fn new(name: &str, compiled: CompiledModel, force_bootstrapping: bool) -> Result<Self, InferenceError> {
        let (params, bootstrapping) = choose_params(compiled.depth(), force_bootstrapping);
        Self::with_params(name, compiled, params, bootstrapping)
    }

    /// Publishes `compiled` on given parameters (tests use small insecure rings).
    pub fn with_params(
        name: &str,
        compiled: CompiledModel,
        params: Parameters,
        bootstrapping: bool,
    ) -> Result<Self, InferenceError> {
        let input_level = if bootstrapping {
            hecnn_ckks::circuits::BootstrapConfig::default().levels_left(params.max_level()).unwrap_or(0)
        } else {
            params.max_level()
        };
        let file = SpecFile {
            format: SPEC_FORMAT.into(),
            model: name.into(),
            alpha: compiled.sign.alpha,
            depth: compiled.depth(),
            bootstrapping,
            input_level,
            params: params.name().into(),
            spec: compiled.spec(),
        };
        let spec_bytes = serde_json::to_vec_pretty(&file).expect("a spec serializes");
        Ok(Self { file, spec_bytes, params, compiled })
    }

    /// The id uploads for this model carry.
    pub fn id(&self) -> String {
        spec_id(&self.spec_bytes)
    }
}

/// Writes a client's upload: parameters, evaluation keys, the encrypted
/// images (batch `b` from `encrypt(b)`, each written before the next is
/// made; ciphertext `i` bound to `in/b/i`) and the manifest naming the
/// model by [`spec_id`] of `spec_bytes`. Returns the bytes written.
pub fn write_upload(
    out: &Path,
    keys: &EvaluationKeySet,
    spec_bytes: &[u8],
    (batches, images): (usize, usize),
    encrypt: &mut dyn FnMut(usize) -> Result<Vec<SeededCiphertext>, InferenceError>,
) -> Result<u64, InferenceError> {
    let ctx = keys.context();
    let key_set = keys.key_set();
    std::fs::create_dir_all(out).map_err(|source| UploadError::Io { path: out.to_path_buf(), source })?;
    let mut total = 0u64;
    let mut put = |name: &str, bytes: &[u8]| -> Result<(), InferenceError> {
        safe_fs::write_new(&out.join(name), bytes).map_err(UploadError::from)?;
        total += bytes.len() as u64;
        Ok(())
    };
    put("params.bin", &ctx.params().to_bytes())?;
    put("relin.key", &keys.relin().to_bytes(ctx))?;
    for b in 0..batches {
        for (i, ct) in encrypt(b)?.iter().enumerate() {
            put(&format!("in-{b}-{i}.ct"), &ct.to_bytes(ctx, &binding(key_set, "in", b, i)?))?;
        }
    }
    total += upload::write_streamed(&out.join("galois.key"), |w| keys.galois().write_to(ctx, w))?.0;
    let mut bootstrap_key_id = None;
    if let Some(b) = keys.bootstrap() {
        let (len, id) = upload::write_streamed(&out.join(upload::BOOTSTRAP_KEYS_FILE), |w| b.write_to(ctx, w))?;
        total += len;
        bootstrap_key_id = Some(id);
    }
    let manifest = Manifest {
        format: UPLOAD_FORMAT.into(),
        key_set: key_set.to_hex(),
        spec_id: spec_id(spec_bytes),
        batches,
        images,
        bootstrap_key_id,
    };
    let bytes = serde_json::to_vec_pretty(&manifest).expect("a manifest serializes");
    safe_fs::write_new(&out.join("manifest.json"), &bytes).map_err(UploadError::from)?;
    Ok(total + bytes.len() as u64)
}

/// An upload checked against a published model: manifest, parameters and
/// evaluation keys read with the validating readers.
pub struct InferenceUpload {
    /// The manifest.
    pub manifest: Manifest,
    /// The client's key set.
    pub key_set: KeySetId,
    /// The evaluation keys (their context is the model's parameters).
    pub keys: EvaluationKeySet,
    dir: PathBuf,
}

/// Whether `dir` holds an inference upload (its manifest says so); reads
/// nothing else.
pub fn is_inference_upload(dir: &Path) -> bool {
    manifest_format(dir).as_deref() == Some(UPLOAD_FORMAT)
}

/// The format tag of `dir/manifest.json`, if it has one.
fn manifest_format(dir: &Path) -> Option<String> {
    let (v, _) = read_json::<serde_json::Value>(&dir.join("manifest.json")).ok()?;
    v.get("format")?.as_str().map(str::to_string)
}

/// Whether `dir` holds an inference result (its manifest says so).
pub fn is_inference_result(dir: &Path) -> bool {
    manifest_format(dir).as_deref() == Some(RESULT_FORMAT)
}

/// The [`spec_id`] an inference upload in `dir` names.
pub fn upload_spec_id(dir: &Path) -> Result<String, InferenceError> {
    let (m, _): (Manifest, _) = read_json(&dir.join("manifest.json"))?;
    Ok(m.spec_id)
}

impl InferenceUpload {
    /// Reads the upload in `dir` for `model`: the manifest must be an upload
    /// of this version naming this model, the parameters the model's, the
    /// keys of the manifest's key set (with the bootstrapping keys the model
    /// needs, hash-checked).
    pub fn load(model: &PublishedModel, dir: &Path) -> Result<Self, InferenceError> {
        let mpath = dir.join("manifest.json");
        let bad = |reason: String| UploadError::Manifest { path: mpath.clone(), reason };
        let (m, _): (Manifest, _) = read_json(&mpath)?;
        if m.format != UPLOAD_FORMAT || !(1..=MAX_BATCHES).contains(&m.batches) {
            return Err(bad(format!(
                "not an inference upload of this version ({:?}, {} batches)",
                m.format, m.batches
            ))
            .into());
        }
        if m.images == 0 || m.images.div_ceil(model.file.spec.batch) != m.batches {
            return Err(
                bad(format!("{} images in {} batches of {}", m.images, m.batches, model.file.spec.batch)).into()
            );
        }
        let key_set = KeySetId::from_hex(&m.key_set).ok_or_else(|| bad("key set is not a key-set id".into()))?;
        if m.spec_id != model.id() {
            return Err(bad(format!(
                "encrypted for another model or options (spec {}, this server's {})",
                m.spec_id,
                model.id()
            ))
            .into());
        }
        // The parameters must be the model's, byte for byte (what the server
        // published; nothing crafted is parsed further).
        let ppath = dir.join("params.bin");
        if upload::read_bounded(&ppath, MAX_JSON)? != model.params.to_bytes() {
            let theirs = upload::load_params(&ppath)?;
            return Err(UploadError::Content {
                path: ppath,
                reason: format!("parameters {} differ from the model's {}", theirs.name(), model.params.name()),
            }
            .into());
        }
        let ctx = Context::new(model.params.clone())?;
        let bootstrap_id = model.file.bootstrapping.then_some(m.bootstrap_key_id.as_deref().unwrap_or(""));
        let keys = load_keys(&ctx, dir, bootstrap_id)?;
        if keys.key_set() != key_set {
            return Err(UploadError::Content {
                path: dir.join("relin.key"),
                reason: format!("keys of key set {}, the manifest says {key_set}", keys.key_set()),
            }
            .into());
        }
        Ok(Self { manifest: m, key_set, keys, dir: dir.to_path_buf() })
    }

    /// The input ciphertexts of batch `b`, each checked against its binding.
    pub fn batch(&self, model: &PublishedModel, b: usize) -> Result<Vec<Ciphertext>, InferenceError> {
        let ctx = self.keys.context();
        (0..model.file.spec.input_cts)
            .map(|i| {
                let path = self.dir.join(format!("in-{b}-{i}.ct"));
                Ok(upload::load_seeded(ctx, &path, &binding(self.key_set, "in", b, i)?)?)
            })
            .collect()
    }
}

/// The upload's evaluation keys; `bootstrap_id` is the manifest's hash of
/// `bootstrap.key` when the model bootstraps.
pub fn load_keys(
    ctx: &Arc<Context>,
    dir: &Path,
    bootstrap_id: Option<&str>,
) -> Result<EvaluationKeySet, InferenceError> {
    let relin = upload::load_relin(ctx, &dir.join("relin.key"))?;
    let galois = upload::load_galois(ctx, &dir.join("galois.key"))?;
    let boot = match bootstrap_id {
        Some(id) => Some(upload::load_bootstrap_keys(ctx, &dir.join(upload::BOOTSTRAP_KEYS_FILE), id)?),
        None => None,
    };
    Ok(EvaluationKeySet::new(ctx, relin, galois, boot)?)
}

/// Runs `model` on every batch of `up` (evaluation keys only) and writes the
/// encrypted scores (`out-b-i.ct`, bound to `out/b/i`) and the result's
/// manifest into `out`. `progress(done, batches)` after each batch.
pub fn infer_upload(
    model: &PublishedModel,
    up: &InferenceUpload,
    out: &Path,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(), InferenceError> {
    let ctx = up.keys.context();
    let engine = Engine::new(&model.compiled, &up.keys)?;
    std::fs::create_dir_all(out).map_err(|source| UploadError::Io { path: out.to_path_buf(), source })?;
    let m = &up.manifest;
    for b in 0..m.batches {
        let (scores, _) = engine.run(up.batch(model, b)?, &|_, _| {})?;
        for (i, ct) in scores.iter().enumerate() {
            let bytes = ct.to_bytes(ctx, &binding(up.key_set, "out", b, i)?);
            safe_fs::write_new(&out.join(format!("out-{b}-{i}.ct")), &bytes).map_err(UploadError::from)?;
        }
        progress(b + 1, m.batches);
    }
    let result = Manifest { format: RESULT_FORMAT.into(), bootstrap_key_id: None, ..m.clone() };
    let bytes = serde_json::to_vec_pretty(&result).expect("a manifest serializes");
    safe_fs::write_new(&out.join("manifest.json"), &bytes).map_err(UploadError::from)?;
    Ok(())
}

/// Reads a result for the client: the manifest must be a result for its
/// key set, model and batch count; every ciphertext bound to its position.
/// Returns the score ciphertexts per batch.
pub fn load_result(
    dir: &Path,
    ctx: &Arc<Context>,
    key_set: KeySetId,
    spec: (&str, &InferenceSpec),
    batches: usize,
) -> Result<Vec<Vec<Ciphertext>>, InferenceError> {
    let (id, spec) = spec;
    let mpath = dir.join("manifest.json");
    let (m, _): (Manifest, _) = read_json(&mpath)?;
    if m.format != RESULT_FORMAT || m.key_set != key_set.to_hex() || m.spec_id != id || m.batches != batches {
        return Err(UploadError::Manifest {
            path: mpath,
            reason: "not the result of this client's upload (format, key set, model or batch count differ)".into(),
        }
        .into());
    }
    (0..batches)
        .map(|b| {
            (0..spec.output_cts)
                .map(|i| {
                    let path = dir.join(format!("out-{b}-{i}.ct"));
                    Ok(upload::load_ct(ctx, &path, &binding(key_set, "out", b, i)?)?)
                })
                .collect()
        })
        .collect()
}
