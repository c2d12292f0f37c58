//! The split-role workflow with files on disk: the client (`keygen`,
//! `encrypt`, `decrypt-model`, `evaluate`) holds the secret key; the server
//! (`train-server`) reads only the upload directory, which holds no secret.

use crate::train::{
    self, all_layout_steps, bootstrap_keys_for, bootstrapper_for, load_data, prepare, spinner, DataOptions, CLASSES,
};
use anyhow::{bail, Context as _, Result};
use hecnn_ckks::{Context, GaloisKeys, Preset, RelinKey, SecretKey};
use hecnn_ml::mlr::client::{self, Scaler};
use hecnn_ml::mlr::encrypted::{TrainProgress, TrainingClient, PAPER_SIGMOID};
use hecnn_ml::mlr::refresh::BootstrapRefresh;
use hecnn_ml::packing::Layout;
use hecnn_ml::upload;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// What the client remembers between `encrypt` and `evaluate`.
#[derive(Serialize, Deserialize)]
struct ClientState {
    samples: usize,
    features: usize,
    scaler: Scaler,
}

/// Decrypted model file.
#[derive(Serialize, Deserialize)]
pub struct WeightsFile {
    pub classes: usize,
    pub features: usize,
    /// Iterations the server reports it ran (from the model's manifest).
    pub iterations_hint: Option<usize>,
    /// The model (W), classes × features, bias first.
    pub w: Vec<Vec<f64>>,
    /// The look-ahead sequence V.
    pub v: Vec<Vec<f64>>,
}

fn write_secret(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).with_context(|| format!("{}: cannot create", path.display()))?;
    f.write_all(bytes).with_context(|| format!("{}: write failed", path.display()))?;
    Ok(())
}

fn load_client(keys: &Path) -> Result<(Arc<Context>, SecretKey)> {
    let params = upload::load_params(&keys.join("params.bin"))?;
    let ctx = Context::new(params)?;
    let path = keys.join("secret.key");
    let bytes = zeroize::Zeroizing::new(upload::read_bounded(&path, 1 << 20)?);
    let sk = SecretKey::from_secret_bytes(&ctx, &bytes).with_context(|| format!("{}", path.display()))?;
    Ok((ctx, sk))
}

/// `hecnn keygen`: secret key (0600), relinearization and rotation keys.
pub fn keygen(out: &Path, preset: &str, quiet: bool) -> Result<()> {
    train::fresh_dir(out)?;
    std::fs::create_dir_all(out).with_context(|| format!("{}: cannot create", out.display()))?;
    let preset = Preset::from_name(preset)?;
    let pb = spinner(quiet, &format!("generating keys for {}", preset.name()));
    let ctx = Context::new(preset.params())?;
    let sk = SecretKey::generate(&ctx);
    let rlk = RelinKey::generate(&sk);
    let gk = GaloisKeys::generate(&sk, &all_layout_steps(ctx.n() / 2, CLASSES.next_power_of_two()), false);
    std::fs::write(out.join("params.bin"), ctx.params().to_bytes())?;
    write_secret(&out.join("secret.key"), &sk.to_secret_bytes())?;
    std::fs::write(out.join("relin.key"), rlk.to_bytes(&ctx))?;
    upload::write_streamed(&out.join("galois.key"), |w| gk.write_to(&ctx, w))?;
    pb.finish_and_clear();
    println!(
        "keys for {} (N={}, ~{:.0}-bit security) in {}: secret.key stays here; params.bin, relin.key, galois.key go to the server",
        preset.name(),
        ctx.n(),
        ctx.params().security_bits(),
        out.display()
    );
    Ok(())
}

