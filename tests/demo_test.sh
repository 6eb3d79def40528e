#!/bin/sh
# The demo (the README's main job) runs, exits 0, prints both JSON
# documents with the counts its four writer threads recorded, and its
# Prometheus text passes promtool.
# Usage: demo_test.sh DEMO PROMTOOL
set -eu
demo=$1
promtool=$2
out=$(mktemp)
trap 'rm -f "$out"' EXIT

"$demo" >"$out"
fail() { echo "demo_test: $*" >&2; cat "$out" >&2; exit 1; }
grep -q '^GET /health$' "$out" || fail "no /health section"
grep -q '"name":"tmp","status":"healthy"' "$out" || fail "tmp check not healthy"
grep -q '"name":"slow_dependency","status":"degraded"' "$out" ||
    fail "slow check not degraded"
grep -q '"api_requests_total":{"type":"counter","value":400000}' "$out" ||
    fail "counter lost increments"
grep -q '"request_duration_seconds":{"type":"histogram","count":400000,' "$out" ||
    fail "histogram lost observations"
grep -q '"vitals_check_status{check=\\"tmp\\"}"' "$out" ||
    fail "health not exported as metrics"

"$demo" --prometheus >"$out"
"$promtool" check metrics <"$out" || fail "promtool refused the text"
grep -q '^api_requests_total 400000$' "$out" || fail "prometheus counter"
echo "demo ok"
