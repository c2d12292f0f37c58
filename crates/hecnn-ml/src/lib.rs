//! # hecnn-ml
//!
//! Encrypted machine learning on top of `hecnn-ckks`: how matrices are
//! packed into slots, multiclass logistic regression trained on encrypted
//! features (and its plaintext reference), encrypted CNN inference.

pub mod mlr;
pub mod packing;
pub mod upload;
