//! The plaintext reference (`mlr::reference`) and the encrypted side
//! (`mlr::schedule`, `mlr::prep` (re-exported by `mlr::client`), `mlr::server`) implement the same
//! pieces — Nesterov schedule, sigmoid, preconditioner, scaling with the
//! bias column, accuracy — in separate code. This file holds each pair
//! together from outside:
//!
//! - on random inputs the two agree to 1e-15 (relative where the values are
//!   not of order 1);
//! - on small cases worked by hand, *each* side matches the hand-computed
//!   numbers, so a bug in either one is caught, not only a disagreement;
//! - the reference's source names nothing of the encrypted side, and the
//!   encrypted side's nothing of the reference.

// The hand-computed values keep every digit of the decimal computation.
#![allow(clippy::excessive_precision)]

use hecnn_ml::mlr::server as encrypted;
use hecnn_ml::mlr::{client, reference, schedule};
use hecnn_ml::MlError;
use proptest::prelude::*;

/// `|a − b| ≤ 1e-15·max(1, |a|, |b|)`.
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-15 * a.abs().max(b.abs()).max(1.0)
}

fn all_close(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(p, q)| close(*p, *q))
}

// ---------------------------------------------------------------------------
// 1. Nesterov schedule: reference::nesterov_schedule against
//    schedule::{alpha, schedule, nesterov_step}.
// ---------------------------------------------------------------------------

/// By hand (30-digit decimal arithmetic), n = 4 samples:
///
/// ```text
/// α₀ = 0.01
/// α₁ = (1 + √(1 + 4·0.0001))/2 = (1 + √1.0004)/2 = (1 + 1.000199980003999)/2
///    = 1.0000999900019995001
/// α₂ = (1 + √(1 + 4α₁²))/2 = (1 + √4.000799960007998)/2 = (1 + 2.236246846841376)/2
///    = 1.6181234234206881600
/// η₀ = (1 − α₀)/α₁ = 0.99/1.0000999900019995 = 0.98990101979505138558
/// η₁ = (1 − α₁)/α₂ = −0.0000999900019995/1.6181234234206882 = −6.1793804200746817e-5
/// γ₀ = 1/(1·4) = 0.25,  γ₁ = 1/(2·4) = 0.125
/// ```
#[test]
fn schedule_by_hand_on_both_sides() {
    let alphas = [0.01, 1.0000999900019995001, 1.6181234234206881600];
    let etas = [0.98990101979505138558, -6.1793804200746817e-5];
    let gammas = [0.25, 0.125];
    let reference: Vec<reference::StepConstants> = reference::nesterov_schedule(4).take(2).collect();
    for t in 0..2 {
        let r = reference[t];
        assert_eq!(r.t, t);
        assert!(close(r.alpha, alphas[t]) && close(r.eta, etas[t]) && close(r.gamma, gammas[t]), "reference {r:?}");
        let (eta, gamma) = schedule::schedule(t, 4);
        assert!(close(schedule::alpha(t), alphas[t]) && close(eta, etas[t]) && close(gamma, gammas[t]), "t = {t}");
    }
    assert!(close(schedule::alpha(2), alphas[2]));
    assert_eq!(schedule::ALPHA0, 0.01);
}

/// The encrypted side's `f64` update, two steps applied by hand with the
/// constants above (n does not enter the update).
#[test]
fn nesterov_step_by_hand() {
    let (e0, e1) = (0.98990101979505138558, -6.1793804200746817e-5);
    let mut st = schedule::NesterovState::new(1, 2, 0.5);
    schedule::nesterov_step(&mut st, &[vec![1.0, -2.0]]).unwrap();
    schedule::nesterov_step(&mut st, &[vec![0.25, 4.0]]).unwrap();
    for (j, (s0, s1)) in [(1.0, 0.25), (-2.0, 4.0)].into_iter().enumerate() {
        // tmp = W + S; W ← (1−η)·tmp + η·V; V ← tmp
        let tmp0 = 0.5 + s0;
        let w0 = (1.0 - e0) * tmp0 + e0 * 0.5;
        let tmp1 = w0 + s1;
        let w1 = (1.0 - e1) * tmp1 + e1 * tmp0;
        assert!(close(st.v[0][j], tmp1) && close(st.w[0][j], w1), "entry {j}: {st:?}");
    }
    assert_eq!(st.t, 2);
    // A step of the wrong shape is refused and changes nothing.
    let before = st.clone();
    assert_eq!(
        schedule::nesterov_step(&mut st, &[vec![1.0]]),
        Err(MlError::WeightShape { row: 0, expected: 2, found: 1 })
    );
    assert_eq!(
        schedule::nesterov_step(&mut st, &[vec![1.0, 1.0], vec![1.0, 1.0]]),
        Err(MlError::ClassRows { expected: 1, found: 2 })
    );
    assert_eq!(st, before);
}

