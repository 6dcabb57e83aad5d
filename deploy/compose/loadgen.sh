#!/bin/sh
# The compose load generator: places an order and asks for a report through the gateway,
# one round (two requests) every ~0.75 s: the report's SLOW_MS (300 ms) plus the 0.4 s pause,
# until stopped. Failures are printed, never fatal.
set -u
i=0
while :; do
  i=$((i + 1))
  curl -sS -o /dev/null -w "POST /orders %{http_code} %{time_total}s\n" \
    -H 'content-type: application/json' \
    -d "{\"sku\":\"sku-$((i % 5))\",\"qty\":$((i % 3 + 1))}" \
    "$GATEWAY_URL/orders" || true
  curl -sS -o /dev/null -w "GET /reports/$i %{http_code} %{time_total}s\n" \
    "$GATEWAY_URL/reports/$i" || true
  sleep 0.4
done
