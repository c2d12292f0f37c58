//! Files exchanged between client and server: the training upload (what
//! the server may read: parameters, evaluation keys, ciphertexts) and the
//! encrypted model it sends back. Every load names the file that failed.
//!
//! Every ciphertext file is bound, inside its checksummed header, to the key
//! set and to its role and index (`upload/x/0/3`, `model/w/2`): files of
//! another key set, or moved to another role or position, are refused by
//! name. Every count in a manifest is bounded before anything is allocated.

use crate::mlr::server::{EncryptedDataset, EncryptedModel};
use crate::mlr::setup;
use crate::packing::Layout;
use crate::safe_fs::{self, SafeFsError, Visibility};
use hecnn_ckks::circuits::BootstrapKeys;
use hecnn_ckks::serial::{self, Kind};
use hecnn_ckks::{
    Binding, Ciphertext, CkksError, Context, EvaluationKeySet, GaloisKeys, KeySetId, Parameters, RelinKey,
    SeededCiphertext,
};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;

/// Largest manifest accepted (bytes).
const MAX_MANIFEST: u64 = 1 << 20;
/// Largest single object file accepted (bytes): 4 GiB.
const MAX_OBJECT: u64 = 1 << 32;
/// Largest bootstrapping-key file accepted (bytes): 16 GiB (one slot count
/// at N=2^16 is ≈ 3.6 GB).
const MAX_BOOTSTRAP_KEYS: u64 = 1 << 34;
/// File name of the optional bootstrapping keys in an upload.
pub const BOOTSTRAP_KEYS_FILE: &str = "bootstrap.key";
/// Most samples an upload may declare.
pub const MAX_SAMPLES: usize = 1 << 20;
/// Most features an upload may declare.
pub const MAX_FEATURES: usize = 1 << 16;
/// Most classes (labels are bytes).
pub const MAX_CLASSES: usize = 256;
/// Most ciphertext files in an upload (60,000 samples × 241 features × 10
/// classes at N = 2^15 are 30,970).
pub const MAX_CIPHERTEXTS: usize = 1 << 16;
/// Most memory the ciphertexts read at once may take once expanded (16
/// GiB): a larger upload is refused before a single ciphertext is read
/// unless it is read in parts ([`UploadReader::blocks`]).
pub const MAX_UPLOAD_MEMORY: u64 = 16 << 30;

/// Why an upload or model directory could not be read or written.
#[derive(Debug, Error)]
pub enum UploadError {
    /// File system error.
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// A serialized object was rejected (corrupt, truncated, other parameters...).
    #[error("{path}: {source}")]
    Format { path: PathBuf, source: CkksError },
    /// The manifest is missing a field, inconsistent, or too large.
    #[error("{path}: invalid manifest: {reason}")]
    Manifest { path: PathBuf, reason: String },
    /// A well-formed file whose content is not what the job needs (a
    /// ciphertext at another scale or level, rotation keys missing).
    #[error("{path}: {reason}")]
    Content { path: PathBuf, reason: String },
    /// A file refused (symlink, FIFO, device, over its size limit) or not
    /// readable/writable; the message names it.
    #[error(transparent)]
    File(#[from] SafeFsError),
    /// The client's data could not be encrypted (shapes, layout).
    #[error(transparent)]
    Encrypt(#[from] crate::mlr::server::TrainError),
}

/// What an upload directory declares about its contents.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Format tag.
    pub format: String,
    /// Samples n.
    pub samples: usize,
    /// Features d (bias included).
    pub features: usize,
    /// Classes.
    pub classes: usize,
    /// Block layout.
    pub layout: Layout,
    /// Parameter fingerprint (hex) the ciphertexts were made for.
    pub fingerprint: String,
    /// The key set (hex [`KeySetId`]) every file must be bound to, so keys,
    /// ciphertexts or models of another key set are caught by name.
    pub key_set: String,
    /// Hash of `bootstrap.key` when the upload carries bootstrapping keys:
    /// keys from another key set, or a missing file, are caught on load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_key_id: Option<String>,
    /// Iterations the server ran (models only): lets the client rerun the
    /// plaintext reference and compare.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterations: Option<usize>,
}

impl Manifest {
    fn describe<C>(format: &str, ctx: &Context, data: &EncryptedDataset<C>, key_set: KeySetId) -> Self {
        Manifest {
            format: format.into(),
            samples: data.samples,
            features: data.features,
            classes: data.classes,
            layout: data.layout,
            fingerprint: format!("{:016x}", ctx.fingerprint()),
            key_set: key_set.to_hex(),
            bootstrap_key_id: None,
            iterations: None,
        }
    }

