//! Fuzz targets of the plaintext loaders: MNIST IDX images and labels (raw
//! and gzip), the MNIST directory loader, the feature CSV reader, the `.bin`
//! model format and the ONNX importer.
//!
//! Each target mutates a file of the seed corpus (`fuzz/corpus/{mnist,csv,
//! nn,onnx}`, made by [`corpus_loads`] when `HECNN_FUZZ_REGENERATE=1`) and
//! feeds it to its reader through a file, then uses what loads (a forward
//! pass, a round trip). The property: `Ok` or `Err`, never a panic, within
//! the time and heap bounds of the harness. `HECNN_FUZZ_CASES=N` runs N
//! cases per target (fuzz/README.md).

#[path = "../../../fuzz/harness.rs"]
mod harness;

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use harness::{any_mutations, apply_all, apply_any, mutations, outcome, run_bounded, tally, Mutation};
use hecnn_nn::csv::{format_features, read_features, FeatureSet};
use hecnn_nn::mnist::{load_images, load_labels, Mnist};
use hecnn_nn::model::{ChannelAffine, Conv2d, Linear, Model, Node, Op, Pool2d, Tensor};
use proptest::prelude::*;
#[cfg(feature = "onnx")]
use proptest::sample::Index;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::OnceLock;

#[global_allocator]
static ALLOC: harness::Counting = harness::Counting;

/// Default cases per target.
const CASES: u32 = 1024;

const IMAGES: &str = "train-images.idx3-ubyte";
const LABELS: &str = "train-labels.idx1-ubyte";
const TEST_IMAGES: &str = "t10k-images.idx3-ubyte.gz";
const TEST_LABELS: &str = "t10k-labels.idx1-ubyte.gz";
const ONNX: &[&str] = &["aliased_bn.onnx", "grouped_conv.onnx", "mixed_ops.onnx", "unsupported_op.onnx"];

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

/// The first `n` images (or labels) of a bundled IDX file, as IDX bytes.
fn idx_head(path: &Path, n: usize, images: bool) -> Vec<u8> {
    let all = gunzip(&std::fs::read(path).unwrap());
    let (header, item) = if images { (16, 784) } else { (8, 1) };
    let mut out = all[..header].to_vec();
    out[4..8].copy_from_slice(&(n as u32).to_be_bytes());
    out.extend_from_slice(&all[header..header + n * item]);
    out
}

/// A model with one node of every kind (all eight tags of the format).
fn all_ops_model() -> Model {
    // Weights the format stores exactly (f32).
    let w = |n: usize, s: f64| -> Vec<f64> {
        (0..n).map(|i| f64::from((((i as f64) * 0.37 + s).sin() * 0.5) as f32)).collect()
    };
    let nodes = vec![
        Node {
            op: Op::Conv2d(Conv2d {
                out_c: 2,
                in_c: 2,
                kernel: (3, 3),
                stride: (1, 1),
                pad: [1, 1, 1, 1],
                weight: w(36, 0.0).into(),
                bias: w(2, 1.0).into(),
            }),
            inputs: vec![0],
        },
        Node {
            op: Op::ChannelAffine(ChannelAffine { scale: w(2, 2.0).into(), shift: w(2, 3.0).into() }),
            inputs: vec![1],
        },
        Node { op: Op::Relu, inputs: vec![2] },
        Node { op: Op::Add, inputs: vec![3, 0] },
        Node { op: Op::MaxPool(Pool2d::square(2)), inputs: vec![4] },
        Node { op: Op::AvgPool(Pool2d { kernel: (1, 1), stride: (1, 1) }), inputs: vec![5] },
        Node { op: Op::Flatten, inputs: vec![6] },
        Node {
            op: Op::Linear(Linear { out_dim: 3, in_dim: 18, weight: w(54, 4.0).into(), bias: w(3, 5.0).into() }),
            inputs: vec![7],
        },
    ];
    Model::new(vec![2, 6, 6], nodes, 8).unwrap()
}

