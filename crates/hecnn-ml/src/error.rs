//! Typed errors for the ML entry points.
//!
//! Data reaching this crate may come from outside (CSV files, uploads), so
//! every shape or value problem becomes a variant that names the offending
//! row/column instead of a panic or a silent NaN.

use thiserror::Error;

/// Everything that can go wrong when validating inputs or a configuration.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum MlError {
    /// No samples at all.
    #[error("empty data: there are no samples")]
    EmptyData,
    /// A sample with zero features (checked on row 0; other rows are
    /// reported as [`MlError::RaggedRow`]).
    #[error("empty data: row {row} has no features")]
    EmptyRow {
        /// Index of the empty row.
        row: usize,
    },
    /// A row whose length differs from the expected feature count.
    #[error("ragged data: row {row} has {found} features, expected {expected}")]
    RaggedRow {
        /// Index of the offending row.
        row: usize,
        /// The feature count of row 0 (or of the model).
        expected: usize,
        /// The feature count of this row.
        found: usize,
    },
    /// A NaN or infinite feature value.
    #[error("non-finite feature {value} at row {row}, column {column}")]
    NonFinite {
        /// Row of the value.
        row: usize,
        /// Column of the value.
        column: usize,
        /// The value itself (NaN or ±inf).
        value: f64,
    },
    /// A label that is not below the class count.
    #[error("label {label} at row {row} is not below the class count {classes}")]
    LabelOutOfRange {
        /// Row of the label.
        row: usize,
        /// The label.
        label: u8,
        /// The class count.
        classes: usize,
    },
    /// Different numbers of rows and labels.
    #[error("{rows} data rows but {labels} labels")]
    LabelCountMismatch {
        /// Number of data rows.
        rows: usize,
        /// Number of labels.
        labels: usize,
    },
    /// A class count outside `1..=256` (labels are `u8`).
    #[error("class count {classes} is outside 1..=256")]
    InvalidClassCount {
        /// The requested class count.
        classes: usize,
    },
    /// `iterations == 0` in the configuration.
    #[error("the configuration asks for zero iterations")]
    ZeroIterations,
    /// A configuration field that is empty, NaN, infinite or out of range.
    #[error("invalid configuration field `{field}`: {reason}")]
    InvalidConfig {
        /// Name of the field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A c×d matrix (weights or step) with the wrong number of class rows.
    #[error("matrix has {found} class rows, expected {expected}")]
    ClassRows {
        /// Expected number of class rows.
        expected: usize,
        /// Actual number of rows.
        found: usize,
    },
    /// A weight (or step) row whose length does not match the data or `W`.
    #[error("weight row {row} has {found} entries, expected {expected}")]
    WeightShape {
        /// Index of the offending weight row (class).
        row: usize,
        /// Expected length.
        expected: usize,
        /// Actual length.
        found: usize,
    },
}
