//! Criterion benches of the composite activations: encrypted ReLU at α = 13
//! on one full ciphertext at N=2^16 (deep preset, from the top level; 18
//! levels), on 1 and 2 threads, and the time of the degree search.
//!
//! `cargo bench -p hecnn-ckks --bench activation`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use hecnn_approx::composite::{clear_cache, default_eps, search};
use hecnn_ckks::circuits::{CompositeCircuit, PolyEvaluator};
use hecnn_ckks::*;
use std::time::Duration;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("approx");
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));
    for alpha in [8u32, 13] {
        g.bench_with_input(BenchmarkId::new("degree_search", alpha), &alpha, |b, &a| {
            b.iter(|| {
                clear_cache();
                search(a, default_eps(a)).unwrap()
            })
        });
    }
    g.finish();

    let circuit = CompositeCircuit::from_sign(&search(13, default_eps(13)).unwrap()).unwrap();
    let ctx = Context::new(Preset::Deep.params()).unwrap();
    let sk = SecretKey::generate(&ctx);
    let rlk = RelinKey::generate(&sk);
    let encoder = Encoder::new(&ctx);
    let slots = ctx.n() / 2;
    let vals: Vec<f64> = (0..slots).map(|i| ((i * 7919) % 2000) as f64 / 1000.0 - 1.0).collect();
    let scale = ctx.params().scale();
    let pt = encoder.encode_real(&vals, slots, ctx.max_level(), scale).unwrap();
    let ct = Decryptor::new(&sk).encrypt_symmetric(&pt).unwrap().expand(&ctx).unwrap();
    let ev = Evaluator::new(&ctx);
    let mut g = c.benchmark_group("relu_alpha13_n16");
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(20));
    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        g.bench_with_input(BenchmarkId::new("threads", threads), &threads, |b, _| {
            b.iter(|| pool.install(|| circuit.relu(&PolyEvaluator::new(&ev, &rlk), &ct, scale).unwrap()))
        });
    }
    g.finish();
}

criterion_group!(group, benches);
criterion_main!(group);
