//! Encrypted MLR training by transfer learning, end to end: the client's
//! data preparation, the encrypted run, decryption and evaluation, with the
//! plaintext reference alongside.
//!
//! The two sides share no code: the upload and the scoring of decrypted
//! weights use `mlr::client` ([`prepare`], [`evaluate`]); the reference
//! ([`reference_run`]) starts again from the raw features with
//! `mlr::reference`'s own scaling, preconditioner and accuracy.

use anyhow::{bail, Context as _, Result};
use hecnn_ckks::{Context, EvaluationKeySet, RelinKey, SecretKey};
use hecnn_ml::mlr::client::{
    self, training_bootstrap_keys, with_bias, ModelError, ModelExpectation, ReleasePolicy, Scaler, Scaling,
    TrainingClient,
};
use hecnn_ml::mlr::reference;
use hecnn_ml::mlr::server::{TrainProgress, TrainingServer};
use hecnn_ml::mlr::setup;
use hecnn_ml::packing::Layout;
use hecnn_nn::mnist::{bundled_mnist_dir, Mnist};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Number of classes (MNIST digits).
pub const CLASSES: usize = 10;

/// Raw (unscaled, no bias) features with labels.
pub struct Split {
    pub x: Vec<Vec<f64>>,
    pub y: Vec<u8>,
}

/// Where the features come from.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
pub struct DataOptions {
    /// `label,f1,…,fd` CSV for training (else MNIST through the backbone).
    pub features_csv: Option<PathBuf>,
    /// CSV for testing (with `features_csv`).
    pub test_features_csv: Option<PathBuf>,
    /// Directory with the four MNIST IDX files (default: the bundled copy).
    pub mnist_dir: Option<PathBuf>,
}

/// Spinner with a message, hidden when `quiet`.
pub fn spinner(quiet: bool, msg: &str) -> ProgressBar {
    let pb = if quiet { ProgressBar::hidden() } else { ProgressBar::new_spinner() };
    pb.set_style(ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("valid template"));
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb.set_message(msg.to_string());
    pb
}

/// Loads the first `samples` training samples and the test set.
pub fn load_data(samples: usize, opts: &DataOptions, quiet: bool) -> Result<(Split, Option<Split>)> {
    if samples == 0 {
        bail!("--samples must be at least 1");
    }
    if let Some(csv) = &opts.features_csv {
        let set = hecnn_nn::csv::read_features(csv)?;
        if set.labels.len() < samples {
            bail!("{}: has {} samples, {samples} requested", csv.display(), set.labels.len());
        }
        let train = Split { x: set.features[..samples].to_vec(), y: set.labels[..samples].to_vec() };
        let test = match &opts.test_features_csv {
            Some(t) => {
                let ts = hecnn_nn::csv::read_features(t)?;
                if ts.dim() != set.dim() {
                    bail!("{}: {} features, training CSV has {}", t.display(), ts.dim(), set.dim());
                }
                Some(Split { x: ts.features, y: ts.labels })
            }
            None => None,
        };
        return Ok((train, test));
    }
    if opts.test_features_csv.is_some() {
        bail!("--test-features-csv needs --features-csv");
    }
    let dir = opts.mnist_dir.clone().unwrap_or_else(bundled_mnist_dir);
    let pb = spinner(quiet, &format!("loading MNIST from {}", dir.display()));
    let mnist = Mnist::load_dir(&dir)?;
    if samples > 10_000 {
        bail!("--samples {samples}: the private subsets come from the first 10,000 training images (the backbone saw the rest)");
    }
    if samples > mnist.train_images.len() {
        bail!("{}: has {} training images, {samples} requested", dir.display(), mnist.train_images.len());
    }
    pb.set_message("extracting features with the frozen backbone (client side)");
    let backbone = hecnn_nn::backbone::bundled_backbone()?;
    let train_images = mnist.train_images.slice(0..samples);
    let x = hecnn_nn::features::extract_features(&backbone, &train_images)?;
    let test_x = hecnn_nn::features::extract_features(&backbone, &mnist.test_images)?;
    pb.finish_and_clear();
    Ok((
        Split { x, y: mnist.train_labels[..samples].to_vec() },
        Some(Split { x: test_x, y: mnist.test_labels.clone() }),
    ))
}

