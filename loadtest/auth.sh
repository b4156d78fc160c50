#!/usr/bin/env bash
# Cost of authorization per request (issue 13): the same MOCK route with no authorization, a
# cached Lambda TOKEN authorizer, a Cognito user pool (JWT, RS256, key set warm) authorizer,
# and AWS_IAM (SigV4), side by side in one run. Reports requests/s, p99 and the gateway's CPU
# per request (all its threads' schedstat run time over the run), and each CPU per request as
# a ratio to the unauthenticated route's of the same round.
#
#   loadtest/auth.sh            # ROUNDS=3 DURATION=8s CONNS=64 SKIP_BUILD=0 TOLLGATE_BIN=...
#   CALLGRIND=1 loadtest/auth.sh   # user-space instructions per request instead (valgrind;
#                                  # CALLGRIND_REQUESTS=2000 sequential keep-alive requests)
#
# Gateway on CPU 0, wrk on CPU 1 (2-vCPU VM). Needs PyJWT, cryptography and botocore in
# TOLLGATE_PYTHON (the test suite's virtual environment). Routes alternate within each round.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/common.sh"
ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-8s}"
CONNS="${CONNS:-64}"
PY="${TOLLGATE_PYTHON:-python3}"
GW=18490
PEERS=18491
OUT="$HERE/out/auth-$(date +%Y%m%d-%H%M%S)"
need wrk taskset curl
"$PY" -c 'import jwt, cryptography, botocore' 2>/dev/null || die "$PY lacks PyJWT, cryptography or botocore (set TOLLGATE_PYTHON)"
BIN="$(tollgate_bin)"
mkdir -p "$OUT/apis"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

"$PY" "$HERE/auth_peers.py" serve "$PEERS" "$OUT" &
PIDS+=($!)
for _ in $(seq 100); do [[ -s "$OUT/token" ]] && break; sleep 0.1; done
[[ -s "$OUT/token" ]] || die "the peers did not start"

KEY=AKIABENCH000000001
SECRET=bench-secret-key/0123456789
cat >"$OUT/gateway.toml" <<EOF
[server]
listen = ["127.0.0.1:$GW"]
shards = 1
pin_cores = false
default_api = "bench"
[throttle]
rate_limit = 1000000
burst_limit = 100000
[lambda]
endpoint = "http://127.0.0.1:$PEERS"
access_key_id = "AKIDBENCH"
secret_access_key = "bench-secret"
account_id = "111122223333"
EOF
cat >"$OUT/identities.toml" <<EOF
[users.bench]
policy = '''{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "arn:aws:execute-api:*:*:bench/*"}]}'''
access_keys = [{ id = "$KEY", secret = "$SECRET" }]
EOF
cat >"$OUT/apis/bench.toml" <<EOF
id = "bench"
[stages.prod]
deployment = "v1"
[deployments.v1.methods."GET /none"]
integration = { type = "MOCK", status = 200, body = "ok" }
[deployments.v1.methods."GET /lambda"]
integration = { type = "MOCK", status = 200, body = "ok" }
authorizer = "token"
[deployments.v1.methods."GET /jwt"]
integration = { type = "MOCK", status = 200, body = "ok" }
authorizer = "pool"
[deployments.v1.methods."GET /iam"]
integration = { type = "MOCK", status = 200, body = "ok" }
authorization_type = "AWS_IAM"
[authorizers.token]
type = "TOKEN"
uri = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:111122223333:function:auth/invocations"
identity_source = "method.request.header.Authorization"
result_ttl_in_seconds = 3600
[authorizers.pool]
type = "COGNITO_USER_POOLS"
issuer = "http://127.0.0.1:$PEERS/pool"
EOF
URL="http://127.0.0.1:$GW/prod"
TOKEN="$(cat "$OUT/token")"