/// `hecnn encrypt`: features → encrypted upload directory.
pub fn encrypt(keys: &Path, out: &Path, samples: usize, opts: &DataOptions, quiet: bool) -> Result<()> {
    train::fresh_dir(out)?;
    let (ctx, sk) = load_client(keys)?;
    let (train_split, _) = load_data(samples, opts, quiet)?;
    let prep = prepare(&train_split)?;
    let d = prep.x[0].len();
    let layout = Layout::choose(samples, d, CLASSES, ctx.n() / 2).context("no layout fits")?;
    let pb = spinner(quiet, "encrypting");
    let (rlk, _) = upload::load_relin(&ctx, &keys.join("relin.key"))?;
    let mut gk = upload::load_galois(&ctx, &keys.join("galois.key"))?;
    // The bootstrappable preset: bootstrapping keys for this layout's packed
    // model state go with the upload, and the data sits below the
    // bootstrapping levels.
    let bootstrap_level = Preset::from_name(&ctx.params().name)
        .ok()
        .filter(|p| p.params() == *ctx.params())
        .and_then(Preset::levels_after_bootstrap);
    let (client, boot) = match bootstrap_level {
        Some(level) => {
            pb.set_message("bootstrapping keys (sparse-secret encapsulation, transform rotations)");
            let (boot, unpack) = bootstrap_keys_for(&sk, &layout, d)?;
            gk.extend(GaloisKeys::generate(&sk, &unpack, false))?;
            (TrainingClient::new(&sk).at_level(level), Some(boot))
        }
        None => (TrainingClient::new(&sk), None),
    };
    pb.set_message("encrypting");
    let init = vec![vec![client::DEFAULT_INIT; d]; CLASSES];
    let data = client.encrypt_dataset(&prep.x, &prep.x_scaled, &prep.y, CLASSES, &init, layout)?;
    let bytes = upload::save_upload(out, &ctx, &rlk, &gk, boot.as_ref(), &data)?;
    let state = ClientState { samples, features: d, scaler: prep.scaler };
    std::fs::write(keys.join("client.json"), serde_json::to_vec_pretty(&state)?)?;
    pb.finish_and_clear();
    println!(
        "upload in {}: {} ciphertexts + evaluation keys{}, {:.1} MiB (no secret key); layout {}×{}×{}",
        out.display(),
        data.num_ciphertexts(),
        if boot.is_some() { " + bootstrapping keys" } else { "" },
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
    pb.finish_and_clear();
    let bar =
        if quiet { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new((iterations * 4) as u64) };
    let t = std::time::Instant::now();
    let boot = up.bootstrap.as_ref().map(|keys| bootstrapper_for(&up.ctx, keys)).transpose()?;
    let refresh = boot
        .as_ref()
        .zip(up.bootstrap.as_ref())
        .map(|(b, keys)| BootstrapRefresh::new(&up.ctx, b, keys, &up.relin, &up.galois));
    let trainer = train::trainer(&up.ctx, &up.relin, &up.galois, refresh.as_ref());
    let (model, stats) = trainer.train(&up.data, iterations, &PAPER_SIGMOID, &mut |p| match p {
        TrainProgress::Stage { iteration, stage } => bar.set_position((iteration * 4 + stage) as u64),
    })?;
    bar.finish_and_clear();
    let bytes = upload::save_model(out, &up.ctx, &up.data, &model, &up.key_id, iterations)?;
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

/// `hecnn decrypt-model`: encrypted model → weights JSON.
pub fn decrypt_model(keys: &Path, model_dir: &Path, out: &Path) -> Result<()> {
    let (ctx, sk) = load_client(keys)?;
    let (_, key_id) = upload::load_relin(&ctx, &keys.join("relin.key"))?;
    let (m, w_cts, v_cts) = upload::load_model(model_dir, &ctx, &key_id)?;
    let client = TrainingClient::new(&sk);
    let w = client.decrypt_weights(&w_cts, &m.layout, m.classes, m.features)?;
    let v = client.decrypt_weights(&v_cts, &m.layout, m.classes, m.features)?;
    let file = WeightsFile { classes: m.classes, features: m.features, iterations_hint: m.iterations, w, v };
    std::fs::write(out, serde_json::to_vec_pretty(&file)?).with_context(|| format!("{}", out.display()))?;
    println!("decrypted model ({} classes × {} weights) written to {}", m.classes, m.features, out.display());
    Ok(())
}

/// Most iterations `hecnn evaluate` reruns in f64 for the reference.
const MAX_REFERENCE_ITERATIONS: usize = 10_000;

/// What `hecnn evaluate` measured.
#[derive(Debug, Serialize)]
pub struct Evaluation {
    pub test_accuracy: f64,
    pub test_samples: usize,
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
    let state: ClientState = serde_json::from_slice(&upload::read_bounded(&keys.join("client.json"), 1 << 24)?)
        .with_context(|| format!("{}", keys.join("client.json").display()))?;
    let file: WeightsFile = serde_json::from_slice(&upload::read_bounded(weights, 1 << 28)?)
        .with_context(|| format!("{}: not a weights file", weights.display()))?;
    if file.features != state.features || file.w.len() != file.classes {
        bail!("{}: {} features, the client prepared {}", weights.display(), file.features, state.features);
    }
    let (train_split, test) = load_data(state.samples, opts, quiet)?;
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
        let reference = train::reference_run(&train_split, Some(&test), iterations)?;
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
