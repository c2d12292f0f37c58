//! Multiclass logistic regression trained with Nesterov-accelerated
//! quadratic gradient — the last layer of the transfer-learning pipeline.
//!
//! This module holds the plaintext `f64` reference ([`train`]); the
//! encrypted trainer must reproduce it step by step ([`schedule`],
//! [`nesterov_step`], [`gradient`], [`preconditioner`]).

mod reference;
mod scaler;
mod schedule;

pub use reference::{
    accuracy, gradient, log_likelihood, preconditioner, predict, sigmoid, sigmoid_poly, train, IterationStats, Method,
    MlrConfig, MlrTrace, DEFAULT_EPSILON, DEFAULT_INIT, Z3,
};
pub use scaler::{fit_scaler, with_bias, Scaler};
pub use schedule::{alpha, nesterov_step, schedule, NesterovState, ALPHA0};
