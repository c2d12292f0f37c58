//! Multiclass logistic regression: encrypted training.

pub mod encrypted;
