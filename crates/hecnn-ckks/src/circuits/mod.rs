//! Circuits built from the evaluator's operations: polynomial evaluation,
//! composite activations, linear transforms, bootstrapping.

pub mod activation;
pub mod bootstrap;
pub mod linear;
pub mod poly;

pub use activation::CompositeCircuit;
pub use bootstrap::{BootstrapConfig, BootstrapKeys, BootstrapPhases, Bootstrapper, SlotValues};
pub use linear::{baby_nodes, hop, rotations_by_hops, BabyHops, DiagMatrix, LinearTransform};
pub use poly::{PolyEvaluator, PolyPlan, PolyStats};
