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
