//! The split-role workflow with files on disk: the client (`keygen`,
//! `encrypt`, `decrypt-model`, `evaluate`) holds the secret key; the server
//! (`train-server`) reads only the upload directory, which holds no secret.

use crate::train::{self, load_data, prepare, spinner, DataOptions, CLASSES};
use anyhow::{bail, Context as _, Result};
use hecnn_ckks::{Context, EvaluationKeySet, KeySetId, Preset, RelinKey, SecretKey};
use hecnn_ml::mlr::client::{
    self, training_bootstrap_keys, ModelExpectation, ReleasePolicy, Scaler, Scaling, TrainingClient,
};
use hecnn_ml::mlr::server::{TrainProgress, TrainingServer};
use hecnn_ml::mlr::setup;
use hecnn_ml::packing::Layout;
use hecnn_ml::safe_fs::{self, Visibility};
use hecnn_ml::upload;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

/// What the client remembers between `encrypt` and `decrypt-model`: its
/// own record of the job, so a returned model is checked against what the
/// client asked for, not against what the server's manifest says.
#[derive(Serialize, Deserialize)]
struct ClientState {
    samples: usize,
    features: usize,
    classes: usize,
    scaler: Scaler,
    /// The scaling the client chose (records from before the choice existed
    /// scaled by max-abs).
    #[serde(default)]
    scaling: Scaling,
    layout: Layout,
    /// Hex key-set id of the upload.
    key_set: String,
    /// Level the data was encrypted at.
    data_level: usize,
    /// Level a bootstrap returns W and V at (bootstrapped jobs).
    refresh_level: Option<usize>,
    /// Where the features came from (to recompute the reference).
    data: DataOptions,
}

/// Decrypted model file (flooded and rounded: safe to publish).
#[derive(Serialize, Deserialize)]
pub struct WeightsFile {
    pub classes: usize,
    pub features: usize,
    /// Iterations the server reports it ran (from the model's manifest).
    pub iterations_hint: Option<usize>,
    /// Statistical security of the noise flooding, in bits.
    #[serde(default)]
    pub statistical_security: Option<u32>,
    /// The values are rounded to multiples of this.
    #[serde(default)]
    pub precision: Option<f64>,
    /// Full-precision values for the client's own use: never publish.
    #[serde(default)]
    pub private: bool,
    /// The model (W), classes × features, bias first.
    pub w: Vec<Vec<f64>>,
    /// The look-ahead sequence V.
    pub v: Vec<Vec<f64>>,
}

impl WeightsFile {
    /// A release: flooded at `statistical_security` and rounded.
    pub(crate) fn released(
        classes: usize,
        features: usize,
        r: hecnn_ml::mlr::client::ReleasedModel,
        statistical_security: u32,
    ) -> Self {
        Self {
            classes,
            features,
            iterations_hint: Some(r.iterations),
            statistical_security: Some(statistical_security),
            precision: Some(r.precision),
            private: false,
            w: r.w,
            v: r.v,
        }
    }

    /// The exact weights, marked private.
    pub(crate) fn private(
        classes: usize,
        features: usize,
        iterations: usize,
        w: Vec<Vec<f64>>,
        v: Vec<Vec<f64>>,
    ) -> Self {
        Self {
            classes,
            features,
            iterations_hint: Some(iterations),
            statistical_security: None,
            precision: None,
            private: true,
            w,
            v,
        }
    }
}

/// The client's parameters, secret key and relinearization key, the secret
/// checked against the relinearization key before anything uses it.
fn load_client(keys: &Path) -> Result<(Arc<Context>, SecretKey, RelinKey)> {
    let params = upload::load_params(&keys.join("params.bin"))?;
    let ctx = Context::new(params)?;
    let path = keys.join("secret.key");
    let bytes = zeroize::Zeroizing::new(upload::read_bounded(&path, 1 << 20)?);
    let sk = SecretKey::from_secret_bytes(&ctx, &bytes).with_context(|| format!("{}", path.display()))?;
    let rpath = keys.join("relin.key");
    let rlk = upload::load_relin(&ctx, &rpath)?;
    sk.check_relin_key(&rlk).with_context(|| format!("{} and {}", path.display(), rpath.display()))?;
    Ok((ctx, sk, rlk))
}

/// Names the client record whose job an error in loading its data concerns.
fn recorded(keys: &Path, samples: usize) -> String {
    format!("{} records a job on {samples} samples", keys.join("client.json").display())
}

