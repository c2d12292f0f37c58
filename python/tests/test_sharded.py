"""Sharded training on a local Ray instance with 2 workers: the same model as the single-process
trainer (within 1e-6), also when a worker is killed mid-iteration (Ray restarts it and retries)."""

import numpy as np
import pytest

import hecnn
from hecnn.sharded import train_sharded

import ray

CLASSES = 4


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    work = tmp_path_factory.mktemp("sharded")
    rng = np.random.default_rng(5)
    x = rng.uniform(-1.0, 1.0, size=(128, 100))  # 128 × 101 with the bias: 2 sample blocks
    y = np.arange(128) % CLASSES
    x[np.arange(128), y] += 1.0
    client = hecnn.Client("training-2iter")
    client.encrypt(x, y, work / "upload", classes=CLASSES)
    hecnn.Server(work / "upload").train(2, work / "single")
    single, _ = client.decrypt_model(work / "single", private=True)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield work, client, single
    ray.shutdown()


def test_each_worker_receives_the_keys_and_its_own_blocks_only(job):
    work, _, _ = job
    from hecnn import _hecnn

    (common0, own0), (common1, own1) = (_hecnn.shard_file_names(str(work / "upload"), k, 2) for k in (0, 1))
    assert common0 == common1 and {"params.bin", "galois.key", "relin.key", "manifest.json"} <= set(common0)
    assert own0 and own1 and not set(own0) & set(own1)
    assert all(n.startswith(("x-0-", "xs-0-", "y-0")) for n in own0)
    files = set(common0) | set(own0) | set(own1)
    assert files == set(p.name for p in (work / "upload").iterdir())
    with pytest.raises(hecnn.HecnnError, match="no shard 2 of 2"):
        _hecnn.shard_file_names(str(work / "upload"), 2, 2)


def test_two_workers_train_the_single_process_model(job):
    work, client, single = job
    report = train_sharded(work / "upload", 2, work / "sharded", workers=2)
    assert len(report["blocks"]) == 2 and min(report["blocks"]) >= 1, report
    w, iterations = client.decrypt_model(work / "sharded", private=True)
    assert iterations == 2
    assert np.abs(w - single).max() < 1e-6


def test_streaming_workers_read_their_blocks_in_parts_and_train_the_same_model(job):
    work, client, single = job
    # One worker, one sample block at a time: its gradient is the sum of two parts.
    report = train_sharded(work / "upload", 2, work / "streamed", workers=1, stream=True, stream_blocks=1)
    assert report["blocks"] == [2], report
    # Per iteration V goes out to the worker and one gradient comes back.
    assert all(b > 0 for b in report["v_bytes"] + report["gradient_bytes"]), report
    w, _ = client.decrypt_model(work / "streamed", private=True)
    assert np.abs(w - single).max() < 1e-6
    with pytest.raises(hecnn.HecnnError, match="at_once must be at least 1"):
        hecnn._hecnn.ShardWorker.streaming(str(work / "upload"), 0, 1, 0)


def test_the_single_process_server_streams_the_same_model(job):
    work, client, single = job
    hecnn.Server(work / "upload").train(2, work / "server-streamed", stream=True)
    assert (work / "server-streamed" / "w-0.ct").read_bytes() == (work / "single" / "w-0.ct").read_bytes()
    w, _ = client.decrypt_model(work / "server-streamed", private=True)
    assert np.abs(w - single).max() == 0.0


def test_a_layout_chosen_for_the_shards_keeps_v_small_and_trains_the_same(job, tmp_path):
    import json

    work, _, _ = job
    rng = np.random.default_rng(7)
    x = rng.uniform(-1.0, 1.0, size=(512, 20))
    y = np.arange(512) % CLASSES
    x[np.arange(512), y] += 1.0
    client = hecnn.Client("training-2iter")
    client.encrypt(x, y, tmp_path / "whole", classes=CLASSES)
    sharded = hecnn.Client("training-2iter")
    sharded.encrypt(x, y, tmp_path / "for8", classes=CLASSES, shards=8)
    layout = lambda d: json.loads((tmp_path / d / "manifest.json").read_text())["layout"]
    # 512 samples pick large sample blocks; a shard of 64 picks smaller ones, more features per block.
    assert layout("for8")["features_per_block"] > layout("whole")["features_per_block"], (layout("whole"), layout("for8"))
    whole = train_sharded(tmp_path / "whole", 2, tmp_path / "m-whole", workers=2, stream=True)
    for8 = train_sharded(tmp_path / "for8", 2, tmp_path / "m-for8", workers=2, stream=True)
    assert for8["v_bytes"][0] < whole["v_bytes"][0], (whole["v_bytes"], for8["v_bytes"])
    reference = hecnn.reference_train(x, y, 2, classes=CLASSES)
    for c, m in ((client, "m-whole"), (sharded, "m-for8")):
        w, _ = c.decrypt_model(tmp_path / m, private=True)
        assert np.abs(w - reference).max() < 1e-4
    with pytest.raises(ValueError, match="shards 0"):
        client.encrypt(x, y, tmp_path / "bad", classes=CLASSES, shards=0)


def test_a_killed_worker_is_restarted_and_its_iteration_retried(job):
    work, client, single = job
    killed = []

    def kill_once(t, actors):
        if t == 1 and not killed:
            pid = ray.get(actors[0].pid.remote())
            import os
            import signal

            os.kill(pid, signal.SIGKILL)  # the worker process dies mid-iteration
            killed.append(pid)

    train_sharded(work / "upload", 2, work / "killed", workers=2, on_iteration=kill_once)
    assert killed
    w, _ = client.decrypt_model(work / "killed", private=True)
    assert np.abs(w - single).max() < 1e-6
