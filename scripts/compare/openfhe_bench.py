#!/usr/bin/env python3
"""CKKS micro-benchmarks of OpenFHE (openfhe-python). Prints one JSON object to stdout.

Threads: set OMP_NUM_THREADS *before* starting Python (run.sh does this); --threads
is checked against it.
"""
import argparse
import json
import math
import os
import platform
import time

import numpy as np

from common import STATS, Clock, emit, log, median_ms, prec_bits, rand_vec, record


def make_cc(o, logn, limbs, dnum):
    p = o.CCParamsCKKSRNS()
    p.SetMultiplicativeDepth(limbs - 1)          # limbs = depth + 1 ciphertext towers at the top level
    p.SetFirstModSize(60)
    p.SetScalingModSize(40)
    p.SetRingDim(1 << logn)
    p.SetBatchSize(1 << (logn - 1))              # full slots
    p.SetScalingTechnique(o.FIXEDMANUAL)
    p.SetKeySwitchTechnique(o.HYBRID)
    p.SetNumLargeDigits(dnum)
    p.SetSecurityLevel(o.HEStd_NotSet)           # force the ring dimension; log2(QP) is reported instead
    cc = o.GenCryptoContext(p)
    for f in (o.PKE, o.KEYSWITCH, o.LEVELEDSHE, o.ADVANCEDSHE):
        cc.Enable(f)
    return cc, p


