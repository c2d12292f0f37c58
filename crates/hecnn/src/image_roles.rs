//! Training from encrypted images with split roles on files. Only the
//! directories named "travels" move between the machines; the secret key
//! never leaves `KEYS`, the backbone's weights never leave the server.
//!
//! ```text
//! server  train-server --publish-images SPEC --samples N      SPEC travels: layout, rotations, positions
//! client  encrypt-images --for-training --spec SPEC --keys KEYS --out UPLOAD     UPLOAD travels
//! server  train-server --upload UPLOAD --out STATS            backbone, repacking, statistics;
//!                                                             STATS/statistics travels back
//! client  precondition --keys KEYS --statistics STATS --out REPLY               REPLY travels: B̄, W₀
//! server  train-server --upload UPLOAD --features STATS --preconditioner REPLY --out MODEL --iterations T
//! client  decrypt-model --keys KEYS --model MODEL --out w.json
//! ```

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use hecnn_ckks::circuits::{BootstrapConfig, BootstrapKeys};
use hecnn_ckks::{Binding, Ciphertext, Context, KeySetId, Parameters, Preset, RelinKey, SecretKey};
use hecnn_ml::cnn::InferenceSpec;
use hecnn_ml::mlr::client::{training_galois_keys, ModelExpectation, ReleasePolicy, TrainingClient};
use hecnn_ml::mlr::prep::{Scaling, DEFAULT_INIT};
use hecnn_ml::mlr::server::TrainingServer;
use hecnn_ml::packing::Layout;
use hecnn_ml::safe_fs::{self, Visibility};
use hecnn_ml::transfer::client::ImageTrainingClient;
use hecnn_ml::transfer::server::ImageTrainingServer;
use hecnn_ml::transfer::{ImageJob, JobOptions, DEFAULT_ALPHA};
use hecnn_ml::upload;
use hecnn_nn::features::image_tensors;
use hecnn_nn::mnist::{bundled_mnist_dir, Mnist};
use hecnn_nn::simulate::CALIBRATION_START;
use serde::{Deserialize, Serialize};

use crate::infer::DEFAULT_BATCH;
use crate::roles::{Output, WeightsFile};
use crate::train::{fresh_dir, spinner, CLASSES};
use crate::train_images::CALIBRATION_IMAGES;

const SPEC_FORMAT: &str = "hecnn-image-training-spec-v1";
const UPLOAD_FORMAT: &str = "hecnn-image-training-upload-v1";
const STATS_FORMAT: &str = "hecnn-image-training-statistics-v1";
const REPLY_FORMAT: &str = "hecnn-image-training-preconditioner-v1";
/// The client's record of an image-training job (beside `secret.key`).
pub const IMAGE_CLIENT_STATE: &str = "image-client.json";
/// Most rotation keys a published job may ask a client to make (the
/// bundled job asks for 28; each is ≈ 18 MB).
const MAX_ROTATIONS: usize = 1024;

/// What the server publishes for clients.
#[derive(Serialize, Deserialize)]
struct SpecFile {
    format: String,
    samples: usize,
    classes: usize,
    features: usize,
    scaling: Scaling,
    alpha: u32,
    backbone_depth: usize,
    input_level: usize,
    params: String,
    layout: Layout,
    packed_slots: usize,
    rotations: Vec<i64>,
    spec: InferenceSpec,
}

/// Manifest of every directory that travels.
#[derive(Serialize, Deserialize)]
struct Manifest {
    format: String,
    key_set: String,
    spec_id: String,
    /// Level of the training blocks (statistics and reply).
    level: usize,
    bootstrap_key_id: Option<String>,
}

/// What the client keeps.
#[derive(Serialize, Deserialize)]
struct ClientState {
    key_set: String,
    spec_id: String,
    samples: usize,
    classes: usize,
    features: usize,
    layout: Layout,
    /// Level of the training set, once `precondition` has seen the statistics.
    #[serde(default)]
    data_level: Option<usize>,
}

use crate::infer_roles::{read_json, spec_id as id_of};

fn read_manifest(dir: &Path, format: &str) -> Result<Manifest> {
    let path = dir.join("manifest.json");
    let (m, _): (Manifest, _) = read_json(&path)?;
    if m.format != format {
        bail!("{}: format {:?}, expected {format}", path.display(), m.format);
    }
    Ok(m)
}

fn binding(key_set: KeySetId, what: &str, i: usize, j: usize) -> Result<Binding> {
    Ok(Binding::new(key_set, format!("image-training/{what}/{i}/{j}"))?)
}

