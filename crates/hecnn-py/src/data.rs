//! The client's plaintext side in Python: the bundled MNIST data, the
//! frozen backbone's features (what the client computes before it
//! encrypts, transfer learning), and the accuracy of decrypted weights.

use std::path::PathBuf;

use hecnn_ml::mlr::client::{self, Scaler};
use hecnn_nn::mnist::{self as idx, PIXELS};
use hecnn_nn::{backbone, features};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::err;

/// `(images, labels)` of the bundled MNIST split (`train`: 60,000, `test`:
/// 10,000), the first `count` of them: images as `count × 784` bytes,
/// labels as `count` bytes. `dir` reads another copy (IDX files, raw or
/// gzip).
#[pyfunction]
#[pyo3(signature = (split = "train", count = None, dir = None))]
pub fn mnist<'py>(
    py: Python<'py>,
    split: &str,
    count: Option<usize>,
    dir: Option<PathBuf>,
) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
    let dir = dir.unwrap_or_else(idx::bundled_mnist_dir);
    let (images, labels) = match split {
        "train" => ("train-images.idx3-ubyte.gz", "train-labels.idx1-ubyte.gz"),
        "test" => ("t10k-images.idx3-ubyte.gz", "t10k-labels.idx1-ubyte.gz"),
        other => return Err(PyValueError::new_err(format!("split {other:?} (train or test)"))),
    };
    let (images, labels) = py.detach(|| -> PyResult<_> {
        let imgs = idx::load_images(dir.join(images)).map_err(err)?;
        let labs = idx::load_labels(dir.join(labels)).map_err(err)?;
        Ok((imgs, labs))
    })?;
    let n = count.unwrap_or(labels.len());
    if n == 0 || n > labels.len() || images.len() != labels.len() {
        return Err(PyValueError::new_err(format!("count {n} (1 to {})", labels.len())));
    }
    Ok((PyBytes::new(py, &images.as_bytes()[..n * PIXELS]), PyBytes::new(py, &labels[..n])))
}

/// The bundled frozen backbone's 240 features of each image (`n × 784`
/// bytes, pixels 0–255), exact activations in f64, in parallel: `n × 240`
/// little-endian f64 bytes.
#[pyfunction]
pub fn backbone_features<'py>(py: Python<'py>, images: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    if images.is_empty() || !images.len().is_multiple_of(PIXELS) {
        return Err(PyValueError::new_err(format!("{} bytes are not whole 28 × 28 images", images.len())));
    }
    let n = images.len() / PIXELS;
    let pixels = images.to_vec();
    let bytes = py.detach(|| -> PyResult<Vec<u8>> {
        let images = idx::Images::from_raw(n, pixels).ok_or_else(|| err("images of another size"))?;
        let model = backbone::bundled_backbone().map_err(err)?;
        let rows = features::extract_features(&model, &images).map_err(err)?;
        Ok(rows.iter().flatten().flat_map(|v| v.to_le_bytes()).collect())
    })?;
    Ok(PyBytes::new(py, &bytes))
}

/// Accuracy of weights `w` (classes × (1 + d), bias first) on raw
/// `features` with `labels`, after the client's own `scaler` (its job's).
pub fn accuracy(scaler: &Scaler, w: &[Vec<f64>], features: &[Vec<f64>], labels: &[u8]) -> PyResult<f64> {
    let x = client::with_bias(&scaler.apply(features).map_err(err)?);
    client::accuracy(w, &x, labels).map_err(err)
}
