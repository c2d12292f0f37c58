//! Feature scaling and the bias column, as the client prepares its data for
//! encryption (re-exported by [`super::client`]; the reference scales with
//! its own `reference::{feature_maxima, design_matrix}`).
//!
//! The encrypted trainer evaluates a low-degree sigmoid polynomial that is
//! only accurate on `[−8, 8]`; keeping every feature in `[−1, 1]` keeps
//! `X·Vᵀ` small enough for it, and makes the preconditioner well scaled.

use serde::{Deserialize, Serialize};

use super::prep::matrix_width;
use crate::MlError;

/// Per-feature divisor learnt from the training set: the largest `|x_ij|`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    /// `max_i |x_ij|` per feature `j`; 0 for a feature that is 0 everywhere.
    pub max_abs: Vec<f64>,
}

/// Learns the per-feature maximum magnitude of `x` (n×d, no bias column),
/// the divisor that maps the training set into `[−1, 1]`.
pub fn fit_scaler(x: &[Vec<f64>]) -> Result<Scaler, MlError> {
    let d = matrix_width(x)?;
    let mut max_abs = vec![0.0f64; d];
    for row in x {
        for (m, v) in max_abs.iter_mut().zip(row) {
            *m = m.max(v.abs());
        }
    }
    Ok(Scaler { max_abs })
}

impl Scaler {
    /// Divides each feature by its training-set maximum magnitude, so the
    /// training set lands in `[−1, 1]`. A feature that was 0 everywhere in
    /// training maps to 0. Unseen data may fall outside `[−1, 1]`; it is not
    /// clipped (clipping would hide a distribution shift).
    pub fn apply(&self, x: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, MlError> {
        let d = matrix_width(x)?;
        if d != self.max_abs.len() {
            return Err(MlError::RaggedRow { row: 0, expected: self.max_abs.len(), found: d });
        }
        Ok(x.iter()
            .map(|row| row.iter().zip(&self.max_abs).map(|(v, m)| if *m > 0.0 { v / m } else { 0.0 }).collect())
            .collect())
    }
}

/// Prepends the bias feature `1.0` as column 0 of every row, as the paper's
/// code does (`x_i0 = 1`), so that the model needs no separate intercept.
pub fn with_bias(x: &[Vec<f64>]) -> Vec<Vec<f64>> {
    x.iter()
        .map(|row| {
            let mut r = Vec::with_capacity(row.len() + 1);
            r.push(1.0);
            r.extend_from_slice(row);
            r
        })
        .collect()
}
