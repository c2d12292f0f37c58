//! `hecnn train --from-images`: encrypted transfer learning from encrypted
//! images, all roles in one process. The client encrypts its MNIST images
//! and labels; the server runs the frozen backbone on the ciphertexts,
//! repacks, computes the preconditioner's statistics, trains with
//! bootstrapping; the client turns the statistics into `B̄` (the one extra
//! round trip) and decrypts the checked model. Next to it: the plaintext
//! pipeline reference (the same composite polynomials in f64) and today's
//! client-side-features result on the same samples.

use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use hecnn_ckks::circuits::{BootstrapConfig, BootstrapKeys};
use hecnn_ckks::{Ciphertext, Context, EvaluationKeySet, Preset, RelinKey, SecretKey, SeededCiphertext};
use hecnn_ml::mlr::client::{training_galois_keys, ModelExpectation, TrainingClient};
use hecnn_ml::mlr::prep::{Scaling, DEFAULT_INIT};
use hecnn_ml::mlr::server::{TrainProgress, TrainingServer};
use hecnn_ml::packing::Layout;
use hecnn_ml::transfer::client::ImageTrainingClient;
use hecnn_ml::transfer::server::{FeatureStats, ImageTrainingServer};
use hecnn_ml::transfer::{reference, ImageJob, JobOptions, DEFAULT_ALPHA};
use hecnn_nn::features::image_tensors;
use hecnn_nn::mnist::{bundled_mnist_dir, Mnist};
use hecnn_nn::simulate::CALIBRATION_START;
use serde::Serialize;

use crate::infer::{bar, DEFAULT_BATCH};
use crate::train::{max_weight_error, peak_rss_mb, reference_run, spinner, DataOptions, Split, CLASSES};

/// Public calibration images for the scaling bounds and the activation
/// ranges (training images from 10,000: the backbone's own training data,
/// never the client's first 10,000 nor the test set).
pub const CALIBRATION_IMAGES: usize = 1000;

/// The JSON report.
#[derive(Debug, Serialize)]
pub struct ImageTrainReport {
    pub samples: usize,
    pub iterations: usize,
    pub features: usize,
    pub scaling: Scaling,
    pub alpha: u32,
    pub sign_degrees: Vec<usize>,
    pub params: String,
    pub n: usize,
    pub security_bits: f64,
    pub layout: Layout,
    pub batch: usize,
    pub batches: usize,
    /// Levels the backbone (with its feature map) consumes without bootstrapping.
    pub backbone_depth: usize,
    /// Test images scored.
    pub test_images: usize,
    /// Accuracy on the test set of the decrypted model, on the features the
    /// encrypted backbone computes (the composite polynomials, in f64).
    pub test_accuracy: f64,
    /// The same model on the exact backbone's features (same scaling).
    pub test_accuracy_exact_features: f64,
    /// The pipeline reference's model on the same test features.
    pub reference_accuracy: f64,
    /// Today's client-side-features training (exact features, the client's
    /// own scaling), plaintext reference, same samples and iterations.
    pub client_side_features_accuracy: f64,
    pub train_accuracy: f64,
    /// max |decrypted − pipeline reference| over W.
    pub max_weight_error: f64,
    pub keygen_seconds: f64,
    pub encrypt_seconds: f64,
    pub feature_stages: FeatureStats,
    /// Server seconds from images to training blocks, per image.
    pub feature_seconds_per_image: f64,
    pub statistics_seconds: f64,
    pub train_seconds: f64,
    /// Bootstraps of W and V in training, and their seconds.
    pub training_bootstraps: usize,
    pub training_bootstrap_seconds: f64,
    /// Everything the server does, start to end.
    pub server_seconds: f64,
    pub total_seconds: f64,
    pub rotation_keys: usize,
    pub upload_key_bytes: u64,
    /// Images, labels, `B̄` and initial weights, as they travel (seeded).
    pub upload_ciphertext_bytes: u64,
    pub uploaded_ciphertexts: usize,
    pub peak_rss_mb: f64,
}

