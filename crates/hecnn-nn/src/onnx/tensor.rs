//! Initializer decoding (FLOAT, DOUBLE, INT64; raw or typed fields), bounded
//! and checked, so malformed tensors are errors rather than panics.

use tract_onnx::pb;

use super::OnnxError;

/// Largest tensor (elements) accepted.
const MAX_ELEMS: usize = 1 << 26;

/// A decoded initializer.
pub(super) struct Const {
    pub(super) dims: Vec<usize>,
    pub(super) values: Vec<f64>,
}

/// Decodes FLOAT, DOUBLE or INT64 initializers (raw or typed fields) to f64.
pub(super) fn decode_tensor(t: &pb::TensorProto) -> Result<Const, OnnxError> {
    let bad = |reason: String| OnnxError::BadTensor { name: t.name.clone(), reason };
    if t.data_location == Some(pb::tensor_proto::DataLocation::External as i32) {
        return Err(bad("external data is not supported".into()));
    }
    let mut dims = Vec::with_capacity(t.dims.len());
    let mut numel: usize = 1;
    for &d in &t.dims {
        if !(0..=MAX_ELEMS as i64).contains(&d) {
            return Err(bad(format!("dimension {d} out of bounds")));
        }
        numel = numel.saturating_mul(d as usize);
        dims.push(d as usize);
    }
    if numel > MAX_ELEMS {
        return Err(bad(format!("{numel} elements is too many")));
    }
    let raw = &t.raw_data;
    let values: Vec<f64> = match t.data_type {
        1 if !raw.is_empty() => {
            check_len(raw.len(), numel * 4).map_err(bad)?;
            raw.chunks_exact(4).map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]]))).collect()
        }
        1 => t.float_data.iter().map(|&v| f64::from(v)).collect(),
        11 if !raw.is_empty() => {
            check_len(raw.len(), numel * 8).map_err(bad)?;
            raw.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))).collect()
        }
        11 => t.double_data.clone(),
        7 if !raw.is_empty() => {
            check_len(raw.len(), numel * 8).map_err(bad)?;
            raw.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")) as f64).collect()
        }
        7 => t.int64_data.iter().map(|&v| v as f64).collect(),
        dt => return Err(bad(format!("data type {dt} (only float, double, int64)"))),
    };
    if values.len() != numel {
        return Err(bad(format!("{} values for {numel} elements", values.len())));
    }
    if values.iter().any(|v| !v.is_finite()) {
        return Err(bad("non-finite value".into()));
    }
    Ok(Const { dims, values })
}

fn check_len(found: usize, expected: usize) -> Result<(), String> {
    if found == expected {
        Ok(())
    } else {
        Err(format!("{found} raw bytes, expected {expected}"))
    }
}
