//! MNIST in its original IDX format, raw or gzip-compressed.
//!
//! Files come from outside the program, so every header field is checked
//! before anything is allocated: the magic number, the image dimensions
//! (28×28), a hard cap on the declared count, and that the body holds exactly
//! the declared number of bytes. Errors name the file.
//!
//! ```
//! let mnist = hecnn_nn::mnist::Mnist::load_dir(hecnn_nn::mnist::bundled_mnist_dir()).unwrap();
//! assert_eq!(mnist.train_labels.len(), 60_000);
//! assert_eq!(&mnist.train_labels[..3], &[5, 0, 4]);
//! ```

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use thiserror::Error;

/// Magic number of an IDX file of unsigned bytes with 3 dimensions (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with 1 dimension (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// Image side in pixels; MNIST images are `SIDE × SIDE`.
pub const SIDE: usize = 28;
/// Pixels per image.
pub const PIXELS: usize = SIDE * SIDE;
/// Largest item count accepted in a header (MNIST has 60,000; EMNIST-sized
/// sets fit). Larger headers are rejected before any allocation.
pub const MAX_ITEMS: usize = 1_000_000;

/// Why an IDX file could not be read.
#[derive(Debug, Error)]
pub enum IdxError {
    /// The file could not be opened or read (including a corrupt gzip stream).
    #[error("{path}: I/O error: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is shorter than its header.
    #[error("{path}: truncated header ({len} bytes)")]
    TruncatedHeader {
        /// The file.
        path: PathBuf,
        /// Bytes present.
        len: usize,
    },
    /// The magic number is not the expected one.
    #[error("{path}: bad magic {found:#010x}, expected {expected:#010x}")]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// Magic found in the file.
        found: u32,
        /// Magic required for this kind of file.
        expected: u32,
    },
    /// Images are not 28×28.
    #[error("{path}: images are {rows}x{cols}, expected 28x28")]
    BadDimensions {
        /// The file.
        path: PathBuf,
        /// Declared rows.
        rows: u32,
        /// Declared columns.
        cols: u32,
    },
    /// The declared count exceeds [`MAX_ITEMS`].
    #[error("{path}: declared count {count} exceeds the limit {max}")]
    TooMany {
        /// The file.
        path: PathBuf,
        /// Declared count.
        count: u32,
        /// The limit.
        max: usize,
    },
    /// The body is shorter than the header declares.
    #[error("{path}: truncated: header declares {expected} data bytes, found {found}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes the header declares.
        expected: usize,
        /// Bytes present.
        found: usize,
    },
    /// Bytes follow the declared data.
    #[error("{path}: {extra} unexpected bytes after the declared data")]
    TrailingBytes {
        /// The file.
        path: PathBuf,
        /// Extra bytes (at least this many).
        extra: usize,
    },
    /// A label is not a digit 0..=9.
    #[error("{path}: label {label} at index {index} is not in 0..=9")]
    BadLabel {
        /// The file.
        path: PathBuf,
        /// Index of the label.
        index: usize,
        /// The value found.
        label: u8,
    },
    /// Image and label files disagree on the number of samples.
    #[error("{images} has {n_images} images but {labels} has {n_labels} labels")]
    CountMismatch {
        /// Image file.
        images: PathBuf,
        /// Label file.
        labels: PathBuf,
        /// Images.
        n_images: usize,
        /// Labels.
        n_labels: usize,
    },
    /// Neither the raw nor the `.gz` form of a canonical file exists.
    #[error("{dir}: neither {name} nor {name}.gz exists")]
    Missing {
        /// Directory searched.
        dir: PathBuf,
        /// Canonical file name.
        name: String,
    },
}

/// A set of 28×28 grey images, row-major, one byte per pixel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Images {
    count: usize,
    pixels: Vec<u8>,
}

impl Images {
    /// Wraps `count` images of [`PIXELS`] bytes each; `None` if the length is wrong.
    pub fn from_raw(count: usize, pixels: Vec<u8>) -> Option<Self> {
        (count.checked_mul(PIXELS) == Some(pixels.len())).then_some(Self { count, pixels })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The raw bytes of image `i` (784 bytes). Panics if `i >= len()`.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.pixels[i * PIXELS..(i + 1) * PIXELS]
    }

    /// Image `i` scaled to `[0, 1]` (pixel / 255), as the models expect.
    pub fn image_f32(&self, i: usize) -> Vec<f32> {
        self.image(i).iter().map(|&p| f32::from(p) / 255.0).collect()
    }

    /// Image `i` scaled to `[0, 1]` in f64.
    pub fn image_f64(&self, i: usize) -> Vec<f64> {
        self.image(i).iter().map(|&p| f64::from(p) / 255.0).collect()
    }

    /// All pixels, image after image.
    pub fn as_bytes(&self) -> &[u8] {
        &self.pixels
    }

    /// Images `range` as a new set (e.g. the first 128 for a client).
    pub fn slice(&self, range: std::ops::Range<usize>) -> Images {
        let range = range.start.min(self.count)..range.end.min(self.count);
        Images { count: range.len(), pixels: self.pixels[range.start * PIXELS..range.end * PIXELS].to_vec() }
    }
}

/// The four canonical MNIST files of one directory.
#[derive(Clone, Debug)]
pub struct Mnist {
    /// 60,000 training images.
    pub train_images: Images,
    /// Their labels.
    pub train_labels: Vec<u8>,
    /// 10,000 test images.
    pub test_images: Images,
    /// Their labels.
    pub test_labels: Vec<u8>,
}

