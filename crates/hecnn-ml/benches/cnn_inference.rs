//! Encrypted CNN inference, server side: one batch of 32 MNIST test images
//! (one ciphertext, B = 32 images multiplexed) through the bundled
//! classifier at the `inference-<depth>` chain (N = 2^16, 128-bit), exactly
//! what `hecnn infer --model bundled` runs per batch: α chosen on the
//! validation images, power-of-two rotation keys. The amortized time per
//! image is the median / 32; the latency of one image alone is the median
//! itself (a batch costs the same with empty slots). Keys, compilation and
//! encryption are set up once, outside the measurement.
//!
//! `cargo bench -p hecnn-ml --bench cnn_inference` (ten batches plus set-up,
//! about 12 minutes on 2 cores).

#[path = "../../hecnn-ckks/benches/support/clock.rs"]
mod clock;

use clock::Clock;
use criterion::{criterion_group, criterion_main, Criterion};
use hecnn_ckks::{Context, EvaluationKeySet, GaloisKeys, RelinKey, SecretKey};
use hecnn_ml::cnn::client::encrypt_images;
use hecnn_ml::cnn::{compile, inference_params, CompileOptions, Engine};
use hecnn_nn::features::image_tensors;
use hecnn_nn::mnist::{bundled_mnist_dir, Mnist};
use hecnn_nn::simulate::CALIBRATION_START;
use std::time::Duration;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// As `hecnn infer`: 2,000 calibration images from 10,000, 1,000
/// validation images from 30,000.
const VALIDATION_START: usize = 30_000;
const BATCH: usize = 32;

extern "C" {
    /// mimalloc's `mi_option_set` (mimalloc.h); linked with the allocator.
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// As the CLI does: freed pages stay mapped (`mi_option_purge_delay` = -1),
/// so the measured batches pay no page faults for ciphertext buffers.
fn keep_freed_pages() {
    // SAFETY: a plain option setter with no pointer arguments, called before
    // the benchmark starts its threads' work.
    unsafe { mi_option_set(15, -1) }
}

fn bench(c: &mut Criterion<Clock>) {
    keep_freed_pages();
    let mnist = Mnist::load_dir(bundled_mnist_dir()).expect("bundled MNIST");
    let model = hecnn_nn::backbone::bundled_classifier().expect("bundled classifier");
    let calib = image_tensors::<f64>(&mnist.train_images.slice(CALIBRATION_START..CALIBRATION_START + 2000));
    let val = image_tensors::<f64>(&mnist.train_images.slice(VALIDATION_START..VALIDATION_START + 1000));
    let opts = CompileOptions { slots: 1 << 15, batch: BATCH, ..CompileOptions::default() };
    let compiled = compile(&model, &calib, &val, &opts).expect("compiles");
    let ctx = Context::new(inference_params(compiled.depth()).expect("an inference chain")).unwrap();
    let sk = SecretKey::generate(&ctx);
    let keys = EvaluationKeySet::new(
        &ctx,
        RelinKey::generate(&sk),
        GaloisKeys::generate(&sk, &compiled.rotation_steps(), false),
        None,
    )
    .unwrap();
    let engine = Engine::new(&compiled, &keys).unwrap();
    let test = image_tensors::<f64>(&mnist.test_images.slice(0..BATCH));
    let pixels: Vec<Vec<f64>> = test.iter().map(|t| t.data().to_vec()).collect();
    let cts = encrypt_images(&compiled.spec(), &sk, &ctx, &pixels, engine.input_level()).unwrap();
    let mut g = c.benchmark_group("cnn");
    g.sample_size(10).warm_up_time(Duration::from_millis(1)).measurement_time(Duration::from_secs(60));
    g.bench_function("bundled_batch32_n16", |b| b.iter(|| engine.run(cts.clone(), &|_, _| {}).unwrap()));
    g.finish();
}

criterion_group! {
    name = cnn_inference;
    config = Criterion::default().with_measurement(Clock::from_env());
    targets = bench
}
criterion_main!(cnn_inference);
