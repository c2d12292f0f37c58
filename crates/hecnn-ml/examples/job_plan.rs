//! Prints the plan of the bundled encrypted-transfer-learning job at
//! N = 2^16 (128 images in batches of 32, α = 5): the backbone's level plan
//! between bootstraps (11 levels each), its bootstraps per batch, and the
//! repacking's key switches and keys — what `hecnn train --from-images`
//! will run, without keys or ciphertexts.
use hecnn_ml::cnn::{LevelBudget, Plan};
use hecnn_ml::mlr::prep::Scaling;
use hecnn_ml::transfer::{ImageJob, JobOptions};

fn main() {
    let backbone = hecnn_nn::backbone::bundled_backbone().unwrap();
    let mnist = hecnn_nn::mnist::Mnist::load_dir(hecnn_nn::mnist::bundled_mnist_dir()).unwrap();
    let calibration = hecnn_nn::features::image_tensors::<f64>(&mnist.train_images.slice(10_000..12_000));
    let opts = JobOptions { slots: 1 << 15, batch: 32, alpha: 5, scaling: Scaling::MaxAbs, samples: 128, classes: 10 };
    let job = ImageJob::plan(&backbone, &calibration, &opts).unwrap();
    let budget = LevelBudget { top: 11, after_bootstrap: Some(11), relu_depth: job.model.relu_depth() };
    let plan = Plan::new(&job.model.circuit, budget).unwrap();
    for line in plan.lines() {
        println!("{line}");
    }
    println!("bootstrapped ciphertexts per batch: {}", plan.bootstraps);
    println!("repacking: {:?}", job.repack.planned());
    println!("rotation keys: {} (repacking's: {:?})", job.rotation_steps(true).len(), job.repack.rotation_steps());
}
