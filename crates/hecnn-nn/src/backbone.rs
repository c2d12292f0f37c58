//! The bundled pre-trained MNIST networks: the CNN whose backbone feeds the
//! encrypted logistic regression, and a small residual network.
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

/// The bundled residual network's weights (format of [`Model::from_bytes`]).
pub static MNIST_RESNET_BYTES: &[u8] =
    include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/mnist_resnet.bin"));

/// ONNX export (opset 13) of the same network as [`bundled_residual`],
/// relative to the repository root; batch norms are folded into the
/// convolutions, as in a PyTorch eval-mode export.
pub const RESIDUAL_MODEL_PATH: &str = "models/resnet.onnx";

/// The bundled small residual MNIST classifier; outputs 10 logits.
///
/// Architecture (input `[1, 28, 28]`, pixels in `[0, 1]`; 4 channels
/// throughout, so every activation fits in one ciphertext):
///
/// ```text
/// stem:  Conv(1→4, 3×3, pad 1) → BatchNorm → ReLU → MaxPool 2×2      [4, 14, 14]
/// 3×:    x → Conv(4→4, 3×3, pad 1) → BatchNorm → ReLU
///          → Conv(4→4, 3×3, pad 1) → BatchNorm → Add(x) → ReLU        [4, 14, 14]
/// head:  AvgPool 2×2 → Flatten (4·7·7 = 196) → Linear(196→10)
/// ```
///
/// 7 ReLU layers, 3 residual blocks. The batch norms (eval mode, running
/// statistics) are folded into the convolutions, so the model has 21 nodes:
/// 7 `Conv2d`, 7 `Relu`, 3 `Add`, `MaxPool`, `AvgPool`, `Flatten`, `Linear`.
/// Trained with exact ReLU on MNIST training images 10,000..60,000 only;
/// see `models/README.md` and the `train_resnet` example.
pub fn bundled_residual() -> Result<Model, FormatError> {
    Model::from_bytes(MNIST_RESNET_BYTES)
}
