//! Encrypted CNN inference end to end on small insecure rings: the lowered
//! circuit equals the model, the ciphertext scores equal the plaintext
//! circuit with the same polynomials, and bad input is refused by name.

use hecnn_ckks::{Context, EvaluationKeySet, Evaluator, GaloisKeys, Parameters, RelinKey, SecretKey};
use hecnn_ml::cnn::client::{decrypt_scores, encrypt_images};
use hecnn_ml::cnn::toy::{images, values as weights};
use hecnn_ml::cnn::{
    argmax, compile, ApproxActivation, CnnError, CompileOptions, Engine, ExactActivation, KeyMode, ReluPool,
};
use hecnn_nn::model::{BatchNorm, Conv2d, Linear, Model, ModelBuilder, Pool2d, Tensor};
use std::sync::Arc;

fn conv(in_c: usize, out_c: usize, k: usize, pad: usize, seed: u64) -> Conv2d {
    Conv2d {
        out_c,
        in_c,
        kernel: (k, k),
        stride: (1, 1),
        pad: [pad; 4],
        weight: weights(out_c * in_c * k * k, seed, 0.6).into(),
        bias: weights(out_c, seed + 1, 0.2).into(),
    }
}

/// Conv → ReLU → [conv → BN] + skip → ReLU → MaxPool 2 → AvgPool 2 → Linear:
/// every op kind the engine supports, with a residual connection.
fn residual_model() -> Model {
    let bn = BatchNorm {
        gamma: vec![1.2, 0.8],
        beta: vec![0.1, -0.1],
        mean: vec![0.05, 0.0],
        var: vec![1.5, 0.7],
        eps: 1e-5,
    };
    let mut b = ModelBuilder::new(vec![1, 8, 8]).conv2d(conv(1, 2, 3, 1, 1)).relu();
    let skip = b.current();
    b.conv2d(conv(2, 2, 3, 1, 7))
        .batch_norm(&bn)
        .add_value(skip + 1)
        .relu()
        .max_pool(Pool2d::square(2))
        .avg_pool(Pool2d::square(2))
        .flatten()
        .linear(Linear {
            out_dim: 3,
            in_dim: 8,
            weight: weights(24, 11, 1.0).into(),
            bias: vec![0.1, 0.0, -0.1].into(),
        })
        .build()
        .unwrap()
}

