//! Polynomial ring `Z_Q[X]/(X^N+1)` in RNS form: primes, NTT, automorphisms,
//! basis conversion and sampling.

pub mod automorphism;
pub mod basis;
pub(crate) mod ifma;
pub mod modulus;
pub mod ntt;
pub(crate) mod ntt_f64;
pub mod poly;
pub mod pool;
pub mod primes;
pub mod sampling;

pub use modulus::Modulus;
pub use poly::RnsPoly;
