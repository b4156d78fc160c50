#!/usr/bin/env bash
# TLS load test: Tollgate vs nginx terminating TLS with the same certificate (ECDSA P-256,
# TLS 1.3), both proxying to the same nginx origin over plain HTTP/1.1.
#
#   Install the tools first:  apt-get install -y wrk nginx nghttp2-client openssl curl
#   Run from anywhere:        loadtest/tls.sh
#
# Clients connect to 127.0.0.1; h2load sends SNI bench.test (--connect-to), wrk sends no SNI
# (an IP address) and gets the default certificate, which is the same one; both send
# `Host: bench.test`, which routes Tollgate's custom domain.
# Runs, for each proxy (proxy alone on CPU 0, origin + load generator on CPU 1):
#   wrk-keepalive  wrk over HTTPS/1.1, CONNECTIONS keep-alive connections
#   h2load         HTTP/2 over TLS, CONNECTIONS connections x STREAMS concurrent streams
#   wrk-handshake  wrk with `Connection: close`: one full handshake per request
# and prints req/s and the proxy's CPU time per request (utime+stime from /proc, as
# loadtest/proxy.sh), and for wrk-handshake the handshakes per CPU-second.
#
# Environment: DURATION=10s CONNECTIONS=64 STREAMS=10 SKIP_BUILD=1 TOLLGATE_BIN=...
#              TOLLGATE_PORT=18443 ORIGIN_PORT=18081 NGINX_PORT=18444 ONLY=all|nginx|tollgate
#              MODES="wrk-keepalive h2load wrk-handshake" (a subset runs only those)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-64}"
STREAMS="${STREAMS:-10}"
ONLY="${ONLY:-all}"
MODES="${MODES:-wrk-keepalive h2load wrk-handshake}"
TOLLGATE_PORT="${TOLLGATE_PORT:-18443}"
ORIGIN_PORT="${ORIGIN_PORT:-18081}"
NGINX_PORT="${NGINX_PORT:-18444}"
PROXY_CPU=0
LOAD_CPU=1
CLK_TCK="$(getconf CLK_TCK)"
OUT="$HERE/out/tls-$(date +%Y%m%d-%H%M%S)"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

for tool in wrk nginx h2load openssl curl taskset; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install -y wrk nginx nghttp2-client openssl curl)"
done
for port in "$TOLLGATE_PORT" "$ORIGIN_PORT" "$NGINX_PORT"; do
    [[ -z "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]] || die "port $port is already in use"
done
mkdir -p "$OUT"

PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_bg() { # NAME CPU CMD...
    local name="$1" cpu="$2"
    shift 2
    taskset -c "$cpu" "$@" >"$OUT/$name.log" 2>&1 &
    BG_PID=$!
    PIDS+=("$BG_PID")
}

wait_url() { # URL [curl options]
    local url="$1"
    shift
    for _ in $(seq 100); do
        curl -fsS -o /dev/null "$@" "$url" 2>/dev/null && return 0
        sleep 0.1
    done
    die "no 200 from $url within 10 s (logs in $OUT)"
}

cpu_ticks() { # PID... -> utime+stime in clock ticks
    local total=0 pid stat
    for pid in "$@"; do
        stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || continue
        stat="${stat##*) }"
        # shellcheck disable=SC2086
        set -- $stat
        total=$((total + ${12} + ${13}))
    done
    echo "$total"
}

wrk_errors() { # RAW -> non-2xx/3xx answers plus socket errors
    awk '/Non-2xx or 3xx responses:/ { n += $NF } /Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$1"
}

ROWS=()
declare -A CPU
measure() { # LABEL MODE URL PIDS...
    local label="$1" mode="$2" url="$3"
    shift 3
    local raw="$OUT/$label-$mode.txt" t0 t1 requests rps errors
    t0="$(cpu_ticks "$@")"
    case "$mode" in
    wrk-keepalive)
        taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" -H "Host: bench.test" "$url" >"$raw"
        requests="$(awk '/requests in/ { print $1 }' "$raw")"
        errors="$(wrk_errors "$raw")" ;;
    wrk-handshake)
        taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" -H "Host: bench.test" -H "Connection: close" "$url" >"$raw"
        requests="$(awk '/requests in/ { print $1 }' "$raw")"
        errors="$(wrk_errors "$raw")" ;;
    h2load)
        local port="${url##*:}"
        port="${port%%/*}"
        taskset -c "$LOAD_CPU" h2load -c"$CONNECTIONS" -m"$STREAMS" -D"${DURATION%s}" \
            --connect-to="127.0.0.1:$port" "https://bench.test:$port/${url#https://*:*/}" >"$raw"
        requests="$(awk '/^requests:/ { print $8 }' "$raw")"
        errors="$(awk '/^requests:/ { print $10 + $12 }' "$raw")" ;;
    esac
    t1="$(cpu_ticks "$@")"
    [[ -n "$requests" && "$requests" -gt 0 ]] || die "$label/$mode completed no requests (see $raw)"
    # A figure measured on error answers (a 429 from a throttle, a 421 from a wrong name) is
    # not a proxying figure: refuse it rather than print a flattering ratio.
    [[ "$errors" -eq 0 ]] || die "$label/$mode: $errors of $requests answers were errors or not 2xx (see $raw)"
    local secs="${DURATION%s}"
    rps=$((requests / secs))
    local cpu_us
    cpu_us="$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { printf "%.2f", d / hz * 1e6 / n }')"
    local per_cpu_s
    per_cpu_s="$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { printf "%.0f", (d > 0 ? n / (d / hz) : 0) }')"
    CPU[$label/$mode]="$cpu_us"
    ROWS+=("$(printf '%-10s %-14s %10s req/s %10s us CPU/req %10s req per CPU-s' "$label" "$mode" "$rps" "$cpu_us" "$per_cpu_s")")
    log "${ROWS[-1]}"
}

