//! Circuits built from the evaluator's operations: polynomial evaluation,
//! composite activations.

pub mod activation;
pub mod poly;

pub use activation::CompositeCircuit;
pub use poly::{PolyEvaluator, PolyPlan, PolyStats};
