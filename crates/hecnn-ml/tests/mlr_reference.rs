//! Integration tests of the plaintext MLR reference on its own: a
//! hand-computed step, convergence on real MNIST against plain NAG,
//! properties, typed errors. (Each of its parts against the encrypted
//! side's counterpart, and by hand: `mlr_crosscheck.rs`.)

use std::io::Read;
use std::path::PathBuf;

use hecnn_ml::mlr::reference::{
    accuracy, gradient, log_likelihood, preconditioner, predict, train, Method, MlrConfig, MlrTrace, SigmoidFn, Z3,
};
use hecnn_ml::MlError;
use proptest::prelude::*;

// ---------------------------------------------------------------------------
// 1. A case small enough to check by hand.
// ---------------------------------------------------------------------------

/// n=2 samples, d=2 (bias + one feature), c=2 classes, one iteration; every
/// number is written out from the formulas of DESIGN.md, not the library.
#[test]
// The arithmetic is spelled out term by term (×1.0, ×−1.0, indices) on purpose.
#[allow(clippy::neg_multiply, clippy::needless_range_loop, clippy::identity_op)]
fn one_iteration_by_hand() {
    let x = vec![vec![1.0, 0.5], vec![1.0, -1.0]];
    let labels = [0u8, 1];
    let cfg = MlrConfig { iterations: 1, ..MlrConfig::default() };
    let trace = train(&x, &labels, 2, &cfg).unwrap();

    let (a, b) = (0.10679534503216294, -0.00038503259805075);
    let p = |t: f64| 0.5 + a * t + b * t * t * t;
    let init = 0.0128;
    // z = X Vᵀ with V = 0.0128 everywhere: the same for both classes.
    let z0 = init * 1.0 + init * 0.5; // 0.0192
    let z1 = init * 1.0 + init * -1.0; // 0
    let (s0, s1) = (p(z0), p(z1));
    // g = (Ȳ − σ)ᵀ X; Ȳ = [[1,0],[0,1]].
    let g = [
        [(1.0 - s0) * 1.0 + (0.0 - s1) * 1.0, (1.0 - s0) * 0.5 + (0.0 - s1) * -1.0],
        [(0.0 - s0) * 1.0 + (1.0 - s1) * 1.0, (0.0 - s0) * 0.5 + (1.0 - s1) * -1.0],
    ];
    // b̄_j = 1/(ε + ¼ Σ_i |x_ij| Σ_l |x_il|), row sums 1.5 and 2.
    let eps = 1e-10;
    let bbar = [1.0 / (eps + 0.25 * (1.0 * 1.5 + 1.0 * 2.0)), 1.0 / (eps + 0.25 * (0.5 * 1.5 + 1.0 * 2.0))];
    // Schedule at t=0: α₀=0.01, α₁=(1+√(1+4α₀²))/2, η₀=(1−α₀)/α₁, γ₀=1/(1·2).
    let alpha0: f64 = 0.01;
    let alpha1 = (1.0 + (1.0 + 4.0 * alpha0 * alpha0).sqrt()) / 2.0;
    let eta = (1.0 - alpha0) / alpha1;
    let gamma = 1.0 / (1.0 * 2.0);
    for k in 0..2 {
        for j in 0..2 {
            let tmp = init + (1.0 + gamma) * (bbar[j] * g[k][j]);
            let w = (1.0 - eta) * tmp + eta * init;
            assert!((trace.v[k][j] - tmp).abs() < 1e-12, "V[{k}][{j}] = {} vs {tmp}", trace.v[k][j]);
            assert!((trace.w[k][j] - w).abs() < 1e-12, "W[{k}][{j}] = {} vs {w}", trace.w[k][j]);
        }
    }
    // The statistics are those of W with the exact sigmoid.
    let st = trace.per_iteration[0];
    assert_eq!(st.iteration, 1);
    let lsig = |t: f64| -(1.0 + (-t).exp()).ln();
    let mut ll = 0.0;
    for (i, xi) in x.iter().enumerate() {
        for k in 0..2 {
            let zk = xi[0] * trace.w[k][0] + xi[1] * trace.w[k][1];
            ll += if usize::from(labels[i]) == k { lsig(zk) } else { lsig(-zk) };
        }
    }
    assert!((st.log_likelihood - ll).abs() < 1e-12);
    assert_eq!(st.log_likelihood, log_likelihood(&trace.w, &x, &labels).unwrap());
}