/// The client's preprocessing: scaling (to [−1, 1] by default), bias column, B̄.
pub struct Prepared {
    pub scaler: Scaler,
    pub x: Vec<Vec<f64>>,
    pub x_scaled: Vec<Vec<f64>>,
    pub y: Vec<u8>,
}

/// Scales, adds the bias column and computes `B̄ ⊙ X` (client side, for
/// the upload).
pub fn prepare(train: &Split, scaling: Scaling) -> Result<Prepared> {
    let (scaler, x, x_scaled) = client::design(&train.x, scaling)?;
    Ok(Prepared { scaler, x, x_scaled, y: train.y.clone() })
}

/// Accuracy of decrypted weights `w` on a split, with the client's scaler.
pub fn evaluate(w: &[Vec<f64>], scaler: &Scaler, split: &Split) -> Result<f64> {
    let x = with_bias(&scaler.apply(&split.x)?);
    Ok(client::accuracy(w, &x, &split.y)?)
}

/// The plaintext reference's model and accuracies.
pub struct Reference {
    /// `W` after the iterations (classes × features, bias first).
    pub w: Vec<Vec<f64>>,
    /// Accuracy of `W` on the training split.
    pub train_accuracy: f64,
    /// Accuracy of `W` on the test split, when there is one.
    pub test_accuracy: Option<f64>,
}

/// Runs the plaintext reference for `iterations` from the *raw* features,
/// with none of the client's preparation: the reference scales, adds the
/// bias, preconditions and scores with its own code, so a slip in
/// [`prepare`] or [`evaluate`] shows as a difference instead of being
/// shared. `scaling` is the one the client chose (the reference scales by
/// its own maxima, or by 1 for the raw features).
pub fn reference_run(train: &Split, test: Option<&Split>, iterations: usize, scaling: Scaling) -> Result<Reference> {
    let (w, maxima) = reference::train_raw(&train.x, &train.y, CLASSES, scaling == Scaling::MaxAbs, iterations)?;
    let train_accuracy = reference::accuracy(&w, &reference::design_matrix(&train.x, &maxima)?, &train.y)?;
    let test_accuracy = match test {
        Some(t) => Some(reference::accuracy(&w, &reference::design_matrix(&t.x, &maxima)?, &t.y)?),
        None => None,
    };
    Ok(Reference { w, train_accuracy, test_accuracy })
}

/// `max |a − b|` over two weight matrices of the same shape (decrypted
/// against reference).
pub fn max_weight_error(a: &[Vec<f64>], b: &[Vec<f64>]) -> Result<f64> {
    if a.len() != b.len() || a.iter().zip(b).any(|(r, s)| r.len() != s.len()) {
        let shape = |m: &[Vec<f64>]| format!("{} × {}", m.len(), m.first().map_or(0, Vec::len));
        bail!("weights of different shapes: {} against {}", shape(a), shape(b));
    }
    Ok(a.iter().flatten().zip(b.iter().flatten()).map(|(p, q)| (p - q).abs()).fold(0.0, f64::max))
}

