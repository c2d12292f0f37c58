//! Trains the bundled small residual MNIST network with candle (CPU) and
//! writes it in the hecnn model format.
//!
//! ```text
//! nice -n 10 cargo run --release -p hecnn-nn --features train --example train_resnet -- \
//!     --out models/mnist_resnet.bin --epochs 8 --seed 20260324
//! python3 scripts/onnx/export_backbone.py --model models/mnist_resnet.bin --onnx models/resnet.onnx
//! ```
//!
//! Architecture (input `[1, 28, 28]`, pixels / 255 in `[0, 1]`; 4 channels
//! throughout, so every activation fits in one ciphertext):
//!
//! ```text
//! stem:  Conv(1→4, 3×3, pad 1) → BatchNorm → ReLU → MaxPool 2×2      [4, 14, 14]
//! 3×:    x → Conv(4→4, 3×3, pad 1) → BatchNorm → ReLU
//!          → Conv(4→4, 3×3, pad 1) → BatchNorm → Add(x) → ReLU        [4, 14, 14]
//! head:  AvgPool 2×2 → Flatten (196) → Linear(196→10)
//! ```
//!
//! Batch norm is trained in training mode (batch statistics, biased
//! variance) and keeps running statistics with momentum 0.1 and the unbiased
//! batch variance, as PyTorch does; the written model is the eval-mode
//! network with every batch norm folded into its convolution.
//!
//! Only training images with index >= 10,000 are used: the first 10,000 are
//! reserved as the clients' private data, and the test set is only evaluated
//! (once, after training). Initialisation and shuffling come from a seeded
//! SplitMix64, so a run is reproducible for a given seed and thread count.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use hecnn_nn::features::extract_features;
use hecnn_nn::mnist::{bundled_mnist_dir, Mnist};
use hecnn_nn::model::{BatchNorm, Conv2d, Linear, Model, ModelBuilder, Pool2d};

mod common;
use common::{image_tensor, label_tensor, training_split, Rng};

/// Channels of every convolution.
const C: usize = 4;
/// Residual blocks.
const BLOCKS: usize = 3;
/// Batch-norm ε (PyTorch's default).
const BN_EPS: f64 = 1e-5;
/// Weight of the batch statistics in the running statistics (PyTorch's default).
const BN_MOMENTUM: f64 = 0.1;

struct Args {
    out: PathBuf,
    data: PathBuf,
    epochs: usize,
    seed: u64,
    batch: usize,
    lr: f64,
    weight_decay: f64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        out: PathBuf::from("models/mnist_resnet.bin"),
        data: bundled_mnist_dir(),
        epochs: 8,
        seed: 20260324,
        batch: 64,
        lr: 3e-3,
        weight_decay: 0.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--out" => a.out = val()?.into(),
            "--data" => a.data = val()?.into(),
            "--epochs" => a.epochs = val()?.parse().map_err(|e| format!("--epochs: {e}"))?,
            "--seed" => a.seed = val()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--batch" => a.batch = val()?.parse().map_err(|e| format!("--batch: {e}"))?,
            "--lr" => a.lr = val()?.parse().map_err(|e| format!("--lr: {e}"))?,
            "--weight-decay" => a.weight_decay = val()?.parse().map_err(|e| format!("--weight-decay: {e}"))?,
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    Ok(a)
}

/// He-uniform weights of the given shape for `fan_in` inputs.
fn he_uniform(rng: &mut Rng, shape: &[usize], fan_in: usize, dev: &Device) -> candle_core::Result<Var> {
    let bound = (6.0 / fan_in as f32).sqrt();
    let n: usize = shape.iter().product();
    let w: Vec<f32> = (0..n).map(|_| rng.symmetric() * bound).collect();
    Var::from_vec(w, shape.to_vec(), dev)
}

/// A batch norm over `C` channels: trainable γ, β and running statistics.
struct Bn {
    gamma: Var,
    beta: Var,
    running_mean: Vec<f64>,
    running_var: Vec<f64>,
}

impl Bn {
    fn new(dev: &Device) -> candle_core::Result<Bn> {
        Ok(Bn {
            gamma: Var::ones(C, DType::F32, dev)?,
            beta: Var::zeros(C, DType::F32, dev)?,
            running_mean: vec![0.0; C],
            running_var: vec![1.0; C],
        })
    }

