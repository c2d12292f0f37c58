//! # hecnn-ckks
//!
//! RNS-CKKS homomorphic encryption: approximate arithmetic on encrypted
//! vectors of real or complex numbers, with hybrid key switching, hoisted
//! rotations and validated serialization, at 128-bit security by default.
//!
//! Client and server are a compile-time boundary: the secret key, key
//! generation and decryption exist only with the `client` feature. A server
//! builds this crate without it and computes with an [`EvaluationKeySet`].
//!
//! ```
//! # #[cfg(feature = "client")] {
//! use hecnn_ckks::{Context, Decryptor, Encoder, Encryptor, Evaluator, Parameters, PublicKey, RelinKey, SecretKey};
//! // Small insecure ring so the example is quick; use `Preset::*.params()` for real work.
//! let params = Parameters::insecure_for_tests(11, &[50, 40, 40], 3, 40).unwrap();
//! let ctx = Context::new(params).unwrap();
//! let sk = SecretKey::generate(&ctx);
//! let enc = Encryptor::new(&ctx, PublicKey::generate(&sk)).unwrap();
//! let rlk = RelinKey::generate(&sk);
//! let encoder = Encoder::new(&ctx);
//! let pt = encoder.encode_real(&[1.5, -2.0, 0.25], 4, ctx.max_level(), ctx.params().scale()).unwrap();
//! let ct = enc.encrypt(&pt).unwrap();
//! let ev = Evaluator::new(&ctx);
//! let sq = ev.mul_relin_rescale(&ct, &ct, &rlk).unwrap();
//! let out = encoder.decode_real(&Decryptor::new(&sk).decrypt(&sq).unwrap()).unwrap();
//! assert!((out[0] - 2.25).abs() < 1e-4 && (out[1] - 4.0).abs() < 1e-4);
//! # }
//! ```

pub mod ciphertext;
pub mod circuits;
pub mod context;
#[cfg(feature = "client")]
pub mod decrypt;
pub mod encoding;
pub mod encrypt;
pub mod error;
pub mod eval;
pub mod keys;
pub mod params;
pub mod ring;
pub mod serial;

pub use ciphertext::{Ciphertext, Plaintext, SeededCiphertext};
pub use context::Context;
#[cfg(feature = "client")]
pub use decrypt::Decryptor;
pub use encoding::Encoder;
pub use encrypt::Encryptor;
pub use error::{CkksError, FormatError, Result};
pub use eval::{Evaluator, PlainDotSum};
pub use keys::public::{GaloisKeys, PublicKey, RelinKey};
#[cfg(feature = "client")]
pub use keys::secret::SecretKey;
pub use keys::{EvaluationKeySet, KeySetId};
pub use num_complex::Complex64;
pub use params::{Parameters, Preset};
pub use serial::Binding;