    /// The key set, parsed.
    pub fn key_set_id(&self) -> Option<KeySetId> {
        KeySetId::from_hex(&self.key_set)
    }
}

/// Binding of an upload ciphertext: `upload/<role>/<index>`.
pub fn upload_binding(key_set: KeySetId, role_index: &str) -> Result<Binding, CkksError> {
    Binding::new(key_set, format!("upload/{role_index}"))
}

/// Binding of a model ciphertext: `model/<w|v>/<feature block>`.
pub fn model_binding(key_set: KeySetId, sequence: &str, block: usize) -> Result<Binding, CkksError> {
    Binding::new(key_set, format!("model/{sequence}/{block}"))
}

/// File name of a ciphertext labelled `role/i/j`: `role-i-j.ct`.
fn file_name(role_index: &str) -> String {
    format!("{}.ct", role_index.replace('/', "-"))
}

const UPLOAD_FORMAT: &str = "hecnn-training-upload-v1";
const MODEL_FORMAT: &str = "hecnn-encrypted-model-v1";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> UploadError + '_ {
    move |source| UploadError::Io { path: path.to_path_buf(), source }
}

/// Reads a file of at most `limit` bytes that the other party may control:
/// a symlink, FIFO, directory or device is refused without blocking, the
/// length is checked before reading (see [`safe_fs::read_bounded`]).
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, UploadError> {
    Ok(safe_fs::read_bounded(path, limit)?)
}

/// Writes a new file (0644, never over an existing file or through a link).
fn write(path: &Path, bytes: &[u8]) -> Result<u64, UploadError> {
    safe_fs::write_new(path, bytes)?;
    Ok(bytes.len() as u64)
}

/// A file written by a streaming serializer, hashed on the way: multi-GB
/// key files never sit in memory as one buffer.
struct HashingFile {
    file: std::fs::File,
    hasher: blake3::Hasher,
}