#[test]
fn lowered_circuit_equals_the_model() {
    let model = residual_model();
    let c = hecnn_ml::cnn::Circuit::lower(&model, 1024, 4).unwrap();
    for x in images(10, 100) {
        let want = model.forward(&x).unwrap();
        let got = c.eval_output(x.data(), &ExactActivation);
        for (a, b) in got.iter().zip(want.data()) {
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
    }
}

#[test]
fn bundled_classifier_lowers_exactly() {
    let model = hecnn_nn::backbone::bundled_classifier().unwrap();
    let mnist = hecnn_nn::mnist::Mnist::load_dir(hecnn_nn::mnist::bundled_mnist_dir()).unwrap();
    let c = hecnn_ml::cnn::Circuit::lower_with(&model, 1 << 15, 41, ReluPool::Sequential).unwrap();
    // conv1 and conv2 each become 4 max-pool phases; the head one more map.
    assert_eq!(c.steps.iter().filter(|s| s.kind() == "affine").count(), 9);
    assert_eq!(c.steps.iter().filter(|s| s.kind() == "max").count(), 6);
    // Planned on 11 levels between bootstraps with ReLU depth 7: conv2's
    // input (2 ciphertexts) is refreshed once instead of its 4 phase outputs.
    let budget = hecnn_ml::cnn::LevelBudget { top: 11, after_bootstrap: Some(11), relu_depth: 7 };
    let plan = hecnn_ml::cnn::Plan::new(&c, budget).unwrap();
    assert_eq!(plan.bootstraps, 4 + 2 + 2 + 2 + 1, "{:#?}", plan.lines());
    let no_boot = hecnn_ml::cnn::LevelBudget { top: 44, after_bootstrap: None, relu_depth: 7 };
    let err = hecnn_ml::cnn::Plan::new(&c, no_boot).unwrap_err();
    assert!(err.to_string().contains("model node 7"), "{err}");
    // Fused: each pool's last max takes its ReLU (depth 7 + 1), so a pool
    // and its ReLU need one refresh between the tree's levels, not two.
    let fused = hecnn_ml::cnn::Circuit::lower_with(&model, 1 << 15, 41, ReluPool::Fused).unwrap();
    assert_eq!(fused.steps.iter().filter(|s| s.kind() == "relu-max").count(), 2);
    assert_eq!(fused.steps.iter().filter(|s| s.kind() == "relu").count(), 0);
    assert_eq!(fused.sign_evaluations(), c.sign_evaluations() + 2 + 1);
    let fused_plan = hecnn_ml::cnn::Plan::new(&fused, budget).unwrap();
    assert_eq!(fused_plan.bootstraps, 4 + 2 + 2, "{:#?}", fused_plan.lines());
    assert_eq!(fused.values[fused.output].layout.pos, c.values[c.output].layout.pos);
    for i in 0..20 {
        let x = Tensor::new(vec![1, 28, 28], mnist.test_images.image_f64(i)).unwrap();
        let want = model.forward(&x).unwrap();
        for circuit in [&c, &fused] {
            let got = circuit.eval_output(x.data(), &ExactActivation);
            for (a, b) in got.iter().zip(want.data()) {
                assert!((a - b).abs() < 1e-9 * b.abs().max(1.0), "image {i}: {a} vs {b}");
            }
        }
    }
}

struct Setup {
    ctx: Arc<Context>,
    sk: SecretKey,
    keys: EvaluationKeySet,
}

fn setup(compiled: &hecnn_ml::cnn::CompiledModel, levels: usize) -> Setup {
    let mut bits = vec![50];
    bits.extend(std::iter::repeat_n(30, levels));
    let ctx = Context::new(Parameters::insecure_for_tests(11, &bits, 4, 30).unwrap()).unwrap();
    let sk = SecretKey::generate(&ctx);
    let gk = GaloisKeys::generate(&sk, &compiled.rotation_steps(), false);
    let keys = EvaluationKeySet::new(&ctx, RelinKey::generate(&sk), gk, None).unwrap();
    Setup { ctx, sk, keys }
}

/// Insecure N = 2^12 keys with bootstrapping keys for `slots`, on a chain of
/// the `bootstrappable` shape with 8 computation levels.
fn bootstrap_setup(compiled: &hecnn_ml::cnn::CompiledModel, slots: usize) -> Setup {
    bootstrap_setup_with_levels(compiled, slots, 8)
}

/// [`bootstrap_setup`] with `levels` computation levels.
fn bootstrap_setup_with_levels(compiled: &hecnn_ml::cnn::CompiledModel, slots: usize, levels: usize) -> Setup {
    use hecnn_ckks::circuits::{BootstrapConfig, BootstrapKeys};
    let cfg = BootstrapConfig::default();
    let ctx = Context::new(Parameters::insecure_for_tests(12, &cfg.chain_bits(levels), 5, 40).unwrap()).unwrap();
    let sk = SecretKey::generate(&ctx);
    let gk = GaloisKeys::generate(&sk, &compiled.rotation_steps(), false);
    let bk = BootstrapKeys::generate(&sk, &cfg, &[slots]).unwrap();
    let keys = EvaluationKeySet::new(&ctx, RelinKey::generate(&sk), gk, Some(bk)).unwrap();
    Setup { ctx, sk, keys }
}

/// A bundled model, unchanged, on the first two encrypted MNIST test images
/// (one image per ciphertext; the CLI and the benchmark use N = 2^16 and 32
/// images per ciphertext): scores within `tol` of the plaintext circuit with
/// the same polynomials, predictions equal to the labels.
fn bundled_model_on_mnist(
    model: &Model,
    slots: usize,
    alpha: u32,
    keys: impl Fn(&hecnn_ml::cnn::CompiledModel) -> Setup,
    check_plan: impl Fn(&hecnn_ml::cnn::Plan),
    tol: f64,
) {
    let mnist = hecnn_nn::mnist::Mnist::load_dir(hecnn_nn::mnist::bundled_mnist_dir()).unwrap();
    let tensors = |imgs: &hecnn_nn::mnist::Images| hecnn_nn::features::image_tensors::<f64>(imgs);
    let calib = tensors(&mnist.train_images.slice(10_000..10_500));
    // The test rings leave 8 levels after a bootstrap (the preset 11).
    let opts = CompileOptions { slots, batch: 1, alpha: Some(alpha), bootstrap_levels: 8, ..CompileOptions::default() };
    let compiled = compile(model, &calib, &calib, &opts).unwrap();
    let s = keys(&compiled);
    let engine = Engine::new(&compiled, &s.keys).unwrap();
    check_plan(engine.plan());
    let spec = compiled.spec();
    let act = ApproxActivation { sign: &compiled.composite, factors: &compiled.factors };
    let test = tensors(&mnist.test_images.slice(0..2));
    for (i, x) in test.iter().enumerate() {
        let cts = encrypt_images(&spec, &s.sk, &s.ctx, &[x.data().to_vec()], engine.input_level()).unwrap();
        let (out, stats) = engine.run(cts, &|_, _| {}).unwrap();
        assert_eq!(stats.bootstraps, engine.plan().bootstraps);
        let got = &decrypt_scores(&spec, &s.sk, &s.ctx, &out, 1).unwrap()[0];
        let want = compiled.circuit.eval_output(x.data(), &act);
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() < tol, "image {i}: encrypted {a} vs simulated {b}");
        }
        assert_eq!(argmax(got), mnist.test_labels[i] as usize, "image {i}");
    }
}

