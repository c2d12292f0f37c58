"""Sharded training at scale (BENCHMARKS.md §10): the first N MNIST training images (default
1,024, 8,192 and 60,000) through the bundled frozen backbone (plaintext, on the client), their
240 features + bias, 10 classes, encrypted with `training-2iter` and trained for 2 iterations on
Ray with 1 and 2 local workers that stream their shard from the upload directory
(`train_sharded(stream=True)`): per-iteration time, bytes sent and received per iteration, the
decrypted model against the plaintext reference and the test accuracy of both. Each upload is
deleted after its runs (60,000 samples are 43 GB).

    pip install "./python[ray]" && python scripts/compare/ray_scale.py [N ...] [--out results.json]
"""
import json, os, resource, shutil, sys, tempfile, time
import numpy as np, ray, hecnn
from hecnn.sharded import train_sharded

args = [a for a in sys.argv[1:] if not a.startswith("--")]
out_path = sys.argv[sys.argv.index("--out") + 1] if "--out" in sys.argv else None
if out_path in args:
    args.remove(out_path)
sizes = [int(a) for a in args] or [1024, 8192, 60000]
work = tempfile.mkdtemp(prefix="hecnn-scale-", dir=os.environ.get("HECNN_SCALE_DIR"))
images, labels = hecnn.mnist("train", max(sizes))
test_images, test_labels = hecnn.mnist("test")
t = time.perf_counter()
features = hecnn.backbone_features(images)
test_features = hecnn.backbone_features(test_images)
results = {"features_s": time.perf_counter() - t, "runs": []}
ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
for n in sizes:
    x, y = features[:n], labels[:n]
    client = hecnn.Client("training-2iter")
    up = f"{work}/upload-{n}"
    t = time.perf_counter()
    upload_bytes = client.encrypt(x, y, up)
    run = {"samples": n, "encrypt_s": time.perf_counter() - t, "upload_bytes": upload_bytes}
    reference = hecnn.reference_train(x, y, 2)
    run["reference_test_accuracy"] = client.evaluate(reference, test_features, test_labels)
    for workers in (1, 2):
        t = time.perf_counter()
        r = train_sharded(up, 2, f"{work}/model-{n}-{workers}", workers=workers, stream=True)
        r["total_s"] = time.perf_counter() - t
        w, _ = client.decrypt_model(f"{work}/model-{n}-{workers}", private=True)
        r["max_diff_from_reference"] = float(np.abs(w - reference).max())
        r["test_accuracy"] = client.evaluate(w, test_features, test_labels)
        r["driver_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        run[f"ray_{workers}"] = r
        print(json.dumps({"samples": n, "workers": workers, **r}), flush=True)
    shutil.rmtree(up)
    results["runs"].append(run)
    if out_path:
        json.dump(results, open(out_path, "w"), indent=1)
print(json.dumps(results, indent=1))
shutil.rmtree(work, ignore_errors=True)
