#!/usr/bin/env bash
# hecnn's side of the bootstrapping comparison: `hecnn bench bootstrap --json` at N=2^16 for full
# slots and 2^12 slots on 1 and 2 threads, plus two real full-slot vectors per bootstrap
# (--real-pair) on 2 threads, into results/<date>-hecnn-bootstrap.json. Run it next to
# run_bootstrap.sh (OpenFHE) on an otherwise idle machine; needs ~11 GiB of RAM.
set -euo pipefail
cd "$(dirname "$0")"
root=../..
(cd "$root" && cargo build --release -p hecnn)
date=$(date -u +%F)
mkdir -p results
tmp="results/$date-hecnn-bootstrap.jsonl"; : > "$tmp"
for slots in 32768 4096; do
  for t in 1 2; do
    echo "hecnn bootstrap slots=$slots threads=$t" >&2
    "$root/target/release/hecnn" bench bootstrap --slots "$slots" --threads "$t" --reps "${REPS:-2}" --json >> "$tmp"
    echo >> "$tmp"
  done
done
echo "hecnn bootstrap slots=32768 threads=2 --real-pair" >&2
"$root/target/release/hecnn" bench bootstrap --threads 2 --reps "${REPS:-2}" --real-pair --json >> "$tmp"
echo >> "$tmp"
python3 -c "import json,sys; rows=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]; json.dump(rows, open(sys.argv[2],'w'), indent=1)" \
  "$tmp" "results/$date-hecnn-bootstrap.json"
rm -f "$tmp"
echo "wrote results/$date-hecnn-bootstrap.json" >&2