/// Whether `dir` holds an image-training upload (so `train-server` takes this path).
pub fn is_image_upload(dir: &Path) -> bool {
    read_manifest(dir, UPLOAD_FORMAT).is_ok()
}

/// The server's job, the same for the same options (how uploads are matched to it).
fn server_job(samples: usize, scaling: Scaling, quiet: bool) -> Result<(SpecFile, Parameters, ImageJob)> {
    let mnist = Mnist::load_dir(bundled_mnist_dir())?;
    let sp = spinner(quiet, "server: compiling the backbone (calibration on public images)");
    let calibration =
        image_tensors::<f64>(&mnist.train_images.slice(CALIBRATION_START..CALIBRATION_START + CALIBRATION_IMAGES));
    let params = Preset::Bootstrappable.params();
    let slots = params.n() / 2;
    let opts = JobOptions { slots, batch: DEFAULT_BATCH, alpha: DEFAULT_ALPHA, scaling, samples, classes: CLASSES };
    let job = ImageJob::plan(&hecnn_nn::backbone::bundled_backbone()?, &calibration, &opts)?;
    sp.finish_and_clear();
    let d = job.features();
    let file = SpecFile {
        format: SPEC_FORMAT.into(),
        samples,
        classes: CLASSES,
        features: d,
        scaling,
        alpha: job.model.sign.alpha,
        backbone_depth: job.model.depth(),
        input_level: BootstrapConfig::default().levels_left(params.max_level()).unwrap_or(0),
        params: params.name().into(),
        layout: job.layout,
        packed_slots: hecnn_ml::mlr::refresh::packed_slots(
            &job.layout,
            hecnn_ml::mlr::setup::state_blocks(&job.layout, d),
        ),
        rotations: job.rotation_steps(true),
        spec: job.model.spec(),
    };
    Ok((file, params, job))
}

/// Server: publishes `spec.json` and `params.bin` for a job of `samples` images.
pub fn publish(dir: &Path, samples: usize, scaling: Scaling, quiet: bool) -> Result<()> {
    if !(1..=10_000).contains(&samples) {
        bail!("--samples must be in 1..=10000");
    }
    fresh_dir(dir)?;
    let (file, params, _) = server_job(samples, scaling, quiet)?;
    std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
    safe_fs::write_new(&dir.join("params.bin"), &params.to_bytes())?;
    safe_fs::write_new(&dir.join("spec.json"), &serde_json::to_vec_pretty(&file)?)?;
    println!(
        "published a training job on {samples} encrypted images in {}: backbone α = {}, depth {}, layout {}×{}×{}, {} rotation keys, params {}",
        dir.display(),
        file.alpha,
        file.backbone_depth,
        file.layout.samples_per_block,
        file.layout.features_per_block,
        file.layout.class_slots,
        file.rotations.len(),
        file.params
    );
    Ok(())
}

