//! # Attack harness for the split-role files (issue 13: "tried again as an attacker")
//!
//! Crafts mutated key, upload and model directories, feeds each one to the
//! release binary's command that consumes it, and classifies what happened.
//! It is meant to be rerun unchanged on every fix of the file loaders, so the
//! "before" and "after" figures come from the same cases (same `--seed`).
//!
//! ## Commands
//!
//! ```sh
//! cargo build --release -p hecnn                                   # the binary under attack
//! cargo run --release -p hecnn --example attack -- --quick         # smoke run: ~40 cases, ~2 min
//! cargo run --release -p hecnn --example attack -- \
//!     --report scripts/attack/results/DATE.json                    # default run (see "Run time")
//! cargo run --release -p hecnn --example attack -- --list          # print the case ids, run nothing
//! cargo run --release -p hecnn --example attack -- --filter 'model/w-0.ct/substitute'   # rerun some cases
//! ```
//!
//! Options (all have defaults): `--bin target/release/hecnn`, `--work target/attack` (the honest
//! directories are built once there, under `base-PRESET-SAMPLES/`, and rebuilt when the binary
//! changes), `--preset training-2iter`, `--samples 32`, `--seed 2026`, `--per-file 24`,
//! `--header-bytes 64`, `--header-values rotate|all`, `--timeout 60` (s), `--stall 10` (s without
//! CPU time = hang; 0 disables), `--max-rss-mib 4096`, `--read-rss-mib 1024`,
//! `--server-iterations 1`, `--dirs keys,upload,model`, `--report FILE`, `--max-report-bytes 1000000`,
//! `--keep-cases`. Run only one harness at a time: it runs one `hecnn` process at a time, but
//! several harnesses would share the work directory.
//!
//! ## What it builds (once)
//!
//! Two independent key sets A and B (`hecnn keygen --preset P`), an upload from each
//! (`hecnn encrypt --samples S`), models from each (`train-server --iterations 2`), a one-iteration
//! model of A (for replays) and the honest decryption of model A (`decrypt-model`), which every
//! accepted model is compared with.
//!
//! ## Cases
//!
//! For every file of keys A, upload A and model A (the numbered `.ct` files beyond the first of each
//! kind get a reduced set), generated deterministically from `--seed` (one generator per file, so
//! adding a file does not reshuffle the others):
//!
//! - `flip-raw`/`flip-resealed`: 1..8 random bits flipped (`--per-file` cases per file, half each);
//!   resealed = the trailing 32-byte blake3 over everything before it recomputed, independent of
//!   the header layout;
//! - `set[i]=v`: every byte i of the first `--header-bytes` set to 0x00, 0xFF or a random value
//!   (rotating; `--header-values all`: all three), resealed — on the non-`.ct` files and on one
//!   ciphertext per directory;
//! - `truncate`: to 0, 28 (today's header size), 60, random lengths, without the checksum, without
//!   the last byte, and cut-and-resealed; `append`: 1 zero byte, random bytes, 1 MiB, and random bytes
//!   inserted before a recomputed checksum;
//! - JSON files (`manifest.json`, `client.json`): every numeric field (nested ones and the first and
//!   last array elements included) set to 0, 1, 2^20, 2^31, 2^63, -1, 1e308, a string, null, or a
//!   100,000-element array; every string field emptied, replaced by a number, null, a 100 kB string
//!   (and `format` by the other format); every field removed; arrays emptied, shortened, lengthened,
//!   made huge; whole documents `{}`, `[]`, `null`, 100,000 nested brackets, a duplicate key, trailing
//!   garbage, whitespace padding to 2 and 20 MiB, raw bit flips;
//! - `swap-B`: the same-name file of key set B; `exchange` and `copy` within and across the
//!   directories: x ↔ y, x ↔ xs, sample and feature indices moved, relin ↔ galois, w ↔ v, w-0 ← w-1,
//!   model replayed from the one-iteration run, and the substituted-model attack: `w-0.ct` (or every
//!   `w-F.ct`, or `v-0.ct`) replaced by the upload's `x-0-F.ct`/`xs`/`y` ciphertexts;
//! - `special`: the target replaced by a FIFO, a symlink to /dev/zero, a symlink to another file of
//!   the set, a directory, a missing file, and sparse files of 2^33 and 2^31 bytes (`set_len`, no disk).
//!
//! Each case runs in a fresh copy of the directory (small files copied, large ones hard-linked;
//! mutated files are always written as new files) with `RUST_BACKTRACE=1`:
//! keys `params.bin`/`secret.key`/`relin.key` → `decrypt-model` of the honest model A (and, for the
//! structural cases, also `encrypt`), keys `galois.key` → `encrypt`, keys `client.json` → `evaluate`
//! of the honest weights; upload → `train-server --iterations 1`; model → `decrypt-model`, then
//! `evaluate` when it succeeded. An upload that train-server accepts is followed by the
//! client's `decrypt-model --keys keysA` of the model it produced. One control case per command
//! runs on the unmodified files.
//!
//! ## Outcomes
//!
//! - `typed-error`: exit 1 with an error message that names a file (what every rejection should be);
//! - `untyped-error`: exit 1 but the message names no file;
//! - `accepted`: exit 0; for decryptions, the weights equal the honest ones (or, for encrypt and
//!   train-server, nothing to compare: the mutation went through unnoticed);
//! - `caught-by-client`: train-server accepted a mutated upload (a corrupted evaluation key cannot
//!   be told from a good one without the secret key), and the client's `decrypt-model` of the
//!   resulting model refused it with a typed error;
//! - `accepted-altered`: a decryption exited 0 with weights that differ from the honest ones;
//! - `leak`: a model whose ciphertexts were replaced by the client's uploaded data (x, xs, y) was
//!   decrypted into the weights file (the substituted-model attack succeeded);
//! - `panic`: exit 101 or "panicked at" in stderr;
//! - `abort/signal`: killed by a signal we did not send (e.g. SIGABRT after "memory allocation of N
//!   bytes failed");
//! - `hang`: killed at `--timeout`, or after `--stall` seconds without using CPU time (a blocked read);
//! - `memory`: killed when its resident memory passed `--max-rss-mib` (polled every 5 ms);
//! - `unbounded-read`: a FIFO, /dev/zero or sparse-file case that hung, ran out of memory, or read
//!   more than `--read-rss-mib` before deciding — the file was not refused before it was read;
//! - `other-exit`: any other exit status.
//!
//! Prints a table of outcomes per directory and every case that is not a `typed-error` (grouped by
//! directory, outcome and first stderr line), and writes the JSON report (one record per case:
//! target, mutation, command, stage, outcome, exit, seconds, peak RSS, first stderr line, weight
//! difference; paths shown as `{case}`/`{base}`). A report over `--max-report-bytes` keeps the summary
//! and the records that are not `typed-error`. The honest files are hashed before and after the run
//! (`base_intact` in the report).
//!
//! ## Run time
//!
//! On the 2-core development VM, building the base takes ~40 s. `--quick` runs ~40 cases in
//! ~2 minutes. The default run (1,938 cases) took 1,033 s, and 1,570 s once every upload that
//! train-server accepts is followed by the client's decryption (2026-12-05), mostly train-server
//! and encrypt loading 100 MB of rotation keys per case; reports in `scripts/attack/results/`.

use anyhow::{bail, Context as _, Result};
use clap::{Parser, ValueEnum};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::ffi::{CString, OsString};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
enum HeaderValues {
    /// One value per byte, rotating through 0x00, 0xFF, random.
    Rotate,
    /// 0x00, 0xFF and a random value for every byte.
    All,
}

