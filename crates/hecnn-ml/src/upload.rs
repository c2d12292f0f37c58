//! Files exchanged between client and server: the training upload (what
//! the server may read: parameters, evaluation keys, ciphertexts) and the
//! encrypted model it sends back. Every load names the file that failed.

use crate::mlr::encrypted::{EncryptedDataset, EncryptedModel};
use crate::packing::Layout;
use hecnn_ckks::circuits::BootstrapKeys;
use hecnn_ckks::{Ciphertext, CkksError, Context, GaloisKeys, Parameters, RelinKey};
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
    /// Which key set (hash of the relinearization key): binds the files of
    /// one client together, so keys or models from another key set are
    /// caught instead of decrypting to noise.
    pub key_id: String,
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
    fn describe(format: &str, ctx: &Context, data: &EncryptedDataset, key_id: String) -> Self {
        Manifest {
            format: format.into(),
            samples: data.samples,
            features: data.features,
            classes: data.classes,
            layout: data.layout,
            fingerprint: format!("{:016x}", ctx.fingerprint()),
            key_id,
            bootstrap_key_id: None,
            iterations: None,
        }
    }
}

/// Identifier of a key set: the first 8 bytes of blake3 over the
/// serialized relinearization key (`relin.key`'s contents).
pub fn key_id(relin_key_bytes: &[u8]) -> String {
    hash_id(&blake3::hash(relin_key_bytes))
}

const UPLOAD_FORMAT: &str = "hecnn-training-upload-v1";
const MODEL_FORMAT: &str = "hecnn-encrypted-model-v1";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> UploadError + '_ {
    move |source| UploadError::Io { path: path.to_path_buf(), source }
}

/// Reads a file, refusing anything above `limit` bytes before reading it.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, UploadError> {
    let meta = std::fs::metadata(path).map_err(io(path))?;
    if meta.len() > limit {
        return Err(UploadError::Manifest {
            path: path.to_path_buf(),
            reason: format!("{} bytes exceeds the {limit}-byte limit", meta.len()),
        });
    }
    std::fs::read(path).map_err(io(path))
}

