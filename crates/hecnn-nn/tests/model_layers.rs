//! Layers against hand-computed cases and a naive reference; graph checks;
//! the weight format; the activation hooks.

use hecnn_nn::model::{
    Activation, BatchNorm, ChannelAffine, Conv2d, Exact, FormatError, Linear, Model, ModelBuilder, ModelError, Node,
    Op, Pool2d, SignApprox, Tensor,
};

fn t(shape: &[usize], data: Vec<f64>) -> Tensor<f64> {
    Tensor::new(shape.to_vec(), data).unwrap()
}

fn iota(n: usize) -> Vec<f64> {
    (1..=n).map(|v| v as f64).collect()
}

fn conv(
    out_c: usize,
    in_c: usize,
    k: (usize, usize),
    stride: (usize, usize),
    pad: [usize; 4],
    w: Vec<f64>,
    b: Vec<f64>,
) -> Conv2d {
    Conv2d { out_c, in_c, kernel: k, stride, pad, weight: w.into(), bias: b.into() }
}

fn run(model: &Model, x: &Tensor<f64>) -> Vec<f64> {
    model.forward(x).unwrap().into_data()
}

#[test]
fn conv_hand_computed() {
    let x = t(&[1, 3, 3], iota(9));
    let c = conv(1, 1, (2, 2), (1, 1), [0; 4], vec![1.0, 2.0, 3.0, 4.0], vec![0.5]);
    let m = ModelBuilder::new(vec![1, 3, 3]).conv2d(c).build().unwrap();
    assert_eq!(m.output_shape(), &[1, 2, 2]);
    assert_eq!(run(&m, &x), vec![37.5, 47.5, 67.5, 77.5]);
    // Padding 1 on every side, stride 2.
    let c = conv(1, 1, (2, 2), (2, 2), [1; 4], vec![1.0, 2.0, 3.0, 4.0], vec![0.0]);
    let m = ModelBuilder::new(vec![1, 3, 3]).conv2d(c).build().unwrap();
    assert_eq!(run(&m, &x), vec![4.0, 18.0, 36.0, 77.0]);
}

/// Direct definition of a convolution, for comparison.
fn naive_conv(c: &Conv2d, x: &Tensor<f64>) -> Vec<f64> {
    let (ih, iw) = (x.shape()[1] as isize, x.shape()[2] as isize);
    let (kh, kw) = c.kernel;
    let (hp, wp) = (ih as usize + c.pad[0] + c.pad[2], iw as usize + c.pad[1] + c.pad[3]);
    let (oh, ow) = ((hp - kh) / c.stride.0 + 1, (wp - kw) / c.stride.1 + 1);
    let (w, b) = (c.weight.as_f64(), c.bias.as_f64());
    let mut out = vec![];
    for o in 0..c.out_c {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut s = b[o];
                for i in 0..c.in_c {
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let iy = (oy * c.stride.0 + ky) as isize - c.pad[0] as isize;
                            let ix = (ox * c.stride.1 + kx) as isize - c.pad[1] as isize;
                            if (0..ih).contains(&iy) && (0..iw).contains(&ix) {
                                s += w[((o * c.in_c + i) * kh + ky) * kw + kx]
                                    * x.data()[(i * ih as usize + iy as usize) * iw as usize + ix as usize];
                            }
                        }
                    }
                }
                out.push(s);
            }
        }
    }
    out
}

#[test]
fn conv_matches_naive_definition() {
    let x = t(&[2, 7, 6], (0..84).map(|v| ((v * 37) % 11) as f64 - 5.0).collect());
    for (stride, pad) in [((1, 1), [0; 4]), ((2, 1), [1, 2, 0, 1]), ((3, 2), [2, 0, 2, 3]), ((1, 3), [0, 1, 1, 0])] {
        let w: Vec<f64> = (0..3 * 2 * 3 * 2).map(|v| ((v * 13) % 7) as f64 - 3.0).collect();
        let c = conv(3, 2, (3, 2), stride, pad, w, vec![0.25, -1.0, 2.0]);
        let m = ModelBuilder::new(vec![2, 7, 6]).conv2d(c.clone()).build().unwrap();
        assert_eq!(run(&m, &x), naive_conv(&c, &x), "stride {stride:?} pad {pad:?}");
    }
}