fn load_state(keys: &Path) -> Result<ClientState> {
    let path = keys.join("client.json");
    let state: ClientState = serde_json::from_slice(&upload::read_bounded(&path, 1 << 24)?).with_context(|| {
        format!("{}: not a client record of this version (run `hecnn encrypt` again)", path.display())
    })?;
    state.layout.validate(state.classes).map_err(anyhow::Error::msg).with_context(|| format!("{}", path.display()))?;
    // The client's own file, but read like any other: bound every count.
    let sane = (1..=upload::MAX_SAMPLES).contains(&state.samples)
        && (1..=upload::MAX_FEATURES).contains(&state.features)
        && (1..=upload::MAX_CLASSES).contains(&state.classes)
        && state.data_level < 64
        && state.refresh_level.is_none_or(|l| l <= state.data_level)
        && state.scaler.max_abs.len() + 1 == state.features
        && state.scaler.max_abs.iter().all(|m| m.is_finite() && *m >= 0.0);
    if !sane {
        bail!("{}: inconsistent client record (sizes, levels or scaler)", path.display());
    }
    Ok(state)
}

/// `hecnn keygen`: secret key (0600), relinearization and rotation keys.
pub fn keygen(out: &Path, preset: &str, quiet: bool) -> Result<()> {
    train::fresh_dir(out)?;
    let preset = Preset::from_name(preset)?;
    safe_fs::create_private_dir(out)?;
    let pb = spinner(quiet, &format!("generating keys for {}", preset.name()));
    let ctx = Context::new(preset.params())?;
    let sk = SecretKey::generate(&ctx);
    let rlk = RelinKey::generate(&sk);
    let steps = setup::any_layout_rotation_steps(ctx.n() / 2, CLASSES.next_power_of_two());
    let gk = client::training_galois_keys(&sk, &steps);
    safe_fs::write_new(&out.join("params.bin"), &ctx.params().to_bytes())?;
    safe_fs::write_private_new(&out.join("secret.key"), &sk.to_secret_bytes())?;
    safe_fs::write_new(&out.join("relin.key"), &rlk.to_bytes(&ctx))?;
    upload::write_streamed(&out.join("galois.key"), |w| gk.write_to(&ctx, w))?;
    pb.finish_and_clear();
    println!(
        "keys for {} (N={}, ~{:.0}-bit security, key set {}) in {}: secret.key stays here; params.bin, relin.key, galois.key go to the server",
        preset.name(),
        ctx.n(),
        ctx.params().security_bits(),
        sk.key_set(),
        out.display()
    );
    Ok(())
}

/// `hecnn encrypt`: features → encrypted upload directory.
pub fn encrypt(
    keys: &Path,
    out: &Path,
    samples: usize,
    opts: &DataOptions,
    scaling: Scaling,
    quiet: bool,
) -> Result<()> {
    train::fresh_dir(out)?;
    let (ctx, sk, rlk) = load_client(keys)?;
    let (train_split, _) = load_data(samples, opts, quiet)?;
    let prep = prepare(&train_split, scaling)?;
    let d = prep.x[0].len();
    let layout = Layout::choose(samples, d, CLASSES, ctx.n() / 2).context("no layout fits")?;
    let pb = spinner(quiet, "encrypting");
    let gpath = keys.join("galois.key");
    let mut gk = upload::load_galois(&ctx, &gpath)?;
    if gk.key_set() != sk.key_set() {
        bail!("{}: made for key set {}, not for this secret key's {}", gpath.display(), gk.key_set(), sk.key_set());
    }
    if let Some(step) = gk.first_missing_rotation(&ctx, &layout.rotation_steps()) {
        bail!("{}: no rotation key for step {step}, which training this layout needs", gpath.display());
    }
    // A bootstrappable key set: bootstrapping keys for this layout's packed
    // model state go with the upload, and the data sits below the
    // bootstrapping levels.
    let boot = if setup::bootstraps(ctx.params()) {
        pb.set_message("bootstrapping keys (sparse-secret encapsulation, transform rotations)");
        gk.extend(client::training_galois_keys(&sk, &setup::refresh_rotation_steps(&layout, d)))?;
        Some(training_bootstrap_keys(&sk, &layout, d)?)
    } else {
        None
    };
    let evaluation = EvaluationKeySet::new(&ctx, rlk, gk, boot)?;
    let client = TrainingClient::new(&sk).at_level(setup::data_level(ctx.params()));
    pb.set_message("encrypting");
    let init = vec![vec![client::DEFAULT_INIT; d]; CLASSES];
    let bytes = upload::encrypt_upload(out, &evaluation, &client, &prep.x, &prep.x_scaled, &prep.y, &init, layout)?;
    let state = ClientState {
        samples,
        features: d,
        classes: CLASSES,
        scaler: prep.scaler,
        scaling,
        layout,
        key_set: sk.key_set().to_hex(),
        data_level: client.level(),
        refresh_level: setup::refresh_level(ctx.params()),
        data: opts.clone(),
    };
    safe_fs::write_atomic(&keys.join("client.json"), &serde_json::to_vec_pretty(&state)?, Visibility::Private)?;
    pb.finish_and_clear();
    println!(
        "upload in {}: {} ciphertexts + evaluation keys{}, {:.1} MiB (no secret key); layout {}×{}×{}",
        out.display(),
        layout.upload_ciphertexts(samples, d),
        if evaluation.bootstrap().is_some() { " + bootstrapping keys" } else { "" },
        bytes as f64 / 1048576.0,
        layout.samples_per_block,
        layout.features_per_block,
        layout.class_slots
    );
    Ok(())
}

