#!/usr/bin/env bash
# hecnn's side of the comparison: `hecnn bench ckks --json` for the two
# comparison chains (N=2^15 [60,14x40] = preset medium, N=2^16 [60,29x40] =
# preset deep) at 1 and 2 threads, into results/<date>-hecnn-n<logn>-t<T>.json.
set -euo pipefail
cd "$(dirname "$0")"
root=../..
(cd "$root" && cargo build --release -p hecnn)
date=$(date +%F)
mkdir -p results
for preset in medium deep; do
  for t in 1 2; do
    logn=$([ "$preset" = medium ] && echo 15 || echo 16)
    echo "hecnn $preset (N=2^$logn), $t thread(s)" >&2
    "$root/target/release/hecnn" bench ckks --preset "$preset" --threads "$t" --reps 5 --json \
      > "results/$date-hecnn-n$logn-t$t.json"
  done
done
