//! An encrypted inference job through the service on a loopback port: the
//! client fetches the served model's spec and parameters, makes keys,
//! encrypts images and uploads them as blobs (`hecnn_ml::cnn::roles`, the
//! CLI's file format); the dataset is checked against the model; the job's
//! encrypted scores come back, equal byte for byte to the file roles'
//! (`roles::infer_upload` on the same upload), and decrypt to the plaintext
//! circuit's scores. Jobs of the wrong kind, uploads for a model the server
//! does not serve and jobs over the memory limit are refused by name.
//!
//! The model is small and its ring insecure (N = 2^11) so the test runs in
//! seconds; the 128-bit path is the same code (`hecnn-server --models
//! bundled`, measured in BENCHMARKS.md §7 through `hecnn infer`).

use std::path::Path;
use std::sync::Arc;

use hecnn_ckks::{Context, EvaluationKeySet, GaloisKeys, Parameters, RelinKey, SecretKey};
use hecnn_ml::cnn::client::{decrypt_scores, encrypt_images_seeded};
use hecnn_ml::cnn::roles::{self, InferenceUpload, PublishedModel, SpecFile};
use hecnn_ml::cnn::toy::{self, images};
use hecnn_ml::cnn::ApproxActivation;
use hecnn_server::api::Limits;
use hecnn_server::models::Models;
use hecnn_server::store::Store;

mod common;
use common::*;

/// The toy model on its insecure ring (`hecnn_ml::cnn::toy`).
fn publish() -> Result<PublishedModel, String> {
    toy::published().map_err(|e| e.to_string())
}

/// The client: fetches the spec, makes keys, encrypts `pixels` into `dir`.
fn client_upload(a: &Client, s: &impl Base, dir: &Path, pixels: &[Vec<f64>]) -> (Arc<Context>, SecretKey, Vec<u8>) {
    let (status, spec_bytes) = a.get(s, "/v1/models/toy/spec.json");
    assert_eq!(status, 200);
    let (status, params) = a.get(s, "/v1/models/toy/params.bin");
    assert_eq!(status, 200);
    let file: SpecFile = serde_json::from_slice(&spec_bytes).unwrap();
    file.spec.validate().unwrap();
    let ctx = Context::new(Parameters::from_bytes(&params, true).unwrap()).unwrap();
    let sk = SecretKey::generate(&ctx);
    let gk = GaloisKeys::generate(&sk, &file.spec.rotations, false);
    let keys = EvaluationKeySet::new(&ctx, RelinKey::generate(&sk), gk, None).unwrap();
    let batches = pixels.len().div_ceil(file.spec.batch);
    roles::write_upload(dir, &keys, &spec_bytes, (batches, pixels.len()), &mut |b| {
        let chunk = &pixels[b * file.spec.batch..((b + 1) * file.spec.batch).min(pixels.len())];
        Ok(encrypt_images_seeded(&file.spec, &sk, &ctx, chunk, file.input_level)?)
    })
    .unwrap();
    (ctx, sk, spec_bytes)
}

