#!/usr/bin/env bash
# Cost of configured API keys that carry no traffic (issue 19): for 1, 10,000 and 100,000 keys
# in one usage plan, the gateway's RSS and the CPU of its `usage-flush` thread over an idle
# period, then the same after one request on the last key (a flush has one counter to write).
#
#   loadtest/keys.sh            # KEYS="1 10000 100000" IDLE=10 SKIP_BUILD=0 TOLLGATE_BIN=...
#
# CPU is the thread's schedstat run time (nanoseconds), per second of wall time. Then LOAD
# seconds of `wrk -c64` on the last key (gateway on CPU 0, wrk on CPU 1): req/s, p99 and the
# gateway's CPU per request. Repeat a count to alternate runs (KEYS="1 100000 1 100000"): the
# p99 target compares key counts in the same session.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/common.sh"
KEYS="${KEYS:-1 10000 100000}"
IDLE="${IDLE:-10}"
LOAD="${LOAD:-10}"
GW=18390
OUT="$HERE/out/keys-$(date +%Y%m%d-%H%M%S)"
need wrk taskset curl python3
BIN="$(tollgate_bin)"
mkdir -p "$OUT"
PID=""
cleanup() { [[ -z "$PID" ]] || kill "$PID" 2>/dev/null || true; }
trap cleanup EXIT

cpu_ns() { # PID -> run time of all its threads (schedstat, nanoseconds)
    local total=0 t
    for t in /proc/"$1"/task/*; do total=$((total + $(awk '{ print $1 }' "$t/schedstat"))); done
    echo "$total"
}

flush_ns() { # PID -> run time of its usage-flush thread
    for t in /proc/"$1"/task/*; do
        if [[ "$(cat "$t/comm")" == usage-flush ]]; then awk '{ print $1 }' "$t/schedstat"; return; fi
    done
    echo 0
}

printf '%8s %10s %14s %22s %10s %10s %12s\n' keys rss_mb "flush_us/s" "flush_us/s_after_1_req" "req/s" "p99_us" "cpu_us/req"
for n in $KEYS; do
    run=$((${run:-0} + 1))
    dir="$OUT/$run-$n"
    mkdir -p "$dir/apis"
    cat >"$dir/gateway.toml" <<EOF2
[server]
listen = ["127.0.0.1:$GW"]
shards = 2
pin_cores = false
default_api = "bench"
[usage]
flush_interval_ms = 1000
# Far above what the VM serves: the account throttle is not what this measures.
[throttle]
rate_limit = 1000000
burst_limit = 100000
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
    taskset -c 0 "$BIN" --config "$dir" >"$dir/tollgate.log" 2>&1 &
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
    key="$(printf 'bench-key-%012d-abcdefgh' "$last")"
    t0="$(cpu_ns "$PID")"
    taskset -c 1 wrk -t1 -c64 -d"${LOAD}s" --latency -H "x-api-key: $key" "http://127.0.0.1:$GW/prod/k" >"$dir/wrk.txt"
    t1="$(cpu_ns "$PID")"
    reqs="$(awk '/requests in/ { print $1 }' "$dir/wrk.txt")"
    rps="$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$dir/wrk.txt")"
    p99="$(wrk_p99_us "$dir/wrk.txt")"
    bad="$(awk '/Non-2xx/ { print $NF }' "$dir/wrk.txt")"
    [[ -z "$bad" ]] || echo "warning: $bad non-2xx answers in $dir/wrk.txt" >&2
    awk -v n="$n" -v rss="$rss" -v idle=$((b - a)) -v after=$((d - c)) -v s="$IDLE" \
        -v rps="$rps" -v p99="$p99" -v cpu=$((t1 - t0)) -v reqs="$reqs" \
        'BEGIN { printf "%8d %10.1f %14.1f %22.1f %10d %10d %12.2f\n", n, rss, idle / s / 1000, after / s / 1000, rps, p99, cpu / 1000 / reqs }'
    kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
done
echo "raw output in $OUT" >&2
