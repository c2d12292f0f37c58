//! Encrypted machine-learning algorithms for hecnn and their plaintext
//! references.
//!
//! Every encrypted algorithm in this crate has a plaintext `f64` twin that
//! runs the same arithmetic in the same order; the encrypted code is checked
//! against it step by step. For now the crate holds the reference of the
//! transfer-learning trainer (Chiang, arXiv 2304.03807):
//!
//! - [`mlr`]: multiclass logistic regression (one-vs-rest sigmoid) trained
//!   with Nesterov-accelerated *quadratic gradient*, plus a plain Nesterov
//!   baseline, feature scaling and evaluation helpers.
//! - [`error`]: the typed errors every entry point returns instead of
//!   panicking on bad input.

pub mod error;
pub mod mlr;

pub use error::MlError;
