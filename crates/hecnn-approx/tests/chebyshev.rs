//! Chebyshev interpolation accuracy and basis conversions.

use hecnn_approx::chebyshev::{clenshaw, horner};
use hecnn_approx::ChebyshevPoly;

fn max_err(p: &ChebyshevPoly, f: impl Fn(f64) -> f64, n: usize) -> f64 {
    (0..=n)
        .map(|i| {
            let x = p.a + (p.b - p.a) * i as f64 / n as f64;
            (p.eval(x) - f(x)).abs()
        })
        .fold(0.0, f64::max)
}

#[test]
fn exp_interpolation_is_near_minimax() {
    // Interpolation error bound: max|f^(n+1)| / (2^n (n+1)!) = e / (2^10 * 11!) ≈ 6.6e-11 for n = 10.
    let p = ChebyshevPoly::interpolate(f64::exp, -1.0, 1.0, 10).unwrap();
    let e = max_err(&p, f64::exp, 10_000);
    assert!(e < 6.7e-11, "error {e}");
    assert!(e > 1e-12, "suspiciously small error {e}");
    // Degree 16 reaches rounding level.
    let p = ChebyshevPoly::interpolate(f64::exp, -1.0, 1.0, 16).unwrap();
    assert!(max_err(&p, f64::exp, 10_000) < 1e-15 * 8.0);
}

#[test]
fn sin_on_shifted_interval() {
    // On [0, pi], half-width pi/2: bound (pi/2)^(n+1) / (2^n (n+1)!) for n = 12 ≈ 2.7e-12.
    let p = ChebyshevPoly::interpolate(f64::sin, 0.0, std::f64::consts::PI, 12).unwrap();
    let e = max_err(&p, f64::sin, 10_000);
    assert!(e < 2.7e-12, "error {e}");
    assert_eq!(p.degree(), 12);
}

#[test]
fn interpolation_is_exact_on_polynomials() {
    let f = |x: f64| 3.0 - 2.0 * x + 0.5 * x * x * x;
    let p = ChebyshevPoly::interpolate(f, -2.0, 5.0, 3).unwrap();
    assert!(max_err(&p, f, 1000) < 1e-12);
    let pw = p.to_power_basis();
    let want = [3.0, -2.0, 0.0, 0.5];
    for (a, b) in pw.iter().zip(want) {
        assert!((a - b).abs() < 1e-12, "{pw:?}");
    }
}

#[test]
fn clenshaw_equals_power_basis_evaluation() {
    let p = ChebyshevPoly::new(-0.5, 2.0, vec![0.3, -1.2, 0.7, 0.05, -0.2, 0.11, 0.02]).unwrap();
    let pw = p.to_power_basis();
    let pt = p.to_mapped_power_basis();
    for i in 0..=200 {
        let x = -0.5 + 2.5 * i as f64 / 200.0;
        let c = p.eval(x);
        assert!((c - horner(&pw, x)).abs() < 1e-12);
        assert!((c - horner(&pt, p.map(x))).abs() < 1e-13);
        assert_eq!(c, clenshaw(&p.coeffs, p.map(x)));
    }
}

#[test]
fn power_basis_round_trip() {
    let pw = [1.0, -0.5, 0.25, 2.0, -1.0];
    let p = ChebyshevPoly::from_power_basis(-3.0, 1.0, &pw).unwrap();
    for (a, b) in p.to_power_basis().iter().zip(pw) {
        assert!((a - b).abs() < 1e-12);
    }
    for i in 0..=50 {
        let x = -3.0 + 4.0 * i as f64 / 50.0;
        assert!((p.eval(x) - horner(&pw, x)).abs() < 1e-11);
    }
}

#[test]
fn chebyshev_basis_convention() {
    // coeffs = [0, 0, 1] is T_2(t) = 2t^2 - 1 with t = (2x - a - b)/(b - a).
    let p = ChebyshevPoly::new(1.0, 3.0, vec![0.0, 0.0, 1.0]).unwrap();
    assert_eq!(p.eval(2.0), -1.0); // t = 0
    assert_eq!(p.eval(3.0), 1.0); // t = 1
    assert!((p.eval(2.5) - (2.0 * 0.25 - 1.0)).abs() < 1e-15);
}

#[test]
fn odd_bsgs_reference_matches_cost_model_and_clenshaw() {
    use hecnn_approx::bsgs::eval_odd_bsgs;
    use hecnn_approx::cost::{depth, nonscalar_mults};
    for d in (3..=127).step_by(2) {
        let c: Vec<f64> = (0..=d)
            .map(|k| if k % 2 == 1 { 1.0 / (1.0 + k as f64) * if k % 4 == 1 { 1.0 } else { -1.0 } } else { 0.0 })
            .collect();
        for &t in &[-0.9, -0.3, 0.1, 0.77, 1.0] {
            let (v, ops) = eval_odd_bsgs(&c, t).unwrap();
            assert!((v - clenshaw(&c, t)).abs() < 1e-11, "degree {d} at {t}");
            assert_eq!(ops.nonscalar_mults, nonscalar_mults(d), "mults of degree {d}");
            assert_eq!(ops.depth, depth(d), "depth of degree {d}");
        }
    }
}
