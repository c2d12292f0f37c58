//! The plaintext reference of fully encrypted transfer learning (issue 16,
//! `docs/encrypted-transfer-learning.md`): the bundled backbone with its
//! ReLUs and max-pools built from the composite sign, as the encrypted engine
//! computes them (the simulator, bounds calibrated on public training images
//! from 10,000), then the MLR reference on those features — next to the same
//! MLR on the exact features the client computes today. It measures what the
//! approximate activations cost the trained model before any of it runs
//! encrypted.
//!
//! `cargo run --release -p hecnn --example pipeline_reference -- [SAMPLES] [ITERATIONS] [ALPHA] [TEST_IMAGES]`
//! (defaults 128, 2, 4, 10000).

use anyhow::{Context as _, Result};
use hecnn_approx::composite::{default_eps, search};
use hecnn_ml::mlr::reference::{self, MlrConfig};
use hecnn_nn::backbone::bundled_backbone;
use hecnn_nn::features::{extract_features, image_tensors};
use hecnn_nn::mnist::{bundled_mnist_dir, Images, Mnist};
use hecnn_nn::simulate::{Simulator, BOUND_MARGIN, CALIBRATION_START};

const CALIBRATION_IMAGES: usize = 1000;

fn main() -> Result<()> {
    let arg = |i: usize, default: usize| -> Result<usize> {
        std::env::args().nth(i).map_or(Ok(default), |s| s.parse().with_context(|| format!("argument {i}: {s:?}")))
    };
    let (samples, iterations, alpha, tests) = (arg(1, 128)?, arg(2, 2)?, arg(3, 4)? as u32, arg(4, 10_000)?);
    let mnist = Mnist::load_dir(bundled_mnist_dir())?;
    let backbone = bundled_backbone()?;
    let train_images = mnist.train_images.slice(0..samples);
    let test_images = mnist.test_images.slice(0..tests.min(mnist.test_images.len()));
    let (train_labels, test_labels) = (&mnist.train_labels[..samples], &mnist.test_labels[..test_images.len()]);

    let calibration =
        image_tensors::<f64>(&mnist.train_images.slice(CALIBRATION_START..CALIBRATION_START + CALIBRATION_IMAGES));
    let sim = Simulator::calibrate(&backbone, &calibration, BOUND_MARGIN)?;
    let sign = search(alpha, default_eps(alpha))?;
    let composite = |images: &Images| -> Result<Vec<Vec<f64>>> {
        let run = sim.run_approx(&|x| sign.eval(x), &image_tensors(images), &|| {})?;
        Ok(run.outputs.into_iter().map(|t| t.data().to_vec()).collect())
    };

    let exact = (extract_features(&backbone, &train_images)?, extract_features(&backbone, &test_images)?);
    let approx = (composite(&train_images)?, composite(&test_images)?);
    let feature_error = exact.0.iter().flatten().zip(approx.0.iter().flatten()).map(|(a, b)| (a - b).abs());
    let (feature_error, negative) =
        (feature_error.fold(0.0, f64::max), approx.0.iter().flatten().copied().fold(0.0, f64::min));
    println!(
        "{samples} samples, {iterations} iterations, α = {alpha} {:?}, {} test images; backbone features: \
         max |composite − exact| = {feature_error:.2e}, most negative composite feature {negative:.2e}",
        sign.degrees,
        test_images.len()
    );
    let mut weights = Vec::new();
    for (name, (train, test)) in [("exact features (today's client)", &exact), ("composite backbone", &approx)] {
        let maxima = reference::feature_maxima(train)?;
        let x = reference::design_matrix(train, &maxima)?;
        let w = reference::train(&x, train_labels, 10, &MlrConfig { iterations, ..MlrConfig::default() })?.w;
        let accuracy = reference::accuracy(&w, &reference::design_matrix(test, &maxima)?, test_labels)?;
        println!("  {name:<32} test accuracy {:.2}%", 100.0 * accuracy);
        weights.push(w);
    }
    let w_error = weights[0].iter().flatten().zip(weights[1].iter().flatten()).map(|(a, b)| (a - b).abs());
    println!("  max |W(composite) − W(exact)| = {:.2e}", w_error.fold(0.0, f64::max));
    Ok(())
}
