#!/usr/bin/env bash
# Runs the official W3C Trace Context test suite (Level 2, strict: SPEC_LEVEL=2 STRICT_LEVEL=2)
# against examples/src/bin/trace-context-service.rs, and exits with the harness's status
# (0 when nothing failed). Target: "41 passed, 0 failed".
#
#   scripts/w3c-conformance.sh [TestClass | TestClass.test_name ...]
#
# Environment:
#   W3C_HARNESS_DIR  the harness folder (default: ../shared/w3c-trace-context beside the
#                    repo); it is used read-only, where it is.
#   W3C_VENV         virtualenv with aiohttp (default: .tools/venv, see scripts/install-test-deps.sh)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HARNESS="${W3C_HARNESS_DIR:-$ROOT/../shared/w3c-trace-context}"
export W3C_VENV="${W3C_VENV:-$ROOT/.tools/venv}"
[ -x "$HARNESS/run.sh" ] || { echo "w3c-conformance: no harness at $HARNESS (set W3C_HARNESS_DIR)" >&2; exit 2; }

cd "$ROOT"
cargo build -q -p obs-examples --bin trace-context-service
TARGET_DIR="$(cargo metadata -q --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
BIN="$TARGET_DIR/debug/trace-context-service"

LOG="$(mktemp /tmp/trace-context-service.XXXXXX.log)"
"$BIN" --addr 127.0.0.1:0 >"$LOG" 2>&1 &
SERVICE_PID=$!
trap 'kill "$SERVICE_PID" 2>/dev/null || true; wait "$SERVICE_PID" 2>/dev/null || true; rm -f "$LOG"' EXIT

# The service prints its address once it listens; wait at most 10 s.
URL=""
for _ in $(seq 1 100); do
  URL="$(sed -n 's/^listening on //p' "$LOG")"
  [ -n "$URL" ] && break
  kill -0 "$SERVICE_PID" 2>/dev/null || { echo "w3c-conformance: service died:" >&2; cat "$LOG" >&2; exit 2; }
  sleep 0.1
done
[ -n "$URL" ] || { echo "w3c-conformance: service did not start" >&2; cat "$LOG" >&2; exit 2; }
echo "w3c-conformance: service on $URL" >&2

set +e
SPEC_LEVEL=2 STRICT_LEVEL=2 "$HARNESS/run.sh" --level2 "$URL" "$@"
rc=$?
set -e
exit "$rc"