#[test]
fn encrypted_residual_network_matches_the_plaintext_circuit() {
    for key_mode in [KeyMode::PowerOfTwo, KeyMode::Exact] {
        encrypted_residual_network(key_mode);
    }
}

fn encrypted_residual_network(key_mode: KeyMode) {
    let model = residual_model();
    let calib = images(64, 1000);
    let opts = CompileOptions { slots: 1024, batch: 4, alpha: Some(5), key_mode, ..CompileOptions::default() };
    let compiled = compile(&model, &calib, &calib, &opts).unwrap();
    let s = setup(&compiled, compiled.depth());
    let engine = Engine::new(&compiled, &s.keys).unwrap();
    assert_eq!(engine.plan().output_level, 0);
    let test = images(3, 5000);
    let pixels: Vec<Vec<f64>> = test.iter().map(|t| t.data().to_vec()).collect();
    let spec = compiled.spec();
    let cts = encrypt_images(&spec, &s.sk, &s.ctx, &pixels, engine.input_level()).unwrap();
    let (out, stats) = engine.run(cts, &|_, _| {}).unwrap();
    assert_eq!(stats.bootstraps, 0);
    if key_mode == KeyMode::PowerOfTwo {
        assert!(compiled.rotation_steps().iter().all(|s| s.unsigned_abs().is_power_of_two()));
    }
    let scores = decrypt_scores(&spec, &s.sk, &s.ctx, &out, test.len()).unwrap();
    let act = ApproxActivation { sign: &compiled.composite, factors: &compiled.factors };
    for (x, got) in test.iter().zip(&scores) {
        let want = compiled.circuit.eval_output(x.data(), &act);
        let exact = model.forward(x).unwrap();
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() < 1e-3, "encrypted {a} vs simulated {b}");
        }
        assert_eq!(argmax(got), argmax(&want));
        // α = 5 keeps these scores within 0.05 of the exact model.
        for (a, b) in got.iter().zip(exact.data()) {
            assert!((a - b).abs() < 0.05, "encrypted {a} vs exact {b}");
        }
    }
}

#[test]
fn bad_input_is_refused_by_name() {
    let model = residual_model();
    let calib = images(16, 1000);
    let opts = CompileOptions { slots: 1024, batch: 4, alpha: Some(4), ..CompileOptions::default() };
    let compiled = compile(&model, &calib, &calib, &opts).unwrap();
    let spec = compiled.spec();
    let mut img = vec![0.5; 64];
    assert!(matches!(spec.pack_images(&[vec![0.5; 63]]), Err(CnnError::BadImage { image: 0, .. })));
    img[17] = f64::NAN;
    let err = spec.pack_images(&[vec![0.5; 64], img]).unwrap_err();
    assert_eq!(err.to_string(), "image 1: pixel 17 is NaN");
    assert!(matches!(
        spec.pack_images(&vec![vec![0.0; 64]; 5]),
        Err(CnnError::BatchTooLarge { images: 5, capacity: 4 })
    ));
    // Too few levels and no bootstrapping: refused before any work, naming the step.
    let s = setup(&compiled, 10);
    let err = Engine::new(&compiled, &s.keys).err().expect("too deep");
    assert!(matches!(err, CnnError::TooDeep { bootstrapping: false, .. }), "{err}");
    assert!(err.to_string().contains("of model node"), "{err}");
    // Missing rotation keys.
    let ctx = Context::new(Parameters::insecure_for_tests(11, &[50, 30, 30], 2, 30).unwrap()).unwrap();
    let sk = SecretKey::generate(&ctx);
    let keys =
        EvaluationKeySet::new(&ctx, RelinKey::generate(&sk), GaloisKeys::generate(&sk, &[], false), None).unwrap();
    let err = Engine::new(&compiled, &keys).err().expect("missing keys");
    assert!(err.to_string().contains("lack rotation"), "{err}");
}

