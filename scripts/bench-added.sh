#!/usr/bin/env bash
# Runs the interleaved `…/added` middleware benches of one or more bench binaries, ROUNDS
# times in alternation, and prints per round, binary and bench the median and quartiles of
# criterion's samples (ns added per call): the samples' median resists the host's slow
# phases better than criterion's mean-based estimate (docs/BENCHMARKS.md).
#
#   scripts/bench-added.sh ROUNDS 'grpc_layer/obs_tonic/added$' BINARY [BINARY...]
#
# The binaries are bench executables (`cargo bench --no-run` prints their paths; copy one
# aside before rebuilding another). Criterion writes its data under a scratch directory.
set -euo pipefail

if [ $# -lt 3 ]; then
  echo "usage: $0 ROUNDS FILTER BINARY [BINARY...]" >&2
  exit 2
fi
rounds=$1 filter=$2
shift 2
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

for round in $(seq 1 "$rounds"); do
  for binary in "$@"; do
    binary=$(realpath "$binary")
    rm -rf "${scratch:?}"/*
    (cd "$scratch" && "$binary" --bench --warm-up-time 1 --measurement-time 3 \
      --output-format bencher "$filter" >/dev/null 2>&1)
    python3 - "$scratch" "$round" "$(basename "$binary")" <<'PY'
import glob, json, sys
scratch, round_, binary = sys.argv[1:4]
out = []
for path in sorted(glob.glob(scratch + "/target/criterion/*/new/sample.json")):
    bench = path.split("/")[-3]
    sample = json.load(open(path))
    per_call = sorted(t / n for t, n in zip(sample["times"], sample["iters"]))
    k = len(per_call)
    out.append(f"{bench} {per_call[k // 2]:.0f} [{per_call[k // 4]:.0f}-{per_call[3 * k // 4]:.0f}]")
print(f"round {round_}  {binary}  " + "  ".join(out))
PY
  done
done
