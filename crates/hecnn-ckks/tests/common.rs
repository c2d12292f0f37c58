//! Shared helpers for the integration tests.
#![allow(dead_code)]

use hecnn_ckks::*;
use rand::{RngExt, SeedableRng};
use std::sync::Arc;

pub struct Setup {
    pub ctx: Arc<Context>,
    pub sk: SecretKey,
    pub enc: Encryptor,
    pub rlk: RelinKey,
    pub encoder: Encoder,
    pub ev: Evaluator,
}

/// A small insecure ring (N=2^12) with 8 levels, for fast functional tests.
pub fn small() -> Setup {
    setup(Parameters::insecure_for_tests(12, &[60, 40, 40, 40, 40, 40, 40, 40, 40], 3, 40).unwrap())
}

pub fn setup(params: Parameters) -> Setup {
    let ctx = Context::new(params).unwrap();
    let sk = SecretKey::generate(&ctx);
    let enc = Encryptor::new(&ctx, PublicKey::generate(&sk)).unwrap();
    let rlk = RelinKey::generate(&sk);
    Setup { encoder: Encoder::new(&ctx), ev: Evaluator::new(&ctx), ctx, sk, enc, rlk }
}

pub fn random_vec(len: usize, seed: u64) -> Vec<f64> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..len).map(|_| rng.random_range(-1.0..1.0)).collect()
}

pub fn max_err(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

impl Setup {
    pub fn encrypt(&self, v: &[f64]) -> Ciphertext {
        let pt =
            self.encoder.encode_real(v, self.ctx.n() / 2, self.ctx.max_level(), self.ctx.params().scale()).unwrap();
        self.enc.encrypt(&pt).unwrap()
    }
    pub fn decrypt(&self, ct: &Ciphertext) -> Vec<f64> {
        self.encoder.decode_real(&Decryptor::new(&self.sk).decrypt(ct).unwrap()).unwrap()
    }
}