/// Writes the corpus from the bundled MNIST, the bundled ONNX test
/// graphs and a model of every layer kind.
fn write_corpus() {
    let mnist = hecnn_nn::mnist::bundled_mnist_dir();
    harness::write_corpus(&format!("mnist/{IMAGES}"), &idx_head(&mnist.join("train-images.idx3-ubyte.gz"), 3, true));
    harness::write_corpus(&format!("mnist/{LABELS}"), &idx_head(&mnist.join("train-labels.idx1-ubyte.gz"), 3, false));
    let test_images = idx_head(&mnist.join("t10k-images.idx3-ubyte.gz"), 2, true);
    harness::write_corpus(&format!("mnist/{TEST_IMAGES}"), &gzip(&test_images));
    let test_labels = idx_head(&mnist.join("t10k-labels.idx1-ubyte.gz"), 2, false);
    harness::write_corpus(&format!("mnist/{TEST_LABELS}"), &gzip(&test_labels));
    let set = FeatureSet {
        labels: vec![0, 3, 9, 1, 7, 5],
        features: (0..6)
            .map(|i| (0..4).map(|j| ((i * 4 + j) as f64 * 0.731).sin() * 10f64.powi(j - 1)).collect())
            .collect(),
    };
    harness::write_corpus("csv/features.csv", format_features(&set).unwrap().as_bytes());
    // Formats the writer never makes but the reader takes: float labels,
    // exponents, spaces, CRLF, blank lines.
    harness::write_corpus("csv/hand-written.csv", b"3.0, 1e-3,-2.5 ,+7\r\n\r\n9,0,-0.0,1E2\r\n0,  4 ,5.,.25\n");
    harness::write_corpus("nn/all-ops.bin", &all_ops_model().to_bytes());
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    for name in ONNX {
        harness::write_corpus(&format!("onnx/{name}"), &std::fs::read(data.join(name)).unwrap());
    }
}

struct Fixture {
    /// Decompressed IDX files: train images, train labels, test images, test labels.
    idx: [Vec<u8>; 4],
    /// The four MNIST files as stored (the test pair gzipped).
    mnist_files: [Vec<u8>; 4],
    csv: Vec<Vec<u8>>,
    model: Vec<u8>,
    #[cfg_attr(not(feature = "onnx"), allow(dead_code))]
    onnx: Vec<Vec<u8>>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        harness::exclusive(|| {
            if harness::regenerate() {
                write_corpus();
            }
            let mnist_files =
                [IMAGES, LABELS, TEST_IMAGES, TEST_LABELS].map(|n| harness::read_corpus(&format!("mnist/{n}")));
            let idx = [0, 1, 2, 3].map(|i| if i < 2 { mnist_files[i].clone() } else { gunzip(&mnist_files[i]) });
            Fixture {
                idx,
                mnist_files,
                csv: ["csv/features.csv", "csv/hand-written.csv"].iter().map(|p| harness::read_corpus(p)).collect(),
                model: harness::read_corpus("nn/all-ops.bin"),
                onnx: ONNX.iter().map(|n| harness::read_corpus(&format!("onnx/{n}"))).collect(),
            }
        })
    })
}

/// Every committed corpus file loads with its reader.
#[test]
fn corpus_loads() {
    let dir = harness::corpus_dir();
    let m = Mnist::load_dir(dir.join("mnist")).expect("corpus MNIST directory loads");
    assert_eq!((m.train_images.len(), m.train_labels.len(), m.test_images.len(), m.test_labels.len()), (3, 3, 2, 2));
    assert_eq!(read_features(dir.join("csv/features.csv")).unwrap().labels.len(), 6);
    assert_eq!(read_features(dir.join("csv/hand-written.csv")).unwrap().dim(), 3);
    let model = Model::from_bytes(&fixture().model).expect("corpus model loads");
    assert_eq!(model, all_ops_model());
    assert_eq!(model.forward(&Tensor::<f64>::zeros(vec![2, 6, 6])).unwrap().shape(), &[3]);
    #[cfg(feature = "onnx")]
    for (name, bytes) in ONNX.iter().zip(&fixture().onnx) {
        let r = hecnn_nn::onnx::import_onnx_bytes(bytes);
        let supported = !["unsupported_op.onnx", "grouped_conv.onnx"].contains(name);
        assert_eq!(r.is_ok(), supported, "{name}: {:?}", r.err());
    }
}

/// A fresh temporary directory.
fn temp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

fn run(f: impl FnOnce() + Send + 'static) -> Result<(), TestCaseError> {
    run_bounded(f).map_err(TestCaseError::fail)
}

