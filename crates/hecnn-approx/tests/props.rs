//! Property tests of invariants.

use std::sync::OnceLock;

use hecnn_approx::chebyshev::horner;
use hecnn_approx::composite::{default_eps, search, CompositeSign};
use hecnn_approx::ChebyshevPoly;
use proptest::prelude::*;

const ALPHA: u32 = 9;

fn sign() -> &'static CompositeSign {
    static S: OnceLock<CompositeSign> = OnceLock::new();
    S.get_or_init(|| search(ALPHA, default_eps(ALPHA)).expect("search alpha 9"))
}

proptest! {
    #[test]
    fn composite_sign_is_exactly_odd(x in -1.0f64..1.0) {
        let s = sign();
        prop_assert_eq!(s.eval(-x), -s.eval(x));
    }

    #[test]
    fn composite_sign_is_within_bound_outside_gap(x in default_eps(ALPHA)..=1.0f64, neg: bool) {
        let s = sign();
        let x = if neg { -x } else { x };
        prop_assert!((s.eval(x) - x.signum()).abs() <= default_eps(ALPHA));
    }

    #[test]
    fn relu_is_close_to_max_x_0(x in default_eps(ALPHA)..=1.0f64, neg: bool) {
        let s = sign();
        let x = if neg { -x } else { x };
        // |relu error| = |x| |p(x) - sgn x| / 2 <= |x| 2^-alpha / 2.
        prop_assert!((s.relu(x) - x.max(0.0)).abs() <= 0.5 * x.abs() * default_eps(ALPHA) + 1e-15);
    }

    #[test]
    fn max_is_close_to_max(a in -0.5f64..0.5, b in -0.5f64..0.5) {
        let s = sign();
        prop_assert!((s.max(a, b) - a.max(b)).abs() <= default_eps(ALPHA));
    }

    #[test]
    fn clenshaw_matches_power_basis(c in prop::collection::vec(-1.0f64..1.0, 1..8), x in -1.0f64..1.0) {
        let p = ChebyshevPoly::new(-1.0, 1.0, c).unwrap();
        let pw = p.to_power_basis();
        prop_assert!((p.eval(x) - horner(&pw, x)).abs() < 1e-12);
        let back = ChebyshevPoly::from_power_basis(-1.0, 1.0, &pw).unwrap();
        for (u, v) in back.coeffs.iter().zip(&p.coeffs) {
            prop_assert!((u - v).abs() < 1e-12);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn remez_never_panics_and_equioscillates(
        lo in -4.0f64..4.0,
        width in 1e-3f64..8.0,
        degree in 0usize..24,
        sym in 0u8..3,
    ) {
        use hecnn_approx::{remez, RemezOptions, Symmetry};
        let symmetry = [Symmetry::Odd, Symmetry::Even, Symmetry::General][sym as usize];
        let f = |x: f64| (0.7 * x).sin() + 0.3 * (0.5 * x).exp();
        match remez(&f, &[(lo, lo + width)], degree, symmetry, &RemezOptions::default()) {
            Ok(r) => {
                // The de la Vallée-Poussin bracket: levelled error <= max error.
                prop_assert!(r.levelled_error <= r.max_error * (1.0 + 1e-6) + 1e-14);
                prop_assert!(r.max_error.is_finite());
            }
            Err(e) => {
                // Only typed, explainable failures.
                let ok = matches!(
                    e,
                    hecnn_approx::ApproxError::NegativeSymmetricInterval { .. }
                        | hecnn_approx::ApproxError::DegreeOutOfRange { .. }
                        | hecnn_approx::ApproxError::NotConverged { .. }
                        | hecnn_approx::ApproxError::NoAlternation { .. }
                        | hecnn_approx::ApproxError::Singular
                );
                prop_assert!(ok, "{e}");
            }
        }
    }

    #[test]
    fn sigmoid_minimax_beats_least_squares(range in 1.0f64..16.0, k in 1usize..4) {
        use hecnn_approx::sigmoid::{sigmoid_least_squares, sigmoid_minimax};
        let d = 2 * k + 1;
        let mm = sigmoid_minimax(range, d).unwrap();
        let ls = sigmoid_least_squares(range, d).unwrap();
        prop_assert!(mm.max_error <= ls.max_error * (1.0 + 1e-9));
    }
}
