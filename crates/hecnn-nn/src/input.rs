//! Opening the client's own input files (features CSV, MNIST IDX, ONNX and
//! `.bin` models) so that a FIFO or device named by mistake is refused
//! instead of blocking or reading forever. Links are followed (a dataset
//! may well be a symlink); readers bound their reads themselves.
//! (`hecnn_ml::safe_fs` is the strict version for files from the other
//! party; this crate sits below it.)

use std::fs::File;
use std::io;
use std::path::Path;

/// Opens `path` for reading without blocking on a FIFO, and fails with
/// `InvalidInput` unless it is a regular file.
pub fn open_regular(path: &Path) -> io::Result<File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC);
    }
    let file = opts.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        let what = if meta.is_dir() { "a directory" } else { "not a regular file (FIFO, device or socket)" };
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{what}; refused")));
    }
    Ok(file)
}