impl std::io::Write for HashingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Streams `serialize` into a new file `path` (0644, never over an existing
/// file or through a link); returns (bytes written, [`key_id`] of them).
pub fn write_streamed(
    path: &Path,
    serialize: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<u64>,
) -> Result<(u64, String), UploadError> {
    let file = safe_fs::create_new(path, Visibility::Public)?;
    let mut out = HashingFile { file, hasher: blake3::Hasher::new() };
    let len = serialize(&mut out).and_then(|len| out.file.sync_all().map(|()| len)).map_err(io(path))?;
    Ok((len, hash_id(&out.hasher.finalize())))
}

fn hash_id(h: &blake3::Hash) -> String {
    h.as_bytes()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn format_err(path: &Path) -> impl FnOnce(CkksError) -> UploadError + '_ {
    move |source| UploadError::Format { path: path.to_path_buf(), source }
}

/// Reads a serialized `kind` object of at most `limit` bytes; its header is
/// checked before the rest is read, so a file that is no such object (a
/// run of zeros, another kind) costs [`serial::MAX_HEADER_LEN`] bytes.
fn read_object(path: &Path, limit: u64, kind: Kind) -> Result<Vec<u8>, UploadError> {
    safe_fs::read_bounded_checked(path, limit, serial::MAX_HEADER_LEN, |prefix, len| {
        serial::check_prefix(prefix, kind, len).map_err(format_err(path))
    })
}

/// The most bytes a ciphertext of this context serializes to: three parts
/// at the top level, 8 bytes a residue, and the envelope.
fn ciphertext_limit(ctx: &Context) -> u64 {
    3 * (ctx.max_level() as u64 + 1) * ctx.n() as u64 * 8 + 4096
}

/// Reads a ciphertext bound to `binding` (header checked first, size bounded by the context).
pub fn load_ct(ctx: &Arc<Context>, path: &Path, binding: &Binding) -> Result<Ciphertext, UploadError> {
    let bytes = read_object(path, ciphertext_limit(ctx), Kind::Ciphertext)?;
    Ciphertext::from_bytes(ctx, &bytes, binding).map_err(format_err(path))
}

/// Reads a seeded ciphertext bound to `binding` and expands it.
pub fn load_seeded(ctx: &Arc<Context>, path: &Path, binding: &Binding) -> Result<Ciphertext, UploadError> {
    let bytes = read_object(path, ciphertext_limit(ctx), Kind::SeededCiphertext)?;
    let seeded = SeededCiphertext::from_bytes(ctx, &bytes, binding).map_err(format_err(path))?;
    seeded.expand(ctx).map_err(format_err(path))
}

/// Loads parameters from a file: only this build's presets are accepted.
pub fn load_params(path: &Path) -> Result<Parameters, UploadError> {
    load_params_allowing(path, false)
}

/// [`load_params`], accepting parameters below 128-bit security when
/// `insecure` (tests with small rings only).
pub fn load_params_allowing(path: &Path, insecure: bool) -> Result<Parameters, UploadError> {
    let bytes = read_object(path, MAX_MANIFEST, Kind::Parameters)?;
    Parameters::from_bytes(&bytes, insecure).map_err(format_err(path))
}

/// Loads a relinearization key (its key set is [`RelinKey::key_set`]).
pub fn load_relin(ctx: &Arc<Context>, path: &Path) -> Result<RelinKey, UploadError> {
    let bytes = read_object(path, MAX_OBJECT, Kind::RelinKey)?;
    RelinKey::from_bytes(ctx, &bytes).map_err(format_err(path))
}

/// Loads Galois keys.
pub fn load_galois(ctx: &Arc<Context>, path: &Path) -> Result<GaloisKeys, UploadError> {
    let bytes = read_object(path, MAX_OBJECT, Kind::GaloisKeys)?;
    GaloisKeys::from_bytes(ctx, &bytes).map_err(format_err(path))
}

/// Loads bootstrapping keys, checking the bytes against the manifest's hash.
///
/// The file (≈ 1.7 GB at N = 2^16) is never held whole: a first pass
/// checks its header and hashes it (an altered or swapped file is refused
/// before any parse), a second parses it a key at a time
/// ([`BootstrapKeys::read_from`]), hashing again so that a file changed
/// between the passes is refused too.
pub fn load_bootstrap_keys(ctx: &Arc<Context>, path: &Path, id: &str) -> Result<BootstrapKeys, UploadError> {
    use std::io::{BufReader, Read, Seek};
    let (file, len) = safe_fs::open_bounded(path, MAX_BOOTSTRAP_KEYS)?;
    let mut reader = BufReader::with_capacity(1 << 20, file.take(len));
    let mut prefix = Vec::new();
    (&mut reader).take(serial::MAX_HEADER_LEN as u64).read_to_end(&mut prefix).map_err(io(path))?;
    serial::check_prefix(&prefix, Kind::BootstrapKeys, len).map_err(format_err(path))?;
    let mut first = blake3::Hasher::new();
    first.update(&prefix);
    std::io::copy(&mut reader, &mut first).map_err(io(path))?;
    let altered = || UploadError::Manifest {
        path: path.to_path_buf(),
        reason: "bootstrapping keys other than the manifest's (another key set, or altered)".into(),
    };
    if hash_id(&first.finalize()) != id {
        return Err(altered());
    }
    let mut file = reader.into_inner().into_inner();
    file.rewind().map_err(io(path))?;
    let mut second =
        HashingReader { inner: BufReader::with_capacity(1 << 20, file.take(len)), hasher: blake3::Hasher::new() };
    let keys = BootstrapKeys::read_from(ctx, &mut second, len).map_err(format_err(path))?;
    if hash_id(&second.hasher.finalize()) != id {
        return Err(altered());
    }
    Ok(keys)
}

/// A reader that hashes what it reads.
struct HashingReader<R> {
    inner: R,
    hasher: blake3::Hasher,
}

impl<R: std::io::Read> std::io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Writes the upload: parameters, evaluation keys (with the bootstrapping
/// keys when the key set has them), manifest, and the seeded ciphertexts,
/// each bound to the key set and its role. Returns the bytes written.
pub fn save_upload(
    dir: &Path,
    keys: &EvaluationKeySet,
    data: &EncryptedDataset<SeededCiphertext>,
) -> Result<u64, UploadError> {
    let mut out = UploadWriter::create(dir, keys, data.layout, (data.samples, data.features, data.classes))?;
    for (label, ct) in data.labelled() {
        out.write(&label, ct)?;
    }
    Ok(out.finish())
}

/// An upload written as it is encrypted: [`UploadWriter::create`] writes the
/// parameters, keys and manifest, then each ciphertext goes to its file as
/// soon as it exists, so the client never holds the whole data set (60,000
/// samples are 43 GB of ciphertexts).
pub struct UploadWriter<'k> {
    dir: PathBuf,
    keys: &'k EvaluationKeySet,
    total: u64,
}

impl<'k> UploadWriter<'k> {
    /// Creates `dir` with the parameters, the evaluation keys and the
    /// manifest of `(samples, features, classes)` in `layout`.
    pub fn create(
        dir: &Path,
        keys: &'k EvaluationKeySet,
        layout: Layout,
        (samples, features, classes): (usize, usize, usize),
    ) -> Result<Self, UploadError> {
        let ctx = keys.context();
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let mut total = write(&dir.join("params.bin"), &ctx.params().to_bytes())?;
        total += write(&dir.join("relin.key"), &keys.relin().to_bytes(ctx))?;
        total += write_streamed(&dir.join("galois.key"), |out| keys.galois().write_to(ctx, out))?.0;
        let shape = EncryptedDataset::<SeededCiphertext> {
            layout,
            samples,
            features,
            classes,
            x: Vec::new(),
            x_scaled: Vec::new(),
            labels: Vec::new(),
            weights: Vec::new(),
        };
        let mut manifest = Manifest::describe(UPLOAD_FORMAT, ctx, &shape, keys.key_set());
        if let Some(boot) = keys.bootstrap() {
            let (len, id) = write_streamed(&dir.join(BOOTSTRAP_KEYS_FILE), |out| boot.write_to(ctx, out))?;
            manifest.bootstrap_key_id = Some(id);
            total += len;
        }
        let json = serde_json::to_vec_pretty(&manifest).expect("manifest serializes");
        total += write(&dir.join("manifest.json"), &json)?;
        Ok(Self { dir: dir.to_path_buf(), keys, total })
    }

    /// Writes the ciphertext labelled `label` (`x/b/f`, `xs/b/f`, `y/b`,
    /// `w0/f`), bound to the key set and its role.
    pub fn write(&mut self, label: &str, ct: &SeededCiphertext) -> Result<(), UploadError> {
        let path = self.dir.join(file_name(label));
        let binding = upload_binding(self.keys.key_set(), label).map_err(format_err(&path))?;
        self.total += write(&path, &ct.to_bytes(self.keys.context(), &binding))?;
        Ok(())
    }

    /// Bytes written.
    pub fn finish(self) -> u64 {
        self.total
    }
}

/// Encrypts the client's matrices into the new upload directory `dir` as
/// they are encrypted ([`crate::mlr::client::TrainingClient::encrypt_streamed`]
/// into an [`UploadWriter`]): memory for a few sample blocks, not the data
/// set. Returns the bytes written.
#[cfg(feature = "client")]
#[allow(clippy::too_many_arguments)]
pub fn encrypt_upload(
    dir: &Path,
    keys: &EvaluationKeySet,
    client: &crate::mlr::client::TrainingClient<'_>,
    x: &[Vec<f64>],
    x_scaled: &[Vec<f64>],
    labels: &[u8],
    init: &[Vec<f64>],
    layout: Layout,
) -> Result<u64, UploadError> {
    let (features, classes) = (x.first().map_or(0, Vec::len), init.len());
    let mut out = UploadWriter::create(dir, keys, layout, (x.len(), features, classes))?;
    client.encrypt_streamed(x, x_scaled, labels, classes, init, layout, |label, ct| out.write(label, ct))?;
    Ok(out.finish())
}

/// An upload as the server sees it: one evaluation-key set and the data.
pub struct LoadedUpload {
    /// Relinearization, Galois and (optionally) bootstrapping keys of one
    /// key set, for the upload's parameters (checked 128-bit secure).
    pub keys: EvaluationKeySet,
    /// The encrypted dataset (seeds expanded).
    pub data: EncryptedDataset,
}

fn manifest_err(path: &Path, reason: impl Into<String>) -> UploadError {
    UploadError::Manifest { path: path.to_path_buf(), reason: reason.into() }
}

/// Reads a manifest and bounds every count in it before anything is
/// allocated from them: sizes, layout, number of files.
fn read_manifest(path: &Path, format: &str) -> Result<Manifest, UploadError> {
    let bytes = read_bounded(path, MAX_MANIFEST)?;
    let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| manifest_err(path, e.to_string()))?;
    if m.format != format {
        return Err(manifest_err(path, format!("format {:?}, expected {format:?}", m.format)));
    }
    if !(1..=MAX_SAMPLES).contains(&m.samples)
        || !(1..=MAX_FEATURES).contains(&m.features)
        || !(1..=MAX_CLASSES).contains(&m.classes)
    {
        return Err(manifest_err(
            path,
            format!(
                "{} samples, {} features, {} classes (limits {MAX_SAMPLES}, {MAX_FEATURES}, {MAX_CLASSES})",
                m.samples, m.features, m.classes
            ),
        ));
    }
    m.layout.validate(m.classes).map_err(|e| manifest_err(path, e))?;
    let files = m.layout.upload_ciphertexts(m.samples, m.features);
    if files > MAX_CIPHERTEXTS {
        return Err(manifest_err(path, format!("{files} ciphertexts (at most {MAX_CIPHERTEXTS})")));
    }
    if m.key_set_id().is_none() {
        return Err(manifest_err(path, format!("key set {:?} is not 32 hex digits", m.key_set)));
    }
    Ok(m)
}