/// Mutates the split-role directories and runs the release binary on them.
#[derive(Parser, Debug, Clone, Serialize)]
#[command(name = "attack")]
struct Opts {
    /// The binary under attack (build it first: cargo build --release -p hecnn).
    #[arg(long, default_value = "target/release/hecnn")]
    bin: PathBuf,
    /// Work directory: the honest directories (built once) and the per-case copies.
    #[arg(long, default_value = "target/attack")]
    work: PathBuf,
    /// Parameter preset of both key sets (never `bootstrappable` here: 13 GB).
    #[arg(long, default_value = "training-2iter")]
    preset: String,
    /// Training samples of the uploads.
    #[arg(long, default_value_t = 32)]
    samples: usize,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// Random bit-flip cases per file (the numbered .ct files beyond the first of a kind get a quarter).
    #[arg(long, default_value_t = 24)]
    per_file: usize,
    /// Header bytes edited one by one.
    #[arg(long, default_value_t = 64)]
    header_bytes: usize,
    /// Values written to each header byte.
    #[arg(long, value_enum, default_value = "rotate")]
    header_values: HeaderValues,
    /// Wall-clock limit of one command (seconds).
    #[arg(long, default_value_t = 60.0)]
    timeout: f64,
    /// Seconds without any CPU time after which a command counts as hung (0: never).
    #[arg(long, default_value_t = 10.0)]
    stall: f64,
    /// Resident-memory limit of one command (MiB).
    #[arg(long, default_value_t = 4096)]
    max_rss_mib: u64,
    /// A FIFO, /dev/zero or sparse-file case peaking above this (MiB) read the file before refusing it.
    #[arg(long, default_value_t = 1024)]
    read_rss_mib: u64,
    /// Iterations of train-server on mutated uploads.
    #[arg(long, default_value_t = 1)]
    server_iterations: usize,
    /// Directories to attack.
    #[arg(long, value_delimiter = ',', default_value = "keys,upload,model")]
    dirs: Vec<String>,
    /// Smoke run: the control cases, the named attacks and a few random others per directory.
    #[arg(long)]
    quick: bool,
    /// Run only the cases whose id contains this string.
    #[arg(long)]
    filter: Option<String>,
    /// Print the case ids and exit.
    #[arg(long)]
    list: bool,
    /// Where to write the JSON report.
    #[arg(long)]
    report: Option<PathBuf>,
    /// A larger report keeps only the summary and the records that are not typed-error.
    #[arg(long, default_value_t = 1_000_000)]
    max_report_bytes: usize,
    /// Keep each case's directory (stdout, stderr, mutated files) under WORK/cases.
    #[arg(long)]
    keep_cases: bool,
}

// ------------------------------------------------------------------ randomness

/// SplitMix64: small, fixed forever, so a seed means the same cases on every build.
struct Rng(u64);

