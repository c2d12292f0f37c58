#!/usr/bin/env python3
"""CKKS micro-benchmarks of Microsoft SEAL through tenseal.sealapi.

Prints one JSON object (one configuration) to stdout.
SEAL is single-threaded per operation; --threads is recorded but has no effect on
SEAL's own kernels (tenseal's n_threads only parallelises its tensor-level ops,
which are not used here).
"""
import argparse
import math
import os
import platform
import tempfile
import time

import numpy as np
import tenseal
import tenseal.sealapi as seal

from common import STATS, Clock, emit, log, median_ms, prec_bits, rand_vec, record


def file_size(obj):
    fd, path = tempfile.mkstemp(suffix=".tmp")
    os.close(fd)
    try:
        obj.save(path)
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            hdr = f.read(16)
        return size, hdr
    finally:
        os.remove(path)


def header_info(hdr):
    # SEALHeader: magic(2) header_size(1) version_major(1) version_minor(1) compr_mode(1) reserved(2) size(8)
    modes = {0: "none", 1: "zlib", 2: "zstd"}
    return {"seal_version": f"{hdr[3]}.{hdr[4]}", "compr_mode": modes.get(hdr[5], str(hdr[5]))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--logn", type=int, default=16)
    ap.add_argument("--limbs", type=int, default=30, help="ciphertext primes: [60] + (limbs-1)*[40]")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--keygen-reps", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    n = 1 << a.logn
    slots = n // 2
    scale = 2.0 ** 40
    ct_bits = [60] + [40] * (a.limbs - 1)
    special_bits = [60]
    parms = seal.EncryptionParameters(seal.SCHEME_TYPE.CKKS)
    parms.set_poly_modulus_degree(n)
    parms.set_coeff_modulus(seal.CoeffModulus.Create(n, ct_bits + special_bits))
    # SEAL's security table stops at N=2^15, so N=2^16 needs sec_level NONE; use NONE everywhere.
    ctx = seal.SEALContext(parms, True, seal.SEC_LEVEL_TYPE.NONE)
    assert ctx.parameters_set(), ctx.parameters_error_message()
    top = ctx.first_context_data()
    limbs = len(top.parms().coeff_modulus())
    assert limbs == a.limbs, (limbs, a.limbs)
    log_qp = sum(m.value().bit_length() for m in ctx.key_context_data().parms().coeff_modulus())
    log_qp_exact = sum(math.log2(m.value()) for m in ctx.key_context_data().parms().coeff_modulus())

    ms = {}
    # ---- key generation ----
    def t_keygen():
        kg = seal.KeyGenerator(ctx)
        pk = seal.PublicKey(); kg.create_public_key(pk)
        rk = seal.RelinKeys(); kg.create_relin_keys(rk)
        return kg, pk, rk

    acc = {k: ([], []) for k in ("keygen_sk", "keygen_pk", "keygen_relin", "keygen_total")}
    for _ in range(a.keygen_reps):
        c = Clock(); c0 = Clock()
        kg = seal.KeyGenerator(ctx); w, u = c.lap(); acc["keygen_sk"][0].append(w); acc["keygen_sk"][1].append(u)
        pk = seal.PublicKey(); kg.create_public_key(pk); w, u = c.lap(); acc["keygen_pk"][0].append(w); acc["keygen_pk"][1].append(u)
        rk = seal.RelinKeys(); kg.create_relin_keys(rk); w, u = c.lap(); acc["keygen_relin"][0].append(w); acc["keygen_relin"][1].append(u)
        w, u = c0.lap(); acc["keygen_total"][0].append(w); acc["keygen_total"][1].append(u)
        del rk
    for k, (ws, cs) in acc.items():
        ms[k] = record(k, ws, cs)
    log("keygen done", ms)

    kg = seal.KeyGenerator(ctx)
    sk = kg.secret_key()
    pk = seal.PublicKey(); kg.create_public_key(pk)
    rk = seal.RelinKeys(); kg.create_relin_keys(rk)
    gal_elt = pow(3, 1, 2 * n)  # Galois element of a left rotation by one slot
    ws, cs = [], []
    for _ in range(a.keygen_reps):
        c = Clock(); g = seal.GaloisKeys(); kg.create_galois_keys([gal_elt], g)
        w, u = c.lap(); ws.append(w); cs.append(u); del g
    ms["keygen_galois_1"] = record("keygen_galois_1", ws, cs)
    gk = seal.GaloisKeys(); kg.create_galois_keys([gal_elt], gk)
    assert gk.has_key(gal_elt)

    enc = seal.CKKSEncoder(ctx)
    encryptor = seal.Encryptor(ctx, pk)
    decryptor = seal.Decryptor(ctx, sk)
    ev = seal.Evaluator(ctx)
    assert enc.slot_count() == slots

    rng = np.random.default_rng(a.seed)
    x = rand_vec(rng, slots); y = rand_vec(rng, slots)
    xl, yl = x.tolist(), y.tolist()

    def encode_encrypt(v):
        pt = seal.Plaintext(); enc.encode(v, scale, pt)
        ct = seal.Ciphertext(); encryptor.encrypt(pt, ct)
        return ct

    def decrypt_decode(ct):
        pt = seal.Plaintext(); decryptor.decrypt(ct, pt)
        return enc.decode_double(pt)

    cx = encode_encrypt(xl); cy = encode_encrypt(yl)
    assert cx.coeff_modulus_size() == a.limbs

    ms["encode"] = median_ms(lambda: enc.encode(xl, scale, seal.Plaintext()), a.reps, "encode")
    ms["encrypt"] = median_ms(lambda: encode_encrypt(xl), a.reps, "encrypt")
    ms["decrypt"] = median_ms(lambda: decrypt_decode(cx), a.reps, "decrypt")
    out = seal.Ciphertext()
    ms["add"] = median_ms(lambda: ev.add(cx, cy, out), max(a.reps, 11), "add")

    def mul_relin():
        c = seal.Ciphertext(); ev.multiply(cx, cy, c); ev.relinearize_inplace(c, rk); return c
    ms["mul_relin"] = median_ms(mul_relin, a.reps, "mul_relin")
    prod = mul_relin()
    ms["rescale"] = median_ms(lambda: ev.rescale_to_next(prod, seal.Ciphertext()), a.reps, "rescale")

    def mul_relin_rescale():
        c = mul_relin(); ev.rescale_to_next_inplace(c); return c
    ms["mul_relin_rescale"] = median_ms(mul_relin_rescale, a.reps, "mul_relin_rescale")
    ms["rotate"] = median_ms(lambda: ev.rotate_vector(cx, 1, gk, seal.Ciphertext()), a.reps, "rotate")
    ms["rotate_hoisted_precompute"] = None  # SEAL has no hoisted-rotation API
    ms["rotate_hoisted_per_step"] = None
    log("ops done", ms)

    # ---- precision ----
    pb = {}
    pb["fresh"] = prec_bits(decrypt_decode(cx), x)
    c = mul_relin_rescale()
    pb["mul_rescale"] = prec_bits(decrypt_decode(c), x * y)
    r = seal.Ciphertext(); ev.rotate_vector(cx, 1, gk, r)
    pb["rotate"] = prec_bits(decrypt_decode(r), np.roll(x, -1))

    # ---- serialized sizes (SEAL's own Serialization, default compression of this build) ----
    b = {}
    b["ciphertext"], hdr = file_size(cx)
    b["relin_key"], _ = file_size(rk)
    b["galois_key"], _ = file_size(gk)
    # seeded variants: KeyGenerator/Encryptor return Serializable<> objects that store only the seed for the 'a' half
    b["relin_key_seeded"], _ = file_size(kg.create_relin_keys())
    b["galois_key_seeded"], _ = file_size(kg.create_galois_keys([gal_elt]))
    pt = seal.Plaintext(); enc.encode(xl, scale, pt)
    try:
        ser_ct = seal.Encryptor(ctx, sk).encrypt_symmetric(pt)
        b["ciphertext_seeded_symmetric"], _ = file_size(ser_ct)
    except Exception as e:  # pragma: no cover
        log("symmetric serializable encrypt unavailable:", e)
    # raw (uncompressed, unseeded) in-memory payloads: 8-byte words
    b["ciphertext_raw"] = 2 * a.limbs * n * 8
    b["relin_key_raw"] = a.limbs * 2 * (a.limbs + len(special_bits)) * n * 8
    b["galois_key_raw"] = b["relin_key_raw"]
    hi = header_info(hdr)

    emit({
        "library": "seal",
        "library_version": f"tenseal {tenseal.__version__} / SEAL {hi['seal_version']}",
        "serialization_compression": hi["compr_mode"],
        "n": n, "logn": a.logn, "slots": slots,
        "threads": a.threads, "threads_effective": 1,
        "limbs": a.limbs, "ct_prime_bits": ct_bits, "special_prime_bits": special_bits,
        "log_q": round(sum(math.log2(m.value()) for m in top.parms().coeff_modulus()), 2),
        "log_qp": round(log_qp_exact, 2), "log_qp_bitlen_sum": log_qp,
        "scale_bits": 40, "dnum": a.limbs, "sec_level": "NONE (not enforced)",
        "reps": a.reps, "keygen_reps": a.keygen_reps,
        "ms": ms, "ms_min": STATS["ms_min"], "cpu_ms": STATS["cpu_ms"], "bytes": b, "precision_bits": pb,
        "host": platform.node(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    })


if __name__ == "__main__":
    main()
