#!/usr/bin/env bash
# Cluster mode (issue 15): three gateway nodes sharing one redis-server, a stage limit of
# LIMIT req/s (burst BURST), and 2 x LIMIT req/s offered open-loop (loadtest/fixed_rate.py)
# for SECONDS_RUN s, once spread over the three nodes and once all on one node. Prints the
# fleet-wide admitted rate (target: within +-2 % of the limit), steady and overall.
#
# Then a usage-plan quota of QUOTA requests a day shared by the three nodes: 2 x LIMIT req/s
# offered with one key (spread, then all on one node with another key) until it is spent;
# prints what the fleet admitted against the quota (target: within the bound tuning.md
# derives) and what the usage report on node 1 counts (target: exactly what was admitted).
#
# Then the CPU cost of cluster mode: one node, COST_RATE req/s on a stage whose limit is never
# reached, standalone vs in a fleet, the node's CPU time per request from /proc/PID/stat,
# alternated ROUNDS times (target: cluster <= 1.03 x standalone).
#
# Finally Redis is stopped under load: every request must still be answered (200 or 429)
# and the fleet-wide admitted rate falls to each node's share.
#
#   loadtest/cluster.sh    # LIMIT=1000 BURST=100 SECONDS_RUN=10 COST_RATE=3000 ROUNDS=2 QUOTA=3000
#                          # SKIP_BUILD=1 TOLLGATE_BIN=... PORT=18190 REDIS_PORT=18199
#   CALLGRIND=1 loadtest/cluster.sh   # only the cost, as user-space instructions per request
#                          # (valgrind, every thread of the node, CALLGRIND_REQUESTS=2000
#                          # sequential keep-alive requests), standalone vs cluster
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/common.sh"
LIMIT="${LIMIT:-1000}"
BURST="${BURST:-100}"
SECONDS_RUN="${SECONDS_RUN:-10}"
COST_RATE="${COST_RATE:-3000}"
ROUNDS="${ROUNDS:-2}"
QUOTA="${QUOTA:-3000}"
PORT="${PORT:-18190}"
REDIS_PORT="${REDIS_PORT:-18199}"
OUT="$HERE/out/cluster-$(date +%Y%m%d-%H%M%S)"

command -v redis-server >/dev/null || die "redis-server not found (apt-get install -y redis-server)"
need curl python3
BIN="$(tollgate_bin)"
mkdir -p "$OUT"

PIDS=()
REDIS_PID=""
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    [[ -n "$REDIS_PID" ]] && kill "$REDIS_PID" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT

start_redis() {
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
        >"$OUT/redis.log" 2>&1 &
    REDIS_PID=$!
    for _ in $(seq 100); do
        redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    die "redis-server did not start"
}

# node N [cluster|standalone]: a one-shard node on PORT+N, admin on PORT+10+N.
write_node() {
    local n="$1" mode="$2" dir="$OUT/node$1-$2"
    mkdir -p "$dir/apis"
    cat >"$dir/gateway.toml" <<TOML
[server]
listen = ["127.0.0.1:$((PORT + n))"]
shards = 1
pin_cores = false
admin = "127.0.0.1:$((PORT + 10 + n))"
default_api = "bench"
TOML
    if [[ "$mode" == cluster ]]; then
        printf '\n[cluster]\nnode_id = "node%s"\nredis = "redis://127.0.0.1:%s"\n' \
            "$n" "$REDIS_PORT" >>"$dir/gateway.toml"
    fi
    cat >"$dir/apis/bench.toml" <<TOML
id = "bench"
[stages.limited]
deployment = "d1"
throttle = { rate_limit = $LIMIT, burst_limit = $BURST }

[stages.open]
deployment = "d1"
throttle = { rate_limit = 1000000, burst_limit = 100000 }

$(bench_methods)
TOML
    cat >"$dir/usage_plans.toml" <<TOML
[plans.gold]
quota = { limit = $QUOTA, period = "DAY" }
[[plans.gold.stages]]
api = "bench"
stage = "open"
TOML
    cat >"$dir/api_keys.toml" <<TOML
[keys.spread]
value = "spreadspreadspreadspread"
usage_plans = ["gold"]
[keys.single]
value = "singlesinglesinglesingle"
usage_plans = ["gold"]
[keys.bulk]
value = "bulkbulkbulkbulkbulkbulk"
usage_plans = ["bulk"]
TOML
    cat >>"$dir/usage_plans.toml" <<TOML
[plans.bulk]
quota = { limit = 1000000000, period = "DAY" }
[[plans.bulk.stages]]
api = "bench"
stage = "open"
TOML
    "$BIN" --check "$dir" >/dev/null || die "generated config rejected: $dir"
    echo "$dir"
}

