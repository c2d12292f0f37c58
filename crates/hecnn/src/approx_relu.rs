//! `hecnn approx relu`: the composite ReLU for precision α, measured in
//! plaintext and, with `--encrypted`, on one full ciphertext.

use anyhow::{Context as _, Result};
use hecnn_approx::composite::search;
use hecnn_ckks::circuits::{CompositeCircuit, PolyEvaluator};
use hecnn_ckks::{Context, Decryptor, Encoder, Evaluator, Preset, RelinKey, SecretKey};
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use std::time::Instant;

/// What `--json` prints.
#[derive(Debug, Serialize)]
pub struct ReluReport {
    pub alpha: u32,
    pub eps: f64,
    pub degrees: Vec<usize>,
    /// Levels ReLU consumes (sign stages + the product with x).
    pub depth: usize,
    /// Largest |ReLU_poly(x) − ReLU(x)| on 10^5 points of [−1, 1].
    pub plaintext_max_error: f64,
    pub encrypted: Option<EncryptedRelu>,
}

/// One encrypted evaluation.
#[derive(Debug, Serialize)]
pub struct EncryptedRelu {
    pub preset: String,
    pub n: usize,
    pub slots: usize,
    pub threads: usize,
    pub security_bits: f64,
    pub level_before: usize,
    pub level_after: usize,
    pub levels_consumed: usize,
    pub nonscalar_mults: usize,
    pub seconds: f64,
    /// −log2 of the max error against the same polynomial in f64.
    pub precision_bits: f64,
    /// Max error against the exact ReLU.
    pub max_error_vs_exact: f64,
}

/// Runs the measurement; `preset` set means encrypted.
pub fn run(alpha: u32, eps: f64, preset: Option<&str>, progress: &dyn Fn(&str)) -> Result<ReluReport> {
    progress("searching the degree sequence");
    let sign = search(alpha, eps)?;
    let circuit = CompositeCircuit::from_sign(&sign)?;
    let plaintext_max_error = (0..=100_000)
        .map(|i| -1.0 + 2.0 * i as f64 / 100_000.0)
        .map(|x| (sign.relu(x) - x.max(0.0)).abs())
        .fold(0.0, f64::max);
    let encrypted = match preset {
        Some(name) => Some(encrypted(&circuit, name, progress)?),
        None => None,
    };
    Ok(ReluReport {
        alpha,
        eps,
        degrees: sign.degrees.clone(),
        depth: circuit.relu_depth(),
        plaintext_max_error,
        encrypted,
    })
}

fn encrypted(circuit: &CompositeCircuit, preset: &str, progress: &dyn Fn(&str)) -> Result<EncryptedRelu> {
    let params = Preset::from_name(preset)?.params();
    let security_bits = params.security_bits().floor();
    let ctx = Context::new(params)?;
    let level = ctx.max_level();
    if level < circuit.relu_depth() {
        anyhow::bail!(
            "preset {preset} has {level} levels; ReLU at this α needs {} (try --preset deep)",
            circuit.relu_depth()
        );
    }
    progress("generating keys");
    let sk = SecretKey::generate(&ctx);
    let rlk = RelinKey::generate(&sk);
    let dec = Decryptor::new(&sk);
    let enc = Encoder::new(&ctx);
    let slots = ctx.n() / 2;
    let mut rng = rand::rngs::StdRng::seed_from_u64(13);
    let x: Vec<f64> = (0..slots).map(|_| rng.random_range(-1.0..1.0)).collect();
    let scale = ctx.params().scale();
    let ct = dec.encrypt_symmetric(&enc.encode_real(&x, slots, level, scale)?)?.expand(&ctx)?;
    let ev = Evaluator::new(&ctx);
    let pe = PolyEvaluator::new(&ev, &rlk);
    progress("evaluating ReLU on the ciphertext");
    let start = Instant::now();
    let y = circuit.relu(&pe, &ct, scale).context("encrypted ReLU")?;
    let seconds = start.elapsed().as_secs_f64();
    let got = enc.decode_real(&dec.decrypt(&y)?)?;
    let (mut vs_poly, mut vs_exact) = (0.0f64, 0.0f64);
    for (&g, &t) in got.iter().zip(&x) {
        vs_poly = vs_poly.max((g - t * (1.0 + circuit.eval_plain(t)) / 2.0).abs());
        vs_exact = vs_exact.max((g - t.max(0.0)).abs());
    }
    Ok(EncryptedRelu {
        preset: preset.to_string(),
        n: ctx.n(),
        slots,
        threads: rayon::current_num_threads(),
        security_bits,
        level_before: level,
        level_after: y.level(),
        levels_consumed: level - y.level(),
        nonscalar_mults: pe.nonscalar_mults(),
        seconds,
        precision_bits: -vs_poly.log2(),
        max_error_vs_exact: vs_exact,
    })
}

/// Human-readable report.
pub fn print(r: &ReluReport) {
    let degrees = r.degrees.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("∘");
    println!(
        "ReLU for α={} (ε={:.3e}): sign degrees {degrees}, depth {} (sign + 1 product); plaintext max error {:.3e}",
        r.alpha, r.eps, r.depth, r.plaintext_max_error
    );
    if let Some(e) = &r.encrypted {
        println!(
            "encrypted ({}, N={}, {} slots, {} threads, {}-bit security): level {} → {} ({} levels), {} products, \
             {:.2} s; {:.1} bits vs the plaintext polynomial, max error vs exact ReLU {:.3e}",
            e.preset,
            e.n,
            e.slots,
            e.threads,
            e.security_bits,
            e.level_before,
            e.level_after,
            e.levels_consumed,
            e.nonscalar_mults,
            e.seconds,
            e.precision_bits,
            e.max_error_vs_exact
        );
    }
}
