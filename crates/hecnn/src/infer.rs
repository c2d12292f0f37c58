//! `hecnn infer`: a pre-trained CNN on encrypted MNIST test images, all
//! roles in one process. The client encrypts, the server computes with the
//! evaluation keys only, the client decrypts, checks and argmaxes; the same
//! images go through the exact model and through the plaintext circuit with
//! the same polynomials (the simulator) for comparison.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use hecnn_ckks::{Context, EvaluationKeySet, Parameters, SecretKey};
use hecnn_ml::cnn::client::{decrypt_scores, encrypt_images};
use hecnn_ml::cnn::roles::compile_for_mnist;
use hecnn_ml::cnn::{argmax, ApproxActivation, CompiledModel, Engine, ExactActivation};
use hecnn_nn::features::image_tensors;
use hecnn_nn::mnist::{bundled_mnist_dir, Mnist};
use hecnn_nn::model::Tensor;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::train::peak_rss_mb;

/// Images per ciphertext when not given: as many 28×28 images as fit
/// N/2 = 32,768 slots, rounded down to a power of two (rotation keys are
/// then ±2^k·B only).
pub const DEFAULT_BATCH: usize = 32;

/// What to run.
pub struct Options {
    /// `bundled`, `residual` or a model file.
    pub model: String,
    /// Test images.
    pub images: usize,
    /// First test image.
    pub offset: usize,
    /// Fixed α (else chosen on validation images).
    pub alpha: Option<u32>,
    /// Calibration images (training images from 10,000).
    pub calibration_images: usize,
    /// Validation images for choosing α (training images from 30,000).
    pub validation_images: usize,
    /// Images per ciphertext (default: as many as fit).
    pub batch: Option<usize>,
    /// MNIST directory.
    pub mnist_dir: Option<PathBuf>,
    /// No progress output.
    pub quiet: bool,
    /// Parameter chain.
    pub chain: Chain,
}

/// The JSON report.
#[derive(Debug, Serialize)]
pub struct Report {
    pub model: String,
    pub images: usize,
    pub offset: usize,
    pub alpha: u32,
    pub sign_degrees: Vec<usize>,
    pub alpha_search: Vec<(u32, f64)>,
    pub accuracy: f64,
    pub exact_model_accuracy: f64,
    pub simulator_accuracy: f64,
    pub agreement_with_simulator: f64,
    pub agreement_with_exact: f64,
    pub max_logit_error: f64,
    pub bootstraps: usize,
    pub depth: usize,
    pub levels_plan: Vec<String>,
    pub batch: usize,
    pub batches: usize,
    pub seconds_total: f64,
    pub seconds_per_image: f64,
    pub latency_seconds: f64,
    pub seconds_linear: f64,
    pub seconds_activation: f64,
    pub seconds_bootstrap: f64,
    pub seconds_keygen: f64,
    pub rotation_keys: usize,
    pub key_bytes: u64,
    pub linear_key_switches: usize,
    pub diagonals_per_batch: usize,
    pub step_seconds: Vec<(&'static str, usize, usize, f64)>,
    pub sign_evaluations_per_batch: usize,
    pub peak_rss_mb: f64,
    pub params: String,
    pub security_bits: f64,
}

/// A progress bar with a right-aligned label, hidden when `quiet`.
pub(crate) fn bar(quiet: bool, len: usize, what: &str) -> ProgressBar {
    let pb = if quiet { ProgressBar::hidden() } else { ProgressBar::new(len as u64) };
    pb.set_style(ProgressStyle::with_template("{msg:>28} {bar:30} {pos}/{len} [{elapsed}]").expect("valid template"));
    pb.set_message(what.to_string());
    pb
}

/// Bytes one switching key at the top level holds in memory: the `b` half
/// of every digit (the `a` half is a seed, regenerated at each use).
fn switching_key_bytes(p: &Parameters) -> u64 {
    (p.dnum() * (p.q().len() + p.p().len()) * p.n() * 8) as u64
}

/// Compiles the model for the MNIST geometry (server side).
pub fn compile_model(opts: &Options, mnist: &Mnist, batch: usize) -> Result<CompiledModel> {
    let model = match opts.model.as_str() {
        "bundled" => crate::simulate::load_model(None)?,
        // The same network as models/resnet.onnx (a test checks the import equals it), embedded.
        "residual" => hecnn_nn::backbone::bundled_residual().context("bundled residual network")?,
        path => crate::simulate::load_model(Some(std::path::Path::new(path)))?,
    };
    compile_for_mnist(&model, mnist, opts.calibration_images, opts.validation_images, opts.alpha, batch)
        .context("compiling the model for encrypted inference")
}

/// Which parameter chain runs the circuit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Chain {
    /// The inference chain when the circuit fits one, else bootstrapping.
    #[default]
    Auto,
    /// The `bootstrappable` preset with bootstrapping keys, whatever the depth.
    Bootstrappable,
}

