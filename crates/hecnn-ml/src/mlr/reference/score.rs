//! How the reference scores a model: class scores `z_ik = x_i·w_k`, the
//! predicted class `argmax_k z_ik`, accuracy and the one-vs-rest
//! log-likelihood — explicit loops over samples and classes (the client
//! scores decrypted weights with its own code, `mlr::client`).

#![allow(clippy::needless_range_loop)] // indices follow the formulas

use super::data::{validate_labels, validate_matrix, validate_weights};
use super::sigmoid::softplus;
use crate::MlError;

/// `z_ik = Σ_j x_ij·w_kj` for all samples `i` and classes `k` (n×c), on
/// validated inputs.
fn class_scores(x: &[Vec<f64>], w: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let (n, c) = (x.len(), w.len());
    let mut z = vec![vec![0.0; c]; n];
    for i in 0..n {
        for k in 0..c {
            let mut zik = 0.0;
            for j in 0..x[i].len() {
                zik += x[i][j] * w[k][j];
            }
            z[i][k] = zik;
        }
    }
    z
}

/// Index of the largest score; the first on ties, NaN never wins.
fn argmax(scores: &[f64]) -> usize {
    let mut best = 0;
    let mut top = f64::NEG_INFINITY;
    for k in 0..scores.len() {
        if scores[k] > top {
            top = scores[k];
            best = k;
        }
    }
    best
}

/// (accuracy, log-likelihood) of `w` on validated inputs.
pub(super) fn accuracy_and_log_likelihood(w: &[Vec<f64>], x: &[Vec<f64>], labels: &[u8]) -> (f64, f64) {
    let z = class_scores(x, w);
    let mut correct = 0usize;
    let mut ll = 0.0;
    for i in 0..z.len() {
        let label = usize::from(labels[i]);
        if argmax(&z[i]) == label {
            correct += 1;
        }
        // ln σ(z) = −softplus(−z), ln(1 − σ(z)) = −softplus(z)
        for k in 0..z[i].len() {
            ll -= if k == label { softplus(-z[i][k]) } else { softplus(z[i][k]) };
        }
    }
    (correct as f64 / z.len() as f64, ll)
}

/// Predicted class per row: `argmax_k σ(x·w_k)`, i.e. `argmax_k x·w_k`
/// since the sigmoid is monotone (first class on ties, as the paper's code).
pub fn predict(w: &[Vec<f64>], x: &[Vec<f64>]) -> Result<Vec<u8>, MlError> {
    let d = validate_matrix(x)?;
    validate_weights(w, d)?;
    // At most 256 classes, so every index fits in a u8.
    Ok(class_scores(x, w).iter().map(|zi| argmax(zi) as u8).collect())
}

/// Fraction of rows whose predicted class equals the label — the
/// reference's accuracy, to compare with the encrypted model's.
pub fn accuracy(w: &[Vec<f64>], x: &[Vec<f64>], labels: &[u8]) -> Result<f64, MlError> {
    Ok(checked_scores(w, x, labels)?.0)
}

/// One-vs-rest log-likelihood of `w` with the *exact* sigmoid:
/// `Σ_i Σ_k ȳ_ik ln σ(x_i·w_k) + (1−ȳ_ik) ln(1−σ(x_i·w_k))` (≤ 0, larger is
/// better) — the paper code's `Σ ln|σ(z) − 1 + ȳ|`, computed stably, to
/// compare convergence.
pub fn log_likelihood(w: &[Vec<f64>], x: &[Vec<f64>], labels: &[u8]) -> Result<f64, MlError> {
    Ok(checked_scores(w, x, labels)?.1)
}

/// [`accuracy_and_log_likelihood`] after checking the shapes and labels.
fn checked_scores(w: &[Vec<f64>], x: &[Vec<f64>], labels: &[u8]) -> Result<(f64, f64), MlError> {
    let d = validate_matrix(x)?;
    let classes = validate_weights(w, d)?;
    validate_labels(x.len(), labels, classes)?;
    Ok(accuracy_and_log_likelihood(w, x, labels))
}
