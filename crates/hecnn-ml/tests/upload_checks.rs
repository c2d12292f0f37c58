//! What the server checks of an upload beyond its bindings, each found by
//! the attack harness (`crates/hecnn/examples/attack.rs`) as an error that
//! surfaced mid-training without naming a file, or as a read of a whole
//! multi-GB file before its first bytes were looked at.

use hecnn_ckks::serial::MAX_HEADER_LEN;
use hecnn_ckks::*;
use hecnn_ml::mlr::client::TrainingClient;
use hecnn_ml::packing::Layout;
use hecnn_ml::safe_fs::{self, SafeFsError};
use hecnn_ml::upload::{self, UploadError};
use std::path::Path;
use std::sync::Arc;

const SAMPLES: usize = 64;
const FEATURES: usize = 8;
const CLASSES: usize = 10;

struct Job {
    ctx: Arc<Context>,
    sk: SecretKey,
    layout: Layout,
}

fn job() -> Job {
    let ctx = Context::new(Preset::Light.params()).unwrap();
    let sk = SecretKey::from_seed(&ctx, [5; 32]);
    let layout = Layout::choose(SAMPLES, FEATURES, CLASSES, ctx.n() / 2).unwrap();
    Job { ctx, sk, layout }
}

/// Writes an upload of `job` into `dir` with Galois keys for `steps`.
fn write_upload(job: &Job, dir: &Path, steps: &[i64]) {
    let keys =
        EvaluationKeySet::new(&job.ctx, RelinKey::generate(&job.sk), GaloisKeys::generate(&job.sk, steps, false), None)
            .unwrap();
    let x: Vec<Vec<f64>> = (0..SAMPLES).map(|i| (0..FEATURES).map(|j| ((i + 3 * j) as f64).cos()).collect()).collect();
    let xs: Vec<Vec<f64>> = x.iter().map(|r| r.iter().map(|v| v / 8.0).collect()).collect();
    let y: Vec<u8> = (0..SAMPLES).map(|i| (i % CLASSES) as u8).collect();
    let init = vec![vec![0.0; FEATURES]; CLASSES];
    let data =
        TrainingClient::new(&job.sk).at_level(0).encrypt_dataset(&x, &xs, &y, CLASSES, &init, job.layout).unwrap();
    upload::save_upload(dir, &keys, &data).unwrap();
}

/// A seeded encryption of zeros bound as `upload/x/0/0`, at `level` and `scale`.
fn replace_first_block(job: &Job, dir: &Path, level: usize, scale: f64) {
    let pt = Encoder::new(&job.ctx).encode_real(&[0.0], job.ctx.n() / 2, level, scale).unwrap();
    let ct = Decryptor::new(&job.sk).encrypt_symmetric(&pt).unwrap();
    let binding = upload::upload_binding(job.sk.key_set(), "x/0/0").unwrap();
    let path = dir.join("x-0-0.ct");
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, ct.to_bytes(&job.ctx, &binding)).unwrap();
}

#[test]
fn an_honest_upload_loads() {
    let j = job();
    let tmp = tempfile::tempdir().unwrap();
    write_upload(&j, tmp.path(), &j.layout.rotation_steps());
    let up = upload::load_upload(tmp.path()).expect("loads");
    assert_eq!(up.data.x[0][0].scale(), j.ctx.params().scale());
}

/// Found as "scale mismatch: 1.208926e24 vs 1.208926e24" in the middle of
/// training: a block at a scale the client never encrypts at.
#[test]
fn a_block_at_another_scale_is_refused_by_name() {
    let j = job();
    let tmp = tempfile::tempdir().unwrap();
    write_upload(&j, tmp.path(), &j.layout.rotation_steps());
    let delta = j.ctx.params().scale();
    let odd = delta * (1.0 + f64::EPSILON);
    replace_first_block(&j, tmp.path(), 0, odd);
    let err = upload::load_upload(tmp.path()).err().expect("refused");
    let path = tmp.path().join("x-0-0.ct");
    assert!(matches!(&err, UploadError::Content { path: p, .. } if *p == path), "{err:?}");
    assert_eq!(err.to_string(), format!("{}: scale {odd:e} is not the job's Δ = {delta:e}", path.display()));
}