    /// Training mode normalises with the batch statistics and updates the
    /// running ones; eval mode uses the running statistics.
    fn forward(&mut self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let dev = x.device();
        let (mean, var) = if train {
            let mean = x.mean_keepdim((0, 2, 3))?;
            let var = x.broadcast_sub(&mean)?.sqr()?.mean_keepdim((0, 2, 3))?;
            let (n, _, h, w) = x.dims4()?;
            let m = (n * h * w) as f64;
            let bm = mean.flatten_all()?.to_vec1::<f32>()?;
            let bv = var.flatten_all()?.to_vec1::<f32>()?;
            for c in 0..C {
                let unbiased = f64::from(bv[c]) * m / (m - 1.0);
                self.running_mean[c] = (1.0 - BN_MOMENTUM) * self.running_mean[c] + BN_MOMENTUM * f64::from(bm[c]);
                self.running_var[c] = (1.0 - BN_MOMENTUM) * self.running_var[c] + BN_MOMENTUM * unbiased;
            }
            (mean, var)
        } else {
            let f = |v: &[f64]| Tensor::from_vec(v.iter().map(|&x| x as f32).collect(), (1, C, 1, 1), dev);
            (f(&self.running_mean)?, f(&self.running_var)?)
        };
        let xhat = x.broadcast_sub(&mean)?.broadcast_div(&(var + BN_EPS)?.sqrt()?)?;
        xhat.broadcast_mul(&self.gamma.as_tensor().reshape((1, C, 1, 1))?)?
            .broadcast_add(&self.beta.as_tensor().reshape((1, C, 1, 1))?)
    }

    fn to_hecnn(&self) -> candle_core::Result<BatchNorm> {
        Ok(BatchNorm {
            gamma: values(&self.gamma)?,
            beta: values(&self.beta)?,
            mean: self.running_mean.clone(),
            var: self.running_var.clone(),
            eps: BN_EPS,
        })
    }
}

struct Net {
    /// Stem convolution, then two per residual block; `[C, in, 3, 3]`, no bias.
    convs: Vec<Var>,
    /// One batch norm after every convolution.
    bns: Vec<Bn>,
    fc_w: Var,
    fc_b: Var,
}

impl Net {
    fn new(rng: &mut Rng, dev: &Device) -> candle_core::Result<Net> {
        let mut convs = vec![he_uniform(rng, &[C, 1, 3, 3], 9, dev)?];
        for _ in 0..2 * BLOCKS {
            convs.push(he_uniform(rng, &[C, C, 3, 3], C * 9, dev)?);
        }
        let bns = (0..convs.len()).map(|_| Bn::new(dev)).collect::<candle_core::Result<_>>()?;
        let fc_w = he_uniform(rng, &[10, C * 7 * 7], C * 7 * 7, dev)?;
        let fc_b = Var::zeros(10, DType::F32, dev)?;
        Ok(Net { convs, bns, fc_w, fc_b })
    }

    fn params(&self) -> Vec<Var> {
        let mut p = self.convs.clone();
        for bn in &self.bns {
            p.push(bn.gamma.clone());
            p.push(bn.beta.clone());
        }
        p.push(self.fc_w.clone());
        p.push(self.fc_b.clone());
        p
    }

    /// Convolution `i` (3×3, pad 1) followed by its batch norm.
    fn conv_bn(&mut self, i: usize, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let y = x.conv2d(self.convs[i].as_tensor(), 1, 1, 1, 1)?;
        self.bns[i].forward(&y, train)
    }

    fn forward(&mut self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let mut x = self.conv_bn(0, x, train)?.relu()?.max_pool2d(2)?;
        for b in 0..BLOCKS {
            let h = self.conv_bn(1 + 2 * b, &x, train)?.relu()?;
            let h = self.conv_bn(2 + 2 * b, &h, train)?;
            x = (h + x)?.relu()?;
        }
        let x = x.avg_pool2d(2)?.flatten_from(1)?;
        x.matmul(&self.fc_w.as_tensor().t()?)?.broadcast_add(self.fc_b.as_tensor())
    }

    /// The eval-mode network in the hecnn format, batch norms folded.
    fn to_model(&self) -> Result<Model, Box<dyn std::error::Error>> {
        let conv = |i: usize| -> candle_core::Result<Conv2d> {
            let in_c = if i == 0 { 1 } else { C };
            Ok(Conv2d {
                out_c: C,
                in_c,
                kernel: (3, 3),
                stride: (1, 1),
                pad: [1; 4],
                weight: values(&self.convs[i])?.into(),
                bias: vec![0.0; C].into(),
            })
        };
        let mut b = ModelBuilder::new(vec![1, 28, 28])
            .conv2d(conv(0)?)
            .batch_norm(&self.bns[0].to_hecnn()?)
            .relu()
            .max_pool(Pool2d::square(2));
        for k in 0..BLOCKS {
            let skip = b.current();
            b = b
                .conv2d(conv(1 + 2 * k)?)
                .batch_norm(&self.bns[1 + 2 * k].to_hecnn()?)
                .relu()
                .conv2d(conv(2 + 2 * k)?)
                .batch_norm(&self.bns[2 + 2 * k].to_hecnn()?)
                .add_value(skip)
                .relu();
        }
        let fc = Linear {
            out_dim: 10,
            in_dim: C * 7 * 7,
            weight: values(&self.fc_w)?.into(),
            bias: values(&self.fc_b)?.into(),
        };
        Ok(b.avg_pool(Pool2d::square(2)).flatten().linear(fc).build()?)
    }
}