fn write(path: &Path, bytes: &[u8]) -> Result<u64, UploadError> {
    std::fs::write(path, bytes).map_err(io(path))?;
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

/// Streams `serialize` into `path`; returns (bytes written, [`key_id`] of them).
pub fn write_streamed(
    path: &Path,
    serialize: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<u64>,
) -> Result<(u64, String), UploadError> {
    let file = std::fs::File::create(path).map_err(io(path))?;
    let mut out = HashingFile { file, hasher: blake3::Hasher::new() };
    let len = serialize(&mut out).and_then(|len| out.file.sync_all().map(|()| len)).map_err(io(path))?;
    Ok((len, hash_id(&out.hasher.finalize())))
}

fn hash_id(h: &blake3::Hash) -> String {
    h.as_bytes()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn load_ct(ctx: &Arc<Context>, path: &Path) -> Result<Ciphertext, UploadError> {
    let bytes = read_bounded(path, MAX_OBJECT)?;
    Ciphertext::from_bytes(ctx, &bytes).map_err(|source| UploadError::Format { path: path.to_path_buf(), source })
}

/// Loads parameters from a file; insecure sets are refused.
pub fn load_params(path: &Path) -> Result<Parameters, UploadError> {
    let bytes = read_bounded(path, MAX_MANIFEST)?;
    Parameters::from_bytes(&bytes, false).map_err(|source| UploadError::Format { path: path.to_path_buf(), source })
}

/// Loads a relinearization key and its key-set identifier.
pub fn load_relin(ctx: &Arc<Context>, path: &Path) -> Result<(RelinKey, String), UploadError> {
    let bytes = read_bounded(path, MAX_OBJECT)?;
    let key =
        RelinKey::from_bytes(ctx, &bytes).map_err(|source| UploadError::Format { path: path.to_path_buf(), source })?;
    Ok((key, key_id(&bytes)))
}

/// Loads Galois keys.
pub fn load_galois(ctx: &Arc<Context>, path: &Path) -> Result<GaloisKeys, UploadError> {
    let bytes = read_bounded(path, MAX_OBJECT)?;
    GaloisKeys::from_bytes(ctx, &bytes).map_err(|source| UploadError::Format { path: path.to_path_buf(), source })
}

fn block_names(prefix: &str, rows: usize, cols: usize) -> Vec<Vec<String>> {
    (0..rows).map(|b| (0..cols).map(|f| format!("{prefix}-{b}-{f}.ct")).collect()).collect()
}

/// Writes the upload: parameters, evaluation keys (with the bootstrapping
/// keys when given), manifest, ciphertexts. Returns the number of bytes
/// written.
pub fn save_upload(
    dir: &Path,
    ctx: &Context,
    rlk: &RelinKey,
    gk: &GaloisKeys,
    boot: Option<&BootstrapKeys>,
    data: &EncryptedDataset,
) -> Result<u64, UploadError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut total = write(&dir.join("params.bin"), &ctx.params().to_bytes())?;
    let relin_bytes = rlk.to_bytes(ctx);
    total += write(&dir.join("relin.key"), &relin_bytes)?;
    total += write_streamed(&dir.join("galois.key"), |out| gk.write_to(ctx, out))?.0;
    let mut manifest = Manifest::describe(UPLOAD_FORMAT, ctx, data, key_id(&relin_bytes));
    if let Some(keys) = boot {
        let (len, id) = write_streamed(&dir.join(BOOTSTRAP_KEYS_FILE), |out| keys.write_to(ctx, out))?;
        manifest.bootstrap_key_id = Some(id);
        total += len;
    }
    let json = serde_json::to_vec_pretty(&manifest).expect("manifest serializes");
    total += write(&dir.join("manifest.json"), &json)?;
    let (nb, nf) = (data.x.len(), data.weights.len());
    for (prefix, blocks) in [("x", &data.x), ("xs", &data.x_scaled)] {
        for (row, names) in blocks.iter().zip(block_names(prefix, nb, nf)) {
            for (ct, name) in row.iter().zip(names) {
                total += write(&dir.join(name), &ct.to_bytes(ctx))?;
            }
        }
    }
    for (b, ct) in data.labels.iter().enumerate() {
        total += write(&dir.join(format!("y-{b}.ct")), &ct.to_bytes(ctx))?;
    }
    for (fb, ct) in data.weights.iter().enumerate() {
        total += write(&dir.join(format!("w0-{fb}.ct")), &ct.to_bytes(ctx))?;
    }
    Ok(total)
}

/// An upload as the server sees it.
pub struct LoadedUpload {
    /// Context of the uploaded parameters (checked 128-bit secure).
    pub ctx: Arc<Context>,
    /// Relinearization key.
    pub relin: RelinKey,
    /// Key-set identifier from the manifest (checked against `relin`).
    pub key_id: String,
    /// Rotation keys.
    pub galois: GaloisKeys,
    /// Bootstrapping keys, when the client sent them (`bootstrap.key`).
    pub bootstrap: Option<BootstrapKeys>,
    /// The encrypted dataset.
    pub data: EncryptedDataset,
}

fn read_manifest(path: &Path, format: &str) -> Result<Manifest, UploadError> {
    let bytes = read_bounded(path, MAX_MANIFEST)?;
    let m: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| UploadError::Manifest { path: path.to_path_buf(), reason: e.to_string() })?;
    if m.format != format {
        return Err(UploadError::Manifest { path: path.to_path_buf(), reason: format!("format {:?}", m.format) });
    }
    let l = &m.layout;
    let sane = m.samples > 0
        && m.features > 0
        && m.classes > 0
        && m.samples <= 1 << 20
        && m.features <= 1 << 16
        && l.samples_per_block.is_power_of_two()
        && l.features_per_block.is_power_of_two()
        && l.class_slots.is_power_of_two()
        && l.class_slots >= m.classes
        && l.samples_per_block.checked_mul(l.features_per_block).and_then(|x| x.checked_mul(l.class_slots))
            == Some(l.slots);
    if !sane {
        return Err(UploadError::Manifest { path: path.to_path_buf(), reason: "inconsistent sizes or layout".into() });
    }
    Ok(m)
}

