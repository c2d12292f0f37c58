//! Shared harness of the fuzz targets (`crates/*/tests/fuzz_readers.rs`),
//! included by path: the seed corpus, the byte and text mutations, and the
//! bounded runner every reader call goes through.
//!
//! Each target feeds a mutated corpus file to one reader; the property is
//! that the reader returns (`Ok` or `Err`) — no panic, no abort — within
//! [`timeout`] and without a peak above [`MAX_CASE_BYTES`] of heap. See
//! `fuzz/README.md`.

#![allow(dead_code)] // each test binary uses its own subset

use proptest::prelude::*;
use proptest::sample::Index;
use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

// ---------------------------------------------------------------- corpus

/// `fuzz/corpus` of this repository.
pub fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus")
}

/// Whether the corpus is to be rewritten (`HECNN_FUZZ_REGENERATE=1`)
/// before the targets read it.
pub fn regenerate() -> bool {
    std::env::var_os("HECNN_FUZZ_REGENERATE").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Writes one corpus file (creating its directory).
pub fn write_corpus(rel: &str, bytes: &[u8]) {
    let path = corpus_dir().join(rel);
    std::fs::create_dir_all(path.parent().expect("corpus files live in a folder")).expect("create corpus folder");
    std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// Reads one corpus file; a missing file names the command that makes it.
pub fn read_corpus(rel: &str) -> Vec<u8> {
    let path = corpus_dir().join(rel);
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (regenerate the corpus: see fuzz/README.md)", path.display()))
}

/// Cases per target: `HECNN_FUZZ_CASES`, else `default` (sized so that all
/// targets together stay within the CI budget).
pub fn cases(default: u32) -> u32 {
    std::env::var("HECNN_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Proptest configuration of a target with `default` cases. Failures are
/// persisted next to the test file (`fuzz_readers.proptest-regressions`)
/// and replayed first on the next run.
pub fn config(default: u32) -> ProptestConfig {
    ProptestConfig {
        cases: cases(default),
        // Shrinking a hang costs a timeout per step: keep it bounded.
        max_shrink_iters: 256,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------- memory

/// Largest heap peak one reader call may reach (above what was live before).
pub const MAX_CASE_BYTES: usize = 256 << 20;
/// A single allocation above this is refused outright (the process aborts
/// with "memory allocation of … failed"): the machine is shared.
const REFUSE_BYTES: usize = 1 << 30;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting live bytes and their peak. Each fuzz
/// test binary installs it: `#[global_allocator] static A: Counting = Counting;`.
pub struct Counting;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > REFUSE_BYTES {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > REFUSE_BYTES {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > REFUSE_BYTES {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let live = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size - layout.size();
                PEAK.fetch_max(live, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

// ---------------------------------------------------------------- runner

/// Per-case time limit: `HECNN_FUZZ_TIMEOUT_S` seconds, default 10.
pub fn timeout() -> Duration {
    let s = std::env::var("HECNN_FUZZ_TIMEOUT_S").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    Duration::from_secs(s)
}

/// One reader call at a time per test binary, so the heap peak of a case
/// is its own (other test threads only build small inputs meanwhile).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `f` while no reader call runs (fixtures: their allocations stay
/// out of the cases' heap peaks). Not from inside [`run_bounded`].
pub fn exclusive<T>(f: impl FnOnce() -> T) -> T {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    f()
}

/// Runs `f` (a reader call and what its caller does next) on its own
/// thread. `Err` describes a panic, a call still running after
/// [`timeout`] (left behind; the test fails), or a heap peak above
/// [`MAX_CASE_BYTES`].
pub fn run_bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    run_bounded_by(MAX_CASE_BYTES, f).map(|(v, _)| v)
}

/// [`run_bounded`] with its own heap bound, returning the heap peak too: a
/// target whose honest input is large (an upload with real rotation keys)
/// is bounded relative to what the honest input costs (see
/// [`bound_above`]).
pub fn run_bounded_by<T: Send + 'static>(
    max_bytes: usize,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<(T, usize), String> {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = std::thread::Builder::new()
        .name("fuzz-case".into())
        .spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send(r);
        })
        .map_err(|e| format!("cannot start the case thread: {e}"))?;
    let limit = timeout();
    let out = match rx.recv_timeout(limit) {
        Ok(Ok(v)) => v,
        Ok(Err(payload)) => {
            let _ = worker.join();
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "non-string payload".into());
            return Err(format!("panicked: {msg}"));
        }
        Err(_) => return Err(format!("still running after {limit:?} (hang)")),
    };
    let _ = worker.join();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    if peak > max_bytes {
        return Err(format!("heap peak {} MiB above the {} MiB bound", peak >> 20, max_bytes >> 20));
    }
    Ok((out, peak))
}

/// The heap bound for cases mutated from an honest input whose own run
/// peaked at `honest_peak`: a quarter above it, and never below
/// [`MAX_CASE_BYTES`] — a length or count field that makes a reader
/// allocate more than the honest files hold still fails the case.
pub fn bound_above(honest_peak: usize) -> usize {
    MAX_CASE_BYTES.max(honest_peak + honest_peak / 4)
}

// ---------------------------------------------------------------- bytes

/// Values written into length and count fields.
#[derive(Clone, Debug)]
pub enum FieldValue {
    Zero,
    One,
    /// All ones (u16::MAX, u32::MAX, u64::MAX at the width).
    Max,
    /// The sign bit set (`i*::MIN`): "negative" to a signed reader.
    SignBit,
    /// A large power of two (2^(bits−2)).
    Huge,
    /// Small values around real counts.
    Small(u8),
    /// The field plus or minus a little.
    Nudge(i8),
    Any(u64),
}

/// One edit of a file's bytes.
#[derive(Clone, Debug)]
pub enum Mutation {
    /// Flip bit `.1` of byte `.0`.
    Flip(Index, u8),
    /// Set byte `.0` to `.1`.
    Set(Index, u8),
    /// Overwrite one of the first 64 bytes (the envelope header and label).
    Header(u8, u8),
    /// Write a `width`-byte integer (little- or big-endian) at a hot spot
    /// (`anchor` picks one of the target's field offsets, `delta` moves it)
    /// or, without hot spots, anywhere.
    Field { anchor: Index, delta: u8, width: u8, big_endian: bool, value: FieldValue },
    /// Keep only the first `.0` (scaled) bytes.
    Truncate(Index),
    /// Append bytes.
    Extend(Vec<u8>),
    /// Insert bytes at a position.
    Insert(Index, Vec<u8>),
    /// Remove up to `.1` bytes at a position.
    Remove(Index, u16),
    /// Repeat a stretch of the file in place.
    Duplicate(Index, u16),
    /// This file's head, then another corpus file's tail.
    Splice { other: Index, at: Index, from: Index },
}

fn field_value() -> impl Strategy<Value = FieldValue> {
    prop_oneof![
        Just(FieldValue::Zero),
        Just(FieldValue::One),
        Just(FieldValue::Max),
        Just(FieldValue::SignBit),
        Just(FieldValue::Huge),
        (0u8..=64).prop_map(FieldValue::Small),
        any::<i8>().prop_map(FieldValue::Nudge),
        any::<u64>().prop_map(FieldValue::Any),
    ]
}

fn short_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 1..16),
        prop::collection::vec(Just(0u8), 1..64),
        prop::collection::vec(Just(0xffu8), 1..64),
    ]
}

/// One byte mutation.
pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        3 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        3 => (0u8..64, any::<u8>()).prop_map(|(i, b)| Mutation::Header(i, b)),
        4 => (any::<Index>(), 0u8..8, prop::sample::select(vec![1u8, 2, 4, 8]), any::<bool>(), field_value())
            .prop_map(|(anchor, delta, width, big_endian, value)| Mutation::Field { anchor, delta, width, big_endian, value }),
        2 => any::<Index>().prop_map(Mutation::Truncate),
        1 => short_bytes().prop_map(Mutation::Extend),
        1 => (any::<Index>(), short_bytes()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<Index>(), 1u16..512).prop_map(|(i, n)| Mutation::Remove(i, n)),
        1 => (any::<Index>(), 1u16..512).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
        2 => (any::<Index>(), any::<Index>(), any::<Index>()).prop_map(|(other, at, from)| Mutation::Splice { other, at, from }),
    ]
}

/// One to four byte mutations.
pub fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(mutation(), 1..=4)
}

