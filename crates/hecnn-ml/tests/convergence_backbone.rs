//! Convergence on real transfer-learning features: quadratic gradient (QG)
//! against the paper's own Nesterov baseline ("SigmoidNAG without QG": same
//! schedule, step `γ_t·g = g/((t+1)n)`), on the bundled frozen backbone's 240
//! features of MNIST. Per-iteration tables: `docs/training.md`, "Convergence
//! of the plaintext reference".
//!
//! 1. [`reproduces_the_papers_plaintext_comparison`] runs the comparison as
//!    the paper's plaintext experiment does (github.com/petitioner/
//!    HE.CNNtraining, `MyHECNNtraining/data/
//!    20230403_cnntrainingtransferlearning_nagvs_sigmoidnagvs_sigmoidnagqg_mnist.py`):
//!    all 60,000 training images, raw (unscaled) features plus a bias
//!    column, `W = V = 0`, and for **both** methods the sigmoid `hlambda` —
//!    the exact logistic of `z` clipped to `[−8, 8]`. Its figure data
//!    (`PythonExperiment_NAGvs.SigmoidNAGvs.SigmoidNAGQG_{PREC,LOSS}_*_MNIST.csv`)
//!    has QG ahead in training and test precision at every iteration 1–10,
//!    and in loss at 2–10 only: at iteration 1 the baseline's loss is the
//!    better one (−207,626 against −412,039 on the training set). We
//!    reproduce exactly that shape. Iteration 1's loss cannot go to QG under
//!    this schedule: η₀ ≈ 0.99 makes `W₁ = V₀ + 0.01·S₀`, so only the size of
//!    the first step counts, and on unscaled features `1/n` is a far longer
//!    step than `B̄` (it throws `X·Vᵀ` out to ±440, which is also why the
//!    baseline's accuracy then stalls).
//! 2. [`z3_protocol_setting`] is the encrypted trainer's setting — features
//!    scaled to `[0, 1]`, `W = V = 0.0128`, the degree-3 `Z3` in training —
//!    on the first 10,000 images (the clients' private range). There QG wins
//!    the loss at iterations 2, 3 and 6–10 only: at 1 for the step-size
//!    reason above, at 4–5 because `Z3` is a poor sigmoid once `|X·Vᵀ|`
//!    nears 8 (with the clipped logistic instead, QG wins 2–10 there too;
//!    wider least-squares fits of degree 5 or 7 on `[−16, 16]` do not help).

use std::sync::OnceLock;

use hecnn_ml::mlr::reference::{
    accuracy, design_matrix, feature_maxima, train, train_observed, Method, MlrConfig, MlrTrace, SigmoidFn,
};
use hecnn_nn::backbone::bundled_backbone;
use hecnn_nn::features::extract_features;
use hecnn_nn::mnist::{bundled_mnist_dir, Mnist};

/// Raw backbone features of all MNIST training and test images.
struct Features {
    train: Vec<Vec<f64>>,
    train_labels: Vec<u8>,
    test: Vec<Vec<f64>>,
    test_labels: Vec<u8>,
}

/// The raw features with the bias column `x_i0 = 1` prepended, unscaled
/// (as the paper's Python experiment uses them).
fn with_bias(x: &[Vec<f64>]) -> Vec<Vec<f64>> {
    x.iter().map(|r| std::iter::once(1.0).chain(r.iter().copied()).collect()).collect()
}

fn features() -> &'static Features {
    static FEATURES: OnceLock<Features> = OnceLock::new();
    FEATURES.get_or_init(|| {
        let mnist = Mnist::load_dir(bundled_mnist_dir()).unwrap();
        let backbone = bundled_backbone().unwrap();
        Features {
            train: extract_features(&backbone, &mnist.train_images).unwrap(),
            train_labels: mnist.train_labels.clone(),
            test: extract_features(&backbone, &mnist.test_images).unwrap(),
            test_labels: mnist.test_labels.clone(),
        }
    })
}

/// Trains with `cfg`, also scoring each iteration's `W` on the test set.
fn run(x: &[Vec<f64>], labels: &[u8], xt: &[Vec<f64>], lt: &[u8], cfg: &MlrConfig) -> (MlrTrace, Vec<f64>) {
    let mut test_accuracy = Vec::new();
    let trace = train_observed(x, labels, 10, cfg, |s| test_accuracy.push(accuracy(&s.w, xt, lt).unwrap())).unwrap();
    (trace, test_accuracy)
}

