//! ONNX import: a CNN exported from PyTorch (or built with `onnx.helper`)
//! becomes a native [`Model`], so the approximation simulator and the
//! encrypted inference see exactly the layers they know.
//!
//! `tract-onnx` decodes the protobuf; the graph walk and the tensor decoding
//! are ours, so untrusted files give typed errors, never panics. Supported:
//! Conv (group 1, no dilation), Gemm, MatMul (+ Add of a constant bias),
//! Relu, MaxPool, AveragePool, GlobalAveragePool (no padding), BatchNormalization
//! (folded into a preceding Conv when that Conv feeds only it), Add of two
//! values (residual), Flatten (axis 1), Reshape to `[batch, features]`,
//! Identity. Anything else is [`OnnxError::UnsupportedOp`] naming the node.
//! The batch axis is dropped: the native model works on one sample.
//!
//! [`TractModel`] runs the same file with tract itself, as a cross-check.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use thiserror::Error;
use tract_onnx::pb;
use tract_onnx::prelude::Framework;

use crate::model::{BatchNorm, Conv2d, Linear, Model, ModelError, Node, Op, Pool2d, Weights};

/// Largest ONNX file accepted.
pub const MAX_ONNX_BYTES: usize = 256 * 1024 * 1024;
/// Largest tensor (elements) accepted.
const MAX_ELEMS: usize = 1 << 26;
/// Largest dimension accepted in shapes and attributes.
const MAX_DIM: i64 = 1 << 16;

