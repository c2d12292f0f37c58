//! A model lowered to what ciphertexts can do: affine maps, ReLU and
//! elementwise max trees.
//!
//! Lowering fuses every chain of linear layers (convolution, batch norm,
//! average pooling, dense, flatten, residual additions) into one affine map
//! per value, which costs one level however many layers it folds. A max-pool
//! becomes `k²` *phases*, each an affine map that gathers one window offset
//! (fused into the preceding convolution when there is one), followed by an
//! elementwise tree of pairwise maxima: no rotation and no wasted slots. A
//! ReLU whose only reader is a max-pool is moved after it
//! (`maxpool∘ReLU = ReLU∘maxpool`, exactly), so it runs on a quarter of the
//! values. With [`ReluPool::Fused`] it then merges into the tree's last
//! pairwise max (`ReLU(max(a, b)) = max(ReLU a, ReLU b)`, gated by
//! `sgn(a − b)`): one more sign evaluation, side by side with the others,
//! for the sign's depth fewer levels.
//!
//! Every value belongs to a *scale class*: the encrypted circuit stores
//! `x / s_class`, where `s_class` bounds every ReLU input and every
//! max-pool difference of the class, so the composite sign always sees
//! arguments in `[−1, 1]`. ReLU and max commute with positive scaling, so
//! the factors cost nothing: they are folded into the affine maps around
//! them (the bound `B` of the design, per class rather than per node).

use std::collections::HashMap;

use hecnn_nn::model::{Conv2d, Linear, Model, Op, Pool2d, Tensor};

use super::error::CnnError;
use super::layout::{Geometry, Layout};

/// Sparse rows of a linear map: `rows[out] = [(in, weight)]`.
pub type Rows = Vec<Vec<(u32, f64)>>;

/// One value of the circuit.
#[derive(Clone, Debug)]
pub struct ValueInfo {
    /// Logical shape (`[C, H, W]` or `[n]`).
    pub shape: Vec<usize>,
    /// Where its elements live.
    pub layout: Layout,
    /// Scale class (index into the circuit's factors).
    pub class: usize,
    /// The model node that produced it (0 for the input).
    pub node: usize,
}

/// How a ReLU moved after a max-pool meets the pool's last pairwise max.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReluPool {
    /// `ReLU(max(a, b))`: two sign evaluations one after the other, twice a
    /// ReLU's depth; one sign evaluation fewer than [`ReluPool::Fused`].
    Sequential,
    /// [`Step::ReluMax`]: three sign evaluations side by side, a ReLU's depth
    /// plus one — the sign's depth fewer levels per pool. Without
    /// bootstrapping the chain is that much shorter (every operation and key
    /// cheaper); with it, a bootstrap (room for one sign, not two) holds the
    /// whole step, one refresh fewer per pool.
    #[default]
    Fused,
}

/// One step of the circuit.
#[derive(Clone, Debug)]
pub enum Step {
    /// `out = Σ_t M_t·value_t + bias` (actual units).
    Affine {
        /// Output value.
        out: usize,
        /// `(value, rows)` terms.
        terms: Vec<(usize, Rows)>,
        /// Bias per output element.
        bias: Vec<f64>,
        /// Model node that ends the fused chain.
        node: usize,
    },
    /// Elementwise ReLU.
    Relu {
        /// Input value.
        input: usize,
        /// Output value.
        out: usize,
        /// Model node.
        node: usize,
    },
    /// Elementwise max of two values (one level of a max-pool's pairwise
    /// tree).
    Max {
        /// The two inputs.
        inputs: Vec<usize>,
        /// Output value.
        out: usize,
        /// Model node.
        node: usize,
    },
    /// Elementwise `ReLU(max(a, b))` (a max-pool's last pairwise max with
    /// the ReLU moved after it, [`ReluPool::Fused`]).
    ReluMax {
        /// The two inputs.
        inputs: Vec<usize>,
        /// Output value.
        out: usize,
        /// Model node (the max-pool).
        node: usize,
    },
    /// Same ciphertexts, new logical shape (Flatten of a computed value).
    Reshape {
        /// Input value.
        input: usize,
        /// Output value.
        out: usize,
    },
}

