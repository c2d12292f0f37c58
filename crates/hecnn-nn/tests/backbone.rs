//! The bundled CNN: loads from the embedded bytes, has the documented shape,
//! classifies the full MNIST test set well, and yields 240 features.

use std::time::Instant;

use hecnn_nn::backbone::{bundled_backbone, bundled_classifier, FEATURE_DIM};
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
