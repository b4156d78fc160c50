#!/usr/bin/env bash
# AWS_PROXY cost: Tollgate's CPU per Lambda invocation as a ratio to its CPU per HTTP_PROXY
# request (issue target: <= 1.3x, an event is one JSON write and one JSON parse more).
#
#   apt-get install -y wrk nginx valgrind;  loadtest/lambda.sh
#
# One nginx on CPU 1 plays both the HTTP origin (`GET /pets`, 32-byte body) and the Lambda
# Invoke API (`POST /2015-03-31/functions/pets/invocations`, a fixed proxy result); Tollgate
# runs one shard alone on CPU 0; wrk shares CPU 1 with nginx. For each path it prints req/s and
# Tollgate's CPU ticks per request (utime+stime from /proc, divided by requests), then the
# ratio. With CALLGRIND=1 it also counts Tollgate's user-space instructions per request under
# valgrind (a short and a long run of sequential keep-alive requests, subtracted, so start-up
# cancels out; deterministic, unlike timings).
#
# Knobs: DURATION=10s CONNECTIONS=32 ROUNDS=3 CALLGRIND=0 SKIP_BUILD=0 TOLLGATE_BIN=...
#        PROXY_ONLY=1: HTTP_PROXY alone (for binaries without AWS_PROXY, e.g. an A/B baseline)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
ROUNDS="${ROUNDS:-3}"
GW=18090
ORIGIN=18091
OUT="$HERE/out/lambda-$(date +%Y%m%d-%H%M%S)"
CLK_TCK="$(getconf CLK_TCK)"
mkdir -p "$OUT/config/apis"
[[ "${SKIP_BUILD:-0}" == 1 ]] || (cd "$ROOT" && cargo build --release --bin tollgate >&2)
BIN="${TOLLGATE_BIN:-$ROOT/target/release/tollgate}"

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

cat >"$OUT/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $OUT/nginx.pid;
error_log $OUT/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$ORIGIN reuseport;
    location = /pets { default_type text/plain; return 200 "0123456789abcdef0123456789abcdef"; }
    location /2015-03-31/ {
      default_type application/json;
      return 200 '{"statusCode":200,"headers":{"Content-Type":"text/plain"},"body":"0123456789abcdef0123456789abcdef"}';
    }
  }
}
EOF
cat >"$OUT/config/gateway.toml" <<EOF
[server]
listen = ["127.0.0.1:$GW"]
shards = 1
pin_cores = false
default_api = "bench"
[throttle]
rate_limit = 1000000
burst_limit = 1000000
EOF
PATHS="pets fn"
if [[ "${PROXY_ONLY:-0}" == 1 ]]; then
    PATHS="pets"
else
    printf '[lambda]\nendpoint = "http://127.0.0.1:%s"\naccess_key_id = "AKIDBENCH"\nsecret_access_key = "bench-secret"\n' "$ORIGIN" >>"$OUT/config/gateway.toml"