start_node() {
    local n="$1" dir="$2"
    RUST_LOG=warn "$BIN" --config "$dir" >"$dir/tollgate.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 100); do
        curl -fsS -o /dev/null "http://127.0.0.1:$((PORT + n))/open/plain" 2>/dev/null && return 0
        sleep 0.05
    done
    die "node $n did not start (see $dir/tollgate.log)"
}

stop_nodes() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    PIDS=()
}

# Waits until every node's /metrics shows N live nodes.
wait_fleet() {
    local want="$1" n
    for n in 1 2 3; do
        for _ in $(seq 100); do
            curl -fsS "http://127.0.0.1:$((PORT + 10 + n))/metrics" 2>/dev/null |
                grep -qx "tollgate_cluster_nodes $want" && break
            sleep 0.05
        done
    done
}

run() { python3 "$HERE/fixed_rate.py" 127.0.0.1 "$@"; }

# Sums fixed_rate.py outputs (one JSON per line on stdin) into the fleet's figures.
fleet_sum() {
    python3 -c '
import json, sys
rs = [json.loads(l) for l in sys.stdin if l.strip()]
secs = rs[0]["seconds"]
adm = sum(r["admitted"] for r in rs); steady = sum(r["steady_admitted_rate"] for r in rs)
ans = sum(r["answered"] for r in rs); sent = sum(r["sent"] for r in rs)
other = sum(r["other"] for r in rs)
p99 = max(r["latency_ms"].get("p99", 0) for r in rs)
worst = max(r["latency_ms"].get("max", 0) for r in rs)
lim = float(sys.argv[1])
print(f"admitted {adm / secs:.1f} req/s ({adm / secs / lim:.3f} x limit), steady {steady:.1f} "
      f"({steady / lim:.3f} x), answered {ans}/{sent}, non-200/429 {other}, "
      f"p99 {p99} ms, max {worst} ms")' "$LIMIT"
}

# callgrind_cost DIR [PATH HEADER] : instructions per request of a node on DIR (all its
# threads, the cluster worker included), counters zeroed after a warm-up.
callgrind_cost() {
    local dir="$1" n="${CALLGRIND_REQUESTS:-2000}" vg f
    local target="${2:-/open/plain}" header="${3:-x-none: 1}"
    valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out" "$BIN" --config "$dir" \
        >"$dir/valgrind.log" 2>&1 &
    vg=$!
    for _ in $(seq 600); do
        curl -fsS -o /dev/null "http://127.0.0.1:$((PORT + 1))/open/plain" 2>/dev/null && break
        sleep 0.2
    done
    # Under valgrind the worker may reach Redis seconds after the listener is up: measure
    # the node in the fleet, not the node falling back.
    if grep -q '^\[cluster\]' "$dir/gateway.toml"; then
        for _ in $(seq 600); do
            curl -fsS -m 5 "http://127.0.0.1:$((PORT + 11))/metrics" 2>/dev/null |
                grep -qx "tollgate_cluster_redis_up 1" && break
            sleep 0.2
        done
    fi
    sequential() {
        python3 - "$((PORT + 1))" "$1" "$target" "$header" <<'PY'
import http.client, sys
name, value = sys.argv[4].split(": ", 1)
c = None
for _ in range(int(sys.argv[2])):
    for attempt in range(3):
        # A connection valgrind's pauses (counter zeroing) let time out is opened again.
        try:
            c = c or http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=60)
            c.request("GET", sys.argv[3], headers={name: value}); r = c.getresponse()
            body = r.read()
            break
        except (ConnectionError, http.client.HTTPException):
            c = None
    assert r.status == 200, (r.status, body)
PY
    }
    sequential 200
    callgrind_control -z "$vg" >/dev/null
    sequential "$n"
    callgrind_control -d cost "$vg" >/dev/null
    sleep 1
    f="$(ls -t "$dir"/callgrind.out.* | head -1)"
    kill -9 "$vg" 2>/dev/null || true
    wait "$vg" 2>/dev/null || true
    echo $(($(awk '/^summary:|^totals:/ {print $2; exit}' "$f") / n))
}
if [[ "${CALLGRIND:-0}" == 1 ]]; then
    need valgrind callgrind_control
    start_redis
    SD="$(write_node 1 standalone)"
    CD="$(write_node 1 cluster)"
    s="$(callgrind_cost "$SD")"
    c="$(callgrind_cost "$CD")"
    printf 'instructions per request, throttled route: standalone %s, cluster %s: x%s\n' \
        "$s" "$c" "$(python3 -c "print(f'{$c / $s:.3f}')")"
    KEY="x-api-key: bulkbulkbulkbulkbulkbulk"
    s="$(callgrind_cost "$SD" /open/keyed "$KEY")"
    c="$(callgrind_cost "$CD" /open/keyed "$KEY")"
    printf 'instructions per request, keyed route with a quota: standalone %s, cluster %s: x%s\n' \
        "$s" "$c" "$(python3 -c "print(f'{$c / $s:.3f}')")"
    exit 0
