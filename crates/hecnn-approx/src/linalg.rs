//! Dense linear solves in double or multi-precision arithmetic.
//!
//! The Remez reference system is the one place where rounding can hurt
//! (nearly dependent rows when reference points cluster), so it can be solved
//! with `dashu-float` big floats at a chosen precision; the rest of the crate
//! works in `f64`.

/// Binary big float with round-half-away rounding.
pub(crate) type FBig = dashu_float::FBig;

use crate::error::ApproxError;

/// Solves `m x = rhs` (row-major `n x n`) by Gaussian elimination with
/// partial pivoting in `f64`.
pub(crate) fn solve_f64(mut m: Vec<Vec<f64>>, mut rhs: Vec<f64>) -> Result<Vec<f64>, ApproxError> {
    let n = rhs.len();
    for col in 0..n {
        let piv = (col..n).max_by(|&i, &j| m[i][col].abs().total_cmp(&m[j][col].abs())).ok_or(ApproxError::Singular)?;
        if m[piv][col] == 0.0 || !m[piv][col].is_finite() {
            return Err(ApproxError::Singular);
        }
        m.swap(col, piv);
        rhs.swap(col, piv);
        let (top, bottom) = m.split_at_mut(col + 1);
        let prow = &top[col];
        for (off, row) in bottom.iter_mut().enumerate() {
            let f = row[col] / prow[col];
            if f != 0.0 {
                for (r, p) in row[col..].iter_mut().zip(&prow[col..]) {
                    *r -= f * p;
                }
                rhs[col + 1 + off] -= f * rhs[col];
            }
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let mut s = rhs[row];
        for k in row + 1..n {
            s -= m[row][k] * x[k];
        }
        x[row] = s / m[row][row];
    }
    if x.iter().all(|v| v.is_finite()) {
        Ok(x)
    } else {
        Err(ApproxError::Singular)
    }
}

/// Big float with `precision` binary digits, exact conversion from `f64`.
pub(crate) fn big(x: f64, precision: usize) -> Result<FBig, ApproxError> {
    let v = FBig::try_from(x).map_err(|_| ApproxError::NonFinite { what: "big float conversion" })?;
    Ok(v.with_precision(precision).value())
}

/// Same as [`solve_f64`] but the matrix is given in big floats and every
/// operation is rounded to the operands' precision (the precision they were
/// created with). Returns the solution rounded to `f64` and in big floats.
pub(crate) fn solve_big(mut m: Vec<Vec<FBig>>, mut rhs: Vec<FBig>) -> Result<Vec<FBig>, ApproxError> {
    let n = rhs.len();
    for col in 0..n {
        let mut piv = col;
        for i in col + 1..n {
            if to_f64(&m[i][col]).abs() > to_f64(&m[piv][col]).abs() {
                piv = i;
            }
        }
        if m[piv][col] == FBig::ZERO {
            return Err(ApproxError::Singular);
        }
        m.swap(col, piv);
        rhs.swap(col, piv);
        let (top, bottom) = m.split_at_mut(col + 1);
        let prow = &top[col];
        for (off, row) in bottom.iter_mut().enumerate() {
            if row[col] == FBig::ZERO {
                continue;
            }
            let f = &row[col] / &prow[col];
            for k in col..n {
                let t = &f * &prow[k];
                row[k] -= t;
            }
            let t = &f * &rhs[col];
            rhs[col + 1 + off] -= t;
        }
    }
    let mut x: Vec<FBig> = vec![FBig::ZERO; n];
    for row in (0..n).rev() {
        let mut s = rhs[row].clone();
        for k in row + 1..n {
            s -= &m[row][k] * &x[k];
        }
        x[row] = s / &m[row][row];
    }
    Ok(x)
}

/// Rounds a big float to the nearest `f64`.
pub(crate) fn to_f64(x: &FBig) -> f64 {
    x.to_f64().value()
}
