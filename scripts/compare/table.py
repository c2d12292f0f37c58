#!/usr/bin/env python3
"""Markdown comparison table: hecnn vs OpenFHE vs SEAL (CKKS, top level, full slots).

Reads from results/ (or --dir):
  <date>-seal.json, <date>-openfhe.json      (arrays written by run.sh)
  <date>-hecnn-n<logn>-t<threads>.json       (from `hecnn bench ckks --preset NAME --threads T --json`)
  <date>-openfhe-bootstrap.json              (optional, from run_bootstrap.sh)
--date picks the date prefix (default: the newest date that has a seal or openfhe file).

hecnn's mul+relin+rescale is its measured (fused) ms.mul_relin_rescale, else ms.mul_relin + ms.rescale.
Ratios are time(hecnn) / time(other): < 1 means hecnn is faster.
"""
import argparse
import glob
import json
import os
import re
import sys


def load(path):
    with open(path) as f:
        d = json.load(f)
    return d if isinstance(d, list) else [d]


def fmt(v, nd=1):
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def mib(b):
    return None if b is None else b / 2**20


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "—"
    return f"{a / b:.2f}×"


def mrr(row, lib):
    ms = row.get("ms", {})
    if lib == "hecnn":
        # hecnn fuses the key switch's ModDown with the rescale in
        # mul_relin_rescale; use that measured figure when present.
        if ms.get("mul_relin_rescale") is not None:
            return ms["mul_relin_rescale"]
        if ms.get("mul_relin") is None or ms.get("rescale") is None:
            return None
        return ms["mul_relin"] + ms["rescale"]
    return ms.get("mul_relin_rescale")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    ap.add_argument("--date", default=None)
    ap.add_argument("--metric", choices=["wall", "min", "cpu"], default="wall",
                    help="SEAL/OpenFHE timing column: wall = median wall clock (default), min = fastest "
                         "wall-clock repetition, cpu = median process CPU time (all threads; useful on a "
                         "loaded host for 1-thread runs). hecnn's ms are always used as given.")
    a = ap.parse_args()

    files = sorted(glob.glob(os.path.join(a.dir, "*.json")))
    dates = sorted({m.group(1) for f in files
                    for m in [re.match(r"(\d{4}-\d{2}-\d{2})-(seal|openfhe)\.json$", os.path.basename(f))] if m})
    date = a.date or (dates[-1] if dates else None)
    if date is None:
        sys.exit("no <date>-seal.json / <date>-openfhe.json in " + a.dir)

    rows = {}  # (logn, threads) -> {label: row}
    def put(label, r):
        logn = r.get("logn") or (r["n"].bit_length() - 1)
        rows.setdefault((logn, r["threads"]), {})[label] = r

    for lib in ("seal", "openfhe"):
        p = os.path.join(a.dir, f"{date}-{lib}.json")
        if not os.path.exists(p):
            continue
        for r in load(p):
            if a.metric != "wall":
                alt = r.get({"min": "ms_min", "cpu": "cpu_ms"}[a.metric], {})
                r["ms"] = {k: alt.get(k, v) for k, v in r["ms"].items()}
                if a.metric == "min" and r["ms"].get("rotate_hoisted_all_steps") is not None:
                    r["ms"]["rotate_hoisted_per_step"] = r["ms"]["rotate_hoisted_all_steps"] / r["ms"]["rotate_hoisted_steps"]
            if lib == "openfhe" and r.get("dnum", 3) != 3:
                put(f"OpenFHE dnum={r['dnum']}", r)
            else:
                put({"seal": "SEAL", "openfhe": "OpenFHE"}[lib], r)
    for p in glob.glob(os.path.join(a.dir, f"{date}-hecnn-n*-t*.json")):
        m = re.search(r"-hecnn-n(\d+)-t(\d+)\.json$", p)
        for r in load(p):
            r.setdefault("threads", int(m.group(2)))
            r.setdefault("logn", int(m.group(1)))
            r["threads"] = int(m.group(2)) if "threads" not in r else r["threads"]
            put("hecnn", r)

    print(f"# CKKS comparison ({date}), top level, full slots, scale 2^40\n")
    print(f"SEAL/OpenFHE timing metric: **{a.metric}** "
          f"({ {'wall': 'median wall clock', 'min': 'fastest wall-clock repetition', 'cpu': 'median process CPU time'}[a.metric] }).\n")
    print("Times in ms. `mul+relin+rescale` for hecnn = its fused ms.mul_relin_rescale. "
          "Ratio columns: time(hecnn)/time(other), < 1 = hecnn faster.\n")
    order = ["hecnn", "OpenFHE", "SEAL"]
    for key in sorted(rows, key=lambda k: (-k[0], k[1])):
        logn, t = key
        g = rows[key]
        labels = [l for l in order if l in g] + sorted(l for l in g if l not in order)
        print(f"## N=2^{logn}, {t} thread{'s' if t > 1 else ''}\n")
        print("| library | limbs (hecnn: levels) | log2 QP | dnum | enc | dec | add | mul+relin | rescale | mul+relin+rescale | "
              "rotate | hoisted (pre / per step) | keygen sk+pk+relin | galois keygen | ct MiB | relin key MiB | "
              "galois key MiB | prec fresh / mul / rot (bits) |")
        print("|" + "---|" * 18)
        for l in labels:
            r = g[l]; ms = r.get("ms", {}); b = r.get("bytes", {}); pb = r.get("precision_bits", {})
            lib = "hecnn" if l == "hecnn" else "x"
            if l == "hecnn":
                hoist = fmt(ms.get("rotate_hoisted"))
            elif ms.get("rotate_hoisted_per_step") is not None:
                hoist = f"{fmt(ms.get('rotate_hoisted_precompute'))} / {fmt(ms.get('rotate_hoisted_per_step'))}"
            else:
                hoist = "n/a"
            note = " (1-thr kernels)" if l == "SEAL" and t > 1 else ""
            print(f"| {l}{note} | {fmt(r.get('limbs', r.get('levels')))} | {fmt(r.get('log_qp'))} | {fmt(r.get('dnum'))} | "
                  f"{fmt(ms.get('encrypt'))} | {fmt(ms.get('decrypt'))} | {fmt(ms.get('add'), 2)} | "
                  f"{fmt(ms.get('mul_relin'))} | {fmt(ms.get('rescale'))} | {fmt(mrr(r, lib))} | {fmt(ms.get('rotate'))} | "
                  f"{hoist} | {fmt(ms.get('keygen_total'))} | {fmt(ms.get('keygen_galois_1'))} | "
                  f"{fmt(mib(b.get('ciphertext')), 2)} | {fmt(mib(b.get('relin_key')))} | {fmt(mib(b.get('galois_key')))} | "
                  f"{fmt(pb.get('fresh'))} / {fmt(pb.get('mul_rescale'))} / {fmt(pb.get('rotate'))} |")
        print()
        h = g.get("hecnn")
        if h:
            print("| ratio time(hecnn)/time(other) | mul+relin+rescale | rotate |")
            print("|---|---|---|")
            for l in labels:
                if l == "hecnn":
                    continue
                o = g[l]
                print(f"| hecnn vs {l} | {ratio(mrr(h, 'hecnn'), mrr(o, 'x'))} | "
                      f"{ratio(h['ms'].get('rotate'), o['ms'].get('rotate'))} |")
            print()
        else:
            print(f"(no hecnn result `{date}-hecnn-n{logn}-t{t}.json` yet)\n")

    bp = os.path.join(a.dir, f"{date}-openfhe-bootstrap.json")
    if os.path.exists(bp):
        print("## OpenFHE bootstrapping, N=2^16\n")
        print("| slots | threads | level budget | s / bootstrap | precision bits | levels left | depth | "
              "keygen s (sk+pk+relin / bootstrap keys) | #automorphism keys |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in load(bp):
            print(f"| {r['slots']} | {r['threads']} | {r['level_budget']} | {fmt(r['s_per_bootstrap'], 2)} | "
                  f"{fmt(r['precision_bits'])} | {r['levels_left_after_bootstrap']} | {r['multiplicative_depth']} | "
                  f"{fmt(r['keygen_s']['sk_pk_relin'], 2)} / {fmt(r['keygen_s']['bootstrap_keys'], 1)} | "
                  f"{fmt(r.get('automorphism_keys'))} |")
        print()


if __name__ == "__main__":
    main()
