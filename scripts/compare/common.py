"""Shared helpers for the CKKS comparison benchmarks (SEAL via tenseal, OpenFHE)."""
import json
import math
import statistics
import sys
import time

import numpy as np


# Besides the wall-clock median (the reported `ms`), every measurement also records the minimum
# wall time and the median *process CPU time* (all threads), because the benchmark host is shared:
# with other jobs running, wall time of a 1-thread op is inflated while its CPU time is not.
STATS = {"ms_min": {}, "cpu_ms": {}}


def record(name, walls, cpus):
    STATS["ms_min"][name] = round(min(walls), 4)
    STATS["cpu_ms"][name] = round(statistics.median(cpus), 4)
    return round(statistics.median(walls), 4)


def median_ms(fn, reps, name=None):
    """Run fn() `reps` times; return the median wall time in ms (min wall / median CPU go to STATS)."""
    ws, cs = [], []
    for _ in range(reps):
        c0 = time.process_time(); t0 = time.perf_counter()
        fn()
        ws.append((time.perf_counter() - t0) * 1e3); cs.append((time.process_time() - c0) * 1e3)
    if name is None:
        return round(statistics.median(ws), 4)
    return record(name, ws, cs)


class Clock:
    """t = Clock(); ...; wall_ms, cpu_ms = t.lap()"""
    def __init__(self):
        self.t = time.perf_counter(); self.c = time.process_time()

    def lap(self):
        t, c = time.perf_counter(), time.process_time()
        r = ((t - self.t) * 1e3, (c - self.c) * 1e3)
        self.t, self.c = t, c
        return r


def prec_bits(got, want):
    err = float(np.max(np.abs(np.asarray(got, dtype=np.float64) - np.asarray(want, dtype=np.float64))))
    if err == 0.0:
        return float("inf")
    return round(-math.log2(err), 3)


def rand_vec(rng, n):
    return rng.uniform(-1.0, 1.0, n)


def emit(obj):
    # 1/5/15-minute load average when the configuration finished (shared 2-core host)
    obj["loadavg_at_end"] = [round(v, 2) for v in __import__("os").getloadavg()]
    sys.stdout.write(json.dumps(obj, sort_keys=False) + "\n")
    sys.stdout.flush()


def log(*a):
    print(*a, file=sys.stderr, flush=True)