/// Client: keys in `keys`; encrypted images, labels and evaluation keys in `out`.
pub fn encrypt(spec_dir: &Path, keys: &Path, out: &Path, quiet: bool) -> Result<()> {
    let spec_path = spec_dir.join("spec.json");
    let (file, spec_bytes): (SpecFile, _) = read_json(&spec_path)?;
    if file.format != SPEC_FORMAT {
        bail!("{}: format {:?}, expected {SPEC_FORMAT}", spec_path.display(), file.format);
    }
    file.spec.validate().with_context(|| format!("{}", spec_path.display()))?;
    let params = upload::load_params(&spec_dir.join("params.bin"))?;
    if params.n() / 2 != file.spec.slots
        || params.name() != file.params
        || file.input_level > params.max_level()
        || file.layout.slots != file.spec.slots
        || !(1..=10_000).contains(&file.samples)
        || file.classes != CLASSES
        || !(2..=upload::MAX_FEATURES).contains(&file.features)
        || file.rotations.len() > MAX_ROTATIONS
        || file.rotations.iter().any(|r| r.unsigned_abs() as usize >= file.spec.slots)
        || !file.packed_slots.is_power_of_two()
        || file.packed_slots > file.spec.slots
    {
        bail!("{}: inconsistent with {}", spec_path.display(), spec_dir.join("params.bin").display());
    }
    file.layout
        .validate(file.classes)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("{}", spec_path.display()))?;
    fresh_dir(keys)?;
    fresh_dir(out)?;
    let mnist = Mnist::load_dir(bundled_mnist_dir())?;
    safe_fs::create_private_dir(keys)?;
    std::fs::create_dir_all(out).with_context(|| format!("{}", out.display()))?;
    let ctx = Context::new(params)?;
    let sp = spinner(quiet, "client: keys (rotations, bootstrapping at full and packed slots)");
    let sk = SecretKey::generate(&ctx);
    let gk = training_galois_keys(&sk, &file.rotations);
    let boot = BootstrapKeys::generate(&sk, &BootstrapConfig::default(), &[ctx.n() / 2, file.packed_slots])?;
    let rlk = RelinKey::generate(&sk);
    sp.set_message("client: writing keys, encrypting images and labels");
    safe_fs::write_new(&keys.join("params.bin"), &ctx.params().to_bytes())?;
    safe_fs::write_private_new(&keys.join("secret.key"), &sk.to_secret_bytes())?;
    let sid = id_of(&spec_bytes);
    let mut total = 0u64;
    safe_fs::write_new(&out.join("params.bin"), &ctx.params().to_bytes())?;
    let relin = rlk.to_bytes(&ctx);
    total += relin.len() as u64;
    safe_fs::write_new(&out.join("relin.key"), &relin)?;
    safe_fs::write_new(&out.join("spec.json"), &spec_bytes)?;
    total += upload::write_streamed(&out.join("galois.key"), |w| gk.write_to(&ctx, w))?.0;
    let (len, boot_id) = upload::write_streamed(&out.join(upload::BOOTSTRAP_KEYS_FILE), |w| boot.write_to(&ctx, w))?;
    total += len;
    let tensors = image_tensors::<f64>(&mnist.train_images.slice(0..file.samples));
    let pixels: Vec<Vec<f64>> = tensors.iter().map(|t| t.data().to_vec()).collect();
    let client = ImageTrainingClient::new(&sk);
    for (b, batch) in client.encrypt_images(&file.spec, &pixels, file.input_level)?.iter().enumerate() {
        for (i, ct) in batch.iter().enumerate() {
            let bytes = ct.to_bytes(&ctx, &binding(sk.key_set(), "image", b, i)?);
            total += bytes.len() as u64;
            safe_fs::write_new(&out.join(format!("image-{b}-{i}.ct")), &bytes)?;
        }
    }
    // Labels at the computation levels' top: the server brings them down.
    let labels = &mnist.train_labels[..file.samples];
    let init = vec![vec![DEFAULT_INIT; file.features]; CLASSES];
    let (y, _) = client.encrypt_labels_and_weights(labels, &init, file.layout, file.input_level)?;
    for (b, ct) in y.iter().enumerate() {
        let bytes = ct.to_bytes(&ctx, &binding(sk.key_set(), "label", b, 0)?);
        total += bytes.len() as u64;
        safe_fs::write_new(&out.join(format!("label-{b}.ct")), &bytes)?;
    }
    let manifest = Manifest {
        format: UPLOAD_FORMAT.into(),
        key_set: sk.key_set().to_hex(),
        spec_id: sid.clone(),
        level: file.input_level,
        bootstrap_key_id: Some(boot_id),
    };
    safe_fs::write_new(&out.join("manifest.json"), &serde_json::to_vec_pretty(&manifest)?)?;
    let state = ClientState {
        key_set: sk.key_set().to_hex(),
        spec_id: sid,
        samples: file.samples,
        classes: CLASSES,
        features: file.features,
        layout: file.layout,
        data_level: None,
    };
    safe_fs::write_private_new(&keys.join(IMAGE_CLIENT_STATE), &serde_json::to_vec_pretty(&state)?)?;
    sp.finish_and_clear();
    println!(
        "encrypted training images 0..{} and their labels into {} ({:.2} GB with the evaluation keys); the secret key stays in {}",
        file.samples,
        out.display(),
        total as f64 / 1e9,
        keys.display()
    );
    Ok(())
}

/// The server's view of an upload: job, keys, checked manifest.
struct Served {
    ctx: Arc<Context>,
    job: ImageJob,
    spec: SpecFile,
    spec_id: String,
    key_set: KeySetId,
    keys: hecnn_ckks::EvaluationKeySet,
}

