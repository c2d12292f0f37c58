//! Server-side encrypted training time: the paper's workload shape
//! (128 samples × 241 features × 10 classes, 2 iterations) at the
//! `training-2iter` preset (N=2^15, 128-bit secure). Data values do not
//! change the cost, so they are synthetic here. `HECNN_BENCH_CLOCK=cpu`
//! measures process CPU time instead of wall-clock time (steadier on a
//! shared machine).
//!
//! `cargo bench -p hecnn-ml --bench train`

// The CKKS benches' measurement, shared by path (benches cannot import
// each other across crates).
#[path = "../../hecnn-ckks/benches/support/clock.rs"]
mod clock;

use clock::Clock;
use criterion::{criterion_group, criterion_main, Criterion};
use hecnn_ckks::{Context, EvaluationKeySet, GaloisKeys, Preset, RelinKey, SecretKey};
use hecnn_ml::mlr::client::TrainingClient;
use hecnn_ml::mlr::server::{Trainer, PAPER_SIGMOID};
use hecnn_ml::packing::Layout;
use std::time::Duration;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bench(c: &mut Criterion<Clock>) {
    let (n, d, classes) = (128usize, 241usize, 10usize);
    let ctx = Context::new(Preset::Training2Iter.params()).unwrap();
    let layout = Layout::choose(n, d, classes, ctx.n() / 2).unwrap();
    let sk = SecretKey::generate(&ctx);
    let rlk = RelinKey::generate(&sk);
    let gk = GaloisKeys::generate(&sk, &layout.rotation_steps(), false);
    let x: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..d).map(|j| if j == 0 { 1.0 } else { ((i * 31 + j * 7) % 100) as f64 / 100.0 }).collect())
        .collect();
    let xs: Vec<Vec<f64>> = x.iter().map(|r| r.iter().map(|v| v * 0.003).collect()).collect();
    let y: Vec<u8> = (0..n).map(|i| (i % classes) as u8).collect();
    let init = vec![vec![0.0128; d]; classes];
    let data = TrainingClient::new(&sk).encrypt_dataset(&x, &xs, &y, classes, &init, layout).unwrap();
    let data = data.expand(&ctx).unwrap();
    let keys = EvaluationKeySet::new(&ctx, rlk, gk, None).unwrap();
    let trainer = Trainer::new(&keys);
    let mut g = c.benchmark_group("train");
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(20));
    g.bench_function("server_128x241_2iter_n15", |b| {
        b.iter(|| trainer.train(&data, 2, &PAPER_SIGMOID, &mut |_| {}).unwrap())
    });
    g.finish();
}

criterion_group! {
    name = train;
    config = Criterion::default().with_measurement(Clock::from_env());
    targets = bench
}
criterion_main!(train);
