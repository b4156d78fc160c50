#!/usr/bin/env bash
# Control plane (issue 14): how long a change takes to serve, and what control calls cost the
# data plane.
#
#   1. Time from CreateDeployment to the new body on every shard, with 1, 100 and 1,000
#      control-plane APIs on the node (targets: < 50 ms at 100 APIs, < 500 ms at 1,000).
#   2. CPU per data-plane request (wrk on a MOCK method, one connection per shard's worth)
#      with and without 10 control-plane calls per second beside it, in the same run, as a
#      ratio.
#
# Needs wrk and a Python with boto3 (PYTHON=..., default python3). SIZES="1 100 1000" and
# DURATION=10 (seconds per wrk run) can be changed. SKIP_BUILD=1 uses the built binary.
set -euo pipefail
source "$(dirname "$0")/common.sh"
need wrk curl
PYTHON="${PYTHON:-python3}"
SIZES="${SIZES:-1 100 1000}"
DURATION="${DURATION:-10}"
BIN="$(tollgate_bin)"
OUT="$ROOT/loadtest/out/control-plane"
rm -rf "$OUT" && mkdir -p "$OUT/config/apis"
export LISTEN=127.0.0.1:18480 ADMIN=127.0.0.1:19480
export AWS_ACCESS_KEY_ID=AKIDLOADTEST AWS_SECRET_ACCESS_KEY=loadtest-secret
cat >"$OUT/config/gateway.toml" <<TOML
[server]
listen = ["$LISTEN"]
shards = 2
admin = "$ADMIN"
apis_dir = "apis"
execute_api_domain = "localhost"
[throttle]
rate_limit = 10000000
burst_limit = 10000000
[control]
access_key_id = "$AWS_ACCESS_KEY_ID"
secret_access_key = "$AWS_SECRET_ACCESS_KEY"
TOML
cat >"$OUT/config/apis/bench.toml" <<'TOML'
id = "bench"
[stages.prod]
deployment = "d1"
[deployments.d1.methods."GET /plain"]
integration = { type = "MOCK", status = 200, body = "ok" }
TOML
"$BIN" --config "$OUT/config" >"$OUT/gateway.log" 2>&1 &
GW=$!
trap 'kill $GW 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf "http://$ADMIN/ping" >/dev/null && break; sleep 0.1; done

log "part 2: data-plane CPU per request, without and with 10 control calls/s"
cpu_per_request() { # LABEL: runs wrk, prints ticks per 100k requests
    local before after requests
    before="$(cpu_ticks "$GW")"
    wrk -t2 -c32 -d"${DURATION}s" -H 'Host: bench.execute-api.localhost' "http://$LISTEN/prod/plain" >"$OUT/wrk-$1.txt"
    after="$(cpu_ticks "$GW")"
    requests="$(awk '/requests in/ { print $1 }' "$OUT/wrk-$1.txt")"
    awk -v t=$((after - before)) -v r="$requests" 'BEGIN { printf "%.3f", t * 100000 / r }'
}
quiet="$(cpu_per_request quiet)"
"$PYTHON" "$ROOT/loadtest/control_plane.py" calls 10 "$((DURATION + 2))" >"$OUT/calls.json" &
CALLS=$!
sleep 1
busy="$(cpu_per_request busy)"
wait "$CALLS"
log "CPU ticks per 100k requests: quiet $quiet, with control calls $busy ($(cat "$OUT/calls.json"))"
awk -v q="$quiet" -v b="$busy" 'BEGIN { printf "ratio busy/quiet: x%.3f\n", b / q }'

log "part 1: CreateDeployment to serving on every shard"
# shellcheck disable=SC2086
"$PYTHON" "$ROOT/loadtest/control_plane.py" serve $SIZES | tee "$OUT/serve.jsonl"
