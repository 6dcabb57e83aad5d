#!/usr/bin/env bash
# Runs two builds of one criterion bench in alternation, ROUNDS times, and prints, per round
# and binary, each variant's time minus that binary's `bare` (ns): on a shared machine only
# differences measured side by side in one run mean anything (docs/BENCHMARKS.md).
#
#   scripts/bench-alternate.sh OLD_BINARY NEW_BINARY ROUNDS 'grpc_layer/(bare|obs_tonic)$'
#
# The binaries are bench executables (`cargo bench --no-run` prints their paths; copy one
# aside before rebuilding the other). The filter must select the bench's `bare` variant.
set -euo pipefail

if [ $# -ne 4 ]; then
  echo "usage: $0 OLD_BINARY NEW_BINARY ROUNDS FILTER" >&2
  exit 2
fi
old=$1 new=$2 rounds=$3 filter=$4

for round in $(seq 1 "$rounds"); do
  for binary in "$old" "$new"; do
    "$binary" --bench --warm-up-time 1 --measurement-time 3 --output-format bencher "$filter" \
      2>/dev/null |
      awk -v binary="$(basename "$binary")" -v round="$round" '
        /^test / { gsub(",", "", $5); ns[$2] = $5; order[++n] = $2; if ($2 ~ /bare$/) bare = $5 }
        END {
          if (bare == "") { print "no bare variant in the filter" > "/dev/stderr"; exit 1 }
          for (i = 1; i <= n; i++) {
            if (order[i] !~ /bare$/) printf "round %d  %-24s %-48s %6d ns added\n", round, binary, order[i], ns[order[i]] - bare
          }
          printf "round %d  %-24s %-48s %6d ns\n", round, binary, "bare", bare
        }'
  done
done
