//! # hecnn-ml
//!
//! Encrypted machine-learning algorithms on top of `hecnn-ckks`, each with a
//! plaintext `f64` twin that runs the same arithmetic; the encrypted code is
//! checked against it.
//!
//! - [`packing`]: how matrices live in CKKS slots (the split layout).
//! - [`mlr`]: multiclass logistic regression (one-vs-rest sigmoid) trained
//!   with Nesterov-accelerated *quadratic gradient* (Chiang, arXiv
//!   2304.03807): the plaintext reference and the encrypted trainer.
//! - [`cnn`]: encrypted CNN inference with composite ReLU/max-pool (Lee et al.).
//! - [`upload`]: the files a client sends and the server returns.
//! - [`safe_fs`]: reading and writing files that another party may control
//!   (no FIFO hangs, no unbounded reads, no writes through planted links).
//! - [`error`]: typed errors of the plaintext side.

pub mod cnn;
pub mod error;
pub mod mlr;
pub mod packing;
pub mod safe_fs;
pub mod transfer;
pub mod upload;

pub use error::MlError;
