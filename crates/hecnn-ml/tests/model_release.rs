//! The client's checks on a returned model, as an attacker would probe
//! them: a server that substitutes the client's own data for the model (the
//! "model carries the training data out" attack) is refused at every
//! level of effort, an honest model is released flooded and rounded, and
//! shapes from outside never panic the client.

use hecnn_ckks::*;
use hecnn_ml::mlr::client::{
    precondition, preconditioner, ModelError, ModelExpectation, ReleasePolicy, TrainingClient, DEFAULT_EPSILON,
    DEFAULT_INIT,
};
use hecnn_ml::mlr::reference;
use hecnn_ml::mlr::server::*;
use hecnn_ml::packing::Layout;
use std::sync::{Arc, OnceLock};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// 40 samples × 21 features × 4 classes on a small insecure ring (9
/// levels), trained for 2 iterations by the real server code.
struct Job {
    ctx: Arc<Context>,
    sk: SecretKey,
    keys: EvaluationKeySet,
    layout: Layout,
    data: EncryptedDataset,
    model: EncryptedModel,
    reference: Vec<Vec<f64>>,
}

const N: usize = 40;
const D: usize = 21;
const C: usize = 4;

fn job() -> &'static Job {
    static J: OnceLock<Job> = OnceLock::new();
    J.get_or_init(|| {
        let params = Parameters::insecure_for_tests(12, &[60, 40, 40, 40, 40, 40, 40, 40, 40, 40], 2, 40).unwrap();
        let ctx = Context::new(params).unwrap();
        let mut seed = 11u64;
        let mut rnd = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let x: Vec<Vec<f64>> = (0..N).map(|_| std::iter::once(1.0).chain((1..D).map(|_| rnd())).collect()).collect();
        let xs = precondition(&x, &preconditioner(&x, DEFAULT_EPSILON).unwrap());
        let y: Vec<u8> = (0..N).map(|i| (i % C) as u8).collect();
        let layout = Layout::choose(N, D, C, ctx.n() / 2).unwrap();
        let sk = SecretKey::generate(&ctx);
        let keys = EvaluationKeySet::new(
            &ctx,
            RelinKey::generate(&sk),
            GaloisKeys::generate(&sk, &layout.rotation_steps(), false),
            None,
        )
        .unwrap();
        let init = vec![vec![DEFAULT_INIT; D]; C];
        let upload = TrainingClient::new(&sk).encrypt_dataset(&x, &xs, &y, C, &init, layout).unwrap();
        let data = upload.expand(&ctx).unwrap();
        let (model, _) = TrainingServer::new(keys.clone()).unwrap().train(&data, 2, &mut |_| {}).unwrap();
        let reference = reference_w(&x, &y, 2);
        Job { ctx, sk, keys, layout, data, model, reference }
    })
}

/// The plaintext reference's W (its own schedule, B̄ and sigmoid).
fn reference_w(x: &[Vec<f64>], y: &[u8], iterations: usize) -> Vec<Vec<f64>> {
    let cfg = reference::MlrConfig { iterations, ..reference::MlrConfig::default() };
    reference::train(x, y, C, &cfg).unwrap().w
}

fn expectation(j: &Job) -> ModelExpectation {
    ModelExpectation {
        layout: j.layout,
        classes: C,
        features: D,
        key_set: j.sk.key_set(),
        data_level: j.ctx.max_level(),
        refresh_level: None,
        log_scale: j.ctx.params().log_scale(),
        max_iterations: 100,
        value_tolerance: 1e-5,
        reference: Some(j.reference.clone()),
    }
}

/// A release policy for this small ring: 20-bit statistical security over a
/// noise estimate of 2^-24.
fn policy() -> ReleasePolicy {
    ReleasePolicy {
        statistical_security: 20,
        queries: 1,
        log2_noise: -24.0,
        max_noise: 1.0 / 64.0,
        reference_tolerance: 1e-5,
    }
}

fn with_w0(j: &Job, w0: Ciphertext) -> EncryptedModel {
    let mut m = j.model.clone();
    m.w[0] = w0;
    m
}

#[test]
fn honest_model_is_released_flooded_and_rounded() {
    let j = job();
    let client = TrainingClient::new(&j.sk);
    let (w, _) = client.decrypt_model_private(&j.model, &expectation(j), 1e-5).unwrap();
    let private_err = max_diff(&w, &j.reference);
    assert!(private_err < 1e-6, "private error {private_err:e}");
    let p = policy();
    let released = client.release_model(&j.model, &expectation(j), &p).unwrap();
    let sigma = p.flooding().unwrap().slot_sigma();
    assert_eq!(released.precision, sigma.log2().floor().exp2());
    // Flooded: not the exact values, but within 6σ + rounding of them.
    let err = max_diff(&released.w, &j.reference);
    assert!(err > private_err && err < 6.0 * sigma + released.precision, "released error {err:e}, σ {sigma:e}");
    for x in released.w.iter().flatten() {
        assert_eq!((x / released.precision).fract(), 0.0, "{x} not on the grid");
    }
    // Two releases differ (fresh noise), the private values do not.
    let again = client.release_model(&j.model, &expectation(j), &p).unwrap();
    assert_ne!(again.w, released.w);
}