/// Checks a manifest against the parameters it claims: fingerprint, slot
/// count.
fn check_manifest_params(path: &Path, m: &Manifest, ctx: &Context) -> Result<(), UploadError> {
    if m.fingerprint != format!("{:016x}", ctx.fingerprint()) {
        return Err(manifest_err(path, "made for other parameters"));
    }
    if m.layout.slots != ctx.n() / 2 {
        return Err(manifest_err(path, format!("layout of {} slots; the ring has {}", m.layout.slots, ctx.n() / 2)));
    }
    Ok(())
}

/// Reads and validates an upload directory (parameters, keys, every
/// ciphertext), refusing anything not bound to the manifest's key set.
pub fn load_upload(dir: &Path) -> Result<LoadedUpload, UploadError> {
    load_upload_blocks(dir, None)
}

/// [`load_upload`] of shard `k` of `shards` only (the sample blocks of
/// [`shard_range`], W₀ and the keys): what one worker of a sharded run
/// reads; the files it needs are [`shard_file_names`].
pub fn load_upload_shard(dir: &Path, k: usize, shards: usize) -> Result<LoadedUpload, UploadError> {
    load_upload_blocks(dir, Some((k, shards)))
}

/// The files shard `k` of `shards` of the upload in `dir` needs: (what
/// every shard needs — parameters, manifest, keys, W₀ —, its own blocks).
pub fn shard_file_names(dir: &Path, k: usize, shards: usize) -> Result<(Vec<String>, Vec<String>), UploadError> {
    let mpath = dir.join("manifest.json");
    let m = read_manifest(&mpath, UPLOAD_FORMAT)?;
    let (nb, nf) = (m.layout.sample_blocks(m.samples), m.layout.feature_blocks(m.features));
    let range = shard_blocks(&mpath, nb, k, shards)?;
    let mut common: Vec<String> =
        ["params.bin", "manifest.json", "relin.key", "galois.key"].iter().map(|s| s.to_string()).collect();
    if m.bootstrap_key_id.is_some() {
        common.push(BOOTSTRAP_KEYS_FILE.to_string());
    }
    common.extend((0..nf).map(|f| file_name(&format!("w0/{f}"))));
    let mut own = Vec::new();
    for b in range {
        for prefix in ["x", "xs"] {
            own.extend((0..nf).map(|f| file_name(&format!("{prefix}/{b}/{f}"))));
        }
        own.push(file_name(&format!("y/{b}")));
    }
    Ok((common, own))
}