// ---------------------------------------------------------------------------
// 2. Sigmoid: reference::{Z3, sigmoid_poly} (Horner) against
//    encrypted::{PAPER_SIGMOID, sigmoid3} (the circuit's term order).
// ---------------------------------------------------------------------------

/// `DESIGN.md`'s coefficients, typed here a third time, and `Z3` by hand:
///
/// ```text
/// Z3(1)  = 0.5 + 0.10679534503216294  − 0.00038503259805075   = 0.60641031243411219
/// Z3(2)  = 0.5 + 0.21359069006432588  − 0.00308026078440600   = 0.71051042927991988
/// Z3(−3) = 0.5 − 0.32038603509648882  + 0.01039588014737025   = 0.19000984505088143
/// Z3(0)  = 0.5
/// ```
#[test]
fn sigmoid_by_hand_on_both_sides() {
    let design = [0.5, 0.10679534503216294, 0.0, -0.00038503259805075];
    assert_eq!(reference::Z3, design);
    assert_eq!(encrypted::PAPER_SIGMOID, design);
    for (t, want) in [(1.0, 0.60641031243411219), (2.0, 0.71051042927991988), (-3.0, 0.19000984505088143), (0.0, 0.5)] {
        let r = reference::sigmoid_poly(&reference::Z3, t);
        let e = encrypted::sigmoid3(&encrypted::PAPER_SIGMOID, t);
        assert!(close(r, want) && close(e, want), "Z3({t}): reference {r}, circuit order {e}, by hand {want}");
    }
    // A quadratic term, which the circuit adds only when it is non-zero:
    // 1 + 2·0.5 + 3·0.25 + 4·0.125 = 3.25.
    let c = [1.0, 2.0, 3.0, 4.0];
    assert_eq!((reference::sigmoid_poly(&c, 0.5), encrypted::sigmoid3(&c, 0.5)), (3.25, 3.25));
    // The reference's default configuration trains with this polynomial.
    assert_eq!(reference::MlrConfig::default().sigmoid.coefficients(), Some(&design[..]));
}

// ---------------------------------------------------------------------------
// 3. Preconditioner: reference::preconditioner (index loops) against
//    client::preconditioner (row by row).
// ---------------------------------------------------------------------------

/// Two samples, three columns (bias first), by hand:
///
/// ```text
/// X = | 1   0.5  −2 |     row sums of |X|:  s₀ = 1 + 0.5 + 2 = 3.5,  s₁ = 1 + 1 + 0 = 2
///     | 1  −1     0 |
/// Σ_i |x_i0|·s_i = 3.5 + 2       = 5.5   → ¼ = 1.375
/// Σ_i |x_i1|·s_i = 0.5·3.5 + 1·2 = 3.75  → ¼ = 0.9375
/// Σ_i |x_i2|·s_i = 2·3.5 + 0     = 7     → ¼ = 1.75
/// b̄ = 1/(1e-10 + ¼Σ) = 0.72727272721983471, 1.0666666665528889, 0.57142857139591837
/// ```
///
/// and a column of zeros gets `1/ε = 1e10`.
#[test]
fn preconditioner_by_hand_on_both_sides() {
    let x = vec![vec![1.0, 0.5, -2.0], vec![1.0, -1.0, 0.0]];
    let want = [0.72727272721983471, 1.0666666665528889, 0.57142857139591837];
    let r = reference::preconditioner(&x, 1e-10).unwrap();
    let c = client::preconditioner(&x, client::DEFAULT_EPSILON).unwrap();
    assert!(all_close(&r, &want), "reference {r:?}");
    assert!(all_close(&c, &want), "client {c:?}");
    let zero_column = vec![vec![1.0, 0.0], vec![1.0, 0.0]];
    assert_eq!(reference::preconditioner(&zero_column, 1e-10).unwrap()[1], 1e10);
    assert_eq!(client::preconditioner(&zero_column, 1e-10).unwrap()[1], 1e10);
    // B̄ ⊙ X, what the client uploads next to X.
    let xs = client::precondition(&x, &c);
    assert_eq!(xs[0], vec![c[0], 0.5 * c[1], -2.0 * c[2]]);
    assert_eq!(xs[1], vec![c[0], -c[1], 0.0]);
}

