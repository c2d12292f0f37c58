//! Sigmoid fits.

use hecnn_approx::chebyshev::horner;
use hecnn_approx::sigmoid::{
    paper_sigmoid, sigmoid, sigmoid_least_squares, sigmoid_minimax, FitKind, PAPER_SIGMOID_RANGE, PAPER_SIGMOID_Z3,
};

#[test]
fn paper_polynomial_constant() {
    assert_eq!(PAPER_SIGMOID_Z3, [0.5, 0.10679534503216294, 0.0, -0.00038503259805075]);
    let p = paper_sigmoid();
    assert_eq!(p.kind, FitKind::Paper);
    assert_eq!(p.range, PAPER_SIGMOID_RANGE);
    // Z3(8) = 0.5 + 0.854 - 0.197 = 1.157..., far from sigma(8) = 0.99966;
    // the worst point is inside the interval, where the error reaches ~0.170.
    assert!(p.max_error >= (horner(&PAPER_SIGMOID_Z3, 8.0) - sigmoid(8.0)).abs());
    let dense = (0..=100_000)
        .map(|i| {
            let x = -8.0 + 16.0 * i as f64 / 100_000.0;
            (horner(&PAPER_SIGMOID_Z3, x) - sigmoid(x)).abs()
        })
        .fold(0.0, f64::max);
    assert!((p.max_error - dense).abs() < 1e-8 && (0.17..0.171).contains(&dense));
    assert!((p.eval(3.0) - horner(&PAPER_SIGMOID_Z3, 3.0)).abs() < 1e-14);
}

#[test]
fn fits_improve_with_degree_and_minimax_wins() {
    let mut prev = f64::INFINITY;
    for d in [3, 5, 7] {
        let ls = sigmoid_least_squares(8.0, d).unwrap();
        let mm = sigmoid_minimax(8.0, d).unwrap();
        assert!(mm.max_error < ls.max_error, "degree {d}");
        assert!(mm.max_error < prev);
        prev = mm.max_error;
        assert_eq!(mm.power.len(), d + 1);
        assert_eq!(mm.power[0], 0.5);
        for k in (2..=d).step_by(2) {
            assert_eq!(mm.power[k], 0.0);
            assert_eq!(ls.power[k], 0.0);
        }
        for i in 0..=160 {
            let x = -8.0 + i as f64 / 10.0;
            assert!((mm.eval(x) - horner(&mm.power, x)).abs() < 1e-12);
            assert!((mm.eval(x) - sigmoid(x)).abs() <= mm.max_error * (1.0 + 1e-6));
        }
    }
    // Degree-3 minimax on [-8, 8] is much better than the paper's Z3.
    assert!(sigmoid_minimax(8.0, 3).unwrap().max_error < paper_sigmoid().max_error);
}

#[test]
fn least_squares_is_the_l2_optimum() {
    // Perturbing the LS coefficients can only increase the L2 error.
    let ls = sigmoid_least_squares(6.0, 5).unwrap();
    let l2 = |p: &[f64]| -> f64 {
        (0..=6000)
            .map(|i| {
                let x = -6.0 + i as f64 / 500.0;
                (horner(p, x) - sigmoid(x)).powi(2)
            })
            .sum()
    };
    let base = l2(&ls.power);
    for k in [1, 3, 5] {
        for s in [-1.0, 1.0] {
            let mut p = ls.power.clone();
            p[k] += s * 1e-3 * 6f64.powi(-(k as i32));
            assert!(l2(&p) > base);
        }
    }
}