/// [`shard_range`], or the manifest's error naming the shard that does not exist.
fn shard_blocks(mpath: &Path, nb: usize, k: usize, shards: usize) -> Result<std::ops::Range<usize>, UploadError> {
    shard_range(nb, k, shards)
        .ok_or_else(|| manifest_err(mpath, format!("no shard {k} of {shards} in {nb} sample blocks")))
}

/// Sample blocks `k·nb/shards .. (k+1)·nb/shards` (`None`: no such shard).
pub fn shard_range(blocks: usize, k: usize, shards: usize) -> Option<std::ops::Range<usize>> {
    (shards > 0 && k < shards && shards <= blocks).then(|| k * blocks / shards..(k + 1) * blocks / shards)
}

fn load_upload_blocks(dir: &Path, shard: Option<(usize, usize)>) -> Result<LoadedUpload, UploadError> {
    let reader = UploadReader::open(dir)?;
    let range = match shard {
        None => 0..reader.sample_blocks(),
        Some((k, shards)) => reader.shard(k, shards)?,
    };
    let data = reader.blocks(range)?;
    Ok(LoadedUpload { keys: reader.keys, data })
}

/// Bytes of one expanded ciphertext at the top level (an upper bound).
fn expanded_bytes(ctx: &Context) -> u64 {
    2 * (ctx.max_level() as u64 + 1) * ctx.n() as u64 * 8
}

