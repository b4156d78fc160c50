#!/usr/bin/env bash
# Reverse-proxy load test: Tollgate vs nginx, both in front of the same nginx origin.
#
#   Install the tools first:  apt-get install -y wrk nginx     (oha is used too if on PATH)
#   Run from anywhere:        loadtest/proxy.sh
#
# Layout (2 CPUs): the proxy under test runs alone on CPU 0 (`taskset -c 0`); the origin and the
# load generator share CPU 1. Ports: Tollgate 18080, origin 18081, nginx proxy 18082.
# For each proxy and load generator it prints req/s, p50, p99 and the proxy's CPU time per
# request (utime+stime of all its processes from /proc/PID/stat, in clock ticks, divided by the
# requests completed), then a side-by-side table with Tollgate/nginx ratios.
# Tollgate is also measured answering from its stage cache (`tollgate-hit`: same URL on a stage
# with `cache_cluster_enabled`, so after the first request the origin is not called), compared
# with nginx's plain proxying (issue 4's target: CPU per request <= 0.35x).
#
# Environment knobs:
#   DURATION=10s        length of each measured run (wrk -d / oha -z)
#   CONNECTIONS=64      concurrent client connections
#   WARMUP=2s           unmeasured run before each measurement
#   ONLY=all|nginx|tollgate   which proxies to measure (nginx: no Rust build needed)
#   CACHE_HIT=1         also measure Tollgate's cache hits (0: skip)
#   SKIP_BUILD=1        use the existing release binary
#   CARGO_TARGET_DIR    where the release binary is looked for/built (default: <repo>/target)
#   TOLLGATE_BIN        measure this Tollgate binary instead of the one built (with SKIP_BUILD=1)
#   ACCESS_LOG=1        also measure Tollgate with the stage's access log on (default JSON format,
#                       to a file in the run directory): row `tollgate+log`
#   BASELINE_GATEWAY_EXTRA  TOML appended to the baseline's gateway.toml after the same
#                       [throttle] raise Tollgate's run gets (default: nothing more;
#                       BASELINE_UNTHROTTLED=0 leaves the raise out, for binaries older
#                       than throttling)
#   BASELINE_BIN        also measure this other Tollgate binary (e.g. one built without
#                       metrics/access logs) on the same config: row `baseline`
#   TOLLGATE_PORT=18080 ORIGIN_PORT=18081 NGINX_PORT=18082
#                       the script refuses to start if one is already listening: Tollgate binds
#                       with SO_REUSEPORT, so a leftover process would silently share the load
#
# Run directories (configs, logs, raw tool output) go to loadtest/out/ (git-ignored).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-64}"
WARMUP="${WARMUP:-2s}"
ONLY="${ONLY:-all}"
CACHE_HIT="${CACHE_HIT:-1}"
TOLLGATE_PORT="${TOLLGATE_PORT:-18080}"
ORIGIN_PORT="${ORIGIN_PORT:-18081}"
NGINX_PORT="${NGINX_PORT:-18082}"
PROXY_CPU=0
LOAD_CPU=1
CLK_TCK="$(getconf CLK_TCK)"
OUT="$HERE/out/run-$(date +%Y%m%d-%H%M%S)"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

for tool in wrk nginx curl taskset; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install -y wrk nginx curl util-linux)"
done
[[ "$(nproc)" -ge 2 ]] || log "warning: fewer than 2 CPUs; pinning will overlap"
for port in "$TOLLGATE_PORT" "$ORIGIN_PORT" "$NGINX_PORT"; do
    if [[ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]]; then
        die "port $port is already in use (leftover run? see: ss -ltnp 'sport = :$port')"
    fi
done
mkdir -p "$OUT"

# ---- process bookkeeping -------------------------------------------------------------------
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_bg NAME CPU CMD... : runs CMD pinned to CPU in the background, output to $OUT/NAME.log;
# sets BG_PID.
start_bg() {
    local name="$1" cpu="$2"
    shift 2
    taskset -c "$cpu" "$@" >"$OUT/$name.log" 2>&1 &
    BG_PID=$!
    PIDS+=("$BG_PID")
}

# wait_http URL : waits up to 10 s for a 200 from URL.
wait_http() {
    local url="$1"
    for _ in $(seq 100); do
        if curl -fsS -o /dev/null "$url" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    die "no 200 from $url within 10 s (logs in $OUT)"
}

# proc_tree PID : PID and its direct children (nginx master + workers).
proc_tree() {
    echo "$1"
    pgrep -P "$1" || true
}

