//! Chain-style construction of models, folding batch norms into convolutions.

use super::layers::{BatchNorm, Conv2d, Linear, Pool2d};
use super::{Model, ModelError, Node, Op};

/// Builds a chain of layers; each call appends a node reading the previous
/// value. [`ModelBuilder::batch_norm`] folds into a directly preceding
/// convolution.
#[derive(Clone, Debug)]
pub struct ModelBuilder {
    input_shape: Vec<usize>,
    nodes: Vec<Node>,
    /// Value ids handed out by [`ModelBuilder::current`]; a convolution whose
    /// output was handed out is not folded into.
    exposed: Vec<usize>,
}

impl ModelBuilder {
    /// Starts a model with the given per-sample input shape.
    pub fn new(input_shape: Vec<usize>) -> Self {
        ModelBuilder { input_shape, nodes: Vec::new(), exposed: Vec::new() }
    }

    /// Value id of the last node (for a later [`ModelBuilder::add_value`]).
    pub fn current(&mut self) -> usize {
        let v = self.nodes.len();
        self.exposed.push(v);
        v
    }

    fn push(mut self, op: Op) -> Self {
        let v = self.nodes.len();
        self.nodes.push(Node { op, inputs: vec![v] });
        self
    }

    /// Appends a convolution.
    pub fn conv2d(self, c: Conv2d) -> Self {
        self.push(Op::Conv2d(c))
    }

    /// Appends a batch norm, folded into the previous convolution if possible.
    pub fn batch_norm(mut self, bn: &BatchNorm) -> Self {
        let affine = bn.to_affine();
        let last = self.nodes.len();
        if !self.exposed.contains(&last) {
            if let Some(Node { op: Op::Conv2d(c), .. }) = self.nodes.last_mut() {
                if c.out_c == affine.scale.len() {
                    c.fold_affine(&affine);
                    return self;
                }
            }
        }
        self.push(Op::ChannelAffine(affine))
    }

    /// Appends a ReLU.
    pub fn relu(self) -> Self {
        self.push(Op::Relu)
    }

    /// Appends a max pool.
    pub fn max_pool(self, p: Pool2d) -> Self {
        self.push(Op::MaxPool(p))
    }

    /// Appends an average pool.
    pub fn avg_pool(self, p: Pool2d) -> Self {
        self.push(Op::AvgPool(p))
    }

    /// Appends a flatten.
    pub fn flatten(self) -> Self {
        self.push(Op::Flatten)
    }

    /// Appends a fully connected layer.
    pub fn linear(self, l: Linear) -> Self {
        self.push(Op::Linear(l))
    }

    /// Appends `previous + value(v)` (a residual connection).
    pub fn add_value(mut self, v: usize) -> Self {
        let last = self.nodes.len();
        self.nodes.push(Node { op: Op::Add, inputs: vec![last, v] });
        self
    }

    /// Validates the model; its output is the last node.
    pub fn build(self) -> Result<Model, ModelError> {
        let out = self.nodes.len();
        Model::new(self.input_shape, self.nodes, out)
    }
}