/// An upload opened for reading in parts: parameters, manifest and keys
/// checked and loaded, W₀ read; the sample blocks are read on demand
/// ([`UploadReader::blocks`]), so a data set larger than memory can be
/// trained on a range at a time (the gradient is a sum over sample blocks).
pub struct UploadReader {
    dir: PathBuf,
    manifest: Manifest,
    keys: EvaluationKeySet,
    weights: Vec<Ciphertext>,
}

impl UploadReader {
    /// Reads and validates everything but the sample blocks.
    pub fn open(dir: &Path) -> Result<Self, UploadError> {
        let ppath = dir.join("params.bin");
        let params = load_params(&ppath)?;
        let ctx = Context::new(params).map_err(format_err(&ppath))?;
        let mpath = dir.join("manifest.json");
        let m = read_manifest(&mpath, UPLOAD_FORMAT)?;
        check_manifest_params(&mpath, &m, &ctx)?;
        let key_set = m.key_set_id().expect("checked by read_manifest");
        let rpath = dir.join("relin.key");
        let relin = load_relin(&ctx, &rpath)?;
        let gpath = dir.join("galois.key");
        let galois = load_galois(&ctx, &gpath)?;
        for (path, found) in [(&rpath, relin.key_set()), (&gpath, galois.key_set())] {
            if found != key_set {
                return Err(UploadError::Format {
                    path: path.clone(),
                    source: CkksError::KeySetMismatch { expected: key_set, found },
                });
            }
        }
        let bpath = dir.join(BOOTSTRAP_KEYS_FILE);
        let present = std::fs::symlink_metadata(&bpath).is_ok();
        let bootstrap = match (&m.bootstrap_key_id, present) {
            (None, false) => None,
            (None, true) => return Err(manifest_err(&mpath, format!("{BOOTSTRAP_KEYS_FILE} is not listed"))),
            (Some(_), false) => {
                return Err(manifest_err(&bpath, "bootstrapping keys listed in manifest.json but missing"));
            }
            (Some(id), true) => Some(load_bootstrap_keys(&ctx, &bpath, id)?),
        };
        let mut needed = m.layout.rotation_steps();
        if bootstrap.is_some() {
            needed.extend(setup::refresh_rotation_steps(&m.layout, m.features));
        }
        if let Some(step) = galois.first_missing_rotation(&ctx, &needed) {
            let reason = format!("no rotation key for step {step}, which training this layout needs");
            return Err(UploadError::Content { path: gpath, reason });
        }
        let keys = EvaluationKeySet::new(&ctx, relin, galois, bootstrap).map_err(format_err(dir))?;
        let mut reader = Self { dir: dir.to_path_buf(), manifest: m, keys, weights: Vec::new() };
        let nf = reader.manifest.layout.feature_blocks(reader.manifest.features);
        reader.weights = (0..nf).map(|f| reader.load(&format!("w0/{f}"), None)).collect::<Result<_, _>>()?;
        Ok(reader)
    }