impl Rng {
    fn for_file(seed: u64, name: &str) -> Self {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in name.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        Rng(seed ^ h)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..hi` (`hi > lo`).
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

// ------------------------------------------------------------------ cases

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Dir {
    Keys,
    Upload,
    Model,
}

impl Dir {
    fn name(self) -> &'static str {
        match self {
            Dir::Keys => "keys",
            Dir::Upload => "upload",
            Dir::Model => "model",
        }
    }
    /// Honest directory of key set A / B under the base.
    fn base(self, set: char) -> String {
        let stem = match self {
            Dir::Keys => "keys",
            Dir::Upload => "upload",
            Dir::Model => "model",
        };
        format!("{stem}{set}")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmd {
    /// keys dir → decrypt-model of the honest model A.
    DecryptModel,
    /// keys dir → encrypt.
    Encrypt,
    /// keys dir → evaluate of the honest weights.
    Evaluate,
    /// upload dir → train-server.
    TrainServer,
    /// model dir → decrypt-model, then evaluate.
    DecryptEvaluate,
}

impl Cmd {
    fn name(self) -> &'static str {
        match self {
            Cmd::DecryptModel => "decrypt-model",
            Cmd::Encrypt => "encrypt",
            Cmd::Evaluate => "evaluate",
            Cmd::TrainServer => "train-server",
            Cmd::DecryptEvaluate => "decrypt-model+evaluate",
        }
    }
}

/// What the mutation is, for the outcome rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Control,
    Bytes,
    Json,
    /// FIFO, /dev/zero, sparse file: reads that must be refused before reading.
    SpecialRead,
    /// Directory, symlink to a sibling, missing file.
    Special,
    Swap,
    /// Model ciphertexts replaced by the client's uploaded data.
    DataSubstitution,
}

#[derive(Clone, Debug)]
enum Edit {
    Flip { bits: Vec<u64>, reseal: bool },
    Set { pos: usize, value: u8 },
    Truncate { len: usize },
    TruncateResealed { keep: usize },
    Append { bytes: Vec<u8> },
    AppendResealed { bytes: Vec<u8> },
    Pad { to: usize },
}

#[derive(Clone, Debug)]
enum Action {
    None,
    Edit(Edit),
    /// New content of the target.
    Content(Arc<Vec<u8>>),
    /// Case files (by name) set to the content of these honest files.
    Files(Vec<(String, PathBuf)>),
    Missing,
    Fifo,
    DevZero,
    Symlink(String),
    Directory,
    Sparse(u64),
}

#[derive(Clone, Debug)]
struct Case {
    id: String,
    dir: Dir,
    target: String,
    mutation: String,
    class: Class,
    action: Action,
    cmd: Cmd,
    /// Kept by --quick.
    named: bool,
}

/// A named replacement: label, class, (case file ← honest file) pairs.
type Swap = (String, Class, Vec<(String, PathBuf)>);

struct Gen<'a> {
    opts: &'a Opts,
    base: &'a Path,
    cases: Vec<Case>,
}

fn file_names(dir: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .with_context(|| format!("{}", dir.display()))?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<_>>()?;
    names.sort_by_key(|n| ct_sort_key(n));
    Ok(names)
}

/// "x-1-10.ct" sorts after "x-1-9.ct".
fn ct_sort_key(name: &str) -> (String, Vec<u64>, String) {
    let stem = name.strip_suffix(".ct").unwrap_or(name);
    let mut parts = stem.split('-');
    let prefix = parts.next().unwrap_or("").to_string();
    let nums: Vec<u64> = parts.filter_map(|p| p.parse().ok()).collect();
    (prefix, nums, name.to_string())
}

fn ct_prefix(name: &str) -> Option<&str> {
    name.strip_suffix(".ct").and_then(|s| s.split('-').next())
}

/// The same-kind file with the last index moved by one (`x-0-1.ct` → `x-0-0.ct`), if present.
fn moved_index(name: &str, names: &[String]) -> Option<String> {
    let stem = name.strip_suffix(".ct")?;
    let (head, last) = stem.rsplit_once('-')?;
    let i: usize = last.parse().ok()?;
    [i + 1, i.wrapping_sub(1)].into_iter().map(|j| format!("{head}-{j}.ct")).find(|c| names.contains(c))
}

impl Gen<'_> {
    fn push(&mut self, dir: Dir, target: &str, mutation: String, class: Class, action: Action, cmd: Cmd) {
        let id = format!("{}/{}/{}", dir.name(), target, mutation);
        self.cases.push(Case { id, dir, target: target.into(), mutation, class, action, cmd, named: false });
    }

    fn name_last(&mut self) {
        if let Some(c) = self.cases.last_mut() {
            c.named = true;
        }
    }

    fn honest(&self, dir: Dir, set: char, name: &str) -> PathBuf {
        self.base.join(dir.base(set)).join(name)
    }

    fn directory(&mut self, dir: Dir) -> Result<()> {
        let names = file_names(&self.base.join(dir.base('A')))?;
        let controls: &[Cmd] = match dir {
            Dir::Keys => &[Cmd::DecryptModel, Cmd::Encrypt, Cmd::Evaluate],
            Dir::Upload => &[Cmd::TrainServer],
            Dir::Model => &[Cmd::DecryptEvaluate],
        };
        for &cmd in controls {
            self.push(dir, "-", "control".into(), Class::Control, Action::None, cmd);
            self.name_last();
            if let Some(c) = self.cases.last_mut() {
                c.id = format!("{}/-/control@{}", dir.name(), cmd.name());
            }
        }
        let sweep_ct = match dir {
            Dir::Upload => "x-0-0.ct",
            _ => "w-0.ct",
        };
        for name in &names {
            let prefix = ct_prefix(name);
            let primary =
                prefix.is_none() || names.iter().find(|n| ct_prefix(n) == prefix).is_some_and(|first| first == name);
            let sweep = prefix.is_none() || name == sweep_ct;
            let cmds: Vec<Cmd> = match (dir, name.as_str()) {
                (Dir::Keys, "galois.key") => vec![Cmd::Encrypt],
                (Dir::Keys, "client.json") => vec![Cmd::Evaluate],
                (Dir::Keys, _) => vec![Cmd::DecryptModel, Cmd::Encrypt],
                (Dir::Upload, _) => vec![Cmd::TrainServer],
                (Dir::Model, _) => vec![Cmd::DecryptEvaluate],
            };
            let start = self.cases.len();
            self.target(dir, name, &names, primary, sweep)?;
            // Each case goes to the first command; the structural ones also to the others.
            let mut extra = Vec::new();
            for c in &mut self.cases[start..] {
                c.cmd = cmds[0];
                if cmds.len() > 1 && !matches!(c.class, Class::Bytes | Class::Json) {
                    for &other in &cmds[1..] {
                        let mut e = c.clone();
                        e.cmd = other;
                        e.id = format!("{}@{}", c.id, other.name());
                        e.named = false;
                        extra.push(e);
                    }
                }
            }
            self.cases.extend(extra);
        }
        // Whole-directory substitutions.
        match dir {
            Dir::Upload => {
                let files: Vec<(String, PathBuf)> = names
                    .iter()
                    .filter(|n| n.ends_with(".ct"))
                    .map(|n| (n.clone(), self.honest(Dir::Upload, 'B', n)))
                    .collect();
                self.push(
                    dir,
                    "*.ct",
                    "swap-B(all ciphertexts)".into(),
                    Class::Swap,
                    Action::Files(files),
                    Cmd::TrainServer,
                );
                // x-B-F ← y-B: every feature block of a sample block replaced by its labels.
                let files: Vec<(String, PathBuf)> = names
                    .iter()
                    .filter(|n| ct_prefix(n) == Some("x"))
                    .map(|n| {
                        let b = n.split('-').nth(1).unwrap_or("0");
                        (n.clone(), self.honest(Dir::Upload, 'A', &format!("y-{b}.ct")))
                    })
                    .collect();
                self.push(
                    dir,
                    "x-*.ct",
                    "copy(all x-B-F ← y-B)".into(),
                    Class::Swap,
                    Action::Files(files),
                    Cmd::TrainServer,
                );
            }
            Dir::Model => {
                let nf = names.iter().filter(|n| ct_prefix(n) == Some("w")).count();
                let files = (0..nf)
                    .map(|f| (format!("w-{f}.ct"), self.honest(Dir::Upload, 'A', &format!("x-0-{f}.ct"))))
                    .collect();
                self.push(
                    dir,
                    "w-*.ct",
                    "substitute(all w-F ← upload x-0-F)".into(),
                    Class::DataSubstitution,
                    Action::Files(files),
                    Cmd::DecryptEvaluate,
                );
                self.name_last();
                let mut files: Vec<(String, PathBuf)> = (0..nf)
                    .map(|f| (format!("w-{f}.ct"), self.honest(Dir::Model, 'A', &format!("v-{f}.ct"))))
                    .collect();
                files
                    .extend((0..nf).map(|f| (format!("v-{f}.ct"), self.honest(Dir::Model, 'A', &format!("w-{f}.ct")))));
                self.push(
                    dir,
                    "*.ct",
                    "exchange(all w ↔ v)".into(),
                    Class::Swap,
                    Action::Files(files),
                    Cmd::DecryptEvaluate,
                );
                let files = names
                    .iter()
                    .filter(|n| n.ends_with(".ct"))
                    .map(|n| (n.clone(), self.base.join("modelA1").join(n)))
                    .collect();
                self.push(
                    dir,
                    "*.ct",
                    "replay(all ciphertexts ← 1-iteration model, manifest says 2)".into(),
                    Class::Swap,
                    Action::Files(files),
                    Cmd::DecryptEvaluate,
                );
            }
            Dir::Keys => {}
        }
        Ok(())
    }

    fn target(&mut self, dir: Dir, name: &str, names: &[String], primary: bool, sweep: bool) -> Result<()> {
        let path = self.honest(dir, 'A', name);
        let len = fs::metadata(&path)?.len() as usize;
        let mut rng = Rng::for_file(self.opts.seed, &format!("{}/{}", dir.name(), name));
        let json = name.ends_with(".json");
        let n_flips = if primary { self.opts.per_file } else { self.opts.per_file.div_ceil(4) };
        let n_flips = if json { n_flips.div_ceil(2) } else { n_flips };
        let cmd = Cmd::DecryptModel; // replaced by the caller
        let sealed = !json && len > 32;
        for i in 0..n_flips {
            let reseal = sealed && i % 2 == 1;
            let span = if reseal { (len - 32) as u64 * 8 } else { len as u64 * 8 };
            let k = rng.range(1, 9) as usize;
            let mut bits: Vec<u64> = (0..k).map(|_| rng.range(0, span)).collect();
            bits.sort_unstable();
            bits.dedup();
            let m = format!("flip-{}{:?}", if reseal { "resealed" } else { "raw" }, bits);
            self.push(dir, name, m, Class::Bytes, Action::Edit(Edit::Flip { bits, reseal }), cmd);
        }
        if sweep && sealed {
            let mut head = vec![0u8; self.opts.header_bytes.min(len - 32)];
            fs::File::open(&path)?.read_exact(&mut head)?;
            for (i, &orig) in head.iter().enumerate() {
                let random = loop {
                    let r = rng.next() as u8;
                    if r != orig && r != 0 && r != 0xff {
                        break r;
                    }
                };
                let options = [0x00, 0xff, random];
                let values: Vec<u8> = match self.opts.header_values {
                    HeaderValues::All => options.into_iter().filter(|&v| v != orig).collect(),
                    HeaderValues::Rotate => {
                        let start = (i + self.opts.seed as usize) % 3;
                        let v = (0..3).map(|j| options[(start + j) % 3]).find(|&v| v != orig).unwrap_or(random);
                        vec![v]
                    }
                };
                for v in values {
                    let m = format!("set[{i}]={v:#04x}(was {orig:#04x})-resealed");
                    self.push(dir, name, m, Class::Bytes, Action::Edit(Edit::Set { pos: i, value: v }), cmd);
                }
            }
        }
        // Truncations and appended bytes.
        let mut cuts: Vec<(String, Edit)> = vec![
            ("truncate-0(empty)".into(), Edit::Truncate { len: 0 }),
            (format!("truncate-last-byte({})", len.saturating_sub(1)), Edit::Truncate { len: len.saturating_sub(1) }),
            ("append-1-zero".into(), Edit::Append { bytes: vec![0] }),
        ];
        if primary {
            if len > 1 {
                for _ in 0..2 {
                    let l = rng.range(1, len as u64) as usize;
                    cuts.push((format!("truncate-{l}"), Edit::Truncate { len: l }));
                }
            }
            let n = rng.range(1, 4097) as usize;
            cuts.push((format!("append-random-{n}"), Edit::Append { bytes: rng.bytes(n) }));
            cuts.push(("append-1MiB-zeros".into(), Edit::Append { bytes: vec![0; 1 << 20] }));
            if sealed {
                for l in [28, 60] {
                    if l < len {
                        cuts.push((format!("truncate-{l}"), Edit::Truncate { len: l }));
                    }
                }
                cuts.push((format!("truncate-checksum({})", len - 32), Edit::Truncate { len: len - 32 }));
                if len > 61 {
                    for _ in 0..2 {
                        let keep = rng.range(28, (len - 32) as u64) as usize;
                        cuts.push((format!("truncate-{keep}-resealed"), Edit::TruncateResealed { keep }));
                    }
                }
                let n = rng.range(1, 257) as usize;
                cuts.push((
                    format!("insert-{n}-before-checksum-resealed"),
                    Edit::AppendResealed { bytes: rng.bytes(n) },
                ));
            }
            if json {
                cuts.push(("append-garbage".into(), Edit::Append { bytes: b" x".to_vec() }));
                cuts.push(("pad-whitespace-2MiB".into(), Edit::Pad { to: 2 << 20 }));
                cuts.push(("pad-whitespace-20MiB".into(), Edit::Pad { to: 20 << 20 }));
            }
        }
        for (m, e) in cuts {
            self.push(dir, name, m, Class::Bytes, Action::Edit(e), cmd);
        }
        if json {
            let text = fs::read(&path)?;
            for (m, content) in json_cases(&text)? {
                let named = m == "json:samples=2^63";
                self.push(dir, name, m, Class::Json, Action::Content(Arc::new(content)), cmd);
                if named {
                    self.name_last();
                }
            }
        }
        // Key set B's file of the same name.
        let other = self.honest(dir, 'B', name);
        if other.exists() {
            self.push(dir, name, "swap-B".into(), Class::Swap, Action::Files(vec![(name.into(), other)]), cmd);
        }
        self.swaps(dir, name, names, cmd);
        if primary {
            let sibling = match ct_prefix(name) {
                Some(_) => names.iter().find(|n| n.ends_with(".ct") && *n != name).cloned(),
                None if name == "params.bin" => Some("relin.key".into()),
                None => Some("params.bin".into()),
            };
            let mut specials: Vec<(String, Class, Action)> = vec![
                ("special-fifo".into(), Class::SpecialRead, Action::Fifo),
                ("special-symlink-/dev/zero".into(), Class::SpecialRead, Action::DevZero),
                ("special-sparse-2^33".into(), Class::SpecialRead, Action::Sparse(1 << 33)),
                ("special-sparse-2^31".into(), Class::SpecialRead, Action::Sparse(1 << 31)),
                ("special-directory".into(), Class::Special, Action::Directory),
                ("special-missing".into(), Class::Special, Action::Missing),
            ];
            if let Some(s) = sibling {
                specials.push((format!("special-symlink-to-{s}"), Class::Special, Action::Symlink(s)));
            }
            let showcase = matches!(
                (dir, name),
                (Dir::Keys, "secret.key") | (Dir::Upload, "manifest.json") | (Dir::Model, "w-0.ct")
            );
            for (m, class, action) in specials {
                let named = showcase && matches!(action, Action::Fifo | Action::DevZero);
                self.push(dir, name, m, class, action, cmd);
                if named {
                    self.name_last();
                }
            }
        }
        Ok(())
    }

    /// Files exchanged or copied within and across the directories of key set A.
    fn swaps(&mut self, dir: Dir, name: &str, names: &[String], cmd: Cmd) {
        let a = |d: Dir, n: &str| self.honest(d, 'A', n);
        let mut list: Vec<Swap> = Vec::new();
        let exchange = |other: &str, list: &mut Vec<Swap>| {
            if names.iter().any(|n| n == other) && other != name {
                list.push((
                    format!("exchange({name} ↔ {other})"),
                    Class::Swap,
                    vec![(name.to_string(), a(dir, other)), (other.to_string(), a(dir, name))],
                ));
            }
        };
        let copy = |src: PathBuf, label: &str, class: Class| {
            (format!("copy({name} ← {label})"), class, vec![(name.to_string(), src)])
        };
        match (dir, name) {
            (Dir::Keys, "params.bin") => list.push(copy(a(Dir::Keys, "relin.key"), "relin.key", Class::Swap)),
            (Dir::Keys, "secret.key") => {
                list.push(copy(a(Dir::Keys, "params.bin"), "params.bin", Class::Swap));
                list.push(copy(a(Dir::Upload, "w0-0.ct"), "upload w0-0.ct", Class::Swap));
            }
            (Dir::Keys, "relin.key") => exchange("galois.key", &mut list),
            (Dir::Keys, "galois.key") => list.push(copy(a(Dir::Keys, "relin.key"), "relin.key", Class::Swap)),
            (Dir::Keys, "client.json") => {
                list.push(copy(a(Dir::Upload, "manifest.json"), "upload manifest.json", Class::Swap))
            }
            (Dir::Upload, "params.bin") => list.push(copy(a(Dir::Upload, "relin.key"), "relin.key", Class::Swap)),
            (Dir::Upload, "relin.key") => exchange("galois.key", &mut list),
            (Dir::Upload, "manifest.json") => {
                list.push(copy(a(Dir::Model, "manifest.json"), "model manifest.json", Class::Swap))
            }
            (Dir::Upload, "x-0-0.ct") => {
                exchange("y-0.ct", &mut list);
                exchange("xs-0-0.ct", &mut list);
                exchange("x-1-0.ct", &mut list);
                exchange("x-0-1.ct", &mut list);
            }
            (Dir::Upload, "w0-0.ct") => {
                list.push(copy(a(Dir::Upload, "x-0-0.ct"), "x-0-0.ct", Class::Swap));
                exchange("w0-1.ct", &mut list);
            }
            (Dir::Upload, "y-0.ct") => exchange("y-1.ct", &mut list),
            (Dir::Model, "manifest.json") => {
                list.push(copy(a(Dir::Upload, "manifest.json"), "upload manifest.json", Class::Swap));
                list.push(copy(self.base.join("modelA1/manifest.json"), "1-iteration manifest.json", Class::Swap));
            }
            (Dir::Model, "w-0.ct") => {
                list.push(copy(a(Dir::Upload, "x-0-0.ct"), "upload x-0-0.ct", Class::DataSubstitution));
                list.push(copy(a(Dir::Upload, "xs-0-0.ct"), "upload xs-0-0.ct", Class::DataSubstitution));
                list.push(copy(a(Dir::Upload, "y-0.ct"), "upload y-0.ct", Class::DataSubstitution));
                list.push(copy(a(Dir::Upload, "w0-0.ct"), "upload w0-0.ct", Class::Swap));
                list.push(copy(self.base.join("modelA1/w-0.ct"), "1-iteration w-0.ct", Class::Swap));
                exchange("v-0.ct", &mut list);
                exchange("w-1.ct", &mut list);
            }
            (Dir::Model, "v-0.ct") => {
                list.push(copy(a(Dir::Upload, "x-0-0.ct"), "upload x-0-0.ct", Class::DataSubstitution))
            }
            _ => {}
        }
        // A numbered file replaced by its neighbour (index moved).
        if let Some(other) = moved_index(name, names) {
            list.push(copy(a(dir, &other), &other, Class::Swap));
        }
        for (m, class, files) in list {
            let substituted_model = m == "copy(w-0.ct ← upload x-0-0.ct)";
            let m = if class == Class::DataSubstitution { m.replacen("copy", "substitute", 1) } else { m };
            self.push(dir, name, m, class, Action::Files(files), cmd);
            if substituted_model {
                self.name_last();
            }
        }
    }
}

// ------------------------------------------------------------------ JSON edits

#[derive(Clone, Debug)]
enum Seg {
    Key(String),
    Idx(usize),
}

fn path_str(p: &[Seg]) -> String {
    let mut s = String::new();
    for seg in p {
        match seg {
            Seg::Key(k) if s.is_empty() => s.push_str(k),
            Seg::Key(k) => {
                s.push('.');
                s.push_str(k)
            }
            Seg::Idx(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

fn at<'v>(v: &'v mut Value, p: &[Seg]) -> &'v mut Value {
    p.iter().fold(v, |v, seg| match seg {
        Seg::Key(k) => &mut v[k.as_str()],
        Seg::Idx(i) => &mut v[*i],
    })
}

/// Every node below the root; arrays contribute their first and last elements.
fn nodes(v: &Value, p: &mut Vec<Seg>, out: &mut Vec<(Vec<Seg>, Value)>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                p.push(Seg::Key(k.clone()));
                out.push((p.clone(), child.clone()));
                nodes(child, p, out);
                p.pop();
            }
        }
        Value::Array(items) => {
            let mut idx = vec![0];
            if items.len() > 1 {
                idx.push(items.len() - 1);
            }
            for i in idx.into_iter().filter(|&i| i < items.len()) {
                p.push(Seg::Idx(i));
                out.push((p.clone(), items[i].clone()));
                nodes(&items[i], p, out);
                p.pop();
            }
        }
        _ => {}
    }
}

const HUGE: usize = 100_000;

fn json_cases(text: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
    let root: Value = serde_json::from_slice(text).context("honest JSON")?;
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut emit = |label: String, v: &Value, compact: bool| {
        let bytes = if compact { serde_json::to_vec(v) } else { serde_json::to_vec_pretty(v) };
        out.push((label, bytes.expect("JSON serializes")));
    };
    let mut all = Vec::new();
    nodes(&root, &mut Vec::new(), &mut all);
    let numbers: [(&str, Value); 9] = [
        ("0", json!(0)),
        ("1", json!(1)),
        ("2^20", json!(1u64 << 20)),
        ("2^31", json!(1u64 << 31)),
        ("2^63", json!(1u64 << 63)),
        ("-1", json!(-1)),
        ("1e308", json!(1e308)),
        ("string", json!("12")),
        ("null", Value::Null),
    ];
    let huge = Value::Array(vec![json!(0); HUGE]);
    for (path, node) in &all {
        let ps = path_str(path);
        let mut set = |label: &str, new: Value, compact: bool| {
            let mut v = root.clone();
            *at(&mut v, path) = new;
            emit(format!("json:{ps}={label}"), &v, compact);
        };
        match node {
            Value::Number(_) => {
                for (label, value) in &numbers {
                    set(label, value.clone(), false);
                }
                set("huge-array", huge.clone(), true);
            }
            Value::String(s) => {
                set("\"\"", json!(""), false);
                set("0", json!(0), false);
                set("null", Value::Null, false);
                set("100kB-string", json!("a".repeat(HUGE)), false);
                let other = match s.as_str() {
                    "hecnn-training-upload-v1" => Some("hecnn-encrypted-model-v1"),
                    "hecnn-encrypted-model-v1" => Some("hecnn-training-upload-v1"),
                    _ => None,
                };
                if let Some(o) = other {
                    set(&format!("\"{o}\""), json!(o), false);
                }
            }
            Value::Array(items) => {
                set("[]", json!([]), false);
                let mut shorter = items.clone();
                shorter.pop();
                set(&format!("{}-elements", shorter.len()), Value::Array(shorter), false);
                let mut longer = items.clone();
                longer.push(items.first().cloned().unwrap_or(json!(0)));
                set(&format!("{}-elements", longer.len()), Value::Array(longer), false);
                let first = items.first().cloned().unwrap_or(json!(0));
                set(&format!("{HUGE}-elements"), Value::Array(vec![first; HUGE]), true);
                set("number", json!(1), false);
            }
            Value::Object(_) => {
                set("number", json!(1), false);
                set("[]", json!([]), false);
            }
            _ => {}
        }
        // Remove the field.
        if let Some((Seg::Key(k), parent)) = path.split_last() {
            let mut v = root.clone();
            if let Some(map) = at(&mut v, parent).as_object_mut() {
                map.remove(k);
            }
            emit(format!("json:missing-{ps}"), &v, false);
        }
    }
    // Whole documents.
    let mut extra = root.clone();
    if let Some(map) = extra.as_object_mut() {
        map.insert("unexpected".into(), huge.clone());
    }
    emit(format!("json:extra-field-{HUGE}-elements"), &extra, true);
    for (label, v) in [("{}", json!({})), ("[]", json!([])), ("null", Value::Null)] {
        emit(format!("json:document={label}"), &v, false);
    }
    out.push((
        format!("json:{HUGE}-nested-brackets"),
        format!("{}{}", "[".repeat(HUGE), "]".repeat(HUGE)).into_bytes(),
    ));
    let s = String::from_utf8_lossy(text);
    if let (Some(pos), Some(Value::Object(map))) = (s.find('{'), Some(&root)) {
        if let Some((k, v)) = map.iter().next() {
            let dup = format!("{{\n  \"{k}\": {},{}", serde_json::to_string(v)?, &s[pos + 1..]);
            out.push((format!("json:duplicate-key-{k}"), dup.into_bytes()));
        }
    }
    Ok(out)
}

// ------------------------------------------------------------------ running

#[derive(Debug, Default)]
struct Run {
    code: Option<i32>,
    signal: Option<i32>,
    /// Why we killed it: "timeout", "stall", "rss".
    killed: Option<&'static str>,
    secs: f64,
    peak_kib: u64,
    stderr: String,
}

fn proc_rss_kib(pid: i32) -> u64 {
    let Ok(s) = fs::read_to_string(format!("/proc/{pid}/status")) else { return 0 };
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn proc_cpu_ticks(pid: i32) -> u64 {
    let Ok(s) = fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0 };
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    get(11) + get(12)
}

struct Limits {
    timeout: f64,
    stall: f64,
    max_rss_kib: u64,
}

/// Runs `bin args`, stdout/stderr into `dir`, polling memory, CPU time and the clock.
fn run(bin: &Path, args: &[OsString], dir: &Path, tag: &str, lim: &Limits) -> Result<Run> {
    let out = fs::File::create(dir.join(format!("{tag}.stdout")))?;
    let err_path = dir.join(format!("{tag}.stderr"));
    let err = fs::File::create(&err_path)?;
    let t0 = Instant::now();
    let child = Command::new(bin)
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .with_context(|| format!("{}: cannot start", bin.display()))?;
    let pid = child.id() as libc::pid_t;
    // `child` is reaped below with wait4 (for its rusage); dropping it neither waits nor kills.
    drop(child);
    let mut r = Run::default();
    let (mut last_cpu, mut last_change) = (0u64, Instant::now());
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: plain FFI call with valid pointers to locals.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        let flags = if r.killed.is_some() { 0 } else { libc::WNOHANG };
        // SAFETY: as above; `pid` is our own child.
        let got = unsafe { libc::wait4(pid, &mut status, flags, &mut ru) };
        if got == pid {
            r.secs = t0.elapsed().as_secs_f64();
            r.peak_kib = ru.ru_maxrss as u64;
            if libc::WIFEXITED(status) {
                r.code = Some(libc::WEXITSTATUS(status));
            } else if libc::WIFSIGNALED(status) {
                r.signal = Some(libc::WTERMSIG(status));
            }
            break;
        }
        if got < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            bail!("wait4: {e}");
        }
        let rss = proc_rss_kib(pid);
        let kill = if rss > lim.max_rss_kib {
            Some("rss")
        } else if t0.elapsed().as_secs_f64() > lim.timeout {
            Some("timeout")
        } else if lim.stall > 0.0 {
            let cpu = proc_cpu_ticks(pid);
            if cpu != last_cpu {
                (last_cpu, last_change) = (cpu, Instant::now());
                None
            } else if last_change.elapsed().as_secs_f64() > lim.stall {
                Some("stall")
            } else {
                None
            }
        } else {
            None
        };
        if let Some(why) = kill {
            // SAFETY: signals our own, not yet reaped, child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            r.killed = Some(why);
            continue;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut text = Vec::new();
    fs::File::open(&err_path)?.take(256 << 10).read_to_end(&mut text)?;
    r.stderr = String::from_utf8_lossy(&text).into_owned();
    Ok(r)
}

// ------------------------------------------------------------------ outcomes

const OUTCOMES: [&str; 14] = [
    "control-ok",
    "typed-error",
    "caught-by-client",
    "untyped-error",
    "accepted",
    "accepted-altered",
    "leak",
    "panic",
    "abort/signal",
    "hang",
    "memory",
    "unbounded-read",
    "other-exit",
    "control-failed",
];

#[derive(Serialize, Clone)]
struct Record {
    id: String,
    dir: &'static str,
    target: String,
    mutation: String,
    command: String,
    /// The command that produced the outcome (decrypt-model or evaluate for model cases).
    stage: &'static str,
    outcome: &'static str,
    exit: String,
    seconds: f64,
    peak_rss_mib: f64,
    stderr_first: String,
    /// First stdout line of the last command, when it exited 0 (evaluate: the accuracy).
    #[serde(skip_serializing_if = "Option::is_none")]
    stdout_first: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    weights: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    killed: Option<&'static str>,
}

fn exit_str(r: &Run) -> String {
    match (r.code, r.signal) {
        (Some(c), _) => c.to_string(),
        (_, Some(s)) => format!("signal {s}"),
        _ => "?".into(),
    }
}

/// The error message (without the backtrace anyhow appends under RUST_BACKTRACE=1).
fn message(stderr: &str) -> &str {
    stderr.split("Stack backtrace:").next().unwrap_or("").trim()
}

/// First meaningful stderr line; for panics the location line and the message after it.
fn first_line(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let s = match lines.iter().position(|l| l.contains("panicked at")) {
        Some(i) => format!("{} {}", lines[i], lines.get(i + 1).unwrap_or(&"")),
        None => lines.first().map(|l| l.to_string()).unwrap_or_default(),
    };
    s.chars().take(400).collect()
}

fn names_a_file(msg: &str, roots: &[&str]) -> bool {
    roots.iter().any(|r| msg.contains(r)) || [".bin", ".key", ".json", ".ct"].iter().any(|e| msg.contains(e))
}

/// Outcome of one run, before weights are looked at.
fn classify(r: &Run, case: &Case, lim_read_kib: u64, roots: &[&str]) -> &'static str {
    let read_case = case.class == Class::SpecialRead;
    let outcome = if r.killed == Some("rss") {
        "memory"
    } else if r.killed.is_some() {
        "hang"
    } else if r.stderr.contains("panicked at") || r.code == Some(101) {
        "panic"
    } else if r.signal.is_some() {
        "abort/signal"
    } else if r.code == Some(0) {
        "accepted"
    } else if r.code == Some(1) {
        if names_a_file(message(&r.stderr), roots) {
            "typed-error"
        } else {
            "untyped-error"
        }
    } else {
        "other-exit"
    };
    if read_case && (matches!(outcome, "memory" | "hang") || r.peak_kib > lim_read_kib) {
        return "unbounded-read";
    }
    outcome
}

/// max |Δ| over W and V against the honest weights; `None` when the shapes differ or unreadable.
fn weights_diff(path: &Path, honest: &Value) -> Option<f64> {
    let v: Value = serde_json::from_slice(&fs::read(path).ok()?).ok()?;
    let mut max = 0.0f64;
    for key in ["w", "v"] {
        let (a, b) = (v.get(key)?.as_array()?, honest.get(key)?.as_array()?);
        if a.len() != b.len() {
            return None;
        }
        for (ra, rb) in a.iter().zip(b) {
            let (ra, rb) = (ra.as_array()?, rb.as_array()?);
            if ra.len() != rb.len() {
                return None;
            }
            for (x, y) in ra.iter().zip(rb) {
                let d = (x.as_f64()? - y.as_f64()?).abs();
                max = if d.is_nan() { f64::INFINITY } else { max.max(d) };
            }
        }
    }
    Some(max)
}

// ------------------------------------------------------------------ the harness

struct Harness {
    opts: Opts,
    bin: PathBuf,
    base: PathBuf,
    cases_root: PathBuf,
    honest_weights: Value,
    /// The honest 1-iteration weights (of `modelA1`).
    honest_weights1: Value,
    cache: Option<(PathBuf, Arc<Vec<u8>>)>,
}

fn osv(parts: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    parts.iter().map(|p| p.as_ref().to_os_string()).collect()
}

fn blake3_file(path: &Path) -> Result<String> {
    let mut h = blake3::Hasher::new();
    h.update_reader(fs::File::open(path).with_context(|| format!("{}", path.display()))?)?;
    Ok(h.finalize().to_hex().to_string())
}

fn hash_tree(base: &Path) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for d in ["keysA", "keysB", "uploadA", "uploadB", "modelA", "modelB", "modelA1"] {
        for n in file_names(&base.join(d))? {
            out.insert(format!("{d}/{n}"), blake3_file(&base.join(d).join(&n))?);
        }
    }
    out.insert("honest-A.json".into(), blake3_file(&base.join("honest-A.json"))?);
    out.insert("honest-A1.json".into(), blake3_file(&base.join("honest-A1.json"))?);
    Ok(out)
}

fn reseal(buf: &mut [u8]) {
    if buf.len() >= 32 {
        let n = buf.len() - 32;
        let h = blake3::hash(&buf[..n]);
        buf[n..].copy_from_slice(h.as_bytes());
    }
}

fn mkfifo(path: &Path) -> Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: a valid NUL-terminated path.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o644) } != 0 {
        bail!("mkfifo {}: {}", path.display(), std::io::Error::last_os_error());
    }
    Ok(())
}

/// Removes whatever is at `path` (file, link, FIFO, directory) without following links.
fn remove(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path)?,
        Ok(_) => fs::remove_file(path)?,
        Err(_) => {}
    }
    Ok(())
}

/// `dst` gets `src`'s content as a new file: hard link for large files, copy for small ones
/// (a command that rewrites a file in place must never reach the honest copy).
fn place(src: &Path, dst: &Path) -> Result<()> {
    remove(dst)?;
    let len = fs::metadata(src).with_context(|| format!("{}", src.display()))?.len();
    if len < 1 << 16 || fs::hard_link(src, dst).is_err() {
        fs::copy(src, dst).with_context(|| format!("{} → {}", src.display(), dst.display()))?;
    }
    Ok(())
}

impl Harness {
    fn limits(&self, setup: bool) -> Limits {
        Limits {
            timeout: if setup { 1200.0 } else { self.opts.timeout },
            stall: if setup { 0.0 } else { self.opts.stall },
            max_rss_kib: if setup { u64::MAX } else { self.opts.max_rss_mib * 1024 },
        }
    }

    /// Builds the honest directories once (rebuilt when the binary or the options change).
    fn setup(&mut self) -> Result<()> {
        let stamp_path = self.base.join("stamp.json");
        let inputs = json!({
            "binary_blake3": blake3_file(&self.bin)?,
            "preset": self.opts.preset,
            "samples": self.opts.samples,
        });
        if let Ok(text) = fs::read(&stamp_path) {
            let stamp: Value = serde_json::from_slice(&text).unwrap_or(Value::Null);
            if stamp["inputs"] == inputs {
                let want: BTreeMap<String, String> = serde_json::from_value(stamp["files"].clone())?;
                if hash_tree(&self.base).ok().as_ref() == Some(&want) {
                    eprintln!("base: reusing {}", self.base.display());
                    self.load_honest()?;
                    return Ok(());
                }
            }
        }
        eprintln!("base: building {} with {}", self.base.display(), self.bin.display());
        remove(&self.base)?;
        fs::create_dir_all(&self.base)?;
        let b = self.base.clone();
        let s = self.opts.samples.to_string();
        let p = self.opts.preset.clone();
        // The client's exact decryption of an honest model: what every
        // accepted case is compared with.
        let decrypt = |model: &str, out: &str| {
            let (keys, model, out) = (b.join("keysA"), b.join(model), b.join(out));
            osv(&[&"decrypt-model", &"--keys", &keys, &"--model", &model, &"--out", &out, &"--private"])
        };
        let steps: Vec<Vec<OsString>> = vec![
            osv(&[&"keygen", &"--out", &b.join("keysA"), &"--preset", &p]),
            osv(&[&"keygen", &"--out", &b.join("keysB"), &"--preset", &p]),
            osv(&[&"encrypt", &"--keys", &b.join("keysA"), &"--out", &b.join("uploadA"), &"--samples", &s]),
            osv(&[&"encrypt", &"--keys", &b.join("keysB"), &"--out", &b.join("uploadB"), &"--samples", &s]),
            osv(&[
                &"train-server",
                &"--upload",
                &b.join("uploadA"),
                &"--out",
                &b.join("modelA"),
                &"--iterations",
                &"2",
            ]),
            osv(&[
                &"train-server",
                &"--upload",
                &b.join("uploadB"),
                &"--out",
                &b.join("modelB"),
                &"--iterations",
                &"2",
            ]),
            osv(&[
                &"train-server",
                &"--upload",
                &b.join("uploadA"),
                &"--out",
                &b.join("modelA1"),
                &"--iterations",
                &"1",
            ]),
            decrypt("modelA", "honest-A.json"),
            osv(&[&"evaluate", &"--keys", &b.join("keysA"), &"--weights", &b.join("honest-A.json")]),
            decrypt("modelA1", "honest-A1.json"),
        ];
        for (i, args) in steps.iter().enumerate() {
            let t = Instant::now();
            let r = run(&self.bin, args, &self.base, &format!("setup-{i}"), &self.limits(true))?;
            if r.code != Some(0) {
                bail!("setup step {:?} failed ({}): {}", args, exit_str(&r), r.stderr);
            }
            let out = fs::read_to_string(self.base.join(format!("setup-{i}.stdout"))).unwrap_or_default();
            eprintln!("base: {} ({:.1} s) {}", args[0].to_string_lossy(), t.elapsed().as_secs_f64(), out.trim());
        }
        self.load_honest()?;
        let stamp = json!({ "inputs": inputs, "files": hash_tree(&self.base)? });
        fs::write(stamp_path, serde_json::to_vec_pretty(&stamp)?)?;
        Ok(())
    }

    fn load_honest(&mut self) -> Result<()> {
        self.honest_weights = serde_json::from_slice(&fs::read(self.base.join("honest-A.json"))?)?;
        self.honest_weights1 = serde_json::from_slice(&fs::read(self.base.join("honest-A1.json"))?)?;
        Ok(())
    }

    fn bytes_of(&mut self, path: &Path) -> Result<Arc<Vec<u8>>> {
        if let Some((p, b)) = &self.cache {
            if p == path {
                return Ok(b.clone());
            }
        }
        let b = Arc::new(fs::read(path).with_context(|| format!("{}", path.display()))?);
        self.cache = Some((path.to_path_buf(), b.clone()));
        Ok(b)
    }

    /// The case directory: a copy of the honest one with the mutation applied.
    fn prepare(&mut self, case: &Case, root: &Path) -> Result<PathBuf> {
        let src = self.base.join(case.dir.base('A'));
        let dst = root.join(case.dir.name());
        fs::create_dir_all(&dst)?;
        for n in file_names(&src)? {
            place(&src.join(&n), &dst.join(&n))?;
        }
        let target = dst.join(&case.target);
        match &case.action {
            Action::None => {}
            Action::Edit(e) => {
                let orig = self.bytes_of(&src.join(&case.target))?;
                let mut b: Vec<u8> = match e {
                    Edit::Truncate { len } => orig[..*len].to_vec(),
                    Edit::TruncateResealed { keep } => {
                        let mut b = orig[..*keep].to_vec();
                        b.extend_from_slice(blake3::hash(&b).as_bytes());
                        b
                    }
                    Edit::AppendResealed { bytes } => {
                        let mut b = orig[..orig.len() - 32].to_vec();
                        b.extend_from_slice(bytes);
                        b.extend_from_slice(&[0; 32]);
                        reseal(&mut b);
                        b
                    }
                    _ => orig.to_vec(),
                };
                match e {
                    Edit::Flip { bits, reseal: r } => {
                        for &bit in bits {
                            b[(bit / 8) as usize] ^= 1 << (bit % 8);
                        }
                        if *r {
                            reseal(&mut b);
                        }
                    }
                    Edit::Set { pos, value } => {
                        b[*pos] = *value;
                        reseal(&mut b);
                    }
                    Edit::Append { bytes } => b.extend_from_slice(bytes),
                    Edit::Pad { to } => b.resize(*to, b' '),
                    _ => {}
                }
                remove(&target)?;
                fs::write(&target, &b)?;
            }
            Action::Content(c) => {
                remove(&target)?;
                fs::write(&target, c.as_slice())?;
            }
            Action::Files(files) => {
                for (n, from) in files {
                    place(from, &dst.join(n))?;
                }
            }
            Action::Missing => remove(&target)?,
            Action::Fifo => {
                remove(&target)?;
                mkfifo(&target)?;
            }
            Action::DevZero => {
                remove(&target)?;
                std::os::unix::fs::symlink("/dev/zero", &target)?;
            }
            Action::Symlink(sib) => {
                remove(&target)?;
                std::os::unix::fs::symlink(sib, &target)?;
            }
            Action::Directory => {
                remove(&target)?;
                fs::create_dir(&target)?;
                fs::write(target.join("inside"), b"x")?;
            }
            Action::Sparse(len) => {
                remove(&target)?;
                fs::File::create(&target)?.set_len(*len)?;
            }
        }
        Ok(dst)
    }

    fn run_case(&mut self, idx: usize, case: &Case) -> Result<Record> {
        let root = self.cases_root.join(format!("{idx:05}"));
        remove(&root)?;
        fs::create_dir_all(&root)?;
        let dst = self.prepare(case, &root)?;
        let b = self.base.clone();
        let w = root.join("w.json");
        let out = root.join("out");
        let s = self.opts.samples.to_string();
        let it = self.opts.server_iterations.to_string();
        let keys_a = b.join("keysA");
        let (args, command): (Vec<OsString>, String) = match case.cmd {
            Cmd::DecryptModel => (
                osv(&[&"decrypt-model", &"--keys", &dst, &"--model", &b.join("modelA"), &"--out", &w, &"--private"]),
                "decrypt-model --keys {case}/keys --model {base}/modelA".into(),
            ),
            Cmd::Encrypt => (
                osv(&[&"encrypt", &"--keys", &dst, &"--out", &out, &"--samples", &s]),
                format!("encrypt --keys {{case}}/keys --samples {s}"),
            ),
            Cmd::Evaluate => (
                osv(&[&"evaluate", &"--keys", &dst, &"--weights", &b.join("honest-A.json")]),
                "evaluate --keys {case}/keys --weights {base}/honest-A.json".into(),
            ),
            Cmd::TrainServer => (
                osv(&[&"train-server", &"--upload", &dst, &"--out", &out, &"--iterations", &it]),
                format!("train-server --upload {{case}}/upload --iterations {it}"),
            ),
            Cmd::DecryptEvaluate => (
                osv(&[&"decrypt-model", &"--keys", &keys_a, &"--model", &dst, &"--out", &w, &"--private"]),
                "decrypt-model --keys {base}/keysA --model {case}/model, then evaluate".into(),
            ),
        };
        let lim = self.limits(false);
        let root_s = root.display().to_string();
        let base_s = b.display().to_string();
        let roots = [root_s.as_str(), base_s.as_str()];
        let read_kib = self.opts.read_rss_mib * 1024;
        let r = run(&self.bin, &args, &root, "cmd", &lim)?;
        let mut outcome = classify(&r, case, read_kib, &roots);
        let mut stage = match case.cmd {
            Cmd::DecryptEvaluate => "decrypt-model",
            c => c.name(),
        };
        let mut weights = None;
        let (mut secs, mut peak, mut last, mut last_tag) = (r.secs, r.peak_kib, r, "cmd");
        if outcome == "accepted" && matches!(case.cmd, Cmd::DecryptModel | Cmd::DecryptEvaluate) {
            let d = weights_diff(&w, &self.honest_weights);
            let equal = d.is_some_and(|d| d <= 1e-9);
            weights = Some(match d {
                Some(_) if equal => "equal".to_string(),
                Some(d) => format!("altered (max |Δ| = {d:.3e})"),
                None => "altered (shape)".to_string(),
            });
            if !equal {
                outcome = if case.class == Class::DataSubstitution { "leak" } else { "accepted-altered" };
            }
            if case.cmd == Cmd::DecryptEvaluate {
                let args = osv(&[&"evaluate", &"--keys", &keys_a, &"--weights", &w]);
                let e = run(&self.bin, &args, &root, "evaluate", &lim)?;
                secs += e.secs;
                peak = peak.max(e.peak_kib);
                let eo = classify(&e, case, read_kib, &roots);
                if eo != "accepted" && outcome != "leak" {
                    (outcome, stage) = (eo, "evaluate");
                }
                if eo != "accepted" || outcome == "leak" || outcome.starts_with("accepted") {
                    (last, last_tag) = (e, "evaluate");
                }
            }
        }
        // What the server could not tell, the client may: a model trained on a
        // mutated upload goes through the client's release checks.
        let honest_for_server_run = match self.opts.server_iterations {
            1 => Some(&self.honest_weights1),
            2 => Some(&self.honest_weights),
            _ => None,
        };
        if outcome == "accepted" && case.cmd == Cmd::TrainServer && case.class != Class::Control {
            let args = osv(&[&"decrypt-model", &"--keys", &keys_a, &"--model", &out, &"--out", &w, &"--private"]);
            let d = run(&self.bin, &args, &root, "decrypt", &lim)?;
            secs += d.secs;
            peak = peak.max(d.peak_kib);
            match classify(&d, case, read_kib, &roots) {
                "typed-error" => {
                    (outcome, stage) = ("caught-by-client", "decrypt-model");
                    (last, last_tag) = (d, "decrypt");
                }
                "accepted" => {
                    let diff = honest_for_server_run.and_then(|h| weights_diff(&w, h));
                    if let Some(d) = diff.filter(|&d| d > 1e-9) {
                        weights = Some(format!("altered (max |Δ| = {d:.3e})"));
                        (outcome, stage) = ("accepted-altered", "decrypt-model");
                    } else if diff.is_some() {
                        weights = Some("equal".into());
                    }
                }
                other => {
                    (outcome, stage) = (other, "decrypt-model");
                    (last, last_tag) = (d, "decrypt");
                }
            }
        }
        if case.class == Class::Control {
            let ok = outcome == "accepted" && weights.as_deref().is_none_or(|w| w == "equal");
            outcome = if ok { "control-ok" } else { "control-failed" };
        }
        let stdout_first = (last.code == Some(0))
            .then(|| fs::read_to_string(root.join(format!("{last_tag}.stdout"))).unwrap_or_default())
            .and_then(|o| o.lines().map(str::trim).find(|l| !l.is_empty()).map(str::to_string))
            .map(|l| l.replace(&root_s, "{case}").replace(&base_s, "{base}"));
        let rec = Record {
            id: case.id.clone(),
            dir: case.dir.name(),
            target: case.target.clone(),
            mutation: case.mutation.clone(),
            command,
            stage,
            outcome,
            exit: exit_str(&last),
            seconds: (secs * 100.0).round() / 100.0,
            peak_rss_mib: (peak as f64 / 1024.0 * 10.0).round() / 10.0,
            stderr_first: first_line(&last.stderr).replace(&root_s, "{case}").replace(&base_s, "{base}"),
            stdout_first,
            weights,
            killed: last.killed,
        };
        if !self.opts.keep_cases {
            remove(&root)?;
        }
        Ok(rec)
    }
}

/// Groups similar first lines: numbers and hex runs become `N`.
fn normalize(s: &str) -> String {
    let mut out = String::new();
    let mut in_num = false;
    for ch in s.chars() {
        if ch.is_ascii_digit() {
            if !in_num {
                out.push('N');
            }
            in_num = true;
        } else {
            in_num = false;
            out.push(ch);
        }
    }
    out
}

fn summary(records: &[Record], dirs: &[Dir]) -> BTreeMap<String, BTreeMap<&'static str, usize>> {
    let mut m: BTreeMap<String, BTreeMap<&'static str, usize>> = BTreeMap::new();
    for r in records {
        *m.entry(r.dir.to_string()).or_default().entry(r.outcome).or_default() += 1;
        *m.entry("total".into()).or_default().entry(r.outcome).or_default() += 1;
    }
    for d in dirs {
        m.entry(d.name().into()).or_default();
    }
    m
}

fn print_table(sum: &BTreeMap<String, BTreeMap<&'static str, usize>>, dirs: &[Dir]) -> String {
    let mut cols: Vec<String> = dirs.iter().map(|d| d.name().to_string()).collect();
    cols.push("total".into());
    let mut s = format!("{:<18}", "outcome");
    for c in &cols {
        s += &format!("{c:>9}");
    }
    s.push('\n');
    for o in OUTCOMES {
        let n: usize = sum.get("total").and_then(|m| m.get(o)).copied().unwrap_or(0);
        if n == 0 {
            continue;
        }
        s += &format!("{o:<18}");
        for c in &cols {
            s += &format!("{:>9}", sum.get(c).and_then(|m| m.get(o)).copied().unwrap_or(0));
        }
        s.push('\n');
    }
    s += &format!("{:<18}", "cases");
    for c in &cols {
        s += &format!("{:>9}", sum.get(c).map(|m| m.values().sum::<usize>()).unwrap_or(0));
    }
    s.push('\n');
    s
}

#[derive(Serialize)]
struct Group {
    dir: &'static str,
    outcome: &'static str,
    stage: &'static str,
    /// First stderr line; for accepted cases the weights and the first stdout line; for killed ones why.
    detail: String,
    count: usize,
    ids: Vec<String>,
}

/// What a listed case shows: stderr's first line, or why it was killed, or what was accepted.
fn detail(r: &Record) -> String {
    let mut parts = Vec::new();
    if let Some(k) = r.killed {
        parts.push(format!("killed ({k}) after {:.1} s at {:.0} MiB", r.seconds, r.peak_rss_mib));
    }
    if let Some(w) = &r.weights {
        parts.push(format!("weights {w}"));
    }
    if let Some(o) = &r.stdout_first {
        parts.push(format!("stdout: {o}"));
    }
    if !r.stderr_first.is_empty() {
        parts.push(r.stderr_first.clone());
    }
    parts.join("; ")
}

fn groups(records: &[Record]) -> Vec<Group> {
    let mut g: BTreeMap<(&'static str, &'static str, &'static str, String), Group> = BTreeMap::new();
    for r in records.iter().filter(|r| !matches!(r.outcome, "typed-error" | "control-ok")) {
        let detail = detail(r);
        let key = if r.weights.is_some() || r.killed.is_some() {
            r.weights.as_deref().map(|w| w.split(' ').next().unwrap_or("")).unwrap_or("").to_string()
        } else {
            normalize(&detail)
        };
        let e = g.entry((r.dir, r.outcome, r.stage, key)).or_insert_with(|| Group {
            dir: r.dir,
            outcome: r.outcome,
            stage: r.stage,
            detail,
            count: 0,
            ids: Vec::new(),
        });
        e.count += 1;
        e.ids.push(r.id.clone());
    }
    let mut v: Vec<Group> = g.into_values().collect();
    let rank = |o: &str| OUTCOMES.iter().position(|x| *x == o).unwrap_or(99);
    v.sort_by_key(|g| (g.dir, std::cmp::Reverse(rank(g.outcome)), std::cmp::Reverse(g.count)));
    v
}

/// The JSON report.
#[derive(Serialize)]
struct Report<'a> {
    harness: &'static str,
    started: String,
    seconds: f64,
    seconds_per_dir: BTreeMap<&'static str, f64>,
    base_setup_seconds: f64,
    git_commit: Option<String>,
    git_dirty: Option<bool>,
    binary_blake3: String,
    options: &'a Opts,
    /// The honest files hashed the same after the run as when they were built.
    base_intact: bool,
    outcomes: [&'static str; OUTCOMES.len()],
    summary: &'a BTreeMap<String, BTreeMap<&'static str, usize>>,
    not_typed_error_groups: &'a [Group],
    /// False when the typed-error records were left out to keep the file small.
    records_complete: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    typed_error_counts_by_target: Option<BTreeMap<String, usize>>,
    records: Vec<&'a Record>,
}

fn utc_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = ((secs / 86400) as i64, secs % 86400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

fn git(args: &[&str]) -> Option<String> {
    let o = Command::new("git").args(args).output().ok()?;
    o.status.success().then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

fn main() -> Result<()> {
    let opts = Opts::parse();
    if opts.preset == "bootstrappable" {
        bail!("--preset bootstrappable needs ~13 GB per command; not in this harness");
    }
    let dirs: Vec<Dir> = opts
        .dirs
        .iter()
        .map(|d| match d.as_str() {
            "keys" => Ok(Dir::Keys),
            "upload" => Ok(Dir::Upload),
            "model" => Ok(Dir::Model),
            other => bail!("--dirs: unknown directory {other:?} (keys, upload, model)"),
        })
        .collect::<Result<_>>()?;
    let bin = fs::canonicalize(&opts.bin)
        .with_context(|| format!("{}: build it first (cargo build --release -p hecnn)", opts.bin.display()))?;
    fs::create_dir_all(&opts.work)?;
    let work = fs::canonicalize(&opts.work)?;
    let base = work.join(format!("base-{}-{}", opts.preset, opts.samples));
    let mut h = Harness {
        opts: opts.clone(),
        bin,
        base: base.clone(),
        cases_root: work.join("cases"),
        honest_weights: Value::Null,
        honest_weights1: Value::Null,
        cache: None,
    };
    let t_setup = Instant::now();
    h.setup()?;
    let setup_secs = t_setup.elapsed().as_secs_f64();

    let mut gen = Gen { opts: &opts, base: &base, cases: Vec::new() };
    for &d in &dirs {
        gen.directory(d)?;
    }
    let mut cases = gen.cases;
    // Unique ids.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for c in &mut cases {
        let n = seen.entry(c.id.clone()).or_default();
        *n += 1;
        if *n > 1 {
            c.id = format!("{}#{}", c.id, n);
        }
    }
    if opts.quick {
        // Controls and named attacks, plus a seeded sample of 10 others per directory, in their order.
        let mut rng = Rng::for_file(opts.seed, "quick");
        let mut keep = vec![false; cases.len()];
        for &d in &dirs {
            let idx: Vec<usize> = (0..cases.len()).filter(|&i| cases[i].dir == d).collect();
            for &i in &idx {
                keep[i] |= cases[i].named;
            }
            let mut others: Vec<usize> = idx.into_iter().filter(|&i| !keep[i]).collect();
            for _ in 0..10.min(others.len()) {
                let j = rng.range(0, others.len() as u64) as usize;
                keep[others.swap_remove(j)] = true;
            }
        }
        let mut k = keep.into_iter();
        cases.retain(|_| k.next().unwrap_or(false));
    }
    if let Some(f) = &opts.filter {
        cases.retain(|c| c.id.contains(f.as_str()));
    }
    if opts.list {
        for c in &cases {
            println!("{}\t{}", c.id, c.cmd.name());
        }
        eprintln!("{} cases", cases.len());
        return Ok(());
    }
    let per_dir: Vec<String> =
        dirs.iter().map(|d| format!("{} {}", d.name(), cases.iter().filter(|c| c.dir == *d).count())).collect();
    eprintln!(
        "{} cases ({}); timeout {} s, stall {} s, RSS limit {} MiB",
        cases.len(),
        per_dir.join(", "),
        opts.timeout,
        opts.stall,
        opts.max_rss_mib
    );

    fs::create_dir_all(&h.cases_root)?;
    let started = utc_now();
    let t0 = Instant::now();
    let mut records = Vec::with_capacity(cases.len());
    let mut dir_secs: BTreeMap<&'static str, f64> = BTreeMap::new();
    for (i, case) in cases.iter().enumerate() {
        let t = Instant::now();
        let rec = h.run_case(i, case)?;
        *dir_secs.entry(case.dir.name()).or_default() += t.elapsed().as_secs_f64();
        let flag = if rec.outcome == "typed-error" { " " } else { "!" };
        eprintln!(
            "{flag}[{:>4}/{}] {:<16} {:>6.2}s {:>6.0}MiB  {}  | {}",
            i + 1,
            cases.len(),
            rec.outcome,
            rec.seconds,
            rec.peak_rss_mib,
            rec.id,
            rec.stderr_first.chars().take(140).collect::<String>()
        );
        let _ = std::io::stderr().flush();
        records.push(rec);
    }
    let total_secs = t0.elapsed().as_secs_f64();
    let intact = hash_tree(&base)?
        == serde_json::from_value::<BTreeMap<String, String>>(
            serde_json::from_slice::<Value>(&fs::read(base.join("stamp.json"))?)?["files"].clone(),
        )?;

    let sum = summary(&records, &dirs);
    let table = print_table(&sum, &dirs);
    let grp = groups(&records);
    println!("\n{table}");
    let listed = records.iter().filter(|r| !matches!(r.outcome, "typed-error" | "control-ok")).count();
    println!("Cases that are not typed-error ({listed}; first of a group shown):");
    for g in &grp {
        println!("\n[{}] {} ×{} ({}): {}", g.dir, g.outcome, g.count, g.stage, g.detail);
        for id in g.ids.iter().take(8) {
            println!("    {id}");
        }
        if g.ids.len() > 8 {
            println!("    … and {} more", g.ids.len() - 8);
        }
    }
    println!(
        "\n{} cases in {:.0} s ({}); base {:.0} s; honest files intact: {intact}",
        records.len(),
        total_secs,
        dir_secs.iter().map(|(d, s)| format!("{d} {s:.0} s")).collect::<Vec<_>>().join(", "),
        setup_secs
    );

    if let Some(path) = &opts.report {
        let mut report = Report {
            harness: "crates/hecnn/examples/attack.rs",
            started,
            seconds: (total_secs * 10.0).round() / 10.0,
            seconds_per_dir: dir_secs.iter().map(|(d, s)| (*d, s.round())).collect(),
            base_setup_seconds: (setup_secs * 10.0).round() / 10.0,
            git_commit: git(&["rev-parse", "HEAD"]),
            git_dirty: git(&["status", "--porcelain"]).map(|s| !s.is_empty()),
            binary_blake3: blake3_file(&h.bin)?,
            options: &opts,
            base_intact: intact,
            outcomes: OUTCOMES,
            summary: &sum,
            not_typed_error_groups: &grp,
            records_complete: true,
            typed_error_counts_by_target: None,
            records: records.iter().collect(),
        };
        let mut text = serde_json::to_vec_pretty(&report)?;
        if text.len() > opts.max_report_bytes {
            let mut typed: BTreeMap<String, usize> = BTreeMap::new();
            for r in records.iter().filter(|r| r.outcome == "typed-error") {
                *typed.entry(format!("{}/{}", r.dir, r.target)).or_default() += 1;
            }
            report.records_complete = false;
            report.typed_error_counts_by_target = Some(typed);
            report.records.retain(|r| r.outcome != "typed-error");
            text = serde_json::to_vec_pretty(&report)?;
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(path, text).with_context(|| format!("{}", path.display()))?;
        eprintln!("report: {}", path.display());
    }
    Ok(())
}