#[test]
fn client_catches_a_server_that_returns_something_else() {
    let model = ModelBuilder::new(vec![1, 8, 8])
        .conv2d(conv(1, 2, 3, 0, 3))
        .relu()
        .max_pool(Pool2d::square(2))
        .flatten()
        .linear(Linear { out_dim: 2, in_dim: 18, weight: weights(36, 9, 0.5).into(), bias: vec![0.0, 0.0].into() })
        .build()
        .unwrap();
    let calib = images(16, 1000);
    let opts = CompileOptions { slots: 1024, batch: 4, alpha: Some(4), ..CompileOptions::default() };
    let compiled = compile(&model, &calib, &calib, &opts).unwrap();
    let s = setup(&compiled, compiled.depth());
    let engine = Engine::new(&compiled, &s.keys).unwrap();
    let spec = compiled.spec();
    let pixels = vec![calib[0].data().to_vec()];
    let (out, _) =
        engine.run(encrypt_images(&spec, &s.sk, &s.ctx, &pixels, engine.input_level()).unwrap(), &|_, _| {}).unwrap();
    assert!(decrypt_scores(&spec, &s.sk, &s.ctx, &out, 1).is_ok());
    // A server adding a constant everywhere (or returning other ciphertexts)
    // fills slots that carry no score.
    let ev = Evaluator::new(&s.ctx);
    let lied: Vec<_> = out.iter().map(|c| ev.add_const(c, 0.5).unwrap()).collect();
    let err = decrypt_scores(&spec, &s.sk, &s.ctx, &lied, 1).unwrap_err();
    assert!(matches!(err, CnnError::ScoreCheck { .. }), "{err}");
    // A score far outside the calibrated range is reported, not returned.
    let huge: Vec<_> = out.iter().map(|c| ev.mul_integer(c, 1 << 20).unwrap()).collect();
    let err = decrypt_scores(&spec, &s.sk, &s.ctx, &huge, 1).unwrap_err();
    assert!(err.to_string().contains("outside the calibrated bound"), "{err}");
}

/// A network exported by numpy + onnx (scripts/onnx/make_foreign_cnn.py),
/// never seen by this project's code: strided padded conv, batch norm, a
/// conv without bias, max-pool, Gemm, MatMul + Add — imported and run
/// unchanged on ciphertexts.
#[test]
fn a_foreign_onnx_model_runs_unchanged() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/foreign_cnn.onnx");
    let model = hecnn_nn::onnx::import_onnx(&path).unwrap();
    assert_eq!(model.input_shape(), &[1, 12, 12]);
    let imgs: Vec<Tensor<f64>> = (0..48)
        .map(|i| {
            Tensor::new(vec![1, 12, 12], weights(144, 300 + i, 0.5).into_iter().map(|v| v + 0.5).collect()).unwrap()
        })
        .collect();
    let opts = CompileOptions { slots: 1024, batch: 4, alpha: Some(5), ..CompileOptions::default() };
    let compiled = compile(&model, &imgs[..40], &imgs[..40], &opts).unwrap();
    let s = setup(&compiled, compiled.depth());
    let engine = Engine::new(&compiled, &s.keys).unwrap();
    let test = &imgs[40..44];
    let pixels: Vec<Vec<f64>> = test.iter().map(|t| t.data().to_vec()).collect();
    let spec = compiled.spec();
    let (out, _) =
        engine.run(encrypt_images(&spec, &s.sk, &s.ctx, &pixels, engine.input_level()).unwrap(), &|_, _| {}).unwrap();
    let scores = decrypt_scores(&spec, &s.sk, &s.ctx, &out, test.len()).unwrap();
    let act = ApproxActivation { sign: &compiled.composite, factors: &compiled.factors };
    for (x, got) in test.iter().zip(&scores) {
        let want = compiled.circuit.eval_output(x.data(), &act);
        let exact = model.forward(x).unwrap();
        for ((a, b), e) in got.iter().zip(&want).zip(exact.data()) {
            assert!((a - b).abs() < 1e-3, "encrypted {a} vs simulated {b}");
            assert!((a - e).abs() < 0.1 * e.abs().max(1.0), "encrypted {a} vs exact {e}");
        }
    }
}

