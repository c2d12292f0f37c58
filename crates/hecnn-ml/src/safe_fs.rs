//! Touching files that the other party (or anyone with write access to a
//! directory) may control: upload and model directories, the key
//! directory, files named on the command line.
//!
//! The hazards, all found by fuzzing the CLI (issue 13):
//!
//! - a FIFO in place of a file makes a plain `open` block forever;
//! - a symbolic link to `/dev/zero` has `metadata().len() == 0` and reads
//!   without end, until memory runs out;
//! - `fs::write` follows a symbolic link planted at the output path and
//!   writes through it (with mode 0644);
//! - a key directory made by `create_dir_all` is 0755.
//!
//! Readers here open with `O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC`
//! (a symlink in the last component is refused, a FIFO opens without
//! waiting for a writer), `fstat` the *open handle* and refuse anything but
//! a regular file, refuse a length above the limit before allocating, and
//! then read at most `limit + 1` bytes so a file that grows while being
//! read still cannot exceed the limit. `O_NONBLOCK` has no effect on reads
//! of regular files, the only kind ever read.
//!
//! Writers create a new file with `O_CREAT | O_EXCL | O_NOFOLLOW` (never an
//! existing file, never through a link), 0600 for secrets or 0644 for
//! files meant to be shared, and fsync before returning. [`write_atomic`]
//! replaces a file that the program itself rewrites (the client state, the
//! decrypted weights) without ever writing through a planted link and
//! without leaving a truncated file behind.
//!
//! On non-unix targets the same checks are made with std alone: a symlink
//! is refused by a `symlink_metadata` check before opening (racy, where
//! unix is not), the handle's metadata must say "regular file", and modes
//! are not set.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

/// What a path turned out to be, when it is not a regular file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A named pipe.
    Fifo,
    /// A symbolic link.
    Symlink,
    /// A directory.
    Directory,
    /// A character device (`/dev/zero`, a terminal).
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A unix-domain socket.
    Socket,
    /// Anything else that is not a regular file.
    Other,
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Fifo => "FIFO (named pipe)",
            FileKind::Symlink => "symbolic link",
            FileKind::Directory => "directory",
            FileKind::CharDevice => "character device",
            FileKind::BlockDevice => "block device",
            FileKind::Socket => "socket",
            FileKind::Other => "special file",
        })
    }
}

impl FileKind {
    /// The kind of `ft`, or `None` for a regular file.
    pub fn of(ft: std::fs::FileType) -> Option<FileKind> {
        if ft.is_file() {
            return None;
        }
        if ft.is_symlink() {
            return Some(FileKind::Symlink);
        }
        if ft.is_dir() {
            return Some(FileKind::Directory);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            if ft.is_fifo() {
                return Some(FileKind::Fifo);
            }
            if ft.is_char_device() {
                return Some(FileKind::CharDevice);
            }
            if ft.is_block_device() {
                return Some(FileKind::BlockDevice);
            }
            if ft.is_socket() {
                return Some(FileKind::Socket);
            }
        }
        Some(FileKind::Other)
    }
}

/// Why a file was refused, or could not be read or written. The message is
/// one line and starts with the path.
#[derive(Debug, Error)]
pub enum SafeFsError {
    /// The path is a FIFO, directory, device or socket.
    #[error("{}: is a {kind}, not a regular file; refused", path.display())]
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What it is.
        kind: FileKind,
    },
    /// The file is larger than the caller's limit (checked before reading;
    /// `len` is `limit + 1` when the file grew while being read).
    #[error("{}: {len} bytes exceeds the {limit}-byte limit; refused", path.display())]
    TooLarge {
        /// The path.
        path: PathBuf,
        /// Its length (at least).
        len: u64,
        /// The limit.
        limit: u64,
    },
    /// The operating system refused or failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The last component of the path is a symbolic link (not followed).
    #[error("{}: is a symbolic link; refused (links are not followed here)", path.display())]
    Symlink {
        /// The path.
        path: PathBuf,
    },
}

