//! Remez exchange against known minimax results.

use hecnn_approx::{remez, RemezOptions, Symmetry};

fn opts() -> RemezOptions {
    RemezOptions::default()
}

#[test]
fn x_squared_by_line() {
    let r = remez(&|x: f64| x * x, &[(-1.0, 1.0)], 1, Symmetry::General, &opts()).unwrap();
    assert!((r.max_error - 0.5).abs() < 1e-12);
    assert!((r.power[0] - 0.5).abs() < 1e-12 && r.power[1].abs() < 1e-12);
}

#[test]
fn abs_by_even_quadratic() {
    // Best quadratic for |x| on [-1, 1] is x^2 + 1/8, error 1/8.
    let r = remez(&|x: f64| x.abs(), &[(0.0, 1.0)], 2, Symmetry::Even, &opts()).unwrap();
    assert!((r.max_error - 0.125).abs() < 1e-10, "{}", r.max_error);
    assert!((r.power[0] - 0.125).abs() < 1e-9 && r.power[1] == 0.0 && (r.power[2] - 1.0).abs() < 1e-9);
}

#[test]
fn odd_cubic_sign_equioscillates_and_beats_brute_force() {
    let eps = 0.1;
    let sgn = |x: f64| x.signum();
    let r = remez(&sgn, &[(eps, 1.0)], 3, Symmetry::Odd, &opts()).unwrap();
    // Equioscillation: error at the 3 reference points has alternating sign and equal size.
    assert_eq!(r.reference.len(), 3);
    let errs: Vec<f64> = r.reference.iter().map(|&x| r.cheb.eval(x) - 1.0).collect();
    for w in errs.windows(2) {
        assert!(w[0] * w[1] < 0.0, "{errs:?}");
        assert!((w[0].abs() - w[1].abs()).abs() < 1e-8 * r.max_error, "{errs:?}");
    }
    assert!((r.max_error - r.levelled_error).abs() < 1e-8 * r.max_error);
    // Brute force over p(x) = a x + b x^3 on a grid of (a, b), refined twice.
    let xs: Vec<f64> = (0..=2000).map(|i| eps + (1.0 - eps) * i as f64 / 2000.0).collect();
    let cost = |a: f64, b: f64| xs.iter().map(|&x| (a * x + b * x * x * x - 1.0).abs()).fold(0.0, f64::max);
    let (mut ca, mut cb, mut span) = (2.0, -1.0, 4.0);
    let mut best = f64::INFINITY;
    for _ in 0..10 {
        let (mut ba, mut bb) = (ca, cb);
        for i in -20..=20 {
            for j in -20..=20 {
                let (a, b) = (ca + span * i as f64 / 20.0, cb + span * j as f64 / 20.0);
                let c = cost(a, b);
                if c < best {
                    (best, ba, bb) = (c, a, b);
                }
            }
        }
        (ca, cb, span) = (ba, bb, span / 4.0);
    }
    // The brute force sees only 2001 points, so it may undercut the true max by a hair.
    assert!(r.max_error <= best + 1e-7, "remez {} brute {}", r.max_error, best);
    assert!(best - r.max_error < 1e-4, "remez {} brute {}", r.max_error, best);
    // Symmetry: the odd fit is odd, and matches sgn on the negative side too.
    assert_eq!(r.cheb.eval(-0.5), -r.cheb.eval(0.5));
}

#[test]
fn union_of_intervals_general_matches_odd() {
    let sgn = |x: f64| x.signum();
    let g = remez(&sgn, &[(-1.0, -0.2), (0.2, 1.0)], 7, Symmetry::General, &opts()).unwrap();
    let o = remez(&sgn, &[(0.2, 1.0)], 7, Symmetry::Odd, &opts()).unwrap();
    assert!((g.max_error - o.max_error).abs() < 1e-7 * o.max_error, "{} vs {}", g.max_error, o.max_error);
    // General fit of an odd problem is odd up to rounding.
    for k in (0..=7).step_by(2) {
        assert!(g.cheb.coeffs[k].abs() < 1e-7, "{:?}", g.cheb.coeffs);
    }
}

#[test]
fn minimax_beats_interpolation_and_equioscillates() {
    let r = remez(&f64::exp, &[(-1.0, 1.0)], 5, Symmetry::General, &opts()).unwrap();
    let c = hecnn_approx::ChebyshevPoly::interpolate(f64::exp, -1.0, 1.0, 5).unwrap();
    let ce = (0..=20_000)
        .map(|i| {
            let x = -1.0 + i as f64 / 10_000.0;
            (c.eval(x) - x.exp()).abs()
        })
        .fold(0.0, f64::max);
    assert!(r.max_error < ce);
    assert!(r.max_error > 0.5 * ce); // interpolation is near-minimax
    assert_eq!(r.reference.len(), 7);
    let errs: Vec<f64> = r.reference.iter().map(|&x| r.cheb.eval(x) - x.exp()).collect();
    for w in errs.windows(2) {
        assert!(w[0] * w[1] < 0.0);
        assert!((w[0].abs() - w[1].abs()).abs() < 1e-7 * r.max_error);
    }
}

#[test]
fn high_precision_and_double_agree() {
    let sgn = |_x: f64| 1.0;
    let hp = remez(&sgn, &[(1.0 / 64.0, 1.0)], 31, Symmetry::Odd, &opts()).unwrap();
    let lo =
        remez(&sgn, &[(1.0 / 64.0, 1.0)], 31, Symmetry::Odd, &RemezOptions { precision_bits: 53, ..opts() }).unwrap();
    assert!((hp.max_error - lo.max_error).abs() < 1e-9);
}

#[test]
fn tiny_gap_degree_63_in_both_precisions() {
    // The hardest stage-1 fit of the table (eps = 2^-20, degree 63): the
    // starting reference spread in x^2 keeps the system solvable in f64 too.
    let one = |_x: f64| 1.0;
    let iv = [(2f64.powi(-20), 1.0)];
    let hp = remez(&one, &iv, 63, Symmetry::Odd, &opts()).unwrap();
    let lo = remez(&one, &iv, 63, Symmetry::Odd, &RemezOptions { precision_bits: 53, ..opts() }).unwrap();
    assert!(hp.max_error < 1.0 && hp.max_error > 0.999);
    assert!((hp.max_error - hp.levelled_error).abs() < 1e-9);
    assert!((hp.max_error - lo.max_error).abs() < 1e-12);
}
