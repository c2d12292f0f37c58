//! Encrypted inference with split roles on files: the server publishes what
//! the client needs (`infer-server --publish`), the client encrypts images
//! (`encrypt-images`), the server infers on the upload with evaluation keys
//! only (`infer-server --upload`), the client decrypts and checks the scores
//! (`decrypt-scores`). The upload holds no secret; the model's weights
//! never leave the server.

use std::path::Path;

use anyhow::{bail, Context as _, Result};
use hecnn_ckks::{Context, SecretKey};
use hecnn_ml::cnn::argmax;
use hecnn_ml::cnn::client::{decrypt_scores as decrypt_cnn_scores, encrypt_images_seeded};
use hecnn_ml::cnn::roles::{self, InferenceUpload, PublishedModel, SpecFile};
use hecnn_ml::safe_fs;
use hecnn_ml::upload;
use hecnn_nn::features::image_tensors;
use hecnn_nn::mnist::{bundled_mnist_dir, Mnist};
use serde::{Deserialize, Serialize};

use crate::infer::{self, Options};
use crate::train::{fresh_dir, spinner};

pub(crate) use hecnn_ml::cnn::roles::{load_keys, spec_id};

/// What the client keeps between `encrypt-images` and `decrypt-scores`.
#[derive(Serialize, Deserialize)]
struct ClientState {
    key_set: String,
    spec_id: String,
    images: usize,
    offset: usize,
    batches: usize,
}

/// A JSON file of at most 64 MiB, and its bytes.
pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<(T, Vec<u8>)> {
    Ok(roles::read_json(path)?)
}

/// Server: compiles the model and writes `spec.json` and `params.bin` for clients.
pub fn publish(opts: &Options, dir: &Path) -> Result<()> {
    fresh_dir(dir)?;
    std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
    let published = server_spec(opts)?;
    let file = &published.file;
    roles::publish(&published, dir)?;
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
fn server_spec(opts: &Options) -> Result<PublishedModel> {
    let dir = opts.mnist_dir.clone().unwrap_or_else(bundled_mnist_dir);
    let mnist = Mnist::load_dir(&dir).with_context(|| format!("MNIST in {}", dir.display()))?;
    let batch = opts.batch.unwrap_or(infer::DEFAULT_BATCH);
    let sp = spinner(opts.quiet, "calibrating, choosing α, compiling");
    let compiled = infer::compile_model(opts, &mnist, batch)?;
    sp.finish_and_clear();
    Ok(PublishedModel::new(&opts.model, compiled, opts.chain == infer::Chain::Bootstrappable)?)
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
    let params = upload::load_params(&spec_dir.join("params.bin"))?;
    let spec = Published { file, bytes: spec_bytes, params, from: spec_dir.display().to_string() };
    encrypt_images_for(spec, keys, out, images, offset, quiet)
}

/// A published spec as the client received it (`from`: where, for messages).
pub struct Published {
    pub file: SpecFile,
    pub bytes: Vec<u8>,
    pub params: hecnn_ckks::Parameters,
    pub from: String,
}

/// [`encrypt_images`] for a spec in memory (fetched from `hecnn-server`).
pub fn encrypt_images_for(
    spec: Published,
    keys: &Path,
    out: &Path,
    images: usize,
    offset: usize,
    quiet: bool,
) -> Result<()> {
    let Published { file, bytes: spec_bytes, params, from } = spec;
    roles::check_published(&file, &params).map_err(|e| anyhow::anyhow!("{from}: spec.json: {e}"))?;
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
    let tensors = image_tensors::<f64>(&mnist.test_images.slice(offset..offset + images));
    let batches = images.div_ceil(file.spec.batch);
    let sp = spinner(quiet, &format!("client: encrypting {images} images in {batches} batches"));
    let total = roles::write_upload(out, &eval, &spec_bytes, (batches, images), &mut |b| {
        let chunk = &tensors[b * file.spec.batch..((b + 1) * file.spec.batch).min(images)];
        let pixels: Vec<Vec<f64>> = chunk.iter().map(|t| t.data().to_vec()).collect();
        Ok(encrypt_images_seeded(&file.spec, &sk, &ctx, &pixels, file.input_level)?)
    })?;
    sp.finish_and_clear();
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
    let published = server_spec(opts)?;
    let sp = spinner(opts.quiet, "server: loading evaluation keys");
    let up = InferenceUpload::load(&published, upload_dir)?;
    sp.finish_and_clear();
    let pb = infer::bar(opts.quiet, up.manifest.batches, "server: batches");
    roles::infer_upload(&published, &up, out, &mut |done, _| pb.set_position(done as u64))?;
    pb.finish_and_clear();
    println!("inferred {} batches on ciphertexts; encrypted scores in {}", up.manifest.batches, out.display());
    Ok(())
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
    let batches = roles::load_result(result, &ctx, sk.key_set(), (&state.spec_id, &file.spec), state.batches)?;
    let mut scores = Vec::with_capacity(state.images);
    for (b, cts) in batches.iter().enumerate() {
        let n = (state.images - b * file.spec.batch).min(file.spec.batch);
        scores.extend(decrypt_cnn_scores(&file.spec, &sk, &ctx, cts, n).with_context(|| format!("batch {b}"))?);
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