/// Runs client, server, client, server and client again in one process.
pub fn run(
    samples: usize,
    iterations: usize,
    data: &DataOptions,
    scaling: Scaling,
    test_images: Option<usize>,
    quiet: bool,
) -> Result<ImageTrainReport> {
    let total = Instant::now();
    if iterations == 0 {
        bail!("--iterations must be at least 1");
    }
    if samples == 0 || samples > 10_000 {
        bail!("--samples must be in 1..=10000 (the private subsets come from the first 10,000 training images)");
    }
    if data.features_csv.is_some() || data.test_features_csv.is_some() {
        bail!("--from-images trains on MNIST images; --features-csv and --test-features-csv do not apply");
    }
    let dir = data.mnist_dir.clone().unwrap_or_else(bundled_mnist_dir);
    let mnist = Mnist::load_dir(&dir).with_context(|| format!("MNIST in {}", dir.display()))?;
    let tests = test_images.unwrap_or(mnist.test_images.len()).min(mnist.test_images.len());

    // Server side, public: the backbone compiled on public calibration images.
    let sp = spinner(quiet, "server: compiling the backbone (calibration on public images)");
    let calibration =
        image_tensors::<f64>(&mnist.train_images.slice(CALIBRATION_START..CALIBRATION_START + CALIBRATION_IMAGES));
    let backbone = hecnn_nn::backbone::bundled_backbone()?;
    let params = Preset::Bootstrappable.params();
    let ctx = Context::new(params.clone())?;
    let slots = ctx.n() / 2;
    let opts = JobOptions { slots, batch: DEFAULT_BATCH, alpha: DEFAULT_ALPHA, scaling, samples, classes: CLASSES };
    let job = ImageJob::plan(&backbone, &calibration, &opts)?;
    let d = job.features();
    let layout = job.layout;
    sp.finish_and_clear();

    // Client: keys, then the images and labels.
    let sp = spinner(quiet, "client: keys (rotations, bootstrapping at full and packed slots)");
    let t = Instant::now();
    let sk = SecretKey::generate(&ctx);
    let steps = job.rotation_steps(true);
    let gk = training_galois_keys(&sk, &steps);
    let packed = hecnn_ml::mlr::refresh::packed_slots(&layout, hecnn_ml::mlr::setup::state_blocks(&layout, d));
    let boot = BootstrapKeys::generate(&sk, &BootstrapConfig::default(), &[slots, packed])?;
    let keys = EvaluationKeySet::new(&ctx, RelinKey::generate(&sk), gk, Some(boot))?;
    let keygen_seconds = t.elapsed().as_secs_f64();
    let upload_key_bytes = keys.relin().serialized_len(&ctx)
        + keys.galois().serialized_len(&ctx)
        + keys.bootstrap().map_or(0, |b| b.serialized_len(&ctx));
    sp.set_message("client: encrypting images");
    let t = Instant::now();
    let client = ImageTrainingClient::new(&sk);
    let server = ImageTrainingServer::new(&job.model, &keys, &job.repack)?;
    let train_images = image_tensors::<f64>(&mnist.train_images.slice(0..samples));
    let pixels: Vec<Vec<f64>> = train_images.iter().map(|t| t.data().to_vec()).collect();
    let labels = mnist.train_labels[..samples].to_vec();
    let up_images = client.encrypt_images(&job.model.spec(), &pixels, server.input_level())?;
    let mut encrypt_seconds = t.elapsed().as_secs_f64();
    sp.finish_and_clear();
    let mut upload = UploadCount::new(sk.key_set());
    for (b, batch) in up_images.iter().enumerate() {
        for (i, c) in batch.iter().enumerate() {
            upload.add(&ctx, &format!("image/{b}/{i}"), c)?;
        }
    }
    if !quiet {
        eprintln!(
            "backbone: α = {} {:?}, depth {} with the feature map; {} batch(es) of {}; layout {}×{}×{}; {} rotation keys",
            job.model.sign.alpha,
            job.model.sign.degrees,
            job.model.depth(),
            up_images.len(),
            DEFAULT_BATCH,
            layout.samples_per_block,
            layout.features_per_block,
            layout.class_slots,
            steps.len()
        );
    }

    // Server: backbone, refresh, repacking, statistics.
    let t_server = Instant::now();
    let batches: Vec<Vec<Ciphertext>> = up_images
        .iter()
        .map(|b| b.iter().map(|c| c.expand(&ctx)).collect::<Result<_, _>>())
        .collect::<Result<_, _>>()?;
    drop(up_images);
    let pb = bar(quiet, batches.len(), "server: backbone on encrypted images");
    let (x, features) = server.features(batches, iterations, &|done, _| pb.set_position(done as u64))?;
    pb.finish_and_clear();
    let t = Instant::now();
    let sp = spinner(quiet, "server: the preconditioner's statistics");
    let (stats, x) = server.statistics(x)?;
    let statistics_seconds = t.elapsed().as_secs_f64();
    sp.finish_and_clear();
    let mut server_seconds = t_server.elapsed().as_secs_f64();

    // Client: B̄ from the aggregates; B̄, labels and initial weights encrypted.
    let t = Instant::now();
    let bbar = client.preconditioner(&stats, layout, d, CLASSES)?;
    let level = x[0][0].level();
    let up_bbar = client.encrypt_preconditioner(&bbar, layout, CLASSES, level)?;
    let init = vec![vec![DEFAULT_INIT; d]; CLASSES];
    let (up_labels, up_weights) = client.encrypt_labels_and_weights(&labels, &init, layout, level - 1)?;
    encrypt_seconds += t.elapsed().as_secs_f64();
    for (name, v) in [("bbar", &up_bbar), ("label", &up_labels), ("weight", &up_weights)] {
        for (i, c) in v.iter().enumerate() {
            upload.add(&ctx, &format!("{name}/{i}"), c)?;
        }
    }

    // Server: the training set and the trainer.
    let t_server = Instant::now();
    let expand =
        |v: &[SeededCiphertext]| -> Result<Vec<Ciphertext>> { v.iter().map(|c| Ok(c.expand(&ctx)?)).collect() };
    let data = server.dataset(x, &expand(&up_bbar)?, expand(&up_labels)?, expand(&up_weights)?)?;
    drop(server);
    let trainer = TrainingServer::new(keys)?;
    let pb = bar(quiet, iterations * 4, "server: training");
    let t = Instant::now();
    let (model, tstats) = trainer.train(&data, iterations, &mut |p| match p {
        TrainProgress::Stage { iteration, stage } => pb.set_position((iteration * 4 + stage) as u64),
        TrainProgress::Checkpoint(_) => {}
    })?;
    let train_seconds = t.elapsed().as_secs_f64();
    pb.finish_and_clear();
    server_seconds += t_server.elapsed().as_secs_f64();
    drop(data);

    // The plaintext pipeline and today's client-side result.
    let sp = spinner(quiet, "reference: the pipeline in f64, test features");
    let xr = reference::features(&job.model, &pixels);
    let w_ref = reference::train(&xr, &labels, CLASSES, iterations)?;
    let test_tensors = image_tensors::<f64>(&mnist.test_images.slice(0..tests));
    let test_pixels: Vec<Vec<f64>> = test_tensors.iter().map(|t| t.data().to_vec()).collect();
    let test_x = reference::features(&job.model, &test_pixels);
    let test_y = &mnist.test_labels[..tests];
    let exact_train = hecnn_nn::features::extract_features(&backbone, &mnist.train_images.slice(0..samples))?;
    let exact_test = hecnn_nn::features::extract_features(&backbone, &mnist.test_images.slice(0..tests))?;
    let exact_test_x: Vec<Vec<f64>> = exact_test
        .iter()
        .map(|f| std::iter::once(1.0).chain(f.iter().zip(&job.scales).map(|(v, s)| v * s)).collect())
        .collect();
    let today = reference_run(
        &Split { x: exact_train, y: labels.clone() },
        Some(&Split { x: exact_test, y: test_y.to_vec() }),
        iterations,
        scaling,
    )?;
    sp.finish_and_clear();

    // Client: the checked decryption.
    let expect = ModelExpectation {
        layout,
        classes: CLASSES,
        features: d,
        key_set: sk.key_set(),
        data_level: level - 1,
        refresh_level: trainer.refresh_level(),
        log_scale: ctx.params().log_scale(),
        max_iterations: iterations,
        value_tolerance: 1e-2,
        reference: None,
    };
    let (w, _) = TrainingClient::new(&sk).decrypt_model_private(&model, &expect, 1e-2)?;
    let acc = |w: &[Vec<f64>], x: &[Vec<f64>], y: &[u8]| hecnn_ml::mlr::prep::accuracy(w, x, y);
    Ok(ImageTrainReport {
        samples,
        iterations,
        features: d,
        scaling,
        alpha: job.model.sign.alpha,
        sign_degrees: job.model.sign.degrees.clone(),
        params: params.name().to_string(),
        n: ctx.n(),
        security_bits: params.security_bits().floor(),
        layout,
        batch: DEFAULT_BATCH,
        batches: samples.div_ceil(DEFAULT_BATCH),
        backbone_depth: job.model.depth(),
        test_images: tests,
        test_accuracy: acc(&w, &test_x, test_y)?,
        test_accuracy_exact_features: acc(&w, &exact_test_x, test_y)?,
        reference_accuracy: acc(&w_ref, &test_x, test_y)?,
        client_side_features_accuracy: today.test_accuracy.unwrap_or(today.train_accuracy),
        train_accuracy: acc(&w, &xr, &labels)?,
        max_weight_error: max_weight_error(&w, &w_ref)?,
        keygen_seconds,
        encrypt_seconds,
        feature_seconds_per_image: (features.backbone_seconds + features.refresh_seconds + features.repack_seconds)
            / samples as f64,
        feature_stages: features,
        statistics_seconds,
        train_seconds,
        training_bootstraps: tstats.refreshes,
        training_bootstrap_seconds: tstats.bootstrap_seconds,
        server_seconds,
        total_seconds: total.elapsed().as_secs_f64(),
        rotation_keys: steps.len(),
        upload_key_bytes,
        upload_ciphertext_bytes: upload.bytes,
        uploaded_ciphertexts: upload.count,
        peak_rss_mb: peak_rss_mb(),
    })
}