fn write_int(out: &mut Vec<u8>, pos: usize, width: usize, big_endian: bool, v: u64) {
    let bytes = if big_endian { v.to_be_bytes()[8 - width..].to_vec() } else { v.to_le_bytes()[..width].to_vec() };
    if pos + width > out.len() {
        out.resize(pos + width, 0);
    }
    out[pos..pos + width].copy_from_slice(&bytes);
}

fn read_int(b: &[u8], pos: usize, width: usize, big_endian: bool) -> u64 {
    let mut buf = [0u8; 8];
    for (k, &x) in b.iter().skip(pos).take(width).enumerate() {
        buf[k] = x;
    }
    let v = u64::from_le_bytes(buf);
    if big_endian {
        // Reverse the `width` bytes read.
        let le = v.to_le_bytes();
        let mut be = [0u8; 8];
        for k in 0..width {
            be[k] = le[width - 1 - k];
        }
        u64::from_le_bytes(be)
    } else {
        v
    }
}

/// Applies `m` to `bytes`. `pool` holds the other corpus files (splicing);
/// `hot` the offsets of the format's length and count fields (may be empty).
pub fn apply(bytes: &mut Vec<u8>, m: &Mutation, pool: &[&[u8]], hot: &[usize]) {
    let len = bytes.len();
    match m {
        Mutation::Flip(i, b) if len > 0 => bytes[i.index(len)] ^= 1 << b,
        Mutation::Set(i, v) if len > 0 => bytes[i.index(len)] = *v,
        Mutation::Header(i, v) if (*i as usize) < len => bytes[*i as usize] = *v,
        Mutation::Field { anchor, delta, width, big_endian, value } => {
            let base = if hot.is_empty() { anchor.index(len.max(1)) } else { hot[anchor.index(hot.len())] };
            let pos = base + *delta as usize;
            if pos > len {
                return;
            }
            let w = *width as usize;
            let bits = 8 * w as u32;
            let max = if w == 8 { u64::MAX } else { (1u64 << bits) - 1 };
            let v = match value {
                FieldValue::Zero => 0,
                FieldValue::One => 1,
                FieldValue::Max => max,
                FieldValue::SignBit => 1u64 << (bits - 1),
                FieldValue::Huge => 1u64 << (bits - 2),
                FieldValue::Small(s) => *s as u64,
                FieldValue::Nudge(d) => read_int(bytes, pos, w, *big_endian).wrapping_add(*d as i64 as u64) & max,
                FieldValue::Any(a) => a & max,
            };
            write_int(bytes, pos, w, *big_endian, v);
        }
        Mutation::Truncate(i) => bytes.truncate(i.index(len + 1)),
        Mutation::Extend(b) => bytes.extend_from_slice(b),
        Mutation::Insert(i, b) => {
            let at = i.index(len + 1);
            bytes.splice(at..at, b.iter().copied());
        }
        Mutation::Remove(i, n) if len > 0 => {
            let at = i.index(len);
            let end = (at + *n as usize).min(len);
            bytes.drain(at..end);
        }
        Mutation::Duplicate(i, n) if len > 0 => {
            let at = i.index(len);
            let end = (at + *n as usize).min(len);
            let copy = bytes[at..end].to_vec();
            bytes.splice(end..end, copy);
        }
        Mutation::Splice { other, at, from } if !pool.is_empty() => {
            let o = pool[other.index(pool.len())];
            let cut = at.index(len + 1);
            let start = from.index(o.len() + 1);
            bytes.truncate(cut);
            bytes.extend_from_slice(&o[start..]);
        }
        _ => {}
    }
}