impl Step {
    /// The model node of the step (for errors and reports).
    pub fn node(&self) -> usize {
        match self {
            Step::Affine { node, .. }
            | Step::Relu { node, .. }
            | Step::Max { node, .. }
            | Step::ReluMax { node, .. } => *node,
            Step::Reshape { .. } => 0,
        }
    }

    /// Output value.
    pub fn out(&self) -> usize {
        match self {
            Step::Affine { out, .. }
            | Step::Relu { out, .. }
            | Step::Max { out, .. }
            | Step::ReluMax { out, .. }
            | Step::Reshape { out, .. } => *out,
        }
    }

    /// Input values.
    pub fn inputs(&self) -> Vec<usize> {
        match self {
            Step::Affine { terms, .. } => terms.iter().map(|t| t.0).collect(),
            Step::Relu { input, .. } | Step::Reshape { input, .. } => vec![*input],
            Step::Max { inputs, .. } | Step::ReluMax { inputs, .. } => inputs.clone(),
        }
    }

    /// Short name for reports.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Affine { .. } => "affine",
            Step::Relu { .. } => "relu",
            Step::Max { .. } => "max",
            Step::ReluMax { .. } => "relu-max",
            Step::Reshape { .. } => "reshape",
        }
    }
}

/// The lowered model.
#[derive(Clone, Debug)]
pub struct Circuit {
    /// Slot geometry.
    pub geo: Geometry,
    /// Every value (`values[0]` is the input).
    pub values: Vec<ValueInfo>,
    /// Steps in evaluation order.
    pub steps: Vec<Step>,
    /// The output value.
    pub output: usize,
    /// Number of scale classes.
    pub classes: usize,
    /// Input shape `[C, H, W]`.
    pub input_shape: Vec<usize>,
}

/// The non-linearities of a plaintext run of the circuit (actual units).
pub trait CircuitActivation: Sync {
    /// ReLU of `x` in class `class`.
    fn relu(&self, class: usize, x: f64) -> f64;
    /// max of `a`, `b` in class `class`.
    fn max(&self, class: usize, a: f64, b: f64) -> f64;
    /// `ReLU(max(a, b))` in class `class`, as [`Step::ReluMax`] computes it.
    fn relu_max(&self, class: usize, a: f64, b: f64) -> f64;
}

/// Exact ReLU and max.
pub struct ExactActivation;

impl CircuitActivation for ExactActivation {
    fn relu(&self, _: usize, x: f64) -> f64 {
        x.max(0.0)
    }
    fn max(&self, _: usize, a: f64, b: f64) -> f64 {
        if b > a {
            b
        } else {
            a
        }
    }
    fn relu_max(&self, c: usize, a: f64, b: f64) -> f64 {
        self.relu(c, self.max(c, a, b))
    }
}

/// Symbolic value during lowering.
#[derive(Clone)]
enum Sym {
    /// A computed value.
    Val(usize),
    /// A pending affine expression.
    Expr(Expr),
    /// ReLU of a pending expression whose only reader is a max-pool.
    ReluOf(Expr, usize),
}

#[derive(Clone)]
struct Expr {
    terms: Vec<(usize, Rows)>,
    bias: Vec<f64>,
    shape: Vec<usize>,
    gap: usize,
}

struct Lowering<'a> {
    model: &'a Model,
    relu_pool: ReluPool,
    geo: Geometry,
    values: Vec<ValueInfo>,
    steps: Vec<Step>,
    parent: Vec<usize>,
}

impl Circuit {
    /// Lowers `model` for `batch` images per ciphertext of `slots` slots
    /// (the default [`ReluPool`]).
    pub fn lower(model: &Model, slots: usize, batch: usize) -> Result<Circuit, CnnError> {
        Self::lower_with(model, slots, batch, ReluPool::default())
    }

