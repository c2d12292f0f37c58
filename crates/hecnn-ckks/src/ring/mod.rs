//! Polynomial ring `Z_Q[X]/(X^N+1)` in RNS form: primes, NTT, automorphisms,
//! basis conversion and sampling.

pub mod automorphism;
pub mod basis;
pub(crate) mod conv_f64;
pub(crate) mod f64_arith;
pub(crate) mod ifma;
pub mod modulus;
pub mod ntt;
pub(crate) mod ntt_f64;
pub mod poly;
pub mod pool;
pub mod primes;
pub mod sampling;
pub(crate) mod subring;

pub use modulus::Modulus;
pub use poly::RnsPoly;

/// Whether the AVX-512 IFMA kernels (conversions, inner products, sums of
/// products; primes below 2^61) run in this
/// process (the CPU has AVX-512 F, DQ and IFMA and `HECNN_NO_IFMA` is not
/// set); benchmarks report it, since results are bit-identical either way
/// and only the speed differs.
///
/// ```
/// let on = hecnn_ckks::ring::ifma_kernels();
/// assert_eq!(on, hecnn_ckks::ring::ifma_kernels()); // decided once per process
/// ```
pub fn ifma_kernels() -> bool {
    ifma::available()
}
