#!/usr/bin/env bash
# Binary upgrades under load (issue 18): `wrk -c64` for 60 s through Tollgate (HTTP_PROXY to an
# nginx origin, every request with an API key of a usage plan) while the node is upgraded 20
# times in a row with SIGUSR2 (each new process upgraded again in turn), then the same run
# without upgrades on the last process. Prints socket errors, non-2xx answers and p50/p99 of
# both runs side by side, and checks that the usage plan counted every request exactly once
# across the 20 hand-overs (the report's total against the requests the gateway answered).
#
#   apt-get install -y wrk nginx curl
#   loadtest/upgrade.sh          # DURATION=60 UPGRADES=20 ROUNDS=2 CONNECTIONS=64 SKIP_BUILD=1 TOLLGATE_BIN=...
#
# ROUNDS alternates the two runs (upgrades, steady, upgrades, steady, ...): the VM's noise moves
# a p99 more than one run's upgrades do, so compare rounds, not one pair.
# Layout as loadtest/proxy.sh: Tollgate (1 shard) on CPU 0, origin and wrk on CPU 1.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/common.sh"
DURATION="${DURATION:-60}"
UPGRADES="${UPGRADES:-20}"
ROUNDS="${ROUNDS:-2}"
CONNECTIONS="${CONNECTIONS:-64}"
PORT="${PORT:-18480}"
ADMIN="${ADMIN_PORT:-18481}"
ORIGIN="${ORIGIN_PORT:-18482}"
KEY="upgrade-loadtest-key-0123456789"
OUT="$HERE/out/upgrade-$(date +%Y%m%d-%H%M%S)"
need wrk nginx curl taskset ss python3
for port in "$PORT" "$ADMIN" "$ORIGIN"; do
    [[ -z "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]] || die "port $port is in use"
done
# This script's own polling (and every tool it forks) stays off the gateway's CPU.
taskset -pc 1 $$ >/dev/null
BIN="$(tollgate_bin)"
mkdir -p "$OUT/conf/apis" "$OUT/origin/tmp"

ORIGIN_PID="" MAIN_PID="" WRK_PID=""
cleanup() {
    [[ -z "$WRK_PID" ]] || kill -TERM "$WRK_PID" 2>/dev/null || true
    [[ -z "$MAIN_PID" ]] || kill -TERM "$MAIN_PID" 2>/dev/null || true
    [[ -z "$ORIGIN_PID" ]] || kill -TERM "$ORIGIN_PID" 2>/dev/null || true
    pkill -TERM -f "$BIN --config $OUT/conf" 2>/dev/null || true
}
trap cleanup EXIT

sed -e "s|@PREFIX@|$OUT/origin|g" -e "s|@PORT@|$ORIGIN|g" "$HERE/nginx-origin.conf" >"$OUT/origin/nginx.conf"
taskset -c 1 nginx -p "$OUT/origin" -c "$OUT/origin/nginx.conf" -e "$OUT/origin/error.log" &
ORIGIN_PID=$!

cat >"$OUT/conf/gateway.toml" <<EOF
[server]
listen = ["127.0.0.1:$PORT"]
admin = "127.0.0.1:$ADMIN"
shards = 1
pin_cores = false
default_api = "bench"

[limits]
drain_timeout_ms = 10000

# Far above what one core serves: the account throttle is not what this run measures.
[throttle]
rate_limit = 1000000
burst_limit = 100000
EOF
cat >"$OUT/conf/apis/bench.toml" <<EOF
id = "bench"
[stages.bench]
deployment = "d1"
[deployments.d1.methods."ANY /{proxy+}"]
integration = { type = "HTTP_PROXY", uri = "http://127.0.0.1:$ORIGIN/{proxy}" }
api_key_required = true
EOF
printf '[plans.load]\n[[plans.load.stages]]\napi = "bench"\nstage = "bench"\n' >"$OUT/conf/usage_plans.toml"
printf '[keys.load]\nvalue = "%s"\nusage_plans = ["load"]\n' "$KEY" >"$OUT/conf/api_keys.toml"
"$BIN" --check "$OUT/conf" >&2 || die "config rejected"
# One log file for every generation of the node: each new process inherits the descriptor.
RUST_LOG=info taskset -c 0 "$BIN" --config "$OUT/conf" >"$OUT/tollgate.log" 2>&1 &
MAIN_PID=$!
URL="http://127.0.0.1:$PORT/bench/json"
for _ in $(seq 100); do
    curl -fsS -o /dev/null -H "x-api-key: $KEY" "$URL" 2>/dev/null && break
    sleep 0.1
done
curl -fsS -o /dev/null -H "x-api-key: $KEY" "$URL" || die "no 200 from $URL (see $OUT)"
log "tollgate pid $MAIN_PID on :$PORT, origin on :$ORIGIN; run directory $OUT"

# upgrade : SIGUSR2 to the serving process; waits for its successor, sets MAIN_PID to it, and
# waits for the old process to finish draining (a node refuses an upgrade before that).
upgrade() {
    local from line old="$MAIN_PID"
    from="$(wc -l <"$OUT/tollgate.log")"
    kill -USR2 "$MAIN_PID"
    for _ in $(seq 300); do
        line="$(tail -n +"$((from + 1))" "$OUT/tollgate.log" | grep -m1 -E 'serves on the same listeners|upgrade refused' || true)"
        [[ -n "$line" ]] && break
        sleep 0.02
    done
    [[ "$line" == *"serves on the same listeners"* ]] || die "upgrade of $MAIN_PID failed: ${line:-no answer} (see $OUT/tollgate.log)"
    MAIN_PID="$(sed -E 's/.*new_pid=([0-9]+).*/\1/' <<<"$line")"
    for _ in $(seq 1000); do
        gone "$old" && return 0
        sleep 0.01
    done
    die "pid $old did not exit after handing over"
}

# gone PID : the process has exited (a zombie counts: whoever inherited it reaps it in time).
gone() {
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
    [[ "${stat##*) }" == Z* ]]
}

# run NAME UPGRADES : one wrk run of DURATION seconds, upgrading UPGRADES times meanwhile.
run() {
    local name="$1" n="$2" t0 start due
    taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "x-api-key: $KEY" "$URL" >"$OUT/$name.txt" &
    WRK_PID=$!
    t0="$(date +%s%N)"
    # Upgrade i is due at 5 s + i * (DURATION - 10) / n: spread over the run, none in its
    # first or last 5 s, whatever each upgrade takes.
    for i in $(seq "$n"); do
        due=$(( t0 + 5000000000 + (i - 1) * (DURATION - 10) * 1000000000 / n ))
        sleep "$(awk -v d="$due" -v now="$(date +%s%N)" 'BEGIN { s = (d - now) / 1e9; printf "%.3f", (s > 0 ? s : 0) }')"
        start="$(date +%s%N)"
        upgrade
        log "upgrade $i/$n: pid $MAIN_PID serves, old one gone ($(( ($(date +%s%N) - start) / 1000000 )) ms)"
    done
    wait "$WRK_PID"
    WRK_PID=""
}

summary() { # FILE -> requests socket_errors non2xx p50_us p99_us
    local f="$1"
    printf '%s %s %s %s %s\n' \
        "$(awk '/requests in/ { print $1 }' "$f")" \
        "$(awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10; found = 1 } END { if (!found) print 0 }' "$f")" \
        "$(awk '/Non-2xx or 3xx responses:/ { print $NF; found = 1 } END { if (!found) print 0 }' "$f")" \
        "$(wrk_us "$(awk '$1 == "50%" { print $2 }' "$f")")" \
        "$(wrk_p99_us "$f")"
}

answered=2  # the two readiness probes
failures=0
printf '%s\n' "round run requests socket_errors non2xx p50_us p99_us" >"$OUT/summary.txt"
for round in $(seq "$ROUNDS"); do
    log "round $round: ${DURATION}s wrk -c$CONNECTIONS with $UPGRADES upgrades"
    run "upgrades-$round" "$UPGRADES"
    log "round $round: ${DURATION}s wrk -c$CONNECTIONS without upgrades (pid $MAIN_PID)"
    run "steady-$round" 0
    for name in upgrades steady; do
        read -r req err non p50 p99 < <(summary "$OUT/$name-$round.txt")
        printf '%s %s %s %s %s %s %s\n' "$round" "$name" "$req" "$err" "$non" "$p50" "$p99" >>"$OUT/summary.txt"
        answered=$((answered + req))
        [[ "$name" != upgrades ]] || failures=$((failures + err + non))
    done
done

# Usage: every request the gateway admitted, over both runs, reported once by the last process.
day="$(date -u +%F)"
report="$(curl -fsS "http://127.0.0.1:$ADMIN/usageplans/load/usage?keyId=load&startDate=$day&endDate=$day")"
counted="$(python3 -c 'import json,sys; print(sum(d[0] for d in json.loads(sys.argv[1])["values"]["load"]))' "$report")"
printf '\n'
column -t "$OUT/summary.txt"
awk 'NR > 1 { p[$1 " " $2] = $7 } END {
    for (r = 1; ("" r " upgrades") in p; r++)
        printf "round %d: p99 with upgrades / without = x%.2f\n", r, p[r " upgrades"] / p[r " steady"] }' "$OUT/summary.txt"
# wrk stops with up to one request per connection sent but unanswered; the gateway counted it.
printf 'usage counted %s, requests answered %s (difference %s, at most %s in flight when wrk stopped)\n' \
    "$counted" "$answered" "$((counted - answered))" "$((2 * ROUNDS * CONNECTIONS))"
[[ "$failures" == 0 ]] || die "the upgrade runs had $failures socket errors or non-2xx answers (see $OUT)"
(( counted >= answered && counted - answered <= 2 * ROUNDS * CONNECTIONS )) || die "usage does not match the requests"
