//! The reference's view of the data: input checks, its own feature scaling
//! and bias column, and its own quadratic-gradient preconditioner — written
//! as explicit index loops over the `n × d` matrix, straight from the
//! formulas, where the client side (`mlr::client`) works row by row.

// Explicit indices are the point here: each loop is one sum of a formula.
#![allow(clippy::needless_range_loop)]

use super::MlrConfig;
use super::{Method, SigmoidFn};
use crate::MlError;

/// Checks that `x` is a non-empty, rectangular, finite matrix; returns its
/// width.
pub(super) fn validate_matrix(x: &[Vec<f64>]) -> Result<usize, MlError> {
    if x.is_empty() {
        return Err(MlError::EmptyData);
    }
    let d = x[0].len();
    if d == 0 {
        return Err(MlError::EmptyRow { row: 0 });
    }
    for i in 0..x.len() {
        if x[i].len() != d {
            return Err(MlError::RaggedRow { row: i, expected: d, found: x[i].len() });
        }
        for j in 0..d {
            if !x[i][j].is_finite() {
                return Err(MlError::NonFinite { row: i, column: j, value: x[i][j] });
            }
        }
    }
    Ok(d)
}

/// Checks the labels against the row count and the class count.
pub(super) fn validate_labels(rows: usize, labels: &[u8], classes: usize) -> Result<(), MlError> {
    if classes == 0 || classes > 256 {
        return Err(MlError::InvalidClassCount { classes });
    }
    if labels.len() != rows {
        return Err(MlError::LabelCountMismatch { rows, labels: labels.len() });
    }
    for i in 0..rows {
        if usize::from(labels[i]) >= classes {
            return Err(MlError::LabelOutOfRange { row: i, label: labels[i], classes });
        }
    }
    Ok(())
}

/// Checks a weight matrix against the feature count `d`; returns the class
/// count.
pub(super) fn validate_weights(w: &[Vec<f64>], d: usize) -> Result<usize, MlError> {
    let classes = w.len();
    if classes == 0 || classes > 256 {
        return Err(MlError::InvalidClassCount { classes });
    }
    for k in 0..classes {
        if w[k].len() != d {
            return Err(MlError::WeightShape { row: k, expected: d, found: w[k].len() });
        }
    }
    Ok(classes)
}

/// Checks a training configuration.
pub(super) fn validate_config(cfg: &MlrConfig) -> Result<(), MlError> {
    let bad = |field, reason| Err(MlError::InvalidConfig { field, reason });
    if cfg.iterations == 0 {
        return Err(MlError::ZeroIterations);
    }
    match &cfg.sigmoid {
        SigmoidFn::Polynomial(coeffs) if coeffs.is_empty() => return bad("sigmoid", "no coefficients"),
        SigmoidFn::Polynomial(coeffs) if coeffs.iter().any(|c| !c.is_finite()) => {
            return bad("sigmoid", "non-finite coefficient");
        }
        SigmoidFn::ClippedLogistic { bound } if !(bound.is_finite() && *bound > 0.0) => {
            return bad("sigmoid", "clipping bound must be finite and > 0");
        }
        _ => {}
    }
    if !cfg.init.is_finite() {
        return bad("init", "not finite");
    }
    check_epsilon(cfg.epsilon)?;
    match cfg.method {
        Method::PlainNag { learning_rate } if !learning_rate.is_finite() => bad("learning_rate", "not finite"),
        _ => Ok(()),
    }
}

fn check_epsilon(epsilon: f64) -> Result<(), MlError> {
    if epsilon.is_finite() && epsilon > 0.0 {
        Ok(())
    } else {
        Err(MlError::InvalidConfig { field: "epsilon", reason: "must be finite and > 0" })
    }
}

/// `m_j = max_i |x_ij|` per feature of raw data (no bias column): the
/// reference's own scaling, so that it can be run from the client's raw
/// features without the client's `Scaler`.
pub fn feature_maxima(raw: &[Vec<f64>]) -> Result<Vec<f64>, MlError> {
    let d = validate_matrix(raw)?;
    let mut m = vec![0.0; d];
    for j in 0..d {
        for i in 0..raw.len() {
            if raw[i][j].abs() > m[j] {
                m[j] = raw[i][j].abs();
            }
        }
    }
    Ok(m)
}

/// The matrix the reference trains on, from raw features and the maxima of
/// [`feature_maxima`]: `x̂_i = (1, x_i1/m_1, …, x_id/m_d)` — the bias first,
/// and `0` for a feature whose maximum is `0`. Unseen data is not clipped.
pub fn design_matrix(raw: &[Vec<f64>], maxima: &[f64]) -> Result<Vec<Vec<f64>>, MlError> {
    let d = validate_matrix(raw)?;
    if d != maxima.len() {
        return Err(MlError::RaggedRow { row: 0, expected: maxima.len(), found: d });
    }
    let mut x = vec![vec![1.0; d + 1]; raw.len()];
    for i in 0..raw.len() {
        for j in 0..d {
            x[i][j + 1] = if maxima[j] == 0.0 { 0.0 } else { raw[i][j] / maxima[j] };
        }
    }
    Ok(x)
}

/// The quadratic-gradient preconditioner, one entry per feature `j`:
/// `b̄_j = 1 / (ε + ¼ Σ_i |x_ij| · Σ_l |x_il|)`.
///
/// `¼ Σ_i |x_ij| Σ_l |x_il|` is the `j`-th row sum of `¼|X|ᵀ|X|`, which
/// bounds the Hessian of each class's log-likelihood (Böhning's bound
/// `¼XᵀX`) in a diagonal form, so `B̄ ⊙ g` is a safe Newton-like step. The
/// same row serves every class. `x` must already contain the bias column.
/// The reference's own: the client computes the `B̄` it uploads elsewhere.
pub fn preconditioner(x: &[Vec<f64>], epsilon: f64) -> Result<Vec<f64>, MlError> {
    let d = validate_matrix(x)?;
    check_epsilon(epsilon)?;
    let n = x.len();
    // s_i = Σ_l |x_il|
    let mut s = vec![0.0; n];
    for i in 0..n {
        for l in 0..d {
            s[i] += x[i][l].abs();
        }
    }
    // b̄_j = 1 / (ε + ¼ Σ_i |x_ij|·s_i)
    let mut bbar = vec![0.0; d];
    for j in 0..d {
        let mut h = 0.0;
        for i in 0..n {
            h += x[i][j].abs() * s[i];
        }
        bbar[j] = 1.0 / (epsilon + h / 4.0);
    }
    Ok(bbar)
}