def tower_moduli(o, limbs, dnum):
    """Moduli of the key-switching basis QP, read from a relin key's JSON serialization of a
    small-ring (N=2^10) context with identical depth / mod sizes / dnum (the prime *bit sizes*
    and counts do not depend on N for HEStd_NotSet; the JSON at N=2^16 would be far too big)."""
    cc, _ = make_cc(o, 10, limbs, dnum)
    kp = cc.KeyGen()
    cc.EvalMultKeyGen(kp.secretKey)
    k = cc.GetEvalMultKeyVector(kp.secretKey.GetKeyTag())[0]
    j = json.loads(o.Serialize(k, o.JSON))
    towers = j["value0"]["ptr_wrapper"]["data"]["ak"][0]["v"]
    mods = [int(t["v"]["ptr_wrapper"]["data"]["m"]["v"]) for t in towers]
    o.ClearEvalMultKeys()
    return mods


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--logn", type=int, default=16)
    ap.add_argument("--limbs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dnum", type=int, default=3)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--keygen-reps", type=int, default=5)
    ap.add_argument("--hoist-steps", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    omp = os.environ.get("OMP_NUM_THREADS")
    if omp is None or int(omp) != a.threads:
        raise SystemExit(f"set OMP_NUM_THREADS={a.threads} before starting (got {omp})")
    import openfhe as o

    n = 1 << a.logn
    slots = n // 2
    cc, params = make_cc(o, a.logn, a.limbs, a.dnum)
    assert cc.GetRingDimension() == n

    mods = tower_moduli(o, a.limbs, a.dnum)
    q_mods, p_mods = mods[:a.limbs], mods[a.limbs:]
    log_q = sum(m.bit_length() for m in q_mods)
    log_qp = sum(m.bit_length() for m in mods)
    log_qp_exact = sum(math.log2(m) for m in mods)
    log(f"OpenFHE N=2^{a.logn} limbs={a.limbs} dnum={a.dnum}: Q towers {len(q_mods)}, P towers {len(p_mods)} "
        f"bits {[m.bit_length() for m in p_mods]}, logQP={log_qp}")

    ms = {}
    acc = {k: ([], []) for k in ("keygen_sk_pk", "keygen_relin", "keygen_total")}
    for _ in range(a.keygen_reps):
        c = Clock(); c0 = Clock()
        kp = cc.KeyGen(); w, u = c.lap(); acc["keygen_sk_pk"][0].append(w); acc["keygen_sk_pk"][1].append(u)
        cc.EvalMultKeyGen(kp.secretKey); w, u = c.lap(); acc["keygen_relin"][0].append(w); acc["keygen_relin"][1].append(u)
        w, u = c0.lap(); acc["keygen_total"][0].append(w); acc["keygen_total"][1].append(u)
        o.ClearEvalMultKeys()
    for k, (ws, cs) in acc.items():
        ms[k] = record(k, ws, cs)

    kp = cc.KeyGen()
    sk, pk = kp.secretKey, kp.publicKey
    cc.EvalMultKeyGen(sk)
    ws, cs = [], []
    for _ in range(a.keygen_reps):
        cc.ClearEvalAutomorphismKeys()
        c = Clock(); cc.EvalRotateKeyGen(sk, [1]); w, u = c.lap(); ws.append(w); cs.append(u)
    ms["keygen_galois_1"] = record("keygen_galois_1", ws, cs)
    cc.ClearEvalAutomorphismKeys()
    steps = list(range(1, a.hoist_steps + 1))
    cc.EvalRotateKeyGen(sk, steps)
    log("keygen done", ms)

    rng = np.random.default_rng(a.seed)
    x = rand_vec(rng, slots); y = rand_vec(rng, slots)
    xl, yl = x.tolist(), y.tolist()

    def encode_encrypt(v):
        return cc.Encrypt(pk, cc.MakeCKKSPackedPlaintext(v))

    def decrypt_decode(ct):
        pt = cc.Decrypt(sk, ct)
        pt.SetLength(slots)
        return pt.GetRealPackedValue()

    cx = encode_encrypt(xl); cy = encode_encrypt(yl)
    assert cx.GetLevel() == 0

    ms["encode"] = median_ms(lambda: cc.MakeCKKSPackedPlaintext(xl), a.reps, "encode")
    ms["encrypt"] = median_ms(lambda: encode_encrypt(xl), a.reps, "encrypt")
    ms["decrypt"] = median_ms(lambda: decrypt_decode(cx), a.reps, "decrypt")
    ms["add"] = median_ms(lambda: cc.EvalAdd(cx, cy), max(a.reps, 11), "add")
    ms["mul_relin"] = median_ms(lambda: cc.EvalMult(cx, cy), a.reps, "mul_relin")  # EvalMult relinearizes
    prod = cc.EvalMult(cx, cy)
    ms["rescale"] = median_ms(lambda: cc.Rescale(prod), a.reps, "rescale")
    ms["mul_relin_rescale"] = median_ms(lambda: cc.Rescale(cc.EvalMult(cx, cy)), a.reps, "mul_relin_rescale")
    ms["rotate"] = median_ms(lambda: cc.EvalRotate(cx, 1), a.reps, "rotate")
    m = cc.GetCyclotomicOrder()
    ms["rotate_hoisted_precompute"] = median_ms(lambda: cc.EvalFastRotationPrecompute(cx), a.reps, "rotate_hoisted_precompute")
    digits = cc.EvalFastRotationPrecompute(cx)

    def hoisted_all():
        return [cc.EvalFastRotation(cx, s, m, digits) for s in steps]
    t8 = median_ms(hoisted_all, a.reps, "rotate_hoisted_all_steps")
    STATS["cpu_ms"]["rotate_hoisted_per_step"] = round(STATS["cpu_ms"]["rotate_hoisted_all_steps"] / len(steps), 4)
    ms["rotate_hoisted_steps"] = len(steps)
    ms["rotate_hoisted_all_steps"] = t8
    ms["rotate_hoisted_per_step"] = round(t8 / len(steps), 4)
    ms["rotate_hoisted_total"] = round(ms["rotate_hoisted_precompute"] + t8, 4)
    log("ops done", ms)

    pb = {}
    pb["fresh"] = prec_bits(decrypt_decode(cx), x)
    pb["mul_rescale"] = prec_bits(decrypt_decode(cc.Rescale(cc.EvalMult(cx, cy))), x * y)
    pb["rotate"] = prec_bits(decrypt_decode(cc.EvalRotate(cx, 1)), np.roll(x, -1))
    hr = cc.EvalFastRotation(cx, 1, m, digits)
    pb["rotate_hoisted"] = prec_bits(decrypt_decode(hr), np.roll(x, -1))

    b = {}
    b["ciphertext"] = len(o.Serialize(cx, o.BINARY))
    rk = cc.GetEvalMultKeyVector(sk.GetKeyTag())[0]
    b["relin_key"] = len(o.Serialize(rk, o.BINARY))
    # EvalKeyMap is not indexable from Python: regenerate a map holding only the step-1 key
    del digits
    cc.ClearEvalAutomorphismKeys()
    cc.EvalRotateKeyGen(sk, [1])
    gmap = cc.GetEvalAutomorphismKeyMap(sk.GetKeyTag())
    b["galois_key"] = len(o.Serialize(gmap, o.BINARY))  # a map with one EvalKey (+ a few bytes of map framing)
    b["ciphertext_raw"] = 2 * a.limbs * n * 8
    b["relin_key_raw"] = a.dnum * 2 * len(mods) * n * 8
    b["galois_key_raw"] = b["relin_key_raw"]
    b["public_key"] = len(o.Serialize(pk, o.BINARY))

    emit({
        "library": "openfhe",
        "library_version": f"openfhe-python {o.__version__}",
        "serialization": "cereal BINARY (uncompressed; each EvalKey blob embeds the crypto-context params)",
        "n": n, "logn": a.logn, "slots": slots,
        "threads": a.threads, "threads_effective": a.threads,
        "limbs": a.limbs, "ct_prime_bits": [round(math.log2(q)) for q in q_mods],
        "special_prime_bits": [round(math.log2(p)) for p in p_mods],
        "log_q": round(sum(math.log2(q) for q in q_mods), 2), "log_qp": round(log_qp_exact, 2),
        "log_qp_bitlen_sum": log_qp,
        "scale_bits": 40, "dnum": a.dnum, "key_switching": "HYBRID", "scaling": "FIXEDMANUAL",
        "sec_level": "HEStd_NotSet", "secret_key_dist": str(params.GetSecretKeyDist()),
        "reps": a.reps, "keygen_reps": a.keygen_reps,
        "ms": ms, "ms_min": STATS["ms_min"], "cpu_ms": STATS["cpu_ms"], "bytes": b, "precision_bits": pb,
        "host": platform.node(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    })


if __name__ == "__main__":
    main()
