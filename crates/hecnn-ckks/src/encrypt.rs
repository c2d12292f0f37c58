//! Public-key encryption (anyone holding the public key), and the
//! expansion of a seeded ciphertext's uniform part (the server does it on
//! load). Decryption and secret-key encryption are client-side: `decrypt`.

use crate::ciphertext::{Ciphertext, Plaintext};
use crate::context::Context;
use crate::error::Result;
use crate::keys::public::PublicKey;
use crate::keys::switching::mod_down;
use crate::ring::sampling::{gaussian, os_seed, seeded_rng, ternary, wipe_rng, UniformStream};
use crate::ring::RnsPoly;
use rayon::prelude::*;
use std::sync::Arc;
use zeroize::Zeroizing;

fn check_fp(ctx: &Context, found: u64) -> Result<()> {
    ctx.check_fingerprint(found)
}

/// Public-key encryption (what a client or anyone with the public key does).
#[derive(Clone, Debug)]
pub struct Encryptor {
    ctx: Arc<Context>,
    pk: PublicKey,
}

impl Encryptor {
    /// Encryptor for a public key made under `ctx`.
    pub fn new(ctx: &Arc<Context>, pk: PublicKey) -> Result<Self> {
        check_fp(ctx, pk.fingerprint)?;
        Ok(Self { ctx: ctx.clone(), pk })
    }

    /// Encrypts `m` at the plaintext's level: `(v·b + e_0, v·a + e_1)` is
    /// formed modulo Q_l·P, divided by P (ModDown), then `m` is added. The
    /// division shrinks the encryption noise `v·e + e_0 + e_1·s` by P, so a
    /// fresh ciphertext carries only rounding noise (~4 bits better).
    pub fn encrypt(&self, pt: &Plaintext) -> Result<Ciphertext> {
        let ctx = &self.ctx;
        check_fp(ctx, pt.fingerprint)?;
        let num_q = pt.poly.num_q;
        let num_p = ctx.num_p();
        let mut rng = seeded_rng(&os_seed(), 0);
        // v, e_0, e_1 would decrypt the message if they leaked: wiped.
        let v: Zeroizing<Vec<i64>> = Zeroizing::new(ternary(&mut rng, ctx.n()).into_iter().map(i64::from).collect());
        let e0 = Zeroizing::new(gaussian(&mut rng, ctx.n()));
        let e1 = Zeroizing::new(gaussian(&mut rng, ctx.n()));
        wipe_rng(&mut rng);
        let v = Zeroizing::new(ctx.poly_from_signed(&v, num_q, num_p));
        let mut c0 = ctx.poly_from_signed(&e0, num_q, num_p);
        let mut c1 = ctx.poly_from_signed(&e1, num_q, num_p);
        // v·b would unmask this ciphertext's message: wiped too.
        let mut vb = Zeroizing::new(restrict(&self.pk.b, num_q));
        let mut va = Zeroizing::new(restrict(&self.pk.a, num_q));
        ctx.mul_assign(&mut vb, &v);
        ctx.mul_assign(&mut va, &v);
        ctx.add_assign(&mut c0, &vb);
        ctx.add_assign(&mut c1, &va);
        let mut c0 = mod_down(ctx, &c0);
        let c1 = mod_down(ctx, &c1);
        ctx.add_assign(&mut c0, &pt.poly);
        Ok(Ciphertext { parts: vec![c0, c1], scale: pt.scale, slots: pt.slots, fingerprint: ctx.fingerprint() })
    }
}

/// The Q_l·P part of a polynomial stored over Q_L·P.
fn restrict(p: &RnsPoly, num_q: usize) -> RnsPoly {
    let n = p.n;
    let mut out = RnsPoly::uninit(n, num_q, p.num_p, p.ntt);
    out.data[..num_q * n].copy_from_slice(&p.data[..num_q * n]);
    out.data[num_q * n..].copy_from_slice(&p.data[p.num_q * n..]);
    out
}

/// Uniform `c_1` of a seeded ciphertext with `num_q` limbs.
pub(crate) fn expand_ciphertext_a(ctx: &Context, seed: &[u8; 32], num_q: usize) -> RnsPoly {
    let n = ctx.n();
    let mut a = RnsPoly::uninit(n, num_q, 0, true);
    a.data.par_chunks_mut(n).enumerate().for_each(|(i, limb)| {
        UniformStream::new(seed, (1u64 << 48) | i as u64, &ctx.moduli()[i]).fill(limb);
    });
    a
}
