//! `hecnn`: encrypted CNN training and inference on CKKS, from the command line.

mod bench_ckks;

/// Large RNS buffers are allocated and freed constantly; mimalloc reuses
/// them instead of returning pages to the kernel and faulting them back.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};
use hecnn_ckks::{Parameters, Preset};
use serde::Serialize;

#[derive(Parser)]
#[command(name = "hecnn", version, about = "Homomorphically encrypted CNN training and inference (RNS-CKKS)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the parameter presets and their security.
    Params {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// CKKS primitives at the top level with full slots.
    Ckks {
        /// Preset name (see `hecnn params`).
        #[arg(long, default_value = "light")]
        preset: String,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Repetitions per timed operation (median reported).
        #[arg(long, default_value_t = 5)]
        reps: usize,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Serialize)]
struct PresetRow {
    name: &'static str,
    purpose: &'static str,
    n: usize,
    log_qp: f64,
    levels: usize,
    log_scale: u32,
    dnum: usize,
    special_primes: usize,
    security_bits: f64,
}

fn preset_rows() -> Vec<PresetRow> {
    Preset::ALL
        .iter()
        .map(|&p| {
            let q: Parameters = p.params();
            PresetRow {
                name: p.name(),
                purpose: p.purpose(),
                n: q.n(),
                log_qp: (q.log_qp() * 10.0).round() / 10.0,
                levels: q.max_level(),
                log_scale: q.log_scale,
                dnum: q.dnum,
                special_primes: q.p.len(),
                security_bits: q.security_bits().floor(),
            }
        })
        .collect()
}

fn with_threads<T: Send>(threads: Option<usize>, f: impl FnOnce() -> T + Send) -> Result<T> {
    match threads {
        Some(t) => {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(t.max(1)).build().context("thread pool")?;
            Ok(pool.install(f))
        }
        None => Ok(f()),
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Params { json } => {
            let rows = preset_rows();
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!(
                    "{:<15} {:>7} {:>8} {:>7} {:>6} {:>5} {:>4} {:>9}  purpose",
                    "name", "N", "log2 QP", "levels", "log Δ", "dnum", "P", "security"
                );
                for r in rows {
                    println!(
                        "{:<15} {:>7} {:>8.1} {:>7} {:>6} {:>5} {:>4} {:>8}b  {}",
                        r.name,
                        r.n,
                        r.log_qp,
                        r.levels,
                        r.log_scale,
                        r.dnum,
                        r.special_primes,
                        r.security_bits,
                        r.purpose
                    );
                }
            }
        }
        Command::Bench { what: BenchCommand::Ckks { preset, threads, reps, json } } => {
            let params = Preset::from_name(&preset)?.params();
            let quiet = json;
            let report = with_threads(threads, move || {
                bench_ckks::run(params, reps, &|stage| {
                    if !quiet {
                        eprintln!("… {stage}");
                    }
                })
            })??;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                bench_ckks::print(&report);
            }
        }
    }
    Ok(())
}