fn print_table(title: &str, qg: &(MlrTrace, Vec<f64>), nag: &(MlrTrace, Vec<f64>)) {
    eprintln!("{title}");
    eprintln!(
        "| it | QG log-likelihood | QG train acc | QG test acc | NAG log-likelihood | NAG train acc | NAG test acc |"
    );
    for ((q, b), (qt, bt)) in qg.0.per_iteration.iter().zip(&nag.0.per_iteration).zip(qg.1.iter().zip(&nag.1)) {
        eprintln!(
            "| {} | {:.0} | {:.4} | {:.4} | {:.0} | {:.4} | {:.4} |",
            q.iteration, q.log_likelihood, q.train_accuracy, qt, b.log_likelihood, b.train_accuracy, bt
        );
    }
}

#[test]
fn reproduces_the_papers_plaintext_comparison() {
    let f = features();
    let x = with_bias(&f.train);
    let xt = with_bias(&f.test);
    let cfg = |method| MlrConfig {
        iterations: 10,
        method,
        init: 0.0,
        sigmoid: SigmoidFn::ClippedLogistic { bound: 8.0 },
        ..MlrConfig::default()
    };
    let qg = run(&x, &f.train_labels, &xt, &f.test_labels, &cfg(Method::QuadraticGradient));
    let nag = run(&x, &f.train_labels, &xt, &f.test_labels, &cfg(Method::PaperNag));
    print_table("all 60,000 images, raw features, W = V = 0, clipped logistic", &qg, &nag);
    let (q, b) = (&qg.0.per_iteration, &nag.0.per_iteration);
    for t in 0..10 {
        let it = t + 1;
        // Precision, the paper's reported metric: QG ahead at every iteration.
        assert!(q[t].train_accuracy > b[t].train_accuracy, "train accuracy, iteration {it}");
        assert!(qg.1[t] > nag.1[t], "test accuracy, iteration {it}");
        // Loss: QG ahead from iteration 2 on; at 1 the baseline, as in the paper.
        if it == 1 {
            assert!(b[t].log_likelihood > q[t].log_likelihood, "iteration 1: the paper's loss shape");
        } else {
            assert!(q[t].log_likelihood > b[t].log_likelihood, "log-likelihood, iteration {it}");
        }
        assert!(q[t].log_likelihood.is_finite() && b[t].log_likelihood.is_finite());
    }
    // QG keeps improving; the baseline is still far behind after 10 iterations.
    assert!(q[9].log_likelihood > q[1].log_likelihood && qg.1[9] > qg.1[0]);
    assert!(q[9].log_likelihood > 5.0 * b[9].log_likelihood, "QG's loss at iteration 10 is not far lower");
    // Measured 0.9217 (deterministic f64 on the bundled backbone's features);
    // a 0.7-point margin for feature extraction on other CPUs.
    assert!(qg.1[9] > 0.915, "QG test accuracy after 10 iterations: {}", qg.1[9]);
}

#[test]
fn z3_protocol_setting() {
    let f = features();
    let (raw, labels) = (&f.train[..10_000], &f.train_labels[..10_000]);
    let maxima = feature_maxima(raw).unwrap();
    let x = design_matrix(raw, &maxima).unwrap();
    let xt = design_matrix(&f.test, &maxima).unwrap();
    let cfg = |method| MlrConfig { iterations: 10, method, ..MlrConfig::default() };
    let qg = run(&x, labels, &xt, &f.test_labels, &cfg(Method::QuadraticGradient));
    let nag = run(&x, labels, &xt, &f.test_labels, &cfg(Method::PaperNag));
    print_table("first 10,000 images, scaled features, W = V = 0.0128, Z3", &qg, &nag);
    let (q, b) = (&qg.0.per_iteration, &nag.0.per_iteration);
    for t in [1, 2, 5, 6, 7, 8, 9] {
        assert!(q[t].log_likelihood > b[t].log_likelihood, "iteration {}", t + 1);
    }
    assert!(q[9].log_likelihood > 1.5 * b[9].log_likelihood, "QG's loss at iteration 10 is not clearly lower");
    assert!(q[9].train_accuracy > b[9].train_accuracy);
    // The default configuration is this one: `train` gives the same model.
    assert_eq!(train(&x, labels, 10, &cfg(Method::QuadraticGradient)).unwrap(), qg.0);
    // Measured 0.8807; a 0.6-point margin likewise.
    assert!(qg.1[9] > 0.875, "test accuracy {}", qg.1[9]);
}