/// Applies every mutation in order.
pub fn apply_all(base: &[u8], ms: &[Mutation], pool: &[&[u8]], hot: &[usize]) -> Vec<u8> {
    let mut b = base.to_vec();
    for m in ms {
        apply(&mut b, m, pool, hot);
    }
    b
}

// ---------------------------------------------------------------- text

/// Replacements for one JSON value or CSV field: extreme, negative, fractional
/// and non-finite numbers, strings, nulls, containers, deep nesting.
pub const EXTREMES: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "2",
    "-2147483649",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "340282366920938463463374607431768211456",
    "1e308",
    "-1e308",
    "1e309",
    "-1e309",
    "1e-400",
    "0.5",
    "-0.5",
    "3.0",
    "1e3",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "0x10",
    "+1",
    "01",
    ".5",
    "1.",
    "-",
    "",
    " ",
    "\"\"",
    "\"x\"",
    "\"0\"",
    "\"-1\"",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"00000000000000000000000000000000\"",
    "\"ffffffffffffffffffffffffffffffff\"",
    "\"hecnn-training-upload-v1\"",
    "\"hecnn-encrypted-model-v1\"",
    "null",
    "true",
    "false",
    "[]",
    "{}",
    "[0]",
    "[[]]",
    "[-1,-1]",
    "{\"a\":1}",
    "é",
    "\u{1d54f}",
];

