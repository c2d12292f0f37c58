//! Randomness for keys and encryptions: uniform residues from a 32-byte seed
//! (so "a" parts can be stored as seeds), ternary secrets and rounded
//! Gaussian errors.

use super::modulus::Modulus;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

/// Standard deviation of the error distribution (HE standard).
pub const SIGMA: f64 = 3.2;
/// Errors are cut at 6σ, as SEAL and OpenFHE do.
pub const ERROR_BOUND: i64 = 19;

/// Deterministic stream for one use of a seed: `domain` separates the uses
/// (key digits, limbs, ...) so one stored seed expands to many polynomials.
pub fn seeded_rng(seed: &[u8; 32], domain: u64) -> ChaCha20Rng {
    let mut h = blake3::Hasher::new_derive_key("hecnn-ckks uniform a-part v1");
    h.update(seed);
    h.update(&domain.to_le_bytes());
    ChaCha20Rng::from_seed(*h.finalize().as_bytes())
}

/// Fills `out` with uniform residues modulo `q` (rejection sampling).
pub fn fill_uniform<R: Rng>(rng: &mut R, q: &Modulus, out: &mut [u64]) {
    let mask = if q.bits >= 64 { u64::MAX } else { (1u64 << q.bits) - 1 };
    for o in out.iter_mut() {
        loop {
            let v = rng.next_u64() & mask;
            if v < q.value {
                *o = v;
                break;
            }
        }
    }
}

/// Uniform ternary coefficients in {-1, 0, 1}.
pub fn ternary<R: Rng>(rng: &mut R, n: usize) -> Vec<i8> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let mut w = rng.next_u64();
        // 2 bits per draw, rejecting the 4th value keeps it uniform.
        for _ in 0..32 {
            let v = (w & 3) as i8;
            w >>= 2;
            if v < 3 {
                out.push(v - 1);
                if out.len() == n {
                    break;
                }
            }
        }
    }
    out
}

/// Ternary coefficients with exactly `h` non-zeros (sparse secret).
pub fn sparse_ternary<R: Rng>(rng: &mut R, n: usize, h: usize) -> Vec<i8> {
    let mut out = vec![0i8; n];
    let mut placed = 0;
    while placed < h.min(n) {
        let idx = (rng.next_u64() % n as u64) as usize;
        if out[idx] == 0 {
            out[idx] = if rng.next_u64() & 1 == 0 { 1 } else { -1 };
            placed += 1;
        }
    }
    out
}

/// Rounded Gaussian errors of standard deviation σ, cut at 6σ.
pub fn gaussian<R: Rng>(rng: &mut R, n: usize) -> Vec<i64> {
    let mut out = Vec::with_capacity(n);
    let unit = |r: &mut R| ((r.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    while out.len() < n {
        // Box–Muller: two normals per pair of uniforms.
        let (u1, u2) = (unit(rng), unit(rng));
        let radius = SIGMA * (-2.0 * u1.ln()).sqrt();
        let angle = std::f64::consts::TAU * u2;
        for z in [radius * angle.cos(), radius * angle.sin()] {
            let v = z.round() as i64;
            if v.abs() <= ERROR_BOUND && out.len() < n {
                out.push(v);
            }
        }
    }
    out
}

/// Fresh 32 bytes from the operating system.
pub fn os_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    rand::rng().fill_bytes(&mut seed);
    seed
}

/// Overwrites a generator's state (which held secret seed material) in
/// place, with a volatile write the optimizer cannot drop as dead.
pub(crate) fn wipe_rng(rng: &mut ChaCha20Rng) {
    // SAFETY: `rng` is a valid, aligned, exclusive reference; the old value
    // needs no drop (ChaCha20Rng owns no heap memory).
    unsafe { std::ptr::write_volatile(rng, ChaCha20Rng::from_seed([0; 32])) };
}