/// Multiply–accumulates of a forward pass, and the largest value, or
/// `None` when a pass would not be a quick check (huge declared shapes
/// are legal; running them is the caller's choice).
fn forward_cost(m: &Model) -> Option<usize> {
    let elems = |v: usize| m.value_shape(v).map(|s| s.iter().try_fold(1usize, |a, &d| a.checked_mul(d)));
    let mut total = elems(0)??;
    for (i, node) in m.nodes().iter().enumerate() {
        let out = elems(i + 1)??;
        let per = match &node.op {
            Op::Conv2d(c) => c.in_c.checked_mul(c.kernel.0)?.checked_mul(c.kernel.1)?,
            Op::MaxPool(p) | Op::AvgPool(p) => p.kernel.0.checked_mul(p.kernel.1)?,
            Op::Linear(l) => l.in_dim,
            _ => 1,
        };
        total = total.checked_add(out.checked_mul(per)?)?;
    }
    Some(total)
}

/// Runs a model that loaded on zeros, when that is cheap.
fn exercise(m: &Model) {
    if forward_cost(m).is_some_and(|c| c <= 1 << 24) {
        let y = m.forward(&Tensor::<f64>::zeros(m.input_shape().to_vec())).expect("input of the model's shape");
        assert_eq!(y.shape(), m.output_shape());
    }
}

// ---------------------------------------------------------------- IDX

/// How a mutated IDX file reaches the loader.
#[derive(Clone, Copy, Debug)]
enum Packing {
    /// Raw file.
    Raw,
    /// The mutated IDX bytes, gzipped (the `.gz` path).
    Gzipped,
    /// The gzip bytes themselves mutated.
    GzipMutated,
}

fn packing() -> impl Strategy<Value = Packing> {
    prop_oneof![Just(Packing::Raw), Just(Packing::Gzipped), Just(Packing::GzipMutated)]
}

/// The IDX header's fields: magic, count, rows, cols.
const IDX_HOT: &[usize] = &[0, 2, 3, 4, 8, 12, 16];

fn idx_file(base: &[u8], ms: &[Mutation], how: Packing, dir: &Path, name: &str) -> std::path::PathBuf {
    let pool: Vec<&[u8]> = fixture().idx.iter().map(Vec::as_slice).collect();
    let (bytes, gz) = match how {
        Packing::Raw => (apply_all(base, ms, &pool, IDX_HOT), false),
        Packing::Gzipped => (gzip(&apply_all(base, ms, &pool, IDX_HOT)), true),
        Packing::GzipMutated => (apply_all(&gzip(base), ms, &pool, &[]), true),
    };
    let path = dir.join(if gz { format!("{name}.gz") } else { name.to_string() });
    std::fs::write(&path, bytes).unwrap();
    path
}

// ---------------------------------------------------------------- ONNX

#[cfg(feature = "onnx")]
mod onnx {
    //! Structured mutations of ONNX protobufs: decoded, one field changed,
    //! encoded again, so the importer (not the protobuf decoder) sees them.

    use super::*;
    use prost::Message;
    use tract_onnx::pb;

    const OPS: &[&str] = &[
        "Conv",
        "Gemm",
        "MatMul",
        "Add",
        "Relu",
        "MaxPool",
        "AveragePool",
        "GlobalAveragePool",
        "BatchNormalization",
        "Flatten",
        "Reshape",
        "Identity",
        "Sub",
        "",
    ];
    const ATTRS: &[&str] = &[
        "group",
        "dilations",
        "strides",
        "pads",
        "kernel_shape",
        "auto_pad",
        "axis",
        "transA",
        "transB",
        "alpha",
        "beta",
        "epsilon",
        "ceil_mode",
        "count_include_pad",
        "storage_order",
        "allowzero",
    ];
    const INTS: &[i64] = &[
        0,
        1,
        -1,
        2,
        3,
        4,
        -2,
        65535,
        65536,
        65537,
        1 << 26,
        (1 << 26) + 1,
        i32::MAX as i64,
        i32::MIN as i64,
        i64::MAX,
        i64::MIN,
    ];
    const FLOATS: &[f32] = &[0.0, -0.0, 1.0, -1.0, 1e-30, 1e38, f32::MAX, f32::NAN, f32::INFINITY, f32::NEG_INFINITY];
    const TYPES: &[i32] = &[0, 1, 2, 6, 7, 10, 11, 16, -1, 999];

