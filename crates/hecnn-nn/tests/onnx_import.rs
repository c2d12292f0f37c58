//! ONNX import: the exported bundled models match the native ones and tract;
//! a graph with many op kinds matches tract; unsupported graphs are named.
#![cfg(feature = "onnx")]

use std::path::PathBuf;

use hecnn_nn::backbone::{bundled_backbone, bundled_classifier, bundled_residual, FEATURE_DIM, RESIDUAL_MODEL_PATH};
use hecnn_nn::features::image_tensors;
use hecnn_nn::mnist::{bundled_mnist_dir, load_images};
use hecnn_nn::model::{Exact, Model, Op, Tensor};
use hecnn_nn::onnx::{import_onnx, import_onnx_bytes, OnnxError, TractModel};

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn test_images(n: usize) -> Vec<Tensor<f64>> {
    let images = load_images(bundled_mnist_dir().join("t10k-images.idx3-ubyte.gz")).unwrap();
    image_tensors(&images.slice(0..n))
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

/// Native import and tract agree with `reference` on `xs` to 1e-4.
fn check_against(path: &str, reference: Option<&Model>, xs: &[Tensor<f64>], out_dim: usize) -> Model {
    let bytes = std::fs::read(repo(path)).unwrap();
    let imported = import_onnx(repo(path)).unwrap();
    let tract = TractModel::load(&bytes, imported.input_shape(), xs.len()).unwrap();
    let flat: Vec<f32> = xs.iter().flat_map(|x| x.data().iter().map(|&v| v as f32)).collect();
    let tract_out = tract.run(&flat).unwrap();
    let mut worst = (0.0f64, 0.0f64);
    for (x, t) in xs.iter().zip(&tract_out) {
        let ours = imported.forward(x).unwrap();
        assert_eq!(ours.data().len(), out_dim);
        let t: Vec<f64> = t.iter().map(|&v| f64::from(v)).collect();
        worst.0 = worst.0.max(max_diff(ours.data(), &t));
        if let Some(r) = reference {
            worst.1 = worst.1.max(max_diff(ours.data(), r.forward(x).unwrap().data()));
        }
    }
    println!("{path}: max |import - tract| = {:.2e}, max |import - native| = {:.2e}", worst.0, worst.1);
    assert!(worst.0 < 1e-4 && worst.1 < 1e-4, "{worst:?}");
    imported
}

#[test]
fn bundled_onnx_matches_native_and_tract() {
    let xs = test_images(100);
    let b = check_against("../../models/backbone.onnx", Some(&bundled_backbone().unwrap()), &xs, FEATURE_DIM);
    assert_eq!(b.output_shape(), &[FEATURE_DIM]);
    let c = check_against("../../models/classifier.onnx", Some(&bundled_classifier().unwrap()), &xs, 10);
    assert_eq!(c.nodes().len(), bundled_classifier().unwrap().nodes().len());
}

#[test]
fn residual_onnx_matches_bundled_residual() {
    let xs = test_images(100);
    let native = bundled_residual().unwrap();
    let m = check_against(&format!("../../{RESIDUAL_MODEL_PATH}"), Some(&native), &xs, 10);
    let ops = |m: &Model| m.nodes().iter().map(|n| n.op.name()).collect::<Vec<_>>();
    assert_eq!(ops(&m), ops(&native));
    let inputs = |m: &Model| m.nodes().iter().map(|n| n.inputs.clone()).collect::<Vec<_>>();
    assert_eq!(inputs(&m), inputs(&native), "residual Adds read the same values");
}

#[test]
fn mixed_ops_match_tract() {
    let xs = test_images(16);
    let m = check_against("tests/data/mixed_ops.onnx", None, &xs, 10);
    let ops: Vec<&str> = m.nodes().iter().map(|n| n.op.name()).collect();
    // BatchNormalization folded into conv1, MatMul + Add became one Linear.
    assert_eq!(ops, ["Conv2d", "Relu", "Conv2d", "Add", "Relu", "AvgPool", "MaxPool", "Flatten", "Linear"]);
    assert!(!m.nodes().iter().any(|n| matches!(n.op, Op::ChannelAffine(_))));
    // The residual Add reads the ReLU output and the second convolution.
    assert_eq!(m.nodes()[3].inputs, vec![3, 2]);
    let _ = m.forward_with(&xs[0], &Exact).unwrap();
}

#[test]
fn aliased_batch_norm_stays_separate() {
    let xs = test_images(16);
    let m = check_against("tests/data/aliased_bn.onnx", None, &xs, 5);
    let ops: Vec<&str> = m.nodes().iter().map(|n| n.op.name()).collect();
    // The conv output is also read through an Identity, so folding the BN
    // into it would change the residual branch.
    assert_eq!(ops, ["Conv2d", "ChannelAffine", "Add", "Relu", "AvgPool", "Flatten", "Linear"]);
}

#[test]
fn unsupported_op_is_named() {
    match import_onnx(repo("tests/data/unsupported_op.onnx")) {
        Err(OnnxError::UnsupportedOp { node, op }) => {
            assert_eq!((node.as_str(), op.as_str()), ("act_sigmoid", "Sigmoid"))
        }
        other => panic!("expected UnsupportedOp, got {other:?}"),
    }
    match import_onnx(repo("tests/data/grouped_conv.onnx")) {
        Err(OnnxError::Unsupported { node, op, reason }) => {
            assert_eq!((node.as_str(), op.as_str()), ("conv_grouped", "Conv"));
            assert!(reason.contains("group"), "{reason}");
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[test]
fn garbage_is_a_decode_error() {
    assert!(matches!(import_onnx_bytes(b"\xff\xff\xff\xff not onnx"), Err(OnnxError::Decode(_))));
    assert!(matches!(import_onnx_bytes(b""), Err(OnnxError::NoGraph)));
    assert!(matches!(import_onnx(repo("tests/data/missing.onnx")), Err(OnnxError::Io { .. })));
    // Every prefix and a few bit flips of a real model: errors or models, never panics.
    let bytes = std::fs::read(repo("tests/data/mixed_ops.onnx")).unwrap();
    for cut in (0..bytes.len()).step_by(97) {
        let _ = import_onnx_bytes(&bytes[..cut]);
    }
    for i in (0..bytes.len()).step_by(31) {
        let mut b = bytes.clone();
        b[i] ^= 0x5a;
        let _ = import_onnx_bytes(&b);
    }
}