fn load_served(upload_dir: &Path, quiet: bool) -> Result<Served> {
    let m = read_manifest(upload_dir, UPLOAD_FORMAT)?;
    let key_set = KeySetId::from_hex(&m.key_set).context("manifest.json: key set")?;
    // The job the client encrypted for is this server's, for the options it
    // can read back from nowhere but its own spec: try the published sizes.
    let params = upload::load_params(&upload_dir.join("params.bin"))?;
    let spec_file = upload_dir.join("spec.json");
    let (theirs, _): (SpecFile, _) = read_json(&spec_file)
        .with_context(|| format!("{}: the upload carries the spec it was encrypted for", upload_dir.display()))?;
    if !(1..=10_000).contains(&theirs.samples) {
        bail!("{}: {} samples (1 to 10,000)", spec_file.display(), theirs.samples);
    }
    let (spec, ours, job) = server_job(theirs.samples, theirs.scaling, quiet)?;
    let sid = id_of(&serde_json::to_vec_pretty(&spec)?);
    if m.spec_id != sid {
        bail!("{}: encrypted for another job (spec {}, this server's {sid})", upload_dir.display(), m.spec_id);
    }
    if params != ours {
        bail!("{}: parameters {} differ from the job's {}", upload_dir.display(), params.name(), ours.name());
    }
    let ctx = Context::new(params)?;
    let sp = spinner(quiet, "server: loading evaluation keys");
    let keys = crate::infer_roles::load_keys(&ctx, upload_dir, Some(m.bootstrap_key_id.as_deref().unwrap_or("")))?;
    sp.finish_and_clear();
    if keys.key_set() != key_set {
        bail!("{}: keys of key set {}, the manifest says {key_set}", upload_dir.display(), keys.key_set());
    }
    Ok(Served { ctx, job, spec, spec_id: sid, key_set, keys })
}

/// Server, first step: backbone, repacking and statistics. Writes
/// `out/statistics/` (travels to the client) and `out/features/` (stays).
pub fn features(upload_dir: &Path, out: &Path, iterations: usize, quiet: bool) -> Result<()> {
    fresh_dir(out)?;
    let s = load_served(upload_dir, quiet)?;
    let server = ImageTrainingServer::new(&s.job.model, &s.keys, &s.job.repack)?;
    let batches = s.spec.samples.div_ceil(s.spec.spec.batch);
    let mut input = Vec::with_capacity(batches);
    for b in 0..batches {
        let cts = (0..s.spec.spec.input_cts)
            .map(|i| {
                let path = upload_dir.join(format!("image-{b}-{i}.ct"));
                Ok(upload::load_seeded(&s.ctx, &path, &binding(s.key_set, "image", b, i)?)?)
            })
            .collect::<Result<Vec<Ciphertext>>>()?;
        input.push(cts);
    }
    let pb = crate::infer::bar(quiet, batches, "server: backbone on encrypted images");
    let t = std::time::Instant::now();
    let (x, st) = server.features(input, iterations, &|done, _| pb.set_position(done as u64))?;
    pb.finish_and_clear();
    let (stats, x) = server.statistics(x)?;
    let level = x[0][0].level();
    for dir in ["statistics", "features"] {
        std::fs::create_dir_all(out.join(dir)).with_context(|| format!("{}", out.join(dir).display()))?;
    }
    for (fb, ct) in stats.iter().enumerate() {
        let path = out.join("statistics").join(format!("stat-{fb}.ct"));
        safe_fs::write_new(&path, &ct.to_bytes(&s.ctx, &binding(s.key_set, "statistics", fb, 0)?))?;
    }
    for (sb, row) in x.iter().enumerate() {
        for (fb, ct) in row.iter().enumerate() {
            let path = out.join("features").join(format!("x-{sb}-{fb}.ct"));
            safe_fs::write_new(&path, &ct.to_bytes(&s.ctx, &binding(s.key_set, "x", sb, fb)?))?;
        }
    }
    let m = Manifest {
        format: STATS_FORMAT.into(),
        key_set: s.key_set.to_hex(),
        spec_id: s.spec_id,
        level,
        bootstrap_key_id: None,
    };
    let bytes = serde_json::to_vec_pretty(&m)?;
    safe_fs::write_new(&out.join("statistics").join("manifest.json"), &bytes)?;
    safe_fs::write_new(&out.join("features").join("manifest.json"), &bytes)?;
    println!(
        "server: {} images through the backbone and into {} training blocks in {:.1} s ({:.2} s per image); \
         {}/statistics goes to the client, {}/features stays here",
        s.spec.samples,
        x.iter().map(Vec::len).sum::<usize>(),
        t.elapsed().as_secs_f64(),
        (st.backbone_seconds + st.refresh_seconds + st.repack_seconds) / s.spec.samples as f64,
        out.display(),
        out.display()
    );
    Ok(())
}