/// `hecnn train-server`: upload → encrypted model; no secret key anywhere.
pub fn train_server(upload_dir: &Path, out: &Path, iterations: usize, quiet: bool) -> Result<()> {
    train::fresh_dir(out)?;
    let pb = spinner(quiet, "server: loading and validating the upload");
    let up = upload::load_upload(upload_dir)?;
    pb.set_message("server: preparing the trainer");
    let server = TrainingServer::new(up.keys)?;
    pb.finish_and_clear();
    train_and_save(&server, &up.data, iterations, out, quiet)
}

/// Trains `data` with a progress bar and writes the encrypted model to `out`
/// (both server roles: features uploaded, or made from encrypted images).
pub(crate) fn train_and_save(
    server: &TrainingServer,
    data: &hecnn_ml::mlr::server::EncryptedDataset,
    iterations: usize,
    out: &Path,
    quiet: bool,
) -> Result<()> {
    let bar =
        if quiet { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new((iterations * 4) as u64) };
    let t = std::time::Instant::now();
    let (model, stats) = server.train(data, iterations, &mut |p| match p {
        TrainProgress::Stage { iteration, stage } => bar.set_position((iteration * 4 + stage) as u64),
        TrainProgress::Checkpoint(_) => {}
    })?;
    bar.finish_and_clear();
    let bytes = upload::save_model(out, server.keys(), data, &model)?;
    println!(
        "server: {iterations} iterations in {:.2} s, {} key switches, {} bootstraps; encrypted model in {} ({:.1} MiB)",
        t.elapsed().as_secs_f64(),
        stats.key_switches(),
        stats.refreshes,
        out.display(),
        bytes as f64 / 1048576.0
    );
    Ok(())
}

/// How `decrypt-model` writes the weights.
pub enum Output {
    /// Flooded at this statistical security (default 30) and rounded: safe
    /// to publish.
    Release(Option<u32>),
    /// Full precision, for the client's own use only (marked private).
    Private,
}

/// `hecnn decrypt-model`: encrypted model → weights JSON, after checking
/// the model against the client's own job and plaintext reference.
pub fn decrypt_model(keys: &Path, model_dir: &Path, out: &Path, output: Output, quiet: bool) -> Result<()> {
    let (ctx, sk, _) = load_client(keys)?;
    let state = load_state(keys)?;
    let key_set = KeySetId::from_hex(&state.key_set).context("client.json: key set is not 32 hex digits")?;
    if key_set != sk.key_set() {
        bail!("{}: client.json belongs to key set {}, secret.key to {}", keys.display(), key_set, sk.key_set());
    }
    let job = (&state.layout, state.classes, state.features);
    let (_, model) = upload::load_model(model_dir, &ctx, key_set, job)?;
    let mut expect = ModelExpectation {
        layout: state.layout,
        classes: state.classes,
        features: state.features,
        key_set,
        data_level: state.data_level,
        refresh_level: state.refresh_level,
        log_scale: ctx.params().log_scale(),
        max_iterations: upload::MAX_MODEL_ITERATIONS,
        value_tolerance: 0.0,
        reference: None,
    };
    // The ciphertexts first: the claimed iteration count must match their
    // levels before it decides how long the reference below runs.
    expect.check_ciphertexts(ctx.n() / 2, &model).with_context(|| format!("{}: model refused", model_dir.display()))?;
    // The reference for the claimed iteration count, from the client's own data.
    let (train_split, _) =
        load_data(state.samples, &state.data, quiet).with_context(|| recorded(keys, state.samples))?;
    let reference = train::reference_run(&train_split, None, model.iterations, state.scaling)?;
    if reference.w[0].len() != state.features {
        bail!("the client's data now has {} features, the job had {}", reference.w[0].len(), state.features);
    }
    let mut policy = ReleasePolicy::for_job(state.refresh_level.is_some());
    if let Output::Release(Some(s)) = output {
        policy.statistical_security = s;
    }
    expect.value_tolerance = policy.reference_tolerance;
    expect.reference = Some(reference.w);
    let client = TrainingClient::new(&sk);
    let refused = || format!("{}: model refused", model_dir.display());
    let (file, how) = match output {
        Output::Release(_) => {
            let r = client.release_model(&model, &expect, &policy).with_context(refused)?;
            let how = format!(
                "flooded for {}-bit statistical security, rounded to {:.1e}",
                policy.statistical_security, r.precision
            );
            let file = WeightsFile::released(state.classes, state.features, r, policy.statistical_security);
            (file, how)
        }
        Output::Private => {
            let (w, v) =
                client.decrypt_model_private(&model, &expect, policy.reference_tolerance).with_context(refused)?;
            let file = WeightsFile::private(state.classes, state.features, model.iterations, w, v);
            (file, "at full precision, PRIVATE: do not publish (not flooded)".to_string())
        }
    };
    safe_fs::write_atomic(out, &serde_json::to_vec_pretty(&file)?, Visibility::Private)?;
    println!(
        "decrypted model ({} classes × {} weights, {} iterations) written to {}: checked against the plaintext \
         reference, {how}",
        state.classes,
        state.features,
        model.iterations,
        out.display(),
    );
    Ok(())
}

