//! Convergence on real transfer-learning features: the bundled frozen
//! backbone's 240 features of the first 10,000 MNIST training images (the
//! clients' private range), scaled to [0, 1], bias column, Z3 sigmoid for
//! both methods. Quadratic gradient (QG) against the paper's own Nesterov
//! baseline (same schedule, step γ_t·g = g/((t+1)n)). Measured
//! (log-likelihood, train accuracy):
//!
//! | it | QG | paper NAG |
//! |---|---|---|
//! | 1 | −95,955 / .791 | −94,190 / .794 |
//! | 2 | −51,831 / .835 | −106,692 / .865 |
//! | 3 | −29,680 / .828 | −32,757 / .846 |
//! | 4 | −32,541 / .835 | −30,023 / .842 |
//! | 5 | −35,758 / .844 | −33,647 / .845 |
//! | 6 | −35,452 / .850 | −36,207 / .847 |
//! | 7 | −32,116 / .857 | −37,276 / .850 |
//! | 8 | −27,189 / .864 | −37,196 / .852 |
//! | 9 | −22,240 / .871 | −36,330 / .854 |
//! | 10 | −18,362 / .876 | −34,964 / .856 |
//!
//! QG wins at iterations 2, 3 and 6–10 and ends with half the baseline's
//! loss. It does not win at 1, 4 and 5: at iteration 1, η₀ ≈ 0.99 makes
//! W₁ = V₀ + 0.01·S, so only the step's size counts and the baseline's 1/n
//! is larger than B̄ here; at 4–5, X·Vᵀ leaves Z3's range [−8, 8] (Z3 bends
//! back near ±9.6) and QG's larger steps are hurt most. The paper's own
//! plaintext curves used the exact sigmoid; a wider-range fit in both the
//! trainer and the reference is the planned fix.

use hecnn_ml::mlr::{accuracy, fit_scaler, train, with_bias, Method, MlrConfig};
use hecnn_nn::backbone::bundled_backbone;
use hecnn_nn::features::extract_features;
use hecnn_nn::mnist::{bundled_mnist_dir, Mnist};

#[test]
fn quadratic_gradient_against_the_paper_nag_baseline() {
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
    }
    for (q, b) in qg.per_iteration.iter().zip(&nag.per_iteration) {
        if [2, 3, 6, 7, 8, 9, 10].contains(&q.iteration) {
            assert!(q.log_likelihood > b.log_likelihood, "iteration {}", q.iteration);
        }
    }
    let (q10, b10) = (qg.per_iteration[9], nag.per_iteration[9]);
    assert!(q10.log_likelihood > 1.5 * b10.log_likelihood, "QG's loss at iteration 10 is not clearly lower");
    assert!(q10.train_accuracy > b10.train_accuracy);
    let test = extract_features(&backbone, &mnist.test_images).unwrap();
    let xt = with_bias(&scaler.apply(&test).unwrap());
    let acc = accuracy(&qg.w, &xt, &mnist.test_labels).unwrap();
    eprintln!("test accuracy after 10 QG iterations: {acc:.4}");
    assert!(acc > 0.85, "test accuracy {acc}");
}
