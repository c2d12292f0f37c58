//! Files an adversary may control: FIFOs, links to `/dev/zero`, links to
//! regular files, directories, oversize files are refused (quickly, and
//! before reading); private files are 0600, new, never written through a
//! link; the private directory is 0700.

#![cfg(unix)]

use hecnn_ml::safe_fs::{
    create_new, create_private_dir, open_bounded, read_bounded, write_atomic, write_new, write_private_new, FileKind,
    SafeFsError, Visibility,
};
use hecnn_ml::upload::{self, UploadError};
use std::io::Read;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(rc, 0, "mkfifo {}: {}", path.display(), std::io::Error::last_os_error());
}

/// Runs `f` on a thread and fails the test if it has not returned within
/// 2 s: a regression that blocks on a FIFO fails instead of hanging CI.
fn within_2s<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let t = Instant::now();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(2)) {
        Ok(v) => {
            assert!(t.elapsed() < Duration::from_secs(2));
            v
        }
        Err(_) => panic!("{what}: still blocked after 2 s"),
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

fn one_line(e: &dyn std::fmt::Display) -> String {
    let s = e.to_string();
    assert!(!s.contains('\n'), "not one line: {s:?}");
    s
}

#[test]
fn a_fifo_is_refused_without_blocking() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("manifest.json");
    mkfifo(&fifo);
    let p = fifo.clone();
    let err = within_2s("read_bounded on a FIFO", move || read_bounded(&p, 1 << 20)).unwrap_err();
    assert!(matches!(&err, SafeFsError::NotRegular { path, kind: FileKind::Fifo } if *path == fifo), "{err:?}");
    assert_eq!(one_line(&err), format!("{}: is a FIFO (named pipe), not a regular file; refused", fifo.display()));
    let p = fifo.clone();
    let err = within_2s("open_bounded on a FIFO", move || open_bounded(&p, 1 << 20)).unwrap_err();
    assert!(matches!(err, SafeFsError::NotRegular { kind: FileKind::Fifo, .. }), "{err:?}");
    // Through a link: refused as a link, still without blocking.
    let link = tmp.path().join("galois.key");
    symlink(&fifo, &link).unwrap();
    let p = link.clone();
    let err = within_2s("read_bounded on a link to a FIFO", move || read_bounded(&p, 1 << 20)).unwrap_err();
    assert!(matches!(&err, SafeFsError::Symlink { path } if *path == link), "{err:?}");
}

#[test]
fn links_are_refused_whatever_they_point_to() {
    let tmp = tempfile::tempdir().unwrap();
    let zero = tmp.path().join("secret.key");
    symlink("/dev/zero", &zero).unwrap();
    let p = zero.clone();
    let err = within_2s("read_bounded on a link to /dev/zero", move || read_bounded(&p, 1 << 30)).unwrap_err();
    assert!(matches!(&err, SafeFsError::Symlink { path } if *path == zero), "{err:?}");
    assert_eq!(
        one_line(&err),
        format!("{}: is a symbolic link; refused (links are not followed here)", zero.display())
    );
    assert!(matches!(open_bounded(&zero, 1 << 30), Err(SafeFsError::Symlink { .. })));

    let target = tmp.path().join("real.json");
    std::fs::write(&target, b"{}").unwrap();
    let link = tmp.path().join("client.json");
    symlink(&target, &link).unwrap();
    let err = read_bounded(&link, 1 << 20).unwrap_err();
    assert!(matches!(&err, SafeFsError::Symlink { path } if *path == link), "{err:?}");
    // The device itself, named directly: refused before it is even opened.
    let err = within_2s("read_bounded on /dev/zero", || read_bounded(Path::new("/dev/zero"), 1 << 30)).unwrap_err();
    assert!(matches!(err, SafeFsError::NotRegular { kind: FileKind::CharDevice, .. }), "{err:?}");
    assert_eq!(one_line(&err), "/dev/zero: is a character device, not a regular file; refused");
}

#[test]
fn a_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("x-0-0.ct");
    std::fs::create_dir(&dir).unwrap();
    let err = read_bounded(&dir, 1 << 20).unwrap_err();
    assert!(matches!(&err, SafeFsError::NotRegular { path, kind: FileKind::Directory } if *path == dir), "{err:?}");
    assert_eq!(one_line(&err), format!("{}: is a directory, not a regular file; refused", dir.display()));
}

