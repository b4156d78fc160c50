#!/usr/bin/env bash
# WebSocket APIs (issue 16), Tollgate (1 shard) beside a plain Python `websockets` echo
# server (the baseline) in the same run:
#   1. memory per idle WebSocket: N connections, one echo round trip each, then idle;
#      RSS before and after, divided by N;
#   2. fan-out of one message to FANOUT connections: through `@connections` (one SigV4-signed
#      POST per connection) for Tollgate, `websockets.broadcast` for the baseline; Tollgate's
#      CPU per connection covers its handshake, the message that learns its id and the post;
#   3. CPU per routed message (a two-way MOCK route) beside CPU per proxied HTTP request
#      (HTTP_PROXY to an nginx `return 200`, driven by wrk), both on Tollgate in this run.
#
#   apt-get install -y nginx wrk python3; pip install websockets botocore (PYTHON=... for a venv)
#   loadtest/websocket.sh            # COUNT=10000 FANOUT=1000 MESSAGES=200000 SKIP_BUILD=1
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/common.sh"
COUNT="${COUNT:-10000}"
FANOUT="${FANOUT:-1000}"
MESSAGES="${MESSAGES:-200000}"
PYTHON="${PYTHON:-python3}"
TG_PORT="${TOLLGATE_PORT:-18680}"
PY_PORT="${BASELINE_PORT:-18681}"
ORIGIN_PORT="${ORIGIN_PORT:-18682}"
OUT="$HERE/out/websocket-$(date +%Y%m%d-%H%M%S)"
need nginx wrk taskset "$PYTHON"
"$PYTHON" -c 'import websockets, botocore' || die "$PYTHON needs websockets and botocore (pip install websockets botocore)"
BIN="$(tollgate_bin)"
ulimit -n "$(ulimit -Hn)"
(( $(ulimit -n) > COUNT + 1000 )) || die "ulimit -n is $(ulimit -n); $COUNT connections need more"
mkdir -p "$OUT/tollgate/apis" "$OUT/nginx/tmp"
LOAD="$HERE/ws_load.py"

cat >"$OUT/tollgate/gateway.toml" <<EOF
[server]
listen = ["127.0.0.1:$TG_PORT"]
shards = 1
pin_cores = false
default_api = "ws"
[limits]
idle_timeout_ms = 600000
header_timeout_ms = 600000
[throttle]
rate_limit = 1000000
burst_limit = 1000000
EOF
# `echo` answers (two-way MOCK); `who` has no route and no $default, so it is answered with
# AWS's Forbidden frame, which names the connection (how the fan-out learns the ids).
cat >"$OUT/tollgate/apis/ws.toml" <<EOF
id = "ws"
protocol_type = "WEBSOCKET"
route_selection_expression = "\$request.body.action"
[stages.prod]
deployment = "d"
[deployments.d.routes.echo]
integration = { type = "MOCK", body = '{"action": "echo"}' }
route_response_selection_expression = "\$default"
EOF
cat >"$OUT/tollgate/apis/http.toml" <<EOF
id = "http"
[stages.prod]
deployment = "d"
[deployments.d.methods."GET /"]
integration = { type = "HTTP_PROXY", uri = "http://127.0.0.1:$ORIGIN_PORT/" }
EOF
cat >"$OUT/tollgate/identities.toml" <<'EOF'
[users.backend]
policy = '''{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "execute-api:ManageConnections", "Resource": "*"}]}'''
access_keys = [{ id = "AKIALOADTEST0000001", secret = "load-test-secret-key/0123456789" }]
EOF
cat >"$OUT/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $OUT/nginx/nginx.pid;
error_log $OUT/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $OUT/nginx/tmp;
    server { listen 127.0.0.1:$ORIGIN_PORT; location / { return 200 'ok'; } }
}
EOF
cat >"$OUT/baseline.py" <<'PY'
import asyncio, sys
import websockets

CLIENTS = set()

async def handler(ws):
    CLIENTS.add(ws)
    try:
        async for message in ws:
            if message == '{"action": "broadcast"}':
                websockets.broadcast(CLIENTS, "hello")
            else:
                await ws.send(message)
    finally:
        CLIENTS.discard(ws)

async def main(port):
    async with websockets.serve(handler, "127.0.0.1", port, ping_interval=None, backlog=4096):
        print("ready", flush=True)
        await asyncio.Future()

asyncio.run(main(int(sys.argv[1])))
PY

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