// ---------------------------------------------------------------------------
// 4. Scaling and bias: reference::{feature_maxima, design_matrix} against
//    client::{fit_scaler, Scaler::apply, with_bias}.
// ---------------------------------------------------------------------------

/// By hand: training data with a feature that is 0 everywhere,
///
/// ```text
/// raw = | 0  −4  2 |   max |x_ij| per feature: 0, 4, 2
///       | 0   2  1 |
/// design = | 1  0  −1    1   |   (bias first; 0/0 → 0)
///          | 1  0   0.5  0.5 |
/// ```
///
/// and an unseen row `(3, 8, −1)` → `(1, 0, 2, −0.5)`: not clipped, and the
/// all-zero training feature stays 0.
#[test]
fn scaling_by_hand_on_both_sides() {
    let raw = vec![vec![0.0, -4.0, 2.0], vec![0.0, 2.0, 1.0]];
    let want = vec![vec![1.0, 0.0, -1.0, 1.0], vec![1.0, 0.0, 0.5, 0.5]];
    let unseen = vec![vec![3.0, 8.0, -1.0]];
    let want_unseen = vec![vec![1.0, 0.0, 2.0, -0.5]];

    let maxima = reference::feature_maxima(&raw).unwrap();
    assert_eq!(maxima, vec![0.0, 4.0, 2.0]);
    assert_eq!(reference::design_matrix(&raw, &maxima).unwrap(), want);
    assert_eq!(reference::design_matrix(&unseen, &maxima).unwrap(), want_unseen);

    let scaler = client::fit_scaler(&raw).unwrap();
    assert_eq!(scaler.max_abs, vec![0.0, 4.0, 2.0]);
    assert_eq!(client::with_bias(&scaler.apply(&raw).unwrap()), want);
    assert_eq!(client::with_bias(&scaler.apply(&unseen).unwrap()), want_unseen);
}

// ---------------------------------------------------------------------------
// 5. Accuracy and argmax: reference::{accuracy, predict} against
//    client::{accuracy, predict}.
// ---------------------------------------------------------------------------

/// By hand, the X of the preconditioner case and three classes:
///
/// ```text
/// W = | 0.1   0.2  0.3 |   scores x_i·w_k:
///     | 0    −1    0   |   sample 0: 0.1+0.1−0.6 = −0.4,  −0.5,  0.5−0.2 = 0.3  → class 2
///     | 0.5   0    0.1 |   sample 1: 0.1−0.2 = −0.1,       1,     0.5          → class 1
/// labels (2, 0) → accuracy 1/2
/// ```
///
/// Ties go to the first class; a NaN score never wins.
#[test]
fn accuracy_by_hand_on_both_sides() {
    let x = vec![vec![1.0, 0.5, -2.0], vec![1.0, -1.0, 0.0]];
    let w = vec![vec![0.1, 0.2, 0.3], vec![0.0, -1.0, 0.0], vec![0.5, 0.0, 0.1]];
    let labels = [2u8, 0];
    assert_eq!(reference::predict(&w, &x).unwrap(), vec![2, 1]);
    assert_eq!(client::predict(&w, &x).unwrap(), vec![2, 1]);
    assert_eq!(reference::accuracy(&w, &x, &labels).unwrap(), 0.5);
    assert_eq!(client::accuracy(&w, &x, &labels).unwrap(), 0.5);

    let tie = vec![vec![1.0, 0.0, 0.0], vec![1.0, 0.0, 0.0]];
    assert_eq!(reference::predict(&tie, &x).unwrap(), vec![0, 0]);
    assert_eq!(client::predict(&tie, &x).unwrap(), vec![0, 0]);
    let nan = vec![vec![f64::NAN, 0.0, 0.0], vec![-1.0, 0.0, 0.0]];
    assert_eq!(reference::predict(&nan, &x).unwrap(), vec![1, 1]);
    assert_eq!(client::predict(&nan, &x).unwrap(), vec![1, 1]);
}

