//! A small plaintext CNN: a topologically ordered graph of layers.
//!
//! Value `0` is the model input and value `i + 1` is the output of node `i`;
//! a node reads earlier values only, which allows residual connections
//! ([`Op::Add`]) without a general graph library. Shapes are checked once,
//! when the [`Model`] is built, so inference itself cannot fail on a
//! correctly shaped input.
//!
//! ```
//! use hecnn_nn::model::{Conv2d, ModelBuilder, Pool2d, Tensor};
//! let conv = Conv2d { out_c: 1, in_c: 1, kernel: (2, 2), stride: (1, 1), pad: [0; 4],
//!     weight: vec![1.0; 4].into(), bias: vec![0.0].into() };
//! let model = ModelBuilder::new(vec![1, 3, 3]).conv2d(conv).relu()
//!     .max_pool(Pool2d::square(2)).flatten().build().unwrap();
//! let x = Tensor::new(vec![1, 3, 3], (1..=9).map(f64::from).collect()).unwrap();
//! // Window sums 12, 16, 24, 28; ReLU keeps them; the 2×2 max is 28.
//! assert_eq!(model.forward(&x).unwrap().data(), &[28.0]);
//! ```

mod activation;
mod builder;
mod format;
mod layers;
mod tensor;

pub use activation::{Activation, Exact, SignApprox};
pub use builder::ModelBuilder;
pub use format::{FormatError, MAGIC, VERSION};
pub use layers::{BatchNorm, ChannelAffine, Conv2d, Linear, Pool2d};
pub use tensor::{Scalar, Tensor, Weights};

use rayon::prelude::*;
use thiserror::Error;

/// A layer.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Convolution (a batch norm after it is folded in).
    Conv2d(Conv2d),
    /// Per-channel affine map (a batch norm that could not be folded).
    ChannelAffine(ChannelAffine),
    /// ReLU, through the model's [`Activation`].
    Relu,
    /// Max pool, a tree of pairwise [`Activation::max`].
    MaxPool(Pool2d),
    /// Average pool.
    AvgPool(Pool2d),
    /// Fully connected layer on a flat input.
    Linear(Linear),
    /// Element-wise sum of two values of the same shape (residual connection).
    Add,
    /// `[C, H, W]` to `[C·H·W]`, channel-major (as PyTorch and ONNX flatten NCHW).
    Flatten,
}

impl Op {
    /// Short name, as used in error messages.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Conv2d(_) => "Conv2d",
            Op::ChannelAffine(_) => "ChannelAffine",
            Op::Relu => "Relu",
            Op::MaxPool(_) => "MaxPool",
            Op::AvgPool(_) => "AvgPool",
            Op::Linear(_) => "Linear",
            Op::Add => "Add",
            Op::Flatten => "Flatten",
        }
    }

    fn arity(&self) -> usize {
        if matches!(self, Op::Add) {
            2
        } else {
            1
        }
    }
}

/// A layer and the values it reads (`0` = model input, `i + 1` = node `i`).
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The layer.
    pub op: Op,
    /// Value ids of its inputs.
    pub inputs: Vec<usize>,
}

/// Why a model is invalid or an input does not fit it.
#[derive(Debug, Error, PartialEq)]
pub enum ModelError {
    /// A node reads a value that is not computed before it.
    #[error("node {node} ({op}) reads value {value}, which is not computed before it")]
    BadInput {
        /// Node index.
        node: usize,
        /// Its op name.
        op: &'static str,
        /// The value id.
        value: usize,
    },
    /// A node has the wrong number of inputs.
    #[error("node {node} ({op}) has {found} inputs, expected {expected}")]
    Arity {
        /// Node index.
        node: usize,
        /// Its op name.
        op: &'static str,
        /// Inputs given.
        found: usize,
        /// Inputs required.
        expected: usize,
    },
    /// A node's parameters do not fit its input shape.
    #[error("node {node} ({op}): {reason}")]
    Shape {
        /// Node index.
        node: usize,
        /// Its op name.
        op: &'static str,
        /// What does not fit.
        reason: String,
    },
    /// The output value id does not exist.
    #[error("output value {0} does not exist")]
    BadOutput(usize),
    /// The input tensor has the wrong shape.
    #[error("input has shape {found:?}, the model expects {expected:?}")]
    InputShape {
        /// Shape the model expects.
        expected: Vec<usize>,
        /// Shape given.
        found: Vec<usize>,
    },
}