fi

start_redis
log "accuracy: 3 nodes, stage limit $LIMIT req/s (burst $BURST), $((2 * LIMIT)) req/s offered for ${SECONDS_RUN}s"
DIRS=()
for n in 1 2 3; do DIRS+=("$(write_node "$n" cluster)"); done
for n in 1 2 3; do start_node "$n" "${DIRS[$((n - 1))]}"; done
wait_fleet 3
share=$((2 * LIMIT / 3))
SPREAD="$(for n in 1 2 3; do run "$((PORT + n))" /limited/plain "$share" "$SECONDS_RUN" 8 & done; wait)"
printf 'spread over 3 nodes: %s\n' "$(fleet_sum <<<"$SPREAD")"
sleep 2 # the bucket refills to its burst
ONE="$(run "$((PORT + 1))" /limited/plain "$((2 * LIMIT))" "$SECONDS_RUN" 8)"
printf 'all on one node:     %s\n' "$(fleet_sum <<<"$ONE")"

# used KEY_ID : the fleet's usage of a key today, from node 1's usage report.
used() {
    local today
    today="$(date -u +%F)"
    curl -fsS "http://127.0.0.1:$((PORT + 11))/usageplans/gold/usage?keyId=$1&startDate=$today&endDate=$today" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["values"][sys.argv[1]][0][0])' "$1"
}
quota_sum() {
    python3 -c '
import json, sys
rs = [json.loads(l) for l in sys.stdin if l.strip()]
adm = sum(r["admitted"] for r in rs); q = int(sys.argv[1])
ans = sum(r["answered"] for r in rs); sent = sum(r["sent"] for r in rs)
print(f"admitted {adm} of a quota of {q} ({adm / q:.4f} x), answered {ans}/{sent}")' "$QUOTA"
}
log "quota: $QUOTA requests a day for one key, $((2 * LIMIT)) req/s offered until it is spent"
QSECS="$(python3 -c "print(max(3, 2 * $QUOTA / (2 * $LIMIT)))")"
Q1="$(for n in 1 2 3; do run "$((PORT + n))" /open/keyed "$share" "$QSECS" 4 "x-api-key: spreadspreadspreadspread" & done; wait)"
printf 'spread over 3 nodes: %s
' "$(quota_sum <<<"$Q1")"
Q2="$(run "$((PORT + 1))" /open/keyed "$((2 * LIMIT))" "$QSECS" 4 "x-api-key: singlesinglesinglesingle")"
printf 'all on one node:     %s
' "$(quota_sum <<<"$Q2")"
sleep 2 # the other nodes' usage flushes reach Redis
printf 'usage report on node 1: spread %s, single %s
' "$(used spread)" "$(used single)"

log "Redis stopped under load: each node falls back to its share (1/3 of the limit)"
sleep 2
(sleep 2 && kill "$REDIS_PID") &
KILLER=$!
DOWN="$(for n in 1 2 3; do run "$((PORT + n))" /limited/plain "$share" "$SECONDS_RUN" 8 & done; wait)"
wait "$KILLER"
REDIS_PID=""
printf 'Redis down from 2 s: %s\n' "$(fleet_sum <<<"$DOWN")"
stop_nodes

log "CPU per request, one node: standalone vs cluster, $COST_RATE req/s, limit never reached"
start_redis
cost() {
    local dir="$1" t0 t1 out pid
    start_node 1 "$dir"
    pid="${PIDS[-1]}"
    t0="$(cpu_ticks "$pid")"
    out="$(run "$((PORT + 1))" /open/plain "$COST_RATE" "$SECONDS_RUN" 16)"
    t1="$(cpu_ticks "$pid")"
    stop_nodes
    python3 - "$out" "$t0" "$t1" "$(getconf CLK_TCK)" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); ticks = int(sys.argv[3]) - int(sys.argv[2]); hz = int(sys.argv[4])
print(f"{ticks / hz / max(r['answered'], 1) * 1e6:.2f}")
PY
}
STANDALONE_DIR="$(write_node 1 standalone)"
CLUSTER_DIR="$OUT/node1-cluster"
for round in $(seq "$ROUNDS"); do
    s="$(cost "$STANDALONE_DIR")"
    c="$(cost "$CLUSTER_DIR")"
    printf 'round %s: standalone %s us, cluster %s us CPU per request: x%s\n' "$round" "$s" "$c" \
        "$(python3 -c "print(f'{$c / $s:.3f}')")"
done
log "raw output and logs in $OUT"