/// One edit of a text file (JSON or CSV), on its lexical tokens.
#[derive(Clone, Debug)]
pub enum TextMutation {
    /// Replace the value (scalar, or a whole array or object) starting at
    /// token `.0` with `EXTREMES[.1]`.
    Replace(Index, Index),
    /// Replace that value with `depth` nested arrays (or objects) around it.
    Nest(Index, u16, bool),
    /// Replace that value with a long array of copies of a number.
    LongArray(Index, u16, Index),
    /// Replace that value with a long string.
    LongString(Index, u32),
    /// Copy token `.1` over token `.0` (another key: duplicates, renames).
    CopyToken(Index, Index),
    /// Remove the value (scalar or container) at token `.0`.
    Delete(Index),
}

/// One text mutation.
pub fn text_mutation() -> impl Strategy<Value = TextMutation> {
    prop_oneof![
        6 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| TextMutation::Replace(a, b)),
        1 => (any::<Index>(), prop_oneof![1u16..8, 100u16..200, 1000u16..20000], any::<bool>())
            .prop_map(|(a, d, o)| TextMutation::Nest(a, d, o)),
        1 => (any::<Index>(), prop_oneof![1u16..16, 1000u16..20000], any::<Index>())
            .prop_map(|(a, n, v)| TextMutation::LongArray(a, n, v)),
        1 => (any::<Index>(), prop_oneof![1u32..100, 100_000u32..2_000_000])
            .prop_map(|(a, n)| TextMutation::LongString(a, n)),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| TextMutation::CopyToken(a, b)),
        1 => any::<Index>().prop_map(TextMutation::Delete),
    ]
}

/// One to three text mutations.
pub fn text_mutations() -> impl Strategy<Value = Vec<TextMutation>> {
    prop::collection::vec(text_mutation(), 1..=3)
}