/// Largest input and the largest |input − other input| of one ReLU or
/// max-pool node over a data set, for choosing the sign bound `B`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ActivationRange {
    /// Node index (the `site` passed to [`Activation`]).
    pub node: usize,
    /// True for max-pool, false for ReLU.
    pub is_max_pool: bool,
    /// Largest |x| over all inputs of the node. ReLU needs `B ≥ max_abs`;
    /// the differences a max-pool tree compares are at most `2·max_abs`.
    pub max_abs: f64,
    /// Smallest input value seen.
    pub min: f64,
    /// Largest input value seen. A max-pool tree only compares values in
    /// `[min, max]`, so its differences are at most `max − min` — tighter than
    /// `2·max_abs` after a ReLU, where `min ≥ 0`.
    pub max: f64,
}

/// A validated model: nodes, their output shapes, and the output value.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    input_shape: Vec<usize>,
    nodes: Vec<Node>,
    output: usize,
    /// `shapes[v]` is the shape of value `v`.
    shapes: Vec<Vec<usize>>,
}

impl Model {
    /// Checks the graph (inputs precede their readers, arities, shapes) and
    /// computes every value's shape.
    pub fn new(input_shape: Vec<usize>, nodes: Vec<Node>, output: usize) -> Result<Model, ModelError> {
        let mut shapes = vec![input_shape.clone()];
        for (i, node) in nodes.iter().enumerate() {
            let op = node.op.name();
            if node.inputs.len() != node.op.arity() {
                return Err(ModelError::Arity { node: i, op, found: node.inputs.len(), expected: node.op.arity() });
            }
            if let Some(&value) = node.inputs.iter().find(|&&v| v > i) {
                return Err(ModelError::BadInput { node: i, op, value });
            }
            let x = &shapes[node.inputs[0]];
            let shape = match &node.op {
                Op::Conv2d(c) => c.out_shape(x),
                Op::ChannelAffine(a) => a.check(x).map(|()| x.clone()),
                Op::Relu => Ok(x.clone()),
                Op::MaxPool(p) | Op::AvgPool(p) => p.out_shape(x),
                Op::Linear(l) => l.out_shape(x),
                Op::Add => {
                    let y = &shapes[node.inputs[1]];
                    if x == y {
                        Ok(x.clone())
                    } else {
                        Err(format!("adds shapes {x:?} and {y:?}"))
                    }
                }
                Op::Flatten => Ok(vec![x.iter().product()]),
            }
            .map_err(|reason| ModelError::Shape { node: i, op, reason })?;
            shapes.push(shape);
        }
        if output > nodes.len() {
            return Err(ModelError::BadOutput(output));
        }
        Ok(Model { input_shape, nodes, output, shapes })
    }

    /// Shape of one input sample, e.g. `[1, 28, 28]`.
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// Shape of the output.
    pub fn output_shape(&self) -> &[usize] {
        &self.shapes[self.output]
    }

    /// The nodes in evaluation order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The value id of the output.
    pub fn output(&self) -> usize {
        self.output
    }

    /// Shape of value `v` (`0` = input, `i + 1` = node `i`).
    pub fn value_shape(&self, v: usize) -> Option<&[usize]> {
        self.shapes.get(v).map(Vec::as_slice)
    }

    /// The model cut after node `i`: its output is node `i`'s output. Used to
    /// take the feature-extracting backbone out of a full classifier.
    pub fn truncated_after(&self, i: usize) -> Result<Model, ModelError> {
        if i >= self.nodes.len() {
            return Err(ModelError::BadOutput(i + 1));
        }
        Model::new(self.input_shape.clone(), self.nodes[..=i].to_vec(), i + 1)
    }

