//! `hecnn bench bootstrap`: one bootstrap on the `bootstrappable` preset,
//! timed, with its precision, the levels it leaves and its key size.

use anyhow::{bail, Result};
use hecnn_ckks::circuits::{BootstrapConfig, BootstrapKeys, BootstrapPhases, Bootstrapper, SlotValues};
use hecnn_ckks::{Context, Decryptor, Encoder, Preset, RelinKey, SecretKey};
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use std::time::Instant;

/// What `--json` prints.
#[derive(Debug, Serialize)]
pub struct BootstrapBench {
    pub preset: &'static str,
    pub n: usize,
    pub slots: usize,
    pub threads: usize,
    /// Real vectors refreshed per bootstrap: 2 with `--real-pair`
    /// (`a + i·b` through one bootstrap, split by one conjugation).
    pub vectors_per_bootstrap: usize,
    /// Median wall time of one bootstrap (of the pair, with `--real-pair`).
    pub seconds: f64,
    pub seconds_all: Vec<f64>,
    /// −log2 of the max abs error over all slots (inputs uniform in [−1, 1]).
    pub precision_bits: f64,
    /// Levels for computation between bootstraps (output minus input level).
    pub levels_left: usize,
    /// The level the input is bootstrapped at (0; 3 with `--stc-first`)
    /// and the level the output comes out at.
    pub input_level: usize,
    pub output_level: usize,
    /// Whether SlotsToCoeffs ran first (`--stc-first`).
    pub stc_first: bool,
    /// Whether the input was bootstrapped as real values (`--real`:
    /// `Bootstrapper::bootstrap_real`, one EvalMod with `--stc-first`).
    pub real: bool,
    pub security_bits: f64,
    /// Serialized bootstrapping keys (switching keys + Galois keys, seeded).
    pub key_bytes: u64,
    /// The same keys as held in memory (every residue in 64 bits, with the
    /// `a` parts expanded from their seeds).
    pub key_memory_bytes: u64,
    /// Peak resident memory of the whole run (keygen included), MiB.
    pub peak_rss_mb: f64,
    pub key_switches: usize,
    pub keygen_seconds: f64,
    /// Whether the AVX-512 IFMA kernels ran (`hecnn_ckks::ring::ifma_kernels`).
    pub ifma: bool,
    /// Where the last repetition's time went (the first one also pays the
    /// process's first-touch page faults); absent with `--real-pair`.
    pub phase_seconds: Option<BootstrapPhases>,
}