#[test]
fn an_oversize_file_is_refused_before_reading() {
    let tmp = tempfile::tempdir().unwrap();
    let small = tmp.path().join("small.bin");
    std::fs::write(&small, [7u8; 11]).unwrap();
    let err = read_bounded(&small, 10).unwrap_err();
    assert!(matches!(&err, SafeFsError::TooLarge { path, len: 11, limit: 10 } if *path == small), "{err:?}");
    assert_eq!(one_line(&err), format!("{}: 11 bytes exceeds the 10-byte limit; refused", small.display()));
    // A sparse 1 TiB file under a 1 GiB limit: the length reported is the
    // file's own (from fstat), not the limit + 1 a read would stop at, and
    // nothing is allocated or read.
    let huge = tmp.path().join("huge.bin");
    std::fs::File::create(&huge).unwrap().set_len(1 << 40).unwrap();
    let t = Instant::now();
    let err = read_bounded(&huge, 1 << 30).unwrap_err();
    assert!(matches!(err, SafeFsError::TooLarge { len, limit, .. } if len == 1 << 40 && limit == 1 << 30), "{err:?}");
    assert!(t.elapsed() < Duration::from_secs(1), "took {:?}", t.elapsed());
    assert!(matches!(open_bounded(&huge, 1 << 30), Err(SafeFsError::TooLarge { .. })));
}

#[test]
fn a_missing_file_names_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("relin.key");
    let err = read_bounded(&missing, 10).unwrap_err();
    assert!(
        matches!(&err, SafeFsError::Io { path, source } if *path == missing && source.kind() == std::io::ErrorKind::NotFound)
    );
    assert_eq!(one_line(&err), format!("{}: No such file or directory (os error 2)", missing.display()));
}

#[test]
fn a_regular_file_reads_back_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("params.bin");
    let bytes: Vec<u8> = (0..=255u8).cycle().take(100_003).collect();
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(read_bounded(&path, bytes.len() as u64).unwrap(), bytes, "limit == length is accepted");
    assert_eq!(read_bounded(&path, 1 << 30).unwrap(), bytes);
    let (file, len) = open_bounded(&path, 1 << 30).unwrap();
    assert_eq!(len, bytes.len() as u64);
    let mut back = Vec::new();
    file.take(len).read_to_end(&mut back).unwrap();
    assert_eq!(back, bytes);
    let empty = tmp.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    assert_eq!(read_bounded(&empty, 0).unwrap(), Vec::<u8>::new());
}

#[test]
fn private_files_are_new_0600_and_never_written_through_a_link() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("secret.key");
    write_private_new(&key, b"secret").unwrap();
    assert_eq!(std::fs::read(&key).unwrap(), b"secret");
    assert_eq!(mode(&key), 0o600);

    // An existing file is not overwritten.
    let err = write_private_new(&key, b"other").unwrap_err();
    assert!(
        matches!(&err, SafeFsError::Io { path, source } if *path == key && source.kind() == std::io::ErrorKind::AlreadyExists),
        "{err:?}"
    );
    assert_eq!(one_line(&err), format!("{}: File exists (os error 17)", key.display()));
    assert_eq!(std::fs::read(&key).unwrap(), b"secret");

    // A link planted at the path (to an existing file, or dangling) is
    // refused; its target is untouched or not created.
    let victim = tmp.path().join("victim");
    std::fs::write(&victim, b"keep me").unwrap();
    let planted = tmp.path().join("weights.json");
    symlink(&victim, &planted).unwrap();
    let err = write_private_new(&planted, b"leak").unwrap_err();
    assert!(matches!(&err, SafeFsError::Symlink { path } if *path == planted), "{err:?}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
    let dangling = tmp.path().join("client.json");
    let nowhere = tmp.path().join("created-through-link");
    symlink(&nowhere, &dangling).unwrap();
    assert!(matches!(write_private_new(&dangling, b"leak"), Err(SafeFsError::Symlink { .. })));
    assert!(matches!(write_new(&dangling, b"leak"), Err(SafeFsError::Symlink { .. })));
    assert!(matches!(create_new(&dangling, Visibility::Public), Err(SafeFsError::Symlink { .. })));
    assert!(!nowhere.exists());
}

#[test]
fn public_files_are_new_and_at_most_0644() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("relin.key");
    write_new(&path, b"public").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"public");
    let m = mode(&path);
    assert_eq!(m & 0o600, 0o600, "{m:o}");
    assert_eq!(m & !0o644, 0, "{m:o}: 0644 less the umask");
    assert!(matches!(write_new(&path, b"again"), Err(SafeFsError::Io { .. })));
    assert_eq!(std::fs::read(&path).unwrap(), b"public");
}

