//! Feature CSV files: one sample per line, `label,f1,…,fd`, no header.
//!
//! This is the exchange format of the paper's code (features extracted by a
//! frozen CNN, then trained on by the encrypted MLR). Inputs are untrusted:
//! lines and files are size-bounded, every field must parse as a finite
//! number, labels must be digits 0..=9 and every line must have the same
//! number of columns. Errors name the file, the 1-based line and field.
//!
//! ```
//! use hecnn_nn::csv::{parse_features, FeatureSet};
//! let set = parse_features("3,0.5,1\n7,2,-1\n", std::path::Path::new("x.csv")).unwrap();
//! assert_eq!(set.labels, vec![3, 7]);
//! assert_eq!(set.features[1], vec![2.0, -1.0]);
//! ```

use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Longest accepted line, in bytes (512 features of 20 characters fit easily).
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// Largest accepted file, in bytes.
pub const MAX_FILE_BYTES: usize = 512 * 1024 * 1024;
/// Largest number of classes: labels are `0..NUM_CLASSES`.
pub const NUM_CLASSES: u8 = 10;

/// Labelled feature vectors.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FeatureSet {
    /// One label in `0..=9` per sample.
    pub labels: Vec<u8>,
    /// One feature vector per sample, all of the same length.
    pub features: Vec<Vec<f64>>,
}

impl FeatureSet {
    /// Number of features per sample (0 when empty).
    pub fn dim(&self) -> usize {
        self.features.first().map_or(0, Vec::len)
    }
}

/// Why a feature CSV could not be read or written.
#[derive(Debug, Error)]
pub enum CsvError {
    /// Reading or writing failed.
    #[error("{path}: I/O error: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_FILE_BYTES`].
    #[error("{path}: file larger than {max} bytes")]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        max: usize,
    },
    /// The file is not UTF-8.
    #[error("{path}: not valid UTF-8")]
    NotUtf8 {
        /// The file.
        path: PathBuf,
    },
    /// The file holds no samples.
    #[error("{path}: no samples")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A line is longer than [`MAX_LINE_BYTES`].
    #[error("{path}:{line}: line longer than {max} bytes")]
    LineTooLong {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The limit.
        max: usize,
    },
    /// A line has only a label, no features.
    #[error("{path}:{line}: no features after the label")]
    NoFeatures {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// A field is not a number.
    #[error("{path}:{line}: field {field} ({text:?}) is not a number")]
    BadNumber {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// 1-based field number (the label is field 1).
        field: usize,
        /// The text of the field (at most 32 characters).
        text: String,
    },
    /// A field is NaN or infinite.
    #[error("{path}:{line}: field {field} is not finite")]
    NotFinite {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// 1-based field number.
        field: usize,
    },
    /// The label is not an integer in 0..=9.
    #[error("{path}:{line}: label {text:?} is not an integer in 0..=9")]
    BadLabel {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The label text (at most 32 characters).
        text: String,
    },
    /// A line has a different number of columns from the first line.
    #[error("{path}:{line}: {found} columns, the first line has {expected}")]
    ColumnCount {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Columns on the first line.
        expected: usize,
        /// Columns on this line.
        found: usize,
    },
    /// Labels and features given to the writer disagree in length, or rows differ in length.
    #[error("{path}: cannot write: {reason}")]
    Shape {
        /// The file.
        path: PathBuf,
        /// What is inconsistent.
        reason: String,
    },
}

/// Reads a feature CSV file.
pub fn read_features(path: impl AsRef<Path>) -> Result<FeatureSet, CsvError> {
    let path = path.as_ref();
    let io = |source| CsvError::Io { path: path.to_path_buf(), source };
    let file = crate::input::open_regular(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES as u64 + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(CsvError::FileTooLarge { path: path.to_path_buf(), max: MAX_FILE_BYTES });
    }
    let text = String::from_utf8(bytes).map_err(|_| CsvError::NotUtf8 { path: path.to_path_buf() })?;
    parse_features(&text, path)
}

