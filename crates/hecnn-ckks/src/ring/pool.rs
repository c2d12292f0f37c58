//! A process-wide pool of large residue buffers.
//!
//! A ciphertext operation at N=2^16 creates and drops several 16–20 MB
//! buffers. Returned to the system allocator they come back as fresh pages
//! that the kernel must fault in and zero — a fifth of the run time before
//! this pool. Dropped polynomials park their buffer here instead; the pool is
//! bounded so idle memory stays small.

use std::sync::Mutex;

/// Buffers smaller than this (in words) go back to the allocator.
const MIN_POOLED_WORDS: usize = 1 << 15;
/// At most this many words are kept idle (1 GiB)...
const MAX_POOLED_WORDS: usize = 1 << 27;
/// ...in at most this many buffers.
const MAX_POOLED_BUFFERS: usize = 48;

static POOL: Mutex<Vec<Vec<u64>>> = Mutex::new(Vec::new());

/// A buffer of exactly `len` words with unspecified (stale) contents.
pub fn take(len: usize) -> Vec<u64> {
    if len >= MIN_POOLED_WORDS {
        if let Ok(mut pool) = POOL.lock() {
            // Best fit: the smallest buffer that is large enough.
            let best = pool
                .iter()
                .enumerate()
                .filter(|(_, v)| v.capacity() >= len)
                .min_by_key(|(_, v)| v.capacity())
                .map(|(i, _)| i);
            if let Some(i) = best {
                let mut v = pool.remove(i);
                drop(pool);
                v.resize(len, 0);
                v.truncate(len);
                return v;
            }
        }
    }
    vec![0; len]
}

/// A zero-filled buffer of `len` words.
pub fn take_zeroed(len: usize) -> Vec<u64> {
    let mut v = take(len);
    v.fill(0);
    v
}

/// Parks a buffer for reuse (or frees it when the pool is full).
pub fn give(v: Vec<u64>) {
    if v.capacity() < MIN_POOLED_WORDS {
        return;
    }
    if let Ok(mut pool) = POOL.lock() {
        pool.push(v);
        // Over budget: drop the oldest buffers (front), keep the recent ones.
        let mut held: usize = pool.iter().map(|b| b.capacity()).sum();
        while pool.len() > MAX_POOLED_BUFFERS || held > MAX_POOLED_WORDS {
            held -= pool.remove(0).capacity();
        }
    }
}

/// Empties the pool and returns what it held (tests inspect it).
#[cfg(test)]
pub(crate) fn drain() -> Vec<Vec<u64>> {
    POOL.lock().map(|mut p| std::mem::take(&mut *p)).unwrap_or_default()
}
