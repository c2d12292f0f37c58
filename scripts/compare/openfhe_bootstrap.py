#!/usr/bin/env python3
"""OpenFHE CKKS bootstrapping at N=2^16 (default-ish secure settings). One JSON object to stdout.

--secret picks the secret distribution: UNIFORM_TERNARY (the default), SPARSE_ENCAPSULATED (a dense
secret with a sparse one inside bootstrapping only: hecnn's technique) or SPARSE_TERNARY (sparse
throughout, OpenFHE's fastest); run_bootstrap.sh runs the two sparse ones (2026-12-06: 5 levels
left at full slots with level budget [4,4] and dnum 6).
Settings follow OpenFHE's ckks-bootstrapping examples (UNIFORM_TERNARY secret, FLEXIBLEAUTO,
firstModSize 60, levelBudget [4,4], HEStd_128_classic) with the ring dimension pinned to 2^16.  With
the examples' scalingModSize 59 and OpenFHE's default dnum (3) no level is left after bootstrapping
at N=2^16 under 128-bit security (OpenFHE then wants N=2^17), so the defaults here are
scalingModSize 59 and HYBRID dnum 6; levelBudget [3,3] (3 levels left) for <= 2^12 slots and
[4,4] (1 level left) for full slots, where [3,3] needs more rotation keys (~200 MB each) than this
shared 24 GiB machine can safely hold.  Probed alternatives
(max levels after bootstrapping at N=2^16, 128-bit): [4,4]/59/dnum 6: 1; [4,4]/50/dnum 6: 5;
[3,3]/50/dnum 6: 7; but scalingModSize 50 cost ~10 bits of bootstrapping precision in a small-N test.  The number of
levels left after bootstrapping is the largest value <= --levels-after that still fits 128-bit
security at N=2^16.  Threads: keys are generated with the first --threads value; every value is then timed in the
same process (omp_set_num_threads on the wheel's bundled libgomp).
"""
import argparse
import ctypes
import math
import os
import platform
import statistics
import time

import numpy as np