# cpu_ticks PID... : sum of utime+stime (clock ticks) of the given processes.
cpu_ticks() {
    local total=0 pid stat
    for pid in "$@"; do
        stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || continue
        stat="${stat##*) }" # fields after "(comm) "; utime/stime are fields 14/15 overall
        # shellcheck disable=SC2086
        set -- $stat
        total=$((total + ${12} + ${13}))
    done
    echo "$total"
}

# to_us VALUE : wrk latency ("393.00us", "1.20ms", "2.00s", "1.00m") in microseconds.
to_us() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") m = 1; else if (u == "ms") m = 1000; else if (u == "s") m = 1000000;
        else if (u == "m") m = 60000000; else m = 1
        printf "%.0f", n * m }'
}

# tcp_out_segs : TCP segments sent by this host since boot (loopback: every segment of the
# client, the proxy and the origin). Segments per request show how well a proxy coalesces writes.
tcp_out_segs() {
    nstat -asz TcpOutSegs 2>/dev/null | awk '$1 == "TcpOutSegs" { print $2 }'
}

declare -A RPS P50 P99 CPU_US ERRS SEGS
ROWS=()

# measure LABEL TOOL URL PIDS... : warm-up, then one measured run; records the results.
measure() {
    local label="$1" tool="$2" url="$3"
    shift 3
    local pids=("$@") raw="$OUT/$label-$tool.txt" t0 t1 s0 s1 requests rps p50 p99 errs
    log "$label / $tool: warm-up $WARMUP, then $DURATION with $CONNECTIONS connections"
    case "$tool" in
    wrk)
        taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"$WARMUP" "$url" >/dev/null
        s0="$(tcp_out_segs)"
        t0="$(cpu_ticks "${pids[@]}")"
        taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "$url" >"$raw"
        t1="$(cpu_ticks "${pids[@]}")"
        s1="$(tcp_out_segs)"
        requests="$(awk '/requests in/ { print $1 }' "$raw")"
        rps="$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$raw")"
        p50="$(to_us "$(awk '$1 == "50%" { print $2 }' "$raw")")"
        p99="$(to_us "$(awk '$1 == "99%" { print $2 }' "$raw")")"
        errs="$(awk '/Non-2xx or 3xx responses:/ { n += $NF } /Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$raw")"
        ;;
    oha)
        taskset -c "$LOAD_CPU" oha --no-tui -c "$CONNECTIONS" -z "$WARMUP" "$url" >/dev/null
        s0="$(tcp_out_segs)"
        t0="$(cpu_ticks "${pids[@]}")"
        taskset -c "$LOAD_CPU" oha --no-tui -c "$CONNECTIONS" -z "$DURATION" --output-format json "$url" >"$raw" 2>/dev/null ||
            taskset -c "$LOAD_CPU" oha --no-tui -c "$CONNECTIONS" -z "$DURATION" -j "$url" >"$raw"
        t1="$(cpu_ticks "${pids[@]}")"
        s1="$(tcp_out_segs)"
        read -r requests rps p50 p99 errs < <(python3 - "$raw" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
codes = {int(k): v for k, v in d["statusCodeDistribution"].items()}
requests = sum(codes.values())
errors = sum(v for k, v in codes.items() if not 200 <= k < 400) + sum(d.get("errorDistribution", {}).values())
p = d["latencyPercentiles"]
print(requests, round(d["summary"]["requestsPerSec"]), round(p["p50"] * 1e6), round(p["p99"] * 1e6), errors)
PY
        )
        ;;
    esac
    [[ -n "$requests" && "$requests" -gt 0 ]] || die "$label/$tool completed no requests (see $raw)"
    local key="$label/$tool"
    RPS[$key]="$rps"
    P50[$key]="$p50"
    P99[$key]="$p99"
    ERRS[$key]="$errs"
    CPU_US[$key]="$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { printf "%.2f", d / hz * 1e6 / n }')"
    SEGS[$key]="$(awk -v a="${s0:-0}" -v b="${s1:-0}" -v n="$requests" 'BEGIN { printf "%.2f", (b - a) / n }')"
    ROWS+=("$key")
    printf '    %-16s %10s req/s   p50 %8s us   p99 %8s us   CPU %8s us/req   segs %s/req   errors %s\n' \
        "$key" "$rps" "$p50" "$p99" "${CPU_US[$key]}" "${SEGS[$key]}" "$errs" >&2
}