/// The chain for a circuit of `depth` levels: with `Chain::Auto` the
/// inference chain without bootstrapping when one is 128-bit secure, else
/// the bootstrappable preset (11 levels between bootstraps). Returns
/// (parameters, bootstrapping).
pub fn choose_params(depth: usize, chain: Chain) -> (Parameters, bool) {
    hecnn_ml::cnn::roles::choose_params(depth, chain == Chain::Bootstrappable)
}

/// The evaluation keys the client makes for a model: relinearization, the
/// model's rotations, and bootstrapping keys when the plan bootstraps.
pub fn client_keys(sk: &SecretKey, steps: &[i64], bootstrapping: bool) -> Result<EvaluationKeySet> {
    Ok(hecnn_ml::cnn::client::evaluation_keys(sk, steps, bootstrapping)?)
}

/// Runs everything and returns the report.
pub fn run(opts: &Options) -> Result<Report> {
    if opts.images == 0 {
        bail!("--images must be at least 1");
    }
    let dir = opts.mnist_dir.clone().unwrap_or_else(bundled_mnist_dir);
    let mnist = Mnist::load_dir(&dir).with_context(|| format!("MNIST in {}", dir.display()))?;
    if opts.offset + opts.images > mnist.test_images.len() {
        bail!(
            "--offset {} + --images {} exceeds the {} test images",
            opts.offset,
            opts.images,
            mnist.test_images.len()
        );
    }
    // Power-of-two batches: the rotation keys are then ±2^k·B only.
    let max_batch = hecnn_ml::cnn::layout::Geometry::max_batch(1 << 15, 28, 28);
    let max_batch = 1 << max_batch.ilog2();
    // Not fewer for fewer images: a batch costs the same with empty slots,
    // and a smaller B puts more channels in each ciphertext, which costs more
    // rotations (measured: 4 images at B = 4 needed 466 key switches and 22
    // keys, at B = 32 390 and 18).
    let batch = opts.batch.unwrap_or(max_batch).max(1);
    let sp = crate::train::spinner(opts.quiet, "calibrating, choosing α, compiling");
    let compiled = compile_model(opts, &mnist, batch)?;
    sp.finish_and_clear();
    let depth = compiled.depth();
    let (params, bootstrapping) = choose_params(depth, opts.chain);
    let ctx = Context::new(params.clone())?;
    let steps = compiled.rotation_steps();
    let key_bytes = switching_key_bytes(&params) * (steps.len() as u64 + 1);
    if bootstrapping && !opts.quiet {
        eprintln!("the circuit needs {depth} levels: bootstrapping on the {} preset", params.name());
    }
    if !opts.quiet {
        let s = &compiled.sign;
        if !compiled.alpha_search.is_empty() {
            let tried: Vec<String> =
                compiled.alpha_search.iter().map(|(a, f)| format!("α = {a}: {:.1} %", f * 100.0)).collect();
            eprintln!("α chosen on validation images (predictions kept): {}", tried.join(", "));
        }
        eprintln!(
            "α = {} (sign {:?}, depth {}), circuit depth {depth}, {} rotation keys + relin ≈ {:.2} GB, params {}",
            s.alpha,
            s.degrees,
            s.depth,
            steps.len(),
            key_bytes as f64 / 1e9,
            params.name()
        );
    }
    // Client: keys.
    let t = Instant::now();
    let sp = crate::train::spinner(opts.quiet, "client: generating keys");
    let sk = SecretKey::generate(&ctx);
    let keys = client_keys(&sk, &steps, bootstrapping)?;
    sp.finish_and_clear();
    let seconds_keygen = t.elapsed().as_secs_f64();
    // Server: plan.
    let engine = Engine::new(&compiled, &keys)?;
    let spec = compiled.spec();
    let test: Vec<Tensor<f64>> = image_tensors(&mnist.test_images.slice(opts.offset..opts.offset + opts.images));
    let labels = &mnist.test_labels[opts.offset..opts.offset + opts.images];
    let act = ApproxActivation { sign: &compiled.composite, factors: &compiled.factors };
    let model_exact: Vec<usize> =
        test.iter().map(|x| argmax(&compiled.circuit.eval_output(x.data(), &ExactActivation))).collect();
    let sim: Vec<Vec<f64>> = test.iter().map(|x| compiled.circuit.eval_output(x.data(), &act)).collect();
    let mut scores: Vec<Vec<f64>> = Vec::with_capacity(opts.images);
    let mut stats_total = hecnn_ml::cnn::RunStats::default();
    let mut latency: f64 = 0.0;
    let t_all = Instant::now();
    let batches = opts.images.div_ceil(batch);
    for (bi, chunk) in test.chunks(batch).enumerate() {
        let pixels: Vec<Vec<f64>> = chunk.iter().map(|t| t.data().to_vec()).collect();
        let cts = encrypt_images(&spec, &sk, &ctx, &pixels, engine.input_level())?;
        let pb = bar(
            opts.quiet,
            compiled.circuit.steps.len(),
            &format!("batch {}/{batches} ({} images)", bi + 1, chunk.len()),
        );
        let t = Instant::now();
        let (out, stats) = engine.run(cts, &|done, _| pb.set_position(done as u64))?;
        latency = latency.max(t.elapsed().as_secs_f64());
        pb.finish_and_clear();
        stats_total.bootstraps += stats.bootstraps;
        stats_total.seconds_linear += stats.seconds_linear;
        stats_total.seconds_activation += stats.seconds_activation;
        stats_total.seconds_bootstrap += stats.seconds_bootstrap;
        stats_total.rotations += stats.rotations;
        stats_total.diagonals += stats.diagonals;
        if stats_total.steps.is_empty() {
            stats_total.steps = stats.steps.clone();
        }
        let got = decrypt_scores(&spec, &sk, &ctx, &out, chunk.len())
            .with_context(|| format!("batch {} (test images {}..)", bi + 1, opts.offset + bi * batch))?;
        scores.extend(got);
    }
    let seconds_total = t_all.elapsed().as_secs_f64();
    let n = opts.images as f64;
    let frac = |f: &dyn Fn(usize) -> bool| (0..opts.images).filter(|&i| f(i)).count() as f64 / n;
    let enc_pred: Vec<usize> = scores.iter().map(|s| argmax(s)).collect();
    let sim_pred: Vec<usize> = sim.iter().map(|s| argmax(s)).collect();
    let max_logit_error =
        scores.iter().flatten().zip(sim.iter().flatten()).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    let plan = engine.plan();
    Ok(Report {
        model: opts.model.clone(),
        images: opts.images,
        offset: opts.offset,
        alpha: compiled.sign.alpha,
        sign_degrees: compiled.sign.degrees.clone(),
        alpha_search: compiled.alpha_search.clone(),
        accuracy: frac(&|i| enc_pred[i] == labels[i] as usize),
        exact_model_accuracy: frac(&|i| model_exact[i] == labels[i] as usize),
        simulator_accuracy: frac(&|i| sim_pred[i] == labels[i] as usize),
        agreement_with_simulator: frac(&|i| enc_pred[i] == sim_pred[i]),
        agreement_with_exact: frac(&|i| enc_pred[i] == model_exact[i]),
        max_logit_error,
        bootstraps: stats_total.bootstraps,
        depth,
        levels_plan: plan.lines(),
        batch,
        batches,
        seconds_total,
        seconds_per_image: seconds_total / n,
        latency_seconds: latency,
        seconds_linear: stats_total.seconds_linear,
        seconds_activation: stats_total.seconds_activation,
        seconds_bootstrap: stats_total.seconds_bootstrap,
        seconds_keygen,
        rotation_keys: steps.len(),
        key_bytes,
        linear_key_switches: stats_total.rotations / batches,
        diagonals_per_batch: stats_total.diagonals / batches,
        step_seconds: stats_total.steps,
        sign_evaluations_per_batch: compiled.circuit.sign_evaluations(),
        peak_rss_mb: peak_rss_mb(),
        params: params.name().to_string(),
        security_bits: params.security_bits().floor(),
    })
}