    /// One field edit.
    #[derive(Clone, Debug)]
    pub enum Edit {
        OpType(Index, Index),
        Input(Index, Index, Index),
        DropInput(Index),
        AddInput(Index, Index),
        Output(Index, Index),
        DropNode(Index),
        DuplicateNode(Index),
        SwapNodes(Index, Index),
        AttrInt(Index, Index, Index),
        AttrInts(Index, Index, Index, Index),
        AttrIntsLen(Index, Index, u8),
        AttrFloat(Index, Index, Index),
        DropAttr(Index, Index),
        AddAttr(Index, Index, Index, bool),
        InitDim(Index, Index, Index),
        InitDimsLen(Index, u8),
        InitType(Index, Index),
        InitRaw(Index, Index),
        InitRawToFloats(Index),
        DropInit(Index),
        InitLocation(Index),
        InputDim(Index, Index),
        InputDimParam(Index),
        DropInputDim(Index),
        AddGraphInput(Index),
        DropGraphOutput,
        AddGraphOutput(Index),
    }

    pub fn edit() -> impl Strategy<Value = Edit> {
        let i = || any::<Index>();
        prop_oneof![
            (i(), i()).prop_map(|(a, b)| Edit::OpType(a, b)),
            (i(), i(), i()).prop_map(|(a, b, c)| Edit::Input(a, b, c)),
            i().prop_map(Edit::DropInput),
            (i(), i()).prop_map(|(a, b)| Edit::AddInput(a, b)),
            (i(), i()).prop_map(|(a, b)| Edit::Output(a, b)),
            i().prop_map(Edit::DropNode),
            i().prop_map(Edit::DuplicateNode),
            (i(), i()).prop_map(|(a, b)| Edit::SwapNodes(a, b)),
            (i(), i(), i()).prop_map(|(a, b, c)| Edit::AttrInt(a, b, c)),
            (i(), i(), i(), i()).prop_map(|(a, b, c, d)| Edit::AttrInts(a, b, c, d)),
            (i(), i(), 0u8..6).prop_map(|(a, b, n)| Edit::AttrIntsLen(a, b, n)),
            (i(), i(), i()).prop_map(|(a, b, c)| Edit::AttrFloat(a, b, c)),
            (i(), i()).prop_map(|(a, b)| Edit::DropAttr(a, b)),
            (i(), i(), i(), any::<bool>()).prop_map(|(a, b, c, l)| Edit::AddAttr(a, b, c, l)),
            (i(), i(), i()).prop_map(|(a, b, c)| Edit::InitDim(a, b, c)),
            (i(), 0u8..6).prop_map(|(a, n)| Edit::InitDimsLen(a, n)),
            (i(), i()).prop_map(|(a, b)| Edit::InitType(a, b)),
            (i(), i()).prop_map(|(a, b)| Edit::InitRaw(a, b)),
            i().prop_map(Edit::InitRawToFloats),
            i().prop_map(Edit::DropInit),
            i().prop_map(Edit::InitLocation),
            (i(), i()).prop_map(|(a, b)| Edit::InputDim(a, b)),
            i().prop_map(Edit::InputDimParam),
            i().prop_map(Edit::DropInputDim),
            i().prop_map(Edit::AddGraphInput),
            Just(Edit::DropGraphOutput),
            i().prop_map(Edit::AddGraphOutput),
        ]
    }

