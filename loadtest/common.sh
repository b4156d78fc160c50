# Sourced by loadtest/keys.sh, upgrade.sh, idle.sh, websocket.sh, auth.sh, accuracy.sh and cluster.sh: messages,
# tool checks, the binary under test, wrk's latency figures and a process's CPU time. Sets ROOT (the repository).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# need TOOL... : stops with the Debian packages to install when a tool is missing.
need() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || die "$tool not found (apt-get install -y wrk nginx curl iproute2 python3 util-linux)"
    done
}

# tollgate_bin : builds the release binary unless SKIP_BUILD=1 (build output on stderr), then
# prints TOLLGATE_BIN, or the built binary's path.
tollgate_bin() {
    [[ "${SKIP_BUILD:-0}" == 1 ]] || (cd "$ROOT" && cargo build --release --bin tollgate >&2)
    local bin="${TOLLGATE_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/tollgate}"
    [[ -x "$bin" ]] || die "no binary at $bin"
    echo "$bin"
}

# wrk_us VALUE : a wrk latency ("393.00us", "1.20ms", "2.00s", "1.00m") in microseconds.
wrk_us() {
    awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        m = (u == "us") ? 1 : (u == "ms") ? 1000 : (u == "s") ? 1000000 : (u == "m") ? 60000000 : 1
        printf "%.0f", n * m }'
}

# wrk_p99_us FILE : the 99th percentile of a `wrk --latency` output, in microseconds.
wrk_p99_us() { wrk_us "$(awk '$1 == "99%" { print $2 }' "$1")"; }

# cpu_ticks PID : user + system CPU time of a process so far, in clock ticks (getconf CLK_TCK).
cpu_ticks() {
    local stat
    stat="$(cat "/proc/$1/stat")"
    stat="${stat##*) }"
    # shellcheck disable=SC2086
    set -- $stat
    echo $((${12} + ${13}))
}

# rss_kb PID... : the processes' summed resident memory (VmRSS), in KiB.
rss_kb() {
    local total=0 p
    for p in "$@"; do total=$((total + $(awk '/VmRSS/ { print $2 }' "/proc/$p/status"))); done
    echo "$total"
}

# The bench API's deployment d1: GET /plain, and GET /keyed that requires an API key (both
# MOCK answering "ok"), for accuracy.sh and cluster.sh.
bench_methods() {
    cat <<'TOML'
[deployments.d1.methods."GET /plain"]
integration = { type = "MOCK", status = 200, body = "ok" }

[deployments.d1.methods."GET /keyed"]
api_key_required = true
integration = { type = "MOCK", status = 200, body = "ok" }
TOML
}