impl Mnist {
    /// Loads `train-images.idx3-ubyte`, `train-labels.idx1-ubyte`,
    /// `t10k-images.idx3-ubyte`, `t10k-labels.idx1-ubyte` from `dir`, each
    /// raw or with a `.gz` suffix, and checks image and label counts agree.
    pub fn load_dir(dir: impl AsRef<Path>) -> Result<Mnist, IdxError> {
        let dir = dir.as_ref();
        let (train_images, train_labels) = load_pair(dir, "train-images.idx3-ubyte", "train-labels.idx1-ubyte")?;
        let (test_images, test_labels) = load_pair(dir, "t10k-images.idx3-ubyte", "t10k-labels.idx1-ubyte")?;
        Ok(Mnist { train_images, train_labels, test_images, test_labels })
    }
}

/// `data/mnist` of this repository (the bundled copy of MNIST).
pub fn bundled_mnist_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist")
}

fn load_pair(dir: &Path, images: &str, labels: &str) -> Result<(Images, Vec<u8>), IdxError> {
    let ip = find(dir, images)?;
    let lp = find(dir, labels)?;
    let imgs = load_images(&ip)?;
    let labs = load_labels(&lp)?;
    if imgs.len() != labs.len() {
        return Err(IdxError::CountMismatch { images: ip, labels: lp, n_images: imgs.len(), n_labels: labs.len() });
    }
    Ok((imgs, labs))
}

fn find(dir: &Path, name: &str) -> Result<PathBuf, IdxError> {
    let raw = dir.join(name);
    if raw.is_file() {
        return Ok(raw);
    }
    let gz = dir.join(format!("{name}.gz"));
    if gz.is_file() {
        return Ok(gz);
    }
    Err(IdxError::Missing { dir: dir.to_path_buf(), name: name.to_string() })
}

/// Loads an IDX image file (raw, or gzip when the name ends in `.gz`).
pub fn load_images(path: impl AsRef<Path>) -> Result<Images, IdxError> {
    let path = path.as_ref();
    let bytes = read_file(path, 16 + MAX_ITEMS * PIXELS)?;
    parse_images(&bytes, path)
}

/// Loads an IDX label file (raw, or gzip when the name ends in `.gz`).
pub fn load_labels(path: impl AsRef<Path>) -> Result<Vec<u8>, IdxError> {
    let path = path.as_ref();
    let bytes = read_file(path, 8 + MAX_ITEMS)?;
    parse_labels(&bytes, path)
}

/// Parses the bytes of an (uncompressed) IDX image file; `path` only names it in errors.
pub fn parse_images(bytes: &[u8], path: &Path) -> Result<Images, IdxError> {
    let header = header(bytes, path, 16, IMAGES_MAGIC)?;
    let count = header[0];
    let (rows, cols) = (header[1], header[2]);
    if rows as usize != SIDE || cols as usize != SIDE {
        return Err(IdxError::BadDimensions { path: path.to_path_buf(), rows, cols });
    }
    let n = checked_count(count, path)?;
    let body = body(bytes, 16, n * PIXELS, path)?;
    Ok(Images { count: n, pixels: body.to_vec() })
}

/// Parses the bytes of an (uncompressed) IDX label file; `path` only names it in errors.
pub fn parse_labels(bytes: &[u8], path: &Path) -> Result<Vec<u8>, IdxError> {
    let header = header(bytes, path, 8, LABELS_MAGIC)?;
    let n = checked_count(header[0], path)?;
    let body = body(bytes, 8, n, path)?;
    if let Some((index, &label)) = body.iter().enumerate().find(|(_, &l)| l > 9) {
        return Err(IdxError::BadLabel { path: path.to_path_buf(), index, label });
    }
    Ok(body.to_vec())
}

/// Checks the magic and returns the u32 fields after it.
fn header(bytes: &[u8], path: &Path, len: usize, magic: u32) -> Result<Vec<u32>, IdxError> {
    if bytes.len() < len {
        return Err(IdxError::TruncatedHeader { path: path.to_path_buf(), len: bytes.len() });
    }
    let words: Vec<u32> = bytes[..len].chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect();
    if words[0] != magic {
        return Err(IdxError::BadMagic { path: path.to_path_buf(), found: words[0], expected: magic });
    }
    Ok(words[1..].to_vec())
}

fn checked_count(count: u32, path: &Path) -> Result<usize, IdxError> {
    if count as usize > MAX_ITEMS {
        return Err(IdxError::TooMany { path: path.to_path_buf(), count, max: MAX_ITEMS });
    }
    Ok(count as usize)
}

fn body<'a>(bytes: &'a [u8], start: usize, len: usize, path: &Path) -> Result<&'a [u8], IdxError> {
    let found = bytes.len() - start;
    if found < len {
        return Err(IdxError::Truncated { path: path.to_path_buf(), expected: len, found });
    }
    if found > len {
        return Err(IdxError::TrailingBytes { path: path.to_path_buf(), extra: found - len });
    }
    Ok(&bytes[start..])
}

/// Reads at most `limit + 1` bytes (decompressing `.gz`); more than `limit`
/// means trailing data, which the parsers report.
fn read_file(path: &Path, limit: usize) -> Result<Vec<u8>, IdxError> {
    let io = |source| IdxError::Io { path: path.to_path_buf(), source };
    let file = crate::input::open_regular(path).map_err(io)?;
    let gz = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    let reader: Box<dyn Read> = if gz { Box::new(GzDecoder::new(file)) } else { Box::new(file) };
    let mut out = Vec::new();
    reader.take(limit as u64 + 1).read_to_end(&mut out).map_err(io)?;
    Ok(out)
}
