#!/usr/bin/env bash
# Runs SEAL (tenseal.sealapi) and OpenFHE CKKS micro-benchmarks for N=2^16 (30 limbs) and
# N=2^15 (15 limbs), 1 and 2 threads, and writes results/<date>-<lib>.json (a JSON array).
#   ./run.sh            full run (median of 5 reps; keygen median of 5)
#   ./run.sh --quick    N=2^13/2^12 smoke test (few limbs), results/<date>-<lib>-quick.json
#   SEAL_LIKE=0 skips the extra OpenFHE dnum=limbs row; KREPS=1 times key generation once
set -euo pipefail
cd "$(dirname "$0")"
PY=.venv/bin/python
[ -x "$PY" ] || { echo "run ./setup.sh first" >&2; exit 1; }
QUICK=0; [ "${1:-}" = "--quick" ] && QUICK=1
DATE=$(date -u +%Y-%m-%d)
REPS=${REPS:-5}; KREPS=${KREPS:-5}
mkdir -p results
if [ $QUICK = 1 ]; then
  CONFIGS="13:6 12:6"; SUF="-quick"; REPS=3; KREPS=2
else
  CONFIGS="16:30 15:15"; SUF=""
fi
LIBS=${LIBS:-"openfhe seal"}
for lib in $LIBS; do
  out="results/${DATE}-${lib}${SUF}.jsonl"; : > "$out"
  for cfg in $CONFIGS; do
    logn=${cfg%%:*}; limbs=${cfg##*:}
    for t in 1 2; do
      echo "== $lib N=2^$logn limbs=$limbs threads=$t" >&2
      if [ $lib = seal ]; then
        # SEAL kernels are single-threaded; OMP/threads do not apply (measured again anyway).
        OMP_NUM_THREADS=$t $PY seal_bench.py --logn $logn --limbs $limbs --threads $t \
          --reps $REPS --keygen-reps $KREPS >> "$out"
      else
        OMP_NUM_THREADS=$t $PY openfhe_bench.py --logn $logn --limbs $limbs --threads $t \
          --reps $REPS --keygen-reps $KREPS >> "$out"
      fi
    done
    if [ $lib = openfhe ] && [ "${SEAL_LIKE:-1}" = 1 ]; then
      # SEAL-like key switching: one digit per ciphertext prime (dnum = limbs), 1 thread
      echo "== openfhe N=2^$logn limbs=$limbs dnum=$limbs threads=1" >&2
      OMP_NUM_THREADS=1 $PY openfhe_bench.py --logn $logn --limbs $limbs --dnum $limbs --threads 1 --hoist-steps 4 \
        --reps $REPS --keygen-reps $KREPS >> "$out"
    fi
  done
  $PY -c "import json,sys; rows=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]; json.dump(rows, open(sys.argv[2],'w'), indent=1)" \
    "$out" "results/${DATE}-${lib}${SUF}.json"
  rm -f "$out"
  echo "wrote results/${DATE}-${lib}${SUF}.json" >&2
done
