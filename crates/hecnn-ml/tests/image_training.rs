//! Training from encrypted images end to end on small insecure rings: a
//! backbone (conv → ReLU → max-pool) on encrypted images, its output
//! repacked into the training layout, `B̄` from encrypted statistics, two
//! encrypted iterations — the decrypted model against the plaintext
//! pipeline reference (the same polynomials in f64), every intermediate
//! checked on the way, and the upload inspected.

use std::sync::Arc;

use hecnn_ckks::circuits::{BootstrapConfig, BootstrapKeys};
use hecnn_ckks::{
    Ciphertext, Context, Decryptor, Encoder, EvaluationKeySet, GaloisKeys, Parameters, RelinKey, SecretKey,
    SeededCiphertext,
};
use hecnn_ml::cnn::toy::values as weights;
use hecnn_ml::mlr::client::{ModelExpectation, TrainingClient};
use hecnn_ml::mlr::prep::{Scaling, DEFAULT_INIT};
use hecnn_ml::mlr::server::TrainingServer;
use hecnn_ml::transfer::client::ImageTrainingClient;
use hecnn_ml::transfer::server::ImageTrainingServer;
use hecnn_ml::transfer::{reference, ImageJob, JobOptions};
use hecnn_nn::model::{Conv2d, Model, ModelBuilder, Pool2d, Tensor};

const CLASSES: usize = 3;

/// Conv(1→2, 3×3) → ReLU → MaxPool 2 → Flatten: 8 features of a 6×6 image.
fn backbone() -> Model {
    let conv = Conv2d {
        out_c: 2,
        in_c: 1,
        kernel: (3, 3),
        stride: (1, 1),
        pad: [0; 4],
        weight: weights(18, 3, 0.6).into(),
        bias: vec![0.05, -0.05].into(),
    };
    ModelBuilder::new(vec![1, 6, 6]).conv2d(conv).relu().max_pool(Pool2d::square(2)).flatten().build().unwrap()
}

/// Images whose class shifts a bright bar: class k lights rows 2k, 2k+1.
fn images(n: usize, seed: u64) -> (Vec<Tensor<f64>>, Vec<u8>) {
    let labels: Vec<u8> = (0..n).map(|i| ((i as u64 * 7 + seed) % CLASSES as u64) as u8).collect();
    let imgs = labels
        .iter()
        .enumerate()
        .map(|(i, &y)| {
            let noise = weights(36, seed * 1000 + i as u64, 0.2);
            let px = (0..36)
                .map(|p| {
                    let row = p / 6;
                    let bar = if row / 2 == y as usize { 0.7 } else { 0.1 };
                    (bar + noise[p]).clamp(0.0, 1.0)
                })
                .collect();
            Tensor::new(vec![1, 6, 6], px).unwrap()
        })
        .collect();
    (imgs, labels)
}

struct Run {
    w: Vec<Vec<f64>>,
    reference: Vec<Vec<f64>>,
    uploaded: Vec<(String, SeededCiphertext)>,
}

/// The training layout takes one sample block per backbone batch, so the
/// repacking's rotations (and the client's keys) do not grow with the
/// number of images.
#[test]
fn the_rotation_keys_do_not_grow_with_the_images() {
    let (calibration, _) = images(64, 2);
    let plan = |samples| {
        let opts = JobOptions { slots: 2048, batch: 16, alpha: 4, scaling: Scaling::MaxAbs, samples, classes: CLASSES };
        ImageJob::plan(&backbone(), &calibration, &opts).unwrap()
    };
    let (small, large) = (plan(40), plan(640));
    assert_eq!((small.layout.samples_per_block, large.layout.samples_per_block), (16, 16));
    assert_eq!(small.repack.rotation_steps(), large.repack.rotation_steps());
    assert_eq!(small.rotation_steps(true), large.rotation_steps(true));
}