impl SafeFsError {
    /// The path the error is about.
    pub fn path(&self) -> &Path {
        match self {
            SafeFsError::NotRegular { path, .. }
            | SafeFsError::TooLarge { path, .. }
            | SafeFsError::Io { path, .. }
            | SafeFsError::Symlink { path } => path,
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SafeFsError + '_ {
    move |source| SafeFsError::Io { path: path.to_path_buf(), source }
}

/// The clearest error for an `open` of `path` that failed with `e`: the
/// path is a symlink (`O_NOFOLLOW` says `ELOOP`, `O_EXCL` says `EEXIST`),
/// a socket (`ENXIO`) or another non-regular file, else the OS error itself.
fn open_error(path: &Path, e: io::Error) -> SafeFsError {
    match std::fs::symlink_metadata(path).ok().and_then(|m| FileKind::of(m.file_type())) {
        Some(FileKind::Symlink) => SafeFsError::Symlink { path: path.to_path_buf() },
        Some(kind) => SafeFsError::NotRegular { path: path.to_path_buf(), kind },
        None => SafeFsError::Io { path: path.to_path_buf(), source: e },
    }
}

/// Refuses a path whose last component is not a regular file, without
/// opening it (a device is never opened). The handle is checked again
/// after opening, which is what closes the race.
fn precheck(path: &Path) -> Result<(), SafeFsError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) => match FileKind::of(m.file_type()) {
            None => Ok(()),
            Some(FileKind::Symlink) => Err(SafeFsError::Symlink { path: path.to_path_buf() }),
            Some(kind) => Err(SafeFsError::NotRegular { path: path.to_path_buf(), kind }),
        },
        Err(e) => Err(SafeFsError::Io { path: path.to_path_buf(), source: e }),
    }
}

/// Opens `path` for reading as a regular file of at most `limit` bytes,
/// for a reader that parses from the handle; returns it with its length
/// (from `fstat` on the handle). A symlink, FIFO, directory, device or
/// socket is refused without blocking; the caller should still read at
/// most `limit` bytes (`file.take(limit)`), since the file may grow.
pub fn open_bounded(path: &Path, limit: u64) -> Result<(File, u64), SafeFsError> {
    precheck(path)?;
    let mut opts = OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC);
    }
    let file = opts.open(path).map_err(|e| open_error(path, e))?;
    let meta = file.metadata().map_err(io_err(path))?;
    if let Some(kind) = FileKind::of(meta.file_type()) {
        return Err(SafeFsError::NotRegular { path: path.to_path_buf(), kind });
    }
    if meta.len() > limit {
        return Err(SafeFsError::TooLarge { path: path.to_path_buf(), len: meta.len(), limit });
    }
    Ok((file, meta.len()))
}

/// Whether `name` is a plain file name that can travel between client and
/// server: 1–64 characters of `[A-Za-z0-9._-]`, not starting with a dot (so
/// no separator, no `..`, nothing hidden).
pub fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

/// Reads a regular file of at most `limit` bytes (see [`open_bounded`]).
/// The buffer is allocated once, for the length `fstat` reports; a file
/// that grows past `limit` while being read is refused with
/// [`SafeFsError::TooLarge`].
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, SafeFsError> {
    read_bounded_checked(path, limit, 0, |_, _| Ok(()))
}

/// [`read_bounded`], but first reads up to `prefix_len` bytes and passes
/// them, with the file's length, to `check`: a file whose header says it is
/// not what the caller expects is refused before the rest is read or its
/// buffer allocated.
pub fn read_bounded_checked<E: From<SafeFsError>>(
    path: &Path,
    limit: u64,
    prefix_len: usize,
    check: impl FnOnce(&[u8], u64) -> Result<(), E>,
) -> Result<Vec<u8>, E> {
    let (file, len) = open_bounded(path, limit)?;
    let too_large = |len| SafeFsError::TooLarge { path: path.to_path_buf(), len, limit };
    let mut file = file.take(limit.saturating_add(1));
    let mut prefix = Vec::with_capacity(prefix_len);
    (&mut file).take(prefix_len as u64).read_to_end(&mut prefix).map_err(io_err(path))?;
    check(&prefix, len)?;
    let cap = usize::try_from(len).map_err(|_| too_large(len))?;
    let mut bytes = prefix;
    bytes.try_reserve_exact(cap.saturating_sub(bytes.len())).map_err(|e| SafeFsError::Io {
        path: path.to_path_buf(),
        source: io::Error::new(io::ErrorKind::OutOfMemory, format!("cannot allocate {len} bytes: {e}")),
    })?;
    file.read_to_end(&mut bytes).map_err(io_err(path))?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64).into());
    }
    Ok(bytes)
}

/// Who may read a file written here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// 0600: secrets and the client's own files.
    Private,
    /// 0644: files meant to be handed to someone else (evaluation keys,
    /// ciphertexts, manifests).
    Public,
}

