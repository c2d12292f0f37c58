//! Polynomial evaluation and composite activations on ciphertexts, checked
//! against the same polynomials evaluated in `f64`.

use hecnn_approx::chebyshev::clenshaw;
use hecnn_approx::composite::{default_eps, search};
use hecnn_ckks::circuits::poly::depth;
use hecnn_ckks::circuits::{CompositeCircuit, PolyEvaluator};
use hecnn_ckks::*;
use rand::rngs::StdRng as ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use std::sync::Arc;

struct Setup {
    ctx: Arc<Context>,
    enc: Encoder,
    sk: SecretKey,
    rlk: RelinKey,
    gk: GaloisKeys,
    ev: Evaluator,
}

/// A small insecure ring with `levels` 40-bit levels: the circuits' logic
/// does not depend on N.
fn setup(levels: usize) -> Setup {
    let mut bits = vec![60];
    bits.extend(std::iter::repeat_n(40, levels));
    let ctx = Context::new(Parameters::insecure_for_tests(11, &bits, 3, 40).unwrap()).unwrap();
    let sk = SecretKey::generate(&ctx);
    let rlk = RelinKey::generate(&sk);
    let gk = GaloisKeys::generate(&sk, &[1, 8], false);
    Setup { enc: Encoder::new(&ctx), sk, rlk, gk, ev: Evaluator::new(&ctx), ctx }
}

impl Setup {
    fn encrypt(&self, v: &[f64]) -> Ciphertext {
        let pt = self.enc.encode_real(v, v.len(), self.ctx.max_level(), self.ctx.params().scale()).unwrap();
        Decryptor::new(&self.sk).encrypt_symmetric(&pt).unwrap().expand(&self.ctx).unwrap()
    }

    fn decrypt(&self, ct: &Ciphertext) -> Vec<f64> {
        self.enc.decode_real(&Decryptor::new(&self.sk).decrypt(ct).unwrap()).unwrap()
    }
}