/// Why an ONNX model could not be imported.
#[derive(Debug, Error)]
pub enum OnnxError {
    /// Reading the file failed.
    #[error("{path}: I/O error: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_ONNX_BYTES`].
    #[error("ONNX file larger than {MAX_ONNX_BYTES} bytes")]
    TooLarge,
    /// The bytes are not an ONNX protobuf.
    #[error("not a valid ONNX protobuf: {0}")]
    Decode(String),
    /// The model has no graph.
    #[error("the ONNX model has no graph")]
    NoGraph,
    /// An operator we do not translate.
    #[error("node {node:?}: unsupported operator {op}")]
    UnsupportedOp {
        /// Node name (or `#index` when unnamed).
        node: String,
        /// ONNX op type.
        op: String,
    },
    /// A supported operator used in a way we do not translate.
    #[error("node {node:?} ({op}): {reason}")]
    Unsupported {
        /// Node name (or `#index` when unnamed).
        node: String,
        /// ONNX op type.
        op: String,
        /// What is not supported.
        reason: String,
    },
    /// A tensor a node needs is neither an initializer nor computed before it.
    #[error("node {node:?}: input {name:?} is not defined before use")]
    Undefined {
        /// Node name.
        node: String,
        /// Tensor name.
        name: String,
    },
    /// An initializer cannot be decoded.
    #[error("tensor {name:?}: {reason}")]
    BadTensor {
        /// Tensor name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The graph's input or output is not what we accept.
    #[error("graph interface: {0}")]
    Interface(String),
    /// The translated graph is inconsistent.
    #[error("translated model is invalid: {0}")]
    Model(#[from] ModelError),
    /// Running with tract failed.
    #[error("tract: {0}")]
    Tract(String),
}

/// Reads an ONNX file (size-bounded) into a native model.
pub fn import_onnx(path: impl AsRef<Path>) -> Result<Model, OnnxError> {
    import_onnx_bytes(&read_bounded(path.as_ref())?)
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, OnnxError> {
    let io = |source| OnnxError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(io)?
        .take(MAX_ONNX_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() > MAX_ONNX_BYTES {
        return Err(OnnxError::TooLarge);
    }
    Ok(bytes)
}

/// Translates ONNX bytes into a native model.
pub fn import_onnx_bytes(bytes: &[u8]) -> Result<Model, OnnxError> {
    if bytes.len() > MAX_ONNX_BYTES {
        return Err(OnnxError::TooLarge);
    }
    let proto = tract_onnx::onnx()
        .proto_model_for_read(&mut &bytes[..])
        .map_err(|e| OnnxError::Decode(format!("{e:#}")))?;
    let graph = proto.graph.as_ref().ok_or(OnnxError::NoGraph)?;
    Importer::new(graph)?.run(graph)
}

/// A decoded initializer.
struct Const {
    dims: Vec<usize>,
    values: Vec<f64>,
}

struct Importer {
    consts: HashMap<String, Const>,
    /// ONNX value name → native value id.
    values: HashMap<String, usize>,
    /// How many node inputs and graph outputs read each name.
    readers: HashMap<String, usize>,
    /// How many ONNX names refer to each native value id (Identity and folds alias).
    names: HashMap<usize, usize>,
    nodes: Vec<Node>,
    /// Shape of each native value id.
    shapes: Vec<Vec<usize>>,
}

impl Importer {
    fn new(graph: &pb::GraphProto) -> Result<Self, OnnxError> {
        let mut consts = HashMap::new();
        for t in &graph.initializer {
            consts.insert(t.name.clone(), decode_tensor(t)?);
        }
        let mut readers: HashMap<String, usize> = HashMap::new();
        for n in &graph.node {
            for i in &n.input {
                *readers.entry(i.clone()).or_default() += 1;
            }
        }
        for o in &graph.output {
            *readers.entry(o.name.clone()).or_default() += 1;
        }
        let inputs: Vec<&pb::ValueInfoProto> = graph
            .input
            .iter()
            .filter(|i| !consts.contains_key(&i.name))
            .collect();
        let [input] = inputs.as_slice() else {
            return Err(OnnxError::Interface(format!(
                "expected exactly one non-constant input, found {}",
                inputs.len()
            )));
        };
        let shape = input_shape(input)?;
        let mut values = HashMap::new();
        values.insert(input.name.clone(), 0);
        Ok(Importer {
            consts,
            values,
            readers,
            names: HashMap::from([(0, 1)]),
            nodes: Vec::new(),
            shapes: vec![shape],
        })
    }

    fn run(mut self, graph: &pb::GraphProto) -> Result<Model, OnnxError> {
        for (i, node) in graph.node.iter().enumerate() {
            self.node(i, node)?;
        }
        let [out] = graph.output.as_slice() else {
            return Err(OnnxError::Interface(format!(
                "expected exactly one output, found {}",
                graph.output.len()
            )));
        };
        let output = *self.values.get(&out.name).ok_or_else(|| {
            OnnxError::Interface(format!(
                "output {:?} is not computed by the graph",
                out.name
            ))
        })?;
        let input_shape = self.shapes[0].clone();
        Ok(Model::new(input_shape, self.nodes, output)?)
    }

    /// Appends a native node reading `inputs`, returning its value id.
    fn push(&mut self, op: Op, inputs: Vec<usize>, name: &str) -> Result<usize, OnnxError> {
        let id = self.nodes.len() + 1;
        self.nodes.push(Node { op, inputs });
        // Validate shapes now, so later translations can rely on them.
        let m =
            Model::new(self.shapes[0].clone(), self.nodes.clone(), id).map_err(|e| match e {
                ModelError::Shape { reason, op, .. } => OnnxError::Unsupported {
                    node: name.to_string(),
                    op: op.to_string(),
                    reason,
                },
                e => OnnxError::Model(e),
            })?;
        self.shapes.push(m.output_shape().to_vec());
        Ok(id)
    }

    fn node(&mut self, index: usize, node: &pb::NodeProto) -> Result<(), OnnxError> {
        let name = if node.name.is_empty() {
            format!("#{index}")
        } else {
            node.name.clone()
        };
        let op = node.op_type.as_str();
        let ctx = NodeCtx {
            name: &name,
            op,
            node,
        };
        if !node.domain.is_empty() && node.domain != "ai.onnx" {
            return Err(OnnxError::UnsupportedOp {
                node: name,
                op: format!("{}:{op}", node.domain),
            });
        }
        let out_name = match node.output.as_slice() {
            [o] => o.clone(),
            [o, rest @ ..] if rest.iter().all(String::is_empty) => o.clone(),
            _ => return Err(ctx.unsupported("more than one output")),
        };
        let id = match op {
            "Identity" => self.value(&ctx, 0)?,
            "Relu" => {
                let x = self.value(&ctx, 0)?;
                self.push(Op::Relu, vec![x], &name)?
            }
            "Conv" => self.conv(&ctx)?,
            "MaxPool" | "AveragePool" => {
                ctx.attrs_only(&[
                    "kernel_shape",
                    "strides",
                    "pads",
                    "ceil_mode",
                    "dilations",
                    "storage_order",
                    "auto_pad",
                    "count_include_pad",
                ])?;
                let x = self.value(&ctx, 0)?;
                let kernel = ctx.pair("kernel_shape", None)?;
                let stride = ctx.pair("strides", Some(1))?;
                ctx.require_zero("pads")?;
                ctx.require_int("ceil_mode", 0)?;
                ctx.require_int("storage_order", 0)?;
                ctx.require_ones("dilations")?;
                ctx.require_no_auto_pad()?;
                let p = Pool2d { kernel, stride };
                let op = if op == "MaxPool" {
                    Op::MaxPool(p)
                } else {
                    Op::AvgPool(p)
                };
                self.push(op, vec![x], &name)?
            }
            "GlobalAveragePool" => {
                let x = self.value(&ctx, 0)?;
                let s = self.shapes[x].clone();
                let [_, h, w] = s.as_slice() else {
                    return Err(ctx.unsupported("input is not [C, H, W]"));
                };
                self.push(
                    Op::AvgPool(Pool2d {
                        kernel: (*h, *w),
                        stride: (1, 1),
                    }),
                    vec![x],
                    &name,
                )?
            }
            "BatchNormalization" => self.batch_norm(&ctx)?,
            "Gemm" => self.gemm(&ctx)?,
            "MatMul" => {
                let x = self.flat_value(&ctx, 0)?;
                let b = self.constant(&ctx, 1)?;
                let [k, n] = b.dims[..] else {
                    return Err(ctx.unsupported("second input is not a 2-D constant"));
                };
                let weight = transpose(&b.values, k, n);
                let lin = Linear {
                    out_dim: n,
                    in_dim: k,
                    weight: weight.into(),
                    bias: vec![0.0; n].into(),
                };
                self.push(Op::Linear(lin), vec![x], &name)?
            }
            "Add" => self.add(&ctx)?,
            "Flatten" => {
                let axis = ctx.int("axis")?.unwrap_or(1);
                if axis != 1 {
                    return Err(ctx.unsupported("only axis 1 (keep the batch axis)"));
                }
                self.flatten(&ctx, 0)?
            }
            "Reshape" => {
                let x = self.value(&ctx, 0)?;
                let target = self.constant(&ctx, 1)?;
                let numel: usize = self.shapes[x].iter().product();
                let t: Vec<i64> = target.values.iter().map(|&v| v as i64).collect();
                let flat = match t[..] {
                    [b, f] => {
                        (f == numel as i64 && (b == -1 || b == 1 || b == 0))
                            || (f == -1 && (b == 1 || b == 0))
                    }
                    _ => false,
                };
                if !flat {
                    return Err(
                        ctx.unsupported(&format!("only reshapes to [batch, {numel}], not {t:?}"))
                    );
                }
                self.flatten(&ctx, 0)?
            }
            _ => {
                return Err(OnnxError::UnsupportedOp {
                    node: name,
                    op: op.to_string(),
                })
            }
        };
        self.values.insert(out_name, id);
        *self.names.entry(id).or_default() += 1;
        Ok(())
    }

    /// True when value `x` (named `src` in ONNX) is read only once and has no
    /// other name, so a following affine map may be folded into its producer.
    fn foldable(&self, src: &str, x: usize) -> bool {
        x > 0 && self.readers.get(src) == Some(&1) && self.names.get(&x) == Some(&1)
    }

    /// The computed value feeding input `i` of the node.
    fn value(&self, ctx: &NodeCtx, i: usize) -> Result<usize, OnnxError> {
        let n = ctx.input_name(i)?;
        if self.consts.contains_key(n) {
            return Err(ctx.unsupported(&format!(
                "input {i} ({n:?}) is a constant; expected a computed value"
            )));
        }
        self.values
            .get(n)
            .copied()
            .ok_or_else(|| OnnxError::Undefined {
                node: ctx.name.to_string(),
                name: n.to_string(),
            })
    }

    /// A computed value of rank 1 (Gemm/MatMul operands).
    fn flat_value(&self, ctx: &NodeCtx, i: usize) -> Result<usize, OnnxError> {
        let v = self.value(ctx, i)?;
        if self.shapes[v].len() != 1 {
            return Err(ctx.unsupported(&format!(
                "input of shape {:?}; flatten first",
                self.shapes[v]
            )));
        }
        Ok(v)
    }

    fn constant<'a>(&'a self, ctx: &NodeCtx, i: usize) -> Result<&'a Const, OnnxError> {
        let n = ctx.input_name(i)?;
        self.consts
            .get(n)
            .ok_or_else(|| ctx.unsupported(&format!("input {i} ({n:?}) must be an initializer")))
    }

    fn optional_constant<'a>(
        &'a self,
        ctx: &NodeCtx,
        i: usize,
    ) -> Result<Option<&'a Const>, OnnxError> {
        match ctx.node.input.get(i) {
            None => Ok(None),
            Some(n) if n.is_empty() => Ok(None),
            Some(_) => self.constant(ctx, i).map(Some),
        }
    }

