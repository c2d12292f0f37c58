//! Criterion benches of the CKKS primitives at N=2^15 and N=2^16 (top
//! level, full slots): `ckks/n15` (`medium`), `ckks/n16` (`deep`) and
//! `ckks/n16-boot` (`bootstrappable`, whose key switches bootstrapping
//! runs). Threads: `RAYON_NUM_THREADS=1|2`; `HECNN_BENCH_CLOCK=cpu`
//! measures process CPU time instead of wall-clock time (steadier on a
//! shared machine; `support/clock.rs`).
//!
//! `cargo bench -p hecnn-ckks --bench ckks`

mod support {
    pub mod clock;
}

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use hecnn_ckks::keys::switching::{decompose, inner_product, mod_down};
use hecnn_ckks::ring::ntt::NttTable;
use hecnn_ckks::*;
use std::time::Duration;
use support::clock::Clock;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bench_preset(c: &mut Criterion<Clock>, preset: Preset, suffix: &str) {
    let params = preset.params();
    let label = format!("n{}{suffix}", params.log_n());
    let ctx = Context::new(params).unwrap();
    let sk = SecretKey::generate(&ctx);
    let enc = Encryptor::new(&ctx, PublicKey::generate(&sk)).unwrap();
    let rlk = RelinKey::generate(&sk);
    let steps: Vec<i64> = (1..=8).collect();
    let gk = GaloisKeys::generate(&sk, &steps, false);
    let encoder = Encoder::new(&ctx);
    let ev = Evaluator::new(&ctx);
    let n = ctx.n();
    let l = ctx.max_level();
    let vals: Vec<f64> = (0..n / 2).map(|i| ((i * 7919) % 1000) as f64 / 500.0 - 1.0).collect();
    let pt = encoder.encode_real(&vals, n / 2, l, ctx.params().scale()).unwrap();
    let ct = enc.encrypt(&pt).unwrap();

    let mut g = c.benchmark_group(format!("ckks/{label}"));
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    let q = ctx.moduli()[1];
    let ntt = NttTable::new(n, &q).unwrap();
    let mut limb = ct.parts()[0].limb(1).to_vec();
    g.bench_function("ntt_forward_one_limb", |b| b.iter(|| ntt.forward(&mut limb)));
    g.bench_function("encode_encrypt", |b| {
        b.iter(|| enc.encrypt(&encoder.encode_real(&vals, n / 2, l, ctx.params().scale()).unwrap()).unwrap())
    });
    g.bench_function("add", |b| b.iter(|| ev.add(&ct, &ct).unwrap()));
    g.bench_function("mul_relin", |b| b.iter(|| ev.mul_relin(&ct, &ct, &rlk).unwrap()));
    let prod = ev.mul_relin(&ct, &ct, &rlk).unwrap();
    g.bench_function("rescale", |b| b.iter(|| ev.rescale(&prod).unwrap()));
    g.bench_function("mul_relin_rescale", |b| b.iter(|| ev.mul_relin_rescale(&ct, &ct, &rlk).unwrap()));
    g.bench_function("rotate", |b| b.iter(|| ev.rotate(&ct, 1, &gk).unwrap()));
    g.bench_with_input(BenchmarkId::new("rotate_hoisted", 8), &steps, |b, s| {
        b.iter(|| ev.rotate_hoisted(&ct, s, &gk).unwrap())
    });
    let dec = decompose(&ctx, &ct.parts()[1]);
    g.bench_function("keyswitch_decompose", |b| b.iter(|| decompose(&ctx, &ct.parts()[1])));
    g.bench_function("keyswitch_inner_product", |b| b.iter(|| inner_product(&ctx, &dec, rlk.switching_key(), None)));
    let [x0, _] = inner_product(&ctx, &dec, rlk.switching_key(), None);
    g.bench_function("keyswitch_mod_down", |b| b.iter(|| mod_down(&ctx, &x0)));
    g.finish();
}

fn benches(c: &mut Criterion<Clock>) {
    bench_preset(c, Preset::Medium, "");
    bench_preset(c, Preset::Deep, "");
    bench_preset(c, Preset::Bootstrappable, "-boot");
}

criterion_group! {
    name = ckks;
    config = Criterion::default().with_measurement(Clock::from_env());
    targets = benches
}
criterion_main!(ckks);
