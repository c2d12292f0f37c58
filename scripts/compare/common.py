"""Shared helpers for the CKKS comparison benchmarks (SEAL via tenseal, OpenFHE)."""
import json
import math
import statistics
import sys
import time

import numpy as np


def median_ms(fn, reps, setup=None):
    """Run fn() `reps` times (setup() before each, untimed); return median wall time in ms."""
    ts = []
    for _ in range(reps):
        arg = setup() if setup is not None else None
        t0 = time.perf_counter()
        if setup is not None:
            fn(arg)
        else:
            fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return round(statistics.median(ts), 4)


def prec_bits(got, want):
    err = float(np.max(np.abs(np.asarray(got, dtype=np.float64) - np.asarray(want, dtype=np.float64))))
    if err == 0.0:
        return float("inf")
    return round(-math.log2(err), 3)


def rand_vec(rng, n):
    return rng.uniform(-1.0, 1.0, n)


def emit(obj):
    sys.stdout.write(json.dumps(obj, sort_keys=False) + "\n")
    sys.stdout.flush()


def log(*a):
    print(*a, file=sys.stderr, flush=True)