    fn pick<'a, T>(v: &'a mut [T], i: &Index) -> Option<&'a mut T> {
        if v.is_empty() {
            None
        } else {
            let k = i.index(v.len());
            v.get_mut(k)
        }
    }

    /// Every value name of the graph, and a few that name nothing.
    fn names(g: &pb::GraphProto) -> Vec<String> {
        let mut out: Vec<String> = g.node.iter().flat_map(|n| n.input.iter().chain(&n.output).cloned()).collect();
        out.extend(g.initializer.iter().map(|t| t.name.clone()));
        out.extend(g.input.iter().chain(&g.output).map(|v| v.name.clone()));
        out.extend(["".to_string(), "nowhere".to_string()]);
        out
    }

    fn input_dims(g: &mut pb::GraphProto) -> Option<&mut Vec<pb::tensor_shape_proto::Dimension>> {
        let t = g.input.first_mut()?.r#type.as_mut()?;
        match t.value.as_mut()? {
            pb::type_proto::Value::TensorType(t) => Some(&mut t.shape.as_mut()?.dim),
        }
    }

    fn apply(g: &mut pb::GraphProto, e: &Edit) {
        let all = names(g);
        let name = |i: &Index| all[i.index(all.len())].clone();
        let int = |i: &Index| INTS[i.index(INTS.len())];
        match e {
            Edit::OpType(n, o) => {
                if let Some(n) = pick(&mut g.node, n) {
                    n.op_type = OPS[o.index(OPS.len())].into();
                }
            }
            Edit::Input(n, k, v) => {
                if let Some(n) = pick(&mut g.node, n) {
                    if let Some(x) = pick(&mut n.input, k) {
                        *x = name(v);
                    }
                }
            }
            Edit::DropInput(n) => {
                if let Some(n) = pick(&mut g.node, n) {
                    n.input.pop();
                }
            }
            Edit::AddInput(n, v) => {
                let v = name(v);
                if let Some(n) = pick(&mut g.node, n) {
                    n.input.push(v);
                }
            }
            Edit::Output(n, v) => {
                let v = name(v);
                if let Some(n) = pick(&mut g.node, n) {
                    if let Some(x) = n.output.first_mut() {
                        *x = v;
                    }
                }
            }
            Edit::DropNode(n) => {
                if !g.node.is_empty() {
                    let k = n.index(g.node.len());
                    g.node.remove(k);
                }
            }
            Edit::DuplicateNode(n) => {
                if !g.node.is_empty() {
                    let k = n.index(g.node.len());
                    let copy = g.node[k].clone();
                    g.node.insert(k, copy);
                }
            }
            Edit::SwapNodes(a, b) => {
                if !g.node.is_empty() {
                    let (a, b) = (a.index(g.node.len()), b.index(g.node.len()));
                    g.node.swap(a, b);
                }
            }
            Edit::AttrInt(n, a, v) => {
                if let Some(a) = pick(&mut g.node, n).and_then(|n| pick(&mut n.attribute, a)) {
                    a.i = int(v);
                }
            }
            Edit::AttrInts(n, a, k, v) => {
                if let Some(x) =
                    pick(&mut g.node, n).and_then(|n| pick(&mut n.attribute, a)).and_then(|a| pick(&mut a.ints, k))
                {
                    *x = int(v);
                }
            }
            Edit::AttrIntsLen(n, a, len) => {
                if let Some(a) = pick(&mut g.node, n).and_then(|n| pick(&mut n.attribute, a)) {
                    a.ints.resize(*len as usize, 1);
                }
            }
            Edit::AttrFloat(n, a, v) => {
                if let Some(a) = pick(&mut g.node, n).and_then(|n| pick(&mut n.attribute, a)) {
                    a.f = FLOATS[v.index(FLOATS.len())];
                }
            }
            Edit::DropAttr(n, a) => {
                if let Some(n) = pick(&mut g.node, n) {
                    if !n.attribute.is_empty() {
                        let k = a.index(n.attribute.len());
                        n.attribute.remove(k);
                    }
                }
            }
            Edit::AddAttr(n, a, v, list) => {
                if let Some(n) = pick(&mut g.node, n) {
                    let mut attr =
                        pb::AttributeProto { name: ATTRS[a.index(ATTRS.len())].into(), ..Default::default() };
                    if *list {
                        attr.ints = vec![int(v); 2];
                        attr.r#type = pb::attribute_proto::AttributeType::Ints as i32;
                    } else {
                        attr.i = int(v);
                        attr.r#type = pb::attribute_proto::AttributeType::Int as i32;
                    }
                    n.attribute.push(attr);
                }
            }
            Edit::InitDim(t, k, v) => {
                if let Some(d) = pick(&mut g.initializer, t).and_then(|t| pick(&mut t.dims, k)) {
                    *d = int(v);
                }
            }
            Edit::InitDimsLen(t, len) => {
                if let Some(t) = pick(&mut g.initializer, t) {
                    t.dims.resize(*len as usize, 1);
                }
            }
            Edit::InitType(t, v) => {
                if let Some(t) = pick(&mut g.initializer, t) {
                    t.data_type = TYPES[v.index(TYPES.len())];
                }
            }
            Edit::InitRaw(t, cut) => {
                if let Some(t) = pick(&mut g.initializer, t) {
                    let len = t.raw_data.len();
                    t.raw_data.truncate(cut.index(len + 1));
                }
            }
            Edit::InitRawToFloats(t) => {
                if let Some(t) = pick(&mut g.initializer, t) {
                    t.float_data = t.raw_data.chunks(4).map(|c| c.len() as f32).collect();
                    t.raw_data.clear();
                }
            }
            Edit::DropInit(t) => {
                if !g.initializer.is_empty() {
                    let k = t.index(g.initializer.len());
                    g.initializer.remove(k);
                }
            }
            Edit::InitLocation(t) => {
                if let Some(t) = pick(&mut g.initializer, t) {
                    t.data_location = Some(1);
                }
            }
            Edit::InputDim(k, v) => {
                let v = int(v);
                if let Some(d) = input_dims(g).and_then(|d| pick(d, k)) {
                    d.value = Some(pb::tensor_shape_proto::dimension::Value::DimValue(v));
                }
            }
            Edit::InputDimParam(k) => {
                if let Some(d) = input_dims(g).and_then(|d| pick(d, k)) {
                    d.value = Some(pb::tensor_shape_proto::dimension::Value::DimParam("N".into()));
                }
            }
            Edit::DropInputDim(k) => {
                if let Some(d) = input_dims(g) {
                    if !d.is_empty() {
                        let k = k.index(d.len());
                        d.remove(k);
                    }
                }
            }
            Edit::AddGraphInput(v) => {
                let v = name(v);
                let mut copy = g.input.first().cloned().unwrap_or_default();
                copy.name = v;
                g.input.push(copy);
            }
            Edit::DropGraphOutput => {
                g.output.pop();
            }
            Edit::AddGraphOutput(v) => {
                let v = name(v);
                g.output.push(pb::ValueInfoProto { name: v, ..Default::default() });
            }
        }
    }

    /// The model with `edits` applied (bytes that do not decode stay as they are).
    pub fn edited(bytes: &[u8], edits: &[Edit]) -> Vec<u8> {
        let Ok(mut m) = pb::ModelProto::decode(bytes) else { return bytes.to_vec() };
        if let Some(g) = m.graph.as_mut() {
            for e in edits {
                apply(g, e);
            }
        }
        m.encode_to_vec()
    }
}