#[test]
fn atomic_replace_writes_0600_and_replaces_a_planted_link() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("client.json");
    write_atomic(&path, b"first", Visibility::Private).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"first");
    assert_eq!(mode(&path), 0o600);
    write_atomic(&path, b"second, longer", Visibility::Private).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"second, longer");

    let victim = tmp.path().join("victim");
    std::fs::write(&victim, b"keep me").unwrap();
    let out = tmp.path().join("weights.json");
    symlink(&victim, &out).unwrap();
    write_atomic(&out, b"weights", Visibility::Private).unwrap();
    assert!(std::fs::symlink_metadata(&out).unwrap().file_type().is_file(), "the link itself was replaced");
    assert_eq!(std::fs::read(&out).unwrap(), b"weights");
    assert_eq!(mode(&out), 0o600);
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");

    // A directory in the way: an error naming the path, no temporary left.
    let dir = tmp.path().join("taken");
    std::fs::create_dir(&dir).unwrap();
    let err = write_atomic(&dir, b"x", Visibility::Private).unwrap_err();
    assert_eq!(err.path(), dir);
    let mut names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    names.sort();
    assert_eq!(names, ["client.json", "taken", "victim", "weights.json"]);
}

#[test]
fn the_private_dir_is_0700_and_a_link_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("a/b/keys");
    create_private_dir(&keys).unwrap();
    assert!(keys.is_dir());
    assert_eq!(mode(&keys), 0o700);

    // An existing (empty) directory is accepted and tightened.
    let existing = tmp.path().join("existing");
    std::fs::create_dir(&existing).unwrap();
    std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o755)).unwrap();
    create_private_dir(&existing).unwrap();
    assert_eq!(mode(&existing), 0o700);

    // A link to a directory is refused, and the target keeps its mode.
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o755)).unwrap();
    let link = tmp.path().join("linked-keys");
    symlink(&elsewhere, &link).unwrap();
    let err = create_private_dir(&link).unwrap_err();
    assert!(matches!(&err, SafeFsError::Symlink { path } if *path == link), "{err:?}");
    assert_eq!(mode(&elsewhere), 0o755);

    // A regular file in the way.
    let file = tmp.path().join("file");
    std::fs::write(&file, b"").unwrap();
    let err = create_private_dir(&file).unwrap_err();
    assert_eq!(one_line(&err), format!("{}: exists and is not a directory", file.display()));
}

fn params_file(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("params.bin");
    std::fs::write(&path, hecnn_ckks::Preset::Light.params().to_bytes()).unwrap();
    path
}

#[test]
fn an_upload_with_a_fifo_manifest_is_refused_without_blocking() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("upload");
    params_file(&dir);
    let manifest = dir.join("manifest.json");
    mkfifo(&manifest);
    let d = dir.clone();
    let err = within_2s("load_upload", move || upload::load_upload(&d).err()).expect("refused");
    assert!(matches!(&err, UploadError::File(SafeFsError::NotRegular { kind: FileKind::Fifo, .. })), "{err:?}");
    assert_eq!(err.to_string(), format!("{}: is a FIFO (named pipe), not a regular file; refused", manifest.display()));
}

#[test]
fn a_model_manifest_linked_to_dev_zero_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("model");
    std::fs::create_dir(&dir).unwrap();
    let manifest = dir.join("manifest.json");
    symlink("/dev/zero", &manifest).unwrap();
    let ctx = hecnn_ckks::Context::new(hecnn_ckks::Preset::Light.params()).unwrap();
    let layout = hecnn_ml::packing::Layout::choose(128, 241, 10, ctx.n() / 2).unwrap();
    let job = move || upload::load_model(&dir, &ctx, hecnn_ckks::KeySetId([1; 16]), (&layout, 10, 241)).err();
    let err = within_2s("load_model", job).expect("refused");
    assert!(matches!(&err, UploadError::File(SafeFsError::Symlink { .. })), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("{}: is a symbolic link; refused (links are not followed here)", manifest.display())
    );
}

#[test]
fn upload_params_bin_as_a_directory_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("params.bin");
    std::fs::create_dir(&path).unwrap();
    let err = upload::load_params(&path).expect_err("refused");
    assert_eq!(err.to_string(), format!("{}: is a directory, not a regular file; refused", path.display()));
}

proptest::proptest! {
    /// A name that travels between client and server (dataset files, a
    /// downloaded model's files) can never leave its directory: whatever
    /// `is_plain_file_name` accepts joins to a direct child.
    #[test]
    fn plain_file_names_stay_in_their_directory(name in "\\PC{0,80}") {
        if hecnn_ml::safe_fs::is_plain_file_name(&name) {
            let dir = Path::new("/base/dir");
            let joined = dir.join(&name);
            proptest::prop_assert_eq!(joined.parent(), Some(dir));
            proptest::prop_assert!(!name.contains('/') && !name.contains('\0') && name != ".." && !name.starts_with('.'));
        }
    }
}

#[test]
fn plain_file_names_refuse_paths() {
    use hecnn_ml::safe_fs::is_plain_file_name as ok;
    assert!(ok("x-0-0.ct") && ok("manifest.json"));
    for bad in ["", ".", "..", "../x", "a/b", ".hidden", "a\\b", &"a".repeat(65), "é.ct"] {
        assert!(!ok(bad), "{bad:?}");
    }
}