    fn flatten(&mut self, ctx: &NodeCtx, i: usize) -> Result<usize, OnnxError> {
        let x = self.value(ctx, i)?;
        if self.shapes[x].len() == 1 {
            return Ok(x);
        }
        self.push(Op::Flatten, vec![x], ctx.name)
    }

    fn conv(&mut self, ctx: &NodeCtx) -> Result<usize, OnnxError> {
        ctx.attrs_only(&[
            "kernel_shape",
            "strides",
            "pads",
            "dilations",
            "group",
            "auto_pad",
        ])?;
        let x = self.value(ctx, 0)?;
        let w = self.constant(ctx, 1)?;
        let [out_c, in_c, kh, kw] = w.dims[..] else {
            return Err(ctx.unsupported("weight is not [out, in, kh, kw]"));
        };
        if let Some(k) = ctx.ints("kernel_shape")? {
            if k != [kh as i64, kw as i64] {
                return Err(ctx.unsupported("kernel_shape disagrees with the weight"));
            }
        }
        ctx.require_int("group", 1)?;
        ctx.require_ones("dilations")?;
        ctx.require_no_auto_pad()?;
        let stride = ctx.pair("strides", Some(1))?;
        let pad = match ctx.ints("pads")? {
            None => [0; 4],
            Some(p) => match p[..] {
                // ONNX order: top, left, bottom, right.
                [t, l, b, r] if [t, l, b, r].iter().all(|v| (0..MAX_DIM).contains(v)) => {
                    [t as usize, l as usize, b as usize, r as usize]
                }
                _ => return Err(ctx.unsupported("pads must be 4 non-negative values")),
            },
        };
        let bias = match self.optional_constant(ctx, 2)? {
            Some(b) if b.values.len() == out_c => b.values.clone(),
            Some(_) => return Err(ctx.unsupported("bias length differs from output channels")),
            None => vec![0.0; out_c],
        };
        let conv = Conv2d {
            out_c,
            in_c,
            kernel: (kh, kw),
            stride,
            pad,
            weight: w.values.clone().into(),
            bias: bias.into(),
        };
        self.push(Op::Conv2d(conv), vec![x], ctx.name)
    }

