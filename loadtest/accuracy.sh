#!/usr/bin/env bash
# Throttling accuracy: open-loop load at 2x a 1,000 req/s limit for 10 s, once spread over many
# connections (so over every shard) and once on a single connection (one shard), printing the
# admitted rate and the biggest one-second burst. Target: within +-2 % of the limit.
#
# Then the CPU cost of API keys + throttling against the plain path: the same MOCK method
# without and with `apiKeyRequired` + a usage plan + stage/per-key throttles (limits set high
# enough that nothing is refused), same offered rate, Tollgate's CPU time per request from
# /proc/PID/stat.
#
# Load generator: loadtest/fixed_rate.py (Python asyncio, wrk2-style fixed schedule with
# pipelining; oha/wrk are not needed). Run from anywhere:  loadtest/accuracy.sh
#
# Environment knobs:
#   LIMIT=1000 BURST=100   the stage throttle measured (burst: the bucket size)
#   SECONDS_RUN=10         length of each run; OFFERED defaults to 2 x LIMIT
#   SHARDS=2 CONNECTIONS=32
#   COST_RATE=3000         offered rate of the CPU-cost runs (must stay below what one
#                          Python client can send)
#   SKIP_BUILD=1           use the existing binary; TOLLGATE_BIN to pick one
#   PORT=18090 ADMIN_PORT=18091
#   CLUSTER=1              cluster mode instead (issue 15): three nodes sharing one Redis,
#                          the same limit and offered load spread and on one node, a shared
#                          quota, Redis stopped under load, the CPU cost; see cluster.sh
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ "${CLUSTER:-0}" == 1 ]]; then
    exec "$HERE/cluster.sh" "$@"
fi
source "$HERE/common.sh"
LIMIT="${LIMIT:-1000}"
BURST="${BURST:-100}"
SECONDS_RUN="${SECONDS_RUN:-10}"
OFFERED="${OFFERED:-$((2 * LIMIT))}"
SHARDS="${SHARDS:-2}"
CONNECTIONS="${CONNECTIONS:-32}"
COST_RATE="${COST_RATE:-3000}"
PORT="${PORT:-18090}"
ADMIN_PORT="${ADMIN_PORT:-18091}"
OUT="$HERE/out/accuracy-$(date +%Y%m%d-%H%M%S)"
KEY="loadtestloadtestloadtest"


for port in "$PORT" "$ADMIN_PORT"; do
    [[ -z "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]] || die "port $port is already in use"
done
if [[ -z "${SKIP_BUILD:-}" ]]; then
    (cd "$ROOT" && cargo build --release >&2)
fi
BIN="${TOLLGATE_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/tollgate}"
[[ -x "$BIN" ]] || die "no binary at $BIN"
mkdir -p "$OUT/conf/apis"

cat >"$OUT/conf/gateway.toml" <<TOML
[server]
listen = ["127.0.0.1:$PORT"]
shards = $SHARDS
pin_cores = false
admin = "127.0.0.1:$ADMIN_PORT"
default_api = "bench"

[usage]
store = "usage.redb"
TOML
cat >"$OUT/conf/apis/bench.toml" <<TOML
id = "bench"
[stages.limited]
deployment = "d1"
throttle = { rate_limit = $LIMIT, burst_limit = $BURST }

[stages.open]
deployment = "d1"

[stages.keyed]
deployment = "d1"
throttle = { rate_limit = 1000000, burst_limit = 1000000 }

$(bench_methods)
TOML
cat >"$OUT/conf/usage_plans.toml" <<TOML
[plans.bench]
throttle = { rate_limit = 1000000, burst_limit = 1000000 }
quota = { limit = 1000000000, period = "DAY" }
[[plans.bench.stages]]
api = "bench"
stage = "keyed"
method_throttle = { "GET /keyed" = { rate_limit = 1000000, burst_limit = 1000000 } }
TOML
cat >"$OUT/conf/api_keys.toml" <<TOML
[keys.bench]
value = "$KEY"
usage_plans = ["bench"]
TOML
"$BIN" --check "$OUT/conf" >&2 || die "generated config rejected"

PID=""
cleanup() { [[ -n "$PID" ]] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true; }
trap cleanup EXIT
start() {
    cleanup
    RUST_LOG=warn "$BIN" --config "$OUT/conf" >"$OUT/tollgate.log" 2>&1 &
    PID=$!
    for _ in $(seq 100); do
        curl -fsS -o /dev/null "http://127.0.0.1:$PORT/open/plain" 2>/dev/null && return 0
        sleep 0.1
    done
    die "gateway did not start (see $OUT/tollgate.log)"
}
run() { python3 "$HERE/fixed_rate.py" 127.0.0.1 "$PORT" "$@"; }

log "accuracy: stage limit $LIMIT req/s (burst $BURST), offered $OFFERED req/s for ${SECONDS_RUN}s, $SHARDS shards"
start
SPREAD="$(run /limited/plain "$OFFERED" "$SECONDS_RUN" "$CONNECTIONS")"
start # fresh buckets
SINGLE="$(run /limited/plain "$OFFERED" "$SECONDS_RUN" 1)"
printf 'spread (%s connections): %s\n' "$CONNECTIONS" "$SPREAD"
printf 'single connection:       %s\n' "$SINGLE"

log "CPU per request: plain vs API key + 4 throttle levels + quota, $COST_RATE req/s for ${SECONDS_RUN}s"
cost() {
    local path="$1" t0 t1 out
    shift
    t0="$(cpu_ticks "$PID")"
    out="$(run "$path" "$COST_RATE" "$SECONDS_RUN" "$CONNECTIONS" "$@")"
    t1="$(cpu_ticks "$PID")"
    python3 - "$out" "$t0" "$t1" "$(getconf CLK_TCK)" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); ticks = int(sys.argv[3]) - int(sys.argv[2]); hz = int(sys.argv[4])
print(f"{r['admitted']} admitted, {r['other'] + r['throttled']} refused, "
      f"{ticks / hz / max(r['answered'], 1) * 1e6:.2f} us CPU per request")
PY
}
start
printf 'plain  (/open/plain):  %s\n' "$(cost /open/plain)"
printf 'keyed  (/keyed/keyed): %s\n' "$(cost /keyed/keyed "x-api-key: $KEY")"
printf 'plain  (/open/plain):  %s\n' "$(cost /open/plain)"
log "raw output and logs in $OUT"