/// The bundled backbone's job (128 images in batches of 32, layout
/// 32 × 64 × 16): feature `f'` of image `b` moves by `u − 1023·b`, `u` one of
/// two values per block. Split on the image index (`b = 8k + h`) that is 7
/// babies per source and per block two Horner chains of 3 steps and a final
/// rotation each (the first block's first chain has `u = 0`): 4·7 + 16·8 − 4
/// = 152 key switches where a power-of-two split needed 1,328.
#[test]
fn the_bundled_jobs_repacking_splits_on_the_image_index() {
    let mnist = hecnn_nn::mnist::Mnist::load_dir(hecnn_nn::mnist::bundled_mnist_dir()).unwrap();
    let calibration = hecnn_nn::features::image_tensors::<f64>(&mnist.train_images.slice(10_000..10_200));
    let backbone = hecnn_nn::backbone::bundled_backbone().unwrap();
    let opts = JobOptions { slots: 1 << 15, batch: 32, alpha: 5, scaling: Scaling::MaxAbs, samples: 128, classes: 10 };
    let job = ImageJob::plan(&backbone, &calibration, &opts).unwrap();
    let planned = job.repack.planned();
    assert_eq!(planned.diagonals, 1024);
    assert_eq!(planned.map_rotations, 4 * 7 + 16 * 8 - 4);
    assert_eq!(planned.fill_rotations, 16 * 4);
    // Keys: the babies' hops 1023·{1, 2, 4}, the Horner step 8·1023 and the
    // offsets u (7 besides 0), next to the backbone's and the trainer's.
    let steps = job.repack.rotation_steps();
    for s in [-1023, -2046, -4092, -8184, 1008] {
        assert!(steps.contains(&s), "{s} in {steps:?}");
    }
    assert!(job.rotation_steps(true).len() <= 40, "{}", job.rotation_steps(true).len());
}

/// The whole job: client and server in turn, every exchange as it would
/// travel (seeded ciphertexts, expanded by the receiver).
fn run_job(ctx: &Arc<Context>, bootstrapping: bool, samples: usize, iterations: usize) -> Run {
    let (train, labels) = images(samples, 1);
    let (calibration, _) = images(64, 2);
    let slots = ctx.n() / 2;
    let opts = JobOptions { slots, batch: 16, alpha: 4, scaling: Scaling::MaxAbs, samples, classes: CLASSES };
    let job = ImageJob::plan(&backbone(), &calibration, &opts).unwrap();
    let d = job.features();
    assert_eq!(d, 9);

    // Client: keys (no secret leaves), images encrypted.
    let sk = SecretKey::generate(ctx);
    let cfg = BootstrapConfig::default();
    let boot = bootstrapping.then(|| {
        let packed =
            hecnn_ml::mlr::refresh::packed_slots(&job.layout, hecnn_ml::mlr::setup::state_blocks(&job.layout, d));
        BootstrapKeys::generate(&sk, &cfg, &[slots, packed]).unwrap()
    });
    let gk = GaloisKeys::generate(&sk, &job.rotation_steps(bootstrapping), false);
    let keys = EvaluationKeySet::new(ctx, RelinKey::generate(&sk), gk, boot).unwrap();
    let client = ImageTrainingClient::new(&sk);
    let server = ImageTrainingServer::new(&job.model, &keys, &job.repack).unwrap();
    let pixels: Vec<Vec<f64>> = train.iter().map(|t| t.data().to_vec()).collect();
    let spec = job.model.spec();
    let up_images = client.encrypt_images(&spec, &pixels, server.input_level()).unwrap();
    let mut uploaded: Vec<(String, SeededCiphertext)> = Vec::new();
    for (b, batch) in up_images.iter().enumerate() {
        uploaded.extend(batch.iter().enumerate().map(|(i, c)| (format!("image/{b}/{i}"), c.clone())));
    }

    // Server: backbone, repacking, statistics.
    let expand = |v: &[SeededCiphertext]| -> Vec<Ciphertext> { v.iter().map(|c| c.expand(ctx).unwrap()).collect() };
    let batches: Vec<Vec<Ciphertext>> = up_images.iter().map(|b| expand(b)).collect();
    let (x, stats) = server.features(batches, iterations, &|_, _| {}).unwrap();
    assert_eq!(stats.refreshed > 0, bootstrapping, "the backbone's output is refreshed exactly when bootstrapping");
    assert_eq!(stats.repack, job.repack.planned(), "the repacking costs what its plan says");

    // The plaintext pipeline: the same polynomials in f64.
    let xr = reference::features(&job.model, &pixels);
    let enc = Encoder::new(ctx);
    let dec = Decryptor::new(&sk);
    let l = job.layout;
    for (sb, row) in x.iter().enumerate() {
        for (fb, ct) in row.iter().enumerate() {
            let got = enc.decode_real(&dec.decrypt(ct).unwrap()).unwrap();
            let want = l.pack_data(&xr, sb, fb, CLASSES);
            let err = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(err < 1e-3, "repacked block ({sb}, {fb}): max error {err:.2e}");
        }
    }
    let (s, x) = server.statistics(x).unwrap();

    // Client: B̄ from the aggregates, then B̄, labels and weights encrypted.
    let bbar = client.preconditioner(&s, l, d, CLASSES).unwrap();
    let bbar_ref = reference::preconditioner(&xr, hecnn_ml::transfer::PIPELINE_EPSILON);
    for (j, (a, b)) in bbar.iter().zip(&bbar_ref).enumerate() {
        assert!((a - b).abs() <= 1e-4 * b.abs(), "b̄_{j}: {a} against {b}");
    }
    let level = x[0][0].level();
    let up_bbar = client.encrypt_preconditioner(&bbar, l, CLASSES, level).unwrap();
    let init = vec![vec![DEFAULT_INIT; d]; CLASSES];
    let (up_labels, up_weights) = client.encrypt_labels_and_weights(&labels, &init, l, level - 1).unwrap();
    for (name, v) in [("bbar", &up_bbar), ("label", &up_labels), ("weight", &up_weights)] {
        uploaded.extend(v.iter().enumerate().map(|(i, c)| (format!("{name}/{i}"), c.clone())));
    }

    // Server: the training set and the usual trainer.
    let data = server.dataset(x, &expand(&up_bbar), expand(&up_labels), expand(&up_weights)).unwrap();
    drop(server);
    let trainer = TrainingServer::new(keys).unwrap();
    let (model, _) = trainer.train(&data, iterations, &mut |_| {}).unwrap();

    // Client: the checked decryption.
    let reference = reference::train(&xr, &labels, CLASSES, iterations).unwrap();
    let expect = ModelExpectation {
        layout: l,
        classes: CLASSES,
        features: d,
        key_set: sk.key_set(),
        data_level: level - 1,
        refresh_level: trainer.refresh_level(),
        log_scale: ctx.params().log_scale(),
        max_iterations: iterations,
        value_tolerance: 1e-2,
        reference: None,
    };
    let (w, _) = TrainingClient::new(&sk).decrypt_model_private(&model, &expect, 1e-2).unwrap();

    // What the server received, decrypted: each ciphertext is a batch of the
    // client's images, a label block, B̄ (from aggregates only) or the public
    // initial weights — no feature, no backbone output.
    let packed: Vec<Vec<Vec<f64>>> = pixels.chunks(spec.batch).map(|c| spec.pack_images(c).unwrap()).collect();
    for (name, ct) in &uploaded {
        let got = enc.decode_real(&dec.decrypt(&ct.expand(ctx).unwrap()).unwrap()).unwrap();
        let index = |k: usize| -> usize { name.split('/').nth(k).unwrap().parse().unwrap() };
        let want = match name.split('/').next().unwrap() {
            "image" => packed[index(1)][index(2)].clone(),
            "bbar" => l.pack_weights(&vec![bbar.clone(); CLASSES], index(1)),
            "label" => l.pack_labels(&labels, index(1), CLASSES),
            "weight" => l.pack_weights(&init, index(1)),
            other => panic!("the upload holds a {other} ciphertext ({name})"),
        };
        let err = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(err < 1e-5, "{name}: differs from what its name says by {err:.2e}");
    }
    Run { w, reference, uploaded }
}

