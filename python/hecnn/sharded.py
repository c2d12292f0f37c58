"""Sharded encrypted training on Ray.

The driver reads the client's upload once and puts its files in Ray's object store — the keys,
parameters and initial weights once, each shard's sample blocks apart; each worker (a Ray actor)
receives the keys and its own blocks only. Each iteration the
driver broadcasts V (ciphertext bytes), the workers return their encrypted partial gradients,
the driver adds them, takes the Nesterov step (bootstrapping W and V when the plan says) and goes
on. The sum of the shards' gradients is the whole data set's: the model is the single-process
trainer's (within rounding). A worker that dies is restarted by Ray from the same object-store
files and its task retried (``max_restarts``, ``max_task_retries``).

Runs unchanged on a local Ray instance (``ray.init()``) and on a cluster
(``ray.init(address="auto")`` after ``ray start --head`` / ``ray start --address=HEAD:6379``).
"""

from __future__ import annotations

import os
import time
from typing import Callable, Optional

from . import _hecnn


class _Worker:
    def __init__(self, common, own, k: int, shards: int, stream_from: Optional[str] = None, at_once=None):
        if stream_from is None:
            self._w = _hecnn.ShardWorker(common, own, k, shards)
        else:
            self._w = _hecnn.ShardWorker.streaming(stream_from, k, shards, at_once)

    def blocks(self) -> int:
        return self._w.blocks

    def pid(self) -> int:
        return os.getpid()

    def peak_rss_mb(self) -> float:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def gradient(self, v, t: int):
        return self._w.gradient(v, t)


def train_sharded(
    upload: os.PathLike | str,
    iterations: int,
    out: os.PathLike | str,
    workers: int = 2,
    *,
    max_restarts: int = 2,
    stream: bool = False,
    stream_blocks: Optional[int] = None,
    on_iteration: Optional[Callable[[int, list], None]] = None,
) -> dict:
    """Trains on ``upload`` with ``workers`` Ray actors (Ray must be initialised) and writes the
    encrypted model (the CLI's format) into ``out``.

    By default the driver puts the upload's files in Ray's object store (keys once, each shard's
    blocks apart) and every worker holds its shard in memory. With ``stream=True`` the workers
    read their shard from ``upload`` themselves (this machine, or a file system every node
    mounts at the same path) ``stream_blocks`` sample blocks at a time (default: as many as fit
    in 1 GiB, at least one) at every iteration: memory for the keys and those blocks only, for data sets larger than the workers' memory (all 60,000 MNIST
    samples are 43 GB of ciphertexts).

    ``on_iteration(t, actors)`` is called before each iteration's gradients are collected (tests
    use it to kill a worker). Returns timings."""
    import ray

    upload = os.fspath(upload)
    driver = _hecnn.Driver(upload, iterations)
    Worker = ray.remote(max_restarts=max_restarts, max_task_retries=max_restarts)(_Worker)
    if stream:
        where = os.path.abspath(upload)
        actors = [Worker.remote(None, None, k, workers, where, stream_blocks) for k in range(workers)]
    else:
        # The keys, parameters and W0 once for all workers; each worker's own sample blocks apart.
        names = [_hecnn.shard_file_names(upload, k, workers) for k in range(workers)]
        common = ray.put(_hecnn.upload_files(upload, names[0][0]))
        own = [ray.put(_hecnn.upload_files(upload, blocks)) for _, blocks in names]
        actors = [Worker.remote(common, own[k], k, workers) for k in range(workers)]
    blocks = ray.get([a.blocks.remote() for a in actors])
    seconds, v_bytes, gradient_bytes = [], [], []
    for t in range(iterations):
        start = time.perf_counter()
        vb = driver.v()
        v = ray.put(vb)
        pending = [a.gradient.remote(v, t) for a in actors]
        if on_iteration is not None:
            on_iteration(t, actors)
        parts = ray.get(pending)
        driver.update(parts)
        seconds.append(time.perf_counter() - start)
        # What crossed the network this iteration: V to every worker, a gradient from each.
        v_bytes.append(sum(len(b) for b in vb) * workers)
        gradient_bytes.append(sum(len(b) for p in parts for b in p))
    written = driver.save_model(os.fspath(out))
    peak = ray.get([a.peak_rss_mb.remote() for a in actors])
    for a in actors:
        ray.kill(a)
    return {
        "workers": workers,
        "blocks": blocks,
        "iteration_seconds": seconds,
        "v_bytes": v_bytes,
        "gradient_bytes": gradient_bytes,
        "model_bytes": written,
        "worker_peak_rss_mb": peak,
    }
