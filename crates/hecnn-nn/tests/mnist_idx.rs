//! IDX loading: the bundled files, and every malformed case mapped to its error.

use std::io::Write;
use std::path::PathBuf;

use hecnn_nn::mnist::{self, IdxError, Mnist, IMAGES_MAGIC, LABELS_MAGIC, MAX_ITEMS, PIXELS};

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hecnn-nn-idx-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn idx(magic: u32, dims: &[u32], body: &[u8]) -> Vec<u8> {
    let mut v = magic.to_be_bytes().to_vec();
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(body);
    v
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn bundled_mnist_round_trip() {
    let m = Mnist::load_dir(mnist::bundled_mnist_dir()).unwrap();
    assert_eq!(m.train_images.len(), 60_000);
    assert_eq!(m.train_labels.len(), 60_000);
    assert_eq!(m.test_images.len(), 10_000);
    assert_eq!(m.test_labels.len(), 10_000);
    assert_eq!(&m.train_labels[..10], &[5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    assert_eq!(&m.test_labels[..10], &[7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    // Pixels are bytes scaled to [0, 1]; the first image is not blank.
    let img = m.train_images.image_f32(0);
    assert_eq!(img.len(), PIXELS);
    assert!(img.iter().all(|&p| (0.0..=1.0).contains(&p)));
    assert!(img.contains(&1.0));
    // The gzip and raw forms give the same data.
    let dir = temp_dir("raw");
    let raw = idx(IMAGES_MAGIC, &[2, 28, 28], m.test_images.slice(0..2).as_bytes());
    std::fs::write(dir.join("a.idx3-ubyte"), &raw).unwrap();
    std::fs::write(dir.join("a.idx3-ubyte.gz"), gzip(&raw)).unwrap();
    let a = mnist::load_images(dir.join("a.idx3-ubyte")).unwrap();
    let b = mnist::load_images(dir.join("a.idx3-ubyte.gz")).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.image(1), m.test_images.image(1));
}

#[test]
fn truncated_images_are_rejected() {
    let dir = temp_dir("trunc");
    let p = dir.join("t.idx3-ubyte.gz");
    std::fs::write(&p, gzip(&idx(IMAGES_MAGIC, &[2, 28, 28], &[0u8; PIXELS + 5]))).unwrap();
    match mnist::load_images(&p) {
        Err(IdxError::Truncated { path, expected, found }) => {
            assert_eq!((path, expected, found), (p, 2 * PIXELS, PIXELS + 5));
        }
        other => panic!("expected Truncated, got {other:?}"),
    }
    let err = mnist::parse_images(&[0, 0, 8], std::path::Path::new("h")).unwrap_err();
    assert!(matches!(err, IdxError::TruncatedHeader { len: 3, .. }), "{err:?}");
}

#[test]
fn wrong_magic_is_rejected() {
    let p = temp_dir("magic").join("m.idx3-ubyte");
    std::fs::write(&p, idx(LABELS_MAGIC, &[1, 28, 28], &[0u8; PIXELS])).unwrap();
    match mnist::load_images(&p) {
        Err(IdxError::BadMagic { path, found, expected }) => {
            assert_eq!((path, found, expected), (p.clone(), LABELS_MAGIC, IMAGES_MAGIC));
        }
        other => panic!("expected BadMagic, got {other:?}"),
    }
    std::fs::write(&p, idx(IMAGES_MAGIC, &[1], &[3])).unwrap();
    assert!(matches!(mnist::load_labels(&p), Err(IdxError::BadMagic { found: IMAGES_MAGIC, .. })));
}

#[test]
fn wrong_dimensions_are_rejected() {
    let p = temp_dir("dims").join("d.idx3-ubyte");
    std::fs::write(&p, idx(IMAGES_MAGIC, &[1, 27, 28], &[0u8; 27 * 28])).unwrap();
    match mnist::load_images(&p) {
        Err(IdxError::BadDimensions { path, rows, cols }) => {
            assert_eq!((path, rows, cols), (p, 27, 28))
        }
        other => panic!("expected BadDimensions, got {other:?}"),
    }
}

#[test]
fn absurd_counts_trailing_bytes_and_bad_labels() {
    let path = std::path::Path::new("x");
    let err = mnist::parse_images(&idx(IMAGES_MAGIC, &[u32::MAX, 28, 28], &[]), path).unwrap_err();
    assert!(matches!(err, IdxError::TooMany { count: u32::MAX, max: MAX_ITEMS, .. }), "{err:?}");
    let err = mnist::parse_labels(&idx(LABELS_MAGIC, &[2], &[1, 2, 3]), path).unwrap_err();
    assert!(matches!(err, IdxError::TrailingBytes { extra: 1, .. }), "{err:?}");
    let err = mnist::parse_labels(&idx(LABELS_MAGIC, &[3], &[1, 12, 3]), path).unwrap_err();
    assert!(matches!(err, IdxError::BadLabel { index: 1, label: 12, .. }), "{err:?}");
    assert_eq!(mnist::parse_labels(&idx(LABELS_MAGIC, &[2], &[9, 0]), path).unwrap(), vec![9, 0]);
}

#[test]
fn load_dir_checks_counts_and_presence() {
    let dir = temp_dir("dir");
    let write = |name: &str, bytes: Vec<u8>| std::fs::write(dir.join(name), bytes).unwrap();
    write("train-images.idx3-ubyte", idx(IMAGES_MAGIC, &[2, 28, 28], &[0u8; 2 * PIXELS]));
    write("train-labels.idx1-ubyte.gz", gzip(&idx(LABELS_MAGIC, &[3], &[1, 2, 3])));
    match Mnist::load_dir(&dir) {
        Err(IdxError::CountMismatch { n_images: 2, n_labels: 3, .. }) => {}
        other => panic!("expected CountMismatch, got {other:?}"),
    }
    write("train-labels.idx1-ubyte.gz", gzip(&idx(LABELS_MAGIC, &[2], &[1, 2])));
    match Mnist::load_dir(&dir) {
        Err(IdxError::Missing { name, .. }) => assert_eq!(name, "t10k-images.idx3-ubyte"),
        other => panic!("expected Missing, got {other:?}"),
    }
    write("t10k-images.idx3-ubyte.gz", gzip(&idx(IMAGES_MAGIC, &[1, 28, 28], &[7u8; PIXELS])));
    write("t10k-labels.idx1-ubyte", idx(LABELS_MAGIC, &[1], &[4]));
    let m = Mnist::load_dir(&dir).unwrap();
    assert_eq!((m.train_labels, m.test_labels), (vec![1, 2], vec![4]));
    assert_eq!(m.test_images.image(0), &[7u8; PIXELS][..]);
}

#[test]
fn missing_and_corrupt_gzip_are_io_errors() {
    let dir = temp_dir("io");
    assert!(matches!(mnist::load_labels(dir.join("nope")), Err(IdxError::Io { .. })));
    std::fs::write(dir.join("bad.gz"), b"\x1f\x8b\x08\x00garbage").unwrap();
    assert!(matches!(mnist::load_labels(dir.join("bad.gz")), Err(IdxError::Io { .. })));
}
