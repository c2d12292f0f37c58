//! Pure numerics for hecnn: Chebyshev series, Remez minimax fits, the
//! composite minimax sign of Lee et al. and the ReLU / max built on it,
//! sigmoid fits. No cryptography: the outputs are coefficient tables that
//! `hecnn-ckks` evaluates on ciphertexts.

pub mod chebyshev;
pub mod cost;
pub mod error;
mod linalg;
pub mod remez;

pub use chebyshev::ChebyshevPoly;
pub use error::ApproxError;
pub use remez::{remez, RemezOptions, RemezResult, Symmetry};
pub mod composite;
pub use composite::{
    compose, default_eps, search, search_with, CompositeSign, OddPoly, SearchOptions,
};
pub mod sigmoid;
pub mod table;
pub use sigmoid::{
    paper_sigmoid, sigmoid_least_squares, sigmoid_minimax, SigmoidFit, PAPER_SIGMOID_Z3,
};
pub use table::{sign_row, sign_table, SignTableRow};