// ---------------------------------------------------------------- targets

proptest! {
    #![proptest_config(harness::config(CASES))]

    /// `mnist::load_images` on raw, gzipped and corrupt-gzip IDX image files.
    #[test]
    fn fuzz_idx_images(test_set in any::<bool>(), how in packing(), ms in mutations()) {
        let dir = temp();
        let f = fixture();
        let path = idx_file(&f.idx[if test_set { 2 } else { 0 }], &ms, how, dir.path(), "images.idx3-ubyte");
        run(move || {
            let r = load_images(&path);
            tally("idx_images", &outcome(&r));
            if let Ok(images) = r {
                assert_eq!(images.as_bytes().len(), images.len() * 784);
                if !images.is_empty() {
                    let _ = images.image_f64(images.len() - 1);
                }
            }
        })?;
    }

    /// `mnist::load_labels` on raw, gzipped and corrupt-gzip IDX label files.
    #[test]
    fn fuzz_idx_labels(test_set in any::<bool>(), how in packing(), ms in mutations()) {
        let dir = temp();
        let f = fixture();
        let path = idx_file(&f.idx[if test_set { 3 } else { 1 }], &ms, how, dir.path(), "labels.idx1-ubyte");
        run(move || {
            let r = load_labels(&path);
            tally("idx_labels", &outcome(&r));
            if let Ok(labels) = r {
                assert!(labels.iter().all(|&l| l <= 9));
            }
        })?;
    }

    /// `Mnist::load_dir` with one of its four files mutated, swapped for
    /// another, stored raw instead of gzipped (or the reverse), or missing.
    #[test]
    fn fuzz_mnist_dir(which in 0usize..4, swap in prop::option::of(0usize..4), flip_gz in any::<bool>(),
                      missing in prop::bool::weighted(0.05), ms in mutations()) {
        let dir = temp();
        let f = fixture();
        let names = [IMAGES, LABELS, TEST_IMAGES, TEST_LABELS];
        for (i, name) in names.iter().enumerate() {
            if i == which {
                if missing {
                    continue;
                }
                let base = &f.idx[swap.unwrap_or(i)];
                let pool: Vec<&[u8]> = f.idx.iter().map(Vec::as_slice).collect();
                let bytes = apply_all(base, &ms, &pool, IDX_HOT);
                let gz = name.ends_with(".gz") != flip_gz;
                let stem = name.trim_end_matches(".gz");
                let out = if gz { format!("{stem}.gz") } else { stem.to_string() };
                std::fs::write(dir.path().join(out), if gz { gzip(&bytes) } else { bytes }).unwrap();
            } else {
                std::fs::write(dir.path().join(name), &f.mnist_files[i]).unwrap();
            }
        }
        let path = dir.path().to_path_buf();
        run(move || {
            let r = Mnist::load_dir(&path);
            tally("mnist_dir", &outcome(&r));
            if let Ok(m) = r {
                assert_eq!(m.train_images.len(), m.train_labels.len());
                assert_eq!(m.test_images.len(), m.test_labels.len());
            }
        })?;
    }

    /// `csv::read_features` on field-level and byte-level mutations; what
    /// loads is written back and read again, unchanged.
    #[test]
    fn fuzz_feature_csv(which in 0usize..2, m in any_mutations()) {
        let dir = temp();
        let f = fixture();
        let pool: Vec<&[u8]> = f.csv.iter().map(Vec::as_slice).collect();
        let path = dir.path().join("features.csv");
        std::fs::write(&path, apply_any(&f.csv[which], &m, &pool)).unwrap();
        let again = dir.path().join("again.csv");
        run(move || {
            let r = read_features(&path);
            tally("feature_csv", &outcome(&r));
            if let Ok(set) = r {
                assert!(set.features.iter().all(|r| r.len() == set.dim() && r.iter().all(|v| v.is_finite())));
                let text = format_features(&set).expect("a loaded set formats");
                std::fs::write(&again, text).unwrap();
                assert_eq!(read_features(&again).expect("formatted set loads"), set);
            }
        })?;
    }

    /// `Model::from_bytes` on the `.bin` format; a model that loads runs on
    /// zeros (when cheap) and writes back to a file that loads to itself.
    #[test]
    fn fuzz_model_bin(ms in mutations()) {
        let f = fixture();
        // Hot spots: magic, version, rank, dims, node count, first tag.
        let hot = [0, 8, 12, 16, 20, 24, 28, 32, 34];
        let pool: Vec<&[u8]> = vec![&f.model, &f.model[..f.model.len() / 2]];
        let bytes = apply_all(&f.model, &ms, &pool, &hot);
        run(move || {
            let r = Model::from_bytes(&bytes);
            tally("model_bin", &outcome(&r));
            if let Ok(m) = r {
                exercise(&m);
                assert_eq!(Model::from_bytes(&m.to_bytes()).as_ref(), Ok(&m));
            }
        })?;
    }
}

#[cfg(feature = "onnx")]
proptest! {
    #![proptest_config(harness::config(CASES))]

    /// `onnx::import_onnx_bytes` on structured protobuf edits (op types,
    /// inputs, attributes, initializer dims, types and data, graph
    /// interface) and byte mutations; a model that imports runs on zeros.
    #[test]
    fn fuzz_onnx(which in any::<Index>(), structured in prop::bool::weighted(0.75),
                 edits in prop::collection::vec(onnx::edit(), 1..=4), ms in mutations()) {
        let f = fixture();
        let base = &f.onnx[which.index(f.onnx.len())];
        let bytes = if structured {
            onnx::edited(base, &edits)
        } else {
            let pool: Vec<&[u8]> = f.onnx.iter().map(Vec::as_slice).collect();
            apply_all(base, &ms, &pool, &[])
        };
        run(move || {
            let r = hecnn_nn::onnx::import_onnx_bytes(&bytes);
            tally("onnx", &outcome(&r));
            if let Ok(m) = r {
                exercise(&m);
            }
        })?;
    }
}