/// Parses the text of a feature CSV; `path` only names the file in errors.
/// Blank lines (and a trailing newline, `\r\n` endings) are accepted.
pub fn parse_features(text: &str, path: &Path) -> Result<FeatureSet, CsvError> {
    let p = || path.to_path_buf();
    let mut set = FeatureSet::default();
    let mut columns = None;
    for (i, raw) in text.split('\n').enumerate() {
        let line = i + 1;
        if raw.len() > MAX_LINE_BYTES {
            return Err(CsvError::LineTooLong { path: p(), line, max: MAX_LINE_BYTES });
        }
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if raw.trim().is_empty() {
            continue;
        }
        let mut fields = raw.split(',');
        let label_text = fields.next().unwrap_or("").trim();
        let label =
            parse_label(label_text).ok_or_else(|| CsvError::BadLabel { path: p(), line, text: clip(label_text) })?;
        let mut row = Vec::with_capacity(columns.unwrap_or(1));
        for (j, f) in fields.enumerate() {
            let field = j + 2;
            let t = f.trim();
            let v: f64 = t.parse().map_err(|_| CsvError::BadNumber { path: p(), line, field, text: clip(t) })?;
            if !v.is_finite() {
                return Err(CsvError::NotFinite { path: p(), line, field });
            }
            row.push(v);
        }
        if row.is_empty() {
            return Err(CsvError::NoFeatures { path: p(), line });
        }
        match columns {
            None => columns = Some(row.len()),
            Some(c) if c != row.len() => {
                return Err(CsvError::ColumnCount { path: p(), line, expected: c + 1, found: row.len() + 1 })
            }
            Some(_) => {}
        }
        set.labels.push(label);
        set.features.push(row);
    }
    if set.labels.is_empty() {
        return Err(CsvError::Empty { path: p() });
    }
    Ok(set)
}

/// Accepts `0`..`9`, also written as a float with zero fraction (`3.0`), as
/// numpy's `savetxt` does.
fn parse_label(t: &str) -> Option<u8> {
    if let Ok(v) = t.parse::<u8>() {
        return (v < NUM_CLASSES).then_some(v);
    }
    let v: f64 = t.parse().ok()?;
    (v.fract() == 0.0 && (0.0..f64::from(NUM_CLASSES)).contains(&v)).then_some(v as u8)
}

fn clip(t: &str) -> String {
    t.chars().take(32).collect()
}

/// Formats a feature set as CSV text; numbers use Rust's shortest
/// round-trip formatting, so reading the text back gives the same bits.
pub fn format_features(set: &FeatureSet) -> Result<String, CsvError> {
    check_shape(set, Path::new("<memory>"))?;
    let mut out = String::new();
    for (label, row) in set.labels.iter().zip(&set.features) {
        let _ = write!(out, "{label}");
        for v in row {
            let _ = write!(out, ",{v}");
        }
        out.push('\n');
    }
    Ok(out)
}

/// Writes a feature set to `path` (see [`format_features`]).
pub fn write_features(path: impl AsRef<Path>, set: &FeatureSet) -> Result<(), CsvError> {
    let path = path.as_ref();
    check_shape(set, path)?;
    let text = format_features(set)?;
    std::fs::write(path, text).map_err(|source| CsvError::Io { path: path.to_path_buf(), source })
}

fn check_shape(set: &FeatureSet, path: &Path) -> Result<(), CsvError> {
    let shape = |reason: String| CsvError::Shape { path: path.to_path_buf(), reason };
    if set.labels.len() != set.features.len() {
        return Err(shape(format!("{} labels but {} feature rows", set.labels.len(), set.features.len())));
    }
    if set.labels.is_empty() {
        return Err(shape("no samples".into()));
    }
    if let Some(l) = set.labels.iter().find(|&&l| l >= NUM_CLASSES) {
        return Err(shape(format!("label {l} is not in 0..=9")));
    }
    let d = set.dim();
    if d == 0 || set.features.iter().any(|r| r.len() != d) {
        return Err(shape("rows must be non-empty and of equal length".into()));
    }
    if set.features.iter().flatten().any(|v| !v.is_finite()) {
        return Err(shape("a feature is not finite".into()));
    }
    Ok(())
}
