#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain, idempotently:
#   - Debian: prometheus (+ promtool) for real scrapes, chromium for the HTML report test,
#     docker-compose for `config` validation, kubectl (Debian's kubernetes-client) for
#     `kubectl kustomize` of deploy/k8s.
#   - PyPI, into .tools/venv: rotel (the OTLP collector binary), prometheus_client (a strict
#     OpenMetrics parser) and aiohttp (the W3C Trace Context harness).
# Prints where things are; exits non-zero if anything could not be installed, so tests never
# silently skip a real component.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
VENV="$TOOLS/venv"

need_apt=()
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v docker-compose >/dev/null 2>&1 || need_apt+=(docker-compose)
# Debian ships kubectl in the package kubernetes-client.
command -v kubectl >/dev/null 2>&1 || need_apt+=(kubernetes-client)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "install-test-deps: apt-get install ${need_apt[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${need_apt[@]}" | sort -u) >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
py_need=()
[ -x "$("$VENV/bin/python" -c 'import rotel, os; print(os.path.join(os.path.dirname(rotel.__file__), "rotel-agent"))' 2>/dev/null)" ] || py_need+=(rotel)
"$VENV/bin/python" -c 'import prometheus_client.openmetrics.parser' 2>/dev/null || py_need+=(prometheus_client)
"$VENV/bin/python" -c 'import aiohttp' 2>/dev/null || py_need+=(aiohttp)
if [ ${#py_need[@]} -gt 0 ]; then
  echo "install-test-deps: pip install ${py_need[*]}" >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${py_need[@]}"
fi
ROTEL="$("$VENV/bin/python" -c 'import rotel, os; print(os.path.join(os.path.dirname(rotel.__file__), "rotel-agent"))')"
[ -x "$ROTEL" ] || { echo "install-test-deps: rotel-agent not found at $ROTEL" >&2; exit 1; }
mkdir -p "$TOOLS/bin"
ln -sf "$ROTEL" "$TOOLS/bin/rotel-agent"
# A wrapper, not a symlink: Python finds its venv from the path it was started as.
printf '#!/bin/sh\nexec "%s" "$@"\n' "$VENV/bin/python" > "$TOOLS/bin/python"
chmod +x "$TOOLS/bin/python"
echo "install-test-deps: rotel-agent=$TOOLS/bin/rotel-agent prometheus=$(command -v prometheus) promtool=$(command -v promtool)" >&2
