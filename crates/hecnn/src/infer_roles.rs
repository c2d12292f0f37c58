//! Encrypted inference with split roles on files: the server publishes what
//! the client needs (`infer-server --publish`), the client encrypts images
//! (`encrypt-images`), the server infers on the upload with evaluation keys
//! only (`infer-server --upload`), the client decrypts and checks the scores
//! (`decrypt-scores`). The upload holds no secret; the model's weights
//! never leave the server.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use hecnn_ckks::{Binding, Context, EvaluationKeySet, KeySetId, Parameters, SecretKey};
use hecnn_ml::cnn::client::{decrypt_scores as decrypt_cnn_scores, encrypt_images_seeded};
use hecnn_ml::cnn::{argmax, CompiledModel, Engine, InferenceSpec};
use hecnn_ml::safe_fs;
use hecnn_ml::upload;
use hecnn_nn::features::image_tensors;
use hecnn_nn::mnist::{bundled_mnist_dir, Mnist};
use serde::{Deserialize, Serialize};

use crate::infer::{self, Options};
use crate::train::{fresh_dir, spinner};

const SPEC_FORMAT: &str = "hecnn-inference-spec-v1";
const UPLOAD_FORMAT: &str = "hecnn-inference-upload-v1";
const RESULT_FORMAT: &str = "hecnn-inference-result-v1";
/// Largest JSON file read (a spec lists every input and output position).
const MAX_JSON: u64 = 64 << 20;
/// Most batches in one upload.
const MAX_BATCHES: usize = 4096;

/// What the server publishes: the client's view of the compiled model.
#[derive(Serialize, Deserialize)]
struct SpecFile {
    format: String,
    model: String,
    alpha: u32,
    depth: usize,
    bootstrapping: bool,
    input_level: usize,
    params: String,
    spec: InferenceSpec,
}

/// The upload's or result's manifest.
#[derive(Serialize, Deserialize)]
struct Manifest {
    format: String,
    key_set: String,
    spec_id: String,
    batches: usize,
    images: usize,
    /// Hash id of `bootstrap.key` (uploads of bootstrapped models).
    bootstrap_key_id: Option<String>,
}

/// What the client keeps between `encrypt-images` and `decrypt-scores`.
#[derive(Serialize, Deserialize)]
struct ClientState {
    key_set: String,
    spec_id: String,
    images: usize,
    offset: usize,
    batches: usize,
}

