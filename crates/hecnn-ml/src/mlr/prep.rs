//! What the data owner computes in plaintext around the encrypted run: the
//! feature scaling and bias column ([`Scaler`]), the quadratic-gradient
//! preconditioner `B̄` it uploads as `B̄ ⊙ X`, the initial weights, and the
//! scoring of the weights it decrypts.
//!
//! No secret is involved, so this is not behind the `client` feature
//! ([`super::client`] re-exports it). Deliberately apart from
//! [`super::reference`]: the reference recomputes
//! each of these with its own code, so a slip here shows up as a weight or
//! accuracy mismatch instead of being copied into the oracle
//! (`tests/mlr_crosscheck.rs` holds the two together).

pub use super::scaler::{fit_scaler, fit_scaler_with, with_bias, Scaler, Scaling};
use crate::MlError;

/// `ε` of the preconditioner the client uploads (keeps `b̄_j` finite for an
/// all-zero feature); `DESIGN.md`'s 1e-10.
pub const DEFAULT_EPSILON: f64 = 1e-10;

/// Every entry of the initial `W = V` the client encrypts: the paper's
/// code's 0.0128.
pub const DEFAULT_INIT: f64 = 0.0128;

/// Width of `x` after checking it is non-empty, rectangular and finite —
/// the client's data arrives from files, so shape errors are typed.
pub(super) fn matrix_width(x: &[Vec<f64>]) -> Result<usize, MlError> {
    let width = x.first().map(Vec::len).ok_or(MlError::EmptyData)?;
    if width == 0 {
        return Err(MlError::EmptyRow { row: 0 });
    }
    x.iter().enumerate().try_for_each(|(row, r)| {
        if r.len() != width {
            return Err(MlError::RaggedRow { row, expected: width, found: r.len() });
        }
        match r.iter().position(|v| !v.is_finite()) {
            Some(column) => Err(MlError::NonFinite { row, column, value: r[column] }),
            None => Ok(()),
        }
    })?;
    Ok(width)
}

/// `B̄` as the client uploads it, one entry per column of `x` (bias
/// included): `b̄_j = 1 / (ε + ¼ Σ_i |x_ij| · Σ_l |x_il|)`, accumulated row
/// by row. `DESIGN.md` has the client compute it from its own data, since
/// the server cannot (it only sees ciphertexts).
pub fn preconditioner(x: &[Vec<f64>], epsilon: f64) -> Result<Vec<f64>, MlError> {
    let width = matrix_width(x)?;
    if !epsilon.is_finite() || epsilon <= 0.0 {
        return Err(MlError::InvalidConfig { field: "epsilon", reason: "must be finite and > 0" });
    }
    let mut hessian_rows = vec![0.0f64; width];
    for row in x {
        let l1: f64 = row.iter().map(|v| v.abs()).sum();
        hessian_rows.iter_mut().zip(row).for_each(|(h, v)| *h += v.abs() * l1);
    }
    Ok(hessian_rows.into_iter().map(|h| 1.0 / (epsilon + 0.25 * h)).collect())
}

/// `B̄ ⊙ X`, the second copy of the data the client uploads so the server's
/// gradient needs no extra plaintext product (and level).
pub fn precondition(x: &[Vec<f64>], bbar: &[f64]) -> Vec<Vec<f64>> {
    x.iter().map(|row| row.iter().zip(bbar).map(|(v, b)| v * b).collect()).collect()
}

/// Checks decrypted weights `w` against the data width; returns the class
/// count.
fn class_count(w: &[Vec<f64>], width: usize) -> Result<usize, MlError> {
    if w.is_empty() || w.len() > 256 {
        return Err(MlError::InvalidClassCount { classes: w.len() });
    }
    match w.iter().position(|r| r.len() != width) {
        Some(row) => Err(MlError::WeightShape { row, expected: width, found: w[row].len() }),
        None => Ok(w.len()),
    }
}

/// The class with the largest `x·w_k`; the first on ties, NaN never wins.
fn best_class(x: &[f64], w: &[Vec<f64>]) -> u8 {
    let scores = w.iter().map(|wk| wk.iter().zip(x).map(|(a, b)| b * a).sum::<f64>());
    // At most 256 classes, so the index fits in a u8.
    scores.enumerate().fold((0usize, f64::NEG_INFINITY), |best, (k, s)| if s > best.1 { (k, s) } else { best }).0 as u8
}

/// Predicted class per row of client-prepared data for decrypted weights
/// `w`: `argmax_k x·w_k` (the sigmoid is monotone).
pub fn predict(w: &[Vec<f64>], x: &[Vec<f64>]) -> Result<Vec<u8>, MlError> {
    let width = matrix_width(x)?;
    class_count(w, width)?;
    Ok(x.iter().map(|xi| best_class(xi, w)).collect())
}

/// Fraction of rows of client-prepared data whose predicted class is the
/// label — how the client scores the model it decrypted.
pub fn accuracy(w: &[Vec<f64>], x: &[Vec<f64>], labels: &[u8]) -> Result<f64, MlError> {
    let width = matrix_width(x)?;
    let classes = class_count(w, width)?;
    if labels.len() != x.len() {
        return Err(MlError::LabelCountMismatch { rows: x.len(), labels: labels.len() });
    }
    if let Some(row) = labels.iter().position(|&l| usize::from(l) >= classes) {
        return Err(MlError::LabelOutOfRange { row, label: labels[row], classes });
    }
    let hits = x.iter().zip(labels).filter(|(xi, &label)| best_class(xi, w) == label).count();
    Ok(hits as f64 / x.len() as f64)
}

/// Rows of values.
type Matrix = Vec<Vec<f64>>;

/// The client's upload matrices from raw features: fitted scaling, the
/// scaled features with the bias column (X), and `B̄ ⊙ X` with
/// [`DEFAULT_EPSILON`]. What `hecnn encrypt` and the Python client encrypt.
pub fn design(raw: &[Vec<f64>], scaling: Scaling) -> Result<(Scaler, Matrix, Matrix), MlError> {
    let scaler = fit_scaler_with(raw, scaling)?;
    let x = with_bias(&scaler.apply(raw)?);
    let x_scaled = precondition(&x, &preconditioner(&x, DEFAULT_EPSILON)?);
    Ok((scaler, x, x_scaled))
}