#[test]
fn an_inference_job_equals_the_file_roles_and_the_plaintext_circuit() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("server");
    let token = Store::open(&data).unwrap().create_tenant("alice").unwrap();
    let s = Server(
        hecnn_server::Background::start_with(&data, Limits::default(), Models::new().with("toy", Box::new(publish)))
            .unwrap(),
    );
    let a = Client::new(token.clone());
    let (status, body) = a.get(&s, "/v1/models");
    assert_eq!(
        (status, serde_json::from_slice::<serde_json::Value>(&body).unwrap()["models"][0].clone()),
        (200, "toy".into())
    );
    assert_eq!(Client::new("hecnn_wrong".into()).get(&s, "/v1/models/toy/spec.json").0, 401);
    assert_eq!(a.get(&s, "/v1/models/other/spec.json").0, 404);
    assert_eq!(a.get(&s, "/v1/models/toy/secret.key").0, 404);

    // 6 images in 2 batches of 4.
    let test = images(6, 5000);
    let pixels: Vec<Vec<f64>> = test.iter().map(|t| t.data().to_vec()).collect();
    let up = work.path().join("upload");
    let (ctx, sk, spec_bytes) = client_upload(&a, &s, &up, &pixels);
    let files = a.upload_dir(&s, &up, None);
    let (status, ds, _) = a.post(&s, "/v1/datasets", serde_json::json!({ "files": files }));
    assert_eq!(status, 201, "{ds}");
    assert_eq!(
        (&ds["kind"], &ds["model"], &ds["images"], &ds["batches"]),
        (&"images".into(), &"toy".into(), &6.into(), &2.into())
    );

    // Wrong kinds and options are refused by name.
    let (status, err, _) = a.post(&s, "/v1/jobs", serde_json::json!({ "dataset": ds["id"], "iterations": 2 }));
    assert_eq!(status, 400);
    assert!(err["error"].as_str().unwrap().contains("holds encrypted images"), "{err}");
    let (status, err, _) = a.post(&s, "/v1/jobs", serde_json::json!({ "dataset": ds["id"], "kind": "bake" }));
    assert_eq!(status, 400, "{err}");

    // An upload for another spec (the manifest names a model the server does not serve).
    let mut other = files.clone();
    let manifest = std::fs::read_to_string(up.join("manifest.json")).unwrap();
    let id = roles::spec_id(&spec_bytes);
    other["manifest.json"] = a.put_blob(&s, manifest.replace(&id, &"0".repeat(32)).as_bytes()).into();
    let (status, err, _) = a.post(&s, "/v1/datasets", serde_json::json!({ "files": other }));
    assert_eq!(status, 400);
    assert!(err["error"].as_str().unwrap().contains("does not serve"), "{err}");

    // Truncated or flipped files of the upload: refused with a 400 naming the problem, never a 500.
    let ct = std::fs::read(up.join("in-0-0.ct")).unwrap();
    let manifest_bytes = manifest.as_bytes().to_vec();
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    for (k, cut) in [0usize, 17, ct.len() / 2, ct.len() - 1].into_iter().enumerate() {
        cases.push(("in-0-0.ct", ct[..cut].to_vec()));
        let mut flipped = manifest_bytes.clone();
        flipped[(k * 53 + 7) % manifest_bytes.len()] ^= 0x21;
        cases.push(("manifest.json", flipped));
    }
    for (target, bytes) in &cases {
        let mut f = files.clone();
        f[*target] = a.put_blob(&s, bytes).into();
        let (status, body, _) = a.post(&s, "/v1/datasets", serde_json::json!({ "files": f }));
        assert_eq!(status, 400, "{target}: {body}");
        assert_ne!(body["error"], "internal error", "{target}");
    }

    // The job, its scores.
    let (status, job, _) = a.post(&s, "/v1/jobs", serde_json::json!({ "dataset": ds["id"], "kind": "infer" }));
    assert_eq!(status, 202, "{job}");
    let info = wait_done(&a, &s, job["id"].as_i64().unwrap());
    assert_eq!(info["kind"], "infer");
    let result = work.path().join("result");
    download_model(&a, &s, &info, &result);

    // Byte for byte the file roles' result on the same upload.
    let model = publish().unwrap();
    let direct = work.path().join("direct");
    let loaded = InferenceUpload::load(&model, &up).unwrap();
    roles::infer_upload(&model, &loaded, &direct, &mut |_, _| {}).unwrap();
    for entry in std::fs::read_dir(&direct).unwrap() {
        let name = entry.unwrap().file_name();
        assert_eq!(std::fs::read(result.join(&name)).unwrap(), std::fs::read(direct.join(&name)).unwrap(), "{name:?}");
    }

    // Decrypted: the plaintext circuit's scores with the same polynomials.
    let batches = roles::load_result(&result, &ctx, sk.key_set(), (&id, &model.file.spec), 2).unwrap();
    let act = ApproxActivation { sign: &model.compiled.composite, factors: &model.compiled.factors };
    for (b, cts) in batches.iter().enumerate() {
        let n = (6 - 4 * b).min(4);
        let scores = decrypt_scores(&model.file.spec, &sk, &ctx, cts, n).unwrap();
        for (k, got) in scores.iter().enumerate() {
            let want = model.compiled.circuit.eval_output(test[4 * b + k].data(), &act);
            for (x, y) in got.iter().zip(&want) {
                assert!((x - y).abs() < 1e-3, "image {}: encrypted {x} vs circuit {y}", 4 * b + k);
            }
        }
    }
    drop(s);

    // A server whose per-job memory limit the dataset exceeds refuses the job by its estimate.
    let small = Server(
        hecnn_server::Background::start_with(
            &data,
            Limits { job_memory: 1 << 20, ..Limits::default() },
            Models::new().with("toy", Box::new(publish)),
        )
        .unwrap(),
    );
    let (status, err, _) = a.post(&small, "/v1/jobs", serde_json::json!({ "dataset": ds["id"], "kind": "infer" }));
    assert_eq!(status, 400);
    assert!(err["error"].as_str().unwrap().contains("per-job limit of 0.00 GB"), "{err}");
}
