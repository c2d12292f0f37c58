//! `hecnn simulate`: accuracy of a pre-trained classifier on the MNIST test
//! set with exact activations and with the composite polynomial ones.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use hecnn_approx::composite::{default_eps, search};
use hecnn_nn::backbone::bundled_classifier;
use hecnn_nn::features::image_tensors;
use hecnn_nn::mnist::{bundled_mnist_dir, Mnist, SIDE};
use hecnn_nn::model::{Model, MAGIC};
use hecnn_nn::onnx::MAX_ONNX_BYTES;
use hecnn_nn::simulate::{accuracy, Simulator, BOUND_MARGIN, CALIBRATION_START};
use serde::Serialize;

/// What to simulate.
pub struct Options {
    /// ONNX (or hecnn `.bin`) model; `None` = the bundled classifier.
    pub model: Option<PathBuf>,
    /// The α values to run.
    pub alphas: Vec<u32>,
    /// Test images (the first N of the test set).
    pub test_images: usize,
    /// Calibration images (training images from [`CALIBRATION_START`]).
    pub calibration_images: usize,
    /// Factor on the measured bounds.
    pub margin: f64,
    /// MNIST directory; `None` = the bundled copy.
    pub mnist_dir: Option<PathBuf>,
    /// No progress bars.
    pub quiet: bool,
}

/// One α of the report (one JSON object).
#[derive(Serialize, Debug)]
pub struct Row {
    /// Precision: sign error ≤ 2^-α on [−1,−ε] ∪ [ε,1].
    pub alpha: u32,
    /// The gap ε = 2^-α.
    pub eps: f64,
    /// Composite stage degrees.
    pub degrees: Vec<usize>,
    /// Multiplicative depth of one sign evaluation.
    pub depth: u32,
    /// Non-scalar multiplications of one sign evaluation.
    pub nonscalar_mults: u32,
    /// Test images evaluated.
    pub images: usize,
    /// Accuracy with exact ReLU and max (fraction in [0, 1]).
    pub exact_accuracy: f64,
    /// Accuracy with the polynomial ReLU and max (fraction in [0, 1]).
    pub approx_accuracy: f64,
    /// exact − approx, in percentage points.
    pub loss_points: f64,
    /// Sign arguments with |x/B| > 1 over all test images.
    pub out_of_range: u64,
    /// Test images with at least one out-of-range argument.
    pub out_of_range_images: usize,
    /// Sign evaluations over all test images.
    pub sign_evaluations: u64,
    /// Seconds for this α's approximate run.
    pub seconds: f64,
}

pub fn load_model(path: Option<&Path>) -> Result<Model> {
    let Some(path) = path else {
        return bundled_classifier().context("bundled classifier");
    };
    let head = {
        use std::io::Read;
        let mut buf = Vec::with_capacity(MAGIC.len());
        let f = hecnn_nn::input::open_regular(path).with_context(|| format!("{}", path.display()))?;
        f.take(MAGIC.len() as u64).read_to_end(&mut buf).with_context(|| format!("{}", path.display()))?;
        buf
    };
    if head == MAGIC {
        // Same size limit as ONNX files: never read an unbounded file into memory.
        use std::io::Read;
        let mut bytes = Vec::new();
        let f = hecnn_nn::input::open_regular(path).with_context(|| format!("{}", path.display()))?;
        f.take(MAX_ONNX_BYTES as u64 + 1).read_to_end(&mut bytes).with_context(|| format!("{}", path.display()))?;
        if bytes.len() > MAX_ONNX_BYTES {
            bail!("{}: larger than {MAX_ONNX_BYTES} bytes", path.display());
        }
        return Model::from_bytes(&bytes).with_context(|| format!("{}", path.display()));
    }
    hecnn_nn::onnx::import_onnx(path).with_context(|| format!("{}", path.display()))
}