start_tollgate() {
    taskset -c 0 "$BIN" --config "$OUT/tollgate" >"$OUT/tollgate.log" 2>&1 &
    TG=$!; PIDS+=("$TG")
    for _ in $(seq 100); do grep -q 'ready generation' "$OUT/tollgate.log" && return; sleep 0.1; done
    die "tollgate did not start: $(tail -5 "$OUT/tollgate.log")"
}
start_baseline() {
    taskset -c 0 "$PYTHON" "$OUT/baseline.py" "$PY_PORT" >"$OUT/baseline.log" 2>&1 &
    PY=$!; PIDS+=("$PY")
    for _ in $(seq 100); do grep -q ready "$OUT/baseline.log" && return; sleep 0.1; done
    die "baseline did not start"
}

# memory SERVER PID PORT : prints KiB per idle connection.
memory() {
    local pid=$2 port=$3 before after status
    before="$(rss_kb "$pid")"
    coproc HOLD { taskset -c 1 "$PYTHON" "$LOAD" hold "$port" "$COUNT"; }
    read -r status <&"${HOLD[0]}"
    [[ "$status" == "ready $COUNT failed 0" ]] || die "$1: $status"
    sleep 2
    after="$(rss_kb "$pid")"
    eval "exec ${HOLD[1]}>&-"
    wait "$HOLD_PID" 2>/dev/null || true
    awk -v a="$after" -v b="$before" -v n="$COUNT" 'BEGIN { printf "%.2f", (a - b) / n }'
}

start_tollgate
start_baseline
taskset -c 1 nginx -p "$OUT/nginx" -c "$OUT/nginx/nginx.conf" -e "$OUT/nginx/error.log" &
PIDS+=("$!")
sleep 1

log "memory: $COUNT idle WebSockets"
tg_kib="$(memory tollgate "$TG" "$TG_PORT")"
py_kib="$(memory baseline "$PY" "$PY_PORT")"

log "fan-out to $FANOUT connections"
t0="$(cpu_ticks "$TG")"
tg_fan="$(taskset -c 1 "$PYTHON" "$LOAD" fanout "$TG_PORT" "$FANOUT" AKIALOADTEST0000001 load-test-secret-key/0123456789)"
tg_fan_ticks=$(( $(cpu_ticks "$TG") - t0 ))
py_fan="$(taskset -c 1 "$PYTHON" "$LOAD" broadcast "$PY_PORT" "$FANOUT")"

log "CPU: $MESSAGES routed messages, then as many proxied requests"
t0="$(cpu_ticks "$TG")"
chat="$(taskset -c 1 "$PYTHON" "$LOAD" chat "$TG_PORT" 50 "$MESSAGES")"
msg_ticks=$(( $(cpu_ticks "$TG") - t0 ))
msgs="$(echo "$chat" | awk '{ print $2 }')"
t0="$(cpu_ticks "$TG")"
taskset -c 1 wrk -t1 -c50 -d10s -H 'Host: http.execute-api.localhost' "http://127.0.0.1:$TG_PORT/prod/" >"$OUT/wrk.txt"
req_ticks=$(( $(cpu_ticks "$TG") - t0 ))
reqs="$(awk '/requests in/ { print $1 }' "$OUT/wrk.txt")"
hz="$(getconf CLK_TCK)"

printf '\n%-44s %12s %12s %8s\n' figure tollgate baseline ratio
printf '%-44s %12s %12s %8.2f\n' "KiB per idle WebSocket ($COUNT open)" "$tg_kib" "$py_kib" \
    "$(awk -v a="$tg_kib" -v b="$py_kib" 'BEGIN { print a / b }')"
printf '%-44s %12s %12s\n' "fan-out to $FANOUT: seconds, delivered" \
    "$(echo "$tg_fan" | awk '{ print $3 "," $5 }')" "$(echo "$py_fan" | awk '{ print $3 "," $5 }')"
printf '%-44s %12.1f\n' "  Tollgate CPU per fanned-out connection (us)" \
    "$(awk -v t="$tg_fan_ticks" -v n="$FANOUT" -v hz="$hz" 'BEGIN { print t / hz * 1e6 / n }')"
msg_us="$(awk -v t="$msg_ticks" -v n="$msgs" -v hz="$hz" 'BEGIN { print t / hz * 1e6 / n }')"
req_us="$(awk -v t="$req_ticks" -v n="$reqs" -v hz="$hz" 'BEGIN { print t / hz * 1e6 / n }')"
printf '%-44s %12.2f %12.2f %8.2f\n' "CPU us: routed message (MOCK) / proxied request" \
    "$msg_us" "$req_us" "$(awk -v a="$msg_us" -v b="$req_us" 'BEGIN { print a / b }')"
echo "run directory: $OUT" >&2
