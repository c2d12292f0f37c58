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

/// How the client scales its features before encryption: a choice the
/// user sees (`hecnn train --scaling`), recorded in every report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scaling {
    /// Each feature divided by its largest magnitude in the training set,
    /// so the training set lies in `[−1, 1]`: the sigmoid polynomial's
    /// accurate range and a well-scaled preconditioner. The default.
    #[default]
    MaxAbs,
    /// The raw features, as the paper's algorithm takes them: what a user
    /// needs to reproduce the paper's numbers.
    None,
}

impl Scaling {
    /// The name the CLI and the JSON reports use.
    pub fn name(self) -> &'static str {
        match self {
            Scaling::MaxAbs => "max-abs",
            Scaling::None => "none",
        }
    }
}

impl std::fmt::Display for Scaling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Scaling {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "max-abs" => Ok(Scaling::MaxAbs),
            "none" => Ok(Scaling::None),
            other => Err(format!("unknown scaling {other:?}: expected max-abs or none")),
        }
    }
}

/// Per-feature divisor learnt from the training set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    /// The divisor of feature `j`: `max_i |x_ij|` under [`Scaling::MaxAbs`]
    /// (0 for a feature that is 0 everywhere), 1 under [`Scaling::None`].
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

/// The scaler of `scaling` for `x` (n×d, no bias column): [`fit_scaler`]
/// or, for [`Scaling::None`], divisors of 1 (the data passes unchanged).
pub fn fit_scaler_with(x: &[Vec<f64>], scaling: Scaling) -> Result<Scaler, MlError> {
    match scaling {
        Scaling::MaxAbs => fit_scaler(x),
        Scaling::None => Ok(Scaler { max_abs: vec![1.0; matrix_width(x)?] }),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `none` passes the features through unchanged (divisors of 1, the
    /// training set's magnitudes kept), `max-abs` divides by the maxima.
    #[test]
    fn scaling_choices() {
        let x = vec![vec![3.0, -0.5, 0.0], vec![-6.0, 0.25, 0.0]];
        let none = fit_scaler_with(&x, Scaling::None).unwrap();
        assert_eq!(none.max_abs, vec![1.0; 3]);
        assert_eq!(none.apply(&x).unwrap(), x);
        let max_abs = fit_scaler_with(&x, Scaling::MaxAbs).unwrap();
        assert_eq!(max_abs, fit_scaler(&x).unwrap());
        assert_eq!(max_abs.apply(&x).unwrap(), vec![vec![0.5, -1.0, 0.0], vec![-1.0, 0.5, 0.0]]);
        assert_eq!(
            fit_scaler_with(&[vec![1.0], vec![1.0, 2.0]], Scaling::None),
            Err(MlError::RaggedRow { row: 1, expected: 1, found: 2 })
        );
    }

    /// The names the CLI parses are the ones the reports print.
    #[test]
    fn scaling_names() {
        for s in [Scaling::MaxAbs, Scaling::None] {
            assert_eq!(s.name().parse::<Scaling>(), Ok(s));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{}\"", s.name()));
        }
        assert_eq!("maxabs".parse::<Scaling>(), Err("unknown scaling \"maxabs\": expected max-abs or none".into()));
        assert_eq!(Scaling::default(), Scaling::MaxAbs);
    }
}