/// Human-readable summary.
pub fn print(r: &Report) {
    println!(
        "model {}: {} encrypted test images (from {}), α = {} {:?}",
        r.model, r.images, r.offset, r.alpha, r.sign_degrees
    );
    println!(
        "accuracy {:.2} % (exact model {:.2} %, simulator {:.2} %); agreement with simulator {:.2} %, with exact {:.2} %; max logit error {:.2e}",
        r.accuracy * 100.0,
        r.exact_model_accuracy * 100.0,
        r.simulator_accuracy * 100.0,
        r.agreement_with_simulator * 100.0,
        r.agreement_with_exact * 100.0,
        r.max_logit_error
    );
    println!(
        "{} batch(es) of ≤ {} images: {:.1} s total, {:.2} s per image, latency {:.1} s (linear {:.1} s, activations {:.1} s, bootstrap {:.1} s); keygen {:.1} s",
        r.batches, r.batch, r.seconds_total, r.seconds_per_image, r.latency_seconds, r.seconds_linear, r.seconds_activation, r.seconds_bootstrap, r.seconds_keygen
    );
    println!(
        "depth {}, {} bootstraps, {} rotation keys ({:.2} GB of keys), {} key switches in linear maps and {} sign evaluations per batch; params {} ({} bits); peak memory {:.0} MB",
        r.depth, r.bootstraps, r.rotation_keys, r.key_bytes as f64 / 1e9, r.linear_key_switches, r.sign_evaluations_per_batch, r.params, r.security_bits, r.peak_rss_mb
    );
    for (l, s) in r.levels_plan.iter().zip(&r.step_seconds) {
        println!("  {l:<40} {:>8.1} s (first batch)", s.3);
    }
}
