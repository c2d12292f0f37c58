//! Every preset against published 128-bit bounds, with tables copied here
//! from their sources (not from `params.rs`) and log2(Q·P) computed here,
//! exactly, from the primes themselves.

use hecnn_ckks::params::{max_log_qp_128, Preset};

/// OpenFHE `src/core/lib/lattice/stdlatticeparms.cpp`, entries
/// `StdLatticeParm(HEStd_ternary, N, HEStd_128_classic, maxLogQ)` (N = 2^10
/// .. 2^17; 65536 → 1747 and 131072 → 3523 since PR #807, commit f387eaf0,
/// which lowered 65536 from 1772). OpenFHE compares them with log2(Q·P).
const OPENFHE_TERNARY_128_CLASSIC: [(u32, u32); 8] =
    [(10, 27), (11, 54), (12, 109), (13, 218), (14, 438), (15, 881), (16, 1747), (17, 3523)];

/// HE security guidelines v2 (Bossuat et al., "Security Guidelines for
/// Implementing Homomorphic Encryption", ePrint 2024/463), Table 5.2:
/// uniform ternary secret, σ = 3.19, 128-bit classical, by log2 N.
const GUIDELINES_V2_TABLE_5_2_128: [(u32, u32); 8] =
    [(10, 26), (11, 53), (12, 106), (13, 214), (14, 430), (15, 868), (16, 1747), (17, 3523)];

/// Lattigo `circuits/ckks/bootstrapping/parameters_literal.go`: a Hamming
/// weight 32 ephemeral secret "ensure[s] over 128-bit security for an
/// evaluation key of modulus 121 bits" at N = 2^16 (lattice-estimator:
/// ≈ 2^172 primal MITM hybrid at log2 q = 121, SparseLWEkit; ≈ 2^164
/// dual-MITM hybrid at log2 q ≈ 120).
const SPARSE_H32_N16_MAX_LOG_QP: u32 = 121;

/// The stricter of the two published tables.
fn bound(log_n: u32) -> u32 {
    let find = |t: &[(u32, u32)]| t.iter().find(|e| e.0 == log_n).map(|e| e.1).expect("log_n in both tables");
    find(&OPENFHE_TERNARY_128_CLASSIC).min(find(&GUIDELINES_V2_TABLE_5_2_128))
}

/// The product of `primes` as little-endian 64-bit words.
fn product(primes: &[u64]) -> Vec<u64> {
    let mut acc = vec![1u64];
    for &x in primes {
        let mut carry = 0u128;
        for w in acc.iter_mut() {
            let t = *w as u128 * x as u128 + carry;
            *w = t as u64;
            carry = t >> 64;
        }
        if carry > 0 {
            acc.push(carry as u64);
        }
    }
    acc
}

/// Bit length of a little-endian number (no leading zero word).
fn bit_length(x: &[u64]) -> u32 {
    let top = *x.last().unwrap();
    64 * (x.len() as u32 - 1) + (64 - top.leading_zeros())
}

/// log2 of a little-endian number, from its top 128 bits.
fn log2(x: &[u64]) -> f64 {
    let n = x.len();
    if n == 1 {
        return (x[0] as f64).log2();
    }
    let top = ((x[n - 1] as u128) << 64) | x[n - 2] as u128;
    (top as f64).log2() + 64.0 * (n - 2) as f64
}

/// log2(Q·P) ≤ B exactly when Q·P < 2^B (Q·P is odd, never 2^B), i.e. when
/// its bit length is at most B.
#[test]
fn every_preset_is_under_both_published_tables() {
    for preset in Preset::ALL {
        let params = preset.params();
        let all: Vec<u64> = params.q().iter().chain(params.p()).copied().collect();
        let qp = product(&all);
        let log_qp = log2(&qp);
        let max = bound(params.log_n());
        eprintln!(
            "{:<15} N=2^{} log2 QP = {:7.2} (Q {:7.2}, P {:6.2}: {} special primes, dnum {}) ≤ {max}: margin {:5.2}",
            preset.name(),
            params.log_n(),
            log_qp,
            log2(&product(params.q())),
            log2(&product(params.p())),
            params.p().len(),
            params.dnum(),
            max as f64 - log_qp
        );
        assert!(bit_length(&qp) <= max, "{}: log2(QP) = {log_qp:.2} > {max}", preset.name());
        assert!(log_qp <= max as f64);
        // What the code reports agrees with the exact product.
        assert!((params.log_qp() - log_qp).abs() < 1e-6, "{}: {} vs {log_qp}", preset.name(), params.log_qp());
    }
}

/// `bootstrappable`'s one sparse-secret key lives modulo q_0·p_0: under the
/// published sparse estimate.
#[test]
fn sparse_encapsulation_modulus_is_under_the_published_estimate() {
    let params = Preset::Bootstrappable.params();
    assert_eq!(params.log_n(), 16);
    let q0p0 = product(&[params.q()[0], params.p()[0]]);
    assert!(bit_length(&q0p0) <= SPARSE_H32_N16_MAX_LOG_QP, "log2(q_0·p_0) = {:.2}", log2(&q0p0));
}

/// The code's table is never looser than either published one.
#[test]
fn code_table_is_never_looser_than_the_published_ones() {
    for log_n in 10..=17 {
        let code = max_log_qp_128(log_n).expect("the code covers 2^10..2^17");
        assert!(code <= bound(log_n), "2^{log_n}: code {code} > published {}", bound(log_n));
    }
    assert_eq!(max_log_qp_128(18), None);
}

#[test]
fn exact_arithmetic_helpers() {
    let x = product(&[(1 << 61) - 1, (1 << 61) - 1, 3]);
    assert_eq!(bit_length(&x), 124);
    assert!((log2(&x) - (122.0 + 3f64.log2())).abs() < 1e-9);
    assert_eq!(bit_length(&product(&[65537])), 17);
    assert!((log2(&product(&[65537])) - 65537f64.log2()).abs() < 1e-12);
    let p40: Vec<u64> = vec![(1 << 40) + 1; 30];
    assert!((log2(&product(&p40)) - 30.0 * (((1u64 << 40) + 1) as f64).log2()).abs() < 1e-9);
}
