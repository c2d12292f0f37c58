//! Versioned binary format for parameters, keys, plaintexts and ciphertexts.
//!
//! Layout: `magic "HECNNCK\0"`, `version: u16`, `kind: u8`, `reserved: u8`,
//! `fingerprint: u64`, `key_set: [u8; 16]`, `label_len: u8`, `label`,
//! `body_len: u64`, body, `blake3(header ‖ body)`. The key set and the label
//! (the file's role and index, e.g. `upload/x/0/3`) sit inside the
//! checksummed header, so a file of another key set or another role is
//! refused by name instead of decrypting to noise — or, worse, to data.
//! Residues are bit-packed at the width of their modulus; uniform "a" parts
//! are stored as their 32-byte seed. A switching key records the level it
//! was cut to and its digit count (version 4; earlier versions stored every
//! key over all of Q·P and are refused). Every load checks the magic, version,
//! kind, checksum, parameter fingerprint, every count against the context
//! and every residue against its modulus, and returns a typed
//! [`FormatError`] — never panics.

use crate::ciphertext::{Ciphertext, Plaintext, SeededCiphertext};
use crate::circuits::bootstrap::{encapsulation_context, BootstrapConfig, BootstrapKeys};
use crate::context::Context;
use crate::error::{CkksError, FormatError, Result};
use crate::keys::public::{GaloisKeys, PublicKey, RelinKey};
#[cfg(feature = "client")]
use crate::keys::secret::SecretKey;
use crate::keys::switching::{digits_at, SwitchingKey};
use crate::keys::KeySetId;
use crate::params::{Parameters, SecretDistribution, MAX_CONVERSION_TERMS, MAX_PRIME, MAX_Q_PRIMES};
use crate::ring::RnsPoly;
use std::collections::BTreeMap;
use std::sync::Arc;
use zeroize::Zeroizing;

/// File magic.
pub const MAGIC: &[u8; 8] = b"HECNNCK\0";
/// Format version written and read by this build. 5: `bootstrappable`'s
/// key-switching digits are filled from the top (a version-4 key of that
/// preset has the same shape and would be read with the wrong digits).
pub const VERSION: u16 = 5;
/// Header bytes before the label.
const FIXED_HEADER_LEN: usize = 8 + 2 + 1 + 1 + 8 + 16 + 1;
/// Header bytes with an empty label (the smallest header).
const HEADER_LEN: usize = FIXED_HEADER_LEN + 8;
const CHECKSUM_LEN: usize = 32;
/// Longest label.
pub const MAX_LABEL_LEN: usize = 64;

/// What a file belongs to: its key set and its role/index label. Written in
/// the checksummed header; readers compare it with what they expect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    key_set: KeySetId,
    label: String,
}

impl Binding {
    /// A binding; the label is 1 to [`MAX_LABEL_LEN`] printable ASCII bytes.
    pub fn new(key_set: KeySetId, label: impl Into<String>) -> Result<Self> {
        let label = label.into();
        if label.is_empty() || label.len() > MAX_LABEL_LEN || !label.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(FormatError::InvalidField { field: "label", reason: format!("{label:?}") }.into());
        }
        Ok(Self { key_set, label })
    }

    /// Fixed label of a key kind (keys carry their own key set).
    fn fixed(key_set: KeySetId, label: &'static str) -> Self {
        Self { key_set, label: label.to_string() }
    }

    /// The key set.
    pub fn key_set(&self) -> KeySetId {
        self.key_set
    }

    /// The label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Fails unless `found` is this binding.
    fn check(&self, found: &Binding) -> std::result::Result<(), FormatError> {
        if found.key_set != self.key_set {
            return Err(FormatError::KeySetMismatch { expected: self.key_set, found: found.key_set });
        }
        if found.label != self.label {
            return Err(FormatError::LabelMismatch { expected: self.label.clone(), found: found.label.clone() });
        }
        Ok(())
    }
}