/// Ciphertexts and bytes as they travel (seeded, bound to the key set and their role).
struct UploadCount {
    key_set: hecnn_ckks::KeySetId,
    count: usize,
    bytes: u64,
}

impl UploadCount {
    fn new(key_set: hecnn_ckks::KeySetId) -> Self {
        Self { key_set, count: 0, bytes: 0 }
    }

    fn add(&mut self, ctx: &Context, role: &str, c: &SeededCiphertext) -> Result<()> {
        self.count += 1;
        self.bytes += c.serialized_len(ctx, &hecnn_ml::upload::upload_binding(self.key_set, role)?);
        Ok(())
    }
}

/// Human-readable summary.
pub fn print(r: &ImageTrainReport) {
    let pct = |x: f64| 100.0 * x;
    let f = &r.feature_stages;
    println!("Encrypted transfer learning from encrypted images (backbone and training on the server)");
    println!(
        "  data        {} MNIST training images, {} features (with bias), {} classes; scaling {}",
        r.samples, r.features, CLASSES, r.scaling
    );
    println!(
        "  parameters  {} (N={}, ~{:.0}-bit), backbone α = {} {:?}, depth {}, {} batch(es) of {}; layout {}×{}×{}",
        r.params,
        r.n,
        r.security_bits,
        r.alpha,
        r.sign_degrees,
        r.backbone_depth,
        r.batches,
        r.batch,
        r.layout.samples_per_block,
        r.layout.features_per_block,
        r.layout.class_slots
    );
    println!(
        "  upload      {} ciphertexts (images, labels, B̄, initial weights) = {:.1} MiB, keys {:.1} MiB ({} rotation keys)",
        r.uploaded_ciphertexts,
        r.upload_ciphertext_bytes as f64 / 1048576.0,
        r.upload_key_bytes as f64 / 1048576.0,
        r.rotation_keys
    );
    println!(
        "  features    backbone {:.1} s ({:.1} s bootstrapping, {} bootstraps), refresh {:.1} s, repacking {:.1} s ({} + {} key switches, {} diagonals): {:.2} s per image",
        f.backbone_seconds,
        f.backbone_bootstrap_seconds,
        f.backbone_bootstraps,
        f.refresh_seconds,
        f.repack_seconds,
        f.repack.map_rotations,
        f.repack.fill_rotations,
        f.repack.diagonals,
        r.feature_seconds_per_image
    );
    println!(
        "  training    statistics {:.1} s; {} iterations in {:.1} s ({} bootstraps of W, V: {:.1} s); server total {:.1} s",
        r.statistics_seconds, r.iterations, r.train_seconds, r.training_bootstraps, r.training_bootstrap_seconds, r.server_seconds
    );
    println!(
        "  accuracy    {:.2}% on {} test images (pipeline reference {:.2}%; client-side features today {:.2}%; this model on exact features {:.2}%); train {:.2}%",
        pct(r.test_accuracy),
        r.test_images,
        pct(r.reference_accuracy),
        pct(r.client_side_features_accuracy),
        pct(r.test_accuracy_exact_features),
        pct(r.train_accuracy)
    );
    println!("  weights     max |decrypted − pipeline reference| = {:.2e}", r.max_weight_error);
    println!(
        "  time        total {:.1} s (keygen {:.1} s, encrypt {:.1} s); peak memory {:.0} MiB",
        r.total_seconds, r.keygen_seconds, r.encrypt_seconds, r.peak_rss_mb
    );
}
