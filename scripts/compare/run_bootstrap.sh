#!/usr/bin/env bash
# OpenFHE CKKS bootstrapping at N=2^16: full slots (2^15) and 2^12 slots, 1 and 2 threads, per secret
# distribution (SECRETS, default: SPARSE_ENCAPSULATED SPARSE_TERNARY; SLOTS to restrict the slot counts).
# Writes results/<date>-openfhe-bootstrap.json.  Needs several GiB of RAM (bootstrapping keys).
#   ./run_bootstrap.sh [--quick]   (--quick: N=2^12, HEStd_NotSet, 1 rep; smoke test only)
set -euo pipefail
cd "$(dirname "$0")"
PY=.venv/bin/python
DATE=$(date -u +%Y-%m-%d)
mkdir -p results
# safety on a shared box: fail with bad_alloc rather than push the machine into the OOM killer
ulimit -v ${BOOT_VMEM_KB:-17000000}
if [ "${1:-}" = "--quick" ]; then
  ARGS="--logn 12 --security HEStd_NotSet --reps 1 --levels-after 3"; SLOTS="2048 256"; SUF="-quick"
else
  ARGS="--logn 16 --reps ${REPS:-3}"; SLOTS="${SLOTS:-4096 32768}"; SUF=""
fi
tmp="results/${DATE}-openfhe-bootstrap${SUF}.jsonl"; : > "$tmp"
# SECRETS: UNIFORM_TERNARY (dense throughout), SPARSE_ENCAPSULATED (dense, sparse inside bootstrapping:
# hecnn's technique), SPARSE_TERNARY (sparse throughout: OpenFHE's fastest). Level budget [4,4] at full slots.
for sec in ${SECRETS:-SPARSE_ENCAPSULATED SPARSE_TERNARY}; do
for s in $SLOTS; do
  echo "== openfhe bootstrap secret=$sec slots=$s threads=1,2 (keys generated with 1 thread)" >&2
  $PY openfhe_bootstrap.py $ARGS --secret $sec --slots $s --threads 1,2 >> "$tmp" || echo "bootstrap $sec slots=$s FAILED" >&2
done
done
$PY -c "import json,sys; rows=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]; json.dump(rows, open(sys.argv[2],'w'), indent=1)" \
  "$tmp" "results/${DATE}-openfhe-bootstrap${SUF}.json"
rm -f "$tmp"
echo "wrote results/${DATE}-openfhe-bootstrap${SUF}.json" >&2
