//! Versioned binary format for parameters, keys, plaintexts and ciphertexts.
//!
//! Layout: `magic "HECNNCK\0"`, `version: u16`, `kind: u8`, `reserved: u8`,
//! `fingerprint: u64`, `body_len: u64`, body, `blake3(header ‖ body)`.
//! Residues are bit-packed at the width of their modulus; uniform "a" parts
//! are stored as their 32-byte seed. Every load checks the magic, version,
//! kind, checksum, parameter fingerprint, every count against the context
//! and every residue against its modulus, and returns a typed
//! [`FormatError`] — never panics.

use crate::ciphertext::{Ciphertext, Plaintext};
use crate::circuits::bootstrap::BootstrapKeys;
use crate::context::Context;
use crate::error::{CkksError, FormatError, Result};
use crate::keys::public::{GaloisKeys, PublicKey, RelinKey};
use crate::keys::secret::SecretKey;
use crate::keys::switching::SwitchingKey;
use crate::params::{Parameters, SecretDistribution};
use crate::ring::primes::is_prime;
use crate::ring::RnsPoly;
use std::collections::BTreeMap;
use std::sync::Arc;
use zeroize::Zeroizing;

/// File magic.
pub const MAGIC: &[u8; 8] = b"HECNNCK\0";
/// Format version written and read by this build.
pub const VERSION: u16 = 1;
const HEADER_LEN: usize = 8 + 2 + 1 + 1 + 8 + 8;
const CHECKSUM_LEN: usize = 32;

/// What a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// [`Parameters`].
    Parameters = 1,
    /// [`PublicKey`].
    PublicKey = 2,
    /// [`RelinKey`].
    RelinKey = 3,
    /// [`GaloisKeys`].
    GaloisKeys = 4,
    /// [`Plaintext`].
    Plaintext = 5,
    /// [`Ciphertext`].
    Ciphertext = 6,
    /// [`SecretKey`] (client only).
    SecretKey = 7,
    /// [`BootstrapKeys`].
    BootstrapKeys = 8,
}

// ---------------------------------------------------------------- writing

struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn new(kind: Kind, fingerprint: u64) -> Self {
        let mut buf = Vec::with_capacity(1 << 16);
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&VERSION.to_le_bytes());
        buf.push(kind as u8);
        buf.push(0);
        buf.extend_from_slice(&fingerprint.to_le_bytes());
        buf.extend_from_slice(&0u64.to_le_bytes());
        Self { buf }
    }
    fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn f64(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    /// Bit-packs each limb at the width of its modulus.
    fn poly(&mut self, ctx: &Context, p: &RnsPoly) {
        self.u16(p.num_q as u16);
        self.u16(p.num_p as u16);
        self.u8(p.ntt as u8);
        for i in 0..p.num_limbs() {
            let bits = ctx.limb_modulus(p.num_q, i).bits;
            pack_bits(&mut self.buf, p.limb(i), bits);
        }
    }
    fn finish(mut self) -> Vec<u8> {
        let body_len = (self.buf.len() - HEADER_LEN) as u64;
        self.buf[HEADER_LEN - 8..HEADER_LEN].copy_from_slice(&body_len.to_le_bytes());
        let sum = blake3::hash(&self.buf);
        self.buf.extend_from_slice(sum.as_bytes());
        self.buf
    }
}

fn pack_bits(out: &mut Vec<u8>, values: &[u64], bits: u32) {
    let mut acc: u128 = 0;
    let mut filled = 0u32;
    out.reserve(values.len() * bits as usize / 8 + 8);
    for &v in values {
        acc |= (v as u128) << filled;
        filled += bits;
        while filled >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            filled -= 8;
        }
    }
    if filled > 0 {
        out.push(acc as u8);
    }
}

// ---------------------------------------------------------------- reading

