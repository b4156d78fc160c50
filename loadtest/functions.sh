#!/usr/bin/env bash
# Hosted Lambda functions: a hello-world Python handler run by the gateway itself
# ([functions.hello], awslambdaric workers, AWS_PROXY) against the same handler behind
# HTTP_PROXY in a small Python HTTP server (the baseline), in one run, at a fixed offered rate.
#
#   pip install awslambdaric;  apt-get install -y curl;  loadtest/functions.sh
#
# Prints, per path, open-loop latency (p50/p99 from the scheduled send time, loadtest/latency.py)
# and the gateway's CPU per request (utime+stime from /proc). Then the cold start
# (loadtest/runtime_alone.py; COLD_ROUNDS=0 skips it): a request through the gateway with no worker running, against
# the same runtime started alone under a minimal Runtime API, alternated round by round, for
# awslambdaric and for a native `provided` runtime (loadtest/min_runtime.rs) whose
# millisecond start lets the gateway's own share show through the noise of Python's start.
#
# Knobs: RATE=200 SECONDS=10 SHARDS=2 PYTHON=python3 COLD_ROUNDS=10 SKIP_BUILD=0 TOLLGATE_BIN=...
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
RATE="${RATE:-200}"
SECONDS_="${SECONDS:-10}"
SHARDS="${SHARDS:-2}"
PYTHON="${PYTHON:-python3}"
GW=18190
ORIGIN=18191
OUT="$HERE/out/functions-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT/config/apis" "$OUT/config/functions/hello"
[[ "${SKIP_BUILD:-0}" == 1 ]] || (cd "$ROOT" && cargo build --release --bin tollgate --example min_runtime >&2)
BIN="${TOLLGATE_BIN:-$ROOT/target/release/tollgate}"
MIN_RUNTIME="$ROOT/target/release/examples/min_runtime"
COLD_ROUNDS="${COLD_ROUNDS:-10}"
"$PYTHON" -c 'import awslambdaric' || { echo "awslambdaric missing for $PYTHON" >&2; exit 1; }

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

cat >"$OUT/config/functions/hello/app.py" <<'PY'
def handler(event, context):
    return {"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": "hello"}
PY
# The baseline: the same handler called by a threaded Python HTTP server.
cat >"$OUT/origin.py" <<'PY'
import socket, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
sys.path.insert(0, sys.argv[2])
from app import handler
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def setup(self):
        super().setup()
        # Head and body are two writes: without TCP_NODELAY, Nagle and the client's delayed
        # ACK hold the body 40 ms.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    def do_GET(self):
        r = handler({"path": self.path}, None)
        body = r["body"].encode()
        self.send_response(r["statusCode"])
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
"$PYTHON" "$OUT/origin.py" "$ORIGIN" "$OUT/config/functions/hello" >"$OUT/origin.log" 2>&1 &
PIDS+=($!)

