//! Multiclass logistic regression trained with Nesterov-accelerated
//! quadratic gradient — the last layer of the transfer-learning pipeline.
//!
//! Who owns what:
//!
//! - [`reference`](mod@reference): the plaintext `f64` oracle ([`reference::train`]). Self-
//!   contained — its own schedule, sigmoid evaluation, preconditioner,
//!   scaling and accuracy — so that a bug on the encrypted side cannot hide
//!   in code the oracle shares.
//! - [`prep`]: what the data owner computes in plaintext for the upload
//!   and after decryption: scaling and bias ([`prep::Scaler`]), `B̄` and
//!   `B̄ ⊙ X`, the initial weights, accuracy of decrypted weights.
//! - [`client`] (feature `client`): encryption of the upload with the
//!   secret key, and the checks and noise-flooded release of a returned model.
//! - [`server`]: the server's iterations on ciphertexts with one evaluation
//!   key set (with its own sigmoid coefficients, [`server::PAPER_SIGMOID`]);
//!   [`refresh`]: bootstrapping the model state during training.
//! - [`schedule`]: the Nesterov constants the server uses, and the `f64`
//!   model of its update; [`setup`]: decisions both roles make the same way.
//!
//! `tests/mlr_crosscheck.rs` holds each reference piece against its
//! counterpart on the encrypted side.

#[cfg(feature = "client")]
pub mod client;
pub mod prep;
pub mod reference;
pub mod refresh;
mod scaler;
pub mod schedule;
pub mod server;
pub mod setup;
