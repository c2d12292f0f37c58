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
use crate::circuits::bootstrap::{encapsulation_context, BootstrapKeys};
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
pub const VERSION: u16 = 2;
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

/// Bytes gathered before they go to the sink (and its hashers) at once.
const FLUSH_AT: usize = 1 << 20;

/// What an object writes inside its envelope.
type Body<'b> = &'b dyn Fn(&mut Writer<'_>);

/// Serializes into a byte sink, or only counts: the header holds the body
/// length, so every envelope first runs its body through a counter (which
/// sizes polynomials from their shapes without packing a bit), then streams
/// it. Envelopes nest; each open one hashes what passes through it. A
/// multi-GB key set thus goes to its file in one pass with ~2 MiB buffered.
struct Writer<'s> {
    /// `None`: count only.
    sink: Option<&'s mut dyn std::io::Write>,
    /// Zeroized on drop: the secret key passes through it.
    scratch: Zeroizing<Vec<u8>>,
    /// One hasher per open envelope, innermost last.
    hashers: Vec<blake3::Hasher>,
    /// Bytes emitted so far.
    len: u64,
    /// The sink's first error; later writes are skipped.
    error: Option<std::io::Error>,
}

impl<'s> Writer<'s> {
    fn counter() -> Writer<'static> {
        Writer { sink: None, scratch: Zeroizing::new(Vec::new()), hashers: Vec::new(), len: 0, error: None }
    }

    fn streaming(sink: &'s mut dyn std::io::Write) -> Self {
        // Room for one flush's worth plus the largest packed limb, so the
        // buffer never reallocates (no unzeroized copies left behind).
        let scratch = Zeroizing::new(Vec::with_capacity(2 * FLUSH_AT));
        Writer { sink: Some(sink), scratch, hashers: Vec::new(), len: 0, error: None }
    }

    fn put(&mut self, b: &[u8]) {
        self.len += b.len() as u64;
        if self.sink.is_some() {
            self.scratch.extend_from_slice(b);
            if self.scratch.len() >= FLUSH_AT {
                self.flush();
            }
        }
    }

    fn flush(&mut self) {
        if let Some(sink) = self.sink.as_mut() {
            for h in &mut self.hashers {
                h.update(&self.scratch);
            }
            if self.error.is_none() {
                self.error = sink.write_all(&self.scratch).err();
            }
        }
        self.scratch.clear();
    }

    fn u8(&mut self, v: u8) {
        self.put(&[v]);
    }
    fn u16(&mut self, v: u16) {
        self.put(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.put(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.put(&v.to_le_bytes());
    }
    fn f64(&mut self, v: f64) {
        self.put(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.put(b);
    }

    /// `values` bit-packed at `bits` each.
    fn packed(&mut self, values: &[u64], bits: u32) {
        let nbytes = (values.len() * bits as usize).div_ceil(8);
        self.len += nbytes as u64;
        if self.sink.is_some() {
            pack_bits(&mut self.scratch, values, bits);
            if self.scratch.len() >= FLUSH_AT {
                self.flush();
            }
        }
    }

    /// Bit-packs each limb at the width of its modulus.
    fn poly(&mut self, ctx: &Context, p: &RnsPoly) {
        self.u16(p.num_q as u16);
        self.u16(p.num_p as u16);
        self.u8(p.ntt as u8);
        for i in 0..p.num_limbs() {
            self.packed(p.limb(i), ctx.limb_modulus(p.num_q, i).bits);
        }
    }

    /// `header ‖ body ‖ blake3(header ‖ body)`.
    fn envelope(&mut self, kind: Kind, fingerprint: u64, body: Body<'_>) {
        if self.sink.is_none() {
            self.len += (HEADER_LEN + CHECKSUM_LEN) as u64;
            body(self);
            return;
        }
        let body_len = {
            let mut c = Writer::counter();
            body(&mut c);
            c.len
        };
        self.flush();
        self.hashers.push(blake3::Hasher::new());
        self.put(MAGIC);
        self.u16(VERSION);
        self.put(&[kind as u8, 0]);
        self.u64(fingerprint);
        self.u64(body_len);
        let start = self.len;
        body(self);
        if self.len - start != body_len && self.error.is_none() {
            self.error = Some(std::io::Error::other("serialized body length differs from its count"));
        }
        self.flush();
        let sum = self.hashers.pop().expect("pushed above").finalize();
        self.put(sum.as_bytes());
    }

    fn finish(mut self) -> std::io::Result<u64> {
        self.flush();
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(self.len),
        }
    }
}

/// Length of one serialized object, without serializing it.
fn serialized_len(kind: Kind, fingerprint: u64, body: Body<'_>) -> u64 {
    let mut c = Writer::counter();
    c.envelope(kind, fingerprint, body);
    c.len
}

/// One object streamed to `out`; returns the bytes written.
fn write_object(out: &mut dyn std::io::Write, kind: Kind, fingerprint: u64, body: Body<'_>) -> std::io::Result<u64> {
    let mut w = Writer::streaming(out);
    w.envelope(kind, fingerprint, body);
    w.finish()
}

/// One object in memory, allocated once at its exact length.
fn to_vec(kind: Kind, fingerprint: u64, body: Body<'_>) -> Vec<u8> {
    let len = serialized_len(kind, fingerprint, body);
    let mut out = Vec::with_capacity(usize::try_from(len).expect("object fits in memory"));
    write_object(&mut out, kind, fingerprint, body).expect("writing to memory cannot fail");
    out
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
        to_vec(Kind::Parameters, self.fingerprint(), &|w| self.write_body(w))
    }

    fn write_body(&self, w: &mut Writer<'_>) {
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
        to_vec(Kind::Ciphertext, self.fingerprint, &|w| self.write_body(ctx, w))
    }

    /// Length of [`Ciphertext::to_bytes`], computed without serializing.
    pub fn serialized_len(&self, ctx: &Context) -> u64 {
        serialized_len(Kind::Ciphertext, self.fingerprint, &|w| self.write_body(ctx, w))
    }

    fn write_body(&self, ctx: &Context, w: &mut Writer<'_>) {
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
        to_vec(Kind::Plaintext, self.fingerprint, &|w| {
            w.f64(self.scale);
            w.u32(self.slots as u32);
            w.poly(ctx, &self.poly);
        })
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
        to_vec(Kind::PublicKey, self.fingerprint, &|w| {
            w.bytes(&self.seed);
            w.poly(ctx, &self.b);
        })
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

fn write_switching_key(w: &mut Writer<'_>, ctx: &Context, k: &SwitchingKey) {
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
        to_vec(Kind::RelinKey, self.fingerprint, &|w| write_switching_key(w, ctx, &self.key))
    }

    /// Length of [`RelinKey::to_bytes`], computed without serializing.
    pub fn serialized_len(&self, ctx: &Context) -> u64 {
        serialized_len(Kind::RelinKey, self.fingerprint, &|w| write_switching_key(w, ctx, &self.key))
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
        to_vec(Kind::GaloisKeys, ctx.fingerprint(), &|w| self.write_body(ctx, w))
    }

    /// Streams [`GaloisKeys::to_bytes`] to `out` (a few MiB buffered, not the
    /// whole key set); returns the bytes written.
    pub fn write_to(&self, ctx: &Context, out: &mut dyn std::io::Write) -> std::io::Result<u64> {
        write_object(out, Kind::GaloisKeys, ctx.fingerprint(), &|w| self.write_body(ctx, w))
    }

    /// Length of [`GaloisKeys::to_bytes`], computed without serializing.
    pub fn serialized_len(&self, ctx: &Context) -> u64 {
        serialized_len(Kind::GaloisKeys, ctx.fingerprint(), &|w| self.write_body(ctx, w))
    }

    fn write_body(&self, ctx: &Context, w: &mut Writer<'_>) {
        w.u32(self.keys.len() as u32);
        for (&g, k) in &self.keys {
            w.u64(g);
            write_switching_key(w, ctx, k);
        }
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
    /// Serializes the slot counts, the dense→sparse key (in its two-prime
    /// ring q_0·p_0), the sparse→dense key and the Galois keys; every `a`
    /// part is a 32-byte seed.
    pub fn to_bytes(&self, ctx: &Context) -> Vec<u8> {
        to_vec(Kind::BootstrapKeys, self.fingerprint, &|w| self.write_body(ctx, w))
    }

    /// Streams [`BootstrapKeys::to_bytes`] to `out` with a few MiB buffered
    /// (the keys are ≈ 3.6 GB at N=2^16); returns the bytes written.
    pub fn write_to(&self, ctx: &Context, out: &mut dyn std::io::Write) -> std::io::Result<u64> {
        write_object(out, Kind::BootstrapKeys, self.fingerprint, &|w| self.write_body(ctx, w))
    }

    /// Length of [`BootstrapKeys::to_bytes`], computed without serializing.
    pub fn serialized_len(&self, ctx: &Context) -> u64 {
        serialized_len(Kind::BootstrapKeys, self.fingerprint, &|w| self.write_body(ctx, w))
    }

    fn write_body(&self, ctx: &Context, w: &mut Writer<'_>) {
        w.u32(self.slots.len() as u32);
        self.slots.iter().for_each(|&s| w.u32(s as u32));
        write_switching_key(w, &self.encapsulation, &self.to_sparse);
        write_switching_key(w, ctx, &self.to_dense);
        w.u64(self.galois.serialized_len(ctx));
        w.envelope(Kind::GaloisKeys, ctx.fingerprint(), &|w| self.galois.write_body(ctx, w));
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
        let encapsulation = encapsulation_context(ctx)?;
        let to_sparse = read_switching_key(&mut r, &encapsulation)?;
        let to_dense = read_switching_key(&mut r, ctx)?;
        let len = r.u64()?;
        let galois = GaloisKeys::from_bytes(ctx, r.take(usize::try_from(len).unwrap_or(usize::MAX))?)?;
        r.end()?;
        Ok(BootstrapKeys { to_sparse, encapsulation, to_dense, galois, slots, fingerprint: fp })
    }
}

impl SecretKey {
    /// The secret key's bytes (2 bits per coefficient). Handle as a secret:
    /// write only to client-side storage with restrictive permissions.
    pub fn to_secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        let codes: Zeroizing<Vec<u64>> = Zeroizing::new(self.coeffs.iter().map(|&c| (c + 1) as u64).collect());
        Zeroizing::new(to_vec(Kind::SecretKey, self.ctx.fingerprint(), &|w| w.packed(&codes, 2)))
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
