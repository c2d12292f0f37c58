//! Bad input gives the exact typed error, never a panic.

use hecnn_approx::composite::{compose, default_eps, search, search_with, SearchOptions};
use hecnn_approx::sigmoid::{sigmoid_least_squares, sigmoid_minimax};
use hecnn_approx::{remez, ApproxError, ChebyshevPoly, RemezOptions, Symmetry};

#[test]
fn chebyshev_bad_input() {
    assert_eq!(
        ChebyshevPoly::new(0.0, 1.0, vec![1.0, f64::NAN]),
        Err(ApproxError::NonFinite { what: "Chebyshev coefficients" })
    );
    assert_eq!(
        ChebyshevPoly::new(0.0, 1.0, vec![f64::INFINITY]),
        Err(ApproxError::NonFinite { what: "Chebyshev coefficients" })
    );
    assert_eq!(ChebyshevPoly::new(1.0, 0.0, vec![1.0]), Err(ApproxError::InvalidInterval { lo: 1.0, hi: 0.0 }));
    assert_eq!(ChebyshevPoly::new(0.5, 0.5, vec![1.0]), Err(ApproxError::InvalidInterval { lo: 0.5, hi: 0.5 }));
    assert_eq!(ChebyshevPoly::new(f64::NAN, 1.0, vec![1.0]), Err(ApproxError::NonFinite { what: "interval end" }));
    assert!(matches!(ChebyshevPoly::new(0.0, 1.0, vec![]), Err(ApproxError::DegreeOutOfRange { .. })));
    assert_eq!(
        ChebyshevPoly::interpolate(|x| if x > 0.5 { f64::NAN } else { x }, -1.0, 1.0, 4),
        Err(ApproxError::NonFinite { what: "function value" })
    );
    assert!(matches!(
        ChebyshevPoly::interpolate(f64::exp, -1.0, 1.0, 5000),
        Err(ApproxError::DegreeOutOfRange { degree: 5000, .. })
    ));
    assert_eq!(
        ChebyshevPoly::from_power_basis(0.0, 1.0, &[1.0, f64::NEG_INFINITY]),
        Err(ApproxError::NonFinite { what: "power-basis coefficients" })
    );
    let p = ChebyshevPoly::new(0.0, 1.0, vec![1.0]).unwrap();
    assert_eq!(p.eval_checked(f64::NAN), Err(ApproxError::NonFinite { what: "evaluation point" }));
}

#[test]
fn remez_bad_input() {
    let f = |x: f64| x.exp();
    let o = RemezOptions::default();
    assert_eq!(remez(&f, &[], 3, Symmetry::General, &o).unwrap_err(), ApproxError::NoIntervals);
    assert_eq!(
        remez(&f, &[(1.0, 0.0)], 3, Symmetry::General, &o).unwrap_err(),
        ApproxError::InvalidInterval { lo: 1.0, hi: 0.0 }
    );
    assert_eq!(
        remez(&f, &[(0.0, f64::NAN)], 3, Symmetry::General, &o).unwrap_err(),
        ApproxError::NonFinite { what: "interval end" }
    );
    assert_eq!(
        remez(&f, &[(0.0, 1.0), (0.5, 2.0)], 3, Symmetry::General, &o).unwrap_err(),
        ApproxError::OverlappingIntervals
    );
    assert_eq!(
        remez(&f, &[(-1.0, 1.0)], 3, Symmetry::Odd, &o).unwrap_err(),
        ApproxError::NegativeSymmetricInterval { lo: -1.0, hi: 1.0 }
    );
    assert_eq!(
        remez(&f, &[(0.1, 1.0)], 4, Symmetry::Odd, &o).unwrap_err(),
        ApproxError::DegreeOutOfRange { degree: 4, min: 1, max: 127 }
    );
    assert_eq!(
        remez(&f, &[(0.1, 1.0)], 200, Symmetry::General, &o).unwrap_err(),
        ApproxError::DegreeOutOfRange { degree: 200, min: 0, max: 127 }
    );
    assert_eq!(
        remez(&|_x: f64| f64::NAN, &[(0.1, 1.0)], 3, Symmetry::General, &o).unwrap_err(),
        ApproxError::NonFinite { what: "function value" }
    );
    let one_step = RemezOptions { max_iterations: 1, ..RemezOptions::default() };
    assert!(matches!(
        remez(&|_x: f64| 1.0, &[(0.01, 1.0)], 15, Symmetry::Odd, &one_step).unwrap_err(),
        ApproxError::NotConverged { iterations: 1, .. }
    ));
    let bad_tol = RemezOptions { tolerance: f64::NAN, ..RemezOptions::default() };
    assert!(matches!(
        remez(&f, &[(0.0, 1.0)], 3, Symmetry::General, &bad_tol).unwrap_err(),
        ApproxError::InvalidParameter { .. }
    ));
}

#[test]
fn composite_bad_input() {
    assert_eq!(search(3, 0.1).unwrap_err(), ApproxError::AlphaOutOfRange { alpha: 3 });
    assert_eq!(search(21, 0.1).unwrap_err(), ApproxError::AlphaOutOfRange { alpha: 21 });
    assert_eq!(search(8, f64::NAN).unwrap_err(), ApproxError::NonFinite { what: "eps" });
    assert_eq!(search(8, f64::INFINITY).unwrap_err(), ApproxError::NonFinite { what: "eps" });
    assert_eq!(search(8, 0.0).unwrap_err(), ApproxError::EpsOutOfRange { eps: 0.0 });
    assert_eq!(search(8, 1.0).unwrap_err(), ApproxError::EpsOutOfRange { eps: 1.0 });
    assert_eq!(search(8, -0.5).unwrap_err(), ApproxError::EpsOutOfRange { eps: -0.5 });
    let one_stage = SearchOptions { max_stages: 1, ..SearchOptions::default() };
    assert_eq!(
        search_with(20, default_eps(20), &one_stage).unwrap_err(),
        ApproxError::NoSequence { alpha: 20, eps: default_eps(20), max_stages: 1 }
    );
    let even = SearchOptions { min_degree: 4, ..SearchOptions::default() };
    assert!(matches!(search_with(8, 0.01, &even).unwrap_err(), ApproxError::DegreeOutOfRange { degree: 4, .. }));
    assert!(matches!(compose(8, 0.01, &[7, 8]).unwrap_err(), ApproxError::DegreeOutOfRange { degree: 8, .. }));
    assert!(matches!(compose(8, 0.01, &[]).unwrap_err(), ApproxError::InvalidParameter { .. }));
    assert_eq!(compose(2, 0.01, &[7]).unwrap_err(), ApproxError::AlphaOutOfRange { alpha: 2 });
    let s = compose(4, default_eps(4), &[7, 7]).unwrap();
    assert!(matches!(s.max_pool(&[]).unwrap_err(), ApproxError::InvalidParameter { .. }));
    assert_eq!(s.max_pool(&[0.1, f64::NAN]).unwrap_err(), ApproxError::NonFinite { what: "max-pool window" });
}

#[test]
fn sigmoid_bad_input() {
    assert_eq!(sigmoid_least_squares(f64::NAN, 3).unwrap_err(), ApproxError::NonFinite { what: "sigmoid range" });
    assert_eq!(sigmoid_minimax(0.0, 3).unwrap_err(), ApproxError::InvalidInterval { lo: -0.0, hi: 0.0 });
    assert_eq!(sigmoid_minimax(8.0, 4).unwrap_err(), ApproxError::DegreeOutOfRange { degree: 4, min: 1, max: 31 });
}