struct Reader<'a> {
    body: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    /// Checks the envelope and returns a reader over the body.
    fn open(bytes: &'a [u8], kind: Kind) -> std::result::Result<(Self, u64), FormatError> {
        if bytes.len() < HEADER_LEN {
            return Err(FormatError::Truncated { offset: bytes.len(), needed: HEADER_LEN - bytes.len() });
        }
        if &bytes[..8] != MAGIC {
            return Err(FormatError::BadMagic);
        }
        let version = u16::from_le_bytes([bytes[8], bytes[9]]);
        if version != VERSION {
            return Err(FormatError::UnsupportedVersion { found: version, supported: VERSION });
        }
        if bytes[10] != kind as u8 {
            return Err(FormatError::WrongKind { found: bytes[10], expected: kind as u8 });
        }
        let fingerprint = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
        let body_len = u64::from_le_bytes(bytes[20..28].try_into().expect("8 bytes"));
        let total = (HEADER_LEN as u64).checked_add(body_len).and_then(|x| x.checked_add(CHECKSUM_LEN as u64));
        let total = match total {
            Some(t) if t <= bytes.len() as u64 => t as usize,
            Some(t) => {
                return Err(FormatError::Truncated { offset: bytes.len(), needed: (t - bytes.len() as u64) as usize })
            }
            None => return Err(FormatError::InvalidField { field: "body_len", reason: "overflows".into() }),
        };
        if total < bytes.len() {
            return Err(FormatError::TrailingBytes(bytes.len() - total));
        }
        let content = &bytes[..total - CHECKSUM_LEN];
        if blake3::hash(content).as_bytes() != &bytes[total - CHECKSUM_LEN..total] {
            return Err(FormatError::Checksum);
        }
        Ok((Self { body: &bytes[HEADER_LEN..total - CHECKSUM_LEN], pos: 0, base: HEADER_LEN }, fingerprint))
    }

    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], FormatError> {
        if self.body.len() - self.pos < n {
            return Err(FormatError::Truncated {
                offset: self.base + self.pos,
                needed: n - (self.body.len() - self.pos),
            });
        }
        let s = &self.body[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> std::result::Result<u8, FormatError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> std::result::Result<u16, FormatError> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2 bytes")))
    }
    fn u32(&mut self) -> std::result::Result<u32, FormatError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self) -> std::result::Result<u64, FormatError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    fn f64(&mut self) -> std::result::Result<f64, FormatError> {
        Ok(f64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    fn seed(&mut self) -> std::result::Result<[u8; 32], FormatError> {
        Ok(self.take(32)?.try_into().expect("32 bytes"))
    }
    fn end(&self) -> std::result::Result<(), FormatError> {
        if self.pos != self.body.len() {
            return Err(FormatError::TrailingBytes(self.body.len() - self.pos));
        }
        Ok(())
    }

    /// Reads a polynomial, checking its shape against `expect` and every residue.
    fn poly(&mut self, ctx: &Context, expect: PolyShape) -> std::result::Result<RnsPoly, FormatError> {
        let num_q = self.u16()? as usize;
        let num_p = self.u16()? as usize;
        let ntt = self.u8()?;
        let max_q = ctx.max_level() + 1;
        let ok_q = match expect.num_q {
            Some(q) => num_q == q,
            None => (1..=max_q).contains(&num_q),
        };
        if !ok_q || num_p != expect.num_p || ntt != 1 {
            return Err(FormatError::InvalidField {
                field: "polynomial shape",
                reason: format!("{num_q} q-limbs, {num_p} p-limbs, ntt={ntt}"),
            });
        }
        let n = ctx.n();
        let mut p = RnsPoly::uninit(n, num_q, num_p, true);
        for i in 0..num_q + num_p {
            let m = *ctx.limb_modulus(num_q, i);
            let nbytes = (n * m.bits as usize).div_ceil(8);
            let raw = self.take(nbytes)?;
            unpack_bits(raw, p.limb_mut(i), m.bits);
            if p.limb(i).iter().any(|&x| x >= m.value) {
                return Err(FormatError::InvalidField { field: "residue", reason: format!("≥ modulus in limb {i}") });
            }
        }
        Ok(p)
    }
}

#[derive(Clone, Copy)]
struct PolyShape {
    num_q: Option<usize>,
    num_p: usize,
}

fn unpack_bits(raw: &[u8], out: &mut [u64], bits: u32) {
    let mask = (1u128 << bits) - 1;
    let mut acc: u128 = 0;
    let mut filled = 0u32;
    let mut bytes = raw.iter();
    for o in out.iter_mut() {
        while filled < bits {
            acc |= (*bytes.next().unwrap_or(&0) as u128) << filled;
            filled += 8;
        }
        *o = (acc & mask) as u64;
        acc >>= bits;
        filled -= bits;
    }
}

fn check_fp(ctx: &Context, found: u64) -> std::result::Result<(), FormatError> {
    if found != ctx.fingerprint() {
        return Err(FormatError::ParameterMismatch { expected: ctx.fingerprint(), found });
    }
    Ok(())
}

// ---------------------------------------------------------------- parameters

impl Parameters {
    /// Serializes the parameter set.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new(Kind::Parameters, self.fingerprint());
        let name = self.name.as_bytes();
        w.u16(name.len().min(255) as u16);
        w.bytes(&name[..name.len().min(255)]);
        w.u32(self.log_n);
        for list in [&self.q, &self.p] {
            w.u16(list.len() as u16);
            list.iter().for_each(|&x| w.u64(x));
        }
        w.u16(self.dnum as u16);
        w.u32(self.log_scale);
        match self.secret {
            SecretDistribution::UniformTernary => w.u8(0),
            SecretDistribution::SparseTernary { hamming_weight } => {
                w.u8(1);
                w.u32(hamming_weight as u32);
            }
        }
        w.u8(self.insecure as u8);
        w.finish()
    }

    /// Loads and validates a parameter set. Insecure sets are refused unless
    /// `allow_insecure` (tests only).
    pub fn from_bytes(bytes: &[u8], allow_insecure: bool) -> Result<Self> {
        let (mut r, fp) = Reader::open(bytes, Kind::Parameters)?;
        let name_len = r.u16()? as usize;
        let name = String::from_utf8(r.take(name_len)?.to_vec())
            .map_err(|_| FormatError::InvalidField { field: "name", reason: "not UTF-8".into() })?;
        let log_n = r.u32()?;
        if !(4..=17).contains(&log_n) {
            return Err(FormatError::InvalidField { field: "log_n", reason: format!("{log_n}") }.into());
        }
        let two_n = 2u64 << log_n;
        let mut lists = [Vec::new(), Vec::new()];
        for (li, list) in lists.iter_mut().enumerate() {
            let count = r.u16()? as usize;
            if count == 0 || count > 64 {
                let field = if li == 0 { "q count" } else { "p count" };
                return Err(FormatError::InvalidField { field, reason: format!("{count}") }.into());
            }
            for _ in 0..count {
                let q = r.u64()?;
                if q >= 1 << 61 || q % two_n != 1 || !is_prime(q) || list.contains(&q) {
                    return Err(FormatError::InvalidField { field: "prime", reason: format!("{q}") }.into());
                }
                list.push(q);
            }
        }
        let [q, p] = lists;
        let dnum = r.u16()? as usize;
        if dnum == 0 || dnum > q.len() || q.len().div_ceil(dnum) > 32 {
            return Err(FormatError::InvalidField { field: "dnum", reason: format!("{dnum}") }.into());
        }
        let log_scale = r.u32()?;
        if !(10..=60).contains(&log_scale) {
            return Err(FormatError::InvalidField { field: "log_scale", reason: format!("{log_scale}") }.into());
        }
        let secret = match r.u8()? {
            0 => SecretDistribution::UniformTernary,
            1 => {
                let h = r.u32()? as usize;
                if h == 0 || h > 1 << log_n {
                    return Err(FormatError::InvalidField { field: "hamming weight", reason: format!("{h}") }.into());
                }
                SecretDistribution::SparseTernary { hamming_weight: h }
            }
            t => {
                return Err(
                    FormatError::InvalidField { field: "secret distribution", reason: format!("tag {t}") }.into()
                )
            }
        };
        let insecure = match r.u8()? {
            0 => false,
            1 => true,
            t => return Err(FormatError::InvalidField { field: "insecure flag", reason: format!("{t}") }.into()),
        };
        r.end()?;
        let params = Parameters { name, log_n, q, p, dnum, log_scale, secret, insecure };
        if params.fingerprint() != fp {
            return Err(FormatError::ParameterMismatch { expected: params.fingerprint(), found: fp }.into());
        }
        let digit_bits = params
            .q
            .chunks(params.digit_size())
            .map(|c| c.iter().map(|&x| (x as f64).log2()).sum::<f64>())
            .fold(0.0, f64::max);
        let p_bits: f64 = params.p.iter().map(|&x| (x as f64).log2()).sum();
        if p_bits + 2.5 < digit_bits {
            return Err(
                FormatError::InvalidField { field: "special primes", reason: "P smaller than a digit".into() }.into()
            );
        }
        if (insecure || params.check_security().is_err()) && !allow_insecure {
            return Err(FormatError::InsecureRefused.into());
        }
        Ok(params)
    }
}

