//! The approximation simulator: exact mode is the model's own inference, a
//! composite sign stays close to it, out-of-range arguments are counted
//! exactly, and bad inputs are typed errors.

use hecnn_approx::composite::{default_eps, search};
use hecnn_nn::backbone::bundled_classifier;
use hecnn_nn::features::image_tensors;
use hecnn_nn::mnist::{bundled_mnist_dir, load_images, load_labels};
use hecnn_nn::model::{Exact, ModelBuilder, ModelError, Op, Pool2d, Tensor};
use hecnn_nn::simulate::{accuracy, SimError, Simulator, SiteBound, SiteKind, BOUND_MARGIN, CALIBRATION_START};

fn test_set(n: usize) -> (Vec<Tensor<f64>>, Vec<u8>) {
    let dir = bundled_mnist_dir();
    let images = load_images(dir.join("t10k-images.idx3-ubyte.gz")).unwrap();
    let labels = load_labels(dir.join("t10k-labels.idx1-ubyte.gz")).unwrap();
    (image_tensors(&images.slice(0..n)), labels[..n].to_vec())
}

/// Training images from [`CALIBRATION_START`] (never test images).
fn calibration(n: usize) -> Vec<Tensor<f64>> {
    let images = load_images(bundled_mnist_dir().join("train-images.idx3-ubyte.gz")).unwrap();
    image_tensors(&images.slice(CALIBRATION_START..CALIBRATION_START + n))
}

fn t(shape: &[usize], data: Vec<f64>) -> Tensor<f64> {
    Tensor::new(shape.to_vec(), data).unwrap()
}

#[test]
fn exact_mode_is_the_models_inference() {
    let model = bundled_classifier().unwrap();
    let sim = Simulator::calibrate(&model, &calibration(500), BOUND_MARGIN).unwrap();
    let (xs, labels) = test_set(300);
    let ys = sim.run_exact(&xs, &|| {}).unwrap();
    for (x, y) in xs.iter().zip(&ys) {
        assert_eq!(*y, model.forward_with(x, &Exact).unwrap());
    }
    let acc = accuracy(&ys, &labels).unwrap();
    assert!(acc >= 0.97, "exact accuracy {acc}");
    // 2 ReLU + 2 max-pool nodes; max-pool bounds the range of its (post-ReLU) inputs.
    let kinds: Vec<SiteKind> = sim.sites().iter().map(|s| s.kind).collect();
    assert_eq!(kinds, [SiteKind::Relu, SiteKind::MaxPool, SiteKind::Relu, SiteKind::MaxPool]);
    for s in sim.sites() {
        assert!(s.observed > 0.0 && (s.bound - s.observed * BOUND_MARGIN).abs() < 1e-12, "{s:?}");
    }
    // 8·24·24 + 15·8·8 ReLUs, (8·12·12 + 15·4·4)·3 pairwise maxima.
    assert_eq!(sim.sign_evaluations_per_sample(), 5_568 + 1_392 * 3);
}

#[test]
fn composite_alpha_8_stays_close_to_exact() {
    let model = bundled_classifier().unwrap();
    let sim = Simulator::calibrate(&model, &calibration(2_000), BOUND_MARGIN).unwrap();
    let (xs, labels) = test_set(300);
    let exact = sim.run_exact(&xs, &|| {}).unwrap();
    let sign = search(8, default_eps(8)).unwrap();
    let run = sim.run_approx(&|x| sign.eval(x), &xs, &|| {}).unwrap();
    let (a_exact, a_approx) = (accuracy(&exact, &labels).unwrap(), accuracy(&run.outputs, &labels).unwrap());
    let worst = exact
        .iter()
        .zip(&run.outputs)
        .flat_map(|(e, a)| e.data().iter().zip(a.data()).map(|(u, v)| (u - v).abs()))
        .fold(0.0, f64::max);
    println!(
        "α = 8 on 300 test images: exact {a_exact}, approx {a_approx}, max |Δlogit| {worst:.3e}, out of range {}",
        run.total_out_of_range()
    );
    assert!((a_exact - a_approx).abs() <= 0.01, "exact {a_exact} vs approx {a_approx}");
    // ReLU error ≤ 2^-9·|x| plus the gap; the logits stay close.
    assert!(worst < 0.5, "max logit difference {worst}");
    assert_eq!(run.total_out_of_range(), 0);
    assert_eq!(run.sign_evaluations, 300 * sim.sign_evaluations_per_sample());
    // A better sign is closer still.
    let fine = search(14, default_eps(14)).unwrap();
    let run14 = sim.run_approx(&|x| fine.eval(x), &xs, &|| {}).unwrap();
    let worst14 = exact
        .iter()
        .zip(&run14.outputs)
        .flat_map(|(e, a)| e.data().iter().zip(a.data()).map(|(u, v)| (u - v).abs()))
        .fold(0.0, f64::max);
    assert!(worst14 < worst / 4.0, "α = 14: {worst14}, α = 8: {worst}");
}

