//! Cost model of evaluating an odd polynomial homomorphically.
//!
//! **Depth.** An odd polynomial of degree `d` evaluated depth-optimally
//! (baby-step giant-step in the Chebyshev basis, Bossuat et al. 2021) consumes
//! `m = ceil(log2(d + 1))` levels.
//!
//! **Non-scalar multiplications** (ciphertext × ciphertext). With baby-step
//! parameter `l` (`1 <= l <= m`):
//!
//! * power-of-two giant steps `T_2, T_4, ..., T_{2^{m-1}}`: `m - 1` squarings
//!   (`T_{2k} = 2 T_k^2 - 1`);
//! * odd baby steps `T_3, T_5, ..., T_{min(2^l - 1, d)}`: one product each
//!   (`T_{i+j} = 2 T_i T_j - T_{|i-j|}`), i.e. `#{odd k : 3 <= k <= min(2^l-1, d)}`;
//! * the giant-step recursion: `p = q_0 + T_{2^k} q_1` splits at `T_{2^k}`
//!   for `k = m-1, ..., l`; every split whose upper part `q_1` is non-zero
//!   costs one product: `G(deg, k) = 0` if `deg < 2^l`,
//!   `G(deg, k) = G(deg, k-1)` if `deg < 2^k`, else
//!   `1 + G(2^k - 1, k-1) + G(deg - 2^k, k-1)`.
//!
//! `nonscalar_mults(d) = min_l [ (m - 1) + #odd_baby(l, d) + G(d, m - 1) ]`.
//! Odd polynomials stay odd under the split (`T_{2^k}` is even), so every
//! leaf is a scalar combination of odd baby steps (free of non-scalar
//! products). Examples: `d = 3 → 2`, `7 → 4`, `15 → 7`, `27 → 10`,
//! `31 → 10`, `63 → 15` (see the unit tests). Scalar multiplications and
//! additions are free in this model and do not count towards depth (their
//! rescale is merged into the next product, as in Bossuat et al.).
//! [`crate::bsgs::eval_odd_bsgs`] is a plaintext implementation of exactly
//! this evaluation order that counts its own products, so the formula is
//! checked against an algorithm rather than assumed.

/// Multiplicative depth `ceil(log2(d + 1))` of a depth-optimal evaluation.
pub fn depth(d: usize) -> u32 {
    if d == 0 {
        return 0;
    }
    usize::BITS - d.leading_zeros()
}

fn giant(deg: usize, k: u32, l: u32) -> u32 {
    if deg < (1usize << l) {
        return 0;
    }
    if k < l {
        return 0;
    }
    let p = 1usize << k;
    if deg < p {
        giant(deg, k - 1, l)
    } else {
        1 + giant(p - 1, k.saturating_sub(1), l) + giant(deg - p, k.saturating_sub(1), l)
    }
}

/// Non-scalar multiplications with baby-step parameter `l` (clamped to `1..=m`).
pub fn nonscalar_mults_with(d: usize, l: u32) -> u32 {
    if d <= 1 {
        return 0;
    }
    let m = depth(d);
    let l = l.clamp(1, m);
    let top = ((1usize << l) - 1).min(d);
    let baby = if top >= 3 { ((top - 3) / 2 + 1) as u32 } else { 0 };
    let g = if l >= m { 0 } else { giant(d, m - 1, l) };
    (m - 1) + baby + g
}

/// The baby-step parameter `l` that minimises the count (smallest on ties).
pub fn best_baby_step(d: usize) -> u32 {
    let m = depth(d).max(1);
    (1..=m).min_by_key(|&l| (nonscalar_mults_with(d, l), l)).unwrap_or(1)
}

/// Non-scalar multiplications of an odd degree-`d` polynomial under the
/// model above, with the best baby-step parameter.
pub fn nonscalar_mults(d: usize) -> u32 {
    nonscalar_mults_with(d, best_baby_step(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depths() {
        assert_eq!(depth(1), 1);
        assert_eq!(depth(3), 2);
        assert_eq!(depth(7), 3);
        assert_eq!(depth(15), 4);
        assert_eq!(depth(27), 5);
        assert_eq!(depth(31), 5);
        assert_eq!(depth(63), 6);
    }

    #[test]
    fn mults_table() {
        let v: Vec<u32> = [3, 5, 7, 15, 27, 31, 63].iter().map(|&d| nonscalar_mults(d)).collect();
        assert_eq!(v, vec![2, 4, 4, 7, 10, 10, 15]);
        let all: Vec<u32> = (3..=63).step_by(2).map(nonscalar_mults).collect();
        assert!(all.windows(2).all(|w| w[0] <= w[1]));
    }
}
