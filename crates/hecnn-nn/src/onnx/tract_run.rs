//! Running an ONNX file with tract itself, to cross-check the import.

use super::OnnxError;

/// An ONNX model run by tract itself (optimised plan, f32), for cross-checks.
pub struct TractModel {
    plan: std::sync::Arc<tract_onnx::prelude::TypedRunnableModel>,
    sample_shape: Vec<usize>,
    batch: usize,
}

impl TractModel {
    /// Loads `bytes` for batches of `batch` samples of `sample_shape`.
    pub fn load(bytes: &[u8], sample_shape: &[usize], batch: usize) -> Result<Self, OnnxError> {
        use tract_onnx::prelude::*;
        let tract = |e: TractError| OnnxError::Tract(format!("{e:#}"));
        let mut shape = vec![batch];
        shape.extend_from_slice(sample_shape);
        let plan = tract_onnx::onnx()
            .model_for_read(&mut &bytes[..])
            .map_err(tract)?
            .with_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), shape))
            .map_err(tract)?
            .into_optimized()
            .map_err(tract)?
            .into_runnable()
            .map_err(tract)?;
        Ok(TractModel { plan, sample_shape: sample_shape.to_vec(), batch })
    }

    /// Runs one batch (`batch` samples, flat NCHW); returns each sample's output, flattened.
    pub fn run(&self, input: &[f32]) -> Result<Vec<Vec<f32>>, OnnxError> {
        use tract_onnx::prelude::*;
        let tract = |e: TractError| OnnxError::Tract(format!("{e:#}"));
        let mut shape = vec![self.batch];
        shape.extend_from_slice(&self.sample_shape);
        let x = Tensor::from_shape(&shape, input).map_err(tract)?;
        let out = self.plan.run(tvec!(x.into())).map_err(tract)?;
        let y = out[0].to_plain_array_view::<f32>().map_err(tract)?;
        let per = y.len() / self.batch.max(1);
        let flat: Vec<f32> = y.iter().copied().collect();
        Ok(flat.chunks(per.max(1)).map(<[f32]>::to_vec).collect())
    }
}
