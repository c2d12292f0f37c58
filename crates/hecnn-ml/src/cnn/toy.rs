//! A small CNN on an **insecure** ring (N = 2^11): conv 3×3 → ReLU →
//! max-pool 2 → linear on 8×8 images, 3 classes, compiled for 4 images per
//! ciphertext. Tests of the inference exchange (service, Python bindings)
//! run it in seconds; the 128-bit path is the same code with the bundled
//! models. Never for data: its parameters are not secure.

use hecnn_ckks::Parameters;
use hecnn_nn::model::{Conv2d, Linear, Model, ModelBuilder, Pool2d, Tensor};

use super::roles::{InferenceError, PublishedModel};
use super::{compile, CompileOptions};

/// Deterministic values in [-scale, scale].
pub fn values(n: usize, seed: u64, scale: f64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// Conv 3×3 → ReLU → MaxPool 2 → Linear on 8×8 images, 3 classes.
pub fn model() -> Model {
    let conv = Conv2d {
        out_c: 2,
        in_c: 1,
        kernel: (3, 3),
        stride: (1, 1),
        pad: [1; 4],
        weight: values(18, 1, 0.6).into(),
        bias: values(2, 2, 0.2).into(),
    };
    ModelBuilder::new(vec![1, 8, 8])
        .conv2d(conv)
        .relu()
        .max_pool(Pool2d::square(2))
        .flatten()
        .linear(Linear { out_dim: 3, in_dim: 32, weight: values(96, 3, 0.5).into(), bias: vec![0.1, 0.0, -0.1].into() })
        .build()
        .expect("the toy model is well formed")
}

/// `n` deterministic 8×8 images with pixels in [0, 1].
pub fn images(n: usize, seed: u64) -> Vec<Tensor<f64>> {
    (0..n)
        .map(|i| {
            let px = values(64, seed + i as u64, 0.5).into_iter().map(|v| v + 0.5).collect();
            Tensor::new(vec![1, 8, 8], px).expect("64 pixels")
        })
        .collect()
}

/// The toy model compiled (4 images per ciphertext of 1,024 slots, α = 5)
/// and published as `toy` on an insecure ring with exactly its depth.
pub fn published() -> Result<PublishedModel, InferenceError> {
    let opts = CompileOptions { slots: 1024, batch: 4, alpha: Some(5), ..CompileOptions::default() };
    let compiled = compile(&model(), &images(64, 1000), &images(64, 1000), &opts)?;
    let mut bits = vec![50];
    bits.extend(std::iter::repeat_n(30, compiled.depth()));
    let params = Parameters::insecure_for_tests(11, &bits, 4, 30)?;
    PublishedModel::with_params("toy", compiled, params, false)
}
