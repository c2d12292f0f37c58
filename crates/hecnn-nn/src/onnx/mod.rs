//! ONNX import: a CNN exported from PyTorch (or built with `onnx.helper`)
//! becomes a native [`Model`], so the approximation simulator and the
//! encrypted inference see exactly the layers they know.
//!
//! `tract-onnx` decodes the protobuf; the graph walk and the tensor decoding
//! are ours, so untrusted files give typed errors, never panics. Supported:
//! Conv (group 1, no dilation), Gemm, MatMul (+ Add of a constant bias),
//! Relu, MaxPool, AveragePool, GlobalAveragePool (no padding), BatchNormalization
//! (folded into a preceding Conv when that Conv feeds only it), Add of two
//! values (residual), Flatten (axis 1), Reshape to `[batch, features]`,
//! Identity. Anything else is [`OnnxError::UnsupportedOp`] naming the node.
//! The batch axis is dropped: the native model works on one sample.
//!
//! [`TractModel`] runs the same file with tract itself, as a cross-check.

mod attrs;
mod importer;
mod tensor;
mod tract_run;

use std::io::Read;
use std::path::{Path, PathBuf};

use thiserror::Error;
use tract_onnx::prelude::Framework;

use crate::model::{Model, ModelError};

pub use tract_run::TractModel;

/// Largest ONNX file accepted.
pub const MAX_ONNX_BYTES: usize = 256 * 1024 * 1024;
/// Largest dimension accepted in shapes and attributes.
const MAX_DIM: i64 = 1 << 16;

/// Why an ONNX model could not be imported.
#[derive(Debug, Error)]
pub enum OnnxError {
    /// Reading the file failed.
    #[error("{path}: I/O error: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_ONNX_BYTES`].
    #[error("ONNX file larger than {MAX_ONNX_BYTES} bytes")]
    TooLarge,
    /// The bytes are not an ONNX protobuf.
    #[error("not a valid ONNX protobuf: {0}")]
    Decode(String),
    /// The model has no graph.
    #[error("the ONNX model has no graph")]
    NoGraph,
    /// An operator we do not translate.
    #[error("node {node:?}: unsupported operator {op}")]
    UnsupportedOp {
        /// Node name (or `#index` when unnamed).
        node: String,
        /// ONNX op type.
        op: String,
    },
    /// A supported operator used in a way we do not translate.
    #[error("node {node:?} ({op}): {reason}")]
    Unsupported {
        /// Node name (or `#index` when unnamed).
        node: String,
        /// ONNX op type.
        op: String,
        /// What is not supported.
        reason: String,
    },
    /// A tensor a node needs is neither an initializer nor computed before it.
    #[error("node {node:?}: input {name:?} is not defined before use")]
    Undefined {
        /// Node name.
        node: String,
        /// Tensor name.
        name: String,
    },
    /// An initializer cannot be decoded.
    #[error("tensor {name:?}: {reason}")]
    BadTensor {
        /// Tensor name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The graph's input or output is not what we accept.
    #[error("graph interface: {0}")]
    Interface(String),
    /// The translated graph is inconsistent.
    #[error("translated model is invalid: {0}")]
    Model(#[from] ModelError),
    /// Running with tract failed.
    #[error("tract: {0}")]
    Tract(String),
}

/// Reads an ONNX file (size-bounded) into a native model.
pub fn import_onnx(path: impl AsRef<Path>) -> Result<Model, OnnxError> {
    import_onnx_bytes(&read_bounded(path.as_ref())?)
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, OnnxError> {
    let io = |source| OnnxError::Io { path: path.to_path_buf(), source };
    let mut bytes = Vec::new();
    crate::input::open_regular(path)
        .map_err(io)?
        .take(MAX_ONNX_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() > MAX_ONNX_BYTES {
        return Err(OnnxError::TooLarge);
    }
    Ok(bytes)
}

/// Translates ONNX bytes into a native model.
pub fn import_onnx_bytes(bytes: &[u8]) -> Result<Model, OnnxError> {
    if bytes.len() > MAX_ONNX_BYTES {
        return Err(OnnxError::TooLarge);
    }
    let proto =
        tract_onnx::onnx().proto_model_for_read(&mut &bytes[..]).map_err(|e| OnnxError::Decode(format!("{e:#}")))?;
    let graph = proto.graph.as_ref().ok_or(OnnxError::NoGraph)?;
    importer::Importer::new(graph)?.run(graph)
}