// ---------------------------------------------------------------------------
// 6. Random inputs: every pair agrees to 1e-15.
// ---------------------------------------------------------------------------

/// An n×d matrix with entries of magnitude up to `scale`.
fn matrix(n: std::ops::Range<usize>, d: std::ops::Range<usize>, scale: f64) -> impl Strategy<Value = Vec<Vec<f64>>> {
    (n, d).prop_flat_map(move |(n, d)| prop::collection::vec(prop::collection::vec(-scale..=scale, d), n))
}

/// (x with bias, w, labels) for `c` classes.
fn scored_problem() -> impl Strategy<Value = (Vec<Vec<f64>>, Vec<Vec<f64>>, Vec<u8>)> {
    (1usize..20, 1usize..8, 1usize..12).prop_flat_map(|(n, d, c)| {
        (
            prop::collection::vec(prop::collection::vec(-1.0f64..=1.0, d), n),
            prop::collection::vec(prop::collection::vec(-3.0f64..=3.0, d + 1), c),
            prop::collection::vec(0u8..c as u8, n),
        )
            .prop_map(|(x, w, y)| (client::with_bias(&x), w, y))
    })
}

proptest! {
    // No failure-persistence file: integration tests have no lib.rs beside them.
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn schedules_agree(n in 1usize..1_000_000, t in 0usize..300) {
        let r = reference::nesterov_schedule(n).nth(t).unwrap();
        let (eta, gamma) = schedule::schedule(t, n);
        prop_assert!(close(r.alpha, schedule::alpha(t)), "α_{}: {} vs {}", t, r.alpha, schedule::alpha(t));
        prop_assert!(close(r.eta, eta), "η_{}: {} vs {}", t, r.eta, eta);
        prop_assert!(close(r.gamma, gamma), "γ_{}: {} vs {}", t, r.gamma, gamma);
    }

    #[test]
    fn sigmoids_agree_on_z3_range(t in -8.0f64..=8.0) {
        let r = reference::sigmoid_poly(&reference::Z3, t);
        let e = encrypted::sigmoid3(&encrypted::PAPER_SIGMOID, t);
        prop_assert!((r - e).abs() <= 1e-15, "Z3({}): {} vs {}", t, r, e);
    }

    #[test]
    fn sigmoids_agree_on_any_cubic(c in prop::array::uniform4(-1.0f64..=1.0), t in -2.0f64..=2.0) {
        // Relative to the size of the terms, which is what rounding scales with.
        let size: f64 = c.iter().enumerate().map(|(k, ck)| (ck * t.powi(k as i32)).abs()).sum();
        let (r, e) = (reference::sigmoid_poly(&c, t), encrypted::sigmoid3(&c, t));
        prop_assert!((r - e).abs() <= 1e-15 * size.max(1.0), "{:?} at {}: {} vs {}", c, t, r, e);
    }

    #[test]
    fn preconditioners_agree(x in matrix(1..30, 1..10, 1.0), big in matrix(1..10, 1..6, 1e3)) {
        for x in [&x, &big] {
            let r = reference::preconditioner(x, 1e-10).unwrap();
            let c = client::preconditioner(x, client::DEFAULT_EPSILON).unwrap();
            prop_assert!(all_close(&r, &c), "{:?} vs {:?}", r, c);
        }
    }

    #[test]
    fn scalings_agree(raw in matrix(1..20, 1..8, 50.0), unseen in prop::collection::vec(-80.0f64..=80.0, 8)) {
        let maxima = reference::feature_maxima(&raw).unwrap();
        let scaler = client::fit_scaler(&raw).unwrap();
        prop_assert!(all_close(&maxima, &scaler.max_abs));
        let unseen = vec![unseen[..raw[0].len()].to_vec()];
        for data in [&raw, &unseen] {
            let r = reference::design_matrix(data, &maxima).unwrap();
            let c = client::with_bias(&scaler.apply(data).unwrap());
            prop_assert_eq!(r.len(), c.len());
            for (rr, cr) in r.iter().zip(&c) {
                prop_assert!(all_close(rr, cr), "{:?} vs {:?}", rr, cr);
            }
        }
    }

    #[test]
    fn accuracies_agree((x, w, y) in scored_problem()) {
        prop_assert_eq!(reference::predict(&w, &x).unwrap(), client::predict(&w, &x).unwrap());
        let (r, c) = (reference::accuracy(&w, &x, &y).unwrap(), client::accuracy(&w, &x, &y).unwrap());
        prop_assert!(close(r, c), "{} vs {}", r, c);
    }
}

