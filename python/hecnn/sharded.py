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
    def __init__(self, common, own, k: int, shards: int):
        self._w = _hecnn.ShardWorker(common, own, k, shards)

    def blocks(self) -> int:
        return self._w.blocks

    def pid(self) -> int:
        return os.getpid()

    def gradient(self, v, t: int):
        return self._w.gradient(v, t)


def train_sharded(
    upload: os.PathLike | str,
    iterations: int,
    out: os.PathLike | str,
    workers: int = 2,
    *,
    max_restarts: int = 2,
    on_iteration: Optional[Callable[[int, list], None]] = None,
) -> dict:
    """Trains on ``upload`` with ``workers`` Ray actors (Ray must be initialised) and writes the
    encrypted model (the CLI's format) into ``out``. ``on_iteration(t, actors)`` is called before
    each iteration's gradients are collected (tests use it to kill a worker). Returns timings."""
    import ray

    upload = os.fspath(upload)
    driver = _hecnn.Driver(upload, iterations)
    # The keys, parameters and W0 once for all workers; each worker's own sample blocks apart.
    names = [_hecnn.shard_file_names(upload, k, workers) for k in range(workers)]
    common = ray.put(_hecnn.upload_files(upload, names[0][0]))
    own = [ray.put(_hecnn.upload_files(upload, blocks)) for _, blocks in names]
    Worker = ray.remote(max_restarts=max_restarts, max_task_retries=max_restarts)(_Worker)
    actors = [Worker.remote(common, own[k], k, workers) for k in range(workers)]
    blocks = ray.get([a.blocks.remote() for a in actors])
    seconds = []
    for t in range(iterations):
        start = time.perf_counter()
        v = ray.put(driver.v())
        pending = [a.gradient.remote(v, t) for a in actors]
        if on_iteration is not None:
            on_iteration(t, actors)
        parts = ray.get(pending)
        driver.update(parts)
        seconds.append(time.perf_counter() - start)
    written = driver.save_model(os.fspath(out))
    for a in actors:
        ray.kill(a)
    return {"workers": workers, "blocks": blocks, "iteration_seconds": seconds, "model_bytes": written}