#[test]
fn pools_hand_computed() {
    let x = t(&[1, 4, 4], vec![1., 5., 2., 0., 3., -1., 8., 4., 0., 0., -2., -3., 9., 1., -4., -1.]);
    let m = ModelBuilder::new(vec![1, 4, 4]).max_pool(Pool2d::square(2)).build().unwrap();
    assert_eq!(run(&m, &x), vec![5., 8., 9., -1.]);
    let m = ModelBuilder::new(vec![1, 4, 4]).avg_pool(Pool2d::square(2)).build().unwrap();
    assert_eq!(run(&m, &x), vec![2., 3.5, 2.5, -2.5]);
    // 3x3 window (9 values, odd tree), stride 1.
    let m = ModelBuilder::new(vec![1, 4, 4]).max_pool(Pool2d { kernel: (3, 3), stride: (1, 1) }).build().unwrap();
    assert_eq!(run(&m, &x), vec![8., 8., 9., 8.]);
}

#[test]
fn linear_flatten_relu_add() {
    let lin =
        Linear { out_dim: 3, in_dim: 2, weight: vec![1., 2., 3., 4., 5., 6.].into(), bias: vec![0., 1., 2.].into() };
    let m = ModelBuilder::new(vec![2]).linear(lin).build().unwrap();
    assert_eq!(run(&m, &t(&[2], vec![1., -1.])), vec![-1., 0., 1.]);
    // Flatten is channel-major; ReLU; residual add of the ReLU input.
    let mut b = ModelBuilder::new(vec![2, 1, 2]).flatten();
    let flat = b.current();
    let m = b.relu().add_value(flat).build().unwrap();
    assert_eq!(run(&m, &t(&[2, 1, 2], vec![1., -2., 3., -4.])), vec![2., -2., 6., -4.]);
}

#[test]
fn batch_norm_folds_into_conv() {
    let bn = BatchNorm {
        gamma: vec![2.0, 0.5],
        beta: vec![1.0, -1.0],
        mean: vec![0.5, -0.5],
        var: vec![4.0, 0.25],
        eps: 0.0,
    };
    let c = conv(2, 1, (2, 2), (1, 1), [0; 4], iota(8), vec![0.1, -0.2]);
    let folded = ModelBuilder::new(vec![1, 3, 3]).conv2d(c.clone()).batch_norm(&bn).build().unwrap();
    assert_eq!(folded.nodes().len(), 1, "batch norm folded into the convolution");
    let separate = Model::new(
        vec![1, 3, 3],
        vec![
            Node { op: Op::Conv2d(c), inputs: vec![0] },
            Node { op: Op::ChannelAffine(bn.to_affine()), inputs: vec![1] },
        ],
        2,
    )
    .unwrap();
    let x = t(&[1, 3, 3], iota(9));
    let (a, b) = (run(&folded, &x), run(&separate, &x));
    // Hand check of channel 0, position 0: conv = 1+2*2+4*3+5*4 + 0.1 = 37.1; (37.1-0.5)/2*2+1 = 37.6.
    assert!((a[0] - 37.6).abs() < 1e-12);
    for (u, v) in a.iter().zip(&b) {
        assert!((u - v).abs() < 1e-12);
    }
}

