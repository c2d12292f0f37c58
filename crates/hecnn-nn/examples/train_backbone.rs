//! Trains the bundled MNIST CNN with candle (CPU) and writes it in the hecnn
//! model format.
//!
//! ```text
//! nice -n 19 cargo run --release -p hecnn-nn --features train --example train_backbone -- \
//!     --out models/mnist_cnn.bin --epochs 4 --seed 20260323
//! ```
//!
//! Only training images with index >= 10,000 are used: the first 10,000 are
//! reserved as the clients' private data, and the test set is only evaluated.
//! Initialisation and shuffling come from a seeded SplitMix64, so a run is
//! reproducible for a given seed and thread count.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use hecnn_nn::features::accuracy;
use hecnn_nn::mnist::{bundled_mnist_dir, Mnist};
use hecnn_nn::model::{Conv2d, Linear, ModelBuilder, Pool2d};

mod common;
use common::{training_split, Rng};

struct Args {
    out: PathBuf,
    data: PathBuf,
    epochs: usize,
    seed: u64,
    batch: usize,
    lr: f64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        out: PathBuf::from("models/mnist_cnn.bin"),
        data: bundled_mnist_dir(),
        epochs: 4,
        seed: 20260323,
        batch: 64,
        lr: 2e-3,
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
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    Ok(a)
}

/// He-uniform weights for a layer with `fan_in` inputs, zero bias.
fn init(rng: &mut Rng, shape: &[usize], fan_in: usize, dev: &Device) -> candle_core::Result<(Var, Var)> {
    let bound = (6.0 / fan_in as f32).sqrt();
    let n: usize = shape.iter().product();
    let w: Vec<f32> = (0..n).map(|_| rng.symmetric() * bound).collect();
    let w = Var::from_vec(w, shape.to_vec(), dev)?;
    let b = Var::zeros(shape[0], DType::F32, dev)?;
    Ok((w, b))
}

struct Net {
    params: Vec<Var>,
}

impl Net {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let p = &self.params;
        let x = x.conv2d(p[0].as_tensor(), 0, 1, 1, 1)?;
        let x = x.broadcast_add(&p[1].as_tensor().reshape((1, 8, 1, 1))?)?.relu()?.max_pool2d(2)?;
        let x = x.conv2d(p[2].as_tensor(), 0, 1, 1, 1)?;
        let x = x.broadcast_add(&p[3].as_tensor().reshape((1, 15, 1, 1))?)?.relu()?.max_pool2d(2)?;
        let x = x.flatten_from(1)?;
        x.matmul(&p[4].as_tensor().t()?)?.broadcast_add(p[5].as_tensor())
    }
}

fn values(v: &Var) -> candle_core::Result<Vec<f64>> {
    Ok(v.as_tensor().flatten_all()?.to_vec1::<f32>()?.into_iter().map(f64::from).collect())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let start = Instant::now();
    let dev = Device::Cpu;
    let mnist = Mnist::load_dir(&args.data)?;
    let (xs, ys) = training_split(&mnist, &dev)?;
    let n = xs.dim(0)?;

    let mut rng = Rng(args.seed);
    let (w1, b1) = init(&mut rng, &[8, 1, 5, 5], 25, &dev)?;
    let (w2, b2) = init(&mut rng, &[15, 8, 5, 5], 200, &dev)?;
    let (w3, b3) = init(&mut rng, &[10, 240], 240, &dev)?;
    let net = Net { params: vec![w1, b1, w2, b2, w3, b3] };
    let mut opt = AdamW::new(net.params.clone(), ParamsAdamW { lr: args.lr, weight_decay: 0.0, ..Default::default() })?;
    let mut order: Vec<u32> = (0..n as u32).collect();
    for epoch in 0..args.epochs {
        opt.set_learning_rate(args.lr * 0.5f64.powi(epoch as i32));
        rng.shuffle(&mut order);
        let (mut loss_sum, mut batches) = (0.0, 0);
        for chunk in order.chunks(args.batch) {
            let idx = Tensor::from_slice(chunk, chunk.len(), &dev)?;
            let x = xs.index_select(&idx, 0)?;
            let y = ys.index_select(&idx, 0)?;
            let loss = candle_nn::loss::cross_entropy(&net.forward(&x)?, &y)?;
            opt.backward_step(&loss)?;
            loss_sum += loss.to_scalar::<f32>()? as f64;
            batches += 1;
        }
        println!(
            "epoch {}: mean loss {:.4}, {:.1} s",
            epoch + 1,
            loss_sum / batches as f64,
            start.elapsed().as_secs_f64()
        );
    }

    let p = &net.params;
    let conv = |w: &Var, b: &Var, in_c, out_c| -> candle_core::Result<Conv2d> {
        Ok(Conv2d {
            out_c,
            in_c,
            kernel: (5, 5),
            stride: (1, 1),
            pad: [0; 4],
            weight: values(w)?.into(),
            bias: values(b)?.into(),
        })
    };
    let model = ModelBuilder::new(vec![1, 28, 28])
        .conv2d(conv(&p[0], &p[1], 1, 8)?)
        .relu()
        .max_pool(Pool2d::square(2))
        .conv2d(conv(&p[2], &p[3], 8, 15)?)
        .relu()
        .max_pool(Pool2d::square(2))
        .flatten()
        .linear(Linear { out_dim: 10, in_dim: 240, weight: values(&p[4])?.into(), bias: values(&p[5])?.into() })
        .build()?;
    let train_secs = start.elapsed().as_secs_f64();
    let acc = accuracy(&model, &mnist.test_images, &mnist.test_labels)?;
    std::fs::write(&args.out, model.to_bytes())?;
    println!(
        "seed {}, {} epochs, batch {}, lr {}: trained in {:.1} s; test accuracy {:.2}% ({} / 10000); wrote {}",
        args.seed,
        args.epochs,
        args.batch,
        args.lr,
        train_secs,
        acc * 100.0,
        (acc * 10_000.0).round(),
        args.out.display()
    );
    Ok(())
}