/// A network deeper than the chain: the planner places bootstraps, the
/// engine runs them (real-pair bootstraps of the phase ciphertexts), and the
/// scores still match the plaintext circuit. N = 2^12 insecure ring with the
/// bootstrappable chain's shape and 8 computation levels (one ReLU of depth
/// 7 plus one affine map between bootstraps).
#[test]
fn bootstrapped_inference_matches_the_plaintext_circuit() {
    bootstrapped_inference(ReluPool::Sequential);
}

/// The same with the pool's ReLU fused into its last max: fewer
/// bootstraps, the same agreement with the plaintext circuit (whose
/// simulator evaluates the fused step's polynomials). 9 computation levels:
/// the fused step (depth 8) and the head's affine map between two bootstraps.
#[test]
fn fused_relu_max_bootstraps_less_and_matches_the_plaintext_circuit() {
    bootstrapped_inference(ReluPool::Fused);
}

fn bootstrapped_inference(relu_pool: ReluPool) {
    let model = ModelBuilder::new(vec![1, 6, 6])
        .conv2d(conv(1, 2, 3, 1, 21))
        .relu()
        .conv2d(conv(2, 2, 3, 1, 23))
        .relu()
        .max_pool(Pool2d::square(2))
        .flatten()
        .linear(Linear { out_dim: 2, in_dim: 18, weight: weights(36, 25, 0.5).into(), bias: vec![0.1, -0.1].into() })
        .build()
        .unwrap();
    let imgs: Vec<Tensor<f64>> = (0..24)
        .map(|i| Tensor::new(vec![1, 6, 6], weights(36, 700 + i, 0.5).into_iter().map(|v| v + 0.5).collect()).unwrap())
        .collect();
    let opts = CompileOptions { slots: 2048, batch: 4, alpha: Some(4), relu_pool, ..CompileOptions::default() };
    let compiled = compile(&model, &imgs[..20], &imgs[..20], &opts).unwrap();
    let levels = if relu_pool == ReluPool::Fused { 9 } else { 8 };
    let Setup { ctx, sk, keys } = bootstrap_setup_with_levels(&compiled, 2048, levels);
    let engine = Engine::new(&compiled, &keys).unwrap();
    assert!(engine.plan().bootstraps > 0, "{:?}", engine.plan().lines());
    // The sequential plan refreshes the pool's output before its ReLU; the
    // fused one has no such step.
    let sequential_plan = {
        let seq = CompileOptions { relu_pool: ReluPool::Sequential, ..opts.clone() };
        let c = compile(&model, &imgs[..20], &imgs[..20], &seq).unwrap();
        Engine::new(&c, &keys).unwrap().plan().bootstraps
    };
    match relu_pool {
        ReluPool::Sequential => assert_eq!(engine.plan().bootstraps, sequential_plan),
        ReluPool::Fused => assert!(engine.plan().bootstraps < sequential_plan, "{:?}", engine.plan().lines()),
    }
    let test = &imgs[20..24];
    let pixels: Vec<Vec<f64>> = test.iter().map(|t| t.data().to_vec()).collect();
    let spec = compiled.spec();
    let (out, stats) =
        engine.run(encrypt_images(&spec, &sk, &ctx, &pixels, engine.input_level()).unwrap(), &|_, _| {}).unwrap();
    assert_eq!(stats.bootstraps, engine.plan().bootstraps);
    let scores = decrypt_scores(&spec, &sk, &ctx, &out, test.len()).unwrap();
    let act = ApproxActivation { sign: &compiled.composite, factors: &compiled.factors };
    for (x, got) in test.iter().zip(&scores) {
        let want = compiled.circuit.eval_output(x.data(), &act);
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() < 5e-3, "encrypted {a} vs simulated {b}");
        }
    }
}

