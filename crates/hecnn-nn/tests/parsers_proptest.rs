//! Random and corrupted bytes never make the IDX, CSV or model parsers panic.

use std::path::Path;

use hecnn_nn::csv::parse_features;
use hecnn_nn::mnist::{parse_images, parse_labels, IMAGES_MAGIC, LABELS_MAGIC, PIXELS};
use hecnn_nn::model::Model;
use proptest::prelude::*;

fn valid_images() -> Vec<u8> {
    let mut v = IMAGES_MAGIC.to_be_bytes().to_vec();
    for d in [2u32, 28, 28] {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend((0..2 * PIXELS).map(|i| (i % 251) as u8));
    v
}

fn valid_labels() -> Vec<u8> {
    let mut v = LABELS_MAGIC.to_be_bytes().to_vec();
    v.extend_from_slice(&5u32.to_be_bytes());
    v.extend_from_slice(&[1, 2, 3, 4, 5]);
    v
}

fn corrupt(mut v: Vec<u8>, edits: &[(usize, u8)], cut: usize) -> Vec<u8> {
    for &(i, b) in edits {
        if !v.is_empty() {
            let n = v.len();
            v[i % n] = b;
        }
    }
    v.truncate(cut.min(v.len()));
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn idx_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let p = Path::new("r");
        let _ = parse_images(&bytes, p);
        let _ = parse_labels(&bytes, p);
    }

    #[test]
    fn idx_corrupted_headers(edits in proptest::collection::vec((0usize..24, any::<u8>()), 0..6),
                             cut in 0usize..2000) {
        let p = Path::new("c");
        let img = corrupt(valid_images(), &edits, cut);
        if let Ok(imgs) = parse_images(&img, p) {
            prop_assert_eq!(imgs.as_bytes().len(), imgs.len() * PIXELS);
        }
        let lab = corrupt(valid_labels(), &edits, cut);
        if let Ok(l) = parse_labels(&lab, p) {
            prop_assert!(l.iter().all(|&x| x <= 9));
        }
    }

    #[test]
    fn csv_random_text(text in "[0-9a-z.,eE+\\-\n\r ]{0,200}") {
        if let Ok(set) = parse_features(&text, Path::new("t.csv")) {
            prop_assert_eq!(set.labels.len(), set.features.len());
            prop_assert!(set.features.iter().all(|r| r.len() == set.dim() && r.iter().all(|v| v.is_finite())));
        }
    }

    #[test]
    fn csv_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_features(&text, Path::new("b.csv"));
    }

    #[test]
    fn model_corrupted_bytes(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
                             cut in 0usize..20_000) {
        let bytes = corrupt(hecnn_nn::backbone::MNIST_CNN_BYTES.to_vec(), &edits, cut);
        let _ = Model::from_bytes(&bytes);
    }
}