    fn batch_norm(&mut self, ctx: &NodeCtx) -> Result<usize, OnnxError> {
        ctx.attrs_only(&["epsilon", "momentum", "training_mode", "spatial"])?;
        ctx.require_int("training_mode", 0)?;
        let x = self.value(ctx, 0)?;
        let eps = ctx.float("epsilon")?.unwrap_or(1e-5);
        let p: Vec<Vec<f64>> = (1..5)
            .map(|i| self.constant(ctx, i).map(|c| c.values.clone()))
            .collect::<Result<_, _>>()?;
        let c = p[0].len();
        if p.iter().any(|v| v.len() != c) {
            return Err(ctx.unsupported("scale, bias, mean and var differ in length"));
        }
        let bn = BatchNorm {
            gamma: p[0].clone(),
            beta: p[1].clone(),
            mean: p[2].clone(),
            var: p[3].clone(),
            eps,
        };
        if bn.var.iter().any(|&v| v + eps <= 0.0) {
            return Err(ctx.unsupported("variance + epsilon must be positive"));
        }
        let affine = bn.to_affine();
        let src = ctx.input_name(0)?;
        if self.foldable(src, x) {
            if let Op::Conv2d(conv) = &mut self.nodes[x - 1].op {
                if conv.out_c == c {
                    conv.fold_affine(&affine);
                    return Ok(x);
                }
            }
        }
        self.push(Op::ChannelAffine(affine), vec![x], ctx.name)
    }

