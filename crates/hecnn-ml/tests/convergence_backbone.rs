//! The paper's convergence shape on real transfer-learning features: the
//! bundled frozen backbone's 240 features of the first 10,000 MNIST
//! training images (the clients' private range), scaled to [0, 1], bias
//! column. The quadratic gradient beats the paper's own Nesterov baseline
//! (same schedule, step γ_t·g = g/((t+1)n)) in training log-likelihood at
//! every iteration 1..=10, with the same Z3 sigmoid for both.

use hecnn_ml::mlr::{accuracy, fit_scaler, train, with_bias, Method, MlrConfig};
use hecnn_nn::backbone::bundled_backbone;
use hecnn_nn::features::extract_features;
use hecnn_nn::mnist::{bundled_mnist_dir, Mnist};

#[test]
fn quadratic_gradient_beats_paper_nag_at_every_iteration() {
    let mnist = Mnist::load_dir(bundled_mnist_dir()).unwrap();
    let backbone = bundled_backbone().unwrap();
    let images = mnist.train_images.slice(0..10_000);
    let raw = extract_features(&backbone, &images).unwrap();
    let labels = &mnist.train_labels[..10_000];
    let scaler = fit_scaler(&raw).unwrap();
    let x = with_bias(&scaler.apply(&raw).unwrap());
    let cfg = |method| MlrConfig { iterations: 10, method, ..MlrConfig::default() };
    let qg = train(&x, labels, 10, &cfg(Method::QuadraticGradient)).unwrap();
    let nag = train(&x, labels, 10, &cfg(Method::PaperNag)).unwrap();
    for (q, b) in qg.per_iteration.iter().zip(&nag.per_iteration) {
        eprintln!(
            "iteration {:>2}: QG log-likelihood {:>10.1} accuracy {:.4} | NAG {:>10.1} accuracy {:.4}",
            q.iteration, q.log_likelihood, q.train_accuracy, b.log_likelihood, b.train_accuracy
        );
        assert!(q.log_likelihood > b.log_likelihood, "iteration {}", q.iteration);
    }
    let test = extract_features(&backbone, &mnist.test_images).unwrap();
    let xt = with_bias(&scaler.apply(&test).unwrap());
    let acc = accuracy(&qg.w, &xt, &mnist.test_labels).unwrap();
    eprintln!("test accuracy after 10 QG iterations: {acc:.4}");
    assert!(acc > 0.85, "test accuracy {acc}");
}
