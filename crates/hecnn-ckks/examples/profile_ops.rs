//! Per-primitive CPU-time profile at N=2^16 (deep preset), one thread.
//! CPU time (not wall time) so the numbers hold on a loaded machine.
//! `cargo run --release -p hecnn-ckks --example profile_ops [preset | inference-DEPTH]`

use hecnn_ckks::ring::RnsPoly;
use hecnn_ckks::*;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn cpu_ms() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 / 1e6
}

fn faults() -> i64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    ru.ru_minflt
}

fn time(name: &str, reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let t = cpu_ms();
    let pf = faults();
    for _ in 0..reps {
        f();
    }
    let ms = (cpu_ms() - t) / reps as f64;
    let pf = (faults() - pf) as f64 / reps as f64;
    println!("{name:<32} {ms:>10.3} ms   {pf:>8.0} page faults/op");
    ms
}

fn main() {
    let preset = std::env::args().nth(1).unwrap_or_else(|| "deep".into());
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    pool.install(|| {
        let params = match preset.strip_prefix("inference-") {
            Some(depth) => Parameters::inference_chain(depth.parse().unwrap()).unwrap(),
            None => Preset::from_name(&preset).unwrap().params(),
        };
        println!("{}: {} q primes, {} p primes, dnum {}", params.name(), params.q().len(), params.p().len(), params.dnum());
        let ctx = Context::new(params).unwrap();
        let sk = SecretKey::generate(&ctx);
        let pk = PublicKey::generate(&sk);
        let rlk = RelinKey::generate(&sk);
        let gk = GaloisKeys::generate(&sk, &[1], false);
        let enc = Encryptor::new(&ctx, pk).unwrap();
        let encoder = Encoder::new(&ctx);
        let ev = Evaluator::new(&ctx);
        let n = ctx.n();
        let l = ctx.max_level();
        let vals: Vec<f64> = (0..n / 2).map(|i| (i as f64).sin()).collect();
        let pt = encoder.encode_real(&vals, n / 2, l, ctx.params().scale()).unwrap();
        let ct = enc.encrypt(&pt).unwrap();
        let mut limb = ct.parts()[0].limb(1).to_vec();
        let q = ctx.moduli()[1];
        let ntt = hecnn_ckks::ring::ntt::NttTable::new(n, &q).unwrap();
        let t_ntt = time("NTT forward (1 limb)", 200, || ntt.forward(&mut limb));
        time("NTT inverse+normalize (1 limb)", 200, || ntt.inverse(&mut limb));
        let mut poly: RnsPoly = ct.parts()[1].clone();
        time("INTT all limbs", 10, || {
            ctx.ntt_inverse(&mut poly);
            ctx.ntt_forward(&mut poly);
        });
        {
            // The top digit (above q_0, whose size may differ from the rest).
            let digit = ctx.params().digit_ranges().last().cloned().unwrap_or(0..1);
            let a = digit.len();
            let qs = &ctx.moduli()[digit.clone()];
            let dst: Vec<_> = ctx.moduli().iter().enumerate().filter(|(i, _)| !digit.contains(i)).map(|(_, m)| *m).collect();
            let dst = &dst[..];
            let conv = hecnn_ckks::ring::basis::BasisConverter::new(qs, dst, n);
            let input = ct.parts()[0].data()[digit.start * n..digit.end * n].to_vec();
            let mut out = vec![0u64; dst.len() * n];
            time(&format!("convert {a} -> {} limbs", dst.len()), 5, || conv.convert(n, &input, &mut out));
            let mut limbs = vec![0u64; dst.len() * n];
            time(&format!("{} NTTs", dst.len()), 5, || limbs.chunks_mut(n).for_each(|l| ntt.forward(l)));
        }
        let t_dec = time("decompose (ModUp)", 5, || {
            let _ = hecnn_ckks::keys::switching::decompose(&ctx, &ct.parts()[1]);
        });
        let dec = hecnn_ckks::keys::switching::decompose(&ctx, &ct.parts()[1]);
        let mut x = None;
        let t_ip = time("inner product", 5, || {
            x = Some(ev.context().clone());
            let _ = hecnn_ckks::keys::switching::inner_product(&ctx, &dec, &rlk_key(&rlk), None);
        });
        let expanded = rlk_key(&rlk).expanded(&ctx, l);
        time("inner product (a expanded)", 5, || {
            let _ = hecnn_ckks::keys::switching::inner_product(&ctx, &dec, &expanded, None);
        });
        let [x0, _x1] = hecnn_ckks::keys::switching::inner_product(&ctx, &dec, &rlk_key(&rlk), None);
        let t_md = time("mod_down (one poly)", 5, || {
            let _ = hecnn_ckks::keys::switching::mod_down(&ctx, &x0);
        });
        let t_tensor = time("tensor (mul, no relin)", 5, || {
            let _ = ev.mul(&ct, &ct).unwrap();
        });
        let three = ev.mul(&ct, &ct).unwrap();
        time("relinearize", 5, || {
            let _ = ev.relinearize(&three, &rlk).unwrap();
        });
        let m = ev.relinearize(&three, &rlk).unwrap();
        time("rescale", 5, || {
            let _ = ev.rescale(&m).unwrap();
        });
        time("mul+relin+rescale", 5, || {
            let _ = ev.mul_relin_rescale(&ct, &ct, &rlk).unwrap();
        });
        time("rotate", 5, || {
            let _ = ev.rotate(&ct, 1, &gk).unwrap();
        });
        let cvals: Vec<Complex64> = vals.iter().map(|&v| Complex64::new(v, 0.0)).collect();
        time("encode (all slots, top level)", 5, || {
            let _ = encoder.encode(&cvals, n / 2, l, ctx.params().q()[l] as f64).unwrap();
        });
        time("add", 20, || {
            let _ = ev.add(&ct, &ct).unwrap();
        });
        println!(
            "key switch ≈ decompose {t_dec:.1} + inner product {t_ip:.1} + 2×mod_down {:.1}; NTT-equivalents: {:.0}; tensor {t_tensor:.1}",
            2.0 * t_md,
            (t_dec + t_ip + 2.0 * t_md) / t_ntt
        );
    });
}

fn rlk_key(r: &RelinKey) -> hecnn_ckks::keys::switching::SwitchingKey {
    r.switching_key().clone()
}