/// Most iterations `hecnn evaluate` reruns in f64 for the reference.
const MAX_REFERENCE_ITERATIONS: usize = 10_000;

/// What `hecnn evaluate` measured.
#[derive(Debug, Serialize)]
pub struct Evaluation {
    pub test_accuracy: f64,
    pub test_samples: usize,
    /// How the client scaled the features at `encrypt`.
    pub scaling: Scaling,
    /// Iterations the model says it was trained for.
    pub iterations: Option<usize>,
    /// The same training in f64 on the client's own data (with `iterations`).
    pub reference_accuracy: Option<f64>,
    /// max |decrypted W − reference W|.
    pub max_weight_error: Option<f64>,
}

/// `hecnn evaluate`: accuracy of decrypted weights on the test set, next
/// to the plaintext reference the client can recompute from its own data.
pub fn evaluate(keys: &Path, weights: &Path, opts: &DataOptions, quiet: bool) -> Result<Evaluation> {
    let state = load_state(keys)?;
    let file: WeightsFile = serde_json::from_slice(&upload::read_bounded(weights, 1 << 28)?)
        .with_context(|| format!("{}: not a weights file", weights.display()))?;
    if file.features != state.features || file.classes != state.classes || file.w.len() != file.classes {
        bail!(
            "{}: {} classes × {} features, the client prepared {} × {}",
            weights.display(),
            file.classes,
            file.features,
            state.classes,
            state.features
        );
    }
    if file.w.iter().any(|r| r.len() != file.features || r.iter().any(|x| !x.is_finite())) {
        bail!("{}: a weight row of the wrong length, or a value that is not finite", weights.display());
    }
    // The data the job was made from, unless the caller names other files.
    let opts = if opts.features_csv.is_none() && opts.mnist_dir.is_none() { &state.data } else { opts };
    let (train_split, test) = load_data(state.samples, opts, quiet).with_context(|| recorded(keys, state.samples))?;
    let test = test.context("no test set: give --test-features-csv with --features-csv")?;
    let test_accuracy = train::evaluate(&file.w, &state.scaler, &test)?;
    let (mut reference_accuracy, mut max_weight_error) = (None, None);
    if let Some(iterations) = file.iterations_hint.filter(|&t| t > 0) {
        // The count comes from the server's manifest: bound the client's work.
        if iterations > MAX_REFERENCE_ITERATIONS {
            bail!(
                "{}: {iterations} iterations claimed; the plaintext reference runs at most {MAX_REFERENCE_ITERATIONS}",
                weights.display()
            );
        }
        // The reference starts from the raw features, with its own scaling:
        // it does not trust the scaler the client saved at `encrypt`.
        let reference = train::reference_run(&train_split, Some(&test), iterations, state.scaling)?;
        let reference_features = reference.w[0].len();
        if reference_features != file.features {
            bail!("{}: {} features, the client's data has {reference_features}", weights.display(), file.features);
        }
        reference_accuracy = reference.test_accuracy;
        max_weight_error = Some(train::max_weight_error(&file.w, &reference.w)?);
    }
    Ok(Evaluation {
        test_accuracy,
        test_samples: test.y.len(),
        scaling: state.scaling,
        iterations: file.iterations_hint,
        reference_accuracy,
        max_weight_error,
    })
}

/// Human-readable report of `hecnn evaluate`.
pub fn print_evaluation(e: &Evaluation) {
    println!("test accuracy {:.2}% on {} samples", 100.0 * e.test_accuracy, e.test_samples);
    if let (Some(t), Some(r), Some(err)) = (e.iterations, e.reference_accuracy, e.max_weight_error) {
        println!("plaintext reference after {t} iterations: {:.2}%, max |W − reference| = {err:.2e}", 100.0 * r);
    }
}