/// Runs the simulation; `emit` gets each α's row as soon as it is done.
pub fn run(opts: &Options, emit: &mut dyn FnMut(&Row) -> Result<()>) -> Result<()> {
    let model = load_model(opts.model.as_deref())?;
    let want = [1, SIDE, SIDE];
    if model.input_shape() != want {
        bail!("the model expects input {:?}; MNIST images are {want:?}", model.input_shape());
    }
    let outputs: usize = model.output_shape().iter().product();
    if outputs != 10 {
        bail!("the model outputs {outputs} values ({:?}); MNIST needs 10 class scores", model.output_shape());
    }
    if opts.test_images == 0 || opts.calibration_images == 0 {
        bail!("--test-images and --calibration-images must be at least 1");
    }
    let dir = opts.mnist_dir.clone().unwrap_or_else(bundled_mnist_dir);
    let mnist = Mnist::load_dir(&dir).with_context(|| format!("MNIST in {}", dir.display()))?;
    let calib_end = CALIBRATION_START + opts.calibration_images;
    if calib_end > mnist.train_images.len() {
        bail!(
            "--calibration-images {}: only {} training images from index {CALIBRATION_START}",
            opts.calibration_images,
            mnist.train_images.len().saturating_sub(CALIBRATION_START)
        );
    }
    let n = opts.test_images.min(mnist.test_images.len());
    let test = image_tensors::<f64>(&mnist.test_images.slice(0..n));
    let labels = &mnist.test_labels[..n];
    let calib = image_tensors::<f64>(&mnist.train_images.slice(CALIBRATION_START..calib_end));

    let sim = Simulator::calibrate(&model, &calib, opts.margin)?;
    let pb = crate::infer::bar(opts.quiet, n, "exact");
    let exact = accuracy(&sim.run_exact(&test, &|| pb.inc(1))?, labels)?;
    pb.finish_and_clear();
    if !opts.quiet {
        eprintln!("bounds (margin {}, calibration on training images {CALIBRATION_START}..{calib_end}):", opts.margin);
        for s in sim.sites() {
            eprintln!("  node {:>2} {:?}: observed {:.4}, B = {:.4}", s.node, s.kind, s.observed, s.bound);
        }
    }
    for &alpha in &opts.alphas {
        let sign = search(alpha, default_eps(alpha))?;
        let pb = crate::infer::bar(opts.quiet, n, &format!("α = {alpha} {:?}", sign.degrees));
        let t = Instant::now();
        let run = sim.run_approx(&|x| sign.eval(x), &test, &|| pb.inc(1))?;
        let seconds = t.elapsed().as_secs_f64();
        pb.finish_and_clear();
        let approx = accuracy(&run.outputs, labels)?;
        emit(&Row {
            alpha,
            eps: sign.eps,
            degrees: sign.degrees.clone(),
            depth: sign.depth,
            nonscalar_mults: sign.nonscalar_mults,
            images: n,
            exact_accuracy: exact,
            approx_accuracy: approx,
            loss_points: ((exact - approx) * 100.0 * 1e9).round() / 1e9,
            out_of_range: run.total_out_of_range(),
            out_of_range_images: run.images_out_of_range(),
            sign_evaluations: run.sign_evaluations,
            seconds: (seconds * 1e3).round() / 1e3,
        })?;
    }
    Ok(())
}

/// Default margin, re-exported for the CLI's help text.
pub const DEFAULT_MARGIN: f64 = BOUND_MARGIN;

/// Header of the human-readable table.
pub fn print_header() {
    println!(
        "{:>3} {:<22} {:>5} {:>8} {:>8} {:>7} {:>12} {:>8}",
        "α", "degrees", "depth", "exact %", "approx %", "loss", "out-of-range", "seconds"
    );
}

/// One row of the human-readable table.
pub fn print_row(r: &Row) {
    let degrees = r.degrees.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("∘");
    println!(
        "{:>3} {:<22} {:>5} {:>8.2} {:>8.2} {:>7.2} {:>12} {:>8.1}",
        r.alpha,
        degrees,
        r.depth,
        r.exact_accuracy * 100.0,
        r.approx_accuracy * 100.0,
        r.loss_points,
        r.out_of_range,
        r.seconds
    );
}