    /// [`Circuit::lower`] with a choice of how ReLUs meet max-pools.
    pub fn lower_with(model: &Model, slots: usize, batch: usize, relu_pool: ReluPool) -> Result<Circuit, CnnError> {
        let input_shape = model.input_shape().to_vec();
        let (c, h, w) = match *input_shape.as_slice() {
            [c, h, w] => (c, h, w),
            _ => {
                return Err(CnnError::Unsupported {
                    node: 0,
                    op: "input",
                    reason: format!("the input must be [C, H, W], the model takes {input_shape:?}"),
                })
            }
        };
        let geo = Geometry { slots, batch, grid_h: h, grid_w: w };
        if batch == 0 || geo.block() > geo.positions() {
            return Err(CnnError::BatchTooLarge { images: batch, capacity: Geometry::max_batch(slots, h, w) });
        }
        let input_layout = Layout::grid(&geo, &[c, h, w], 1).ok_or_else(|| CnnError::Unsupported {
            node: 0,
            op: "input",
            reason: format!("an empty input {input_shape:?}"),
        })?;
        let mut lw = Lowering { model, relu_pool, geo, values: Vec::new(), steps: Vec::new(), parent: Vec::new() };
        lw.new_value(input_shape.clone(), input_layout, None, 0);
        let readers = reader_counts(model);
        let mut syms: Vec<Option<Sym>> = vec![Some(Sym::Val(0))];
        for (i, node) in model.nodes().iter().enumerate() {
            let arg = |k: usize| syms[node.inputs[k]].clone().expect("inputs precede readers");
            let in_shape = model.value_shape(node.inputs[0]).expect("valid model").to_vec();
            let out_shape = model.value_shape(i + 1).expect("valid model").to_vec();
            let sym = match &node.op {
                Op::Conv2d(conv) => {
                    let e = lw.expr(arg(0), i)?;
                    let (rows, bias) = conv_rows(conv, &in_shape, &out_shape);
                    Sym::Expr(compose(&e, &rows, &bias, out_shape, e.gap * conv.stride.0.max(conv.stride.1)))
                }
                Op::ChannelAffine(a) => {
                    let e = lw.expr(arg(0), i)?;
                    let per = in_shape.iter().product::<usize>() / a.scale.len().max(1);
                    let rows = (0..out_shape.iter().product::<usize>())
                        .map(|k| vec![(k as u32, a.scale.as_f64()[k / per])])
                        .collect::<Rows>();
                    let bias = (0..rows.len()).map(|k| a.shift.as_f64()[k / per]).collect::<Vec<_>>();
                    Sym::Expr(compose(&e, &rows, &bias, out_shape, e.gap))
                }
                Op::AvgPool(p) => {
                    let e = lw.expr(arg(0), i)?;
                    let rows = pool_rows(p, &in_shape, &out_shape, None);
                    let bias = vec![0.0; rows.len()];
                    Sym::Expr(compose(&e, &rows, &bias, out_shape, e.gap * p.stride.0.max(p.stride.1)))
                }
                Op::Linear(l) => {
                    let e = lw.expr(arg(0), i)?;
                    let (rows, bias) = linear_rows(l);
                    Sym::Expr(compose(&e, &rows, &bias, out_shape, 1))
                }
                Op::Flatten => match arg(0) {
                    Sym::Val(v) => {
                        let layout = lw.values[v].layout.clone();
                        let class = lw.values[v].class;
                        let out = lw.new_value(out_shape, layout, Some(class), i);
                        lw.steps.push(Step::Reshape { input: v, out });
                        Sym::Val(out)
                    }
                    other => {
                        let mut e = lw.expr(other, i)?;
                        e.shape = out_shape;
                        Sym::Expr(e)
                    }
                },
                Op::Add => {
                    let (a, b) = (lw.expr(arg(0), i)?, lw.expr(arg(1), i)?);
                    Sym::Expr(add_exprs(a, b))
                }
                Op::Relu => match arg(0) {
                    Sym::Expr(e) if readers[i + 1] == 1 && reads_only_max_pool(model, i + 1) => Sym::ReluOf(e, i),
                    other => {
                        let v = lw.materialize(other, i)?;
                        Sym::Val(lw.relu(v, i))
                    }
                },
                Op::MaxPool(p) => {
                    let (e, relu_node) = match arg(0) {
                        Sym::ReluOf(e, r) => (e, Some(r)),
                        other => (lw.expr(other, i)?, None),
                    };
                    let gap = e.gap * p.stride.0.max(p.stride.1);
                    let mut phases = Vec::new();
                    for ky in 0..p.kernel.0 {
                        for kx in 0..p.kernel.1 {
                            let rows = pool_rows(p, &in_shape, &out_shape, Some((ky, kx)));
                            let bias = vec![0.0; rows.len()];
                            let phase = compose(&e, &rows, &bias, out_shape.clone(), gap);
                            phases.push(lw.emit_affine(phase, i)?);
                        }
                    }
                    let class = lw.values[phases[0]].class;
                    for &ph in &phases[1..] {
                        lw.union(class, lw.values[ph].class);
                    }
                    Sym::Val(lw.max_tree(phases, out_shape, class, i, relu_node))
                }
            };
            syms.push(Some(sym));
        }
        let out_sym = syms[model.output()].clone().expect("output computed");
        let output = lw.materialize(out_sym, model.output().saturating_sub(1))?;
        // Compact the union-find into class ids.
        let mut ids = HashMap::new();
        let roots: Vec<usize> = (0..lw.values.len()).map(|v| lw.find(lw.values[v].class)).collect();
        for (v, r) in roots.into_iter().enumerate() {
            let next = ids.len();
            lw.values[v].class = *ids.entry(r).or_insert(next);
        }
        Ok(Circuit { geo, values: lw.values, steps: lw.steps, output, classes: ids.len(), input_shape })
    }