fn load_client_state(keys: &Path) -> Result<(Arc<Context>, SecretKey, ClientState)> {
    let params = upload::load_params(&keys.join("params.bin"))?;
    let ctx = Context::new(params)?;
    let sk_path = keys.join("secret.key");
    let bytes = zeroize::Zeroizing::new(upload::read_bounded(&sk_path, 1 << 20)?);
    let sk = SecretKey::from_secret_bytes(&ctx, &bytes).with_context(|| format!("{}", sk_path.display()))?;
    let (state, _): (ClientState, _) = read_json(&keys.join(IMAGE_CLIENT_STATE))?;
    if state.key_set != sk.key_set().to_hex() {
        bail!("{}: the job record belongs to another key set", keys.display());
    }
    state.layout.validate(state.classes).map_err(anyhow::Error::msg).with_context(|| format!("{}", keys.display()))?;
    Ok((ctx, sk, state))
}

/// Whether `keys` holds an image-training client record.
pub fn is_image_client(keys: &Path) -> bool {
    keys.join(IMAGE_CLIENT_STATE).exists()
}

/// Client: the server's statistics → `B̄` (checked) and the initial weights, encrypted, in `out`.
pub fn precondition(keys: &Path, stats_dir: &Path, out: &Path) -> Result<()> {
    fresh_dir(out)?;
    let (ctx, sk, state) = load_client_state(keys)?;
    let dir = stats_dir.join("statistics");
    let m = read_manifest(&dir, STATS_FORMAT)?;
    if m.key_set != state.key_set || m.spec_id != state.spec_id {
        bail!("{}: statistics of another job or key set", dir.display());
    }
    if m.level < 2 || m.level > ctx.max_level() {
        bail!("{}: training blocks at level {}, which cannot carry B̄ ⊙ X", dir.display(), m.level);
    }
    let l = state.layout;
    let blocks = l.feature_blocks(state.features);
    let stats = (0..blocks)
        .map(|fb| {
            Ok(upload::load_ct(&ctx, &dir.join(format!("stat-{fb}.ct")), &binding(sk.key_set(), "statistics", fb, 0)?)?)
        })
        .collect::<Result<Vec<_>>>()?;
    let client = ImageTrainingClient::new(&sk);
    let bbar = client
        .preconditioner(&stats, l, state.features, state.classes)
        .with_context(|| format!("{}: statistics refused", dir.display()))?;
    let up = client.encrypt_preconditioner(&bbar, l, state.classes, m.level)?;
    let init = vec![vec![DEFAULT_INIT; state.features]; state.classes];
    let labels = vec![0u8; state.samples];
    let (_, w) = client.encrypt_labels_and_weights(&labels, &init, l, m.level - 1)?;
    std::fs::create_dir_all(out).with_context(|| format!("{}", out.display()))?;
    for (fb, (b, w)) in up.iter().zip(&w).enumerate() {
        safe_fs::write_new(
            &out.join(format!("bbar-{fb}.ct")),
            &b.to_bytes(&ctx, &binding(sk.key_set(), "bbar", fb, 0)?),
        )?;
        safe_fs::write_new(
            &out.join(format!("weight-{fb}.ct")),
            &w.to_bytes(&ctx, &binding(sk.key_set(), "weight", fb, 0)?),
        )?;
    }
    let level = m.level;
    let reply = Manifest { format: REPLY_FORMAT.into(), bootstrap_key_id: None, ..m };
    safe_fs::write_new(&out.join("manifest.json"), &serde_json::to_vec_pretty(&reply)?)?;
    let state = ClientState { data_level: Some(level - 1), ..state };
    safe_fs::write_atomic(&keys.join(IMAGE_CLIENT_STATE), &serde_json::to_vec_pretty(&state)?, Visibility::Private)?;
    println!("B̄ from the server's statistics and the initial weights, encrypted, in {}", out.display());
    Ok(())
}

