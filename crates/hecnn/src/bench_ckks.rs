//! `hecnn bench ckks`: micro-benchmarks of the CKKS primitives at the top
//! level with full slots, plus key sizes and measured precision.

use anyhow::Result;
use hecnn_ckks::{
    Context, Decryptor, Encoder, Encryptor, Evaluator, GaloisKeys, Parameters, PublicKey, RelinKey, SecretKey,
};
use serde::Serialize;
use std::time::Instant;

/// Milliseconds per operation (medians).
#[derive(Debug, Serialize)]
pub struct OpTimes {
    pub keygen: f64,
    pub galois_keygen: f64,
    pub encrypt: f64,
    pub decrypt: f64,
    pub add: f64,
    pub mul_relin: f64,
    pub rescale: f64,
    pub mul_relin_rescale: f64,
    pub rotate: f64,
    /// Per extra step of an 8-step hoisted rotation.
    pub rotate_hoisted: f64,
}

/// −log2(max abs error) over all slots, inputs uniform in [−1, 1].
#[derive(Debug, Serialize)]
pub struct Precision {
    pub fresh: f64,
    pub mul_rescale: f64,
    pub rotate: f64,
}

/// Serialized sizes in bytes.
#[derive(Debug, Serialize)]
pub struct Sizes {
    pub ciphertext: usize,
    pub ciphertext_seeded: usize,
    pub relin_key: usize,
    pub galois_key: usize,
}

/// The full report (`--json` prints it as is).
#[derive(Debug, Serialize)]
pub struct CkksBench {
    pub preset: String,
    pub n: usize,
    pub log_qp: f64,
    pub levels: usize,
    pub dnum: usize,
    pub special_primes: usize,
    pub security_bits: f64,
    pub threads: usize,
    pub slots: usize,
    pub ms: OpTimes,
    pub precision_bits: Precision,
    pub bytes: Sizes,
}

/// Median (mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut t = values.to_vec();
    t.sort_by(f64::total_cmp);
    let m = t.len() / 2;
    if t.len().is_multiple_of(2) {
        (t[m - 1] + t[m]) / 2.0
    } else {
        t[m]
    }
}

fn median_ms(reps: usize, mut f: impl FnMut()) -> f64 {
    let t: Vec<f64> = (0..reps.max(1))
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    median(&t)
}

fn bits(want: &[f64], got: &[f64]) -> f64 {
    let e = want.iter().zip(got).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    -e.log2()
}