    /// Runs the circuit on one image in plaintext (actual units); returns
    /// every value's elements.
    pub fn eval(&self, image: &[f64], act: &dyn CircuitActivation) -> Vec<Vec<f64>> {
        let mut vals: Vec<Vec<f64>> = vec![Vec::new(); self.values.len()];
        vals[0] = image.to_vec();
        for step in &self.steps {
            let out = match step {
                Step::Affine { terms, bias, .. } => {
                    let mut y = bias.clone();
                    for (v, rows) in terms {
                        let x = &vals[*v];
                        for (yo, row) in y.iter_mut().zip(rows) {
                            *yo += row.iter().map(|&(k, w)| w * x[k as usize]).sum::<f64>();
                        }
                    }
                    y
                }
                Step::Relu { input, out, .. } => {
                    let c = self.values[*out].class;
                    vals[*input].iter().map(|&x| act.relu(c, x)).collect()
                }
                Step::Max { inputs, out, .. } => {
                    let c = self.values[*out].class;
                    vals[inputs[0]].iter().zip(&vals[inputs[1]]).map(|(&a, &b)| act.max(c, a, b)).collect()
                }
                Step::ReluMax { inputs, out, .. } => {
                    let c = self.values[*out].class;
                    vals[inputs[0]].iter().zip(&vals[inputs[1]]).map(|(&a, &b)| act.relu_max(c, a, b)).collect()
                }
                Step::Reshape { input, .. } => vals[*input].clone(),
            };
            vals[step.out()] = out;
        }
        vals
    }

    /// The output of [`Circuit::eval`] only.
    pub fn eval_output(&self, image: &[f64], act: &dyn CircuitActivation) -> Vec<f64> {
        self.eval(image, act).swap_remove(self.output)
    }