/// Byte ranges of the lexical tokens: strings, and runs of anything but
/// whitespace and JSON/CSV punctuation. Punctuation (`[]{}:,`) and
/// newlines are tokens of their own.
fn tokens(t: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < t.len() {
        let c = t[i];
        if c == b'"' {
            let start = i;
            i += 1;
            while i < t.len() && t[i] != b'"' {
                i += if t[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(t.len());
            out.push((start, i));
        } else if b"[]{}:,\n".contains(&c) {
            out.push((i, i + 1));
            i += 1;
        } else if c.is_ascii_whitespace() {
            i += 1;
        } else {
            let start = i;
            while i < t.len() && !b"[]{}:,\n\"".contains(&t[i]) && !t[i].is_ascii_whitespace() {
                i += 1;
            }
            out.push((start, i));
        }
    }
    out
}

/// The byte range of the value starting at token `k`: to its matching
/// bracket for `[` and `{`, the token itself otherwise.
fn value_range(t: &[u8], toks: &[(usize, usize)], k: usize) -> (usize, usize) {
    let (s, e) = toks[k];
    if t[s] != b'[' && t[s] != b'{' {
        return (s, e);
    }
    let mut depth = 0i64;
    for &(ts, te) in &toks[k..] {
        match t[ts] {
            b'[' | b'{' => depth += 1,
            b']' | b'}' => {
                depth -= 1;
                if depth == 0 {
                    return (s, te);
                }
            }
            _ => {}
        }
    }
    (s, t.len())
}

/// Value tokens: everything but `]`, `}`, `:`, `,` and newlines.
fn value_tokens(t: &[u8], toks: &[(usize, usize)]) -> Vec<usize> {
    (0..toks.len()).filter(|&k| !b"]}:,\n".contains(&t[toks[k].0])).collect()
}

/// Applies one text mutation.
pub fn apply_text(text: &mut Vec<u8>, m: &TextMutation) {
    let toks = tokens(text);
    let vals = value_tokens(text, &toks);
    if vals.is_empty() {
        return;
    }
    let pick = |i: &Index| vals[i.index(vals.len())];
    let (range, with): ((usize, usize), Vec<u8>) = match m {
        TextMutation::Replace(a, b) => {
            (value_range(text, &toks, pick(a)), EXTREMES[b.index(EXTREMES.len())].as_bytes().to_vec())
        }
        TextMutation::Nest(a, depth, object) => {
            let r = value_range(text, &toks, pick(a));
            let inner = text[r.0..r.1].to_vec();
            let (open, close): (&[u8], &[u8]) = if *object { (b"{\"a\":", b"}") } else { (b"[", b"]") };
            let mut w = open.repeat(*depth as usize);
            w.extend_from_slice(&inner);
            w.extend_from_slice(&close.repeat(*depth as usize));
            (r, w)
        }
        TextMutation::LongArray(a, n, v) => {
            let item = EXTREMES[v.index(12)];
            let mut w = b"[".to_vec();
            w.extend_from_slice(vec![item; *n as usize].join(",").as_bytes());
            w.push(b']');
            (value_range(text, &toks, pick(a)), w)
        }
        TextMutation::LongString(a, n) => {
            let mut w = b"\"".to_vec();
            w.extend(std::iter::repeat_n(b'7', *n as usize));
            w.push(b'"');
            (value_range(text, &toks, pick(a)), w)
        }
        TextMutation::CopyToken(a, b) => {
            let (s, e) = toks[pick(b)];
            (toks[pick(a)], text[s..e].to_vec())
        }
        TextMutation::Delete(a) => (value_range(text, &toks, pick(a)), Vec::new()),
    };
    text.splice(range.0..range.1, with);
}

/// Applies every text mutation in order.
pub fn apply_text_all(base: &[u8], ms: &[TextMutation]) -> Vec<u8> {
    let mut t = base.to_vec();
    for m in ms {
        apply_text(&mut t, m);
    }
    t
}

/// A mutation of a text file: token-level edits, or byte edits.
#[derive(Clone, Debug)]
pub enum AnyMutation {
    Text(Vec<TextMutation>),
    Bytes(Vec<Mutation>),
}

/// Text edits three times out of four, byte edits otherwise.
pub fn any_mutations() -> impl Strategy<Value = AnyMutation> {
    prop_oneof![3 => text_mutations().prop_map(AnyMutation::Text), 1 => mutations().prop_map(AnyMutation::Bytes)]
}

/// Applies a text or byte mutation.
pub fn apply_any(base: &[u8], m: &AnyMutation, pool: &[&[u8]]) -> Vec<u8> {
    match m {
        AnyMutation::Text(ms) => apply_text_all(base, ms),
        AnyMutation::Bytes(ms) => apply_all(base, ms, pool, &[]),
    }
}

// ---------------------------------------------------------------- statistics

/// With `HECNN_FUZZ_STATS=1`, prints `fuzz-outcome <target> <outcome>` for
/// every case (count them with `sort | uniq -c`): how deep the cases get.
pub fn tally(target: &str, s: &str) {
    if std::env::var_os("HECNN_FUZZ_STATS").is_some() {
        // The variant names in a Debug rendering, outside string literals.
        let (mut names, mut word, mut quoted, mut escaped) = (Vec::new(), String::new(), false, false);
        for c in s.chars().chain(std::iter::once(' ')) {
            if quoted {
                quoted = escaped || c != '"';
                escaped = !escaped && c == '\\';
            } else if c.is_alphanumeric() || c == '_' {
                word.push(c);
            } else {
                if word.starts_with(|c: char| c.is_ascii_uppercase()) {
                    names.push(std::mem::take(&mut word));
                }
                word.clear();
                quoted = c == '"';
            }
        }
        names.truncate(3);
        eprintln!("fuzz-outcome {target} {}", names.join("/"));
    }
}

/// The outcome of a reader call, for [`tally`].
pub fn outcome<T, E: std::fmt::Debug>(r: &Result<T, E>) -> String {
    match r {
        Ok(_) => "Ok".into(),
        Err(e) => format!("{e:?}"),
    }
}