cat >"$OUT/config/gateway.toml" <<EOF2
[server]
listen = ["127.0.0.1:$GW"]
shards = $SHARDS
pin_cores = false
default_api = "bench"
[throttle]
rate_limit = 1000000
burst_limit = 1000000
[functions.hello]
command = ["$PYTHON", "-m", "awslambdaric", "app.handler"]
working_dir = "functions/hello"
concurrency = $((2 * SHARDS))
# The same handler and a native runtime, stopped after 1 s idle: every request is cold.
[functions.cold]
command = ["$PYTHON", "-m", "awslambdaric", "app.handler"]
working_dir = "functions/hello"
idle_timeout = 1
[functions.native]
command = ["$MIN_RUNTIME"]
idle_timeout = 1
EOF2
cat >"$OUT/config/apis/bench.toml" <<EOF2
id = "bench"
[stages.prod]
deployment = "v1"
[deployments.v1.methods."GET /proxy"]
integration = { type = "HTTP_PROXY", uri = "http://127.0.0.1:$ORIGIN/hello" }
[deployments.v1.methods."GET /fn"]
integration = { type = "AWS_PROXY", uri = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/hello/invocations" }
[deployments.v1.methods."GET /cold"]
integration = { type = "AWS_PROXY", uri = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/cold/invocations" }
[deployments.v1.methods."GET /native"]
integration = { type = "AWS_PROXY", uri = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/native/invocations" }
EOF2

# CPU time in nanoseconds (schedstat, summed over the gateway's threads): clock ticks (10 ms)
# are too coarse for a few thousand requests.
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{ ns += $1 } END { printf "%.0f\n", ns }'; }
wait_up() { for _ in $(seq 200); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.05; done; echo "no answer from $1" >&2; exit 1; }

"$BIN" --config "$OUT/config" >"$OUT/tollgate.log" 2>&1 &
GW_PID=$!
PIDS+=("$GW_PID")
wait_up "http://127.0.0.1:$GW/prod/proxy"
# Cold start: through the gateway against the runtime alone, round by round.
cold() {
    local label="$1" path="$2"; shift 2
    local res
    res="$(GATEWAY="127.0.0.1:$GW" GATEWAY_PATH="$path" "$PYTHON" "$HERE/runtime_alone.py" \
        "$COLD_ROUNDS" "$OUT/config/functions/hello" "$PYTHON" app.handler -- "$@")"
    echo "cold $label $res" >>"$OUT/results.txt"
    "$PYTHON" - "$label" "$res" <<'PY'
import json, sys
r = json.loads(sys.argv[2])
d = r["gateway_minus_alone_ms"]
print(f"cold start {sys.argv[1]:<12} alone {r['result_ms']:6.1f} ms  through the gateway {r['gateway_ms']:6.1f} ms"
      f"  (paired difference: median {d['median']:.1f} ms, min {d['min']}, max {d['max']})")
PY
}
if (( COLD_ROUNDS > 0 )); then
    cold awslambdaric /prod/cold "$PYTHON" -m awslambdaric app.handler
    cold native /prod/native "$MIN_RUNTIME"
fi

printf '%-8s %8s %8s %8s %8s %16s\n' path ok p50_ms p99_ms max_ms "gateway_us/req"
for round in 1 2; do
    for path in proxy fn; do
        "$PYTHON" "$HERE/latency.py" 127.0.0.1 "$GW" "/prod/$path" 50 1 >/dev/null  # warm-up
        before="$(cpu_ns "$GW_PID")"
        res="$("$PYTHON" "$HERE/latency.py" 127.0.0.1 "$GW" "/prod/$path" "$RATE" "$SECONDS_")"
        after="$(cpu_ns "$GW_PID")"
        echo "$round $path $res" >>"$OUT/results.txt"
        "$PYTHON" - "$path" "$res" "$((after - before))" <<'PY'
import json, sys
path, r, ns = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
print(f"{path:<8} {r['ok']:>8} {r['p50_ms']:>8} {r['p99_ms']:>8} {r['max_ms']:>8} {ns / 1e3 / max(r['ok'], 1):>16.1f}")
PY
    done
done
# Closed loop (wrk, 4 connections): the gateway's CPU per request when it is kept busy, which
# the open-loop rate above (mostly idle, one wake-up per request) does not show.
if command -v wrk >/dev/null; then
    printf '%-8s %10s %16s\n' path "req/s" "gateway_us/req"
    for path in proxy fn proxy fn proxy fn; do
        before="$(cpu_ns "$GW_PID")"
        out="$(wrk -t1 -c4 -d5s "http://127.0.0.1:$GW/prod/$path")"
        after="$(cpu_ns "$GW_PID")"
        echo "$out" >>"$OUT/wrk-$path.txt"
        reqs="$(echo "$out" | awk '/requests in/ {print $1}')"
        awk -v p="$path" -v r="$reqs" -v ns=$((after - before)) \
            'BEGIN { printf "%-8s %10.0f %16.1f\n", p, r / 5, ns / r / 1e3 }'
    done
fi
grep -h "ready after" "$OUT/tollgate.log" | head -3 || true
echo "raw output in $OUT" >&2