    /// Per class: the largest ReLU |input| and max-pool difference range
    /// seen on `images` (exact run). Classes without a non-linearity get 0.
    pub fn observed_ranges(&self, images: &[Tensor<f64>]) -> Vec<f64> {
        use rayon::prelude::*;
        images
            .par_iter()
            .map(|img| {
                let vals = self.eval(img.data(), &ExactActivation);
                let mut r = vec![0.0f64; self.classes];
                for step in &self.steps {
                    match step {
                        Step::Relu { input, out, .. } => {
                            let c = self.values[*out].class;
                            r[c] = vals[*input].iter().fold(r[c], |m, x| m.max(x.abs()));
                        }
                        Step::Max { inputs, out, .. } | Step::ReluMax { inputs, out, .. } => {
                            let c = self.values[*out].class;
                            if matches!(step, Step::ReluMax { .. }) {
                                // Its ReLUs see the inputs themselves.
                                for &v in inputs {
                                    r[c] = vals[v].iter().fold(r[c], |m, x| m.max(x.abs()));
                                }
                            }
                            let (lo, hi) = inputs
                                .iter()
                                .flat_map(|&v| vals[v].iter())
                                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)));
                            if hi >= lo {
                                r[c] = r[c].max(hi - lo);
                            }
                        }
                        _ => {}
                    }
                }
                r
            })
            .reduce(|| vec![0.0; self.classes], |a, b| a.iter().zip(&b).map(|(x, y)| x.max(*y)).collect())
    }

    /// Non-linear steps (ReLU and pairwise maxima) and their sign evaluations per ciphertext.
    pub fn sign_evaluations(&self) -> usize {
        self.steps
            .iter()
            .map(|s| match s {
                Step::Relu { out, .. } => self.values[*out].layout.cts,
                Step::Max { out, .. } => self.values[*out].layout.cts,
                Step::ReluMax { out, .. } => 3 * self.values[*out].layout.cts,
                _ => 0,
            })
            .sum()
    }
}

impl Lowering<'_> {
    fn new_value(&mut self, shape: Vec<usize>, layout: Layout, class: Option<usize>, node: usize) -> usize {
        let id = self.values.len();
        let class = class.unwrap_or_else(|| {
            self.parent.push(self.parent.len());
            self.parent.len() - 1
        });
        self.values.push(ValueInfo { shape, layout, class, node });
        id
    }

    fn find(&mut self, mut c: usize) -> usize {
        while self.parent[c] != c {
            self.parent[c] = self.parent[self.parent[c]];
            c = self.parent[c];
        }
        c
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent[rb] = ra;
        }
    }

    fn relu(&mut self, v: usize, node: usize) -> usize {
        let (shape, layout, class) =
            (self.values[v].shape.clone(), self.values[v].layout.clone(), self.values[v].class);
        let out = self.new_value(shape, layout, Some(class), node);
        self.steps.push(Step::Relu { input: v, out, node });
        out
    }

    /// Pairwise maxima in the order of the plaintext max-pool (pairs
    /// (0,1), (2,3), …, an odd last one carried), one step per pair so the
    /// planner can bootstrap between tree levels; then the ReLU moved after
    /// the pool (model node `relu`), fused into the last max when
    /// [`ReluPool::Fused`].
    fn max_tree(
        &mut self,
        mut level: Vec<usize>,
        shape: Vec<usize>,
        class: usize,
        node: usize,
        relu: Option<usize>,
    ) -> usize {
        let fuse = relu.is_some() && self.relu_pool == ReluPool::Fused;
        let mut fused = false;
        while level.len() > 1 {
            let last = level.len() == 2;
            let mut next = Vec::with_capacity(level.len().div_ceil(2));
            for pair in level.chunks(2) {
                next.push(match *pair {
                    [a, b] => {
                        let layout = self.values[a].layout.clone();
                        let out = self.new_value(shape.clone(), layout, Some(class), node);
                        let inputs = vec![a, b];
                        fused = fuse && last;
                        self.steps.push(if fused {
                            Step::ReluMax { inputs, out, node }
                        } else {
                            Step::Max { inputs, out, node }
                        });
                        out
                    }
                    [a] => a,
                    _ => unreachable!("chunks of 2"),
                });
            }
            level = next;
        }
        let out = level[0];
        match relu {
            Some(r) if !fused => self.relu(out, r),
            _ => out,
        }
    }

    fn expr(&mut self, sym: Sym, _node: usize) -> Result<Expr, CnnError> {
        Ok(match sym {
            Sym::Expr(e) => e,
            Sym::Val(v) => identity(v, &self.values[v]),
            Sym::ReluOf(e, r) => {
                let v = self.emit_affine(e, r)?;
                let out = self.relu(v, r);
                identity(out, &self.values[out])
            }
        })
    }

    fn materialize(&mut self, sym: Sym, node: usize) -> Result<usize, CnnError> {
        match sym {
            Sym::Val(v) => Ok(v),
            other => {
                let e = self.expr(other, node)?;
                self.emit_affine(e, node)
            }
        }
    }

    /// Chooses the output layout (gapped grid, else the flat stride with the
    /// fewest diagonals) and emits the affine step.
    fn emit_affine(&mut self, e: Expr, node: usize) -> Result<usize, CnnError> {
        let layout = match Layout::grid(&self.geo, &e.shape, e.gap) {
            Some(l) if e.shape.len() == 3 && e.shape[1] * e.shape[2] > 1 => l,
            _ => self.best_flat(&e, node)?,
        };
        let out = self.new_value(e.shape.clone(), layout, None, node);
        self.steps.push(Step::Affine { out, terms: e.terms, bias: e.bias, node });
        Ok(out)
    }

    fn best_flat(&self, e: &Expr, node: usize) -> Result<Layout, CnnError> {
        let len = e.bias.len();
        let mut best: Option<(usize, Layout)> = None;
        // Strides 1, 2, 4, … while the vector still fits one ciphertext.
        let max_stride = (self.geo.positions() / len.max(1)).max(1);
        let mut stride = 1;
        while stride <= max_stride {
            if let Some(l) = Layout::flat(&self.geo, len, stride) {
                let mut diags = std::collections::HashSet::new();
                for (v, rows) in &e.terms {
                    let inl = &self.values[*v].layout;
                    for (o, row) in rows.iter().enumerate() {
                        for &(k, _) in row {
                            let (ci, pi) = inl.pos[k as usize];
                            let (co, po) = l.pos[o];
                            diags.insert((*v, ci, co, pi as i64 - po as i64));
                        }
                    }
                }
                if best.as_ref().is_none_or(|(d, _)| diags.len() < *d) {
                    best = Some((diags.len(), l));
                }
            }
            stride *= 2;
        }
        best.map(|b| b.1).ok_or_else(|| CnnError::Unsupported {
            node,
            op: self.model.nodes()[node].op.name(),
            reason: format!("{len} values do not fit the slots"),
        })
    }
}