    /// Index of the first node with op `name` (see [`Op::name`]).
    pub fn find_node(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.op.name() == name)
    }

    /// Exact inference on one sample.
    pub fn forward<S: Scalar>(&self, x: &Tensor<S>) -> Result<Tensor<S>, ModelError> {
        self.forward_with(x, &Exact)
    }

    /// Inference on one sample with the given non-linearities.
    pub fn forward_with<S: Scalar, A: Activation<S> + ?Sized>(
        &self,
        x: &Tensor<S>,
        act: &A,
    ) -> Result<Tensor<S>, ModelError> {
        let mut values = self.trace(x, act)?;
        Ok(values.swap_remove(self.output))
    }

    /// Inference on many samples in parallel (rayon).
    pub fn forward_batch<S: Scalar, A: Activation<S> + ?Sized>(
        &self,
        xs: &[Tensor<S>],
        act: &A,
    ) -> Result<Vec<Tensor<S>>, ModelError> {
        xs.par_iter().map(|x| self.forward_with(x, act)).collect()
    }

    /// Inference on a flat NCHW batch (`n` samples of the input shape, one
    /// after the other), in parallel.
    pub fn forward_nchw<S: Scalar, A: Activation<S> + ?Sized>(
        &self,
        data: &[S],
        act: &A,
    ) -> Result<Vec<Tensor<S>>, ModelError> {
        let per: usize = self.input_shape.iter().product();
        if per == 0 || !data.len().is_multiple_of(per) {
            return Err(ModelError::InputShape { expected: self.input_shape.clone(), found: vec![data.len()] });
        }
        data.par_chunks(per)
            .map(|c| {
                let x = Tensor::new(self.input_shape.clone(), c.to_vec()).expect("chunk of input size");
                self.forward_with(&x, act)
            })
            .collect()
    }

    /// Every value of the graph for one sample (`result[0]` is the input).
    pub fn trace<S: Scalar, A: Activation<S> + ?Sized>(
        &self,
        x: &Tensor<S>,
        act: &A,
    ) -> Result<Vec<Tensor<S>>, ModelError> {
        if x.shape() != self.input_shape.as_slice() {
            return Err(ModelError::InputShape { expected: self.input_shape.clone(), found: x.shape().to_vec() });
        }
        let mut values: Vec<Tensor<S>> = Vec::with_capacity(self.nodes.len() + 1);
        values.push(x.clone());
        for (i, node) in self.nodes.iter().enumerate() {
            let a = &values[node.inputs[0]];
            let shape = &self.shapes[i + 1];
            let y = match &node.op {
                Op::Conv2d(c) => c.forward(a, shape),
                Op::ChannelAffine(c) => c.forward(a),
                Op::Relu => {
                    let mut y = a.clone();
                    y.data_mut().iter_mut().for_each(|v| *v = act.relu(i, *v));
                    y
                }
                Op::MaxPool(p) => p.max_forward(a, shape, act, i),
                Op::AvgPool(p) => p.avg_forward(a, shape),
                Op::Linear(l) => l.forward(a),
                Op::Add => {
                    let mut y = a.clone();
                    let b = &values[node.inputs[1]];
                    y.data_mut().iter_mut().zip(b.data()).for_each(|(u, v)| *u += *v);
                    y
                }
                Op::Flatten => a.clone().reshaped(shape.clone()),
            };
            values.push(y);
        }
        Ok(values)
    }

    /// For every ReLU and max-pool node, the largest |input| and the input's
    /// range over `xs` (exact inference, in parallel; `min = +∞`, `max = −∞`
    /// when `xs` is empty).
    pub fn activation_ranges(&self, xs: &[Tensor<f64>]) -> Result<Vec<ActivationRange>, ModelError> {
        let sites: Vec<(usize, bool)> = self
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| match n.op {
                Op::Relu => Some((i, false)),
                Op::MaxPool(_) => Some((i, true)),
                _ => None,
            })
            .collect();
        // Per site: (max |x|, min x, max x).
        let empty = || vec![(0.0, f64::INFINITY, f64::NEG_INFINITY); sites.len()];
        let stats = xs
            .par_iter()
            .map(|x| {
                let values = self.trace(x, &Exact)?;
                Ok(sites
                    .iter()
                    .map(|&(i, _)| {
                        values[self.nodes[i].inputs[0]]
                            .data()
                            .iter()
                            .fold((0.0f64, f64::INFINITY, f64::NEG_INFINITY), |(a, lo, hi), &v| {
                                (a.max(v.abs()), lo.min(v), hi.max(v))
                            })
                    })
                    .collect())
            })
            .try_reduce(empty, |a: Vec<(f64, f64, f64)>, b| {
                Ok(a.iter().zip(&b).map(|(x, y)| (x.0.max(y.0), x.1.min(y.1), x.2.max(y.2))).collect())
            })?;
        Ok(sites
            .iter()
            .zip(stats)
            .map(|(&(node, is_max_pool), (max_abs, min, max))| ActivationRange { node, is_max_pool, max_abs, min, max })
            .collect())
    }

    /// Serialises the model: magic `HECNNMDL`, format version, input shape,
    /// then each node's tag, inputs, sizes and f32 little-endian weights.
    pub fn to_bytes(&self) -> Vec<u8> {
        format::write(self)
    }

    /// Reads a model written by [`Model::to_bytes`], validating everything.
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, FormatError> {
        format::read(bytes)
    }
}