/// The bundled classifier itself, unchanged, on encrypted MNIST test images
/// (small insecure ring N = 2^11: one image per ciphertext; the CLI and
/// the benchmark use N = 2^16 and 32 images per ciphertext).
#[test]
fn bundled_classifier_on_encrypted_mnist_images() {
    let model = hecnn_nn::backbone::bundled_classifier().unwrap();
    bundled_model_on_mnist(&model, 1024, 4, |c| setup(c, c.depth()), |_| {}, 1e-2);
}

/// A layer whose weights are all zero compiles to a map with no diagonal;
/// the engine still returns its bias (no panic on such a model).
#[test]
fn an_all_zero_layer_gives_its_bias() {
    let model = ModelBuilder::new(vec![1, 4, 4])
        .flatten()
        .linear(Linear { out_dim: 2, in_dim: 16, weight: vec![0.0; 32].into(), bias: vec![0.25, -0.5].into() })
        .build()
        .unwrap();
    let calib = vec![Tensor::new(vec![1, 4, 4], vec![0.5; 16]).unwrap()];
    let opts = CompileOptions { slots: 1024, batch: 4, alpha: Some(4), ..CompileOptions::default() };
    let compiled = compile(&model, &calib, &calib, &opts).unwrap();
    let s = setup(&compiled, compiled.depth() + 3);
    let engine = Engine::new(&compiled, &s.keys).unwrap();
    let spec = compiled.spec();
    let cts = encrypt_images(&spec, &s.sk, &s.ctx, &[vec![0.3; 16]], engine.input_level()).unwrap();
    let (out, _) = engine.run(cts, &|_, _| {}).unwrap();
    let got = &decrypt_scores(&spec, &s.sk, &s.ctx, &out, 1).unwrap()[0];
    assert!((got[0] - 0.25).abs() < 1e-3 && (got[1] + 0.5).abs() < 1e-3, "{got:?}");
}

proptest::proptest! {
    /// A spec read from a file with any field altered is either refused by
    /// `validate` or safe to use: packing and reading scores never panic.
    #[test]
    fn altered_specs_are_refused_or_safe(field in 0usize..8, value in 0u64..5000, decrypted in 0.0f64..2.0) {
        let model = residual_model();
        let calib = images(4, 1000);
        let opts = CompileOptions { slots: 1024, batch: 4, alpha: Some(4), ..CompileOptions::default() };
        let mut spec = compile(&model, &calib, &calib, &opts).unwrap().spec();
        match field {
            0 => spec.slots = value as usize,
            1 => spec.batch = value as usize,
            2 => spec.input_cts = value as usize,
            3 => spec.output_cts = value as usize,
            4 => spec.input_positions[(value as usize) % 64].1 = value as u32,
            5 => spec.output_positions[(value as usize) % 3] = (value as u32 % 3, value as u32),
            6 => spec.input_factor = value as f64 - 2500.0,
            _ => spec.score_bound = f64::NAN,
        }
        if spec.validate().is_ok() {
            let _ = spec.pack_images(&[vec![0.5; 64]]);
            let plain = vec![vec![decrypted; spec.slots]; spec.output_cts];
            let _ = spec.read_scores(&plain, 1);
        }
    }
}

/// The bundled residual network itself, unchanged, on encrypted MNIST test
/// images. Its 7 ReLUs need more levels than any chain holds, so this runs
/// with bootstrapping: insecure N = 2^12 ring with the bootstrappable
/// chain's shape (one image per ciphertext; the CLI and the benchmark use
/// N = 2^16 and 32 images per ciphertext).
#[test]
fn bundled_residual_network_on_encrypted_mnist_images() {
    let model = hecnn_nn::backbone::bundled_residual().unwrap();
    // A ReLU at α = 5 takes 7 of the 8 levels a bootstrap leaves: one
    // bootstrap per ReLU layer at least.
    // Its fused ReLU-of-max would need 9 levels between bootstraps, more
    // than the test ring's 8: compiled as a max and a ReLU instead.
    let at_least_one_per_relu = |p: &hecnn_ml::cnn::Plan| {
        assert!(p.bootstraps >= 7, "{:?}", p.lines());
        assert!(p.entries.iter().all(|e| e.kind != "relu-max"), "{:?}", p.lines());
    };
    bundled_model_on_mnist(&model, 2048, 5, |c| bootstrap_setup(c, 2048), at_least_one_per_relu, 1e-3);
}
