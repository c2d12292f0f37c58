//! Typed errors shared by every routine of the crate.

use thiserror::Error;

/// Everything that can go wrong when a caller hands this crate bad input, or
/// when an iterative method does not converge. Routines return it instead of
/// panicking.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ApproxError {
    /// A NaN or infinite number where a finite one is required.
    #[error("non-finite value in {what}")]
    NonFinite {
        /// Which input was not finite.
        what: &'static str,
    },
    /// An interval `[lo, hi]` with `lo >= hi` (empty, a single point, or reversed).
    #[error("empty or reversed interval [{lo}, {hi}]")]
    InvalidInterval {
        /// Left end as given.
        lo: f64,
        /// Right end as given.
        hi: f64,
    },
    /// No interval at all was given.
    #[error("no interval given")]
    NoIntervals,
    /// Intervals of a union overlap or are not sorted.
    #[error("intervals overlap or are not sorted")]
    OverlappingIntervals,
    /// A symmetric (odd/even) fit was given an interval reaching below 0:
    /// symmetric problems are posed on the non-negative half only.
    #[error("symmetric fits take intervals on [0, inf); got [{lo}, {hi}]")]
    NegativeSymmetricInterval {
        /// Left end as given.
        lo: f64,
        /// Right end as given.
        hi: f64,
    },
    /// The polynomial degree is outside what the routine supports.
    #[error("degree {degree} outside the supported range {min}..={max}")]
    DegreeOutOfRange {
        /// Degree asked for.
        degree: usize,
        /// Smallest supported degree.
        min: usize,
        /// Largest supported degree.
        max: usize,
    },
    /// The Remez exchange did not reach its tolerance.
    #[error("Remez exchange did not converge after {iterations} iterations (relative spread {spread:e})")]
    NotConverged {
        /// Iterations performed.
        iterations: usize,
        /// Last relative spread `(max|e| - min_ref|e|) / max|e|`.
        spread: f64,
    },
    /// The error curve did not show enough alternating extrema to form a reference.
    #[error("error curve has {found} alternating extrema, {needed} needed")]
    NoAlternation {
        /// Alternating extrema found.
        found: usize,
        /// Extrema needed (number of basis functions + 1).
        needed: usize,
    },
    /// A linear system was (numerically) singular.
    #[error("singular linear system")]
    Singular,
    /// The precision α of a sign approximation is outside 4..=20.
    #[error("alpha {alpha} outside the supported range 4..=20")]
    AlphaOutOfRange {
        /// α asked for.
        alpha: u32,
    },
    /// The input gap ε of a sign approximation is not in (0, 1).
    #[error("eps {eps:e} must lie in (0, 1)")]
    EpsOutOfRange {
        /// ε asked for.
        eps: f64,
    },
    /// No degree sequence within the search bounds reaches the target error.
    #[error("no degree sequence of at most {max_stages} stages reaches 2^-{alpha} for eps {eps:e}")]
    NoSequence {
        /// Target precision.
        alpha: u32,
        /// Input gap.
        eps: f64,
        /// Stage bound of the search.
        max_stages: usize,
    },
    /// A parameter that must be positive (or non-empty) was not.
    #[error("invalid parameter: {what}")]
    InvalidParameter {
        /// Which parameter and why.
        what: &'static str,
    },
}

/// Returns `Err(NonFinite)` unless `x` is finite.
pub(crate) fn check_finite(x: f64, what: &'static str) -> Result<f64, ApproxError> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(ApproxError::NonFinite { what })
    }
}

/// Returns `Err(NonFinite)` unless every element is finite.
pub(crate) fn check_all_finite(xs: &[f64], what: &'static str) -> Result<(), ApproxError> {
    if xs.iter().all(|x| x.is_finite()) {
        Ok(())
    } else {
        Err(ApproxError::NonFinite { what })
    }
}

/// Checks `lo < hi`, both finite.
pub(crate) fn check_interval(lo: f64, hi: f64) -> Result<(), ApproxError> {
    check_finite(lo, "interval end")?;
    check_finite(hi, "interval end")?;
    if lo < hi {
        Ok(())
    } else {
        Err(ApproxError::InvalidInterval { lo, hi })
    }
}