    fn gemm(&mut self, ctx: &NodeCtx) -> Result<usize, OnnxError> {
        ctx.attrs_only(&["alpha", "beta", "transA", "transB"])?;
        ctx.require_int("transA", 0)?;
        let x = self.flat_value(ctx, 0)?;
        let alpha = ctx.float("alpha")?.unwrap_or(1.0);
        let beta = ctx.float("beta")?.unwrap_or(1.0);
        let b = self.constant(ctx, 1)?;
        let [r, c] = b.dims[..] else {
            return Err(ctx.unsupported("B is not a 2-D constant"));
        };
        let (weight, out_dim, in_dim) = match ctx.int("transB")?.unwrap_or(0) {
            0 => (transpose(&b.values, r, c), c, r),
            1 => (b.values.clone(), r, c),
            _ => return Err(ctx.unsupported("transB must be 0 or 1")),
        };
        let bias = match self.optional_constant(ctx, 2)? {
            Some(c) if c.values.len() == out_dim => c.values.iter().map(|v| v * beta).collect(),
            Some(c) if c.values.len() == 1 => vec![c.values[0] * beta; out_dim],
            Some(_) => return Err(ctx.unsupported("C does not broadcast to the output")),
            None => vec![0.0; out_dim],
        };
        let weight: Vec<f64> = weight.iter().map(|v| v * alpha).collect();
        let lin = Linear {
            out_dim,
            in_dim,
            weight: weight.into(),
            bias: bias.into(),
        };
        self.push(Op::Linear(lin), vec![x], ctx.name)
    }

    fn add(&mut self, ctx: &NodeCtx) -> Result<usize, OnnxError> {
        let (a, b) = (ctx.input_name(0)?, ctx.input_name(1)?);
        let constant = match (self.consts.contains_key(a), self.consts.contains_key(b)) {
            (false, false) => {
                let (x, y) = (self.value(ctx, 0)?, self.value(ctx, 1)?);
                return self.push(Op::Add, vec![x, y], ctx.name);
            }
            (true, true) => return Err(ctx.unsupported("adds two constants")),
            (true, false) => (a, 1),
            (false, true) => (b, 0),
        };
        let (cname, vi) = constant;
        let x = self.value(ctx, vi)?;
        let src = ctx.input_name(vi)?;
        let c = &self.consts[cname].values;
        if self.foldable(src, x) {
            if let Op::Linear(lin) = &mut self.nodes[x - 1].op {
                if c.len() == lin.out_dim {
                    let bias: Vec<f64> = lin
                        .bias
                        .as_f64()
                        .iter()
                        .zip(c)
                        .map(|(u, v)| u + v)
                        .collect();
                    lin.bias = Weights::new(bias);
                    return Ok(x);
                }
            }
        }
        Err(ctx.unsupported("adding a constant is supported only as the bias of a MatMul"))
    }
}

/// The node being translated, for attribute access and error messages.
struct NodeCtx<'a> {
    name: &'a str,
    op: &'a str,
    node: &'a pb::NodeProto,
}