#[test]
fn a_block_at_another_level_is_refused_by_name() {
    let j = job();
    let tmp = tempfile::tempdir().unwrap();
    write_upload(&j, tmp.path(), &j.layout.rotation_steps());
    replace_first_block(&j, tmp.path(), 1, j.ctx.params().scale());
    let err = upload::load_upload(tmp.path()).err().expect("refused");
    // Every block is checked against W₀'s level: x/0/0 is the odd one out.
    let UploadError::Content { path, reason } = &err else { panic!("{err:?}") };
    assert_eq!(reason, "level 1 where the job needs 0");
    assert_eq!(path.file_name().unwrap(), "x-0-0.ct");
}

/// Found as "missing Galois key for element 2049" in the middle of
/// training, after a resealed edit of the key list in `galois.key`.
#[test]
fn galois_keys_without_a_needed_rotation_are_refused_by_name() {
    let j = job();
    let tmp = tempfile::tempdir().unwrap();
    let mut steps = j.layout.rotation_steps();
    let dropped = steps.pop().unwrap();
    write_upload(&j, tmp.path(), &steps);
    let err = upload::load_upload(tmp.path()).err().expect("refused");
    assert_eq!(
        err.to_string(),
        format!(
            "{}: no rotation key for step {dropped}, which training this layout needs",
            tmp.path().join("galois.key").display()
        )
    );
}

/// An honest upload of `job` whose file `name` is replaced by a sparse run
/// of `len` zero bytes (no disk used).
fn upload_with_sparse_file(job: &Job, name: &str, len: u64) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    write_upload(job, tmp.path(), &job.layout.rotation_steps());
    let path = tmp.path().join(name);
    std::fs::remove_file(&path).unwrap();
    std::fs::File::create(&path).unwrap().set_len(len).unwrap();
    (tmp, path)
}

/// Found as a 2 GiB read (a sparse file of zeros as `x-0-0.ct`) before
/// "bad magic bytes": a ciphertext can only be so large for its context.
#[test]
fn an_oversize_ciphertext_is_refused_before_it_is_read() {
    let j = job();
    let (tmp, _) = upload_with_sparse_file(&j, "x-0-0.ct", 1 << 31);
    let err = upload::load_upload(tmp.path()).err().expect("refused");
    let limit = 3 * (j.ctx.max_level() as u64 + 1) * j.ctx.n() as u64 * 8 + 4096;
    assert!(
        matches!(&err, UploadError::File(SafeFsError::TooLarge { len, limit: l, .. }) if *len == 1 << 31 && *l == limit),
        "{err:?}"
    );
}

/// A key file may legitimately be GBs, so its header is checked first: a
/// run of zeros is refused after [`MAX_HEADER_LEN`] bytes.
#[test]
fn a_key_file_of_zeros_is_refused_from_its_header() {
    let j = job();
    let (tmp, path) = upload_with_sparse_file(&j, "galois.key", 3 << 30);
    let err = upload::load_upload(tmp.path()).err().expect("refused");
    assert_eq!(err.to_string(), format!("{}: format error: bad magic bytes", path.display()));
}

/// The prefix check runs before the buffer for the file is allocated: a
/// 1 TiB sparse file under an unlimited limit costs its prefix only.
#[test]
fn the_prefix_check_runs_before_the_file_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("huge");
    std::fs::File::create(&path).unwrap().set_len(1 << 40).unwrap();
    let mut seen = None;
    let r: std::result::Result<Vec<u8>, SafeFsError> =
        safe_fs::read_bounded_checked(&path, u64::MAX, MAX_HEADER_LEN, |p, len| {
            seen = Some((p.len(), len));
            Err(SafeFsError::TooLarge { path: path.clone(), len, limit: 0 })
        });
    assert!(matches!(r, Err(SafeFsError::TooLarge { limit: 0, .. })), "{r:?}");
    assert_eq!(seen, Some((MAX_HEADER_LEN, 1 << 40)));

    // A file shorter than the prefix is passed whole, then read to its end.
    std::fs::write(&path, b"short").unwrap();
    let bytes = safe_fs::read_bounded_checked::<SafeFsError>(&path, 1 << 20, MAX_HEADER_LEN, |p, len| {
        assert_eq!((p, len), (&b"short"[..], 5));
        Ok(())
    });
    assert_eq!(bytes.unwrap(), b"short");
}
