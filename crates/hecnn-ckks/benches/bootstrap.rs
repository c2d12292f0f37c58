//! Criterion benches of one bootstrap on the `bootstrappable` preset
//! (N=2^16, 128-bit): full slots (2^15), two real full-slot vectors at once,
//! one real full-slot vector with SlotsToCoeffs first (one EvalMod), and
//! 2^12 slots. Slow: 10 samples (criterion's minimum) of tens of seconds each.
//!
//! `RAYON_NUM_THREADS=1|2 cargo bench -p hecnn-ckks --bench bootstrap`

use criterion::{criterion_group, criterion_main, Criterion};
use hecnn_ckks::circuits::{BootstrapConfig, BootstrapKeys, Bootstrapper};
use hecnn_ckks::*;
use std::time::Duration;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bench_bootstrap(c: &mut Criterion) {
    let ctx = Context::new(Preset::Bootstrappable.params()).unwrap();
    let sk = SecretKey::generate(&ctx);
    let enc = Encryptor::new(&ctx, PublicKey::generate(&sk)).unwrap();
    let rlk = RelinKey::generate(&sk);
    let encoder = Encoder::new(&ctx);
    let config = BootstrapConfig::default();
    let full = ctx.n() / 2;
    let slot_counts = [full, 1 << 12];
    let bs = Bootstrapper::new(&ctx, config.clone(), &slot_counts).unwrap();
    let keys = BootstrapKeys::generate(&sk, &config, &slot_counts).unwrap();
    let mut g = c.benchmark_group("bootstrap/n16");
    g.sample_size(10).warm_up_time(Duration::from_millis(1)).measurement_time(Duration::from_secs(1));
    for slots in slot_counts {
        let vals: Vec<f64> = (0..slots).map(|i| ((i * 7919) % 1000) as f64 / 500.0 - 1.0).collect();
        let ct = enc.encrypt(&encoder.encode_real(&vals, slots, 0, ctx.params().scale()).unwrap()).unwrap();
        g.bench_function(format!("slots_{slots}"), |b| b.iter(|| bs.bootstrap(&ct, &rlk, &keys).unwrap()));
        if slots == full {
            // Two real vectors through one bootstrap (a + i·b, one conjugation).
            g.bench_function(format!("real_pair_slots_{slots}"), |b| {
                b.iter(|| bs.bootstrap_real_pair(&ct, &ct, &rlk, &keys).unwrap())
            });
        }
    }
    // One real full-slot vector, SlotsToCoeffs first: input at level 3,
    // one EvalMod (`Bootstrapper::bootstrap_real`).
    let first = BootstrapConfig { slots_to_coeffs_first: true, ..config };
    let bs = Bootstrapper::new(&ctx, first.clone(), &[full]).unwrap();
    let keys = BootstrapKeys::generate(&sk, &first, &[full]).unwrap();
    let vals: Vec<f64> = (0..full).map(|i| ((i * 7919) % 1000) as f64 / 500.0 - 1.0).collect();
    let ct = enc.encrypt(&encoder.encode_real(&vals, full, bs.input_level(), ctx.params().scale()).unwrap()).unwrap();
    g.bench_function(format!("real_stc_first_slots_{full}"), |b| {
        b.iter(|| bs.bootstrap_real(&ct, &rlk, &keys).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench_bootstrap);
criterion_main!(benches);