// ---------------------------------------------------------------- objects

impl Ciphertext {
    /// Serializes; a fresh secret-key ciphertext stores its `c_1` as a seed.
    pub fn to_bytes(&self, ctx: &Context) -> Vec<u8> {
        let mut w = Writer::new(Kind::Ciphertext, self.fingerprint);
        w.f64(self.scale);
        w.u32(self.slots as u32);
        w.u8(self.parts.len() as u8);
        match &self.c1_seed {
            Some(seed) => {
                w.u8(1);
                w.bytes(seed);
                w.poly(ctx, &self.parts[0]);
            }
            None => {
                w.u8(0);
                self.parts.iter().for_each(|p| w.poly(ctx, p));
            }
        }
        w.finish()
    }

    /// Loads and validates a ciphertext for `ctx`.
    pub fn from_bytes(ctx: &Arc<Context>, bytes: &[u8]) -> Result<Self> {
        let (mut r, fp) = Reader::open(bytes, Kind::Ciphertext)?;
        check_fp(ctx, fp)?;
        let (scale, slots) = read_scale_slots(&mut r, ctx)?;
        let nparts = r.u8()? as usize;
        if !(2..=3).contains(&nparts) {
            return Err(FormatError::InvalidField { field: "parts", reason: format!("{nparts}") }.into());
        }
        let seeded = r.u8()?;
        let (parts, c1_seed) = match seeded {
            1 if nparts == 2 => {
                let seed = r.seed()?;
                let c0 = r.poly(ctx, PolyShape { num_q: None, num_p: 0 })?;
                let c1 = crate::encrypt::expand_ciphertext_a(ctx, &seed, c0.num_q);
                (vec![c0, c1], Some(seed))
            }
            0 => {
                let c0 = r.poly(ctx, PolyShape { num_q: None, num_p: 0 })?;
                let shape = PolyShape { num_q: Some(c0.num_q), num_p: 0 };
                let mut parts = vec![c0];
                for _ in 1..nparts {
                    parts.push(r.poly(ctx, shape)?);
                }
                (parts, None)
            }
            t => return Err(FormatError::InvalidField { field: "seed flag", reason: format!("{t}") }.into()),
        };
        r.end()?;
        check_scale_level(ctx, scale, parts[0].num_q - 1)?;
        Ok(Ciphertext { parts, c1_seed, scale, slots, fingerprint: fp })
    }
}