#[test]
fn model_levels_match_the_trainer() {
    let j = job();
    let (w, v) = model_levels(j.ctx.max_level(), None, 2).unwrap();
    assert_eq!((j.model.w[0].level(), j.model.v[0].level()), (w, v));
    assert_eq!(model_levels(9, Some(9), 5).unwrap(), (4, 5));
}

#[test]
fn substituted_data_is_refused_at_every_level_of_effort() {
    let j = job();
    let client = TrainingClient::new(&j.sk);
    let ev = Evaluator::new(&j.ctx);
    let encoder = Encoder::new(&j.ctx);
    let x00 = &j.data.x[0][0];
    let e = expectation(j);
    // 1. The data ciphertext as it is: at the data's level.
    let err = client.release_model(&with_w0(j, x00.clone()), &e, &policy()).unwrap_err();
    assert!(matches!(err, ModelError::Level { .. }), "{err}");
    // 2. Dropped to the model's level: the sample copies differ.
    let level = j.model.w[0].level();
    let dropped = ev.drop_to_level(x00, level).unwrap();
    let err = client.release_model(&with_w0(j, dropped), &e, &policy()).unwrap_err();
    assert!(matches!(err, ModelError::NotReplicated { .. }), "{err}");
    // 3. Sample 0 masked out and replicated over the samples with the
    //    server's own rotation keys: the shape of a model, the values of the
    //    client's data. The plaintext reference catches it.
    let mask: Vec<f64> = (0..j.layout.slots).map(|s| f64::from(s < D.next_power_of_two() * 4)).collect();
    let masked = ev.mul_values_rescale_to(x00, &mask, x00.scale(), &encoder).unwrap();
    let mut rep = masked.clone();
    for &s in &j.layout.sample_sum_steps() {
        let r = ev.rotate(&rep, s, j.keys.galois()).unwrap();
        rep = ev.add(&rep, &r).unwrap();
    }
    let forged = ev.drop_to_level(&rep, level).unwrap();
    let err = client.release_model(&with_w0(j, forged.clone()), &e, &policy()).unwrap_err();
    assert!(matches!(err, ModelError::FarFromReference { .. }), "{err}");
    // Without the reference the structural checks alone cannot tell (which
    // is why decrypt-model always computes it).
    let blind = ModelExpectation { reference: None, ..e.clone() };
    assert!(client.decrypt_model_private(&with_w0(j, forged), &blind, 1e-5).is_ok());
}

#[test]
fn shapes_from_outside_are_refused_without_panicking() {
    let j = job();
    let client = TrainingClient::new(&j.sk);
    let ev = Evaluator::new(&j.ctx);
    let e = expectation(j);
    // A ciphertext claiming 1 slot (panicked in packing before).
    let one = ev.reinterpret_slots(&j.model.w[0], 1).unwrap();
    let err = client.release_model(&with_w0(j, one), &e, &policy()).unwrap_err();
    assert!(matches!(err, ModelError::Shape(_)), "{err}");
    // Missing and extra blocks.
    let mut short = j.model.clone();
    short.w.pop();
    assert!(matches!(client.release_model(&short, &e, &policy()), Err(ModelError::Shape(_))));
    // Iteration counts the client does not accept.
    for t in [0, 101] {
        let mut m = j.model.clone();
        m.iterations = t;
        assert!(matches!(client.release_model(&m, &e, &policy()), Err(ModelError::Iterations { .. })));
    }
    // A layout with a huge class axis (from a forged record) is refused by validation.
    let huge = Layout { class_slots: 1 << 40, ..j.layout };
    assert!(huge.validate(C).is_err());
    // A scale far from Δ, at the right level (V is one level above W).
    let scaled = ev.mul_const_rescale_to(&j.model.v[0], 1.0, j.model.w[0].scale() * 64.0).unwrap();
    assert_eq!(scaled.level(), j.model.w[0].level());
    assert!(matches!(client.release_model(&with_w0(j, scaled), &e, &policy()), Err(ModelError::Scale { .. })));
    // Flooding at 30 bits over this noise estimate would drown the weights: refused.
    let strict = ReleasePolicy { statistical_security: 60, ..policy() };
    assert!(matches!(client.release_model(&j.model, &e, &strict), Err(ModelError::NoPrecisionLeft { .. })));
}

fn max_diff(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    a.iter().flatten().zip(b.iter().flatten()).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}
