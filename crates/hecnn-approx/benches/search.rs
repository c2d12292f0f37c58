//! Times the composite-sign degree search for α = 13, ε = 2^-13, from a cold
//! fit cache (every iteration recomputes all Remez fits it needs).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use hecnn_approx::composite::{clear_cache, default_eps, search};

fn bench_search(c: &mut Criterion) {
    let mut g = c.benchmark_group("composite_sign_search");
    g.sample_size(10).measurement_time(Duration::from_secs(30));
    g.bench_function("alpha13_cold", |b| {
        b.iter(|| {
            clear_cache();
            search(13, default_eps(13)).expect("alpha 13 search")
        })
    });
    g.bench_function("alpha13_warm", |b| b.iter(|| search(13, default_eps(13)).expect("alpha 13 search")));
    g.finish();
}

criterion_group!(benches, bench_search);
criterion_main!(benches);