fn read_scale_slots(r: &mut Reader<'_>, ctx: &Context) -> Result<(f64, usize)> {
    let scale = r.f64()?;
    let slots = r.u32()? as usize;
    if !slots.is_power_of_two() || slots > ctx.n() / 2 {
        return Err(FormatError::InvalidField { field: "slots", reason: format!("{slots}") }.into());
    }
    Ok((scale, slots))
}

fn check_scale_level(ctx: &Context, scale: f64, level: usize) -> Result<()> {
    crate::encoding::check_scale(scale, level, ctx)
        .map_err(|e| CkksError::Format(FormatError::InvalidField { field: "scale", reason: e.to_string() }))
}

impl Plaintext {
    /// Serializes the plaintext.
    pub fn to_bytes(&self, ctx: &Context) -> Vec<u8> {
        let mut w = Writer::new(Kind::Plaintext, self.fingerprint);
        w.f64(self.scale);
        w.u32(self.slots as u32);
        w.poly(ctx, &self.poly);
        w.finish()
    }

    /// Loads and validates a plaintext for `ctx`.
    pub fn from_bytes(ctx: &Arc<Context>, bytes: &[u8]) -> Result<Self> {
        let (mut r, fp) = Reader::open(bytes, Kind::Plaintext)?;
        check_fp(ctx, fp)?;
        let (scale, slots) = read_scale_slots(&mut r, ctx)?;
        let poly = r.poly(ctx, PolyShape { num_q: None, num_p: 0 })?;
        r.end()?;
        check_scale_level(ctx, scale, poly.num_q - 1)?;
        Ok(Plaintext { poly, scale, slots, fingerprint: fp })
    }
}

impl PublicKey {
    /// Serializes `b` and the seed of `a`.
    pub fn to_bytes(&self, ctx: &Context) -> Vec<u8> {
        let mut w = Writer::new(Kind::PublicKey, self.fingerprint);
        w.bytes(&self.seed);
        w.poly(ctx, &self.b);
        w.finish()
    }