/// Generates keys, bootstraps `reps` times, reports the median.
pub fn run(
    slots: Option<usize>,
    reps: usize,
    real_pair: bool,
    stc_first: bool,
    real: bool,
    progress: &dyn Fn(&str),
) -> Result<BootstrapBench> {
    let preset = Preset::Bootstrappable;
    let params = preset.params();
    let security_bits = params.security_bits().floor();
    let ctx = Context::new(params)?;
    let slots = slots.unwrap_or(ctx.n() / 2);
    if !slots.is_power_of_two() || slots < 2 || slots > ctx.n() / 2 {
        bail!("--slots {slots}: need a power of two in 2..={}", ctx.n() / 2);
    }
    progress("client: secret, relinearization and bootstrapping keys");
    let t = Instant::now();
    let sk = SecretKey::generate(&ctx);
    let rlk = RelinKey::generate(&sk);
    let config = BootstrapConfig { slots_to_coeffs_first: stc_first, ..BootstrapConfig::default() };
    let keys = BootstrapKeys::generate(&sk, &config, &[slots])?;
    let keygen_seconds = t.elapsed().as_secs_f64();
    let boot = Bootstrapper::new(&ctx, config, &[slots])?;
    let enc = Encoder::new(&ctx);
    let dec = Decryptor::new(&sk);
    let mut rng = rand::rngs::StdRng::seed_from_u64(2026);
    let x: Vec<f64> = (0..slots).map(|_| rng.random_range(-1.0..1.0)).collect();
    let y: Vec<f64> = (0..slots).map(|_| rng.random_range(-1.0..1.0)).collect();
    let input = boot.input_level();
    let ct = dec.encrypt_symmetric(&enc.encode_real(&x, slots, input, ctx.params().scale())?)?.expand(&ctx)?;
    let ct_y = dec.encrypt_symmetric(&enc.encode_real(&y, slots, input, ctx.params().scale())?)?.expand(&ctx)?;
    let mut times = Vec::with_capacity(reps);
    let mut worst = 0.0f64;
    let mut phase_seconds = None;
    for r in 0..reps.max(1) {
        progress(&format!("server: bootstrap {}/{}", r + 1, reps.max(1)));
        let t = Instant::now();
        let outs = if real_pair {
            let (a, b) = boot.bootstrap_real_pair(&ct, &ct_y, &rlk, &keys)?;
            vec![(a, &x), (b, &y)]
        } else {
            let values = if real { SlotValues::Real } else { SlotValues::Complex };
            let (out, phases) = boot.bootstrap_phased(&ct, &rlk, &keys, values)?;
            phase_seconds = Some(phases);
            vec![(out, &x)]
        };
        times.push(t.elapsed().as_secs_f64());
        for (out, want) in outs {
            let got = enc.decode_real(&dec.decrypt(&out)?)?;
            worst = worst.max(got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max));
        }
    }
    Ok(BootstrapBench {
        preset: preset.name(),
        n: ctx.n(),
        slots,
        threads: rayon::current_num_threads(),
        vectors_per_bootstrap: if real_pair { 2 } else { 1 },
        seconds: crate::bench_ckks::median(&times),
        seconds_all: times,
        precision_bits: -worst.log2(),
        levels_left: boot.levels_left(),
        input_level: input,
        output_level: boot.output_level(),
        stc_first,
        real,
        security_bits,
        key_bytes: keys.serialized_len(&ctx),
        key_memory_bytes: keys.memory_bytes() as u64,
        peak_rss_mb: crate::train::peak_rss_mb(),
        key_switches: boot.rotation_count(slots).unwrap_or(0),
        keygen_seconds,
        ifma: hecnn_ckks::ring::ifma_kernels(),
        phase_seconds,
    })
}

/// Human-readable report.
pub fn print(r: &BootstrapBench) {
    println!(
        "bootstrap ({}, N={}, {} slots, {} threads{}, {}-bit security{}{}): {:.2} s median of {:?}, \
         {:.1} bits, {} levels left (level {} → {}), {} key switches, keys {:.2} GiB ({:.2} GiB in memory, \
         keygen {:.1} s), peak {:.0} MiB",
        r.preset,
        r.n,
        r.slots,
        r.threads,
        if r.ifma { ", IFMA" } else { "" },
        r.security_bits,
        if r.vectors_per_bootstrap == 2 { ", two real vectors at once" } else { "" },
        match (r.stc_first, r.real) {
            (true, true) => ", SlotsToCoeffs first, real",
            (true, false) => ", SlotsToCoeffs first",
            (false, true) => ", real",
            (false, false) => "",
        },
        r.seconds,
        r.seconds_all.iter().map(|s| (s * 100.0).round() / 100.0).collect::<Vec<_>>(),
        r.precision_bits,
        r.levels_left,
        r.input_level,
        r.output_level,
        r.key_switches,
        r.key_bytes as f64 / (1u64 << 30) as f64,
        r.key_memory_bytes as f64 / (1u64 << 30) as f64,
        r.keygen_seconds,
        r.peak_rss_mb
    );
    if let Some(p) = &r.phase_seconds {
        println!(
            "  last bootstrap: ModRaise + sub-sum {:.2} s, CoeffsToSlots {:.2} s, EvalMod {:.2} s, SlotsToCoeffs {:.2} s",
            p.mod_raise, p.coeffs_to_slots, p.eval_mod, p.slots_to_coeffs
        );
    }
}