// ---------------------------------------------------------------------------
// 7. The pieces composed: the encrypted side's f64 model reproduces the
//    reference's training.
// ---------------------------------------------------------------------------

/// The client's `B̄`, the encrypted side's schedule and update
/// (`schedule::{schedule, nesterov_step}`) and the reference's gradient,
/// composed by hand, reproduce `reference::train` bit for bit for all three
/// methods: the server's algorithm in `f64`, built from the encrypted side's
/// parts, is the reference's.
#[test]
fn encrypted_side_pieces_compose_to_the_reference() {
    let x = client::with_bias(&[
        vec![0.2, -0.7, 0.9],
        vec![-1.0, 0.3, 0.1],
        vec![0.6, 0.6, -0.4],
        vec![0.0, -0.2, 0.8],
        vec![0.9, 0.1, 0.3],
    ]);
    let y = [0u8, 2, 1, 2, 0];
    let n = x.len();
    let methods = [
        reference::Method::QuadraticGradient,
        reference::Method::PlainNag { learning_rate: 0.3 },
        reference::Method::PaperNag,
    ];
    for method in methods {
        let cfg = reference::MlrConfig { iterations: 4, method, ..reference::MlrConfig::default() };
        let trace = reference::train(&x, &y, 3, &cfg).unwrap();
        let bbar = client::preconditioner(&x, client::DEFAULT_EPSILON).unwrap();
        let mut st = schedule::NesterovState::new(3, 4, client::DEFAULT_INIT);
        for t in 0..4 {
            let g = reference::gradient(&x, &y, &st.v, &encrypted::PAPER_SIGMOID).unwrap();
            let (_, gamma) = schedule::schedule(t, n);
            let step: Vec<Vec<f64>> = g
                .iter()
                .map(|row| {
                    let scaled = row.iter().zip(&bbar);
                    scaled
                        .map(|(gj, bj)| match method {
                            reference::Method::QuadraticGradient => (1.0 + gamma) * (bj * gj),
                            reference::Method::PlainNag { learning_rate } => gj * learning_rate,
                            reference::Method::PaperNag => gj * gamma,
                        })
                        .collect()
                })
                .collect();
            schedule::nesterov_step(&mut st, &step).unwrap();
            assert_eq!(trace.per_iteration[t].log_likelihood, reference::log_likelihood(&st.w, &x, &y).unwrap());
            assert_eq!(trace.per_iteration[t].train_accuracy, client::accuracy(&st.w, &x, &y).unwrap());
        }
        assert_eq!((&trace.w, &trace.v), (&st.w, &st.v), "{method:?}");
    }
}

/// The reference's default configuration and the client's upload constants
/// are `DESIGN.md`'s: `W = V = 0.0128`, `ε = 1e-10`.
#[test]
fn defaults_agree_with_the_design() {
    let cfg = reference::MlrConfig::default();
    assert_eq!((cfg.init, client::DEFAULT_INIT), (0.0128, 0.0128));
    assert_eq!((cfg.epsilon, client::DEFAULT_EPSILON), (1e-10, 1e-10));
    assert_eq!((cfg.iterations, cfg.method), (2, reference::Method::QuadraticGradient));
}

