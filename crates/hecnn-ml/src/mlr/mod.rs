//! Multiclass logistic regression trained with Nesterov-accelerated
//! quadratic gradient — the last layer of the transfer-learning pipeline.
//!
//! [`train`] is the plaintext `f64` reference; [`server`] runs the same
//! iterations on ciphertexts with evaluation keys only, [`client`] (feature
//! `client`) encrypts the upload and checks and releases the model.

#[cfg(feature = "client")]
pub mod client;
mod reference;
pub mod refresh;
mod scaler;
mod schedule;
pub mod server;
pub mod setup;

pub use reference::{
    accuracy, gradient, log_likelihood, preconditioner, predict, sigmoid, sigmoid_poly, train, train_observed,
    IterationStats, Method, MlrConfig, MlrTrace, SigmoidFn, DEFAULT_EPSILON, DEFAULT_INIT, Z3,
};
pub use scaler::{fit_scaler, with_bias, Scaler};
pub use schedule::{alpha, nesterov_step, schedule, NesterovState, ALPHA0};