/// Peak resident memory of this process in MiB (Linux `VmHWM`).
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The JSON report of `hecnn train`.
#[derive(Debug, Serialize)]
pub struct TrainReport {
    pub samples: usize,
    pub iterations: usize,
    pub features: usize,
    /// How the client scaled the features (`max-abs` or `none`).
    pub scaling: Scaling,
    pub preset: String,
    pub n: usize,
    pub security_bits: f64,
    pub layout: Layout,
    pub test_accuracy: Option<f64>,
    pub train_accuracy: f64,
    pub reference_accuracy: f64,
    pub reference_train_accuracy: f64,
    pub max_weight_error: f64,
    /// Root mean square of decrypted − reference: the noise's standard
    /// deviation, what the release's flooding is sized from.
    pub rms_weight_error: f64,
    pub keygen_seconds: f64,
    pub encrypt_seconds: f64,
    pub train_seconds: f64,
    pub total_seconds: f64,
    pub key_switches: usize,
    pub rotations: usize,
    pub relinearizations: usize,
    pub key_switches_per_iteration: f64,
    /// Bootstraps of the model state W, V (0 when the levels suffice).
    pub bootstraps: usize,
    /// Server seconds spent inside those bootstraps (part of `train_seconds`).
    pub bootstrap_seconds: f64,
    /// Statistical security of the release's noise flooding.
    pub statistical_security: u32,
    /// What `decrypt-model` would publish.
    pub release: Release,
    pub uploaded_ciphertexts: usize,
    pub upload_bytes: u64,
    pub upload_key_bytes: u64,
    pub peak_rss_mb: f64,
    /// Whether the AVX-512 IFMA kernels ran (`hecnn_ckks::ring::ifma_kernels`).
    pub ifma: bool,
}

/// The publishable model of a run: flooded and rounded, or refused when
/// flooding at the statistical security would drown it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Release {
    /// Released: its test accuracy, distance from the reference, rounding grid.
    Released { accuracy: f64, max_weight_error: f64, precision: f64 },
    /// Refused, and why.
    Refused(String),
}