impl Visibility {
    #[cfg(unix)]
    fn mode(self) -> u32 {
        match self {
            Visibility::Private => 0o600,
            Visibility::Public => 0o644,
        }
    }
}

/// Creates a NEW file for writing: `O_CREAT | O_EXCL | O_NOFOLLOW`, mode
/// by `visibility` (less the umask). An existing file, or a symlink
/// planted at `path` (even a dangling one), is refused.
pub fn create_new(path: &Path, visibility: Visibility) -> Result<File, SafeFsError> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(visibility.mode()).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    }
    #[cfg(not(unix))]
    let _ = visibility;
    opts.open(path).map_err(|e| open_error(path, e))
}

fn write_new_with(path: &Path, bytes: &[u8], visibility: Visibility) -> Result<(), SafeFsError> {
    let mut file = create_new(path, visibility)?;
    let done = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(e) = done {
        drop(file);
        // We created it (O_EXCL): do not leave a truncated file behind.
        let _ = std::fs::remove_file(path);
        return Err(SafeFsError::Io { path: path.to_path_buf(), source: e });
    }
    Ok(())
}

/// Writes `bytes` to a NEW file, mode 0600, never through a link; fsyncs.
pub fn write_private_new(path: &Path, bytes: &[u8]) -> Result<(), SafeFsError> {
    write_new_with(path, bytes, Visibility::Private)
}

/// Writes `bytes` to a NEW file, mode 0644, never through a link; fsyncs.
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<(), SafeFsError> {
    write_new_with(path, bytes, Visibility::Public)
}

/// Writes `bytes` to `path`, replacing what is there, atomically: a new
/// temporary file in the same directory (exclusive, no-follow, mode by
/// `visibility`) is written and fsynced, then renamed over `path`. Readers
/// see the old file or the complete new one, never a truncated one; a
/// symlink planted at `path` is replaced, not written through; a
/// directory at `path` is an error.
///
/// For files the program itself rewrites: the client state `client.json`
/// (each `hecnn encrypt` with the same keys replaces it) and the decrypted
/// weights (`decrypt-model --out` may name an existing file).
pub fn write_atomic(path: &Path, bytes: &[u8], visibility: Visibility) -> Result<(), SafeFsError> {
    let name = path.file_name().ok_or_else(|| SafeFsError::Io {
        path: path.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "no file name"),
    })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let mut attempt = 0u32;
    let (tmp, mut file) = loop {
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{}.{stamp}.{attempt}.tmp", std::process::id()));
        let tmp = dir.join(tmp_name);
        match create_new(&tmp, visibility) {
            Ok(f) => break (tmp, f),
            Err(SafeFsError::Io { source, .. }) if source.kind() == io::ErrorKind::AlreadyExists && attempt < 16 => {
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    };
    let done = file.write_all(bytes).and_then(|()| file.sync_all());
    drop(file);
    if let Err(e) = done.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(SafeFsError::Io { path: path.to_path_buf(), source: e });
    }
    // Make the rename itself durable (best effort: not every system can
    // fsync a directory).
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Creates the directory `path`, mode 0700 (less the umask), with any
/// missing parents (default mode). An existing directory is accepted and
/// its mode set to 0700; a symlink at `path` is refused
/// ([`SafeFsError::Symlink`]), as is any other existing non-directory.
pub fn create_private_dir(path: &Path) -> Result<(), SafeFsError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    match builder.create(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let meta = std::fs::symlink_metadata(path).map_err(io_err(path))?;
            match FileKind::of(meta.file_type()) {
                Some(FileKind::Directory) => tighten_dir(path),
                Some(FileKind::Symlink) => Err(SafeFsError::Symlink { path: path.to_path_buf() }),
                _ => Err(SafeFsError::Io {
                    path: path.to_path_buf(),
                    source: io::Error::new(io::ErrorKind::AlreadyExists, "exists and is not a directory"),
                }),
            }
        }
        Err(e) => Err(SafeFsError::Io { path: path.to_path_buf(), source: e }),
    }
}

/// Sets an existing directory to 0700 through a no-follow handle (`fchmod`).
#[cfg(unix)]
fn tighten_dir(path: &Path) -> Result<(), SafeFsError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let dir = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| open_error(path, e))?;
    dir.set_permissions(std::fs::Permissions::from_mode(0o700)).map_err(io_err(path))
}

#[cfg(not(unix))]
fn tighten_dir(_path: &Path) -> Result<(), SafeFsError> {
    Ok(())
}