/// The paper's plaintext sigmoid (`hlambda`: exact logistic of `t` clipped to
/// `[−8, 8]`) with the paper's NAG baseline, one iteration by hand: sample 0
/// has `z = 10.5`, beyond the clip, so it counts as `σ(8)`.
#[test]
#[allow(clippy::needless_range_loop)]
fn one_clipped_logistic_nag_iteration_by_hand() {
    let x = vec![vec![1.0, 20.0], vec![1.0, -1.0]];
    let labels = [0u8, 1];
    let sigmoid = SigmoidFn::ClippedLogistic { bound: 8.0 };
    let cfg = MlrConfig {
        iterations: 1,
        init: 0.5,
        sigmoid: sigmoid.clone(),
        method: Method::PaperNag,
        ..MlrConfig::default()
    };
    let trace = train(&x, &labels, 2, &cfg).unwrap();

    let logistic = |t: f64| 1.0 / (1.0 + (-t).exp());
    for (t, clipped) in [(10.5, 8.0), (-1e300, -8.0), (0.25, 0.25), (-3.0, -3.0)] {
        assert!((sigmoid.eval(t) - logistic(clipped)).abs() < 1e-15, "σ({t})");
    }
    assert_eq!(sigmoid.coefficients(), None);
    // z = X Vᵀ with V = 0.5: 0.5 + 10 = 10.5 → clipped to 8; 0.5 − 0.5 = 0.
    let (s0, s1) = (logistic(8.0), 0.5);
    let g = [[(1.0 - s0) - s1, (1.0 - s0) * 20.0 + s1], [-s0 + (1.0 - s1), -s0 * 20.0 - (1.0 - s1)]];
    let alpha1 = (1.0 + (1.0f64 + 4.0 * 0.01 * 0.01).sqrt()) / 2.0;
    let eta = (1.0 - 0.01) / alpha1;
    let gamma = 1.0 / 2.0;
    for k in 0..2 {
        for j in 0..2 {
            let tmp = 0.5 + gamma * g[k][j];
            let w = (1.0 - eta) * tmp + eta * 0.5;
            assert!((trace.v[k][j] - tmp).abs() < 1e-12, "V[{k}][{j}] = {} vs {tmp}", trace.v[k][j]);
            assert!((trace.w[k][j] - w).abs() < 1e-12, "W[{k}][{j}] = {} vs {w}", trace.w[k][j]);
        }
    }
}

// ---------------------------------------------------------------------------
// 2. Convergence on MNIST.
// ---------------------------------------------------------------------------

/// Prepends the bias column `x_i0 = 1` to unscaled features.
fn with_bias(x: &[Vec<f64>]) -> Vec<Vec<f64>> {
    x.iter().map(|r| std::iter::once(1.0).chain(r.iter().copied()).collect()).collect()
}

fn mnist_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist")
}

fn gunzip(name: &str) -> Vec<u8> {
    let path = mnist_dir().join(name);
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(file).read_to_end(&mut out).unwrap();
    out
}

fn be_u32(b: &[u8], at: usize) -> usize {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
}

/// First `limit` images of an IDX3 file as 2×2 average-pooled pixels in
/// [0, 1] (14×14 = 196 features).
fn pooled_images(name: &str, limit: usize) -> Vec<Vec<f64>> {
    let b = gunzip(name);
    assert_eq!(be_u32(&b, 0), 0x0000_0803, "{name}: image magic");
    let (count, rows, cols) = (be_u32(&b, 4), be_u32(&b, 8), be_u32(&b, 12));
    assert_eq!((rows, cols), (28, 28));
    let n = count.min(limit);
    assert_eq!(b.len(), 16 + count * 784, "{name}: length");
    (0..n)
        .map(|i| {
            let img = &b[16 + i * 784..16 + (i + 1) * 784];
            let mut f = Vec::with_capacity(196);
            for r in 0..14 {
                for c in 0..14 {
                    let px = |dr: usize, dc: usize| f64::from(img[(2 * r + dr) * 28 + 2 * c + dc]);
                    f.push((px(0, 0) + px(0, 1) + px(1, 0) + px(1, 1)) / (4.0 * 255.0));
                }
            }
            f
        })
        .collect()
}

fn idx_labels(name: &str, limit: usize) -> Vec<u8> {
    let b = gunzip(name);
    assert_eq!(be_u32(&b, 0), 0x0000_0801, "{name}: label magic");
    let count = be_u32(&b, 4);
    assert_eq!(b.len(), 8 + count);
    b[8..8 + count.min(limit)].to_vec()
}

