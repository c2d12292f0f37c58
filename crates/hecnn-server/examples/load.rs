//! Load test (loopback only, not part of CI): `CLIENTS` concurrent clients,
//! each with its own tenant, upload 64 KiB blobs and poll their listing for
//! `SECONDS`; prints p50/p99 latencies of the polls and of the uploads, the
//! upload throughput, and every status that is not 201/200.
//!
//! `cargo run --release -p hecnn-server --example load -- [CLIENTS] [SECONDS]` (default 50, 60).

use std::time::{Duration, Instant};

use hecnn_server::api::Limits;
use hecnn_server::store::Store;

fn main() {
    let arg = |i: usize, d: u64| std::env::args().nth(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (clients, seconds) = (arg(1, 50) as usize, arg(2, 60));
    let dir = tempfile::tempdir().expect("temp dir");
    let tokens: Vec<String> = {
        let store = Store::open(dir.path()).expect("store");
        (0..clients).map(|i| store.create_tenant(&format!("t{i}")).expect("tenant")).collect()
    };
    let server = hecnn_server::Background::start(dir.path(), Limits::default()).expect("server");
    let url = server.url();
    let end = Instant::now() + Duration::from_secs(seconds);
    let threads: Vec<_> = tokens
        .into_iter()
        .enumerate()
        .map(|(i, token)| {
            let url = url.clone();
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
                let auth = format!("Bearer {token}");
                let (mut polls, mut puts, mut odd) = (Vec::new(), Vec::new(), Vec::new());
                let mut n = 0u64;
                while Instant::now() < end {
                    let body: Vec<u8> = (0..65536u32).map(|k| (k as u64 * 31 + n * 7 + i as u64) as u8).collect();
                    let t = Instant::now();
                    let r = agent.put(&format!("{url}/v1/blobs")).header("Authorization", &auth).send(&body[..]);
                    puts.push(t.elapsed());
                    match r {
                        Ok(r) if r.status().as_u16() == 201 => {}
                        Ok(r) => odd.push(r.status().as_u16()),
                        Err(_) => odd.push(0),
                    }
                    let t = Instant::now();
                    let r = agent.get(&format!("{url}/v1/blobs")).header("Authorization", &auth).call();
                    polls.push(t.elapsed());
                    match r {
                        Ok(mut r) if r.status().as_u16() == 200 => {
                            let _ = r.body_mut().read_to_vec();
                        }
                        Ok(r) => odd.push(r.status().as_u16()),
                        Err(_) => odd.push(0),
                    }
                    n += 1;
                }
                (polls, puts, odd)
            })
        })
        .collect();
    let (mut polls, mut puts, mut odd) = (Vec::new(), Vec::new(), Vec::new());
    for t in threads {
        let (p, u, o) = t.join().expect("client thread");
        polls.extend(p);
        puts.extend(u);
        odd.extend(o);
    }
    polls.sort();
    puts.sort();
    let pct = |v: &[Duration], q: f64| v[((v.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1e3;
    println!(
        "{clients} clients, {seconds} s: {} uploads of 64 KiB ({:.1} MiB/s), {} polls; poll p50 {:.2} ms p99 {:.2} ms; upload p50 {:.2} ms p99 {:.2} ms; other statuses: {:?}",
        puts.len(),
        puts.len() as f64 * 65536.0 / 1048576.0 / seconds as f64,
        polls.len(),
        pct(&polls, 0.5),
        pct(&polls, 0.99),
        pct(&puts, 0.5),
        pct(&puts, 0.99),
        odd
    );
}
