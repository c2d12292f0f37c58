//! Dense tensors of one image (`[C, H, W]` or `[D]`) in f32 or f64.

use std::fmt::Debug;
use std::ops::{Add, AddAssign, Mul, Sub};

/// The element types inference runs in: `f32` (fast) and `f64` (reference
/// for the encrypted computation, which works on reals).
pub trait Scalar:
    Copy
    + Send
    + Sync
    + Debug
    + Default
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + AddAssign
    + 'static
{
    /// Converts from f64 (rounding for f32).
    fn from_f64(x: f64) -> Self;
    /// Converts to f64 (exact).
    fn to_f64(self) -> f64;
    /// The weights in this precision.
    fn weights(w: &Weights) -> &[Self];
}

impl Scalar for f32 {
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn weights(w: &Weights) -> &[Self] {
        &w.f32
    }
}

impl Scalar for f64 {
    fn from_f64(x: f64) -> Self {
        x
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn weights(w: &Weights) -> &[Self] {
        &w.f64
    }
}

/// A weight array kept in both precisions, so f32 inference does not convert
/// weights on every use.
#[derive(Clone, Debug, PartialEq)]
pub struct Weights {
    f64: Vec<f64>,
    f32: Vec<f32>,
}

impl Weights {
    /// Wraps f64 values.
    pub fn new(values: Vec<f64>) -> Self {
        let f32 = values.iter().map(|&v| v as f32).collect();
        Weights { f64: values, f32 }
    }

    /// The f64 values.
    pub fn as_f64(&self) -> &[f64] {
        &self.f64
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.f64.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.f64.is_empty()
    }
}

impl From<Vec<f64>> for Weights {
    fn from(v: Vec<f64>) -> Self {
        Weights::new(v)
    }
}

/// A dense row-major tensor for one sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor<S> {
    shape: Vec<usize>,
    data: Vec<S>,
}

impl<S: Scalar> Tensor<S> {
    /// A tensor of `shape` holding `data`; `None` if the sizes disagree.
    pub fn new(shape: Vec<usize>, data: Vec<S>) -> Option<Self> {
        (shape.iter().product::<usize>() == data.len()).then_some(Tensor { shape, data })
    }

    /// A zero tensor.
    pub fn zeros(shape: Vec<usize>) -> Self {
        let n = shape.iter().product();
        Tensor { shape, data: vec![S::default(); n] }
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The values, row-major.
    pub fn data(&self) -> &[S] {
        &self.data
    }

    /// Mutable values.
    pub fn data_mut(&mut self) -> &mut [S] {
        &mut self.data
    }

    /// Consumes the tensor, returning its values.
    pub fn into_data(self) -> Vec<S> {
        self.data
    }

    /// Same values, new shape of the same size (used by Flatten).
    pub(crate) fn reshaped(mut self, shape: Vec<usize>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), self.data.len());
        self.shape = shape;
        self
    }

    /// Index of the largest value (first one on ties); `None` if empty.
    pub fn argmax(&self) -> Option<usize> {
        let mut best: Option<(usize, S)> = None;
        for (i, &v) in self.data.iter().enumerate() {
            if best.is_none_or(|(_, b)| v > b) {
                best = Some((i, v));
            }
        }
        best.map(|(i, _)| i)
    }

    /// Largest absolute value (0 for an empty tensor).
    pub fn max_abs(&self) -> f64 {
        self.data.iter().fold(0.0, |m, &v| m.max(v.to_f64().abs()))
    }
}