/// Server, second step: the training set from the stored features, the
/// client's `B̄`, labels and weights; trains and writes the encrypted model.
pub fn train(
    upload_dir: &Path,
    features_dir: &Path,
    reply_dir: &Path,
    out: &Path,
    iterations: usize,
    quiet: bool,
) -> Result<()> {
    fresh_dir(out)?;
    let s = load_served(upload_dir, quiet)?;
    let fdir = features_dir.join("features");
    let fm = read_manifest(&fdir, STATS_FORMAT)?;
    let rm = read_manifest(reply_dir, REPLY_FORMAT)?;
    let key_hex = s.key_set.to_hex();
    for (what, m) in [("features", &fm), ("preconditioner", &rm)] {
        if m.key_set != key_hex || m.spec_id != s.spec_id || m.level != fm.level {
            bail!("{what}: of another job, key set or level than {}", upload_dir.display());
        }
    }
    let l = s.job.layout;
    let (nb, nf) = (l.sample_blocks(s.spec.samples), l.feature_blocks(s.spec.features));
    let ct = |path: std::path::PathBuf, b: Binding| -> Result<Ciphertext> { Ok(upload::load_ct(&s.ctx, &path, &b)?) };
    let seeded =
        |path: std::path::PathBuf, b: Binding| -> Result<Ciphertext> { Ok(upload::load_seeded(&s.ctx, &path, &b)?) };
    let x = (0..nb)
        .map(|sb| {
            (0..nf).map(|fb| ct(fdir.join(format!("x-{sb}-{fb}.ct")), binding(s.key_set, "x", sb, fb)?)).collect()
        })
        .collect::<Result<Vec<Vec<_>>>>()?;
    let bbar = (0..nf)
        .map(|fb| seeded(reply_dir.join(format!("bbar-{fb}.ct")), binding(s.key_set, "bbar", fb, 0)?))
        .collect::<Result<Vec<_>>>()?;
    let weights = (0..nf)
        .map(|fb| seeded(reply_dir.join(format!("weight-{fb}.ct")), binding(s.key_set, "weight", fb, 0)?))
        .collect::<Result<Vec<_>>>()?;
    let labels = (0..nb)
        .map(|b| seeded(upload_dir.join(format!("label-{b}.ct")), binding(s.key_set, "label", b, 0)?))
        .collect::<Result<Vec<_>>>()?;
    let server = ImageTrainingServer::new(&s.job.model, &s.keys, &s.job.repack)?;
    let data = server.dataset(x, &bbar, labels, weights)?;
    drop(server);
    let trainer = TrainingServer::new(s.keys)?;
    crate::roles::train_and_save(&trainer, &data, iterations, out, quiet)
}

/// Client: decrypts and checks an image-trained model (levels, shape,
/// padding, replication; no plaintext reference: the client has no
/// backbone), then writes it flooded or private.
pub fn decrypt_model(keys: &Path, model_dir: &Path, out: &Path, output: Output) -> Result<()> {
    let (ctx, sk, state) = load_client_state(keys)?;
    let key_set = sk.key_set();
    let (_, model) = upload::load_model(model_dir, &ctx, key_set, (&state.layout, state.classes, state.features))?;
    let data_level = state.data_level.context("no training level on record: run `hecnn precondition` first")?;
    let after = BootstrapConfig::default().levels_left(ctx.max_level()).unwrap_or(0);
    let mut policy = ReleasePolicy::for_job(true);
    let expect = ModelExpectation {
        layout: state.layout,
        classes: state.classes,
        features: state.features,
        key_set,
        data_level,
        refresh_level: Some(after - 1),
        log_scale: ctx.params().log_scale(),
        max_iterations: upload::MAX_MODEL_ITERATIONS,
        value_tolerance: policy.reference_tolerance,
        reference: None,
    };
    let client = TrainingClient::new(&sk);
    let refused = || format!("{}: model refused", model_dir.display());
    let file = match output {
        Output::Release(s) => {
            if let Some(s) = s {
                policy.statistical_security = s;
            }
            let r = client.release_model(&model, &expect, &policy).with_context(refused)?;
            WeightsFile::released(state.classes, state.features, r, policy.statistical_security)
        }
        Output::Private => {
            let (w, v) =
                client.decrypt_model_private(&model, &expect, policy.reference_tolerance).with_context(refused)?;
            WeightsFile::private(state.classes, state.features, model.iterations, w, v)
        }
    };
    safe_fs::write_atomic(out, &serde_json::to_vec_pretty(&file)?, Visibility::Private)?;
    println!(
        "decrypted the image-trained model ({} classes × {} weights, {} iterations) into {}{}",
        state.classes,
        state.features,
        model.iterations,
        out.display(),
        if file.private { ", PRIVATE: do not publish (not flooded)" } else { ", flooded and rounded" }
    );
    Ok(())
}