from common import emit, log, prec_bits


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--logn", type=int, default=16)
    ap.add_argument("--slots", type=int, default=None, help="default: N/2 (full)")
    ap.add_argument("--threads", default="1,2",
                    help="comma list; keys are generated once (at the first count), then each count is timed "
                         "in the same process via omp_set_num_threads")
    ap.add_argument("--level-budget", default="auto",
                    help="e.g. 3,3; auto = [3,3] for <= 2^12 slots, [4,4] for more (memory: [3,3] at full "
                         "slots needs more rotation keys than this shared 24 GiB box can safely hold)")
    ap.add_argument("--levels-after", type=int, default=10)
    ap.add_argument("--scale-bits", type=int, default=59)
    ap.add_argument("--num-large-digits", type=int, default=6,
                    help="HYBRID dnum; 0 = OpenFHE default (3 here), which leaves no levels at N=2^16/128-bit")
    ap.add_argument("--first-mod", type=int, default=60)
    ap.add_argument("--security", default="HEStd_128_classic")
    ap.add_argument("--secret", default="UNIFORM_TERNARY",
                    choices=["UNIFORM_TERNARY", "SPARSE_TERNARY", "SPARSE_ENCAPSULATED"],
                    help="SPARSE_ENCAPSULATED: a dense secret with a sparse one inside bootstrapping only "
                         "(hecnn's technique); SPARSE_TERNARY: a sparse secret throughout (OpenFHE's fastest)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    threads = [int(t) for t in a.threads.split(",")]
    os.environ["OMP_NUM_THREADS"] = str(threads[0])
    import openfhe as o
    gomp = ctypes.CDLL(os.path.join(os.path.dirname(o.__file__), "lib", "libgomp.so"))

    def set_threads(t):
        gomp.omp_set_num_threads(t)
        got = gomp.omp_get_max_threads()
        assert got == t, (got, t)
    set_threads(threads[0])

    n = 1 << a.logn
    slots = a.slots or n // 2
    if a.level_budget == "auto":
        budget = [3, 3] if slots <= 4096 else [4, 4]
    else:
        budget = [int(v) for v in a.level_budget.split(",")]
    skd = getattr(o, a.secret)
    bts_depth = o.CryptoContext.GetBootstrapDepth(budget, skd)

    cc = None
    for lev_after in range(a.levels_after, 0, -1):
        depth = lev_after + bts_depth
        p = o.CCParamsCKKSRNS()
        p.SetSecretKeyDist(skd)
        p.SetSecurityLevel(getattr(o, a.security))
        p.SetRingDim(n)
        p.SetScalingModSize(a.scale_bits)
        p.SetFirstModSize(a.first_mod)
        p.SetScalingTechnique(o.FLEXIBLEAUTO)
        p.SetMultiplicativeDepth(depth)
        p.SetBatchSize(slots)
        if a.num_large_digits:
            p.SetNumLargeDigits(a.num_large_digits)
        try:
            cc = o.GenCryptoContext(p)
            break
        except RuntimeError as e:
            log(f"levels_after={lev_after} (depth {depth}) does not fit: {str(e).splitlines()[0][:200]}")
    assert cc is not None
    for f in (o.PKE, o.KEYSWITCH, o.LEVELEDSHE, o.ADVANCEDSHE, o.FHE):
        cc.Enable(f)
    assert cc.GetRingDimension() == n
    log(f"N=2^{a.logn} slots={slots} budget={budget} bts_depth={bts_depth} depth={depth} levels_after={lev_after}")

    t0 = time.perf_counter()
    cc.EvalBootstrapSetup(budget, [0, 0], slots)
    t_setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    kp = cc.KeyGen()
    cc.EvalMultKeyGen(kp.secretKey)
    t_kg = time.perf_counter() - t0
    t0 = time.perf_counter()
    cc.EvalBootstrapKeyGen(kp.secretKey, slots)
    t_btkg = time.perf_counter() - t0
    n_rot_keys = len(cc.GetExistingEvalAutomorphismKeyIndices(kp.secretKey.GetKeyTag())) \
        if hasattr(cc, "GetExistingEvalAutomorphismKeyIndices") else None
    log(f"setup {t_setup:.1f}s keygen {t_kg:.1f}s bootstrap keygen {t_btkg:.1f}s ({n_rot_keys} automorphism keys)")

    rng = np.random.default_rng(a.seed)
    x = rng.uniform(-1.0, 1.0, slots)
    # encrypt at the last level (as in OpenFHE's example): the input has no levels left
    pt = cc.MakeCKKSPackedPlaintext(x.tolist(), 1, depth - 1, None, slots)
    pt.SetLength(slots)
    ct = cc.Encrypt(kp.publicKey, pt)
    log(f"input level {ct.GetLevel()} (depth {depth})")

    results = []
    for t in threads:
        set_threads(t)
        times, precs, out = [], [], None
        for _ in range(a.reps):
            t0 = time.perf_counter()
            out = cc.EvalBootstrap(ct)
            times.append(time.perf_counter() - t0)
            d = cc.Decrypt(kp.secretKey, out)
            d.SetLength(slots)
            precs.append(prec_bits(d.GetRealPackedValue(), x))
            log(f"threads {t}: bootstrap {times[-1]:.2f}s precision {precs[-1]} bits, level after {out.GetLevel()}")
        results.append((t, times, precs, out))
        # emit right away (a long run killed later still leaves the finished thread counts)
        # as in OpenFHE's simple-ckks-bootstrapping example
        levels_left = depth - out.GetLevel() - (out.GetNoiseScaleDeg() - 1)
        emit({
          "library": "openfhe", "library_version": f"openfhe-python {o.__version__}",
          "benchmark": "bootstrap", "n": n, "logn": a.logn, "slots": slots, "threads": t,
          "level_budget": budget, "secret_key_dist": a.secret, "scaling": "FLEXIBLEAUTO",
          "scale_bits": a.scale_bits, "first_mod_bits": a.first_mod, "security": a.security,
          "key_switching": "HYBRID", "dnum": a.num_large_digits or "default",
          "bootstrap_depth": bts_depth, "multiplicative_depth": depth,
          "levels_after_target": lev_after, "levels_left_after_bootstrap": levels_left,
          "input_level": ct.GetLevel(), "ciphertext_level_after_bootstrap": out.GetLevel(), "noise_scale_deg_after": out.GetNoiseScaleDeg(),
          "s_per_bootstrap": round(statistics.median(times), 3), "s_per_bootstrap_all": [round(v, 3) for v in times],
          "precision_bits": round(statistics.median(precs), 3), "precision_bits_all": precs,
          "keygen_threads": threads[0],
          "keygen_s": {"sk_pk_relin": round(t_kg, 3), "bootstrap_keys": round(t_btkg, 3),
                       "bootstrap_setup": round(t_setup, 3)},
          "automorphism_keys": n_rot_keys,
          "host": platform.node(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        })


if __name__ == "__main__":
    main()
