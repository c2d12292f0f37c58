//! NTT-friendly prime generation: primes `q ≡ 1 (mod 2N)` near a requested size.

/// Deterministic Miller–Rabin for 64-bit integers.
pub fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    for p in [2u64, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37] {
        if n.is_multiple_of(p) {
            return n == p;
        }
    }
    let mut d = n - 1;
    let mut s = 0;
    while d.is_multiple_of(2) {
        d /= 2;
        s += 1;
    }
    let mulmod = |a: u64, b: u64| ((a as u128 * b as u128) % n as u128) as u64;
    let powmod = |mut a: u64, mut e: u64| {
        let mut r = 1u64;
        while e > 0 {
            if e & 1 == 1 {
                r = mulmod(r, a);
            }
            a = mulmod(a, a);
            e >>= 1;
        }
        r
    };
    'witness: for a in [2u64, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37] {
        let mut x = powmod(a, d);
        if x == 1 || x == n - 1 {
            continue;
        }
        for _ in 1..s {
            x = mulmod(x, x);
            if x == n - 1 {
                continue 'witness;
            }
        }
        return false;
    }
    true
}

/// Where to look for primes of a requested size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrimeSide {
    /// Strictly below `2^bits` (exactly `bits` bits long).
    Below,
    /// Alternately just above and just below `2^bits`, closest first, so that
    /// rescaling by them keeps the scale near `2^bits`.
    Around,
}

/// Returns `count` distinct primes `q ≡ 1 (mod 2n)` near `2^bits`, none of
/// which is in `exclude`. Returns `None` when the range is exhausted.
pub fn ntt_primes(bits: u32, count: usize, two_n: u64, side: PrimeSide, exclude: &[u64]) -> Option<Vec<u64>> {
    let center = 1u64 << bits;
    let mut out = Vec::with_capacity(count);
    let mut below = center - two_n + 1; // largest candidate < 2^bits
    let mut above = center + two_n + 1; // smallest candidate > 2^bits
    let low_limit = 1u64 << (bits - 1);
    let high_limit = if side == PrimeSide::Around { center + (center >> 1) } else { center };
    let mut take_above = side == PrimeSide::Around;
    while out.len() < count {
        let candidate = if take_above {
            if above >= high_limit || above >= 1 << 61 {
                take_above = false;
                continue;
            }
            let c = above;
            above += two_n;
            c
        } else {
            if below <= low_limit {
                return None;
            }
            let c = below;
            below -= two_n;
            c
        };
        if is_prime(candidate) && !exclude.contains(&candidate) && !out.contains(&candidate) {
            out.push(candidate);
            if side == PrimeSide::Around {
                take_above = !take_above;
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primes_are_ntt_friendly_and_distinct() {
        let two_n = 1u64 << 17;
        let ps = ntt_primes(40, 10, two_n, PrimeSide::Around, &[]).unwrap();
        for &p in &ps {
            assert!(is_prime(p));
            assert_eq!(p % two_n, 1);
            assert!(p.abs_diff(1 << 40) < 1 << 36);
        }
        let below = ntt_primes(60, 3, two_n, PrimeSide::Below, &ps).unwrap();
        assert!(below.iter().all(|&p| p < 1 << 60 && p > 1 << 59));
        assert!(!is_prime(561) && is_prime(65537) && !is_prime(1 << 40));
    }
}