/// Both sides refuse the same bad input with the same typed error.
#[test]
fn both_sides_name_the_same_errors() {
    let ragged = vec![vec![1.0, 0.5], vec![1.0]];
    let nan = vec![vec![1.0, 0.5], vec![1.0, f64::NAN]];
    let want_ragged = MlError::RaggedRow { row: 1, expected: 2, found: 1 };
    assert_eq!(reference::preconditioner(&ragged, 1e-10), Err(want_ragged.clone()));
    assert_eq!(client::preconditioner(&ragged, 1e-10), Err(want_ragged.clone()));
    assert_eq!(reference::feature_maxima(&ragged), Err(want_ragged.clone()));
    assert_eq!(client::fit_scaler(&ragged), Err(want_ragged));
    for e in [reference::preconditioner(&nan, 1e-10), client::preconditioner(&nan, 1e-10)] {
        assert!(matches!(e, Err(MlError::NonFinite { row: 1, column: 1, value }) if value.is_nan()));
    }
    assert_eq!(reference::preconditioner(&[], 1e-10), Err(MlError::EmptyData));
    assert_eq!(client::preconditioner(&[], 1e-10), Err(MlError::EmptyData));
    assert_eq!(client::preconditioner(&[vec![]], 1e-10), Err(MlError::EmptyRow { row: 0 }));
    for eps in [0.0, f64::NAN] {
        assert!(matches!(reference::preconditioner(&[vec![1.0]], eps), Err(MlError::InvalidConfig { .. })));
        assert!(matches!(client::preconditioner(&[vec![1.0]], eps), Err(MlError::InvalidConfig { .. })));
    }
    // Data of another width than the scaling was learnt on.
    let wide = [vec![1.0, 2.0, 3.0]];
    let want_width = MlError::RaggedRow { row: 0, expected: 2, found: 3 };
    assert_eq!(reference::design_matrix(&wide, &[1.0, 1.0]), Err(want_width.clone()));
    assert_eq!(client::fit_scaler(&[vec![1.0, 1.0]]).unwrap().apply(&wide), Err(want_width));
    // Weights, labels.
    let x = vec![vec![1.0, 0.5], vec![1.0, -0.5]];
    let short_row = vec![vec![0.0, 1.0], vec![0.0]];
    let want_shape = MlError::WeightShape { row: 1, expected: 2, found: 1 };
    assert_eq!(reference::predict(&short_row, &x), Err(want_shape.clone()));
    assert_eq!(client::predict(&short_row, &x), Err(want_shape));
    assert_eq!(reference::predict(&[], &x), Err(MlError::InvalidClassCount { classes: 0 }));
    assert_eq!(client::predict(&[], &x), Err(MlError::InvalidClassCount { classes: 0 }));
    let one_class = [vec![0.0, 1.0]];
    let want_label = MlError::LabelOutOfRange { row: 1, label: 1, classes: 1 };
    assert_eq!(reference::accuracy(&one_class, &x, &[0, 1]), Err(want_label.clone()));
    assert_eq!(client::accuracy(&one_class, &x, &[0, 1]), Err(want_label));
    let want_count = MlError::LabelCountMismatch { rows: 2, labels: 1 };
    assert_eq!(reference::accuracy(&one_class, &x, &[0]), Err(want_count.clone()));
    assert_eq!(client::accuracy(&one_class, &x, &[0]), Err(want_count));
}

// ---------------------------------------------------------------------------
// 8. The two sides share no code.
// ---------------------------------------------------------------------------

/// Code lines (comments dropped) of the `.rs` files directly in `dir`.
fn code_lines(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.lines().map(str::trim).filter(|l| !l.starts_with("//") && !l.starts_with("#!"));
            lines.extend(code.map(|l| (name.clone(), l.to_string())));
        }
    }
    lines
}

/// The reference (`src/mlr/reference/`) reaches nothing of the encrypted
/// side, and the encrypted side (`src/mlr/*.rs`) nothing of the reference.
#[test]
fn reference_and_encrypted_side_share_no_code() {
    let mlr = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/mlr");
    let reference_lines = code_lines(&mlr.join("reference"));
    assert!(reference_lines.len() > 200, "reference sources not found");
    for (file, line) in &reference_lines {
        for other in [
            "schedule::",
            "scaler::",
            "client::",
            "prep::",
            "server::",
            "setup::",
            "refresh::",
            "crate::mlr",
            "super::super",
        ] {
            assert!(!line.contains(other), "{file}: `{line}` reaches `{other}`");
        }
    }
    let encrypted_lines = code_lines(&mlr);
    assert!(encrypted_lines.len() > 200, "encrypted-side sources not found");
    // (The client compares a model with reference *values* it is handed;
    // what must not appear is the reference's code.)
    for (file, line) in encrypted_lines.iter().filter(|(f, _)| !f.ends_with("mod.rs")) {
        assert!(
            !line.contains("reference::") && !line.contains("mod@reference"),
            "{file}: `{line}` reaches the reference"
        );
    }
}
