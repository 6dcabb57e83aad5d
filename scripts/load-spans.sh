#!/usr/bin/env bash
# Spans received by the collector per request served, under a loopback load.
#
#   scripts/load-spans.sh [seconds-per-mode]      (default 10)
#
# For each mode of `hello-load` (none: no instrumentation; peer: tower-http TraceLayer +
# tracing-opentelemetry + the SDK batch processor + opentelemetry-otlp over gRPC; obs:
# obs_core at its defaults over gRPC) it starts `otlp-sink` (an in-memory OTLP receiver that
# counts spans), starts `hello-load` pointed at it, runs `wrk -t1 -c32` against `GET /`,
# stops hello-load with SIGTERM (it flushes), stops the sink, and prints one table:
# requests served (wrk), spans the sink received, and what obs says it dropped.
#
# CPU pinning (2-core machine): hello-load, with all its telemetry threads, gets CPU
# $LOAD_SPANS_SERVER_CPUS (default 1); wrk and the sink share $LOAD_SPANS_CLIENT_CPUS
# (default 0). Set both to "0,1" to run unpinned. $LOAD_SPANS_MODES picks the modes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

duration="${1:-10}"
modes="${LOAD_SPANS_MODES:-none peer obs}"
server_cpus="${LOAD_SPANS_SERVER_CPUS:-1}"
client_cpus="${LOAD_SPANS_CLIENT_CPUS:-0}"
connections=32

if ! command -v wrk >/dev/null; then
    echo "installing wrk (Debian package)" >&2
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    "${sudo_cmd[@]}" apt-get install -y -qq wrk >/dev/null
fi

# Release: this measures throughput; the test suite never builds release.
cargo build --release -q -p obs-examples --bin hello-load --bin otlp-sink
bin="${CARGO_TARGET_DIR:-target}/release"

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for_line FILE REGEX SECONDS: prints the first line of FILE matching REGEX.
wait_for_line() {
    local file="$1" regex="$2" deadline=$((SECONDS + $3)) line
    while [ "$SECONDS" -lt "$deadline" ]; do
        if line="$(grep -m1 -E "$regex" "$file" 2>/dev/null)"; then
            echo "$line"
            return 0
        fi
        sleep 0.1
    done
    echo "no line matching /$regex/ in $file after $3 s:" >&2
    cat "$file" >&2
    return 1
}

# stop PID NAME SECONDS: SIGTERM, then wait up to SECONDS for a clean exit, else SIGKILL.
stop() {
    local pid="$1" name="$2" deadline=$((SECONDS + $3))
    kill -TERM "$pid" 2>/dev/null || return 0
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "$name did not exit within $3 s of SIGTERM; killed" >&2
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    wait "$pid" 2>/dev/null || echo "$name exited with status $?" >&2
}

rows=()
for mode in $modes; do
    sink_log="$work/sink-$mode.log"
    server_log="$work/hello-$mode.log"
    wrk_log="$work/wrk-$mode.log"

    taskset -c "$client_cpus" "$bin/otlp-sink" --grpc-addr 127.0.0.1:0 >"$sink_log" 2>&1 &
    sink_pid=$!
    pids+=("$sink_pid")
    grpc_addr="$(wait_for_line "$sink_log" '^otlp-sink listening on grpc ' 20 | awk '{print $NF}')"

    OTEL_EXPORTER_OTLP_ENDPOINT="http://$grpc_addr" OBS_METRICS_ADDR=127.0.0.1:0 \
        taskset -c "$server_cpus" "$bin/hello-load" --mode "$mode" --addr 127.0.0.1:0 \
        >"$server_log" 2>&1 &
    server_pid=$!
    pids+=("$server_pid")
    addr="$(wait_for_line "$server_log" '^listening on ' 20 | awk '{print $NF}')"

    echo "== $mode: wrk -t1 -c$connections -d${duration}s http://$addr/ (server on CPU $server_cpus, wrk and sink on CPU $client_cpus)" >&2
    timeout $((duration + 30)) taskset -c "$client_cpus" \
        wrk -t1 -c"$connections" -d"${duration}s" "http://$addr/" >"$wrk_log"
    cat "$wrk_log" >&2

    # What obs reports while still running, as a scraper would see it.
    dropped_live="-"
    if metrics_url="$(grep -m1 '^obs metrics on ' "$server_log" | awk '{print $NF}')" && [ -n "$metrics_url" ]; then
        dropped_live="$(curl -sf --max-time 5 "$metrics_url" \
            | grep -E '^obs_telemetry_dropped_total\{.*signal="traces"' \
            | awk '{n += $NF} END {print n + 0}')" || dropped_live="?"
    fi

    stop "$server_pid" "hello-load ($mode)" 30
    stop "$sink_pid" "otlp-sink ($mode)" 15
    cat "$server_log" >&2

    # awk, not grep, so a missing line is an empty value rather than a failed pipeline.
    requests="$(awk '/ requests in / {print $1}' "$wrk_log")"
    non2xx="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$wrk_log")"
    rps="$(awk '/^Requests\/sec:/ {printf "%.0f", $NF}' "$wrk_log")"
    spans="$(awk -F'[ =]' '/^final spans_received=/ {print $3}' "$sink_log")"
    spans="${spans:-?}"
    served=$((${requests:-0} - ${non2xx:-0}))
    delivered="-"
    if [ "$mode" != none ] && [ "$spans" != "?" ] && [ "$served" -gt 0 ]; then
        delivered="$(awk -v s="$spans" -v r="$served" 'BEGIN {printf "%.1f %%", 100 * s / r}')"
    fi
    dropped_final="-"
    if line="$(grep -m1 '^obs traces: ' "$server_log")"; then
        dropped_final="$(echo "$line" | grep -oE 'dropped_[a-z_]+=[0-9]+' | tr '\n' ' ')"
    fi
    rows+=("$(printf '| %s | %s | %s | %s | %s | %s | %s | %s |' \
        "$mode" "$rps" "$requests" "${non2xx:-0}" "$spans" "$delivered" "$dropped_live" "$dropped_final")")
done

echo
echo "hello-load on CPU $server_cpus, wrk -t1 -c$connections and otlp-sink on CPU $client_cpus, ${duration} s per mode, $(nproc) CPUs"
echo "| mode | req/s | requests | non-2xx | spans received | delivered | obs dropped (/metrics after load) | obs dropped (after flush) |"
echo "|---|---:|---:|---:|---:|---:|---:|---|"
printf '%s\n' "${rows[@]}"
