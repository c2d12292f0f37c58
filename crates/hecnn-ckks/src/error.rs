//! Typed errors of the CKKS library.

use crate::keys::KeySetId;
use thiserror::Error;

/// Everything that can go wrong in `hecnn-ckks`, by cause.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum CkksError {
    /// A parameter set that is malformed (sizes, counts, ranges).
    #[error("invalid parameters: {0}")]
    InvalidParameters(String),
    /// A parameter set below 128-bit security.
    #[error("insecure parameters: N=2^{log_n} with log2(QP)={log_qp:.1} exceeds the 128-bit bound {max_log_qp}")]
    InsecureParameters { log_n: u32, log_qp: f64, max_log_qp: u32 },
    /// A sparse ternary secret without a published 128-bit estimate.
    #[error(
        "no published 128-bit estimate for a sparse ternary secret of Hamming weight {hamming_weight} at N=2^{log_n}"
    )]
    UnestimatedSecret { log_n: u32, hamming_weight: usize },
    /// No preset of that name.
    #[error("unknown preset {0:?} (known: light, training-2iter, medium, deep, bootstrappable)")]
    UnknownPreset(String),
    /// Objects made under different parameter sets were combined.
    #[error("parameter mismatch: object made for parameters {found:016x}, expected {expected:016x}")]
    ParameterMismatch { expected: u64, found: u64 },
    /// Operands whose scales differ (beyond 2^-32 relative).
    #[error("scale mismatch: {a:.6e} vs {b:.6e}")]
    ScaleMismatch { a: f64, b: f64 },
    /// Not enough levels left for the operation.
    #[error("level exhausted: operation needs level ≥ {needed}, operand is at level {level}")]
    LevelExhausted { needed: usize, level: usize },
    /// A scale the operation cannot represent (e.g. would overflow the modulus).
    #[error("scale out of bounds: {0}")]
    ScaleOutOfBounds(String),
    /// Input vector too long, slot count not a power of two, ...
    #[error("invalid slots: {0}")]
    InvalidSlots(String),
    /// A value that is NaN or infinite.
    #[error("non-finite input value at index {index}")]
    NonFinite { index: usize },
    /// A key needed for a rotation/conjugation is not in the key set.
    #[error("missing Galois key for element {galois_element} (rotation {rotation:?})")]
    MissingGaloisKey { galois_element: u64, rotation: Option<i64> },
    /// A switching key generated only up to a lower level than the
    /// ciphertext it is asked to switch (keys are cut to the levels where
    /// the circuit that asked for them uses them).
    #[error("switching key ({what}) covers levels up to {key_level}, used at level {level}")]
    KeyLevel { what: String, key_level: usize, level: usize },
    /// A ciphertext of the wrong shape (e.g. 3 parts where 2 are needed).
    #[error("invalid ciphertext: {0}")]
    InvalidCiphertext(String),
    /// A ciphertext that cannot be bootstrapped as it is (level, scale).
    #[error("cannot bootstrap: {0}")]
    BootstrapInput(String),
    /// Bootstrapping keys absent or made for other slot counts.
    #[error("missing bootstrapping keys: {0}")]
    MissingBootstrapKeys(String),
    /// Keys or files of two different key sets were combined.
    #[error("key-set mismatch: made by key set {found}, expected key set {expected}")]
    KeySetMismatch { expected: KeySetId, found: KeySetId },
    /// A secret key that does not belong with the public keys it was checked against.
    #[error("the secret key does not match the public keys: {0}")]
    KeyCheck(String),
    /// Serialized bytes that cannot be loaded.
    #[error("format error: {0}")]
    Format(#[from] FormatError),
    /// The stream an object was being read from failed.
    #[error("read error: {0}")]
    Io(String),
}

/// Why serialized bytes were rejected.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// Fewer bytes than the header or body needs.
    #[error("truncated: needed {needed} more bytes at offset {offset}")]
    Truncated { offset: usize, needed: usize },
    /// Not a hecnn file.
    #[error("bad magic bytes")]
    BadMagic,
    /// Written by a format version this build does not read.
    #[error("unsupported format version {found} (this build reads {supported})")]
    UnsupportedVersion { found: u16, supported: u16 },
    /// A different kind of object than the caller asked for.
    #[error("wrong object kind: found {found}, expected {expected}")]
    WrongKind { found: u8, expected: u8 },
    /// Checksum over the body does not match (corruption or tampering).
    #[error("checksum mismatch")]
    Checksum,
    /// Made for other parameters.
    #[error("parameter fingerprint {found:016x} does not match {expected:016x}")]
    ParameterMismatch { expected: u64, found: u64 },
    /// A residue ≥ its modulus, a count out of range, ...
    #[error("invalid field {field}: {reason}")]
    InvalidField { field: &'static str, reason: String },
    /// Bytes after the end of the object.
    #[error("{0} trailing bytes")]
    TrailingBytes(usize),
    /// Made for another key set than the caller's.
    #[error("made for key set {found}, expected key set {expected}")]
    KeySetMismatch { expected: KeySetId, found: KeySetId },
    /// A file written for another role or index (e.g. a data ciphertext
    /// where a model ciphertext belongs).
    #[error("labelled {found:?}, expected {expected:?}")]
    LabelMismatch { expected: String, found: String },
    /// Parameters that are valid but are not one of this build's presets.
    #[error("parameter set {0:?} is not one of this build's presets")]
    UnknownParameterSet(String),
    /// The parameters in the file are insecure and the caller did not opt in.
    #[error("insecure parameters refused (load with the insecure opt-in to allow)")]
    InsecureRefused,
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, CkksError>;