fn identity(v: usize, info: &ValueInfo) -> Expr {
    let n = info.layout.len();
    Expr {
        terms: vec![(v, (0..n).map(|k| vec![(k as u32, 1.0)]).collect())],
        bias: vec![0.0; n],
        shape: info.shape.clone(),
        gap: info.layout.gap,
    }
}

/// `op ∘ e`: rows of `op` over `e`'s output elements.
fn compose(e: &Expr, rows: &Rows, bias: &[f64], shape: Vec<usize>, gap: usize) -> Expr {
    let terms = e
        .terms
        .iter()
        .map(|(v, inner)| {
            let composed = rows
                .iter()
                .map(|row| {
                    let mut acc: Vec<(u32, f64)> = row
                        .iter()
                        .flat_map(|&(k, w)| inner[k as usize].iter().map(move |&(j, u)| (j, w * u)))
                        .collect();
                    merge(&mut acc);
                    acc
                })
                .collect();
            (*v, composed)
        })
        .collect();
    let bias = rows
        .iter()
        .zip(bias)
        .map(|(row, b)| b + row.iter().map(|&(k, w)| w * e.bias[k as usize]).sum::<f64>())
        .collect();
    Expr { terms, bias, shape, gap }
}

fn add_exprs(mut a: Expr, b: Expr) -> Expr {
    for (v, rows) in b.terms {
        if let Some((_, mine)) = a.terms.iter_mut().find(|(u, _)| *u == v) {
            for (m, r) in mine.iter_mut().zip(rows) {
                m.extend(r);
                merge(m);
            }
        } else {
            a.terms.push((v, rows));
        }
    }
    a.bias.iter_mut().zip(&b.bias).for_each(|(x, y)| *x += y);
    a.gap = a.gap.max(b.gap);
    a
}

