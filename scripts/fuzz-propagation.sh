#!/usr/bin/env bash
# Fuzzes the W3C propagation parsers of obs-trace (traceparent, tracestate, baggage and
# `extract` on a HeaderMap) on the stable toolchain, for a bounded time.
#
#   scripts/fuzz-propagation.sh [seconds]   # default 60
#
# OBS_FUZZ_SEED picks the seed (default: from the clock); a failure prints the seed and the
# input, so `OBS_FUZZ_SEED=<seed> scripts/fuzz-propagation.sh` replays it.
set -euo pipefail

seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
    echo "usage: $0 [seconds]  (a positive whole number, default 60)" >&2
    exit 2
fi
cd "$(dirname "$0")/.."

export OBS_FUZZ_SECONDS="$seconds"
export OBS_FUZZ_SEED="${OBS_FUZZ_SEED:-$(date +%s%N)}"
# Optimised test build (many more inputs per second than a debug build), in its own target
# directory so it does not hold the shared build lock.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/fuzz}"
exec cargo test -p obs-trace --release --test fuzz_parsers -- --nocapture
