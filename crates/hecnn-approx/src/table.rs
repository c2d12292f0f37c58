//! Table rows of composite sign approximations, as printed by
//! `hecnn approx table` and `hecnn approx sign --alpha A --json`.

use serde::Serialize;

use crate::composite::{default_eps, search, CompositeSign, ALPHA_MAX, ALPHA_MIN};
use crate::error::ApproxError;

/// Grid size used by [`sign_table`] to measure errors (the acceptance grid).
pub const TABLE_GRID_POINTS: usize = 1_000_000;

/// One row: JSON keys `alpha`, `eps`, `degrees`, `depth`,
/// `nonscalar_mults`, `max_error` (measured, not the design bound).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignTableRow {
    /// Target precision: error `≤ 2^-alpha`.
    pub alpha: u32,
    /// Input gap ε.
    pub eps: f64,
    /// Stage degrees in evaluation order.
    pub degrees: Vec<usize>,
    /// Total multiplicative depth.
    pub depth: u32,
    /// Total non-scalar multiplications (model of [`crate::cost`]).
    pub nonscalar_mults: u32,
    /// Largest error measured on the grid of
    /// [`CompositeSign::max_error_on_grid`].
    pub max_error: f64,
}

impl SignTableRow {
    /// Row for an existing composite, measuring its error on `points` points.
    pub fn from_composite(s: &CompositeSign, points: usize) -> Self {
        Self {
            alpha: s.alpha,
            eps: s.eps,
            degrees: s.degrees.clone(),
            depth: s.depth,
            nonscalar_mults: s.nonscalar_mults,
            max_error: s.max_error_on_grid(points),
        }
    }
}

/// Searches α with gap `eps` and measures the result on `points` grid points.
///
/// ```
/// use hecnn_approx::table::sign_row;
/// let row = sign_row(5, 2f64.powi(-5), 10_000)?;
/// assert!(row.max_error <= 2f64.powi(-5));
/// # Ok::<(), hecnn_approx::ApproxError>(())
/// ```
pub fn sign_row(alpha: u32, eps: f64, points: usize) -> Result<SignTableRow, ApproxError> {
    Ok(SignTableRow::from_composite(&search(alpha, eps)?, points))
}

/// Rows for every α in 4..=20 with the default gap `ε = 2^-α`, measured on
/// [`TABLE_GRID_POINTS`] points each.
pub fn sign_table() -> Result<Vec<SignTableRow>, ApproxError> {
    (ALPHA_MIN..=ALPHA_MAX).map(|a| sign_row(a, default_eps(a), TABLE_GRID_POINTS)).collect()
}
