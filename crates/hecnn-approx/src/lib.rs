//! Pure numerics for hecnn: Chebyshev series, Remez minimax fits, the
//! composite minimax sign of Lee et al. and the ReLU / max built on it,
//! sigmoid fits. No cryptography: the outputs are coefficient tables that
//! `hecnn-ckks` evaluates on ciphertexts.
//!
//! Modules, one job each: [`chebyshev`] (series on `[a, b]`, the exchange
//! format), [`mod@remez`] (minimax fits), [`cost`] (depth / multiplication model),
//! [`composite`] (sign, ReLU, max), [`bsgs`] (reference evaluation order
//! counting products), [`table`] (rows for the CLI),
//! [`sigmoid`] (sigmoid fits), [`error`] (typed errors).
//!
//! ```
//! use hecnn_approx::{search, default_eps};
//! let sign = search(8, default_eps(8))?;          // |sign(x) - sgn x| <= 2^-8 for |x| in [2^-8, 1]
//! let stages = sign.chebyshev_stages();            // what the CKKS evaluator consumes
//! assert_eq!(stages.len(), sign.degrees.len());
//! assert!(sign.max_error_on_grid(100_000) <= 2f64.powi(-8));
//! # Ok::<(), hecnn_approx::ApproxError>(())
//! ```

pub mod bsgs;
pub mod chebyshev;
pub mod composite;
pub mod cost;
pub mod error;
mod linalg;
pub mod remez;
pub mod sigmoid;
pub mod table;

pub use chebyshev::ChebyshevPoly;
pub use composite::{compose, default_eps, search, search_with, CompositeSign, OddPoly, SearchOptions};
pub use error::ApproxError;
pub use remez::{remez, RemezOptions, RemezResult, Symmetry};
pub use sigmoid::{paper_sigmoid, sigmoid_least_squares, sigmoid_minimax, SigmoidFit, PAPER_SIGMOID_Z3};
pub use table::{sign_row, sign_table, SignTableRow};