fn max_error(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    a.iter().flatten().zip(b.iter().flatten()).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

/// 40 images in three batches of ≤ 16 (the last one partly empty), no
/// bootstrapping: the chain holds backbone (23 levels), repacking, `B̄ ⊙ X`
/// and two iterations (9).
#[test]
fn two_iterations_from_encrypted_images_match_the_pipeline_reference() {
    let mut bits = vec![60];
    bits.extend(std::iter::repeat_n(40, 35));
    let ctx = Context::new(Parameters::insecure_for_tests(12, &bits, 6, 40).unwrap()).unwrap();
    let run = run_job(&ctx, false, 40, 2);
    let err = max_error(&run.w, &run.reference);
    assert!(err < 1e-3, "decrypted weights {err:.2e} from the pipeline reference");
    // The model learnt something: it moved away from its start.
    assert!(max_error(&run.w, &vec![vec![DEFAULT_INIT; 9]; CLASSES]) > 1e-2);
    // What the server received: images, B̄, labels and the public initial weights — nothing else.
    let kinds: std::collections::BTreeSet<&str> =
        run.uploaded.iter().map(|(n, _)| n.split('/').next().unwrap()).collect();
    assert_eq!(kinds, ["bbar", "image", "label", "weight"].into_iter().collect());
}

/// With bootstrapping (insecure N = 2^12, the `bootstrappable` shape with 9
/// computation levels): the backbone bootstraps inside (the pool's two
/// maxima, then its fused ReLU-of-max in 8 levels), its output is refreshed
/// before the repacking, and 4 iterations refresh W and V.
#[test]
fn bootstrapped_training_from_encrypted_images_matches_the_pipeline_reference() {
    let bits = BootstrapConfig::default().chain_bits(9);
    let ctx = Context::new(Parameters::insecure_for_tests(12, &bits, 5, 40).unwrap()).unwrap();
    let run = run_job(&ctx, true, 24, 4);
    let err = max_error(&run.w, &run.reference);
    assert!(err < 1e-3, "decrypted weights {err:.2e} from the pipeline reference");
}