/// Runs client, server and client again in one process.
pub fn run(
    samples: usize,
    iterations: usize,
    opts: &DataOptions,
    scaling: Scaling,
    statistical_security: Option<u32>,
    quiet: bool,
) -> Result<TrainReport> {
    let total = Instant::now();
    if iterations == 0 {
        bail!("--iterations must be at least 1");
    }
    let preset = setup::preset_for(iterations);
    let (train, test) = load_data(samples, opts, quiet)?;
    let prep = prepare(&train, scaling)?;
    let d = prep.x[0].len();
    let init = vec![vec![client::DEFAULT_INIT; d]; CLASSES];

    // Plaintext reference: the same algorithm in f64, from the raw features.
    let reference = reference_run(&train, test.as_ref(), iterations, scaling)?;

    // Client: keys and the encrypted upload.
    let pb = spinner(quiet, &format!("client: key generation ({})", preset.name()));
    let t = Instant::now();
    let ctx = Context::new(preset.params())?;
    let bootstrapping = setup::bootstraps(ctx.params());
    let layout = Layout::choose(samples, d, CLASSES, ctx.n() / 2).context("no layout fits")?;
    let sk = SecretKey::generate(&ctx);
    let rlk = RelinKey::generate(&sk);
    let mut steps = layout.rotation_steps();
    let boot = if bootstrapping {
        pb.set_message("client: bootstrapping keys (sparse-secret encapsulation, transform rotations)");
        steps.extend(setup::refresh_rotation_steps(&layout, d));
        Some(training_bootstrap_keys(&sk, &layout, d)?)
    } else {
        None
    };
    let gk = client::training_galois_keys(&sk, &steps);
    let keys = EvaluationKeySet::new(&ctx, rlk, gk, boot)?;
    let keygen_seconds = t.elapsed().as_secs_f64();
    pb.set_message("client: encrypting features, labels, B̄⊙X and the initial weights");
    let t = Instant::now();
    let client = TrainingClient::new(&sk).at_level(setup::data_level(ctx.params()));
    let upload = client.encrypt_dataset(&prep.x, &prep.x_scaled, &prep.y, CLASSES, &init, layout)?;
    let encrypt_seconds = t.elapsed().as_secs_f64();
    let boot_key_bytes = keys.bootstrap().map_or(0, |k| k.serialized_len(&ctx));
    let upload_key_bytes = keys.relin().serialized_len(&ctx) + keys.galois().serialized_len(&ctx) + boot_key_bytes;
    let mut ct_bytes = 0;
    for (label, ct) in upload.labelled() {
        ct_bytes += ct.serialized_len(&ctx, &hecnn_ml::upload::upload_binding(keys.key_set(), &label)?);
    }
    pb.finish_and_clear();

    // Server: evaluation keys and ciphertexts only (the seeds expanded, as
    // the server does on load).
    let data = upload.expand(&ctx)?;
    drop(upload);
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new((iterations * 4) as u64) };
    bar.set_style(
        ProgressStyle::with_template("server: training {bar:30} {pos}/{len} stages [{elapsed}] {msg}").expect("valid"),
    );
    let server = TrainingServer::new(keys)?;
    let t = Instant::now();
    let (model, stats) = server.train(&data, iterations, &mut |p| match p {
        TrainProgress::Stage { iteration, stage } => {
            bar.set_message(format!("iteration {}", iteration + 1));
            bar.set_position((iteration * 4 + stage) as u64);
        }
        TrainProgress::Checkpoint(_) => {}
    })?;
    let train_seconds = t.elapsed().as_secs_f64();
    let bootstrap_seconds = stats.bootstrap_seconds;
    bar.finish_and_clear();

    // Client: check and decrypt (privately, at full precision), then the
    // release a client would publish (flooded and rounded).
    let mut policy = ReleasePolicy::for_job(bootstrapping);
    if let Some(s) = statistical_security {
        policy.statistical_security = s;
    }
    let expect = ModelExpectation {
        layout,
        classes: CLASSES,
        features: d,
        key_set: sk.key_set(),
        data_level: client.level(),
        refresh_level: setup::refresh_level(ctx.params()),
        log_scale: ctx.params().log_scale(),
        max_iterations: iterations,
        value_tolerance: policy.reference_tolerance,
        reference: Some(reference.w.clone()),
    };
    let (w, _) = client.decrypt_model_private(
        &model,
        &ModelExpectation { reference: None, ..expect.clone() },
        policy.reference_tolerance,
    )?;
    let private_error = max_weight_error(&w, &reference.w)?;
    let sq: f64 = w.iter().flatten().zip(reference.w.iter().flatten()).map(|(a, b)| (a - b) * (a - b)).sum();
    let rms_weight_error = (sq / (CLASSES * d) as f64).sqrt();
    let release = match client.release_model(&model, &expect, &policy) {
        Ok(r) => {
            let accuracy = match &test {
                Some(ts) => evaluate(&r.w, &prep.scaler, ts)?,
                None => client::accuracy(&r.w, &prep.x, &prep.y)?,
            };
            let released_error = max_weight_error(&r.w, &reference.w)?;
            Release::Released { accuracy, max_weight_error: released_error, precision: r.precision }
        }
        Err(e @ ModelError::NoPrecisionLeft { .. }) => Release::Refused(e.to_string()),
        Err(e) => return Err(e.into()),
    };
    let train_accuracy = client::accuracy(&w, &prep.x, &prep.y)?;
    let reference_train_accuracy = reference.train_accuracy;
    let test_accuracy = test.as_ref().map(|ts| evaluate(&w, &prep.scaler, ts)).transpose()?;
    let reference_accuracy = reference.test_accuracy.unwrap_or(reference_train_accuracy);
    Ok(TrainReport {
        samples,
        iterations,
        features: d,
        scaling,
        preset: preset.name().into(),
        n: ctx.n(),
        security_bits: ctx.params().security_bits(),
        layout,
        test_accuracy,
        train_accuracy,
        reference_accuracy,
        reference_train_accuracy,
        max_weight_error: private_error,
        rms_weight_error,
        keygen_seconds,
        encrypt_seconds,
        train_seconds,
        total_seconds: total.elapsed().as_secs_f64(),
        key_switches: stats.key_switches(),
        rotations: stats.rotations,
        relinearizations: stats.relinearizations,
        key_switches_per_iteration: stats.key_switches() as f64 / iterations as f64,
        bootstraps: stats.refreshes,
        bootstrap_seconds,
        statistical_security: policy.statistical_security,
        release,
        uploaded_ciphertexts: data.num_ciphertexts(),
        upload_bytes: ct_bytes + upload_key_bytes,
        upload_key_bytes,
        peak_rss_mb: peak_rss_mb(),
        ifma: hecnn_ckks::ring::ifma_kernels(),
    })
}