#[test]
fn out_of_range_is_counted_exactly() {
    // ReLU: calibration max |x| = 2, B = 2.2; 3.0 and −5.0 exceed it, 2.1 does not.
    let relu = ModelBuilder::new(vec![4]).relu().build().unwrap();
    let sim = Simulator::calibrate(&relu, &[t(&[4], vec![0.5, -2.0, 1.0, 0.0])], BOUND_MARGIN).unwrap();
    assert!((sim.sites()[0].bound - 2.2).abs() < 1e-12);
    let xs = [t(&[4], vec![3.0, -5.0, 2.1, -1.0]), t(&[4], vec![0.1; 4])];
    let run = sim.run_approx(&f64::signum, &xs, &|| {}).unwrap();
    assert_eq!(run.out_of_range, vec![2, 0]);
    assert_eq!((run.total_out_of_range(), run.images_out_of_range()), (2, 1));
    // With an exact sign, out-of-range values still give the exact ReLU.
    assert_eq!(run.outputs[0].data(), &[3.0, 0.0, 2.1, 0.0]);

    // Max-pool 2×2: calibration range [0, 1] gives B = 1.1. Window [0, 5, 0, 0]:
    // level 1 compares (0, 5) — out — and (0, 0); level 2 compares (5, 0) — out.
    let pool = ModelBuilder::new(vec![1, 2, 2]).max_pool(Pool2d::square(2)).build().unwrap();
    let sim = Simulator::calibrate(&pool, &[t(&[1, 2, 2], vec![0.0, 1.0, 0.5, 0.2])], BOUND_MARGIN).unwrap();
    assert_eq!(sim.sites()[0].kind, SiteKind::MaxPool);
    assert!((sim.sites()[0].bound - 1.1).abs() < 1e-12);
    let run = sim.run_approx(&f64::signum, &[t(&[1, 2, 2], vec![0.0, 5.0, 0.0, 0.0])], &|| {}).unwrap();
    assert_eq!(run.out_of_range, vec![2]);
    assert_eq!(run.outputs[0].data(), &[5.0]);
    assert_eq!(run.sign_evaluations, 3);

    // A real model on a crafted input (a test image ×6): counted, no panic,
    // and the count equals one taken independently from the exact trace.
    let model = bundled_classifier().unwrap();
    let sim = Simulator::calibrate(&model, &calibration(1_000), BOUND_MARGIN).unwrap();
    let (xs, _) = test_set(1);
    let loud = t(&[1, 28, 28], xs[0].data().iter().map(|v| v * 6.0).collect());
    let run = sim.run_approx(&f64::signum, std::slice::from_ref(&loud), &|| {}).unwrap();
    let values = model.trace(&loud, &Exact).unwrap();
    let mut expected = 0u64;
    for s in sim.sites() {
        let input = &values[model.nodes()[s.node].inputs[0]];
        let out = |d: f64| u64::from((d / s.bound).abs() > 1.0);
        match s.kind {
            SiteKind::Relu => expected += input.data().iter().map(|&v| out(v)).sum::<u64>(),
            SiteKind::MaxPool => {
                let &[c, h, w] = input.shape() else { panic!("pool input shape") };
                let at = |ch: usize, y: usize, x: usize| input.data()[(ch * h + y) * w + x];
                for ch in 0..c {
                    for y in (0..h).step_by(2) {
                        for x in (0..w).step_by(2) {
                            let (a, b, p, q) = (at(ch, y, x), at(ch, y, x + 1), at(ch, y + 1, x), at(ch, y + 1, x + 1));
                            expected += out(a - b) + out(p - q) + out(a.max(b) - p.max(q));
                        }
                    }
                }
            }
        }
    }
    println!("image ×6: {expected} of {} sign arguments out of range", run.sign_evaluations);
    assert!(expected > 100, "{expected}");
    assert_eq!(run.total_out_of_range(), expected);
    // With the composite sign the out-of-range values blow up; still no panic, same count.
    let sign = search(8, default_eps(8)).unwrap();
    let run = sim.run_approx(&|x| sign.eval(x), std::slice::from_ref(&loud), &|| {}).unwrap();
    assert!(run.total_out_of_range() >= expected);
    assert_eq!(run.outputs[0].data().len(), 10);
}