    /// Loads a public key, re-expanding `a` from its seed.
    pub fn from_bytes(ctx: &Arc<Context>, bytes: &[u8]) -> Result<Self> {
        let (mut r, fp) = Reader::open(bytes, Kind::PublicKey)?;
        check_fp(ctx, fp)?;
        let seed = r.seed()?;
        let b = r.poly(ctx, PolyShape { num_q: Some(ctx.max_level() + 1), num_p: ctx.num_p() })?;
        r.end()?;
        Ok(PublicKey { a: PublicKey::expand_a(ctx, &seed), b, seed, fingerprint: fp })
    }
}

fn write_switching_key(w: &mut Writer, ctx: &Context, k: &SwitchingKey) {
    w.bytes(&k.seed);
    w.u16(k.b.len() as u16);
    k.b.iter().for_each(|p| w.poly(ctx, p));
}

fn read_switching_key(r: &mut Reader<'_>, ctx: &Context) -> Result<SwitchingKey> {
    let seed = r.seed()?;
    let dnum = r.u16()? as usize;
    if dnum != ctx.params().dnum {
        return Err(FormatError::InvalidField { field: "dnum", reason: format!("{dnum}") }.into());
    }
    let shape = PolyShape { num_q: Some(ctx.max_level() + 1), num_p: ctx.num_p() };
    let b = (0..dnum).map(|_| r.poly(ctx, shape)).collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(SwitchingKey { a: SwitchingKey::expand_a(ctx, &seed), b, seed })
}

impl RelinKey {
    /// Serializes the key (`b` parts and one seed).
    pub fn to_bytes(&self, ctx: &Context) -> Vec<u8> {
        let mut w = Writer::new(Kind::RelinKey, self.fingerprint);
        write_switching_key(&mut w, ctx, &self.key);
        w.finish()
    }

    /// Loads a relinearization key.
    pub fn from_bytes(ctx: &Arc<Context>, bytes: &[u8]) -> Result<Self> {
        let (mut r, fp) = Reader::open(bytes, Kind::RelinKey)?;
        check_fp(ctx, fp)?;
        let key = read_switching_key(&mut r, ctx)?;
        r.end()?;
        Ok(RelinKey { key, fingerprint: fp })
    }
}

impl GaloisKeys {
    /// Serializes every key with its Galois element.
    pub fn to_bytes(&self, ctx: &Context) -> Vec<u8> {
        let mut w = Writer::new(Kind::GaloisKeys, ctx.fingerprint());
        w.u32(self.keys.len() as u32);
        for (&g, k) in &self.keys {
            w.u64(g);
            write_switching_key(&mut w, ctx, k);
        }
        w.finish()
    }

    /// Loads Galois keys.
    pub fn from_bytes(ctx: &Arc<Context>, bytes: &[u8]) -> Result<Self> {
        let (mut r, fp) = Reader::open(bytes, Kind::GaloisKeys)?;
        check_fp(ctx, fp)?;
        let count = r.u32()? as usize;
        if count > ctx.n() {
            return Err(FormatError::InvalidField { field: "key count", reason: format!("{count}") }.into());
        }
        let two_n = 2 * ctx.n() as u64;
        let mut keys = BTreeMap::new();
        for _ in 0..count {
            let g = r.u64()?;
            if g % 2 == 0 || g >= two_n || g == 1 || keys.contains_key(&g) {
                return Err(FormatError::InvalidField { field: "galois element", reason: format!("{g}") }.into());
            }
            keys.insert(g, read_switching_key(&mut r, ctx)?);
        }
        r.end()?;
        Ok(GaloisKeys { keys, fingerprint: fp })
    }
}

impl BootstrapKeys {
    /// Serializes the slot counts, the dense→sparse key (its q_0 and P limbs
    /// only: the rest is zero by construction), the sparse→dense key and the
    /// Galois keys; every `a` part is a 32-byte seed.
    pub fn to_bytes(&self, ctx: &Context) -> Vec<u8> {
        let mut w = Writer::new(Kind::BootstrapKeys, self.fingerprint);
        w.u32(self.slots.len() as u32);
        self.slots.iter().for_each(|&s| w.u32(s as u32));
        w.bytes(&self.to_sparse.seed);
        w.poly(ctx, &low_limbs(ctx, &self.to_sparse.b[0]));
        write_switching_key(&mut w, ctx, &self.to_dense);
        let galois = self.galois.to_bytes(ctx);
        w.u64(galois.len() as u64);
        w.bytes(&galois);
        w.finish()
    }