#[test]
fn invalid_graphs_are_rejected() {
    let c = conv(2, 3, (2, 2), (1, 1), [0; 4], vec![0.0; 24], vec![0.0; 2]);
    let e = ModelBuilder::new(vec![1, 3, 3]).conv2d(c).build().unwrap_err();
    assert!(matches!(e, ModelError::Shape { node: 0, op: "Conv2d", .. }), "{e:?}");
    let e = Model::new(vec![4], vec![Node { op: Op::Relu, inputs: vec![1] }], 1).unwrap_err();
    assert_eq!(e, ModelError::BadInput { node: 0, op: "Relu", value: 1 });
    let e = Model::new(vec![4], vec![Node { op: Op::Add, inputs: vec![0] }], 1).unwrap_err();
    assert!(matches!(e, ModelError::Arity { expected: 2, found: 1, .. }));
    let m = ModelBuilder::new(vec![4]).relu().build().unwrap();
    assert!(matches!(m.forward(&t(&[3], vec![0.0; 3])), Err(ModelError::InputShape { .. })));
    let e = ModelBuilder::new(vec![1, 2, 2]).max_pool(Pool2d::square(3)).build().unwrap_err();
    assert!(matches!(e, ModelError::Shape { op: "MaxPool", .. }));
}

fn small_model() -> Model {
    let mut b = ModelBuilder::new(vec![1, 4, 4]).conv2d(conv(
        2,
        1,
        (3, 3),
        (1, 1),
        [1; 4],
        (0..18).map(|v| v as f64 / 9.0 - 1.0).collect(),
        vec![0.5, -0.5],
    ));
    let c = b.current();
    b.relu()
        .add_value(c)
        .batch_norm(&BatchNorm {
            gamma: vec![1.5, 0.5],
            beta: vec![0.0, 1.0],
            mean: vec![0.1, 0.2],
            var: vec![1.0, 2.0],
            eps: 1e-5,
        })
        .max_pool(Pool2d::square(2))
        .avg_pool(Pool2d { kernel: (1, 1), stride: (1, 1) })
        .flatten()
        .linear(Linear {
            out_dim: 3,
            in_dim: 8,
            weight: (0..24).map(|v| (v % 5) as f64 - 2.0).collect::<Vec<_>>().into(),
            bias: vec![0.1, 0.2, 0.3].into(),
        })
        .build()
        .unwrap()
}

