#!/usr/bin/env bash
# The span-path targets of issue #2 as ratios measured side by side: `obs` against
# `tracing` + `tracing-opentelemetry` + the SDK batch processor, sampled and unsampled, in
# ROUNDS rounds of the `span_path` criterion bench (each round runs both in one process).
# This machine is shared and noisy, so it prints every round and the median ratio.
#
# Usage: scripts/span-path-ratio.sh [ROUNDS]   (default 5; about 15 s a round after the build)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds="${1:-5}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target/bench}"
bin=$(cargo bench -p obs-core --bench span_path --no-run --message-format=json 2>/dev/null |
    python3 -c 'import sys, json
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "span_path" and m.get("executable"):
        print(m["executable"])')
python3 - "$bin" "$rounds" <<'PY'
import re, statistics, subprocess, sys
binary, rounds = sys.argv[1], int(sys.argv[2])
names = ["registry-only", "obs/sampled", "tracing-opentelemetry/sampled",
         "obs/unsampled", "obs/unsampled-keep", "tracing-opentelemetry/unsampled"]
pattern = "span_path/(" + "|".join(re.escape(n) for n in names) + ")$"
sampled, unsampled = [], []
for r in range(rounds):
    out = subprocess.run([binary, "--bench", "--warm-up-time", "1", "--measurement-time", "2",
                          "--output-format", "bencher", pattern],
                         capture_output=True, text=True, check=True).stdout
    ns = {m.group(1): int(m.group(2).replace(",", ""))
          for m in re.finditer(r"test span_path/(\S+) \.\.\. bench:\s+([\d,]+) ns/iter", out)}
    sampled.append(ns["tracing-opentelemetry/sampled"] / ns["obs/sampled"])
    unsampled.append(ns["tracing-opentelemetry/unsampled"] / max(ns["obs/unsampled"], 1))
    print(f"round {r + 1}: " + ", ".join(f"{n} {ns[n]} ns" for n in names)
          + f"; sampled {sampled[-1]:.2f}x, unsampled {unsampled[-1]:.1f}x cheaper", flush=True)
print(f"median over {rounds} rounds: sampled {statistics.median(sampled):.2f}x cheaper "
      f"(target 3x), unsampled {statistics.median(unsampled):.1f}x cheaper")
PY