/// A short content id of a published spec (how uploads are matched to it).
pub(crate) fn spec_id(bytes: &[u8]) -> String {
    blake3::hash(bytes).as_bytes()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// A JSON file of at most 64 MiB, and its bytes.
pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<(T, Vec<u8>)> {
    let bytes = upload::read_bounded(path, MAX_JSON)?;
    let v =
        serde_json::from_slice(&bytes).with_context(|| format!("{}: not a file of this version", path.display()))?;
    Ok((v, bytes))
}

fn binding(key_set: KeySetId, dir: &str, batch: usize, i: usize) -> Result<Binding> {
    Ok(Binding::new(key_set, format!("infer/{dir}/{batch}/{i}"))?)
}

/// Server: compiles the model and writes `spec.json` and `params.bin` for clients.
pub fn publish(opts: &Options, dir: &Path) -> Result<()> {
    fresh_dir(dir)?;
    std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
    let (file, params, _) = server_spec(opts)?;
    safe_fs::write_new(&dir.join("params.bin"), &params.to_bytes())?;
    safe_fs::write_new(&dir.join("spec.json"), &serde_json::to_vec_pretty(&file)?)?;
    println!(
        "published {} for encrypted inference in {}: α = {}, depth {}, {} rotation keys, params {}{}",
        file.model,
        dir.display(),
        file.alpha,
        file.depth,
        file.spec.rotations.len(),
        file.params,
        if file.bootstrapping { " with bootstrapping" } else { "" }
    );
    Ok(())
}

/// Compiles the model and describes it for clients (deterministic: the same
/// options give the same spec, which is how an upload is matched to it).
fn server_spec(opts: &Options) -> Result<(SpecFile, Parameters, CompiledModel)> {
    let dir = opts.mnist_dir.clone().unwrap_or_else(bundled_mnist_dir);
    let mnist = Mnist::load_dir(&dir).with_context(|| format!("MNIST in {}", dir.display()))?;
    let batch = opts.batch.unwrap_or(infer::DEFAULT_BATCH);
    let sp = spinner(opts.quiet, "calibrating, choosing α, compiling");
    let compiled = infer::compile_model(opts, &mnist, batch)?;
    sp.finish_and_clear();
    let depth = compiled.depth();
    let (params, bootstrapping) = infer::choose_params(depth, opts.chain);
    let input_level = if bootstrapping {
        hecnn_ckks::circuits::BootstrapConfig::default().levels_left(params.max_level()).unwrap_or(0)
    } else {
        params.max_level()
    };
    let file = SpecFile {
        format: SPEC_FORMAT.into(),
        model: opts.model.clone(),
        alpha: compiled.sign.alpha,
        depth,
        bootstrapping,
        input_level,
        params: params.name().into(),
        spec: compiled.spec(),
    };
    Ok((file, params, compiled))
}

/// Client: fresh keys in `keys`, encrypted test images and evaluation keys in `out`.
pub fn encrypt_images(
    spec_dir: &Path,
    keys: &Path,
    out: &Path,
    images: usize,
    offset: usize,
    quiet: bool,
) -> Result<()> {
    let spec_path = spec_dir.join("spec.json");
    let (file, spec_bytes): (SpecFile, _) = read_json(&spec_path)?;
    if file.format != SPEC_FORMAT {
        bail!("{}: format {:?}, expected {SPEC_FORMAT}", spec_path.display(), file.format);
    }
    file.spec.validate().with_context(|| format!("{}", spec_path.display()))?;
    let params = upload::load_params(&spec_dir.join("params.bin"))?;
    if params.n() / 2 != file.spec.slots || params.name() != file.params || file.input_level > params.max_level() {
        bail!("{}: does not match {}", spec_dir.join("params.bin").display(), spec_path.display());
    }
    if images == 0 {
        bail!("--images must be at least 1");
    }
    let dir = bundled_mnist_dir();
    let mnist = Mnist::load_dir(&dir).with_context(|| format!("MNIST in {}", dir.display()))?;
    if offset + images > mnist.test_images.len() {
        bail!("--offset {offset} + --images {images} exceeds the {} test images", mnist.test_images.len());
    }
    fresh_dir(keys)?;
    fresh_dir(out)?;
    safe_fs::create_private_dir(keys)?;
    std::fs::create_dir_all(out).with_context(|| format!("{}", out.display()))?;
    let ctx = Context::new(params)?;
    let sp = spinner(quiet, "client: generating keys");
    let sk = SecretKey::generate(&ctx);
    let eval = infer::client_keys(&sk, &file.spec.rotations, file.bootstrapping)?;
    sp.finish_and_clear();
    safe_fs::write_new(&keys.join("params.bin"), &ctx.params().to_bytes())?;
    safe_fs::write_private_new(&keys.join("secret.key"), &sk.to_secret_bytes())?;
    safe_fs::write_new(&keys.join("spec.json"), &spec_bytes)?;
    let sid = spec_id(&spec_bytes);
    let mut total = 0u64;
    safe_fs::write_new(&out.join("params.bin"), &ctx.params().to_bytes())?;
    total += eval.relin().to_bytes(&ctx).len() as u64;
    safe_fs::write_new(&out.join("relin.key"), &eval.relin().to_bytes(&ctx))?;
    total += upload::write_streamed(&out.join("galois.key"), |w| eval.galois().write_to(&ctx, w))?.0;
    let mut bootstrap_key_id = None;
    if let Some(b) = eval.bootstrap() {
        let (len, id) = upload::write_streamed(&out.join(upload::BOOTSTRAP_KEYS_FILE), |w| b.write_to(&ctx, w))?;
        total += len;
        bootstrap_key_id = Some(id);
    }
    let tensors = image_tensors::<f64>(&mnist.test_images.slice(offset..offset + images));
    let batches = images.div_ceil(file.spec.batch);
    let sp = spinner(quiet, &format!("client: encrypting {images} images in {batches} batches"));
    for (b, chunk) in tensors.chunks(file.spec.batch).enumerate() {
        let pixels: Vec<Vec<f64>> = chunk.iter().map(|t| t.data().to_vec()).collect();
        let cts = encrypt_images_seeded(&file.spec, &sk, &ctx, &pixels, file.input_level)?;
        for (i, ct) in cts.iter().enumerate() {
            let bytes = ct.to_bytes(&ctx, &binding(sk.key_set(), "in", b, i)?);
            total += bytes.len() as u64;
            safe_fs::write_new(&out.join(format!("in-{b}-{i}.ct")), &bytes)?;
        }
    }
    sp.finish_and_clear();
    let manifest = Manifest {
        format: UPLOAD_FORMAT.into(),
        key_set: sk.key_set().to_hex(),
        spec_id: sid.clone(),
        batches,
        images,
        bootstrap_key_id,
    };
    safe_fs::write_new(&out.join("manifest.json"), &serde_json::to_vec_pretty(&manifest)?)?;
    let state = ClientState { key_set: sk.key_set().to_hex(), spec_id: sid, images, offset, batches };
    safe_fs::write_private_new(&keys.join("client.json"), &serde_json::to_vec_pretty(&state)?)?;
    println!(
        "encrypted test images {offset}..{} ({batches} batches) into {} ({:.2} GB with the evaluation keys); the secret key stays in {}",
        offset + images,
        out.display(),
        total as f64 / 1e9,
        keys.display()
    );
    Ok(())
}

/// Server: runs the model on an upload (evaluation keys only), writes the encrypted scores.
pub fn serve(opts: &Options, upload_dir: &Path, out: &Path) -> Result<()> {
    fresh_dir(out)?;
    let mpath = upload_dir.join("manifest.json");
    let (m, _): (Manifest, _) = read_json(&mpath)?;
    if m.format != UPLOAD_FORMAT || !(1..=MAX_BATCHES).contains(&m.batches) {
        bail!("{}: not an inference upload of this version ({:?}, {} batches)", mpath.display(), m.format, m.batches);
    }
    let key_set = KeySetId::from_hex(&m.key_set).with_context(|| format!("{}: key set", mpath.display()))?;
    let (file, params, compiled) = server_spec(opts)?;
    let sid = spec_id(&serde_json::to_vec_pretty(&file)?);
    if m.spec_id != sid {
        bail!("{}: encrypted for another model or options (spec {}, this server's {sid})", mpath.display(), m.spec_id);
    }
    let theirs = upload::load_params(&upload_dir.join("params.bin"))?;
    if theirs != params {
        bail!(
            "{}: parameters {} differ from the model's {}",
            upload_dir.join("params.bin").display(),
            theirs.name(),
            params.name()
        );
    }
    let ctx = Context::new(params)?;
    let sp = spinner(opts.quiet, "server: loading evaluation keys");
    let keys = load_keys(&ctx, upload_dir, file.bootstrapping.then_some(m.bootstrap_key_id.as_deref().unwrap_or("")))?;
    sp.finish_and_clear();
    if keys.key_set() != key_set {
        bail!("{}: keys of key set {}, the manifest says {}", upload_dir.display(), keys.key_set(), key_set);
    }
    let engine = Engine::new(&compiled, &keys)?;
    std::fs::create_dir_all(out).with_context(|| format!("{}", out.display()))?;
    for b in 0..m.batches {
        let cts = (0..file.spec.input_cts)
            .map(|i| {
                upload::load_seeded(&ctx, &upload_dir.join(format!("in-{b}-{i}.ct")), &binding(key_set, "in", b, i)?)
                    .map_err(anyhow::Error::from)
            })
            .collect::<Result<Vec<_>>>()?;
        let sp = spinner(opts.quiet, &format!("server: batch {}/{}", b + 1, m.batches));
        let (scores, _) = engine.run(cts, &|_, _| {}).with_context(|| format!("batch {b}"))?;
        sp.finish_and_clear();
        for (i, ct) in scores.iter().enumerate() {
            safe_fs::write_new(
                &out.join(format!("out-{b}-{i}.ct")),
                &ct.to_bytes(&ctx, &binding(key_set, "out", b, i)?),
            )?;
        }
    }
    let result = Manifest {
        format: RESULT_FORMAT.into(),
        key_set: m.key_set,
        spec_id: sid,
        batches: m.batches,
        images: m.images,
        bootstrap_key_id: None,
    };
    safe_fs::write_new(&out.join("manifest.json"), &serde_json::to_vec_pretty(&result)?)?;
    println!("inferred {} batches on ciphertexts; encrypted scores in {}", m.batches, out.display());
    Ok(())
}

/// The upload's evaluation keys; `bootstrap_id` is the manifest's hash of
/// `bootstrap.key` when the model bootstraps.
pub(crate) fn load_keys(ctx: &Arc<Context>, dir: &Path, bootstrap_id: Option<&str>) -> Result<EvaluationKeySet> {
    let relin = upload::load_relin(ctx, &dir.join("relin.key"))?;
    let galois = upload::load_galois(ctx, &dir.join("galois.key"))?;
    let boot = match bootstrap_id {
        Some(id) => Some(upload::load_bootstrap_keys(ctx, &dir.join(upload::BOOTSTRAP_KEYS_FILE), id)?),
        None => None,
    };
    Ok(EvaluationKeySet::new(ctx, relin, galois, boot)?)
}

/// The decrypted predictions.
#[derive(Serialize)]
pub struct ScoresReport {
    pub images: usize,
    pub offset: usize,
    pub predictions: Vec<usize>,
    pub accuracy: f64,
}

/// Client: decrypts and checks the scores, compares with the MNIST test labels.
pub fn decrypt_scores(keys: &Path, result: &Path) -> Result<ScoresReport> {
    let (state, _): (ClientState, _) = read_json(&keys.join("client.json"))?;
    let (file, spec_bytes): (SpecFile, _) = read_json(&keys.join("spec.json"))?;
    file.spec.validate().with_context(|| format!("{}", keys.join("spec.json").display()))?;
    if spec_id(&spec_bytes) != state.spec_id
        || state.images == 0
        || state.batches != state.images.div_ceil(file.spec.batch)
    {
        bail!("{}: inconsistent client record", keys.join("client.json").display());
    }
    let params = upload::load_params(&keys.join("params.bin"))?;
    let ctx = Context::new(params)?;
    let sbytes = zeroize::Zeroizing::new(upload::read_bounded(&keys.join("secret.key"), 1 << 20)?);
    let sk = SecretKey::from_secret_bytes(&ctx, &sbytes)
        .with_context(|| format!("{}", keys.join("secret.key").display()))?;
    let mpath = result.join("manifest.json");
    let (m, _): (Manifest, _) = read_json(&mpath)?;
    if m.format != RESULT_FORMAT
        || m.key_set != state.key_set
        || m.spec_id != state.spec_id
        || m.batches != state.batches
    {
        bail!(
            "{}: not the result of this client's upload (format, key set, model or batch count differ)",
            mpath.display()
        );
    }
    let mut scores = Vec::with_capacity(state.images);
    for b in 0..state.batches {
        let n = (state.images - b * file.spec.batch).min(file.spec.batch);
        let cts = (0..file.spec.output_cts)
            .map(|i| {
                upload::load_ct(&ctx, &result.join(format!("out-{b}-{i}.ct")), &binding(sk.key_set(), "out", b, i)?)
                    .map_err(anyhow::Error::from)
            })
            .collect::<Result<Vec<_>>>()?;
        scores.extend(decrypt_cnn_scores(&file.spec, &sk, &ctx, &cts, n).with_context(|| format!("batch {b}"))?);
    }
    let dir = bundled_mnist_dir();
    let mnist = Mnist::load_dir(&dir)?;
    let labels = &mnist.test_labels[state.offset..state.offset + state.images];
    let predictions: Vec<usize> = scores.iter().map(|s| argmax(s)).collect();
    let correct = predictions.iter().zip(labels).filter(|(p, l)| **p == **l as usize).count();
    Ok(ScoresReport {
        images: state.images,
        offset: state.offset,
        predictions,
        accuracy: correct as f64 / state.images as f64,
    })
}