impl NodeCtx<'_> {
    fn unsupported(&self, reason: &str) -> OnnxError {
        OnnxError::Unsupported {
            node: self.name.to_string(),
            op: self.op.to_string(),
            reason: reason.to_string(),
        }
    }

    fn input_name(&self, i: usize) -> Result<&str, OnnxError> {
        match self.node.input.get(i) {
            Some(n) if !n.is_empty() => Ok(n),
            _ => Err(self.unsupported(&format!("missing input {i}"))),
        }
    }

    fn attr(&self, name: &str) -> Option<&pb::AttributeProto> {
        self.node.attribute.iter().find(|a| a.name == name)
    }

    fn attrs_only(&self, allowed: &[&str]) -> Result<(), OnnxError> {
        match self
            .node
            .attribute
            .iter()
            .find(|a| !allowed.contains(&a.name.as_str()))
        {
            Some(a) => Err(self.unsupported(&format!("attribute {:?}", a.name))),
            None => Ok(()),
        }
    }

    fn int(&self, name: &str) -> Result<Option<i64>, OnnxError> {
        Ok(self.attr(name).map(|a| a.i))
    }

    fn float(&self, name: &str) -> Result<Option<f64>, OnnxError> {
        match self.attr(name) {
            Some(a) if !a.f.is_finite() => Err(self.unsupported(&format!("{name} is not finite"))),
            a => Ok(a.map(|a| f64::from(a.f))),
        }
    }

    fn ints(&self, name: &str) -> Result<Option<Vec<i64>>, OnnxError> {
        Ok(self.attr(name).map(|a| a.ints.clone()))
    }

    /// A 2-element attribute of values in `1..MAX_DIM`, or `(d, d)` when absent.
    fn pair(&self, name: &str, default: Option<usize>) -> Result<(usize, usize), OnnxError> {
        match (self.ints(name)?, default) {
            (Some(v), _) => match v[..] {
                [a, b] if (1..MAX_DIM).contains(&a) && (1..MAX_DIM).contains(&b) => {
                    Ok((a as usize, b as usize))
                }
                _ => {
                    Err(self.unsupported(&format!("{name} must be two positive values, got {v:?}")))
                }
            },
            (None, Some(d)) => Ok((d, d)),
            (None, None) => Err(self.unsupported(&format!("missing attribute {name}"))),
        }
    }

    fn require_int(&self, name: &str, want: i64) -> Result<(), OnnxError> {
        match self.int(name)? {
            Some(v) if v != want => Err(self.unsupported(&format!("{name} = {v} (only {want})"))),
            _ => Ok(()),
        }
    }

    fn require_zero(&self, name: &str) -> Result<(), OnnxError> {
        match self.ints(name)? {
            Some(v) if v.iter().any(|&x| x != 0) => {
                Err(self.unsupported(&format!("{name} must be 0")))
            }
            _ => Ok(()),
        }
    }

    fn require_ones(&self, name: &str) -> Result<(), OnnxError> {
        match self.ints(name)? {
            Some(v) if v.iter().any(|&x| x != 1) => {
                Err(self.unsupported(&format!("{name} must be 1")))
            }
            _ => Ok(()),
        }
    }

    fn require_no_auto_pad(&self) -> Result<(), OnnxError> {
        match self.attr("auto_pad").map(|a| a.s.as_slice()) {
            None | Some(b"NOTSET") | Some(b"VALID") | Some(b"") => Ok(()),
            Some(_) => Err(self.unsupported("auto_pad SAME_* (give explicit pads)")),
        }
    }
}

/// Per-sample shape of the graph input: `[N, C, H, W]` → `[C, H, W]`, `[N, D]` → `[D]`.
fn input_shape(input: &pb::ValueInfoProto) -> Result<Vec<usize>, OnnxError> {
    use pb::tensor_shape_proto::dimension::Value;
    use pb::type_proto::Value as TypeValue;
    let err = |m: &str| OnnxError::Interface(format!("input {:?}: {m}", input.name));
    let Some(TypeValue::TensorType(t)) = input.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return Err(err("not a tensor"));
    };
    let dims = &t.shape.as_ref().ok_or_else(|| err("no shape"))?.dim;
    if dims.len() != 2 && dims.len() != 4 {
        return Err(err("expected [N, C, H, W] or [N, D]"));
    }
    dims[1..]
        .iter()
        .map(|d| match d.value {
            Some(Value::DimValue(v)) if (1..MAX_DIM).contains(&v) => Ok(v as usize),
            _ => Err(err("non-batch dimensions must be fixed positive numbers")),
        })
        .collect()
}

/// Decodes FLOAT, DOUBLE or INT64 initializers (raw or typed fields) to f64.
fn decode_tensor(t: &pb::TensorProto) -> Result<Const, OnnxError> {
    let bad = |reason: String| OnnxError::BadTensor {
        name: t.name.clone(),
        reason,
    };
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
            raw.chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect()
        }
        1 => t.float_data.iter().map(|&v| f64::from(v)).collect(),
        11 if !raw.is_empty() => {
            check_len(raw.len(), numel * 8).map_err(bad)?;
            raw.chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect()
        }
        11 => t.double_data.clone(),
        7 if !raw.is_empty() => {
            check_len(raw.len(), numel * 8).map_err(bad)?;
            raw.chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")) as f64)
                .collect()
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

/// `[r, c]` row-major → `[c, r]` row-major.
fn transpose(v: &[f64], r: usize, c: usize) -> Vec<f64> {
    (0..c)
        .flat_map(|j| (0..r).map(move |i| v[i * c + j]))
        .collect()
}

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
        Ok(TractModel {
            plan,
            sample_shape: sample_shape.to_vec(),
            batch,
        })
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