/// Runs the benchmark; `reps` repetitions per timed operation.
pub fn run(params: Parameters, reps: usize, progress: &dyn Fn(&str)) -> Result<CkksBench> {
    let reps = reps.max(1);
    progress("building context");
    let ctx = Context::new(params.clone())?;
    let n = ctx.n();
    let slots = n / 2;
    let level = ctx.max_level();
    let scale = params.scale();
    progress("key generation");
    let keygen = median_ms(1, || {
        let sk = SecretKey::generate(&ctx);
        let _pk = PublicKey::generate(&sk);
        let _rlk = RelinKey::generate(&sk);
    });
    let sk = SecretKey::generate(&ctx);
    let pk = PublicKey::generate(&sk);
    let rlk = RelinKey::generate(&sk);
    let galois_keygen = median_ms(1, || {
        let _ = GaloisKeys::generate(&sk, &[1], false);
    });
    let steps: Vec<i64> = (1..=8).collect();
    let gk = GaloisKeys::generate(&sk, &steps, false);
    let encoder = Encoder::new(&ctx);
    let enc = Encryptor::new(&ctx, pk)?;
    let dec = Decryptor::new(&sk);
    let ev = Evaluator::new(&ctx);
    let a = random(slots, 1);
    let b = random(slots, 2);

    progress("encrypt/decrypt");
    let mut ca = None;
    let encrypt = median_ms(reps, || {
        let pt = encoder.encode_real(&a, slots, level, scale).expect("encode");
        ca = Some(enc.encrypt(&pt).expect("encrypt"));
    });
    let ca = ca.expect("ran");
    let cb = enc.encrypt(&encoder.encode_real(&b, slots, level, scale)?)?;
    let mut fresh = Vec::new();
    let decrypt = median_ms(reps, || {
        fresh = encoder.decode_real(&dec.decrypt(&ca).expect("decrypt")).expect("decode");
    });

    progress("add, mul, rescale");
    let add = median_ms(reps * 4, || {
        let _ = ev.add(&ca, &cb).expect("add");
    });
    let mut prod = None;
    let mul_relin = median_ms(reps, || {
        prod = Some(ev.mul_relin(&ca, &cb, &rlk).expect("mul"));
    });
    let prod = prod.expect("ran");
    let mut resc = None;
    let rescale = median_ms(reps, || {
        resc = Some(ev.rescale(&prod).expect("rescale"));
    });
    let mul_relin_rescale = median_ms(reps, || {
        let _ = ev.mul_relin_rescale(&ca, &cb, &rlk).expect("mul");
    });
    let resc = resc.expect("ran");

    progress("rotations");
    let mut rot = None;
    let rotate = median_ms(reps, || {
        rot = Some(ev.rotate(&ca, 1, &gk).expect("rotate"));
    });
    let hoisted8 = median_ms(reps, || {
        let _ = ev.rotate_hoisted(&ca, &steps, &gk).expect("hoisted");
    });
    let rotate_hoisted = (hoisted8 - rotate) / 7.0;

    progress("precision and sizes");
    let want_mul: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x * y).collect();
    let got_mul = encoder.decode_real(&dec.decrypt(&resc)?)?;
    let want_rot: Vec<f64> = (0..slots).map(|i| a[(i + 1) % slots]).collect();
    let got_rot = encoder.decode_real(&dec.decrypt(&rot.expect("ran"))?)?;
    let one_gk = GaloisKeys::generate(&sk, &[1], false);
    let binding = hecnn_ckks::Binding::new(sk.key_set(), "upload/x/0/0")?;
    let seeded = dec.encrypt_symmetric(&encoder.encode_real(&a, slots, level, scale)?)?;
    Ok(CkksBench {
        preset: params.name().to_string(),
        n,
        log_qp: params.log_qp(),
        levels: params.max_level(),
        dnum: params.dnum(),
        special_primes: params.p().len(),
        security_bits: params.security_bits(),
        threads: rayon::current_num_threads(),
        slots,
        ms: OpTimes {
            keygen,
            galois_keygen,
            encrypt,
            decrypt,
            add,
            mul_relin,
            rescale,
            mul_relin_rescale,
            rotate,
            rotate_hoisted,
        },
        precision_bits: Precision {
            fresh: bits(&a, &fresh),
            mul_rescale: bits(&want_mul, &got_mul),
            rotate: bits(&want_rot, &got_rot),
        },
        bytes: Sizes {
            // (A ciphertext's label is part of its size; "upload/x/0/0" is typical.)
            ciphertext: ca.serialized_len(&ctx, &binding) as usize,
            ciphertext_seeded: seeded.serialized_len(&ctx, &binding) as usize,
            relin_key: rlk.to_bytes(&ctx).len(),
            galois_key: one_gk.to_bytes(&ctx).len(),
        },
    })
}

/// Deterministic uniform values in [−1, 1].
pub fn random(len: usize, seed: u64) -> Vec<f64> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect()
}

/// Human-readable report.
pub fn print(r: &CkksBench) {
    let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
    println!(
        "CKKS benchmark: preset {} (N=2^{}, log2 QP={:.1}, {} levels, dnum {}, {} special primes, ~{:.0}-bit security)",
        r.preset,
        r.n.trailing_zeros(),
        r.log_qp,
        r.levels,
        r.dnum,
        r.special_primes,
        r.security_bits
    );
    println!("threads {}, {} slots, top level; medians in ms", r.threads, r.slots);
    let m = &r.ms;
    for (name, v) in [
        ("keygen (sk+pk+rlk)", m.keygen),
        ("one Galois key", m.galois_keygen),
        ("encode+encrypt (pk)", m.encrypt),
        ("decrypt+decode", m.decrypt),
        ("add", m.add),
        ("mul+relin", m.mul_relin),
        ("rescale", m.rescale),
        ("mul+relin+rescale", m.mul_relin_rescale),
        ("rotate", m.rotate),
        ("hoisted rotate (per extra step of 8)", m.rotate_hoisted),
    ] {
        println!("  {name:<38} {v:>10.2}");
    }
    println!(
        "precision (bits): fresh {:.1}, mul+rescale {:.1}, rotate {:.1}",
        r.precision_bits.fresh, r.precision_bits.mul_rescale, r.precision_bits.rotate
    );
    println!(
        "sizes: ciphertext {:.2} MiB (seeded {:.2} MiB), relin key {:.2} MiB, one Galois key {:.2} MiB",
        mib(r.bytes.ciphertext),
        mib(r.bytes.ciphertext_seeded),
        mib(r.bytes.relin_key),
        mib(r.bytes.galois_key)
    );
}