fi
cat >"$OUT/config/apis/bench.toml" <<EOF
id = "bench"
[stages.prod]
deployment = "v1"
[deployments.v1.methods."GET /pets"]
integration = { type = "HTTP_PROXY", uri = "http://127.0.0.1:$ORIGIN/pets" }
EOF
[[ "${PROXY_ONLY:-0}" == 1 ]] || cat >>"$OUT/config/apis/bench.toml" <<EOF
[deployments.v1.methods."GET /fn"]
integration = { type = "AWS_PROXY", uri = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/pets/invocations" }
EOF

taskset -c 1 nginx -c "$OUT/nginx.conf" >"$OUT/nginx.log" 2>&1 &
PIDS+=($!)

wait_up() { for _ in $(seq 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }
ticks() { local s; s="$(cat /proc/$1/stat)"; s="${s##*) }"; set -- $s; echo $(( ${12} + ${13} )); }

start_gateway() {
    taskset -c 0 "$@" --config "$OUT/config" >"$OUT/tollgate.log" 2>&1 &
    GW_PID=$!
    PIDS+=("$GW_PID")
    wait_up "http://127.0.0.1:$GW/prod/pets"
    [[ "$PATHS" == pets ]] || wait_up "http://127.0.0.1:$GW/prod/fn"
}

# run PATH : prints "req/s ticks_per_request"
run() {
    local url="http://127.0.0.1:$GW/prod/$1" before after out reqs
    taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d2s "$url" >/dev/null
    before="$(ticks "$GW_PID")"
    out="$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"$DURATION" "$url")"
    after="$(ticks "$GW_PID")"
    echo "$out" >>"$OUT/wrk-$1.txt"
    reqs="$(echo "$out" | awk '/requests in/ {print $1}')"
    awk -v r="$reqs" -v t=$((after - before)) -v d="${DURATION%s}" -v hz="$CLK_TCK" \
        'BEGIN { printf "%.0f %.3f\n", r / d, t / r * 1e6 / hz }'
}

start_gateway "$BIN"
printf '%-6s %-11s %12s %16s\n' round path "req/s" "CPU us/request"
for round in $(seq "$ROUNDS"); do
    # Alternate the order each round so drift on a shared VM does not favour one path.
    if (( round % 2 )); then order="$PATHS"; else order="$(echo "$PATHS" | awk '{ for (i = NF; i > 0; i--) printf "%s ", $i }')"; fi
    for path in $order; do
        read -r rps us <<<"$(run "$path")"
        printf '%-6s %-11s %12s %16s\n' "$round" "$path" "$rps" "$us"
        echo "$path $us" >>"$OUT/cpu.txt"
    done
done
[[ "$ROUNDS" -gt 0 && "$PATHS" != pets ]] && awk '{ s[$1] += $2; n[$1]++ } END {
    p = s["pets"] / n["pets"]; f = s["fn"] / n["fn"];
    printf "\nmean CPU us/request: HTTP_PROXY %.2f  AWS_PROXY %.2f  ratio AWS_PROXY/HTTP_PROXY x%.2f\n", p, f, f / p }' "$OUT/cpu.txt"
kill -9 "$GW_PID"; wait "$GW_PID" 2>/dev/null || true

if [[ "${CALLGRIND:-0}" == 1 ]]; then
    # Sequential keep-alive requests, a fixed count. Counters are zeroed after a warm-up and
    # dumped after N requests, so start-up (CA store, config) is not in the count and the
    # figure is exact: Tollgate's user-space instructions per request.
    N="${CALLGRIND_REQUESTS:-2000}"
    client() {
        python3 - "$GW" "$1" "$2" <<'PY'
import http.client, sys
port, path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
for _ in range(n):
    c.request("GET", "/prod/" + path); r = c.getresponse(); r.read()
    assert r.status == 200, r.status
PY
    }
    taskset -c 0 valgrind --tool=callgrind --compress-strings=no --callgrind-out-file="$OUT/callgrind.out" "$BIN" --config "$OUT/config" >"$OUT/valgrind.log" 2>&1 &
    VG_PID=$!
    PIDS+=("$VG_PID")
    for _ in $(seq 600); do curl -fsS -o /dev/null "http://127.0.0.1:$GW/prod/pets" 2>/dev/null && break; sleep 0.2; done
    for path in $PATHS; do
        client "$path" 200
        callgrind_control -z "$VG_PID" >/dev/null
        client "$path" "$N"
        callgrind_control -d "$path" "$VG_PID" >/dev/null
        sleep 1
        f="$(ls -t "$OUT"/callgrind.out.* | head -1)"
        ir="$(awk '/^summary:|^totals:/ {print $2; exit}' "$f")"
        echo "$path $((ir / N))" | tee -a "$OUT/ir.txt"
    done
    kill -9 "$VG_PID" 2>/dev/null || true
    [[ "$PATHS" == pets ]] || awk '{ v[$1] = $2 } END { printf "user-space instructions/request: HTTP_PROXY %d  AWS_PROXY %d  ratio x%.2f\n", v["pets"], v["fn"], v["fn"] / v["pets"] }' "$OUT/ir.txt"
fi
echo "raw output in $OUT" >&2
