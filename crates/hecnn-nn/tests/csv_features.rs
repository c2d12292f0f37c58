//! Feature CSV: a good file round-trips; each malformed case gives its error.

use std::path::{Path, PathBuf};

use hecnn_nn::csv::{self, CsvError, FeatureSet};

fn p() -> &'static Path {
    Path::new("f.csv")
}

#[test]
fn good_file_round_trips() {
    let set = FeatureSet {
        labels: vec![0, 9, 4],
        features: vec![vec![0.1, -2.5e-7, 3.0], vec![1e10, 0.0, -0.0], vec![1.0 / 3.0, 2.0, 7.25]],
    };
    let path = std::env::temp_dir().join(format!("hecnn-nn-csv-{}.csv", std::process::id()));
    csv::write_features(&path, &set).unwrap();
    let back = csv::read_features(&path).unwrap();
    assert_eq!(back, set, "shortest round-trip formatting preserves every bit");
    assert_eq!(back.dim(), 3);
    // CRLF, spaces, blank lines and float-written labels (numpy savetxt) are accepted.
    let s = csv::parse_features("1.0, 2 ,3\r\n\n 2,4,5\n", p()).unwrap();
    assert_eq!(s.labels, vec![1, 2]);
    assert_eq!(s.features, vec![vec![2.0, 3.0], vec![4.0, 5.0]]);
}

fn err(text: &str) -> CsvError {
    csv::parse_features(text, p()).unwrap_err()
}

#[test]
fn malformed_number_names_line_and_field() {
    match err("1,2,3\n2,4,x5\n") {
        CsvError::BadNumber { path, line, field, text } => {
            assert_eq!((path, line, field, text.as_str()), (PathBuf::from("f.csv"), 2, 3, "x5"));
        }
        e => panic!("{e:?}"),
    }
    assert!(matches!(err("1,2,\n"), CsvError::BadNumber { line: 1, field: 3, .. }));
}

#[test]
fn non_finite_values_are_rejected() {
    for bad in ["NaN", "inf", "-inf", "1e999"] {
        match err(&format!("1,2,3\n3,4,5\n0,{bad},1\n")) {
            CsvError::NotFinite { line: 3, field: 2, .. } => {}
            e => panic!("{bad}: {e:?}"),
        }
    }
}

#[test]
fn labels_outside_0_to_9_are_rejected() {
    for bad in ["10", "-1", "3.5", "a", ""] {
        match err(&format!("1,2\n{bad},3\n")) {
            CsvError::BadLabel { line: 2, text, .. } => assert_eq!(text, bad),
            e => panic!("{bad}: {e:?}"),
        }
    }
}

#[test]
fn inconsistent_columns_are_rejected() {
    match err("1,2,3\n2,4,5,6\n") {
        CsvError::ColumnCount { line, expected, found, .. } => assert_eq!((line, expected, found), (2, 3, 4)),
        e => panic!("{e:?}"),
    }
    assert!(matches!(err("1,2,3\n4\n"), CsvError::NoFeatures { line: 2, .. }));
}

#[test]
fn empty_file_and_limits() {
    assert!(matches!(err(""), CsvError::Empty { .. }));
    assert!(matches!(err("\n \n"), CsvError::Empty { .. }));
    let long = format!("1,{}\n", "1,".repeat(csv::MAX_LINE_BYTES));
    assert!(matches!(err(&long), CsvError::LineTooLong { line: 1, .. }));
    let path = std::env::temp_dir().join(format!("hecnn-nn-csv-bin-{}.csv", std::process::id()));
    std::fs::write(&path, [0xff, 0xfe, 0x31]).unwrap();
    assert!(matches!(csv::read_features(&path), Err(CsvError::NotUtf8 { .. })));
    assert!(matches!(csv::read_features("/nonexistent/x.csv"), Err(CsvError::Io { .. })));
}

#[test]
fn writer_rejects_inconsistent_sets() {
    let bad = FeatureSet { labels: vec![1], features: vec![vec![1.0], vec![2.0]] };
    assert!(matches!(csv::format_features(&bad), Err(CsvError::Shape { .. })));
    let bad = FeatureSet { labels: vec![1, 2], features: vec![vec![1.0], vec![2.0, 3.0]] };
    assert!(matches!(csv::format_features(&bad), Err(CsvError::Shape { .. })));
    let bad = FeatureSet { labels: vec![11], features: vec![vec![1.0]] };
    assert!(matches!(csv::format_features(&bad), Err(CsvError::Shape { .. })));
    let bad = FeatureSet { labels: vec![1], features: vec![vec![f64::NAN]] };
    assert!(matches!(csv::format_features(&bad), Err(CsvError::Shape { .. })));
}