# ---- certificate (shared by both proxies) ----------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=bench.test" -addext "subjectAltName=DNS:bench.test" \
    -keyout "$OUT/key.pem" -out "$OUT/cert.pem" 2>/dev/null

if [[ "$ONLY" != nginx ]]; then
    if [[ -z "${SKIP_BUILD:-}" ]]; then
        (cd "$ROOT" && cargo build --release --bin tollgate)
    fi
    BIN="${TOLLGATE_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/tollgate}"
    [[ -x "$BIN" ]] || die "no binary at $BIN"
fi

render_nginx() { # TEMPLATE DIR PORT
    mkdir -p "$2/tmp"
    cp "$OUT/cert.pem" "$OUT/key.pem" "$2/"
    sed -e "s|@PREFIX@|$2|g" -e "s|@PORT@|$3|g" -e "s|@ORIGIN@|127.0.0.1:$ORIGIN_PORT|g" "$1" >"$2/nginx.conf"
}
render_nginx "$HERE/nginx-origin.conf" "$OUT/origin" "$ORIGIN_PORT"
start_bg origin "$LOAD_CPU" nginx -p "$OUT/origin" -c "$OUT/origin/nginx.conf" -e "$OUT/origin/error.log"
wait_url "http://127.0.0.1:$ORIGIN_PORT/json"

run_all() { # LABEL PORT PATH PIDS...
    local label="$1" port="$2" path="$3"
    shift 3
    local url="https://127.0.0.1:$port$path" mode
    for mode in $MODES; do
        measure "$label" "$mode" "$url" "$@"
    done
}

if [[ "$ONLY" != tollgate ]]; then
    render_nginx "$HERE/nginx-tls.conf" "$OUT/nginx" "$NGINX_PORT"
    start_bg nginx "$PROXY_CPU" nginx -p "$OUT/nginx" -c "$OUT/nginx/nginx.conf" -e "$OUT/nginx/error.log"
    NGINX_PID=$BG_PID
    wait_url "https://bench.test:$NGINX_PORT/json" -k --resolve "bench.test:$NGINX_PORT:127.0.0.1"
    mapfile -t NGINX_PIDS < <(echo "$NGINX_PID"; pgrep -P "$NGINX_PID" || true)
    run_all nginx "$NGINX_PORT" /json "${NGINX_PIDS[@]}"
    kill -TERM "$NGINX_PID" 2>/dev/null || true
fi

if [[ "$ONLY" != nginx ]]; then
    CONF="$OUT/tollgate"
    mkdir -p "$CONF/apis"
    cp "$OUT/cert.pem" "$OUT/key.pem" "$CONF/"
    cat >"$CONF/gateway.toml" <<TOML
[server]
listen = ["127.0.0.1:0"]
shards = 1
pin_cores = false

# The account throttle (AWS default 10,000 req/s) would cap this measurement: raise it.
[throttle]
rate_limit = 1000000000
burst_limit = 1000000000

[tls]
listen = ["127.0.0.1:$TOLLGATE_PORT"]

[[domain]]
name = "bench.test"
cert = "cert.pem"
key = "key.pem"
mappings = [{ base_path = "/", api = "bench", stage = "bench" }]
TOML
    cat >"$CONF/apis/bench.toml" <<TOML
id = "bench"

[stages.bench]
deployment = "d1"

[deployments.d1.methods."ANY /{proxy+}"]
integration = { type = "HTTP_PROXY", uri = "http://127.0.0.1:$ORIGIN_PORT/{proxy}" }
TOML
    "$BIN" --check "$CONF" >&2 || die "generated Tollgate config rejected"
    start_bg tollgate "$PROXY_CPU" env RUST_LOG=warn "$BIN" --config "$CONF"
    TOLLGATE_PID=$BG_PID
    wait_url "https://bench.test:$TOLLGATE_PORT/json" -k --resolve "bench.test:$TOLLGATE_PORT:127.0.0.1"
    run_all tollgate "$TOLLGATE_PORT" /json "$TOLLGATE_PID"
fi

{
    echo
    echo "TLS benchmark: $CONNECTIONS connections ($STREAMS streams each for h2load), $DURATION per run"
    printf '%s\n' "${ROWS[@]}"
    for mode in wrk-keepalive h2load wrk-handshake; do
        if [[ -n "${CPU[tollgate/$mode]:-}" && -n "${CPU[nginx/$mode]:-}" ]]; then
            awk -v m="$mode" -v t="${CPU[tollgate/$mode]}" -v n="${CPU[nginx/$mode]}" \
                'BEGIN { if (n > 0) printf "Tollgate/nginx CPU per request (%s): x%.2f\n", m, t / n }'
        fi
    done
    echo "raw output: $OUT"
} | tee "$OUT/summary.txt"
