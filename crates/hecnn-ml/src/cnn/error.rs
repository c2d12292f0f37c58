//! Typed errors of encrypted CNN inference.

use thiserror::Error;

/// Why a model cannot be compiled, planned or run on ciphertexts, or why a
/// result is refused.
#[derive(Debug, Error)]
pub enum CnnError {
    /// The model itself is invalid or an input does not fit it.
    #[error(transparent)]
    Model(#[from] hecnn_nn::model::ModelError),
    /// A node the encrypted engine cannot run.
    #[error("node {node} ({op}): {reason}")]
    Unsupported {
        /// Node index in the model.
        node: usize,
        /// Its op name.
        op: &'static str,
        /// Why.
        reason: String,
    },
    /// The model needs more levels than the parameters give and no
    /// bootstrapping is available (or a single step needs more than a
    /// bootstrap leaves).
    #[error(
        "the model does not fit the parameter chain: {step} needs {needed} levels, {available} are available{}",
        if *.bootstrapping { " after a bootstrap" } else { " and there are no bootstrapping keys" }
    )]
    TooDeep {
        /// The step that does not fit (names the model node).
        step: String,
        /// Levels it needs.
        needed: usize,
        /// Levels there are.
        available: usize,
        /// Whether bootstrapping was available.
        bootstrapping: bool,
    },
    /// An image with the wrong number of pixels or a non-finite pixel.
    #[error("image {image}: {reason}")]
    BadImage {
        /// Index of the image in the batch.
        image: usize,
        /// What is wrong.
        reason: String,
    },
    /// Too many images for one batch of the layout.
    #[error("{images} images do not fit one batch of {capacity}")]
    BatchTooLarge {
        /// Images given.
        images: usize,
        /// What the layout holds.
        capacity: usize,
    },
    /// Calibration data missing or unusable.
    #[error("calibration: {0}")]
    Calibration(String),
    /// A decrypted score the client refuses: the server lied, or an
    /// activation left its bound at run time.
    #[error("image {image}: {reason}")]
    ScoreCheck {
        /// Index of the image in the batch.
        image: usize,
        /// What was found.
        reason: String,
    },
    /// The wrong number or shape of ciphertexts for the circuit.
    #[error("ciphertexts: {0}")]
    Ciphertexts(String),
    /// An error of the CKKS layer (keys, levels, scales).
    #[error(transparent)]
    Ckks(#[from] hecnn_ckks::CkksError),
    /// The composite sign could not be built.
    #[error(transparent)]
    Approx(#[from] hecnn_approx::ApproxError),
}