    /// Loads bootstrapping keys.
    pub fn from_bytes(ctx: &Arc<Context>, bytes: &[u8]) -> Result<Self> {
        let (mut r, fp) = Reader::open(bytes, Kind::BootstrapKeys)?;
        check_fp(ctx, fp)?;
        let count = r.u32()? as usize;
        if count > 32 {
            return Err(FormatError::InvalidField { field: "slot count", reason: format!("{count}") }.into());
        }
        let mut slots = Vec::with_capacity(count);
        for _ in 0..count {
            let s = r.u32()? as usize;
            if !s.is_power_of_two() || s > ctx.n() / 2 {
                return Err(FormatError::InvalidField { field: "slots", reason: format!("{s}") }.into());
            }
            slots.push(s);
        }
        let seed = r.seed()?;
        let low = r.poly(ctx, PolyShape { num_q: Some(1), num_p: ctx.num_p() })?;
        let n = ctx.n();
        let num_q = ctx.max_level() + 1;
        let mut b = vec![RnsPoly::zero(n, num_q, ctx.num_p(), true); ctx.params().dnum];
        b[0].data[..n].copy_from_slice(low.limb(0));
        b[0].data[num_q * n..].copy_from_slice(&low.data[n..]);
        let to_sparse = SwitchingKey { a: SwitchingKey::expand_a(ctx, &seed), b, seed };
        let to_dense = read_switching_key(&mut r, ctx)?;
        let len = r.u64()?;
        let galois = GaloisKeys::from_bytes(ctx, r.take(usize::try_from(len).unwrap_or(usize::MAX))?)?;
        r.end()?;
        Ok(BootstrapKeys { to_sparse, to_dense, galois, slots, fingerprint: fp })
    }
}

impl BootstrapKeys {
    /// Length of [`BootstrapKeys::to_bytes`], computed without serializing.
    pub fn size_bytes(&self, ctx: &Context) -> usize {
        let n = ctx.n();
        let limb = |q: u64| (n * (64 - q.leading_zeros() as usize)).div_ceil(8);
        let p: usize = ctx.params().p.iter().map(|&q| limb(q)).sum();
        let q: usize = ctx.params().q.iter().map(|&q| limb(q)).sum();
        let poly_full = 5 + q + p;
        let switching = 32 + 2 + ctx.params().dnum * poly_full;
        let envelope = HEADER_LEN + CHECKSUM_LEN;
        let galois = envelope + 4 + self.galois.keys.len() * (8 + switching);
        let low = 5 + limb(ctx.params().q[0]) + p;
        envelope + 4 + 4 * self.slots.len() + 32 + low + switching + 8 + galois
    }
}

/// Limb q_0 and the special limbs of a key polynomial.
fn low_limbs(ctx: &Context, p: &RnsPoly) -> RnsPoly {
    let n = ctx.n();
    let mut out = RnsPoly::uninit(n, 1, p.num_p, true);
    out.data[..n].copy_from_slice(p.limb(0));
    out.data[n..].copy_from_slice(&p.data[p.num_q * n..]);
    out
}

impl SecretKey {
    /// The secret key's bytes (2 bits per coefficient). Handle as a secret:
    /// write only to client-side storage with restrictive permissions.
    pub fn to_secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::new(Kind::SecretKey, self.ctx.fingerprint());
        let codes: Zeroizing<Vec<u64>> = Zeroizing::new(self.coeffs.iter().map(|&c| (c + 1) as u64).collect());
        pack_bits(&mut w.buf, &codes, 2);
        Zeroizing::new(w.finish())
    }

    /// Loads a secret key for `ctx`.
    pub fn from_secret_bytes(ctx: &Arc<Context>, bytes: &[u8]) -> Result<Self> {
        let (mut r, fp) = Reader::open(bytes, Kind::SecretKey)?;
        check_fp(ctx, fp)?;
        let raw = r.take(ctx.n().div_ceil(4))?;
        r.end()?;
        let mut codes = Zeroizing::new(vec![0u64; ctx.n()]);
        unpack_bits(raw, &mut codes, 2);
        if codes.iter().any(|&c| c > 2) {
            return Err(FormatError::InvalidField { field: "secret coefficient", reason: "not ternary".into() }.into());
        }
        let coeffs: Vec<i8> = codes.iter().map(|&c| c as i8 - 1).collect();
        Ok(SecretKey::from_coeffs(ctx, coeffs))
    }
}
