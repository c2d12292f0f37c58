//! The plaintext reference of the whole pipeline: the backbone with the same
//! composite polynomials in f64 (the circuit's simulator, including the
//! feature map's scaling), the bias column, `B̄` from the same statistics
//! the server computes, and the MLR reference with that `B̄`.

use rayon::prelude::*;

use crate::cnn::{ApproxActivation, CompiledModel};
use crate::mlr::reference::{self, MlrConfig};
use crate::MlError;

/// The training matrix the encrypted pipeline computes for `images`: per
/// image, the bias 1 then the scaled features of the approximate circuit.
pub fn features(model: &CompiledModel, images: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let act = ApproxActivation { sign: &model.composite, factors: &model.factors };
    images.par_iter().map(|img| std::iter::once(1.0).chain(model.circuit.eval_output(img, &act)).collect()).collect()
}

/// `b̄_j = 1 / (ε + ¼ max(0, Σ_i x_ij · Σ_l x_il))`: the server's statistics
/// on `x` itself (no |·|: the server cannot take it, and the backbone's
/// features are ReLU outputs), as the client turns them into `B̄`.
pub fn preconditioner(x: &[Vec<f64>], epsilon: f64) -> Vec<f64> {
    let d = x.first().map_or(0, Vec::len);
    let mut s = vec![0.0; d];
    for row in x {
        let sum: f64 = row.iter().sum();
        s.iter_mut().zip(row).for_each(|(h, v)| *h += v * sum);
    }
    s.into_iter().map(|h| 1.0 / (epsilon + 0.25 * h.max(0.0))).collect()
}

/// The reference model `W` (classes × columns) after `iterations`.
pub fn train(x: &[Vec<f64>], labels: &[u8], classes: usize, iterations: usize) -> Result<Vec<Vec<f64>>, MlError> {
    let bbar = preconditioner(x, super::PIPELINE_EPSILON);
    let cfg = MlrConfig { iterations, init: crate::mlr::prep::DEFAULT_INIT, ..MlrConfig::default() };
    Ok(reference::train_preconditioned(x, labels, classes, &cfg, &bbar)?.w)
}