/// Reads and validates an upload directory (parameters, keys, every ciphertext).
pub fn load_upload(dir: &Path) -> Result<LoadedUpload, UploadError> {
    let params = load_params(&dir.join("params.bin"))?;
    let ctx = Context::new(params).map_err(|source| UploadError::Format { path: dir.join("params.bin"), source })?;
    let mpath = dir.join("manifest.json");
    let m = read_manifest(&mpath, UPLOAD_FORMAT)?;
    if m.fingerprint != format!("{:016x}", ctx.fingerprint()) || m.layout.slots != ctx.n() / 2 {
        return Err(UploadError::Manifest { path: mpath, reason: "made for other parameters".into() });
    }
    let (relin, relin_id) = load_relin(&ctx, &dir.join("relin.key"))?;
    if relin_id != m.key_id {
        return Err(UploadError::Manifest {
            path: dir.join("relin.key"),
            reason: "relinearization key of another key set than the manifest's".into(),
        });
    }
    let galois = load_galois(&ctx, &dir.join("galois.key"))?;
    let bpath = dir.join(BOOTSTRAP_KEYS_FILE);
    let bootstrap = match (&m.bootstrap_key_id, bpath.exists()) {
        (None, false) => None,
        (None, true) => {
            return Err(UploadError::Manifest { path: mpath, reason: format!("{BOOTSTRAP_KEYS_FILE} is not listed") })
        }
        (Some(_), false) => {
            return Err(UploadError::Manifest {
                path: bpath,
                reason: "bootstrapping keys listed in manifest.json but missing".into(),
            })
        }
        (Some(id), true) => {
            let bytes = read_bounded(&bpath, MAX_BOOTSTRAP_KEYS)?;
            if key_id(&bytes) != *id {
                return Err(UploadError::Manifest {
                    path: bpath,
                    reason: "bootstrapping keys other than the manifest's (another key set, or altered)".into(),
                });
            }
            let keys = BootstrapKeys::from_bytes(&ctx, &bytes);
            Some(keys.map_err(|source| UploadError::Format { path: bpath, source })?)
        }
    };
    let (nb, nf) = (m.layout.sample_blocks(m.samples), m.layout.feature_blocks(m.features));
    let blocks = |prefix: &str| -> Result<Vec<Vec<Ciphertext>>, UploadError> {
        block_names(prefix, nb, nf)
            .into_iter()
            .map(|row| row.into_iter().map(|name| load_ct(&ctx, &dir.join(name))).collect())
            .collect()
    };
    let data = EncryptedDataset {
        layout: m.layout,
        samples: m.samples,
        features: m.features,
        classes: m.classes,
        x: blocks("x")?,
        x_scaled: blocks("xs")?,
        labels: (0..nb).map(|b| load_ct(&ctx, &dir.join(format!("y-{b}.ct")))).collect::<Result<_, _>>()?,
        weights: (0..nf).map(|fb| load_ct(&ctx, &dir.join(format!("w0-{fb}.ct")))).collect::<Result<_, _>>()?,
    };
    Ok(LoadedUpload { ctx, relin, key_id: m.key_id, galois, bootstrap, data })
}

/// Writes the encrypted model (W and V blocks after `iterations`) and its
/// manifest, tagged with the key set of the upload it was trained on.
pub fn save_model(
    dir: &Path,
    ctx: &Context,
    data: &EncryptedDataset,
    model: &EncryptedModel,
    key_id: &str,
    iterations: usize,
) -> Result<u64, UploadError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut manifest = Manifest::describe(MODEL_FORMAT, ctx, data, key_id.to_string());
    manifest.iterations = Some(iterations);
    let mut total = write(&dir.join("manifest.json"), &serde_json::to_vec_pretty(&manifest).expect("serializes"))?;
    for (prefix, blocks) in [("w", &model.w), ("v", &model.v)] {
        for (fb, ct) in blocks.iter().enumerate() {
            total += write(&dir.join(format!("{prefix}-{fb}.ct")), &ct.to_bytes(ctx))?;
        }
    }
    Ok(total)
}

/// Reads an encrypted model for the client's context and key set.
pub fn load_model(
    dir: &Path,
    ctx: &Arc<Context>,
    key_id: &str,
) -> Result<(Manifest, Vec<Ciphertext>, Vec<Ciphertext>), UploadError> {
    let mpath = dir.join("manifest.json");
    let m = read_manifest(&mpath, MODEL_FORMAT)?;
    if m.fingerprint != format!("{:016x}", ctx.fingerprint()) {
        return Err(UploadError::Manifest { path: mpath, reason: "made for other parameters".into() });
    }
    if m.key_id != key_id {
        return Err(UploadError::Manifest { path: mpath, reason: "trained on an upload of another key set".into() });
    }
    let nf = m.layout.feature_blocks(m.features);
    let w = (0..nf).map(|fb| load_ct(ctx, &dir.join(format!("w-{fb}.ct")))).collect::<Result<_, _>>()?;
    let v = (0..nf).map(|fb| load_ct(ctx, &dir.join(format!("v-{fb}.ct")))).collect::<Result<_, _>>()?;
    Ok((m, w, v))
}