    /// The upload's manifest (checked).
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The evaluation keys (checked against the manifest's key set).
    pub fn keys(&self) -> &EvaluationKeySet {
        &self.keys
    }

    /// The keys, giving the reader up.
    pub fn into_keys(self) -> EvaluationKeySet {
        self.keys
    }

    /// Sample blocks in the upload.
    pub fn sample_blocks(&self) -> usize {
        self.manifest.layout.sample_blocks(self.manifest.samples)
    }

    /// The sample blocks of shard `k` of `shards` ([`shard_range`]).
    pub fn shard(&self, k: usize, shards: usize) -> Result<std::ops::Range<usize>, UploadError> {
        shard_blocks(&self.dir.join("manifest.json"), self.sample_blocks(), k, shards)
    }

    /// Sample blocks whose expanded ciphertexts fit in `bytes` (at least
    /// one): how many to read at once when streaming.
    pub fn blocks_within(&self, bytes: u64) -> usize {
        let nf = self.manifest.layout.feature_blocks(self.manifest.features);
        let per_block = (2 * nf as u64 + 1) * expanded_bytes(self.keys.context());
        (bytes / per_block).max(1) as usize
    }

    /// The data set with sample blocks `range` only (and W₀): every block
    /// read with the validating readers, at Δ, X and the labels at W₀'s
    /// level and B̄⊙X at [`crate::mlr::server::scaled_data_level`]. Refused
    /// when the range's ciphertexts would take more than
    /// [`MAX_UPLOAD_MEMORY`] once expanded: read such an upload in parts.
    pub fn blocks(&self, range: std::ops::Range<usize>) -> Result<EncryptedDataset, UploadError> {
        let m = &self.manifest;
        let mpath = self.dir.join("manifest.json");
        let nb = self.sample_blocks();
        if range.start > range.end || range.end > nb {
            return Err(manifest_err(&mpath, format!("no sample blocks {range:?} in {nb}")));
        }
        let nf = m.layout.feature_blocks(m.features);
        let memory = ((2 * nf + 1) * range.len() + nf) as u64 * expanded_bytes(self.keys.context());
        if memory > MAX_UPLOAD_MEMORY {
            return Err(manifest_err(
                &mpath,
                format!(
                    "the ciphertexts would take {} GiB (at most {} GiB at once: read the upload in parts)",
                    memory >> 30,
                    MAX_UPLOAD_MEMORY >> 30
                ),
            ));
        }
        // The client encrypts every block at Δ and at one level: anything
        // else is refused here, by file, instead of failing mid-training.
        // B̄ ⊙ X sits where the gradient uses it (mlr::server::scaled_data_level).
        let level = self.weights.first().map(Ciphertext::level);
        let scaled = level.map(crate::mlr::server::scaled_data_level);
        // Read (unpacked, seeds expanded) in parallel: a streaming worker
        // reads every block at every iteration.
        use rayon::prelude::*;
        let load_row = |b: usize| -> Result<(Vec<Ciphertext>, Vec<Ciphertext>, Ciphertext), UploadError> {
            let row = |prefix: &str, level| -> Result<Vec<Ciphertext>, UploadError> {
                (0..nf).into_par_iter().map(|f| self.load(&format!("{prefix}/{b}/{f}"), level)).collect()
            };
            Ok((row("x", level)?, row("xs", scaled)?, self.load(&format!("y/{b}"), level)?))
        };
        let rows = range.into_par_iter().map(load_row).collect::<Result<Vec<_>, _>>()?;
        let mut data = EncryptedDataset {
            layout: m.layout,
            samples: m.samples,
            features: m.features,
            classes: m.classes,
            x: Vec::with_capacity(rows.len()),
            x_scaled: Vec::with_capacity(rows.len()),
            labels: Vec::with_capacity(rows.len()),
            weights: self.weights.clone(),
        };
        for (x, xs, y) in rows {
            data.x.push(x);
            data.x_scaled.push(xs);
            data.labels.push(y);
        }
        Ok(data)
    }

    /// One ciphertext `label`, bound to its role, at Δ and at `level` (when given).
    fn load(&self, label: &str, level: Option<usize>) -> Result<Ciphertext, UploadError> {
        let ctx = self.keys.context();
        let path = self.dir.join(file_name(label));
        let key_set = self.keys.key_set();
        let binding = upload_binding(key_set, label).map_err(format_err(&path))?;
        let ct = load_seeded(ctx, &path, &binding)?;
        if ct.scale() != ctx.params().scale() {
            let reason = format!("scale {:e} is not the job's Δ = {:e}", ct.scale(), ctx.params().scale());
            return Err(UploadError::Content { path, reason });
        }
        match level {
            Some(l) if l != ct.level() => {
                let reason = format!("level {} where the job needs {l}", ct.level());
                Err(UploadError::Content { path, reason })
            }
            _ => Ok(ct),
        }
    }
}

/// Writes the encrypted model (W and V blocks after `iterations`) and its
/// manifest, bound to the key set of the upload it was trained on.
pub fn save_model(
    dir: &Path,
    keys: &EvaluationKeySet,
    data: &EncryptedDataset,
    model: &EncryptedModel,
) -> Result<u64, UploadError> {
    let ctx = keys.context();
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut manifest = Manifest::describe(MODEL_FORMAT, ctx, data, keys.key_set());
    manifest.iterations = Some(model.iterations);
    let mut total = write(&dir.join("manifest.json"), &serde_json::to_vec_pretty(&manifest).expect("serializes"))?;
    for (seq, blocks) in [("w", &model.w), ("v", &model.v)] {
        for (fb, ct) in blocks.iter().enumerate() {
            let path = dir.join(format!("{seq}-{fb}.ct"));
            let binding = model_binding(keys.key_set(), seq, fb).map_err(format_err(&path))?;
            total += write(&path, &ct.to_bytes(ctx, &binding))?;
        }
    }
    Ok(total)
}

/// Most iterations a model manifest may claim.
pub const MAX_MODEL_ITERATIONS: usize = 10_000;

/// Reads an encrypted model for the client's context and key set: the
/// manifest must describe `layout`, `classes` and `features` (the client's
/// own job) and every file must be bound to `key_set` and its position.
/// The ciphertexts' levels, scales and values are the client's next check
/// (`mlr::client::TrainingClient::release_model`).
pub fn load_model(
    dir: &Path,
    ctx: &Arc<Context>,
    key_set: KeySetId,
    job: (&Layout, usize, usize),
) -> Result<(Manifest, EncryptedModel), UploadError> {
    let (layout, classes, features) = job;
    let mpath = dir.join("manifest.json");
    let m = read_manifest(&mpath, MODEL_FORMAT)?;
    check_manifest_params(&mpath, &m, ctx)?;
    if m.key_set_id() != Some(key_set) {
        return Err(manifest_err(&mpath, "trained on an upload of another key set"));
    }
    if m.layout != *layout || m.classes != classes || m.features != features {
        return Err(manifest_err(&mpath, "describes another job than the client's (layout, classes or features)"));
    }
    let iterations = match m.iterations {
        Some(t) if (1..=MAX_MODEL_ITERATIONS).contains(&t) => t,
        other => {
            return Err(manifest_err(&mpath, format!("iterations {other:?} (expected 1 to {MAX_MODEL_ITERATIONS})")))
        }
    };
    let nf = layout.feature_blocks(features);
    let seq = |name: &str| -> Result<Vec<Ciphertext>, UploadError> {
        (0..nf)
            .map(|fb| {
                let path = dir.join(format!("{name}-{fb}.ct"));
                let binding = model_binding(key_set, name, fb).map_err(format_err(&path))?;
                load_ct(ctx, &path, &binding)
            })
            .collect()
    };
    let model = EncryptedModel { w: seq("w")?, v: seq("v")?, iterations };
    Ok((m, model))
}
