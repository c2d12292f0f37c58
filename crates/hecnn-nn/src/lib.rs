//! Plaintext side of hecnn: data loaders, a small CNN model and its
//! approximation simulator, the bundled pre-trained MNIST backbone, feature
//! extraction and ONNX import. No cryptography lives here.
//!
//! * [`mnist`] — MNIST IDX files (raw or `.gz`), validated.
//! * [`csv`] — `label,f1,…,fd` feature files, validated.
//! * [`model`] — layers, graph, f32/f64 inference, pluggable ReLU/max.
//! * [`backbone`] — the bundled CNN and residual network (weights embedded in the binary).
//! * [`features`] — backbone features for transfer learning.
//! * [`onnx`] — ONNX graphs into [`model::Model`] (feature `onnx`).
//! * [`simulate`] — exact vs. polynomial activations: the accuracy loss of α.

#![warn(missing_docs)]

pub mod backbone;
pub mod csv;
pub mod features;
pub mod input;
pub mod mnist;
pub mod model;
#[cfg(feature = "onnx")]
pub mod onnx;
pub mod simulate;
