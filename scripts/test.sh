#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need (the rotel collector,
# Prometheus, Chromium, docker-compose, the W3C harness's aiohttp), then runs every test of
# every crate (unit, integration against the real collector and Prometheus, doctests, the
# W3C Trace Context suite, bounded fuzzing), checks that each crate's features compile in every
# combination and its docs build without warnings, and that every published crate packages.
# Debug profile only.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-test-deps.sh
cargo test --workspace --all-features --no-fail-fast
# Each library crate with every combination of its features; docs with warnings as errors.
bash scripts/check-features.sh
# Each library crate must be publishable as is (metadata, versions on path dependencies).
cargo package --workspace --exclude obs-examples --exclude obs-tests --no-verify --allow-dirty --quiet
echo "cargo package: obs-trace obs-metrics obs-log obs-tower obs-tonic obs-core packaged"
