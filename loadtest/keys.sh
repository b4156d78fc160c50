#!/usr/bin/env bash
# Cost of configured API keys that carry no traffic (issue 19): for 1, 10,000 and 100,000 keys
# in one usage plan, the gateway's RSS and the CPU of its `usage-flush` thread over an idle
# period, then the same after one request on the last key (a flush has one counter to write).
#
#   loadtest/keys.sh            # KEYS="1 10000 100000" IDLE=10 SKIP_BUILD=0 TOLLGATE_BIN=...
#
# CPU is the thread's schedstat run time (nanoseconds), per second of wall time.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
KEYS="${KEYS:-1 10000 100000}"
IDLE="${IDLE:-10}"
GW=18390
OUT="$HERE/out/keys-$(date +%Y%m%d-%H%M%S)"
[[ "${SKIP_BUILD:-0}" == 1 ]] || (cd "$ROOT" && cargo build --release --bin tollgate >&2)
BIN="${TOLLGATE_BIN:-$ROOT/target/release/tollgate}"
mkdir -p "$OUT"
PID=""
cleanup() { [[ -z "$PID" ]] || kill "$PID" 2>/dev/null || true; }
trap cleanup EXIT

flush_ns() { # PID -> run time of its usage-flush thread
    for t in /proc/"$1"/task/*; do
        if [[ "$(cat "$t/comm")" == usage-flush ]]; then awk '{ print $1 }' "$t/schedstat"; return; fi
    done
    echo 0
}

printf '%8s %10s %14s %22s\n' keys rss_mb "flush_us/s" "flush_us/s_after_1_req"
for n in $KEYS; do
    dir="$OUT/$n"
    mkdir -p "$dir/apis"
    cat >"$dir/gateway.toml" <<EOF2
[server]
listen = ["127.0.0.1:$GW"]
shards = 2
pin_cores = false
default_api = "bench"
[usage]
flush_interval_ms = 1000
EOF2
    cat >"$dir/apis/bench.toml" <<EOF2
id = "bench"
[stages.prod]
deployment = "v1"
[deployments.v1.methods."GET /k"]
integration = { type = "MOCK" }
api_key_required = true
EOF2
    printf '[plans.bench]\nname = "bench"\n[[plans.bench.stages]]\napi = "bench"\nstage = "prod"\n' >"$dir/usage_plans.toml"
    python3 - "$n" >"$dir/api_keys.toml" <<'PY'
import sys
for i in range(int(sys.argv[1])):
    print(f'[keys.k{i}]\nvalue = "bench-key-{i:012d}-abcdefgh"\nusage_plans = ["bench"]')
PY
    "$BIN" --config "$dir" >"$dir/tollgate.log" 2>&1 &
    PID=$!
    for _ in $(seq 600); do
        grep -q 'ready generation' "$dir/tollgate.log" && break
        sleep 0.1
    done
    sleep 2
    a="$(flush_ns "$PID")"; sleep "$IDLE"; b="$(flush_ns "$PID")"
    rss="$(awk '/VmRSS/ { print $2 / 1024 }' /proc/"$PID"/status)"
    last=$((n - 1))
    curl -fsS -o /dev/null -H "x-api-key: $(printf 'bench-key-%012d-abcdefgh' "$last")" "http://127.0.0.1:$GW/prod/k"
    c="$(flush_ns "$PID")"; sleep "$IDLE"; d="$(flush_ns "$PID")"
    awk -v n="$n" -v rss="$rss" -v idle=$((b - a)) -v after=$((d - c)) -v s="$IDLE" \
        'BEGIN { printf "%8d %10.1f %14.1f %22.1f\n", n, rss, idle / s / 1000, after / s / 1000 }'
    kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
done
echo "raw output in $OUT" >&2
