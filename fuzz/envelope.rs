//! Mutation helpers for files in the CKKS binary envelope (`hecnn_ckks::serial`),
//! shared by the fuzz targets of hecnn-ckks and hecnn-ml (included by path).

#![allow(dead_code)]

use hecnn_ckks::serial::{reseal, MAGIC};
use proptest::prelude::*;

/// What follows the byte mutations.
#[derive(Clone, Copy, Debug)]
pub enum Post {
    /// Nothing: the checksum catches the change.
    None,
    /// Recompute the checksum(s): the body parser sees the change.
    Reseal,
    /// Set the body length to what the file holds, then reseal: truncations
    /// and extensions reach the body parser too.
    Refit,
}

/// No post-processing once in five, resealing or refitting otherwise.
pub fn post() -> impl Strategy<Value = Post> {
    prop_oneof![1 => Just(Post::None), 2 => Just(Post::Reseal), 2 => Just(Post::Refit)]
}

/// Header length of an envelope starting at `at` (label length from its byte).
fn header_len(b: &[u8], at: usize) -> Option<usize> {
    b.get(at + 36).map(|&ll| at + 45 + ll as usize)
}

/// Nested envelopes (the Galois keys inside bootstrapping keys): (start,
/// length) from the u64 length written before each.
fn nested(b: &[u8]) -> Vec<(usize, usize)> {
    (8..b.len().saturating_sub(MAGIC.len()))
        .filter(|&i| &b[i..i + MAGIC.len()] == MAGIC)
        .filter_map(|i| {
            let len = u64::from_le_bytes(b[i - 8..i].try_into().unwrap());
            let len = usize::try_from(len).ok()?;
            (i.checked_add(len)? <= b.len()).then_some((i, len))
        })
        .collect()
}

fn refit(b: &mut [u8], at: usize, end: usize) {
    if let Some(h) = header_len(b, at) {
        if h <= end && end - h >= 32 {
            let body = (end - h - 32) as u64;
            b[h - 8..h].copy_from_slice(&body.to_le_bytes());
        }
    }
}

pub fn finish(mut b: Vec<u8>, post: Post) -> Vec<u8> {
    if matches!(post, Post::None) {
        return b;
    }
    for (start, len) in nested(&b) {
        if matches!(post, Post::Refit) {
            refit(&mut b, start, start + len);
        }
        reseal(&mut b[start..start + len]);
    }
    if matches!(post, Post::Refit) {
        let len = b.len();
        refit(&mut b, 0, len);
    }
    reseal(&mut b);
    b
}

/// Offsets of the fields worth overwriting: the header's, the body's
/// first, every polynomial header (`num_q u16, num_p u16, ntt = 1`) and
/// the nested envelopes'.
pub fn hot_spots(b: &[u8]) -> Vec<usize> {
    let mut hot = vec![0, 8, 10, 11, 12, 20, 36];
    let mut envelopes = vec![0];
    envelopes.extend(nested(b).into_iter().map(|(s, _)| s));
    for &e in &envelopes {
        if let Some(h) = header_len(b, e) {
            hot.extend([e.saturating_sub(8), e + 36, h - 8, h, h + 4, h + 8, h + 12, h + 16, h + 32, h + 36, h + 40]);
        }
    }
    hot.extend(
        (0..b.len().saturating_sub(5))
            .filter(|&i| (1..=8).contains(&b[i]) && b[i + 1] == 0 && b[i + 2] <= 3 && b[i + 3] == 0 && b[i + 4] == 1),
    );
    hot
}
