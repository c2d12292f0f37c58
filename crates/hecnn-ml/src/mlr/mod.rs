//! Multiclass logistic regression trained with Nesterov-accelerated
//! quadratic gradient — the last layer of the transfer-learning pipeline.
//!
//! [`train`] is the plaintext `f64` reference; [`encrypted`] runs the same
//! iterations on ciphertexts ([`schedule`], [`gradient`],
//! [`preconditioner`] are shared).

pub mod encrypted;
mod reference;
pub mod refresh;
mod scaler;
mod schedule;

pub use reference::{
    accuracy, gradient, log_likelihood, preconditioner, predict, sigmoid, sigmoid_poly, train, train_observed,
    IterationStats, Method, MlrConfig, MlrTrace, SigmoidFn, DEFAULT_EPSILON, DEFAULT_INIT, Z3,
};
pub use scaler::{fit_scaler, with_bias, Scaler};
pub use schedule::{alpha, nesterov_step, schedule, NesterovState, ALPHA0};