# Build first, so that no compilation runs during a measurement.
if [[ "$ONLY" == all || "$ONLY" == tollgate ]]; then
    TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
    if [[ -z "${SKIP_BUILD:-}" ]]; then
        log "cargo build --release"
        (cd "$ROOT" && cargo build --release --bin tollgate)
    fi
    BIN="${TOLLGATE_BIN:-$TARGET_DIR/release/tollgate}"
    [[ -x "$BIN" ]] || die "no binary at $BIN"
fi

TOOLS=(wrk)
command -v oha >/dev/null && TOOLS+=(oha)

# ---- origin ----------------------------------------------------------------------------------
render_nginx() { # TEMPLATE DIR PORT
    mkdir -p "$2/tmp"
    sed -e "s|@PREFIX@|$2|g" -e "s|@PORT@|$3|g" -e "s|@ORIGIN@|127.0.0.1:$ORIGIN_PORT|g" "$1" >"$2/nginx.conf"
}
render_nginx "$HERE/nginx-origin.conf" "$OUT/origin" "$ORIGIN_PORT"
start_bg origin "$LOAD_CPU" nginx -p "$OUT/origin" -c "$OUT/origin/nginx.conf" -e "$OUT/origin/error.log"
wait_http "http://127.0.0.1:$ORIGIN_PORT/json"
log "origin nginx on :$ORIGIN_PORT (CPU $LOAD_CPU)"

# ---- nginx as proxy --------------------------------------------------------------------------
if [[ "$ONLY" == all || "$ONLY" == nginx ]]; then
    render_nginx "$HERE/nginx-proxy.conf" "$OUT/nginx-proxy" "$NGINX_PORT"
    start_bg nginx-proxy "$PROXY_CPU" nginx -p "$OUT/nginx-proxy" -c "$OUT/nginx-proxy/nginx.conf" -e "$OUT/nginx-proxy/error.log"
    NGINX_PID=$BG_PID
    wait_http "http://127.0.0.1:$NGINX_PORT/json"
    mapfile -t NGINX_PIDS < <(proc_tree "$NGINX_PID")
    log "nginx proxy on :$NGINX_PORT (CPU $PROXY_CPU, pids ${NGINX_PIDS[*]})"
    for tool in "${TOOLS[@]}"; do
        measure nginx "$tool" "http://127.0.0.1:$NGINX_PORT/json" "${NGINX_PIDS[@]}"
    done
    kill -TERM "$NGINX_PID" 2>/dev/null || true
fi

# ---- Tollgate --------------------------------------------------------------------------------
if [[ "$ONLY" == all || "$ONLY" == tollgate ]]; then
    # run_tollgate LABEL BIN ACCESS_LOG_LINE : starts BIN on a fresh config, measures, stops it.
    run_tollgate() {
        local label="$1" bin="$2" log_line="$3" gateway_extra="$4" conf="$OUT/$1" cached_stage=""
        # The cache-hit case runs on the main Tollgate row only (a baseline binary may predate
        # the cache settings).
        if [[ "$label" == tollgate && "$CACHE_HIT" == 1 ]]; then
            cached_stage=$'[stages.cached]\ndeployment = "d1"\ncache_cluster_enabled = true\ncache_ttl_in_seconds = 3600'
        fi
        mkdir -p "$conf/apis"
        cat >"$conf/gateway.toml" <<EOF
[server]
listen = ["127.0.0.1:$TOLLGATE_PORT"]
shards = 1
pin_cores = false
apis_dir = "apis"
default_api = "bench"
execute_api_domain = "localhost"

[limits]
max_header_bytes = 10240
max_body_bytes = 10485760
header_timeout_ms = 10000
body_timeout_ms = 30000
idle_timeout_ms = 60000
send_timeout_ms = 30000
drain_timeout_ms = 2000
integration_timeout_ms = 29000
pool_max_idle_per_backend = 64
pool_idle_timeout_ms = 60000
$gateway_extra
EOF
        cat >"$conf/apis/bench.toml" <<EOF
id = "bench"
name = "bench"

[stages.bench]
deployment = "d1"
$log_line

$cached_stage

[deployments.d1]
description = "load test: everything proxied to the origin"

[deployments.d1.methods."ANY /{proxy+}"]
integration = { type = "HTTP_PROXY", uri = "http://127.0.0.1:$ORIGIN_PORT/{proxy}" }
EOF
        "$bin" --check "$conf" >&2 || die "generated Tollgate config rejected ($conf)"
        start_bg "$label" "$PROXY_CPU" env RUST_LOG=warn "$bin" --config "$conf"
        local pid=$BG_PID
        wait_http "http://127.0.0.1:$TOLLGATE_PORT/bench/json"
        log "$label on :$TOLLGATE_PORT (CPU $PROXY_CPU, pid $pid)"
        for tool in "${TOOLS[@]}"; do
            measure "$label" "$tool" "http://127.0.0.1:$TOLLGATE_PORT/bench/json" "$pid"
        done
        if [[ -n "$cached_stage" ]]; then
            wait_http "http://127.0.0.1:$TOLLGATE_PORT/cached/json" # fills the cache
            for tool in "${TOOLS[@]}"; do
                measure "$label-hit" "$tool" "http://127.0.0.1:$TOLLGATE_PORT/cached/json" "$pid"
            done
        fi
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    }
    # The account throttle (AWS default 10,000 req/s) would cap this measurement: raise it.
    unthrottled=$'\n[throttle]\nrate_limit = 1000000000\nburst_limit = 1000000000'
    run_tollgate tollgate "$BIN" "" "$unthrottled"
    if [[ -n "${ACCESS_LOG:-}" ]]; then
        run_tollgate tollgate+log "$BIN" "access_log = { destination = \"$OUT/tollgate+log/access.log\" }" "$unthrottled"
    fi
    if [[ -n "${BASELINE_BIN:-}" ]]; then
        # The same raise as above (without it every baseline request past 10,000/s is a 429;
        # BASELINE_UNTHROTTLED=0 for a binary older than throttling, which refuses the
        # section), then whatever the caller adds.
        raise=""
        [[ "${BASELINE_UNTHROTTLED:-1}" == 1 ]] && raise="$unthrottled"
        run_tollgate baseline "$BASELINE_BIN" "" "$raise${BASELINE_GATEWAY_EXTRA:+$'\n'$BASELINE_GATEWAY_EXTRA}"
    fi
