//! The graph walk: ONNX nodes in order become native nodes; batch norms and
//! constant biases are folded into their producers when nothing else reads them.

use std::collections::HashMap;

use tract_onnx::pb;

use super::attrs::NodeCtx;
use super::tensor::{decode_tensor, Const};
use super::{OnnxError, MAX_DIM};
use crate::model::{BatchNorm, Conv2d, Linear, Model, ModelError, Node, Op, Pool2d, Weights};

pub(super) struct Importer {
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
    pub(super) fn new(graph: &pb::GraphProto) -> Result<Self, OnnxError> {
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
        let inputs: Vec<&pb::ValueInfoProto> = graph.input.iter().filter(|i| !consts.contains_key(&i.name)).collect();
        let [input] = inputs.as_slice() else {
            return Err(OnnxError::Interface(format!(
                "expected exactly one non-constant input, found {}",
                inputs.len()
            )));
        };
        let shape = input_shape(input)?;
        let mut values = HashMap::new();
        values.insert(input.name.clone(), 0);
        Ok(Importer { consts, values, readers, names: HashMap::from([(0, 1)]), nodes: Vec::new(), shapes: vec![shape] })
    }

    pub(super) fn run(mut self, graph: &pb::GraphProto) -> Result<Model, OnnxError> {
        for (i, node) in graph.node.iter().enumerate() {
            self.node(i, node)?;
        }
        let [out] = graph.output.as_slice() else {
            return Err(OnnxError::Interface(format!("expected exactly one output, found {}", graph.output.len())));
        };
        let output = *self
            .values
            .get(&out.name)
            .ok_or_else(|| OnnxError::Interface(format!("output {:?} is not computed by the graph", out.name)))?;
        let input_shape = self.shapes[0].clone();
        Ok(Model::new(input_shape, self.nodes, output)?)
    }

    /// Appends a native node reading `inputs`, returning its value id.
    fn push(&mut self, op: Op, inputs: Vec<usize>, name: &str) -> Result<usize, OnnxError> {
        let id = self.nodes.len() + 1;
        self.nodes.push(Node { op, inputs });
        // Validate shapes now, so later translations can rely on them.
        let m = Model::new(self.shapes[0].clone(), self.nodes.clone(), id).map_err(|e| match e {
            ModelError::Shape { reason, op, .. } => {
                OnnxError::Unsupported { node: name.to_string(), op: op.to_string(), reason }
            }
            e => OnnxError::Model(e),
        })?;
        self.shapes.push(m.output_shape().to_vec());
        Ok(id)
    }

    fn node(&mut self, index: usize, node: &pb::NodeProto) -> Result<(), OnnxError> {
        let name = if node.name.is_empty() { format!("#{index}") } else { node.name.clone() };
        let op = node.op_type.as_str();
        let ctx = NodeCtx { name: &name, op, node };
        if !node.domain.is_empty() && node.domain != "ai.onnx" {
            return Err(OnnxError::UnsupportedOp { node: name, op: format!("{}:{op}", node.domain) });
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
                let op = if op == "MaxPool" { Op::MaxPool(p) } else { Op::AvgPool(p) };
                self.push(op, vec![x], &name)?
            }
            "GlobalAveragePool" => {
                let x = self.value(&ctx, 0)?;
                let s = self.shapes[x].clone();
                let [_, h, w] = s.as_slice() else {
                    return Err(ctx.unsupported("input is not [C, H, W]"));
                };
                self.push(Op::AvgPool(Pool2d { kernel: (*h, *w), stride: (1, 1) }), vec![x], &name)?
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
                let lin = Linear { out_dim: n, in_dim: k, weight: weight.into(), bias: vec![0.0; n].into() };
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
                    [b, f] => (f == numel as i64 && (b == -1 || b == 1 || b == 0)) || (f == -1 && (b == 1 || b == 0)),
                    _ => false,
                };
                if !flat {
                    return Err(ctx.unsupported(&format!("only reshapes to [batch, {numel}], not {t:?}")));
                }
                self.flatten(&ctx, 0)?
            }
            _ => return Err(OnnxError::UnsupportedOp { node: name, op: op.to_string() }),
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
            return Err(ctx.unsupported(&format!("input {i} ({n:?}) is a constant; expected a computed value")));
        }
        self.values
            .get(n)
            .copied()
            .ok_or_else(|| OnnxError::Undefined { node: ctx.name.to_string(), name: n.to_string() })
    }

    /// A computed value of rank 1 (Gemm/MatMul operands).
    fn flat_value(&self, ctx: &NodeCtx, i: usize) -> Result<usize, OnnxError> {
        let v = self.value(ctx, i)?;
        if self.shapes[v].len() != 1 {
            return Err(ctx.unsupported(&format!("input of shape {:?}; flatten first", self.shapes[v])));
        }
        Ok(v)
    }

    fn constant<'a>(&'a self, ctx: &NodeCtx, i: usize) -> Result<&'a Const, OnnxError> {
        let n = ctx.input_name(i)?;
        self.consts.get(n).ok_or_else(|| ctx.unsupported(&format!("input {i} ({n:?}) must be an initializer")))
    }

    fn optional_constant<'a>(&'a self, ctx: &NodeCtx, i: usize) -> Result<Option<&'a Const>, OnnxError> {
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
        ctx.attrs_only(&["kernel_shape", "strides", "pads", "dilations", "group", "auto_pad"])?;
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
        let conv =
            Conv2d { out_c, in_c, kernel: (kh, kw), stride, pad, weight: w.values.clone().into(), bias: bias.into() };
        self.push(Op::Conv2d(conv), vec![x], ctx.name)
    }

    fn batch_norm(&mut self, ctx: &NodeCtx) -> Result<usize, OnnxError> {
        ctx.attrs_only(&["epsilon", "momentum", "training_mode", "spatial"])?;
        ctx.require_int("training_mode", 0)?;
        let x = self.value(ctx, 0)?;
        let eps = ctx.float("epsilon")?.unwrap_or(1e-5);
        let p: Vec<Vec<f64>> =
            (1..5).map(|i| self.constant(ctx, i).map(|c| c.values.clone())).collect::<Result<_, _>>()?;
        let c = p[0].len();
        if p.iter().any(|v| v.len() != c) {
            return Err(ctx.unsupported("scale, bias, mean and var differ in length"));
        }
        let bn = BatchNorm { gamma: p[0].clone(), beta: p[1].clone(), mean: p[2].clone(), var: p[3].clone(), eps };
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
        let lin = Linear { out_dim, in_dim, weight: weight.into(), bias: bias.into() };
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
                    let bias: Vec<f64> = lin.bias.as_f64().iter().zip(c).map(|(u, v)| u + v).collect();
                    lin.bias = Weights::new(bias);
                    return Ok(x);
                }
            }
        }
        Err(ctx.unsupported("adding a constant is supported only as the bias of a MatMul"))
    }
}

/// Per-sample shape of the graph input: `[N, C, H, W]` → `[C, H, W]`, `[N, D]` → `[D]`.
fn input_shape(input: &pb::ValueInfoProto) -> Result<Vec<usize>, OnnxError> {
    use pb::tensor_shape_proto::dimension::Value;
    use pb::type_proto::Value as TypeValue;
    let err = |m: &str| OnnxError::Interface(format!("input {:?}: {m}", input.name));
    let Some(TypeValue::TensorType(t)) = input.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
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

/// `[r, c]` row-major → `[c, r]` row-major.
fn transpose(v: &[f64], r: usize, c: usize) -> Vec<f64> {
    (0..c).flat_map(|j| (0..r).map(move |i| v[i * c + j])).collect()
}