#[cfg(feature = "onnx")]
#[test]
fn onnx_classifier_simulates_like_the_native_one() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/classifier.onnx");
    let imported = hecnn_nn::onnx::import_onnx(path).unwrap();
    let native = bundled_classifier().unwrap();
    let calib = calibration(500);
    let (a, b) = (
        Simulator::calibrate(&imported, &calib, BOUND_MARGIN).unwrap(),
        Simulator::calibrate(&native, &calib, BOUND_MARGIN).unwrap(),
    );
    let (xs, _) = test_set(50);
    let sign = search(8, default_eps(8)).unwrap();
    let (ra, rb) =
        (a.run_approx(&|x| sign.eval(x), &xs, &|| {}).unwrap(), b.run_approx(&|x| sign.eval(x), &xs, &|| {}).unwrap());
    for (ya, yb) in ra.outputs.iter().zip(&rb.outputs) {
        for (u, v) in ya.data().iter().zip(yb.data()) {
            assert!((u - v).abs() < 1e-4, "{u} vs {v}");
        }
    }
}

#[test]
fn bad_inputs_are_typed_errors() {
    let model = bundled_classifier().unwrap();
    let calib = calibration(10);
    let sim = Simulator::calibrate(&model, &calib, BOUND_MARGIN).unwrap();
    // Wrong image size, in every entry point.
    let wrong = t(&[1, 32, 32], vec![0.5; 32 * 32]);
    let shape_err =
        |e: SimError| matches!(e, SimError::Model(ModelError::InputShape { ref found, .. }) if found == &[1, 32, 32]);
    assert!(shape_err(sim.run_exact(std::slice::from_ref(&wrong), &|| {}).unwrap_err()));
    assert!(shape_err(sim.run_approx(&f64::signum, std::slice::from_ref(&wrong), &|| {}).unwrap_err()));
    assert!(shape_err(Simulator::calibrate(&model, std::slice::from_ref(&wrong), BOUND_MARGIN).unwrap_err()));
    // Calibration and margin.
    assert_eq!(Simulator::calibrate(&model, &[], BOUND_MARGIN).unwrap_err(), SimError::NoCalibration);
    for m in [0.5, f64::NAN, f64::INFINITY] {
        assert!(matches!(Simulator::calibrate(&model, &calib, m), Err(SimError::BadMargin(_))));
    }
    // Labels.
    let ys = sim.run_exact(&calib[..2], &|| {}).unwrap();
    assert_eq!(accuracy(&ys, &[1]).unwrap_err(), SimError::LabelCount { outputs: 2, labels: 1 });
    assert_eq!(accuracy(&ys, &[1, 10]).unwrap_err(), SimError::TooFewScores { label: 10, scores: 10 });
    // Explicit bounds must cover exactly the ReLU and max-pool nodes.
    let good = sim.sites().to_vec();
    assert!(Simulator::with_sites(&model, good.clone()).is_ok());
    let mismatch =
        |sites: Vec<SiteBound>| matches!(Simulator::with_sites(&model, sites), Err(SimError::SiteMismatch { .. }));
    assert!(mismatch(good[1..].to_vec()));
    assert!(mismatch([good.clone(), vec![good[0]]].concat()));
    let conv = model.nodes().iter().position(|n| matches!(n.op, Op::Conv2d(_))).unwrap();
    assert!(mismatch(vec![SiteBound { node: conv, ..good[0] }]));
    assert!(mismatch(vec![SiteBound { node: 99, ..good[0] }]));
    let mut bad = good.clone();
    bad[0].bound = -1.0;
    assert!(matches!(Simulator::with_sites(&model, bad), Err(SimError::BadBound { node, .. }) if node == good[0].node));
}