fi

# ---- report ----------------------------------------------------------------------------------
{
    echo
    echo "Proxy benchmark: $CONNECTIONS connections, $DURATION per run, proxy on CPU $PROXY_CPU, origin + load on CPU $LOAD_CPU"
    printf '%-16s %12s %10s %10s %14s %10s %8s\n' "proxy/tool" "req/s" "p50 (us)" "p99 (us)" "CPU us/req" "segs/req" "errors"
    for key in "${ROWS[@]}"; do
        printf '%-16s %12s %10s %10s %14s %10s %8s\n' "$key" "${RPS[$key]}" "${P50[$key]}" "${P99[$key]}" "${CPU_US[$key]}" "${SEGS[$key]}" "${ERRS[$key]}"
    done
    for tool in "${TOOLS[@]}"; do
        for other in tollgate+log baseline; do
            if [[ -n "${CPU_US[$other/$tool]:-}" && -n "${CPU_US[tollgate/$tool]:-}" ]]; then
                awk -v t="$tool" -v o="$other" -v oc="${CPU_US[$other/$tool]}" -v tc="${CPU_US[tollgate/$tool]}" \
                    'BEGIN { printf "%s/tollgate (%s): CPU per request x%.3f\n", o, t, (tc > 0 ? oc / tc : 0) }'
            fi
        done
        if [[ -n "${RPS[tollgate/$tool]:-}" && -n "${RPS[nginx/$tool]:-}" ]]; then
            awk -v t="$tool" \
                -v tr="${RPS[tollgate/$tool]}" -v nr="${RPS[nginx/$tool]}" \
                -v tp="${P99[tollgate/$tool]}" -v np="${P99[nginx/$tool]}" \
                -v tc="${CPU_US[tollgate/$tool]}" -v nc="${CPU_US[nginx/$tool]}" 'BEGIN {
                printf "Tollgate/nginx (%s): req/s x%.2f   p99 x%.2f   CPU per request x%.2f\n",
                    t, tr / nr, (np > 0 ? tp / np : 0), (nc > 0 ? tc / nc : 0) }'
        fi
        if [[ -n "${CPU_US[tollgate-hit/$tool]:-}" && -n "${CPU_US[nginx/$tool]:-}" ]]; then
            awk -v t="$tool" -v hc="${CPU_US[tollgate-hit/$tool]}" -v nc="${CPU_US[nginx/$tool]}" 'BEGIN {
                printf "Tollgate cache hit/nginx proxy (%s): CPU per request x%.2f (target <= 0.35)\n",
                    t, (nc > 0 ? hc / nc : 0) }'
        fi
    done
    echo "raw output: $OUT"
} | tee "$OUT/summary.txt"
