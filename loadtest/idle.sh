#!/usr/bin/env bash
# Memory per idle keep-alive connection (issue 19, item 1): N connections each send one
# request, read the answer and stay open; the server's RSS before and after, divided by N,
# for Tollgate (1 shard, a MOCK route) beside nginx (1 worker, `return 200`).
#
#   apt-get install -y nginx python3
#   loadtest/idle.sh              # COUNTS="10000 100000" MODES="plain tls" SKIP_BUILD=1
#                                 # (100,000 needs a hard `ulimit -n` above it: LimitNOFILE)
#
# MODES: `plain` (HTTP/1.1 keep-alive) and `tls` (HTTPS, TLS 1.3, a certificate made by
# `openssl` for the run).
#
# Connections come from 127.0.0.2, 127.0.0.3, ... (at most 25,000 per source address, inside
# the ephemeral port range), so 100,000 fit on loopback. Needs `ulimit -n` above the largest
# count (raised here as far as the hard limit allows).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/common.sh"
COUNTS="${COUNTS:-10000 100000}"
MODES="${MODES:-plain tls}"
TG_PORT="${TOLLGATE_PORT:-18580}"
NGINX_PORT="${NGINX_PORT:-18581}"
OUT="$HERE/out/idle-$(date +%Y%m%d-%H%M%S)"
need nginx python3 taskset ss openssl
BIN="$(tollgate_bin)"
max=0; for n in $COUNTS; do (( n > max )) && max=$n; done
ulimit -n "$(ulimit -Hn)"
(( $(ulimit -n) > max + 1000 )) || die "ulimit -n is $(ulimit -n); $max connections need more"
# Thousands of TIME-WAIT sockets left by a handshake test exhaust loopback's ephemeral ports
# ("Cannot assign requested address"); they expire after 60 s.
tw="$(ss -Htan state time-wait 2>/dev/null | wc -l)"
(( tw < 5000 )) || die "$tw TIME-WAIT sockets on this host: wait a minute (they expire after 60 s)"
mkdir -p "$OUT/tollgate/apis" "$OUT/tollgate/certs" "$OUT/nginx/tmp"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=idle.test" -addext "subjectAltName=DNS:idle.test" \
    -keyout "$OUT/tollgate/certs/idle.key" -out "$OUT/tollgate/certs/idle.pem" 2>/dev/null
TG_TLS_PORT=$((TG_PORT + 2)); NGINX_TLS_PORT=$((NGINX_PORT + 2))

cat >"$OUT/tollgate/gateway.toml" <<EOF
[server]
listen = ["127.0.0.1:$TG_PORT"]
shards = 1
pin_cores = false
default_api = "idle"
[limits]
idle_timeout_ms = 600000
header_timeout_ms = 600000
[throttle]
rate_limit = 1000000
burst_limit = 1000000
[tls]
listen = ["127.0.0.1:$TG_TLS_PORT"]
[[domain]]
name = "idle.test"
cert = "certs/idle.pem"
key = "certs/idle.key"
mappings = [{ base_path = "/", api = "idle", stage = "s" }]
EOF
cat >"$OUT/tollgate/apis/idle.toml" <<EOF
id = "idle"
[stages.s]
deployment = "d"
[deployments.d.methods."GET /"]
integration = { type = "MOCK", status = 200, body = "ok" }
EOF
cat >"$OUT/nginx/nginx.conf" <<EOF
worker_processes 1;
worker_rlimit_nofile $((max + 1000));
daemon off;
pid $OUT/nginx/nginx.pid;
error_log $OUT/nginx/error.log warn;
events { worker_connections $((max + 100)); }
http {
    access_log off;
    client_body_temp_path $OUT/nginx/tmp;
    keepalive_timeout 600s;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$NGINX_PORT backlog=65535;
        location / { return 200 'ok'; }
    }
    server {
        listen 127.0.0.1:$NGINX_TLS_PORT ssl backlog=65535;
        ssl_certificate $OUT/tollgate/certs/idle.pem;
        ssl_certificate_key $OUT/tollgate/certs/idle.key;
        ssl_protocols TLSv1.3;
        location / { return 200 'ok'; }
    }
}
EOF

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; }
trap cleanup EXIT


# hold PORT PATH N : opens N keep-alive connections, one request each; prints "ready" and
# keeps them open until its stdin closes.
cat >"$OUT/hold.py" <<'PY'
import socket, ssl, sys
port, path, n, mode = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
# Over TLS the custom domain's mapping routes; in plain, the default API.
host = "idle.test" if mode == "tls" else "127.0.0.1"
req = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
tls.check_hostname = False
tls.verify_mode = ssl.CERT_NONE
tls.minimum_version = ssl.TLSVersion.TLSv1_3
tls.set_alpn_protocols(["http/1.1"])
conns, failed = [], 0
for i in range(n):
    s = socket.socket()
    # The port is chosen at connect time, per destination (IP_BIND_ADDRESS_NO_PORT).
    s.setsockopt(socket.IPPROTO_IP, 24, 1)
    s.bind((f"127.0.0.{2 + i // 25000}", 0))
    s.connect(("127.0.0.1", port))
    if mode == "tls":
        s = tls.wrap_socket(s, server_hostname="idle.test")
    s.sendall(req)
    conns.append(s)
    if len(conns) % 1000 == 0 or i == n - 1:
        for c in conns[-1000:]:
            got = c.recv(4096)
            if not got.startswith(b"HTTP/1.1 200"):
                failed += 1
print(f"ready {len(conns)} failed {failed}", flush=True)
sys.stdin.read()
PY
hold() { python3 "$OUT/hold.py" "$@"; }

printf '%-9s %-6s %8s %14s %14s %16s\n' server mode conns "rss_before_kb" "rss_after_kb" "kib_per_conn"
for mode in $MODES; do
for n in $COUNTS; do
    for server in nginx tollgate; do
        if [[ "$server" == nginx ]]; then
            taskset -c 0 nginx -p "$OUT/nginx" -c "$OUT/nginx/nginx.conf" -e "$OUT/nginx/error.log" &
            master=$!; PIDS+=("$master"); port=$NGINX_PORT; path=/
            [[ "$mode" == tls ]] && port=$NGINX_TLS_PORT
            sleep 1
            mapfile -t pids < <(echo "$master"; pgrep -P "$master")
        else
            taskset -c 0 "$BIN" --config "$OUT/tollgate" >"$OUT/tollgate-$mode-$n.log" 2>&1 &
            master=$!; PIDS+=("$master"); port=$TG_PORT; path=/s/
            [[ "$mode" == tls ]] && { port=$TG_TLS_PORT; path=/; }
            for _ in $(seq 100); do grep -q 'ready generation' "$OUT/tollgate-$mode-$n.log" && break; sleep 0.1; done
            pids=("$master")
        fi
        before="$(rss_kb "${pids[@]}")"
        coproc HOLD { hold "$port" "$path" "$n" "$mode"; }
        read -r status <&"${HOLD[0]}"
        [[ "$status" == "ready $n failed 0" ]] || die "$server: $status"
        sleep 2
        after="$(rss_kb "${pids[@]}")"
        eval "exec ${HOLD[1]}>&-"
        wait "$HOLD_PID" 2>/dev/null || true
        printf '%-9s %-6s %8d %14d %14d %16.2f\n' "$server" "$mode" "$n" "$before" "$after" \
            "$(awk -v a="$after" -v b="$before" -v n="$n" 'BEGIN { print (a - b) / n }')"
        kill -TERM "$master"; wait "$master" 2>/dev/null || true
    done
done
done
echo "run directory: $OUT" >&2