#[test]
fn format_round_trip_and_validation() {
    let m = small_model();
    assert!(m.nodes().iter().any(|n| matches!(n.op, Op::ChannelAffine(_))), "not foldable after Add");
    let bytes = m.to_bytes();
    let back = Model::from_bytes(&bytes).unwrap();
    let x = t(&[1, 4, 4], (0..16).map(|v| v as f64 * 0.3 - 2.0).collect());
    let (a, b) = (run(&m, &x), run(&back, &x));
    for (u, v) in a.iter().zip(&b) {
        assert!((u - v).abs() < 1e-4, "weights are stored as f32");
    }
    assert_eq!(back.to_bytes(), bytes);

    assert_eq!(Model::from_bytes(b"HECNNMDX"), Err(FormatError::BadMagic));
    assert_eq!(Model::from_bytes(b"HEC"), Err(FormatError::BadMagic));
    let mut v2 = bytes.clone();
    v2[8] = 2;
    assert_eq!(Model::from_bytes(&v2), Err(FormatError::Version(2)));
    for cut in [12, 40, bytes.len() - 1] {
        assert!(matches!(Model::from_bytes(&bytes[..cut]), Err(FormatError::Truncated { .. })), "cut {cut}");
    }
    let mut long = bytes.clone();
    long.push(0);
    assert_eq!(Model::from_bytes(&long), Err(FormatError::Trailing(1)));
    // First conv weight (after magic, version, rank, 3 dims, count, tag, n_in, input, 10 fields) → NaN.
    let mut nan = bytes.clone();
    let off = 8 + 4 + 4 + 12 + 4 + 2 + 4 + 40;
    nan[off..off + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    assert_eq!(Model::from_bytes(&nan), Err(FormatError::NonFinite { node: 0 }));
    // Output id beyond the graph.
    let mut out = bytes.clone();
    let n = out.len();
    out[n - 4..].copy_from_slice(&99u32.to_le_bytes());
    assert_eq!(Model::from_bytes(&out), Err(FormatError::Invalid(ModelError::BadOutput(99))));
}

#[test]
fn f32_and_f64_agree_and_batches_match() {
    let m = small_model();
    let xs: Vec<Tensor<f64>> =
        (0..20).map(|k| t(&[1, 4, 4], (0..16).map(|v| ((v * k) % 7) as f64 * 0.2).collect())).collect();
    let ys = m.forward_batch(&xs, &Exact).unwrap();
    let flat: Vec<f32> = xs.iter().flat_map(|x| x.data().iter().map(|&v| v as f32)).collect();
    let ys32 = m.forward_nchw(&flat, &Exact).unwrap();
    for ((x, y), y32) in xs.iter().zip(&ys).zip(&ys32) {
        assert_eq!(m.forward(x).unwrap(), *y);
        for (a, b) in y.data().iter().zip(y32.data()) {
            assert!((a - f64::from(*b)).abs() < 1e-4);
        }
    }
    assert!(m.forward_nchw(&flat[1..], &Exact).is_err());
}

#[test]
fn activations_are_pluggable_and_ranges_reported() {
    let m = small_model();
    let xs: Vec<Tensor<f64>> =
        (0..5).map(|k| t(&[1, 4, 4], (0..16).map(|v| (v + k) as f64 * 0.25 - 2.0).collect())).collect();
    let ranges = m.activation_ranges(&xs).unwrap();
    let relu = m.find_node("Relu").unwrap();
    let pool = m.find_node("MaxPool").unwrap();
    assert_eq!(ranges.iter().map(|r| (r.node, r.is_max_pool)).collect::<Vec<_>>(), vec![(relu, false), (pool, true)]);
    // The ReLU reads the conv output: its largest |value| over the data.
    let expect = xs.iter().map(|x| m.trace(x, &Exact).unwrap()[relu].max_abs()).fold(0.0, f64::max);
    assert_eq!(ranges[0].max_abs, expect);
    // min and max of the inputs, consistent with max_abs.
    let all: Vec<f64> = xs.iter().flat_map(|x| m.trace(x, &Exact).unwrap()[relu].data().to_vec()).collect();
    assert_eq!(ranges[0].min, all.iter().copied().fold(f64::INFINITY, f64::min));
    assert_eq!(ranges[0].max, all.iter().copied().fold(f64::NEG_INFINITY, f64::max));
    for r in &ranges {
        assert!(r.min <= r.max && r.max_abs == r.min.abs().max(r.max.abs()), "{r:?}");
    }
    assert!(ranges[1].max_abs > 0.0);

    // An exact sign gives exact results; a crude sign changes them.
    let mut bounds = vec![1.0; m.nodes().len()];
    bounds[relu] = ranges[0].max_abs * 1.1;
    bounds[pool] = ranges[1].max_abs * 2.2;
    let exact_sign = SignApprox::new(f64::signum, bounds.clone());
    let crude = SignApprox::new(|t: f64| 1.5 * t - 0.5 * t * t * t, bounds);
    for x in &xs {
        let e = m.forward(x).unwrap();
        let s = m.forward_with(x, &exact_sign).unwrap();
        for (a, b) in e.data().iter().zip(s.data()) {
            assert!((a - b).abs() < 1e-12);
        }
        assert_ne!(m.forward_with(x, &crude).unwrap(), e);
    }
    // relu(x) = x(1 + p(x/B))/2 with p(t) = t: 2·(1 + 0.5)/2 = 1.5.
    let lin = SignApprox::new(|t: f64| t, vec![4.0]);
    assert_eq!(Activation::<f64>::relu(&lin, 0, 2.0), 1.5);
    // max(a, b) = ((a+b) + (a-b)p((a-b)/B))/2 with B = 4: a=3, b=1 → (4 + 2·0.5)/2 = 2.5.
    assert_eq!(Activation::<f64>::max(&lin, 0, 3.0, 1.0), 2.5);
}

#[test]
fn channel_affine_on_flat_input() {
    let a = ChannelAffine { scale: vec![2.0, -1.0].into(), shift: vec![1.0, 0.5].into() };
    let m = Model::new(vec![2], vec![Node { op: Op::ChannelAffine(a), inputs: vec![0] }], 1).unwrap();
    assert_eq!(run(&m, &t(&[2], vec![3.0, 4.0])), vec![7.0, -3.5]);
}
