//! The bundled CNN: loads from the embedded bytes, has the documented shape,
//! classifies the full MNIST test set well, and yields 240 features. The
//! bundled residual network: documented shape, accuracy on 1,000 test images.

use std::time::Instant;

use hecnn_nn::backbone::{bundled_backbone, bundled_classifier, bundled_residual, FEATURE_DIM};
use hecnn_nn::features::{accuracy, extract_features, image_tensors};
use hecnn_nn::mnist::{bundled_mnist_dir, load_images, load_labels};
use hecnn_nn::model::Op;

#[test]
fn architecture_is_as_documented() {
    let c = bundled_classifier().unwrap();
    let ops: Vec<&str> = c.nodes().iter().map(|n| n.op.name()).collect();
    assert_eq!(ops, ["Conv2d", "Relu", "MaxPool", "Conv2d", "Relu", "MaxPool", "Flatten", "Linear"]);
    assert_eq!(c.input_shape(), &[1, 28, 28]);
    assert_eq!(c.output_shape(), &[10]);
    let b = bundled_backbone().unwrap();
    assert_eq!(b.output_shape(), &[FEATURE_DIM]);
    assert!(matches!(b.nodes().last().unwrap().op, Op::Flatten));
}

#[test]
fn full_test_set_accuracy_and_features() {
    let dir = bundled_mnist_dir();
    let images = load_images(dir.join("t10k-images.idx3-ubyte.gz")).unwrap();
    let labels = load_labels(dir.join("t10k-labels.idx1-ubyte.gz")).unwrap();
    let classifier = bundled_classifier().unwrap();
    let start = Instant::now();
    let acc = accuracy(&classifier, &images, &labels).unwrap();
    let secs = start.elapsed().as_secs_f64();
    println!("bundled classifier: {:.2}% on the 10,000 test images ({secs:.2} s, f32)", acc * 100.0);
    assert!(acc >= 0.97, "accuracy {acc}");

    let few = images.slice(0..200);
    let feats = extract_features(&bundled_backbone().unwrap(), &few).unwrap();
    assert_eq!(feats.len(), 200);
    assert!(feats.iter().all(|f| f.len() == FEATURE_DIM));
    // Features come after ReLU and max-pool: non-negative, finite, not all zero.
    assert!(feats.iter().flatten().all(|v| v.is_finite() && *v >= 0.0));
    assert!(feats.iter().all(|f| f.iter().any(|v| *v > 0.0)));
    // The head applied to the features gives the classifier's logits.
    let logits = classifier.forward_batch(&image_tensors::<f64>(&few), &hecnn_nn::model::Exact).unwrap();
    let Op::Linear(head) = &classifier.nodes()[7].op else { panic!("head") };
    for (f, l) in feats.iter().zip(&logits) {
        for (o, &want) in l.data().iter().enumerate() {
            let row = &head.weight.as_f64()[o * FEATURE_DIM..(o + 1) * FEATURE_DIM];
            let got: f64 = head.bias.as_f64()[o] + row.iter().zip(f).map(|(w, x)| w * x).sum::<f64>();
            assert!((got - want).abs() < 1e-9);
        }
    }
}

#[test]
fn residual_architecture_and_accuracy() {
    let r = bundled_residual().unwrap();
    let ops: Vec<&str> = r.nodes().iter().map(|n| n.op.name()).collect();
    let block = ["Conv2d", "Relu", "Conv2d", "Add", "Relu"];
    let mut want = vec!["Conv2d", "Relu", "MaxPool"];
    (0..3).for_each(|_| want.extend(block));
    want.extend(["AvgPool", "Flatten", "Linear"]);
    assert_eq!(ops, want, "batch norms are folded into the convolutions");
    assert_eq!(r.input_shape(), &[1, 28, 28]);
    assert_eq!(r.output_shape(), &[10]);
    // Each Add reads its block's second convolution and the block input
    // (value ids: node i writes value i + 1; value 3 is the max-pool output).
    let adds: Vec<&[usize]> =
        r.nodes().iter().filter(|n| matches!(n.op, Op::Add)).map(|n| n.inputs.as_slice()).collect();
    assert_eq!(adds, [&[6, 3][..], &[11, 8], &[16, 13]]);
    for v in [3, 8, 13, 18] {
        assert_eq!(r.value_shape(v), Some(&[4, 14, 14][..]), "value {v}");
    }

    // Exact ReLU, f64, on the first 1,000 test images.
    let dir = bundled_mnist_dir();
    let images = load_images(dir.join("t10k-images.idx3-ubyte.gz")).unwrap().slice(0..1000);
    let labels = load_labels(dir.join("t10k-labels.idx1-ubyte.gz")).unwrap();
    let logits = extract_features(&r, &images).unwrap();
    let correct = logits
        .iter()
        .zip(&labels)
        .filter(|(l, &y)| (0..10).fold(0, |b, i| if l[i] > l[b] { i } else { b }) == usize::from(y))
        .count();
    let acc = correct as f64 / 1000.0;
    println!("bundled residual network: {:.1}% on the first 1,000 test images (f64, exact)", acc * 100.0);
    assert!(acc >= 0.98, "accuracy {acc} (983 / 1000 when trained)");
}