/// Quadratic gradient against plain NAG on the first 10,000 MNIST training
/// images (2×2-pooled pixels in [0, 1] + bias, d = 197), 10 iterations each,
/// both with the paper's `Z3` sigmoid polynomial.
///
/// Plain NAG uses the same Nesterov schedule and a fixed step `lr·g` with
/// `lr ∈ {0.1, 1, 10}/n`. Measured training log-likelihood (sum, larger is
/// better) / training accuracy of `W`:
///
/// ```text
/// iter  QG                 lr=0.1/n           lr=1/n             lr=10/n
///   1   -83774 0.632       -84370 0.668       -82467 0.668       -65621 0.668
///   2   -48713 0.720       -67431 0.687       -86912 0.736       -3.6e7 0.100
///   3   -31278 0.703       -51116 0.686       -47582 0.730       -3.6e13 0.100
///   4   -33201 0.717       -39921 0.692       -47356 0.737       -2.3e31 0.100
///   5   -35817 0.734       -34012 0.698       -32848 0.745       -1.9e85 0.100
///   6   -35756 0.747       -32019 0.706       -22786 0.750       -8.3e250 0.100
///   7   -33252 0.756       -32332 0.713       -20137 0.754       NaN
///   8   -29422 0.761       -33712 0.719       -20673 0.757       NaN
///   9   -25497 0.769       -35360 0.725       -21847 0.766       NaN
///  10   -22334 0.773       -36814 0.728       -20214 0.777       NaN
/// ```
///
/// So QG does **not** beat the best fixed rate at every iteration 1..=10:
/// at iteration 1 `η₀ ≈ 0.99` makes `W₁ = V₀ + 0.01·S`, so the largest step
/// wins (lr = 10/n, which then diverges); from iteration 5 `X·Vᵀ` leaves
/// `Z3`'s range [−8, 8] (max |z| reaches 11.5) and QG's likelihood stalls,
/// while lr = 1/n, oscillating, overtakes it from iteration 5 on. What holds
/// and is asserted: QG beats every rate tried at iterations 2..=4 (the
/// paper's 2-iteration regime), never diverges, improves from iteration 1 to
/// 10, and beats the only monotone baseline (0.1/n) at iterations 1..=4 and
/// 8..=10 and at the end.
#[test]
fn quadratic_gradient_against_plain_nag_on_mnist() {
    const N: usize = 10_000;
    const ITERS: usize = 10;
    let x = with_bias(&pooled_images("train-images.idx3-ubyte.gz", N));
    let y = idx_labels("train-labels.idx1-ubyte.gz", N);
    assert_eq!(&y[..10], &[5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    assert_eq!((x.len(), x[0].len()), (N, 197));

    let qg = train(&x, &y, 10, &MlrConfig { iterations: ITERS, ..MlrConfig::default() }).unwrap();
    let nags: Vec<(f64, MlrTrace)> = [0.1, 1.0, 10.0]
        .into_iter()
        .map(|m| {
            let method = Method::PlainNag { learning_rate: m / N as f64 };
            (m, train(&x, &y, 10, &MlrConfig { iterations: ITERS, method, ..MlrConfig::default() }).unwrap())
        })
        .collect();

    let xt = with_bias(&pooled_images("t10k-images.idx3-ubyte.gz", 10_000));
    let yt = idx_labels("t10k-labels.idx1-ubyte.gz", 10_000);
    assert_eq!(&yt[..10], &[7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);

    eprintln!("iter | QG ll acc | plain NAG lr=m/n: ll acc");
    for t in 0..ITERS {
        let q = qg.per_iteration[t];
        let mut line = format!("{:4} | {:.1} {:.4} |", q.iteration, q.log_likelihood, q.train_accuracy);
        for (m, tr) in &nags {
            let s = tr.per_iteration[t];
            line += &format!(" m={m}: {:.1} {:.4}", s.log_likelihood, s.train_accuracy);
        }
        eprintln!("{line}");
    }
    let ll = |tr: &MlrTrace, t: usize| tr.per_iteration[t - 1].log_likelihood;
    for t in 2..=4 {
        let best = nags.iter().map(|(_, tr)| ll(tr, t)).fold(f64::NEG_INFINITY, f64::max);
        assert!(ll(&qg, t) > best, "iteration {t}: QG {} not above best plain NAG {best}", ll(&qg, t));
    }
    let monotone = &nags[0].1;
    for t in [1, 2, 3, 4, 8, 9, 10] {
        assert!(ll(&qg, t) > ll(monotone, t), "iteration {t}: QG {} vs lr=0.1/n {}", ll(&qg, t), ll(monotone, t));
    }
    assert!(qg.per_iteration.iter().all(|s| s.log_likelihood.is_finite()));
    assert!(qg.w.iter().chain(&qg.v).flatten().all(|v| v.is_finite()));
    assert!(ll(&qg, ITERS) > ll(&qg, 1) + 50_000.0);
    // The largest rate diverges: a fixed step must be tuned, B̄ need not be.
    let nag10 = ll(&nags[2].1, ITERS);
    assert!(nag10.is_nan() || nag10 < ll(&qg, ITERS), "lr=10/n ended at {nag10}");

    let test_acc = accuracy(&qg.w, &xt, &yt).unwrap();
    let nag_test: Vec<f64> = nags.iter().map(|(_, tr)| accuracy(&tr.w, &xt, &yt).unwrap()).collect();
    eprintln!("test accuracy after {ITERS} iterations: QG {test_acc:.4}, plain NAG (0.1, 1, 10)/n {nag_test:?}");
    assert!(test_acc > TEST_ACCURACY_THRESHOLD, "test accuracy {test_acc}");
}

/// Measured test accuracy of `W` after 10 QG iterations: 0.7651 (10,000
/// test images; plain NAG: 0.722 / 0.7791 / 0.098 for lr = 0.1, 1, 10 /n),
/// minus a 0.5-point margin (the computation is deterministic f64; the
/// margin covers `exp`/`ln` differing in the last bit across platforms). Lower than a well-tuned pixel MLR (~85%)
/// because `Z3` is only a rough sigmoid and leaves its range by iteration 5.
const TEST_ACCURACY_THRESHOLD: f64 = 0.76;

// ---------------------------------------------------------------------------
// 3. Properties.
// ---------------------------------------------------------------------------

/// (x with bias, labels, classes) with entries in [−1, 1].
fn small_problem() -> impl Strategy<Value = (Vec<Vec<f64>>, Vec<u8>, usize)> {
    (1usize..12, 1usize..6, 1usize..5).prop_flat_map(|(n, d, c)| {
        (
            prop::collection::vec(prop::collection::vec(-1.0f64..=1.0, d), n),
            prop::collection::vec(0u8..c as u8, n),
            Just(c),
        )
            .prop_map(|(x, y, c)| (with_bias(&x), y, c))
    })
}

proptest! {
    // No failure-persistence file: integration tests have no lib.rs beside them.
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn train_is_finite_on_small_inputs((x, y, c) in small_problem(), iterations in 1usize..=10) {
        let trace = train(&x, &y, c, &MlrConfig { iterations, ..MlrConfig::default() }).unwrap();
        prop_assert_eq!(trace.per_iteration.len(), iterations);
        prop_assert!(trace.w.iter().chain(&trace.v).flatten().all(|v| v.is_finite()));
        for s in &trace.per_iteration {
            prop_assert!(s.log_likelihood.is_finite() && s.log_likelihood <= 0.0);
            prop_assert!((0.0..=1.0).contains(&s.train_accuracy));
        }
        let pred = predict(&trace.w, &x).unwrap();
        prop_assert!(pred.iter().all(|&p| usize::from(p) < c));
    }

    #[test]
    fn preconditioner_is_positive_and_finite((x, _y, _c) in small_problem()) {
        let b = preconditioner(&x, 1e-10).unwrap();
        prop_assert_eq!(b.len(), x[0].len());
        prop_assert!(b.iter().all(|v| v.is_finite() && *v > 0.0));
    }

}

#[test]
fn gradient_matches_definition_and_default_sigmoid_is_z3() {
    let x = vec![vec![1.0, 2.0], vec![1.0, -0.5], vec![1.0, 0.0]];
    let y = [1u8, 0, 1];
    let v = vec![vec![0.3, -0.2], vec![-0.1, 0.4]];
    let g = gradient(&x, &y, &v, &Z3).unwrap();
    let p = |t: f64| 0.5 + 0.10679534503216294 * t - 0.00038503259805075 * t.powi(3);
    for k in 0..2 {
        for j in 0..2 {
            let want: f64 = (0..3)
                .map(|i| {
                    let yk = if usize::from(y[i]) == k { 1.0 } else { 0.0 };
                    (yk - p(x[i][0] * v[k][0] + x[i][1] * v[k][1])) * x[i][j]
                })
                .sum();
            assert!((g[k][j] - want).abs() < 1e-14);
        }
    }
    assert_eq!(MlrConfig::default().sigmoid, SigmoidFn::Polynomial(Z3.to_vec()));
}

// ---------------------------------------------------------------------------
// 4. Typed errors.
// ---------------------------------------------------------------------------

#[test]
fn errors_are_typed_and_name_the_place() {
    let cfg = MlrConfig::default();
    let ok_x = vec![vec![1.0, 0.5], vec![1.0, -0.5]];
    assert_eq!(train(&[], &[], 2, &cfg), Err(MlError::EmptyData));
    assert_eq!(train(&[vec![]], &[0], 2, &cfg), Err(MlError::EmptyRow { row: 0 }));
    assert_eq!(
        train(&[vec![1.0, 0.5], vec![1.0]], &[0, 1], 2, &cfg),
        Err(MlError::RaggedRow { row: 1, expected: 2, found: 1 })
    );
    let nan = train(&[vec![1.0, 0.5], vec![1.0, f64::NAN]], &[0, 1], 2, &cfg);
    assert!(matches!(nan, Err(MlError::NonFinite { row: 1, column: 1, value }) if value.is_nan()));
    assert_eq!(
        train(&[vec![1.0, f64::INFINITY]], &[0], 2, &cfg),
        Err(MlError::NonFinite { row: 0, column: 1, value: f64::INFINITY })
    );
    assert_eq!(train(&ok_x, &[0, 2], 2, &cfg), Err(MlError::LabelOutOfRange { row: 1, label: 2, classes: 2 }));
    assert_eq!(train(&ok_x, &[0], 2, &cfg), Err(MlError::LabelCountMismatch { rows: 2, labels: 1 }));
    assert_eq!(train(&ok_x, &[0, 0], 0, &cfg), Err(MlError::InvalidClassCount { classes: 0 }));
    assert_eq!(train(&ok_x, &[0, 0], 257, &cfg), Err(MlError::InvalidClassCount { classes: 257 }));
    assert_eq!(train(&ok_x, &[0, 1], 2, &MlrConfig { iterations: 0, ..cfg.clone() }), Err(MlError::ZeroIterations));
    assert!(matches!(
        train(&ok_x, &[0, 1], 2, &MlrConfig { sigmoid: SigmoidFn::Polynomial(vec![]), ..cfg.clone() }),
        Err(MlError::InvalidConfig { field: "sigmoid", .. })
    ));
    for bound in [0.0, -8.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            train(&ok_x, &[0, 1], 2, &MlrConfig { sigmoid: SigmoidFn::ClippedLogistic { bound }, ..cfg.clone() }),
            Err(MlError::InvalidConfig { field: "sigmoid", .. })
        ));
    }
    assert!(matches!(
        train(&ok_x, &[0, 1], 2, &MlrConfig { epsilon: 0.0, ..cfg.clone() }),
        Err(MlError::InvalidConfig { field: "epsilon", .. })
    ));
    assert!(matches!(
        train(&ok_x, &[0, 1], 2, &MlrConfig { init: f64::NAN, ..cfg.clone() }),
        Err(MlError::InvalidConfig { field: "init", .. })
    ));
    assert!(matches!(
        train(&ok_x, &[0, 1], 2, &MlrConfig { method: Method::PlainNag { learning_rate: f64::NAN }, ..cfg }),
        Err(MlError::InvalidConfig { field: "learning_rate", .. })
    ));
    assert_eq!(preconditioner(&[], 1e-10), Err(MlError::EmptyData));
    let w = vec![vec![0.0, 1.0], vec![0.0]];
    assert_eq!(predict(&w, &ok_x), Err(MlError::WeightShape { row: 1, expected: 2, found: 1 }));
    assert_eq!(predict(&[], &ok_x), Err(MlError::InvalidClassCount { classes: 0 }));
    assert_eq!(
        accuracy(&[vec![0.0, 1.0]], &ok_x, &[0, 1]),
        Err(MlError::LabelOutOfRange { row: 1, label: 1, classes: 1 })
    );
    // The messages name the place too.
    assert_eq!(
        MlError::NonFinite { row: 3, column: 7, value: f64::NAN }.to_string(),
        "non-finite feature NaN at row 3, column 7"
    );
}
