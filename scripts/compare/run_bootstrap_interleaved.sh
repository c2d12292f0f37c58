#!/usr/bin/env bash
# Full-slot bootstrapping, hecnn and OpenFHE alternated in one session, so that the drift of a
# shared VM (±15 % between runs minutes apart) falls on both alike:
#   hecnn, OpenFHE SPARSE_ENCAPSULATED, hecnn, OpenFHE SPARSE_TERNARY, hecnn
# each on 1 and 2 threads, REPS bootstraps per run (default 3). Writes one JSON list,
# results/<date>[-TAG]-interleaved-bootstrap.json. Needs the venv of setup.sh and ~10 GiB of RAM.
# HECNN_ARGS adds options to hecnn's runs (e.g. "--stc-first"; each hecnn slot then runs once with
# and once without them), HECNN_THREADS / OPENFHE_THREADS choose the thread counts.
set -euo pipefail
cd "$(dirname "$0")"
root=../..
(cd "$root" && cargo build --release -p hecnn)
date=$(date -u +%F)
out="results/$date${TAG:+-$TAG}-interleaved-bootstrap"
mkdir -p results
: > "$out.jsonl"
ulimit -v ${BOOT_VMEM_KB:-17000000}
hecnn() {
  for t in ${HECNN_THREADS:-2 1}; do
    for extra in "" ${HECNN_ARGS:+"$HECNN_ARGS"}; do
      echo "hecnn bootstrap threads=$t $extra" >&2
      # shellcheck disable=SC2086
      "$root/target/release/hecnn" bench bootstrap --threads "$t" --reps "${REPS:-3}" $extra --json >> "$out.jsonl"
      echo >> "$out.jsonl"
    done
  done
}
openfhe() {
  echo "openfhe bootstrap secret=$1 threads=${OPENFHE_THREADS:-1,2}" >&2
  .venv/bin/python openfhe_bootstrap.py --logn 16 --reps "${REPS:-3}" --secret "$1" --threads "${OPENFHE_THREADS:-1,2}" >> "$out.jsonl"
}
hecnn; openfhe SPARSE_ENCAPSULATED; hecnn; openfhe SPARSE_TERNARY; hecnn
python3 -c "import json,sys; rows=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]; json.dump(rows, open(sys.argv[2],'w'), indent=1)" \
  "$out.jsonl" "$out.json"
rm -f "$out.jsonl"
echo "wrote $out.json" >&2