if [[ "${CALLGRIND:-0}" == 1 ]]; then
    # Counters zeroed after a warm-up and dumped after N requests of one route: start-up is
    # not in the count, and the figure is exact.
    N="${CALLGRIND_REQUESTS:-2000}"
    taskset -c 0 valgrind --tool=callgrind --compress-strings=no \
        --callgrind-out-file="$OUT/callgrind.out" "$BIN" --config "$OUT" >"$OUT/valgrind.log" 2>&1 &
    VG_PID=$!
    PIDS+=("$VG_PID")
    for _ in $(seq 600); do curl -fsS -o /dev/null "$URL/none" 2>/dev/null && break; sleep 0.2; done
    client() { # PATH N [HEADER_NAME HEADER_VALUE]...
        "$PY" - "$GW" "$@" <<'PY'
import http.client, sys
port, path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
rest = sys.argv[4:]
headers = dict(zip(rest[0::2], rest[1::2]))
c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
for _ in range(n):
    c.request("GET", "/prod" + path, headers=headers); r = c.getresponse(); r.read()
    assert r.status == 200, (path, r.status)
PY
    }
    mapfile -t SIG < <("$PY" "$HERE/auth_peers.py" sign "$URL/iam" "$KEY" "$SECRET")
    for route in none lambda jwt iam; do
        case "$route" in
            none) hdr=() ;;
            lambda) hdr=(Authorization allow-bench) ;;
            jwt) hdr=(Authorization "$TOKEN") ;;
            iam) hdr=(Authorization "${SIG[0]}" X-Amz-Date "${SIG[1]}") ;;
        esac
        client "/$route" 200 "${hdr[@]}"
        callgrind_control -z "$VG_PID" >/dev/null
        client "/$route" "$N" "${hdr[@]}"
        callgrind_control -d "$route" "$VG_PID" >/dev/null
        sleep 1
        f="$(ls -t "$OUT"/callgrind.out.* | head -1)"
        ir="$(awk '/^summary:|^totals:/ {print $2; exit}' "$f")"
        echo "$route $((ir / N))" >>"$OUT/ir.txt"
    done
    kill -9 "$VG_PID" 2>/dev/null || true
    awk '{ v[$1] = $2; order[NR] = $1 } END { printf "%-7s %12s %8s\n", "route", "instr/req", "ratio";
        for (i = 1; i <= NR; i++) printf "%-7s %12d %8.2f\n", order[i], v[order[i]], v[order[i]] / v["none"] }' "$OUT/ir.txt"
    log "outputs in $OUT"
    exit 0
fi

taskset -c 0 "$BIN" --config "$OUT" >"$OUT/tollgate.log" 2>&1 &
GPID=$!
PIDS+=("$GPID")
for _ in $(seq 300); do grep -q 'ready generation' "$OUT/tollgate.log" && break; sleep 0.1; done
grep -q 'ready generation' "$OUT/tollgate.log" || die "the gateway did not start: $(tail -5 "$OUT/tollgate.log")"

cpu_ns() {
    local total=0 t
    for t in /proc/"$GPID"/task/*; do total=$((total + $(awk '{ print $1 }' "$t/schedstat"))); done
    echo "$total"
}

# run NAME PATH HEADER... : one wrk run; prints "req/s p99_us cpu_ns_per_req".
run() {
    local name="$1" path="$2"; shift 2
    local args=() h status
    for h in "$@"; do args+=(-H "$h"); done
    status="$(curl -s -o /dev/null -w '%{http_code}' "${args[@]}" "$URL$path" || true)"
    [[ "$status" == 200 ]] || die "$name answers $status"
    local a b
    a="$(cpu_ns)"
    taskset -c 1 wrk -t1 -c"$CONNS" -d"$DURATION" --latency "${args[@]}" "$URL$path" >"$OUT/$name.wrk"
    b="$(cpu_ns)"
    local reqs p99
    reqs="$(awk '/requests in/ { print $1 }' "$OUT/$name.wrk")"
    p99="$(wrk_p99_us "$OUT/$name.wrk")"
    awk -v r="$reqs" -v d="$DURATION" -v p="$p99" -v c=$((b - a)) \
        'BEGIN { printf "%.0f %d %.0f\n", r / (d + 0), p, c / r }'
}

printf '%6s %-7s %10s %8s %12s %8s\n' round route "req/s" "p99_us" "cpu_ns/req" ratio
for round in $(seq "$ROUNDS"); do
    # A signature is valid 5 minutes: made afresh each round.
    mapfile -t SIG < <("$PY" "$HERE/auth_peers.py" sign "$URL/iam" "$KEY" "$SECRET")
    read -r rs p99 base < <(run none /none)
    printf '%6s %-7s %10s %8s %12s %8s\n' "$round" none "$rs" "$p99" "$base" 1.00
    for route in lambda jwt iam; do
        case "$route" in
            lambda) read -r rs p99 cpu < <(run lambda /lambda "Authorization: allow-bench") ;;
            jwt) read -r rs p99 cpu < <(run jwt /jwt "Authorization: $TOKEN") ;;
            iam) read -r rs p99 cpu < <(run iam /iam "Authorization: ${SIG[0]}" "X-Amz-Date: ${SIG[1]}") ;;
        esac
        ratio="$(awk -v c="$cpu" -v b="$base" 'BEGIN { printf "%.2f", c / b }')"
        printf '%6s %-7s %10s %8s %12s %8s\n' "$round" "$route" "$rs" "$p99" "$cpu" "$ratio"
    done
done
log "outputs in $OUT"