/// Prints the human-readable report.
pub fn print(r: &TrainReport) {
    let pct = |x: f64| 100.0 * x;
    println!("Encrypted CNN training by transfer learning (MLR on frozen-backbone features)");
    let scaling = match r.scaling {
        Scaling::MaxAbs => "scaled to [−1, 1] (max-abs)",
        Scaling::None => "raw, unscaled (none)",
    };
    println!(
        "  data        {} training samples, {} features (with bias), {} classes; features {scaling}",
        r.samples, r.features, CLASSES
    );
    println!(
        "  parameters  {} (N={}, ~{:.0}-bit security), layout {}×{}×{} per ciphertext",
        r.preset, r.n, r.security_bits, r.layout.samples_per_block, r.layout.features_per_block, r.layout.class_slots
    );
    println!(
        "  upload      {} ciphertexts + keys = {:.1} MiB (keys {:.1} MiB); the paper uploads 6 ciphertexts at N=2^16",
        r.uploaded_ciphertexts,
        r.upload_bytes as f64 / 1048576.0,
        r.upload_key_bytes as f64 / 1048576.0
    );
    println!(
        "  server      {} iterations in {:.2} s, {} key switches ({} rotations, {} relinearizations; {:.0}/iteration)",
        r.iterations, r.train_seconds, r.key_switches, r.rotations, r.relinearizations, r.key_switches_per_iteration
    );
    if r.bootstraps > 0 {
        println!(
            "  bootstraps  {} of the packed model state, {:.1} s in all ({:.1} s each)",
            r.bootstraps,
            r.bootstrap_seconds,
            r.bootstrap_seconds / r.bootstraps as f64
        );
    }
    match r.test_accuracy {
        Some(t) => println!(
            "  accuracy    encrypted model {:.2}% on the test set (plaintext reference {:.2}%); train {:.2}%",
            pct(t),
            pct(r.reference_accuracy),
            pct(r.train_accuracy)
        ),
        None => println!(
            "  accuracy    encrypted model {:.2}% on the training set (plaintext reference {:.2}%)",
            pct(r.train_accuracy),
            pct(r.reference_train_accuracy)
        ),
    }
    println!(
        "  weights     max |decrypted − reference| = {:.2e}, rms {:.2e} = 2^{:.1} (client-private, full precision)",
        r.max_weight_error,
        r.rms_weight_error,
        r.rms_weight_error.log2()
    );
    match &r.release {
        Release::Released { accuracy, max_weight_error, precision } => println!(
            "  release     flooded for {}-bit statistical security and rounded to {precision:.1e}: accuracy {:.2}%, \
             max |released − reference| = {max_weight_error:.2e}",
            r.statistical_security,
            pct(*accuracy)
        ),
        Release::Refused(why) => println!("  release     refused: {why}"),
    }
    println!(
        "  time        total {:.1} s (keygen {:.1} s, encrypt {:.1} s); peak memory {:.0} MiB",
        r.total_seconds, r.keygen_seconds, r.encrypt_seconds, r.peak_rss_mb
    );
}

/// Checks a path does not exist or is an empty directory, before writing.
pub fn fresh_dir(path: &Path) -> Result<()> {
    if path.exists() && std::fs::read_dir(path).map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!("{}: already exists and is not empty", path.display());
    }
    Ok(())
}
