//! `hecnn`: encrypted CNN training and inference on CKKS, from the command line.

mod approx_relu;
mod bench_bootstrap;
mod bench_ckks;
mod client;
mod image_roles;
mod infer;
mod infer_roles;
mod roles;
mod simulate;
mod train;
mod train_images;

/// Large RNS buffers are allocated and freed constantly; mimalloc reuses
/// them instead of returning pages to the kernel and faulting them back.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

extern "C" {
    /// mimalloc's `mi_option_set` (mimalloc.h); linked with the allocator.
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// `mi_option_purge_delay` in mimalloc v3's `mi_option_e` (mimalloc.h).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

/// Keeps freed pages mapped: a ciphertext at N = 2^16 is tens of MB, and
/// mimalloc's default (purge after 10 ms) hands them back to the kernel only
/// to fault and zero them again on the next operation — 10 % of an encrypted
/// inference. Memory stays at the working set's peak instead.
/// `MIMALLOC_PURGE_DELAY` in the environment (milliseconds) overrides it.
fn keep_freed_pages() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: a plain option setter with no pointer arguments, called before
    // any thread is started.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}

use anyhow::{bail, Context as _, Result};
use clap::{Args, Parser, Subcommand};
use hecnn_approx::composite::{ALPHA_MAX, ALPHA_MIN};
use hecnn_ckks::{Parameters, Preset};
use hecnn_ml::mlr::client::Scaling;
use serde::Serialize;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "hecnn", version, about = "Homomorphically encrypted CNN training and inference (RNS-CKKS)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone, Debug, Default)]
struct DataArgs {
    /// Training features as CSV `label,f1,…,fd` (default: bundled MNIST through the frozen backbone).
    #[arg(long)]
    features_csv: Option<PathBuf>,
    /// Test features as CSV (with --features-csv).
    #[arg(long)]
    test_features_csv: Option<PathBuf>,
    /// Directory with the four MNIST IDX files (default: the bundled copy in data/mnist).
    #[arg(long)]
    mnist_dir: Option<PathBuf>,
}

impl DataArgs {
    fn options(&self) -> train::DataOptions {
        train::DataOptions {
            features_csv: self.features_csv.clone(),
            test_features_csv: self.test_features_csv.clone(),
            mnist_dir: self.mnist_dir.clone(),
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// The whole encrypted-training flow on the bundled MNIST data: 128 samples, 2 iterations.
    Demo {
        /// Training samples (the first N MNIST training images).
        #[arg(long, default_value_t = 128)]
        samples: usize,
        /// Encrypted iterations.
        #[arg(long, default_value_t = 2)]
        iterations: usize,
    },
    /// Client, server and client again in one process, with a plaintext reference.
    Train {
        /// Training samples.
        #[arg(long, default_value_t = 128)]
        samples: usize,
        /// Encrypted iterations.
        #[arg(long, default_value_t = 2)]
        iterations: usize,
        #[command(flatten)]
        data: DataArgs,
        /// Feature scaling: `max-abs` (each feature divided by its largest
        /// training magnitude, into [−1, 1]) or `none` (raw features, the
        /// paper's algorithm exactly).
        #[arg(long, default_value_t = Scaling::MaxAbs)]
        scaling: Scaling,
        /// Statistical security of the release's noise flooding (default 30).
        #[arg(long)]
        statistical_security: Option<u32>,
        /// Train from encrypted images: the server runs the frozen backbone
        /// on the ciphertexts (the client never runs it, the server never
        /// sees a feature), then trains on its encrypted output.
        #[arg(long)]
        from_images: bool,
        /// With --from-images: test images scored (default: all 10,000).
        #[arg(long)]
        test_images: Option<usize>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Client: generate the secret key and the evaluation keys into a directory.
    Keygen {
        /// Output directory (must be new or empty).
        #[arg(long)]
        out: PathBuf,
        /// Parameter preset (see `hecnn params`).
        #[arg(long, default_value = "training-2iter")]
        preset: String,
    },
    /// Client: features → encrypted upload directory for the server.
    Encrypt {
        /// Key directory made by `hecnn keygen`.
        #[arg(long)]
        keys: PathBuf,
        /// Upload directory to create.
        #[arg(long)]
        out: PathBuf,
        /// Training samples.
        #[arg(long, default_value_t = 128)]
        samples: usize,
        #[command(flatten)]
        data: DataArgs,
        /// Feature scaling: `max-abs` (the default) or `none` (raw features).
        #[arg(long, default_value_t = Scaling::MaxAbs)]
        scaling: Scaling,
    },
    /// Server: train on an upload directory (ciphertexts and evaluation keys only). With an upload of
    /// encrypted images (`encrypt-images --for-training`) it runs in two steps: first the backbone,
    /// repacking and statistics (`--out STATS`), then, with the client's reply from `precondition`,
    /// the training (`--features STATS --preconditioner REPLY --out MODEL`).
    TrainServer {
        /// Upload directory made by `hecnn encrypt` or `hecnn encrypt-images --for-training`.
        #[arg(long, required_unless_present = "publish_images")]
        upload: Option<PathBuf>,
        /// Directory for the encrypted model (or, for an image upload's first step, the statistics).
        #[arg(long, required_unless_present = "publish_images")]
        out: Option<PathBuf>,
        /// Encrypted iterations.
        #[arg(long, default_value_t = 2)]
        iterations: usize,
        /// Publish a job of training from encrypted images (spec and parameters) into this directory.
        #[arg(long, conflicts_with_all = ["upload", "out", "features", "preconditioner"])]
        publish_images: Option<PathBuf>,
        /// With --publish-images: the number of training images.
        #[arg(long, default_value_t = 128, requires = "publish_images")]
        samples: usize,
        /// With --publish-images: feature scaling (`max-abs` from public calibration images, or `none`).
        #[arg(long, default_value_t = Scaling::MaxAbs, requires = "publish_images")]
        scaling: Scaling,
        /// Image upload, second step: the first step's output directory.
        #[arg(long, requires = "preconditioner")]
        features: Option<PathBuf>,
        /// Image upload, second step: the client's reply from `hecnn precondition`.
        #[arg(long, requires = "features")]
        preconditioner: Option<PathBuf>,
    },
    /// Client of `hecnn-server`: upload, train, infer, follow, download the encrypted result.
    Client {
        /// The server, e.g. http://127.0.0.1:8080.
        #[arg(long, env = "HECNN_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
        /// File holding the tenant's bearer token (else HECNN_TOKEN).
        #[arg(long)]
        token_file: Option<PathBuf>,
        #[command(subcommand)]
        what: ClientCommand,
    },
    /// Client: turn the server's encrypted statistics into the encrypted preconditioner B̄ and the
    /// initial weights (training from encrypted images).
    Precondition {
        /// The client's key directory (from `encrypt-images --for-training`).
        #[arg(long)]
        keys: PathBuf,
        /// The server's first-step output (its `statistics/` is read).
        #[arg(long)]
        statistics: PathBuf,
        /// New reply directory for the server.
        #[arg(long)]
        out: PathBuf,
    },
    /// Client: decrypt the encrypted model into a weights JSON file.
    DecryptModel {
        /// Key directory.
        #[arg(long)]
        keys: PathBuf,
        /// Encrypted model directory.
        #[arg(long)]
        model: PathBuf,
        /// Weights JSON to write (created 0600; must not exist).
        #[arg(long)]
        out: PathBuf,
        /// Statistical security of the noise flooding, in bits (default 30,
        /// as OpenFHE; lower it only knowingly: see docs/security.md).
        #[arg(long, conflicts_with = "private")]
        statistical_security: Option<u32>,
        /// Full precision without flooding, for the client's own use only:
        /// the file is marked private and must not be published.
        #[arg(long)]
        private: bool,
    },
    /// Client: test accuracy of decrypted weights.
    Evaluate {
        /// Key directory (holds the client's feature scaler).
        #[arg(long)]
        keys: PathBuf,
        /// Weights JSON from `decrypt-model`.
        #[arg(long)]
        weights: PathBuf,
        #[command(flatten)]
        data: DataArgs,
        /// Print one JSON object (with the plaintext reference, when the model says its iterations).
        #[arg(long)]
        json: bool,
    },
    /// Polynomial approximations (composite minimax sign, ReLU, max).
    Approx {
        #[command(subcommand)]
        what: ApproxCommand,
    },
    /// List the parameter presets and their security.
    Params {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Approximation simulator: test accuracy of a pre-trained classifier with exact activations and
    /// with composite-polynomial ReLU and max-pool (plaintext, no encryption, no retraining).
    Simulate {
        /// ONNX model (or hecnn `.bin` model) taking [1, 1, 28, 28] and giving 10 scores (default: the bundled
        /// classifier).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Precision α: sign error ≤ 2^-α on [−1,−2^-α] ∪ [2^-α,1].
        #[arg(long, default_value_t = hecnn_nn::simulate::DEFAULT_ALPHA, conflicts_with = "alpha_sweep",
              value_parser = clap::value_parser!(u32).range(i64::from(ALPHA_MIN)..=i64::from(ALPHA_MAX)))]
        alpha: u32,
        /// Every α in 6..=16, one row (or JSON object) each.
        #[arg(long)]
        alpha_sweep: bool,
        /// Test images: the first N of the 10,000.
        #[arg(long, default_value_t = 10_000)]
        test_images: usize,
        /// Calibration images for the bounds: training images 10,000..10,000+N (never test images).
        #[arg(long, default_value_t = hecnn_nn::simulate::DEFAULT_CALIBRATION_IMAGES)]
        calibration_images: usize,
        /// Factor on the measured activation bounds.
        #[arg(long, default_value_t = simulate::DEFAULT_MARGIN)]
        margin: f64,
        /// Directory with the four MNIST IDX files (default: the bundled copy in data/mnist).
        #[arg(long)]
        mnist_dir: Option<PathBuf>,
        /// Print one JSON object per α, one per line.
        #[arg(long)]
        json: bool,
    },
    /// Encrypted CNN inference: encrypt MNIST test images, run a pre-trained CNN on the ciphertexts
    /// with evaluation keys only, decrypt the scores and compare with the exact model and the simulator.
    Infer {
        #[command(flatten)]
        model: ModelArgs,
        /// Test images.
        #[arg(long, default_value_t = 8)]
        images: usize,
        /// First test image.
        #[arg(long, default_value_t = 0)]
        offset: usize,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Directory with the four MNIST IDX files (default: the bundled copy in data/mnist).
        #[arg(long)]
        mnist_dir: Option<PathBuf>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Server: publish a model for encrypted inference (`--publish DIR`), or run it on a client's
    /// upload (`--upload DIR --out DIR`) with evaluation keys only.
    InferServer {
        #[command(flatten)]
        model: ModelArgs,
        /// Write spec.json and params.bin for clients into this new directory.
        #[arg(long, conflicts_with_all = ["upload", "out"])]
        publish: Option<PathBuf>,
        /// Upload directory made by `hecnn encrypt-images`.
        #[arg(long, requires = "out")]
        upload: Option<PathBuf>,
        /// Directory for the encrypted scores.
        #[arg(long, requires = "upload")]
        out: Option<PathBuf>,
    },
    /// Client: fresh keys and encrypted MNIST test images for a published model.
    EncryptImages {
        /// Directory published by `hecnn infer-server --publish`.
        #[arg(long)]
        spec: PathBuf,
        /// New directory for the client's keys (the secret key stays here).
        #[arg(long)]
        keys: PathBuf,
        /// New upload directory for the server.
        #[arg(long)]
        out: PathBuf,
        /// Test images.
        #[arg(long, default_value_t = 8)]
        images: usize,
        /// First test image.
        #[arg(long, default_value_t = 0)]
        offset: usize,
        /// Encrypt training images and labels for `train-server --publish-images`'s job
        /// (the spec says how many) instead of test images for inference.
        #[arg(long, conflicts_with_all = ["images", "offset"])]
        for_training: bool,
    },
    /// Client: decrypt and check the encrypted scores, print predictions and accuracy.
    DecryptScores {
        /// The client's key directory (from `hecnn encrypt-images`).
        #[arg(long)]
        keys: PathBuf,
        /// Result directory made by `hecnn infer-server`.
        #[arg(long)]
        result: PathBuf,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
}

/// The model and how the server compiles it (the same at publish and at inference).
#[derive(Args, Clone, Debug)]
struct ModelArgs {
    /// `bundled` (the bundled classifier), `residual` (the bundled residual network) or an ONNX /
    /// hecnn `.bin` model taking [1, 28, 28] images.
    #[arg(long, default_value = "bundled")]
    model: String,
    /// Precision α (default: the smallest that keeps 99.5 % of the validation predictions).
    #[arg(long, value_parser = clap::value_parser!(u32).range(i64::from(ALPHA_MIN)..=i64::from(ALPHA_MAX)))]
    alpha: Option<u32>,
    /// Images per ciphertext, a power of two (default: as many as fit, 32 for 28×28 at N = 2^16).
    #[arg(long)]
    batch: Option<usize>,
    /// Calibration images (training images from 10,000).
    #[arg(long, default_value_t = 2000)]
    calibration_images: usize,
    /// Validation images for choosing α (training images from 30,000).
    #[arg(long, default_value_t = 1000)]
    validation_images: usize,
    /// Parameter chain (`auto` or `bootstrappable`).
    #[arg(long, value_enum, default_value_t = infer::Chain::Auto)]
    chain: infer::Chain,
}

impl ModelArgs {
    fn options(self) -> infer::Options {
        infer::Options {
            model: self.model,
            images: 0,
            offset: 0,
            alpha: self.alpha,
            calibration_images: self.calibration_images,
            validation_images: self.validation_images,
            batch: self.batch,
            mnist_dir: None,
            quiet: false,
            chain: self.chain,
        }
    }
}

#[derive(Subcommand)]
enum ClientCommand {
    /// The client's keys, made locally (as `hecnn keygen`; nothing is sent).
    Keygen {
        /// Output directory (must be new or empty).
        #[arg(long)]
        out: PathBuf,
        /// Parameter preset (see `hecnn params`).
        #[arg(long, default_value = "training-2iter")]
        preset: String,
    },
    /// Decrypt a downloaded result locally: an encrypted model (as `hecnn decrypt-model`, into
    /// --out) or encrypted scores (as `hecnn decrypt-scores`).
    Decrypt {
        /// The client's key directory.
        #[arg(long)]
        keys: PathBuf,
        /// The downloaded result directory (`client download`).
        #[arg(long)]
        result: PathBuf,
        /// Weights JSON to write, for a model (created 0600; must not exist).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Statistical security of the noise flooding, in bits (models; default 30).
        #[arg(long, conflicts_with = "private")]
        statistical_security: Option<u32>,
        /// Exact weights, for the client's own use only (models).
        #[arg(long)]
        private: bool,
    },
    /// Upload the files of an upload directory (`hecnn encrypt`) and make them a dataset.
    Upload {
        /// The upload directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Queue a training job on a dataset, or on an upload directory uploaded first.
    Train {
        /// Dataset id (from `client upload`).
        #[arg(long, required_unless_present = "dir", conflicts_with = "dir")]
        dataset: Option<i64>,
        /// Upload directory (`hecnn encrypt`) to upload and make a dataset first.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Encrypted iterations.
        #[arg(long, default_value_t = 2)]
        iterations: usize,
        /// Follow the job with a progress bar until it ends.
        #[arg(long)]
        wait: bool,
        /// Wait for the job and download the encrypted model into this new directory.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Encrypted inference on MNIST test images with a model the server serves: fresh keys,
    /// encrypted images, upload, job; with --out, wait and download the encrypted scores
    /// (then `hecnn decrypt-scores --keys KEYS --result OUT`).
    Infer {
        /// Model served by the server (`GET /v1/models`).
        #[arg(long, default_value = "bundled")]
        model: String,
        /// New directory for the client's keys (the secret key stays here).
        #[arg(long)]
        keys: PathBuf,
        /// New directory for the upload (evaluation keys and encrypted images).
        #[arg(long)]
        upload: PathBuf,
        /// Test images.
        #[arg(long, default_value_t = 8)]
        images: usize,
        /// First test image.
        #[arg(long, default_value_t = 0)]
        offset: usize,
        /// Wait for the job and download the encrypted scores into this new directory.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// A job's state and progress (JSON).
    Status {
        /// Job id.
        #[arg(long)]
        job: i64,
    },
    /// Download a finished job's encrypted model or scores (then `hecnn decrypt-model` or
    /// `hecnn decrypt-scores`).
    Download {
        /// Job id.
        #[arg(long)]
        job: i64,
        /// New directory for the model.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum ApproxCommand {
    /// The composite minimax sign approximation for precision α: degrees, depth, multiplications,
    /// and the max error measured on 10^6 points of [−1,−ε] ∪ [ε,1].
    Sign {
        /// Target error 2^-α (4..=20).
        #[arg(long)]
        alpha: u32,
        /// Input gap ε = 2^-eps_bits (default: α, what ReLU to 2^-α needs).
        #[arg(long)]
        eps_bits: Option<u32>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// The composite ReLU x·(1+sgn x)/2 for precision α: plaintext error, and with --encrypted
    /// the same polynomial on one full ciphertext (levels, time, precision).
    Relu {
        /// Target error 2^-α (4..=20).
        #[arg(long)]
        alpha: u32,
        /// Input gap ε = 2^-eps_bits (default: α).
        #[arg(long)]
        eps_bits: Option<u32>,
        /// Also run it on a ciphertext.
        #[arg(long)]
        encrypted: bool,
        /// Parameter preset for --encrypted (needs depth ≥ the ReLU's; see `hecnn params`).
        #[arg(long, default_value = "deep")]
        preset: String,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// The degree table for α = 4..20 (ε = 2^-α).
    Table {
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// One bootstrap on the `bootstrappable` preset (N=2^16, 128-bit): time, precision, levels
    /// left, key size.
    Bootstrap {
        /// Slot count (power of two; default N/2 = 32768).
        #[arg(long)]
        slots: Option<usize>,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Bootstraps to time (median reported).
        #[arg(long, default_value_t = 1)]
        reps: usize,
        /// Two real vectors per bootstrap (`a + i·b`, split by one conjugation).
        #[arg(long)]
        real_pair: bool,
        /// SlotsToCoeffs first: the input at level 3 goes through
        /// SlotsToCoeffs at the bottom of the chain, the output comes out at
        /// level 14 (the same 11 levels for computation).
        #[arg(long)]
        stc_first: bool,
        /// Bootstrap as real values (`Bootstrapper::bootstrap_real`; the inputs are real):
        /// with --stc-first one EvalMod instead of two.
        #[arg(long, conflicts_with = "real_pair")]
        real: bool,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// CKKS primitives at the top level with full slots.
    Ckks {
        /// Preset name (see `hecnn params`).
        #[arg(long, default_value = "light")]
        preset: String,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Repetitions per timed operation (median reported).
        #[arg(long, default_value_t = 5)]
        reps: usize,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Serialize)]
struct PresetRow {
    name: &'static str,
    purpose: &'static str,
    n: usize,
    log_qp: f64,
    levels: usize,
    log_scale: u32,
    dnum: usize,
    special_primes: usize,
    security_bits: f64,
}

fn preset_rows() -> Vec<PresetRow> {
    Preset::ALL
        .iter()
        .map(|&p| {
            let q: Parameters = p.params();
            PresetRow {
                name: p.name(),
                purpose: p.purpose(),
                n: q.n(),
                log_qp: (q.log_qp() * 10.0).round() / 10.0,
                levels: q.max_level(),
                log_scale: q.log_scale(),
                dnum: q.dnum(),
                special_primes: q.p().len(),
                security_bits: q.security_bits().floor(),
            }
        })
        .collect()
}

fn with_threads<T: Send>(threads: Option<usize>, f: impl FnOnce() -> T + Send) -> Result<T> {
    match threads {
        Some(t) => {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(t.max(1)).build().context("thread pool")?;
            Ok(pool.install(f))
        }
        None => Ok(f()),
    }
}

/// Runs a measurement on `threads` workers (stage lines on stderr unless
/// `json`) and prints its report as one JSON object or as text.
fn measure<R: Serialize + Send>(
    threads: Option<usize>,
    json: bool,
    run: impl FnOnce(&dyn Fn(&str)) -> Result<R> + Send,
    print: fn(&R),
) -> Result<()> {
    let report = with_threads(threads, move || {
        run(&|stage| {
            if !json {
                eprintln!("… {stage}");
            }
        })
    })??;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print(&report);
    }
    Ok(())
}

/// `ε = 2^-eps_bits`, defaulting to `2^-α`.
fn eps_of(alpha: u32, eps_bits: Option<u32>) -> Result<f64> {
    let bits = eps_bits.unwrap_or(alpha);
    if bits > 52 {
        anyhow::bail!("--eps-bits {bits}: at most 52");
    }
    Ok((-(bits as f64)).exp2())
}

/// Every user error (bad flag value, missing or refused file, malformed
/// input) is one line on stderr — the message and its causes joined by ": "
/// — and exit code 1, whatever `RUST_BACKTRACE` says. (clap's own usage
/// errors keep clap's format and exit code 2.)
fn main() {
    keep_freed_pages();
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {}", one_line(&e));
        std::process::exit(1);
    }
}

/// The error and its causes joined by ": ", skipping a cause whose text the
/// line already holds (typed errors often print their source themselves).
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string().replace('\n', " ");
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo { samples, iterations } => {
            let report =
                train::run(samples, iterations, &train::DataOptions::default(), Scaling::default(), None, false)?;
            train::print(&report);
        }
        Command::Train { samples, iterations, data, scaling, from_images: true, test_images, json, .. } => {
            let report = train_images::run(samples, iterations, &data.options(), scaling, test_images, json)?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                train_images::print(&report);
            }
        }
        Command::Train { test_images: Some(_), .. } => bail!("--test-images goes with --from-images"),
        Command::Train { samples, iterations, data, scaling, statistical_security, json, .. } => {
            let report = train::run(samples, iterations, &data.options(), scaling, statistical_security, json)?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                train::print(&report);
            }
        }
        Command::Keygen { out, preset } => roles::keygen(&out, &preset, false)?,
        Command::Encrypt { keys, out, samples, data, scaling } => {
            roles::encrypt(&keys, &out, samples, &data.options(), scaling, false)?
        }
        Command::TrainServer { publish_images: Some(dir), samples, scaling, .. } => {
            image_roles::publish(&dir, samples, scaling, false)?
        }
        Command::TrainServer { upload: Some(up), out: Some(out), iterations, features, preconditioner, .. } => {
            match (image_roles::is_image_upload(&up), features, preconditioner) {
                (true, None, None) => image_roles::features(&up, &out, iterations, false)?,
                (true, Some(f), Some(p)) => image_roles::train(&up, &f, &p, &out, iterations, false)?,
                (false, None, None) => roles::train_server(&up, &out, iterations, false)?,
                (false, _, _) => bail!("--features and --preconditioner go with an upload of encrypted images"),
                (true, _, _) => bail!("give both --features and --preconditioner, or neither"),
            }
        }
        Command::TrainServer { .. } => bail!("give --upload and --out, or --publish-images"),
        Command::Client { server, token_file, what } => {
            // Keys and decryption stay local: no token, no server.
            let connect = || client::Connection::new(&server, token_file.as_deref());
            match what {
                ClientCommand::Keygen { out, preset } => roles::keygen(&out, &preset, false)?,
                ClientCommand::Decrypt { keys, result, out, statistical_security, private } => {
                    if hecnn_ml::cnn::roles::is_inference_result(&result) {
                        print_scores(&infer_roles::decrypt_scores(&keys, &result)?, false)?;
                    } else {
                        let out = out.context("--out: where to write the decrypted weights")?;
                        decrypt_model(&keys, &result, &out, statistical_security, private)?;
                    }
                }
                ClientCommand::Upload { dir } => {
                    client::upload(&connect()?, &dir, false)?;
                }
                ClientCommand::Train { dataset, dir, iterations, wait, out } => {
                    let c = connect()?;
                    let dataset = match (dataset, dir) {
                        (Some(d), _) => d,
                        (None, Some(dir)) => client::upload(&c, &dir, false)?,
                        (None, None) => bail!("give --dataset or --dir"),
                    };
                    let job = client::train(&c, dataset, iterations, wait || out.is_some(), false)?;
                    if let Some(out) = out {
                        client::download(&c, job, &out)?;
                    }
                }
                ClientCommand::Infer { model, keys, upload, images, offset, out } => {
                    client::infer(&connect()?, &model, (&keys, &upload, out.as_deref()), (images, offset))?;
                }
                ClientCommand::Status { job } => {
                    println!("{}", serde_json::to_string_pretty(&client::status(&connect()?, job)?)?)
                }
                ClientCommand::Download { job, out } => client::download(&connect()?, job, &out)?,
            }
        }
        Command::Precondition { keys, statistics, out } => image_roles::precondition(&keys, &statistics, &out)?,
        Command::DecryptModel { keys, model, out, statistical_security, private } => {
            decrypt_model(&keys, &model, &out, statistical_security, private)?
        }
        Command::Evaluate { keys, weights, data, json } => {
            let report = roles::evaluate(&keys, &weights, &data.options(), json)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                roles::print_evaluation(&report);
            }
        }
        Command::Approx { what: ApproxCommand::Relu { alpha, eps_bits, encrypted, preset, threads, json } } => {
            let eps = eps_of(alpha, eps_bits)?;
            let preset = encrypted.then_some(preset);
            measure(threads, json, move |p| approx_relu::run(alpha, eps, preset.as_deref(), p), approx_relu::print)?;
        }
        Command::Approx { what: ApproxCommand::Sign { alpha, eps_bits, json } } => {
            let bits = eps_bits.unwrap_or(alpha);
            let eps = eps_of(alpha, eps_bits)?;
            let row = hecnn_approx::sign_row(alpha, eps, 1_000_000)?;
            if json {
                println!("{}", serde_json::to_string(&row)?);
            } else {
                println!(
                    "sign on [-1,-2^-{bits}] ∪ [2^-{bits},1] to 2^-{alpha}: degrees {:?}, depth {}, {} non-scalar mults, measured max error {:.3e} (bound {:.3e})",
                    row.degrees, row.depth, row.nonscalar_mults, row.max_error, (-(alpha as f64)).exp2()
                );
            }
        }
        Command::Approx { what: ApproxCommand::Table { json } } => {
            let rows = hecnn_approx::sign_table()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!("{:>3} {:>10} {:<28} {:>5} {:>6} {:>11}", "α", "ε", "degrees", "depth", "mults", "max error");
                for r in rows {
                    let degrees = r.degrees.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("∘");
                    println!(
                        "{:>3} {:>10.3e} {:<28} {:>5} {:>6} {:>11.3e}",
                        r.alpha, r.eps, degrees, r.depth, r.nonscalar_mults, r.max_error
                    );
                }
            }
        }
        Command::Simulate { model, alpha, alpha_sweep, test_images, calibration_images, margin, mnist_dir, json } => {
            let alphas = if alpha_sweep { hecnn_nn::simulate::SWEEP_ALPHAS.collect() } else { vec![alpha] };
            let opts =
                simulate::Options { model, alphas, test_images, calibration_images, margin, mnist_dir, quiet: json };
            if !json {
                simulate::print_header();
            }
            simulate::run(&opts, &mut |row| {
                if json {
                    println!("{}", serde_json::to_string(row)?);
                } else {
                    simulate::print_row(row);
                }
                Ok(())
            })?;
        }
        Command::Infer { model, images, offset, threads, mnist_dir, json } => {
            let opts = infer::Options { images, offset, mnist_dir, quiet: json, ..model.options() };
            let report = with_threads(threads, || infer::run(&opts))??;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                infer::print(&report);
            }
        }
        Command::InferServer { model, publish, upload, out } => match (publish, upload, out) {
            (Some(dir), None, None) => infer_roles::publish(&model.options(), &dir)?,
            (None, Some(up), Some(out)) => infer_roles::serve(&model.options(), &up, &out)?,
            _ => anyhow::bail!("give --publish DIR, or --upload DIR and --out DIR"),
        },
        Command::EncryptImages { spec, keys, out, for_training: true, .. } => {
            image_roles::encrypt(&spec, &keys, &out, false)?
        }
        Command::EncryptImages { spec, keys, out, images, offset, .. } => {
            infer_roles::encrypt_images(&spec, &keys, &out, images, offset, false)?
        }
        Command::DecryptScores { keys, result, json } => {
            print_scores(&infer_roles::decrypt_scores(&keys, &result)?, json)?
        }
        Command::Params { json } => {
            let rows = preset_rows();
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!(
                    "{:<15} {:>7} {:>8} {:>7} {:>6} {:>5} {:>4} {:>9}  purpose",
                    "name", "N", "log2 QP", "levels", "log Δ", "dnum", "P", "security"
                );
                for r in rows {
                    println!(
                        "{:<15} {:>7} {:>8.1} {:>7} {:>6} {:>5} {:>4} {:>8}b  {}",
                        r.name,
                        r.n,
                        r.log_qp,
                        r.levels,
                        r.log_scale,
                        r.dnum,
                        r.special_primes,
                        r.security_bits,
                        r.purpose
                    );
                }
            }
        }
        Command::Bench { what: BenchCommand::Bootstrap { slots, threads, reps, real_pair, stc_first, real, json } } => {
            let run = move |p: &dyn Fn(&str)| bench_bootstrap::run(slots, reps, real_pair, stc_first, real, p);
            measure(threads, json, run, bench_bootstrap::print)?;
        }
        Command::Bench { what: BenchCommand::Ckks { preset, threads, reps, json } } => {
            let params = Preset::from_name(&preset)?.params();
            measure(threads, json, move |p| bench_ckks::run(params, reps, p), bench_ckks::print)?;
        }
    }
    Ok(())
}

/// `decrypt-model`: a features job's model or an image job's.
fn decrypt_model(
    keys: &std::path::Path,
    model: &std::path::Path,
    out: &std::path::Path,
    statistical_security: Option<u32>,
    private: bool,
) -> Result<()> {
    let output = if private { roles::Output::Private } else { roles::Output::Release(statistical_security) };
    if image_roles::is_image_client(keys) {
        image_roles::decrypt_model(keys, model, out, output)
    } else {
        roles::decrypt_model(keys, model, out, output, false)
    }
}

/// `decrypt-scores`' report, as text or JSON.
fn print_scores(r: &infer_roles::ScoresReport, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(r)?);
    } else {
        println!(
            "test images {}..{}: predictions {:?}; accuracy {:.2} %",
            r.offset,
            r.offset + r.images,
            r.predictions,
            r.accuracy * 100.0
        );
    }
    Ok(())
}
