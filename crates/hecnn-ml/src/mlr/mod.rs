//! Multiclass logistic regression trained with Nesterov-accelerated
//! quadratic gradient — the last layer of the transfer-learning pipeline.
//!
//! Who owns what:
//!
//! - [`reference`](mod@reference): the plaintext `f64` oracle ([`reference::train`]). Self-
//!   contained — its own schedule, sigmoid evaluation, preconditioner,
//!   scaling and accuracy — so that a bug on the encrypted side cannot hide
//!   in code the oracle shares.
//! - [`client`]: what the data owner computes in plaintext for the upload
//!   and after decryption: scaling and bias ([`client::Scaler`]), `B̄` and
//!   `B̄ ⊙ X`, the initial weights, accuracy of decrypted weights.
//! - [`schedule`]: the Nesterov constants the server uses, and the `f64`
//!   model of its update.
//! - [`encrypted`]: the client's encryption/decryption and the server's
//!   iterations on ciphertexts (with its own sigmoid coefficients,
//!   [`encrypted::PAPER_SIGMOID`]).
//! - [`refresh`]: bootstrapping the model state during training.
//!
//! `tests/mlr_crosscheck.rs` holds each reference piece against its
//! counterpart on the encrypted side.

pub mod client;
pub mod encrypted;
pub mod reference;
pub mod refresh;
mod scaler;
pub mod schedule;
