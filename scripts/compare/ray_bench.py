"""Per-iteration time of sharded training (BENCHMARKS.md §10): N samples (default 1,024) × 240
features + bias, 10 classes, `training-2iter`, 2 iterations — the single process against Ray with
1 and 2 local workers, and each model's largest difference from the single process's.

    pip install "./python[ray]" && python scripts/compare/ray_bench.py [N]
"""
import json, os, sys, tempfile, time
import numpy as np, ray, hecnn
from hecnn.sharded import train_sharded

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
work = tempfile.mkdtemp()
rng = np.random.default_rng(1)
x = rng.uniform(0, 1, size=(n, 240)); y = np.arange(n) % 10
client = hecnn.Client("training-2iter")
t = time.perf_counter(); client.encrypt(x, y, f"{work}/upload", classes=10); enc = time.perf_counter() - t
t = time.perf_counter(); hecnn.Server(f"{work}/upload").train(2, f"{work}/single"); single = time.perf_counter() - t
ws, _ = client.decrypt_model(f"{work}/single", private=True)
ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
out = {"samples": n, "encrypt_s": enc, "single_process_train_s": single}
for k in (1, 2):
    t = time.perf_counter()
    r = train_sharded(f"{work}/upload", 2, f"{work}/ray{k}", workers=k)
    total = time.perf_counter() - t
    w, _ = client.decrypt_model(f"{work}/ray{k}", private=True)
    out[f"ray_{k}"] = {"total_s": total, "iteration_s": r["iteration_seconds"], "blocks": r["blocks"], "max_diff": float(np.abs(w - ws).max())}
upload_bytes = sum(os.path.getsize(f"{work}/upload/{f}") for f in os.listdir(f"{work}/upload"))
vbytes = sum(os.path.getsize(f"{work}/single/{f}") for f in os.listdir(f"{work}/single") if f.startswith("v-"))
out["upload_bytes"] = upload_bytes; out["v_bytes_final"] = vbytes
print(json.dumps(out, indent=1))