fn values(v: &Var) -> candle_core::Result<Vec<f64>> {
    Ok(v.as_tensor().flatten_all()?.to_vec1::<f32>()?.into_iter().map(f64::from).collect())
}

fn argmax(v: &[f64]) -> usize {
    (0..v.len()).fold(0, |best, i| if v[i] > v[best] { i } else { best })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let start = Instant::now();
    let dev = Device::Cpu;
    let mnist = Mnist::load_dir(&args.data)?;
    let (xs, ys) = training_split(&mnist, &dev)?;
    let n = xs.dim(0)?;

    let mut rng = Rng(args.seed);
    let mut net = Net::new(&mut rng, &dev)?;
    let mut opt =
        AdamW::new(net.params(), ParamsAdamW { lr: args.lr, weight_decay: args.weight_decay, ..Default::default() })?;
    let steps_per_epoch = n.div_ceil(args.batch);
    let total_steps = (args.epochs * steps_per_epoch).max(1);
    let mut step = 0;
    let mut order: Vec<u32> = (0..n as u32).collect();
    for epoch in 0..args.epochs {
        rng.shuffle(&mut order);
        let (mut loss_sum, mut correct) = (0.0, 0usize);
        for chunk in order.chunks(args.batch) {
            // Cosine decay from lr to 0 over all steps.
            opt.set_learning_rate(
                args.lr * 0.5 * (1.0 + (std::f64::consts::PI * step as f64 / total_steps as f64).cos()),
            );
            let idx = Tensor::from_slice(chunk, chunk.len(), &dev)?;
            let x = xs.index_select(&idx, 0)?;
            let y = ys.index_select(&idx, 0)?;
            let logits = net.forward(&x, true)?;
            let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
            opt.backward_step(&loss)?;
            loss_sum += loss.to_scalar::<f32>()? as f64 * chunk.len() as f64;
            correct += logits.argmax(D::Minus1)?.eq(&y)?.to_dtype(DType::U32)?.sum_all()?.to_scalar::<u32>()? as usize;
            step += 1;
        }
        println!(
            "epoch {}: mean loss {:.4}, training accuracy (train mode, while learning) {:.2}%, {:.1} s",
            epoch + 1,
            loss_sum / n as f64,
            100.0 * correct as f64 / n as f64,
            start.elapsed().as_secs_f64()
        );
    }
    let train_secs = start.elapsed().as_secs_f64();

    // Candle's eval-mode forward on the test set.
    let test_x = image_tensor(mnist.test_images.as_bytes(), &dev)?;
    let test_y = label_tensor(&mnist.test_labels, &dev)?;
    let n_test = mnist.test_labels.len();
    let (mut candle_correct, mut candle_logits) = (0usize, Vec::with_capacity(n_test));
    for lo in (0..n_test).step_by(1000) {
        let len = 1000.min(n_test - lo);
        let logits = net.forward(&test_x.narrow(0, lo, len)?, false)?;
        let y = test_y.narrow(0, lo, len)?;
        candle_correct +=
            logits.argmax(D::Minus1)?.eq(&y)?.to_dtype(DType::U32)?.sum_all()?.to_scalar::<u32>()? as usize;
        candle_logits.extend(logits.to_vec2::<f32>()?);
    }

    // The hecnn model as written to disk (f32 weights), exact f64 forward.
    let model = net.to_model()?;
    let bytes = model.to_bytes();
    let model = Model::from_bytes(&bytes)?;
    let outs = extract_features(&model, &mnist.test_images)?;
    let preds: Vec<usize> = outs.iter().map(|o| argmax(o)).collect();
    let hecnn_correct = preds.iter().zip(&mnist.test_labels).filter(|(p, l)| **p == usize::from(**l)).count();
    let agree = outs
        .iter()
        .zip(&candle_logits)
        .filter(|(o, c)| argmax(o) == argmax(&c.iter().map(|&v| f64::from(v)).collect::<Vec<_>>()))
        .count();
    let max_diff = outs
        .iter()
        .zip(&candle_logits)
        .flat_map(|(o, c)| o.iter().zip(c).map(|(a, b)| (a - f64::from(*b)).abs()))
        .fold(0.0, f64::max);
    std::fs::write(&args.out, &bytes)?;
    println!(
        "seed {}, {} epochs, batch {}, lr {} (cosine), weight decay {}: trained in {:.1} s",
        args.seed, args.epochs, args.batch, args.lr, args.weight_decay, train_secs
    );
    println!(
        "test accuracy: candle eval {:.2}% ({candle_correct} / {n_test}), hecnn exact f64 {:.2}% ({hecnn_correct} / {n_test}); \
         predictions agree on {agree} / {n_test}, max |logit difference| {max_diff:.2e}",
        100.0 * candle_correct as f64 / n_test as f64,
        100.0 * hecnn_correct as f64 / n_test as f64,
    );
    println!("{} nodes; wrote {} ({} bytes)", model.nodes().len(), args.out.display(), bytes.len());
    Ok(())
}