const PARAMS_LABEL: &str = "params";
const PUBLIC_KEY_LABEL: &str = "public-key";
const RELIN_KEY_LABEL: &str = "relin-key";
const GALOIS_KEYS_LABEL: &str = "galois-keys";
const BOOTSTRAP_KEYS_LABEL: &str = "bootstrap-keys";
const BOOTSTRAP_GALOIS_LABEL: &str = "bootstrap-keys/galois";
#[cfg(feature = "client")]
const SECRET_KEY_LABEL: &str = "secret-key";

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
    /// [`SeededCiphertext`].
    SeededCiphertext = 9,
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
    fn envelope(&mut self, kind: Kind, fingerprint: u64, binding: &Binding, body: Body<'_>) {
        if self.sink.is_none() {
            self.len += (HEADER_LEN + binding.label.len() + CHECKSUM_LEN) as u64;
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
        self.put(&binding.key_set.0);
        self.u8(binding.label.len() as u8);
        self.put(binding.label.as_bytes());
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
fn serialized_len(kind: Kind, fingerprint: u64, binding: &Binding, body: Body<'_>) -> u64 {
    let mut c = Writer::counter();
    c.envelope(kind, fingerprint, binding, body);
    c.len
}

/// One object streamed to `out`; returns the bytes written.
fn write_object(
    out: &mut dyn std::io::Write,
    kind: Kind,
    fingerprint: u64,
    binding: &Binding,
    body: Body<'_>,
) -> std::io::Result<u64> {
    let mut w = Writer::streaming(out);
    w.envelope(kind, fingerprint, binding, body);
    w.finish()
}

/// One object in memory, allocated once at its exact length.
fn to_vec(kind: Kind, fingerprint: u64, binding: &Binding, body: Body<'_>) -> Vec<u8> {
    let len = serialized_len(kind, fingerprint, binding, body);
    let mut out = Vec::with_capacity(usize::try_from(len).expect("object fits in memory"));
    write_object(&mut out, kind, fingerprint, binding, body).expect("writing to memory cannot fail");
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

/// What an envelope's header says about its object.
struct Header {
    fingerprint: u64,
    binding: Binding,
}

/// Parses and checks an envelope's header from the first bytes of an object
/// (at most [`MAX_HEADER_LEN`] are needed) and returns it with the header's
/// length and the body length it claims.
fn parse_header(bytes: &[u8], kind: Kind) -> std::result::Result<(Header, usize, u64), FormatError> {
    if bytes.len() >= MAGIC.len() && &bytes[..MAGIC.len()] != MAGIC {
        return Err(FormatError::BadMagic);
    }
    if bytes.len() < HEADER_LEN {
        return Err(FormatError::Truncated { offset: bytes.len(), needed: HEADER_LEN - bytes.len() });
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version != VERSION {
        return Err(FormatError::UnsupportedVersion { found: version, supported: VERSION });
    }
    if bytes[10] != kind as u8 {
        return Err(FormatError::WrongKind { found: bytes[10], expected: kind as u8 });
    }
    if bytes[11] != 0 {
        return Err(FormatError::InvalidField { field: "reserved", reason: format!("{}", bytes[11]) });
    }
    let fingerprint = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
    let key_set = KeySetId(bytes[20..36].try_into().expect("16 bytes"));
    let label_len = bytes[36] as usize;
    if label_len == 0 || label_len > MAX_LABEL_LEN {
        return Err(FormatError::InvalidField { field: "label length", reason: format!("{label_len}") });
    }
    let header_len = HEADER_LEN + label_len;
    if bytes.len() < header_len {
        return Err(FormatError::Truncated { offset: bytes.len(), needed: header_len - bytes.len() });
    }
    let label = &bytes[FIXED_HEADER_LEN..FIXED_HEADER_LEN + label_len];
    if !label.iter().all(u8::is_ascii_graphic) {
        return Err(FormatError::InvalidField { field: "label", reason: "not printable ASCII".into() });
    }
    let label = String::from_utf8_lossy(label).into_owned();
    let body_len = u64::from_le_bytes(bytes[header_len - 8..header_len].try_into().expect("8 bytes"));
    Ok((Header { fingerprint, binding: Binding { key_set, label } }, header_len, body_len))
}

/// The length an object with this header must have; an error if the
/// claimed body does not fit `available` bytes exactly.
fn envelope_len(header_len: usize, body_len: u64, available: u64) -> std::result::Result<u64, FormatError> {
    let total = (header_len as u64).checked_add(body_len).and_then(|x| x.checked_add(CHECKSUM_LEN as u64));
    match total {
        Some(t) if t == available => Ok(t),
        Some(t) if t < available => {
            Err(FormatError::TrailingBytes(usize::try_from(available - t).unwrap_or(usize::MAX)))
        }
        Some(t) => Err(FormatError::Truncated {
            offset: usize::try_from(available).unwrap_or(usize::MAX),
            needed: usize::try_from(t - available).unwrap_or(usize::MAX),
        }),
        None => Err(FormatError::InvalidField { field: "body_len", reason: "overflows".into() }),
    }
}

/// Most bytes [`check_prefix`] looks at: the longest header.
pub const MAX_HEADER_LEN: usize = HEADER_LEN + MAX_LABEL_LEN;

/// Checks the header of a `kind` object from the first bytes of a file of
/// `file_len` bytes — magic, version, kind, label, and that the body it
/// claims fills the file exactly — so a reader refuses a file that is not
/// such an object (say a 2 GiB run of zeros) after [`MAX_HEADER_LEN`]
/// bytes instead of after reading all of it. The checksum, the key set and
/// the body are checked by the full parse.
pub fn check_prefix(prefix: &[u8], kind: Kind, file_len: u64) -> Result<()> {
    let (_, header_len, body_len) = parse_header(prefix, kind)?;
    envelope_len(header_len, body_len, file_len)?;
    Ok(())
}

impl<'a> Reader<'a> {
    /// Checks the envelope and returns a reader over the body.
    fn open(bytes: &'a [u8], kind: Kind) -> std::result::Result<(Self, Header), FormatError> {
        let (header, header_len, body_len) = parse_header(bytes, kind)?;
        let total = envelope_len(header_len, body_len, bytes.len() as u64)? as usize;
        let content = &bytes[..total - CHECKSUM_LEN];
        if blake3::hash(content).as_bytes() != &bytes[total - CHECKSUM_LEN..total] {
            return Err(FormatError::Checksum);
        }
        let reader = Self { body: &bytes[header_len..total - CHECKSUM_LEN], pos: 0, base: header_len };
        Ok((reader, header))
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

/// Opens a key's envelope: kind, parameters and the kind's fixed label;
/// returns the reader and the key set the key belongs to.
fn open_key<'a>(
    ctx: &Context,
    bytes: &'a [u8],
    kind: Kind,
    label: &'static str,
) -> std::result::Result<(Reader<'a>, KeySetId), FormatError> {
    let (r, h) = Reader::open(bytes, kind)?;
    check_fp(ctx, h.fingerprint)?;
    Binding::fixed(h.binding.key_set, label).check(&h.binding)?;
    Ok((r, h.binding.key_set))
}

// ---------------------------------------------------------------- parameters

impl Parameters {
    /// Serializes the parameter set (not bound to a key set: key sets may
    /// share parameters; every key and ciphertext names them by fingerprint).
    pub fn to_bytes(&self) -> Vec<u8> {
        to_vec(Kind::Parameters, self.fingerprint(), &Binding::fixed(KeySetId::NONE, PARAMS_LABEL), &|w| {
            self.write_body(w)
        })
    }

    fn write_body(&self, w: &mut Writer<'_>) {
        let name = self.name().as_bytes();
        w.u16(name.len().min(255) as u16);
        w.bytes(&name[..name.len().min(255)]);
        w.u32(self.log_n());
        for list in [self.q(), self.p()] {
            w.u16(list.len() as u16);
            list.iter().for_each(|&x| w.u64(x));
        }
        w.u16(self.dnum() as u16);
        w.u32(self.log_scale());
        match self.secret() {
            SecretDistribution::UniformTernary => w.u8(0),
            SecretDistribution::SparseTernary { hamming_weight } => {
                w.u8(1);
                w.u32(hamming_weight as u32);
            }
        }
        w.u8(self.is_insecure() as u8);
    }

    /// Loads a parameter set. Without `allow_insecure` only this build's
    /// presets and inference chains are accepted — a server runs parameter sets it would have
    /// generated itself, nothing crafted — and with it any set that passes
    /// [`Parameters::validate`] (tests).
    pub fn from_bytes(bytes: &[u8], allow_insecure: bool) -> Result<Self> {
        let (mut r, h) = Reader::open(bytes, Kind::Parameters)?;
        Binding::fixed(KeySetId::NONE, PARAMS_LABEL).check(&h.binding)?;
        let name_len = r.u16()? as usize;
        if name_len > 255 {
            return Err(FormatError::InvalidField { field: "name", reason: format!("{name_len} bytes") }.into());
        }
        let name = String::from_utf8(r.take(name_len)?.to_vec())
            .map_err(|_| FormatError::InvalidField { field: "name", reason: "not UTF-8".into() })?;
        let log_n = r.u32()?;
        if !(4..=17).contains(&log_n) {
            return Err(FormatError::InvalidField { field: "log_n", reason: format!("{log_n}") }.into());
        }
        let mut lists = [Vec::new(), Vec::new()];
        for (li, list) in lists.iter_mut().enumerate() {
            let count = r.u16()? as usize;
            let max = if li == 0 { MAX_Q_PRIMES } else { MAX_CONVERSION_TERMS - 1 };
            if count == 0 || count > max {
                let field = if li == 0 { "q count" } else { "p count" };
                return Err(FormatError::InvalidField { field, reason: format!("{count} (at most {max})") }.into());
            }
            for _ in 0..count {
                let q = r.u64()?;
                if q >= MAX_PRIME {
                    return Err(FormatError::InvalidField { field: "prime", reason: format!("{q}") }.into());
                }
                list.push(q);
            }
        }
        let [q, p] = lists;
        let dnum = r.u16()? as usize;
        let log_scale = r.u32()?;
        let secret = match r.u8()? {
            0 => SecretDistribution::UniformTernary,
            1 => SecretDistribution::SparseTernary { hamming_weight: r.u32()? as usize },
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
        let params = Parameters::from_parts(name, log_n, q, p, dnum, log_scale, secret, insecure);
        if params.fingerprint() != h.fingerprint {
            return Err(FormatError::ParameterMismatch { expected: params.fingerprint(), found: h.fingerprint }.into());
        }
        params.validate()?;
        if allow_insecure {
            return Ok(params);
        }
        if insecure || params.check_security().is_err() {
            return Err(FormatError::InsecureRefused.into());
        }
        if !params.is_known() {
            return Err(FormatError::UnknownParameterSet(params.name().to_string()).into());
        }
        Ok(params)
    }
}

// ---------------------------------------------------------------- objects

impl Ciphertext {
    /// Serializes, bound to `binding` (key set and role label).
    pub fn to_bytes(&self, ctx: &Context, binding: &Binding) -> Vec<u8> {
        to_vec(Kind::Ciphertext, self.fingerprint, binding, &|w| self.write_body(ctx, w))
    }

    /// Length of [`Ciphertext::to_bytes`], computed without serializing.
    pub fn serialized_len(&self, ctx: &Context, binding: &Binding) -> u64 {
        serialized_len(Kind::Ciphertext, self.fingerprint, binding, &|w| self.write_body(ctx, w))
    }

    fn write_body(&self, ctx: &Context, w: &mut Writer<'_>) {
        w.f64(self.scale);
        w.u32(self.slots as u32);
        w.u8(self.parts.len() as u8);
        self.parts.iter().for_each(|p| w.poly(ctx, p));
    }

    /// Loads and validates a ciphertext for `ctx`, refusing one bound to
    /// anything but `expected`.
    pub fn from_bytes(ctx: &Arc<Context>, bytes: &[u8], expected: &Binding) -> Result<Self> {
        let (mut r, h) = Reader::open(bytes, Kind::Ciphertext)?;
        check_fp(ctx, h.fingerprint)?;
        expected.check(&h.binding)?;
        let (scale, slots) = read_scale_slots(&mut r, ctx)?;
        let nparts = r.u8()? as usize;
        if !(2..=3).contains(&nparts) {
            return Err(FormatError::InvalidField { field: "parts", reason: format!("{nparts}") }.into());
        }
        let c0 = r.poly(ctx, PolyShape { num_q: None, num_p: 0 })?;
        let shape = PolyShape { num_q: Some(c0.num_q), num_p: 0 };
        let mut parts = vec![c0];
        for _ in 1..nparts {
            parts.push(r.poly(ctx, shape)?);
        }
        r.end()?;
        check_scale_level(ctx, scale, parts[0].num_q - 1)?;
        Ok(Ciphertext { parts, scale, slots, fingerprint: h.fingerprint })
    }
}

impl SeededCiphertext {
    /// Serializes `c_0` and the seed, bound to `binding`.
    pub fn to_bytes(&self, ctx: &Context, binding: &Binding) -> Vec<u8> {
        to_vec(Kind::SeededCiphertext, self.fingerprint, binding, &|w| self.write_body(ctx, w))
    }

    /// Length of [`SeededCiphertext::to_bytes`], computed without serializing.
    pub fn serialized_len(&self, ctx: &Context, binding: &Binding) -> u64 {
        serialized_len(Kind::SeededCiphertext, self.fingerprint, binding, &|w| self.write_body(ctx, w))
    }

    fn write_body(&self, ctx: &Context, w: &mut Writer<'_>) {
        w.f64(self.scale);
        w.u32(self.slots as u32);
        w.bytes(&self.seed);
        w.poly(ctx, &self.c0);
    }

    /// Loads and validates a seeded ciphertext bound to `expected`.
    pub fn from_bytes(ctx: &Arc<Context>, bytes: &[u8], expected: &Binding) -> Result<Self> {
        let (mut r, h) = Reader::open(bytes, Kind::SeededCiphertext)?;
        check_fp(ctx, h.fingerprint)?;
        expected.check(&h.binding)?;
        let (scale, slots) = read_scale_slots(&mut r, ctx)?;
        let seed = r.seed()?;
        let c0 = r.poly(ctx, PolyShape { num_q: None, num_p: 0 })?;
        r.end()?;
        check_scale_level(ctx, scale, c0.num_q - 1)?;
        Ok(SeededCiphertext { c0, seed, scale, slots, fingerprint: h.fingerprint })
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
    /// Serializes the plaintext, bound to `binding`.
    pub fn to_bytes(&self, ctx: &Context, binding: &Binding) -> Vec<u8> {
        to_vec(Kind::Plaintext, self.fingerprint, binding, &|w| {
            w.f64(self.scale);
            w.u32(self.slots as u32);
            w.poly(ctx, &self.poly);
        })
    }

    /// Loads and validates a plaintext for `ctx` bound to `expected`.
    pub fn from_bytes(ctx: &Arc<Context>, bytes: &[u8], expected: &Binding) -> Result<Self> {
        let (mut r, h) = Reader::open(bytes, Kind::Plaintext)?;
        check_fp(ctx, h.fingerprint)?;
        expected.check(&h.binding)?;
        let (scale, slots) = read_scale_slots(&mut r, ctx)?;
        let poly = r.poly(ctx, PolyShape { num_q: None, num_p: 0 })?;
        r.end()?;
        check_scale_level(ctx, scale, poly.num_q - 1)?;
        Ok(Plaintext { poly, scale, slots, fingerprint: h.fingerprint })
    }
}

impl PublicKey {
    /// Serializes `b` and the seed of `a`.
    pub fn to_bytes(&self, ctx: &Context) -> Vec<u8> {
        to_vec(Kind::PublicKey, self.fingerprint, &Binding::fixed(self.key_set, PUBLIC_KEY_LABEL), &|w| {
            w.bytes(&self.seed);
            w.poly(ctx, &self.b);
        })
    }

    /// Loads a public key, re-expanding `a` from its seed.
    pub fn from_bytes(ctx: &Arc<Context>, bytes: &[u8]) -> Result<Self> {
        let (mut r, key_set) = open_key(ctx, bytes, Kind::PublicKey, PUBLIC_KEY_LABEL)?;
        let seed = r.seed()?;
        let b = r.poly(ctx, PolyShape { num_q: Some(ctx.max_level() + 1), num_p: ctx.num_p() })?;
        r.end()?;
        Ok(PublicKey { a: PublicKey::expand_a(ctx, &seed), b, seed, fingerprint: ctx.fingerprint(), key_set })
    }
}

/// A switching key: seed, level, digit count, then the `b_j` over
/// Q_level·P.
fn write_switching_key(w: &mut Writer<'_>, ctx: &Context, k: &SwitchingKey) {
    w.bytes(&k.seed);
    w.u16(k.level() as u16);
    w.u16(k.b.len() as u16);
    k.b.iter().for_each(|p| w.poly(ctx, p));
}

/// Bytes of a switching key's record after its seed, level and digit
/// count, checking those first (so a stream reader never sizes a buffer
/// from an unchecked field).
fn switching_key_body_len(ctx: &Context, level: usize, dnum: usize) -> std::result::Result<usize, FormatError> {
    if level > ctx.max_level() {
        return Err(FormatError::InvalidField {
            field: "key level",
            reason: format!("{level} (the chain's top is {})", ctx.max_level()),
        });
    }
    let expected = digits_at(ctx, level);
    if dnum != expected {
        return Err(FormatError::InvalidField {
            field: "dnum",
            reason: format!("{dnum} (a key at level {level} has {expected} digits)"),
        });
    }
    let num_q = level + 1;
    let limbs: usize =
        (0..num_q + ctx.num_p()).map(|i| (ctx.n() * ctx.limb_modulus(num_q, i).bits as usize).div_ceil(8)).sum();
    Ok(dnum * (POLY_HEADER_LEN + limbs))
}

/// A polynomial's shape header: `num_q: u16`, `num_p: u16`, `ntt: u8`.
const POLY_HEADER_LEN: usize = 5;
/// A switching key's seed, level and digit count.
const KEY_PREFIX_LEN: usize = 32 + 2 + 2;

fn read_switching_key(r: &mut Reader<'_>, ctx: &Context) -> Result<SwitchingKey> {
    let (seed, level, dnum) = read_key_prefix(r, ctx)?;
    read_key_polys(r, ctx, seed, level, dnum)
}

/// A switching key's seed, level and digit count, checked.
fn read_key_prefix(r: &mut Reader<'_>, ctx: &Context) -> Result<([u8; 32], usize, usize)> {
    let seed = r.seed()?;
    let level = r.u16()? as usize;
    let dnum = r.u16()? as usize;
    switching_key_body_len(ctx, level, dnum)?;
    Ok((seed, level, dnum))
}

/// The `b_j` of a key whose prefix was read (`a_j` stay a seed).
fn read_key_polys(
    r: &mut Reader<'_>,
    ctx: &Context,
    seed: [u8; 32],
    level: usize,
    dnum: usize,
) -> Result<SwitchingKey> {
    let shape = PolyShape { num_q: Some(level + 1), num_p: ctx.num_p() };
    let b = (0..dnum).map(|_| r.poly(ctx, shape)).collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(SwitchingKey::new(b, seed))
}

impl RelinKey {
    fn binding(&self) -> Binding {
        Binding::fixed(self.key_set, RELIN_KEY_LABEL)
    }

    /// Serializes the key (`b` parts and one seed).
    pub fn to_bytes(&self, ctx: &Context) -> Vec<u8> {
        to_vec(Kind::RelinKey, self.fingerprint, &self.binding(), &|w| write_switching_key(w, ctx, &self.key))
    }

    /// Length of [`RelinKey::to_bytes`], computed without serializing.
    pub fn serialized_len(&self, ctx: &Context) -> u64 {
        serialized_len(Kind::RelinKey, self.fingerprint, &self.binding(), &|w| write_switching_key(w, ctx, &self.key))
    }

    /// Loads a relinearization key (its key set is in [`RelinKey::key_set`]).
    pub fn from_bytes(ctx: &Arc<Context>, bytes: &[u8]) -> Result<Self> {
        let (mut r, key_set) = open_key(ctx, bytes, Kind::RelinKey, RELIN_KEY_LABEL)?;
        let key = read_switching_key(&mut r, ctx)?;
        r.end()?;
        Ok(RelinKey { key, fingerprint: ctx.fingerprint(), key_set })
    }
}

impl GaloisKeys {
    /// Serializes every key with its Galois element.
    pub fn to_bytes(&self, ctx: &Context) -> Vec<u8> {
        to_vec(Kind::GaloisKeys, ctx.fingerprint(), &self.binding(GALOIS_KEYS_LABEL), &|w| self.write_body(ctx, w))
    }

    /// Streams [`GaloisKeys::to_bytes`] to `out` (a few MiB buffered, not the
    /// whole key set); returns the bytes written.
    pub fn write_to(&self, ctx: &Context, out: &mut dyn std::io::Write) -> std::io::Result<u64> {
        write_object(out, Kind::GaloisKeys, ctx.fingerprint(), &self.binding(GALOIS_KEYS_LABEL), &|w| {
            self.write_body(ctx, w)
        })
    }

    /// Length of [`GaloisKeys::to_bytes`], computed without serializing.
    pub fn serialized_len(&self, ctx: &Context) -> u64 {
        serialized_len(Kind::GaloisKeys, ctx.fingerprint(), &self.binding(GALOIS_KEYS_LABEL), &|w| {
            self.write_body(ctx, w)
        })
    }

    fn binding(&self, label: &'static str) -> Binding {
        Binding::fixed(self.key_set, label)
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
        Self::from_bytes_labelled(ctx, bytes, GALOIS_KEYS_LABEL)
    }

    fn from_bytes_labelled(ctx: &Arc<Context>, bytes: &[u8], label: &'static str) -> Result<Self> {
        let (mut r, key_set) = open_key(ctx, bytes, Kind::GaloisKeys, label)?;
        let count = check_key_count(ctx, r.u32()?)?;
        let mut keys = BTreeMap::new();
        for _ in 0..count {
            let g = check_galois_element(ctx, r.u64()?, &keys)?;
            keys.insert(g, read_switching_key(&mut r, ctx)?);
        }
        r.end()?;
        Ok(GaloisKeys { keys, fingerprint: ctx.fingerprint(), key_set })
    }
}

fn check_key_count(ctx: &Context, count: u32) -> Result<usize> {
    let count = count as usize;
    if count > ctx.n() {
        return Err(FormatError::InvalidField { field: "key count", reason: format!("{count}") }.into());
    }
    Ok(count)
}

/// An odd element below 2N, not the identity, not seen before.
fn check_galois_element(ctx: &Context, g: u64, keys: &BTreeMap<u64, SwitchingKey>) -> Result<u64> {
    if g.is_multiple_of(2) || g >= 2 * ctx.n() as u64 || g == 1 || keys.contains_key(&g) {
        return Err(FormatError::InvalidField { field: "galois element", reason: format!("{g}") }.into());
    }
    Ok(g)
}

/// A bootstrapping slot count: a power of two in 2..=N/2, not seen before.
fn check_slot_count(ctx: &Context, s: u32, slots: &[usize]) -> Result<usize> {
    let s = s as usize;
    if !s.is_power_of_two() || s < 2 || s > ctx.n() / 2 || slots.contains(&s) {
        return Err(FormatError::InvalidField { field: "slots", reason: format!("{s}") }.into());
    }
    Ok(s)
}

fn check_slot_list_len(count: u32) -> Result<usize> {
    if count > 32 {
        return Err(FormatError::InvalidField { field: "slot count", reason: format!("{count}") }.into());
    }
    Ok(count as usize)
}

impl BootstrapKeys {
    fn binding(&self) -> Binding {
        Binding::fixed(self.key_set, BOOTSTRAP_KEYS_LABEL)
    }

    /// Serializes the slot counts, the dense→sparse key (in its two-prime
    /// ring q_0·p_0), the sparse→dense key and the Galois keys; every `a`
    /// part is a 32-byte seed.
    pub fn to_bytes(&self, ctx: &Context) -> Vec<u8> {
        to_vec(Kind::BootstrapKeys, self.fingerprint, &self.binding(), &|w| self.write_body(ctx, w))
    }

    /// Streams [`BootstrapKeys::to_bytes`] to `out` with a few MiB buffered
    /// (the keys are ≈ 3 GB at N=2^16); returns the bytes written.
    pub fn write_to(&self, ctx: &Context, out: &mut dyn std::io::Write) -> std::io::Result<u64> {
        write_object(out, Kind::BootstrapKeys, self.fingerprint, &self.binding(), &|w| self.write_body(ctx, w))
    }

    /// Length of [`BootstrapKeys::to_bytes`], computed without serializing.
    pub fn serialized_len(&self, ctx: &Context) -> u64 {
        serialized_len(Kind::BootstrapKeys, self.fingerprint, &self.binding(), &|w| self.write_body(ctx, w))
    }

    fn write_body(&self, ctx: &Context, w: &mut Writer<'_>) {
        w.u32(self.slots.len() as u32);
        self.slots.iter().for_each(|&s| w.u32(s as u32));
        write_switching_key(w, &self.encapsulation, &self.to_sparse);
        write_switching_key(w, ctx, &self.to_dense);
        let galois = self.galois.binding(BOOTSTRAP_GALOIS_LABEL);
        w.u64(serialized_len(Kind::GaloisKeys, ctx.fingerprint(), &galois, &|w| self.galois.write_body(ctx, w)));
        w.envelope(Kind::GaloisKeys, ctx.fingerprint(), &galois, &|w| self.galois.write_body(ctx, w));
    }

    /// Loads bootstrapping keys.
    pub fn from_bytes(ctx: &Arc<Context>, bytes: &[u8]) -> Result<Self> {
        let (mut r, key_set) = open_key(ctx, bytes, Kind::BootstrapKeys, BOOTSTRAP_KEYS_LABEL)?;
        let count = check_slot_list_len(r.u32()?)?;
        let mut slots = Vec::with_capacity(count);
        for _ in 0..count {
            slots.push(check_slot_count(ctx, r.u32()?, &slots)?);
        }
        // The file does not record the sparse secret's weight (the server
        // could not check it: the secret is the client's). Secure parameters
        // admit only the weight with a published estimate, h = 32 at
        // N = 2^16, which is the default's; insecure test sets are not
        // checked. The label changes no arithmetic.
        let encapsulation = encapsulation_context(ctx, BootstrapConfig::default().hamming_weight)?;
        let to_sparse = read_switching_key(&mut r, &encapsulation)?;
        let to_dense = read_switching_key(&mut r, ctx)?;
        let len = r.u64()?;
        let galois = GaloisKeys::from_bytes_labelled(
            ctx,
            r.take(usize::try_from(len).unwrap_or(usize::MAX))?,
            BOOTSTRAP_GALOIS_LABEL,
        )?;
        r.end()?;
        if galois.key_set != key_set {
            return Err(FormatError::KeySetMismatch { expected: key_set, found: galois.key_set }.into());
        }
        Ok(BootstrapKeys { to_sparse, encapsulation, to_dense, galois, slots, fingerprint: ctx.fingerprint(), key_set })
    }

    /// Loads bootstrapping keys from a stream of `len` bytes (a file),
    /// one key's bytes buffered at a time: the same checks as
    /// [`BootstrapKeys::from_bytes`], with each envelope's checksum checked
    /// when its end is reached (a caller that must refuse an altered file
    /// before parsing hashes it first, as `hecnn-ml`'s upload loader does).
    pub fn read_from(ctx: &Arc<Context>, input: &mut dyn std::io::Read, len: u64) -> Result<Self> {
        let mut s = StreamIn::new(input, len);
        let (key_set, body_end) = s.open(ctx, Kind::BootstrapKeys, BOOTSTRAP_KEYS_LABEL, len)?;
        let count = check_slot_list_len(s.u32()?)?;
        let mut slots = Vec::with_capacity(count);
        for _ in 0..count {
            slots.push(check_slot_count(ctx, s.u32()?, &slots)?);
        }
        let encapsulation = encapsulation_context(ctx, BootstrapConfig::default().hamming_weight)?;
        let to_sparse = s.switching_key(&encapsulation)?;
        let to_dense = s.switching_key(ctx)?;
        let galois_len = s.u64()?;
        if galois_len > body_end - s.offset {
            let needed = usize::try_from(galois_len - (body_end - s.offset)).unwrap_or(usize::MAX);
            return Err(
                FormatError::Truncated { offset: usize::try_from(s.offset).unwrap_or(usize::MAX), needed }.into()
            );
        }
        let (galois_set, galois_end) = s.open(ctx, Kind::GaloisKeys, BOOTSTRAP_GALOIS_LABEL, galois_len)?;
        let count = check_key_count(ctx, s.u32()?)?;
        let mut keys = BTreeMap::new();
        for _ in 0..count {
            let g = check_galois_element(ctx, s.u64()?, &keys)?;
            keys.insert(g, s.switching_key(ctx)?);
        }
        s.close(galois_end)?;
        s.close(body_end)?;
        if galois_set != key_set {
            return Err(FormatError::KeySetMismatch { expected: key_set, found: galois_set }.into());
        }
        let galois = GaloisKeys { keys, fingerprint: ctx.fingerprint(), key_set };
        Ok(BootstrapKeys { to_sparse, encapsulation, to_dense, galois, slots, fingerprint: ctx.fingerprint(), key_set })
    }
}

#[cfg(feature = "client")]
impl SecretKey {
    /// The secret key's bytes (2 bits per coefficient). Handle as a secret:
    /// write only to client-side storage with restrictive permissions.
    pub fn to_secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        let codes: Zeroizing<Vec<u64>> = Zeroizing::new(self.coeffs.iter().map(|&c| (c + 1) as u64).collect());
        let binding = Binding::fixed(self.key_set, SECRET_KEY_LABEL);
        Zeroizing::new(to_vec(Kind::SecretKey, self.ctx.fingerprint(), &binding, &|w| w.packed(&codes, 2)))
    }

    /// Loads a secret key for `ctx` (check it against the public keys with
    /// [`SecretKey::check_relin_key`] before use).
    pub fn from_secret_bytes(ctx: &Arc<Context>, bytes: &[u8]) -> Result<Self> {
        let (mut r, key_set) = open_key(ctx, bytes, Kind::SecretKey, SECRET_KEY_LABEL)?;
        let raw = r.take(ctx.n().div_ceil(4))?;
        r.end()?;
        let mut codes = Zeroizing::new(vec![0u64; ctx.n()]);
        unpack_bits(raw, &mut codes, 2);
        if codes.iter().any(|&c| c > 2) {
            return Err(FormatError::InvalidField { field: "secret coefficient", reason: "not ternary".into() }.into());
        }
        let coeffs: Vec<i8> = codes.iter().map(|&c| c as i8 - 1).collect();
        Ok(SecretKey::from_coeffs(ctx, coeffs, key_set))
    }
}

// ---------------------------------------------------------------- streaming

/// Reads an object from a stream a record at a time, hashing what passes
/// through every open envelope (innermost last), so a multi-GB key file is
/// parsed with one key's bytes buffered instead of the whole file.
struct StreamIn<'r> {
    inner: &'r mut dyn std::io::Read,
    /// Bytes consumed so far, and the object's length.
    offset: u64,
    len: u64,
    buf: Vec<u8>,
    hashers: Vec<blake3::Hasher>,
    /// Where each open envelope's bytes end (innermost last): no read
    /// crosses it, as a slice reader cannot read past its slice.
    ends: Vec<u64>,
}

impl StreamIn<'_> {
    fn new(inner: &mut dyn std::io::Read, len: u64) -> StreamIn<'_> {
        StreamIn { inner, offset: 0, len, buf: Vec::new(), hashers: Vec::new(), ends: Vec::new() }
    }

    /// The next `n` bytes (hashed), or `Truncated` past the innermost
    /// envelope's end.
    fn read(&mut self, n: usize) -> Result<&[u8]> {
        let offset = usize::try_from(self.offset).unwrap_or(usize::MAX);
        let limit = self.ends.last().copied().unwrap_or(self.len);
        if (n as u64) > limit - self.offset {
            let needed = usize::try_from(n as u64 - (limit - self.offset)).unwrap_or(usize::MAX);
            return Err(FormatError::Truncated { offset, needed }.into());
        }
        self.buf.resize(n, 0);
        self.inner.read_exact(&mut self.buf).map_err(|e| CkksError::Io(format!("at offset {offset}: {e}")))?;
        for h in &mut self.hashers {
            h.update(&self.buf);
        }
        self.offset += n as u64;
        Ok(&self.buf)
    }

    /// A slice reader over the next `n` bytes, for the record parsers.
    fn record(&mut self, n: usize) -> Result<Reader<'_>> {
        let base = usize::try_from(self.offset).unwrap_or(usize::MAX);
        let body = self.read(n)?;
        Ok(Reader { body, pos: 0, base })
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(self.record(4)?.u32()?)
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(self.record(8)?.u64()?)
    }

    /// Opens an envelope of `kind` bound to `label` whose object spans
    /// `len` bytes from here: parses and checks its header, starts its hash.
    /// The caller checks that `len` bytes remain.
    fn open(&mut self, ctx: &Context, kind: Kind, label: &'static str, len: u64) -> Result<(KeySetId, u64)> {
        let start = self.offset;
        self.hashers.push(blake3::Hasher::new());
        let outer = self.ends.last().copied().unwrap_or(self.len);
        self.ends.push((start + len).min(outer));
        let mut head = self.read(FIXED_HEADER_LEN)?.to_vec();
        let label_len = head[FIXED_HEADER_LEN - 1] as usize;
        head.extend_from_slice(self.read(label_len.min(MAX_LABEL_LEN) + 8)?);
        let (h, header_len, body_len) = parse_header(&head, kind)?;
        envelope_len(header_len, body_len, len)?;
        check_fp(ctx, h.fingerprint)?;
        Binding::fixed(h.binding.key_set, label).check(&h.binding)?;
        let body_end = (start + header_len as u64 + body_len).min(outer);
        *self.ends.last_mut().expect("pushed above") = body_end;
        Ok((h.binding.key_set, body_end))
    }

    /// Closes the innermost envelope, whose body ends at `body_end` (no read
    /// went past it): checks that the body was consumed, then its checksum
    /// (read outside its own hash and limit).
    fn close(&mut self, body_end: u64) -> Result<()> {
        if self.offset < body_end {
            return Err(FormatError::TrailingBytes(usize::try_from(body_end - self.offset).unwrap_or(0)).into());
        }
        self.ends.pop();
        let sum = self.hashers.pop().expect("an open envelope").finalize();
        if self.read(CHECKSUM_LEN)? != sum.as_bytes() {
            return Err(FormatError::Checksum.into());
        }
        Ok(())
    }

    fn switching_key(&mut self, ctx: &Context) -> Result<SwitchingKey> {
        let (seed, level, dnum) = read_key_prefix(&mut self.record(KEY_PREFIX_LEN)?, ctx)?;
        let len = switching_key_body_len(ctx, level, dnum)?;
        let mut r = self.record(len)?;
        let key = read_key_polys(&mut r, ctx, seed, level, dnum)?;
        r.end()?;
        Ok(key)
    }
}

/// Recomputes the trailing checksum of a serialized object in place: what
/// anyone can do to a file they altered (the checksum catches corruption,
/// not tampering; see docs/security.md). For attack tests and tools.
pub fn reseal(bytes: &mut [u8]) {
    if bytes.len() >= CHECKSUM_LEN {
        let end = bytes.len() - CHECKSUM_LEN;
        let sum = blake3::hash(&bytes[..end]);
        bytes[end..].copy_from_slice(sum.as_bytes());
    }
}