fn uniform(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

fn max_err(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

#[test]
fn degree_255_uses_depth_8_and_few_products() {
    let s = setup(9);
    let x = uniform(1024, 1);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let coeffs: Vec<f64> = (0..=255).map(|k| rng.random_range(-1.0..1.0) / (1.0 + k as f64)).collect();
    let ct = s.encrypt(&x);
    let pe = PolyEvaluator::new(&s.ev, &s.rlk);
    let (y, stats) = pe.chebyshev_with_stats(&ct, &coeffs, s.ctx.params().scale()).unwrap();
    assert_eq!(ct.level() - y.level(), 8);
    assert_eq!(stats.depth, 8);
    // The bound: 2·sqrt(256) + log2(256).
    assert!(stats.nonscalar_mults <= 2 * 16 + 8, "{stats:?}");
    assert_eq!(y.scale(), s.ctx.params().scale());
    let want: Vec<f64> = x.iter().map(|&t| clenshaw(&coeffs, t)).collect();
    let err = max_err(&s.decrypt(&y), &want);
    eprintln!("degree 255: {stats:?}, max error {err:.2e} ({:.1} bits)", -err.log2());
    assert!(err < 1e-5, "error {err}");
}

#[test]
fn every_degree_consumes_exactly_its_depth() {
    let s = setup(8);
    let x = uniform(256, 3);
    let ct = s.encrypt(&x);
    let pe = PolyEvaluator::new(&s.ev, &s.rlk);
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let degrees: Vec<usize> = (0..=40).chain([47, 63, 64, 65, 100, 127, 128, 129, 200]).collect();
    for d in degrees {
        let mut coeffs: Vec<f64> = (0..=d).map(|_| rng.random_range(-1.0..1.0)).collect();
        if d % 3 == 0 {
            // odd polynomials take the odd-only path
            coeffs.iter_mut().step_by(2).for_each(|c| *c = 0.0);
            coeffs[d] = if d % 2 == 1 { 0.5 } else { 0.0 };
        }
        let target = s.ctx.params().scale() * 1.25;
        let (y, stats) = pe.chebyshev_with_stats(&ct, &coeffs, target).unwrap();
        let deg = coeffs.iter().rposition(|&c| c != 0.0).unwrap_or(0);
        assert_eq!(ct.level() - y.level(), depth(deg), "degree {deg}");
        assert_eq!(y.scale(), target);
        let want: Vec<f64> = x.iter().map(|&t| clenshaw(&coeffs, t)).collect();
        let err = max_err(&s.decrypt(&y), &want);
        assert!(err < 1e-5 * (1.0 + deg as f64), "degree {deg}: error {err}, {stats:?}");
    }
}

#[test]
fn products_and_depth_follow_the_cost_model() {
    // The evaluator executes hecnn_approx::cost's plan: for every odd degree
    // the search can pick (and beyond), its product count and depth are the
    // model's, so the composite-sign tables count what the evaluator does.
    let s = setup(8);
    let pe = PolyEvaluator::new(&s.ev, &s.rlk);
    let (top, scale) = (s.ctx.max_level(), s.ctx.params().scale());
    for d in (3usize..=127).step_by(2) {
        let coeffs: Vec<f64> = (0..=d).map(|k| if k % 2 == 1 { 1.0 / k as f64 } else { 0.0 }).collect();
        let plan = pe.plan(top, scale, &coeffs, scale).unwrap();
        assert_eq!(plan.nonscalar_mults, hecnn_approx::cost::nonscalar_mults(d) as usize, "odd degree {d}: {plan:?}");
        assert_eq!(plan.depth, hecnn_approx::cost::depth(d) as usize, "odd degree {d}");
        assert_eq!(plan.baby_log, hecnn_approx::cost::best_baby_step(d), "odd degree {d}");
    }
    // General (all coefficients non-zero) and even polynomials follow the same plans.
    for d in 0usize..=255 {
        for (name, coeffs) in [
            ("dense", (0..=d).map(|k| 1.0 / (1.0 + k as f64)).collect::<Vec<f64>>()),
            ("even", (0..=d).map(|k| if k % 2 == 0 { 1.0 / (1.0 + k as f64) } else { 0.0 }).collect()),
        ] {
            let support: Vec<bool> = coeffs.iter().map(|&c| c != 0.0).collect();
            let model = hecnn_approx::cost::EvalPlan::for_support(&support);
            let plan = pe.plan(top, scale, &coeffs, scale).unwrap();
            assert_eq!(plan.nonscalar_mults, model.nonscalar_mults() as usize, "{name} degree {d}: {plan:?}");
            assert_eq!(plan.depth, model.depth as usize, "{name} degree {d}");
            assert_eq!(plan.depth, depth(plan.degree), "{name} degree {d}");
        }
    }
    // The ciphertext run makes exactly the planned products.
    let ct = s.encrypt(&uniform(64, 9));
    for d in [7usize, 15, 31, 63, 127] {
        let coeffs: Vec<f64> = (0..=d).map(|k| if k % 2 == 1 { 1.0 / k as f64 } else { 0.0 }).collect();
        let (y, stats) = pe.chebyshev_with_stats(&ct, &coeffs, scale).unwrap();
        assert_eq!(stats.nonscalar_mults, hecnn_approx::cost::nonscalar_mults(d) as usize, "odd degree {d}");
        assert_eq!(ct.level() - y.level(), hecnn_approx::cost::depth(d) as usize, "odd degree {d}");
    }
}

fn composite(alpha: u32) -> CompositeCircuit {
    CompositeCircuit::from_sign(&search(alpha, default_eps(alpha)).unwrap()).unwrap()
}

#[test]
fn encrypted_sign_matches_plaintext_composite() {
    for alpha in [8u32, 13] {
        let c = composite(alpha);
        let s = setup(c.sign_depth() + 1);
        let x = uniform(512, alpha as u64);
        let ct = s.encrypt(&x);
        let pe = PolyEvaluator::new(&s.ev, &s.rlk);
        let y = c.sign(&pe, &ct, s.ctx.params().scale()).unwrap();
        assert_eq!(ct.level() - y.level(), c.sign_depth(), "alpha {alpha}");
        let eps = default_eps(alpha);
        let (got, want): (Vec<f64>, Vec<f64>) =
            s.decrypt(&y).iter().zip(&x).filter(|(_, &t)| t.abs() >= eps).map(|(&g, &t)| (g, c.eval_plain(t))).unzip();
        let err = max_err(&got, &want);
        let sign_err = got.iter().zip(x.iter().filter(|t| t.abs() >= eps)).map(|(g, t)| (g - t.signum()).abs());
        let sign_err = sign_err.fold(0.0, f64::max);
        eprintln!("alpha {alpha}: encrypted vs plaintext {err:.2e} ({:.1} bits), vs sgn {sign_err:.2e}", -err.log2());
        assert!(err < 1e-4, "alpha {alpha}: {err}");
        assert!(sign_err <= 2f64.powi(-(alpha as i32)) + 1e-4, "alpha {alpha}: {sign_err}");
    }
}

#[test]
fn encrypted_relu_and_max_pool_match_plaintext() {
    let c = composite(8);
    let s = setup(2 * c.relu_depth() + 1);
    let pe = PolyEvaluator::new(&s.ev, &s.rlk);
    let x = uniform(512, 7);
    let ct = s.encrypt(&x);
    let y = c.relu(&pe, &ct, s.ctx.params().scale()).unwrap();
    assert_eq!(ct.level() - y.level(), c.relu_depth());
    let want: Vec<f64> = x.iter().map(|&t| t * (1.0 + c.eval_plain(t)) / 2.0).collect();
    let err = max_err(&s.decrypt(&y), &want);
    eprintln!("relu alpha 8: {err:.2e} ({:.1} bits)", -err.log2());
    assert!(err < 1e-4, "relu {err}");

    // An 8×8 image (values in [-0.5, 0.5] so differences stay in [-1, 1]), 2×2 windows.
    let w = 8;
    let img: Vec<f64> = uniform(64, 8).iter().map(|v| v / 2.0).collect();
    let ct = s.encrypt(&img);
    let y = c.max_pool_2x2(&pe, &ct, w, &s.gk, s.ctx.params().scale()).unwrap();
    assert_eq!(ct.level() - y.level(), 2 * c.relu_depth());
    let got = s.decrypt(&y);
    let pmax = |a: f64, b: f64| (a + b) / 2.0 + (a - b) * c.eval_plain(a - b) / 2.0;
    let mut worst = (0.0f64, 0.0f64);
    for r in (0..w).step_by(2) {
        for col in (0..w).step_by(2) {
            let at = |dr: usize, dc: usize| img[(r + dr) * w + col + dc];
            let want = pmax(pmax(at(0, 0), at(0, 1)), pmax(at(1, 0), at(1, 1)));
            let exact = at(0, 0).max(at(0, 1)).max(at(1, 0)).max(at(1, 1));
            worst.0 = worst.0.max((got[r * w + col] - want).abs());
            worst.1 = worst.1.max((got[r * w + col] - exact).abs());
        }
    }
    eprintln!("max-pool alpha 8: vs plaintext polynomial {:.2e}, vs exact max {:.2e}", worst.0, worst.1);
    assert!(worst.0 < 1e-4, "{worst:?}");
    assert!(worst.1 < 0.02, "{worst:?}");
}

/// `ReLU(max(a, b))` in the sign's depth plus two: ties (`a = b`, where the
/// gate is 0), near ties and both signs, against the same polynomials in
/// `f64` and against the exact value.
#[test]
fn encrypted_relu_of_max_matches_plaintext_in_sign_depth_plus_two() {
    let c = composite(8);
    let s = setup(c.relu_max_depth());
    let pe = PolyEvaluator::new(&s.ev, &s.rlk);
    let scale = s.ctx.params().scale();
    let a: Vec<f64> = uniform(512, 11).iter().map(|v| v / 2.0).collect();
    let mut b: Vec<f64> = uniform(512, 12).iter().map(|v| v / 2.0).collect();
    for k in 0..64 {
        b[k] = a[k]; // exact ties (a max-pool window on a flat background)
        b[64 + k] = a[64 + k] + 1e-3 * (k as f64 - 32.0) / 32.0; // near ties
    }
    let (ca, cb) = (s.encrypt(&a), s.encrypt(&b));
    let y = c.relu_max(&pe, &ca, &cb, scale).unwrap();
    assert_eq!(ca.level() - y.level(), c.sign_depth() + 2);
    assert_eq!(y.scale(), scale);
    let relu = |t: f64| t * (1.0 + c.eval_plain(t)) / 2.0;
    let got = s.decrypt(&y);
    let (mut vs_poly, mut vs_exact) = (0.0f64, 0.0f64);
    for k in 0..a.len() {
        let (ra, rb) = (relu(a[k]), relu(b[k]));
        let want = (ra + rb) / 2.0 + (ra - rb) * c.eval_plain(a[k] - b[k]) / 2.0;
        vs_poly = vs_poly.max((got[k] - want).abs());
        vs_exact = vs_exact.max((got[k] - a[k].max(b[k]).max(0.0)).abs());
    }
    eprintln!("relu-max alpha 8: vs plaintext polynomial {vs_poly:.2e}, vs exact {vs_exact:.2e}");
    assert!(vs_poly < 1e-4, "{vs_poly}");
    assert!(vs_exact < 0.02, "{vs_exact}");
    // Three signs and two products: two ReLUs' worth plus the gate and its product.
    let relu_products = {
        let own = PolyEvaluator::new(&s.ev, &s.rlk);
        c.relu(&own, &ca, scale).unwrap();
        own.nonscalar_mults()
    };
    let sign_products = {
        let own = PolyEvaluator::new(&s.ev, &s.rlk);
        c.sign(&own, &ca, scale).unwrap();
        own.nonscalar_mults()
    };
    assert_eq!(pe.nonscalar_mults(), 2 * relu_products + sign_products + 1);

    // One level short: refused before any work.
    let low = s.ev.drop_to_level(&ca, c.relu_max_depth() - 1).unwrap();
    let low_b = s.ev.drop_to_level(&cb, c.relu_max_depth() - 1).unwrap();
    assert_eq!(
        c.relu_max(&pe, &low, &low_b, scale).unwrap_err(),
        CkksError::LevelExhausted { needed: c.relu_max_depth(), level: c.relu_max_depth() - 1 }
    );
}

#[test]
fn bad_inputs_are_typed_errors_before_work() {
    let s = setup(3);
    let ct = s.encrypt(&[0.5]);
    let pe = PolyEvaluator::new(&s.ev, &s.rlk);
    let scale = s.ctx.params().scale();
    assert_eq!(pe.chebyshev(&ct, &[1.0, f64::NAN, 2.0], scale).unwrap_err(), CkksError::NonFinite { index: 1 });
    assert_eq!(pe.chebyshev(&ct, &[1.0, f64::INFINITY], scale).unwrap_err(), CkksError::NonFinite { index: 1 });
    assert!(matches!(pe.chebyshev(&ct, &[], scale).unwrap_err(), CkksError::InvalidParameters(_)));
    let deg15 = vec![0.5; 16];
    assert_eq!(pe.chebyshev(&ct, &deg15, scale).unwrap_err(), CkksError::LevelExhausted { needed: 4, level: 3 });
    let c = composite(8);
    assert_eq!(c.relu(&pe, &ct, scale).unwrap_err(), CkksError::LevelExhausted { needed: c.relu_depth(), level: 3 });
    assert!(matches!(
        CompositeCircuit::from_stages(vec![vec![0.0, f64::NAN]]).unwrap_err(),
        CkksError::NonFinite { index: 1 }
    ));
}
