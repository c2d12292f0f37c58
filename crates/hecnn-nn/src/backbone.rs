//! The bundled pre-trained MNIST CNN.
//!
//! Architecture (input `[1, 28, 28]`, pixels in `[0, 1]`):
//! Conv(1→8, 5×5) → ReLU → MaxPool 2 → Conv(8→15, 5×5) → ReLU → MaxPool 2 →
//! Flatten (15·4·4 = 240) → Linear(240→10).
//! Everything up to Flatten is the *backbone*: its 240 features plus a bias
//! column give d = 241 ≤ 256 for the encrypted logistic regression. The head
//! is kept so the approximation simulator can measure classification accuracy.
//! Trained with exact ReLU on MNIST training images 10,000..60,000 only (the
//! first 10,000 are the clients' private data); see `models/README.md`.
//! The weights are compiled into the binary, so no file is needed at run time.

use crate::model::{FormatError, Model, ModelError, Op};

/// Features per image produced by [`bundled_backbone`].
pub const FEATURE_DIM: usize = 240;

/// The bundled weights (format of [`Model::from_bytes`]).
pub static MNIST_CNN_BYTES: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/mnist_cnn.bin"));

/// The full classifier (backbone + Linear(240→10) head); outputs 10 logits.
pub fn bundled_classifier() -> Result<Model, FormatError> {
    Model::from_bytes(MNIST_CNN_BYTES)
}

/// The backbone: the classifier cut after its Flatten; outputs 240 features.
pub fn bundled_backbone() -> Result<Model, FormatError> {
    backbone_of(&bundled_classifier()?).map_err(FormatError::Invalid)
}

/// A classifier cut after its first Flatten (the feature extractor).
pub fn backbone_of(classifier: &Model) -> Result<Model, ModelError> {
    let flatten =
        classifier.nodes().iter().position(|n| matches!(n.op, Op::Flatten)).ok_or(ModelError::BadOutput(0))?;
    classifier.truncated_after(flatten)
}