fn merge(row: &mut Vec<(u32, f64)>) {
    row.sort_unstable_by_key(|e| e.0);
    let mut out: Vec<(u32, f64)> = Vec::with_capacity(row.len());
    for &(k, w) in row.iter() {
        match out.last_mut() {
            Some(last) if last.0 == k => last.1 += w,
            _ => out.push((k, w)),
        }
    }
    out.retain(|e| e.1 != 0.0);
    *row = out;
}

fn conv_rows(conv: &Conv2d, input: &[usize], out: &[usize]) -> (Rows, Vec<f64>) {
    let (ic, ih, iw) = (input[0], input[1], input[2]);
    let (oc, oh, ow) = (out[0], out[1], out[2]);
    let (kh, kw) = conv.kernel;
    let (sh, sw) = conv.stride;
    let (pt, pl) = (conv.pad[0] as isize, conv.pad[1] as isize);
    let w = conv.weight.as_f64();
    let mut rows = Vec::with_capacity(oc * oh * ow);
    let mut bias = Vec::with_capacity(oc * oh * ow);
    for o in 0..oc {
        for y in 0..oh {
            for x in 0..ow {
                let mut row = Vec::new();
                for c in 0..ic {
                    for ky in 0..kh {
                        let iy = (y * sh + ky) as isize - pt;
                        if iy < 0 || iy >= ih as isize {
                            continue;
                        }
                        for kx in 0..kw {
                            let ix = (x * sw + kx) as isize - pl;
                            if ix < 0 || ix >= iw as isize {
                                continue;
                            }
                            let wv = w[((o * ic + c) * kh + ky) * kw + kx];
                            if wv != 0.0 {
                                row.push((((c * ih + iy as usize) * iw + ix as usize) as u32, wv));
                            }
                        }
                    }
                }
                rows.push(row);
                bias.push(conv.bias.as_f64()[o]);
            }
        }
    }
    (rows, bias)
}

/// Average pool rows, or with `phase = Some((ky, kx))` the selection of that
/// window offset (one max-pool phase).
fn pool_rows(p: &Pool2d, input: &[usize], out: &[usize], phase: Option<(usize, usize)>) -> Rows {
    let (ih, iw) = (input[1], input[2]);
    let (oc, oh, ow) = (out[0], out[1], out[2]);
    let inv = 1.0 / (p.kernel.0 * p.kernel.1) as f64;
    let mut rows = Vec::with_capacity(oc * oh * ow);
    for c in 0..oc {
        for y in 0..oh {
            for x in 0..ow {
                let at = |ky: usize, kx: usize| ((c * ih + y * p.stride.0 + ky) * iw + x * p.stride.1 + kx) as u32;
                rows.push(match phase {
                    Some((ky, kx)) => vec![(at(ky, kx), 1.0)],
                    None => (0..p.kernel.0).flat_map(|ky| (0..p.kernel.1).map(move |kx| (at(ky, kx), inv))).collect(),
                });
            }
        }
    }
    rows
}

fn linear_rows(l: &Linear) -> (Rows, Vec<f64>) {
    let w = l.weight.as_f64();
    let rows = (0..l.out_dim)
        .map(|o| {
            (0..l.in_dim).filter(|&i| w[o * l.in_dim + i] != 0.0).map(|i| (i as u32, w[o * l.in_dim + i])).collect()
        })
        .collect();
    (rows, l.bias.as_f64().to_vec())
}

/// How many nodes (and the output) read each value.
fn reader_counts(model: &Model) -> Vec<usize> {
    let mut r = vec![0; model.nodes().len() + 1];
    for n in model.nodes() {
        for &v in &n.inputs {
            r[v] += 1;
        }
    }
    r[model.output()] += 1;
    r
}

fn reads_only_max_pool(model: &Model, value: usize) -> bool {
    value != model.output()
        && model.nodes().iter().filter(|n| n.inputs.contains(&value)).all(|n| matches!(n.op, Op::MaxPool(_)))
}
