#!/usr/bin/env bash
# Installs the Debian package on this machine, checks what an operator gets, and removes it
# again (CI runs it as root after the test suite; it changes the system, so by hand only on a
# machine where that is fine):
#
#   BIN=target/debug/tollgate config/debian/install-test.sh
#
# Checks: `dpkg -i` succeeds; the `tollgate` user and /var/lib/tollgate exist; the unit passes
# `systemd-analyze verify`; the installed binary serves the packaged configuration as the
# `tollgate` user and keeps its usage store in /var/lib/tollgate; reinstalling the package
# under the running node and sending SIGUSR2 hands over to the new binary; `dpkg -r` keeps the
# conffiles, `dpkg -P` removes them and the state.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
fail() { echo "install-test: $*" >&2; exit 1; }
[[ "$(id -u)" == 0 ]] || fail "needs root (dpkg -i)"
DEB="$("$HERE/build.sh" | tail -1)"
if dpkg -s tollgate >/dev/null 2>&1; then fail "tollgate is already installed here"; fi
dpkg -i "$DEB" >/dev/null
getent passwd tollgate >/dev/null || fail "no tollgate user"
[[ "$(stat -c %U /var/lib/tollgate)" == tollgate ]] || fail "/var/lib/tollgate not owned by tollgate"
/usr/bin/tollgate --version
/usr/bin/tollgate --check /etc/tollgate
systemd-analyze verify /lib/systemd/system/tollgate.service || fail "systemd-analyze verify"
# Serve as the service would (without systemd here): the packaged config, as `tollgate`.
# setpriv execs the gateway itself (runuser would stay its parent and not pass SIGUSR2 on).
LOG="$(mktemp)"
setpriv --reuid=tollgate --regid=tollgate --init-groups /usr/bin/tollgate --config /etc/tollgate >"$LOG" 2>&1 &
PID=$!
ok=0
for _ in $(seq 100); do
    if curl -fsS -o /dev/null http://127.0.0.1:8080/prod/pets 2>/dev/null; then ok=1; break; fi
    sleep 0.1
done
(( ok )) || { kill -TERM "$PID"; cat "$LOG" >&2; fail "the installed gateway did not answer GET /prod/pets"; }
# A package upgrade under the running node (dpkg renames the new binary over the old one),
# then SIGUSR2 as postinst sends it under systemd: the new binary serves on the same port.
dpkg -i "$DEB" >/dev/null
kill -USR2 "$PID"
NEW=""
for _ in $(seq 200); do
    NEW="$(grep -m1 -o 'new_pid=[0-9]*' "$LOG" | cut -d= -f2 || true)"
    [[ -n "$NEW" ]] && break
    sleep 0.05
done
[[ -n "$NEW" ]] || { kill -TERM "$PID"; cat "$LOG" >&2; fail "no hand-over after SIGUSR2"; }
wait "$PID" || true
curl -fsS -o /dev/null http://127.0.0.1:8080/prod/pets || { kill -TERM "$NEW"; cat "$LOG" >&2; fail "the upgraded node does not answer"; }
kill -TERM "$NEW"
for _ in $(seq 100); do kill -0 "$NEW" 2>/dev/null || break; sleep 0.1; done
[[ -f /var/lib/tollgate/usage.redb ]] || { cat "$LOG" >&2; fail "no usage store in /var/lib/tollgate"; }
rm -f "$LOG"
dpkg -r tollgate >/dev/null
[[ ! -e /usr/bin/tollgate ]] || fail "dpkg -r left /usr/bin/tollgate"
[[ -f /etc/tollgate/gateway.toml ]] || fail "dpkg -r removed a conffile"
dpkg -P tollgate >/dev/null
[[ ! -e /etc/tollgate/gateway.toml && ! -e /var/lib/tollgate ]] || fail "dpkg -P left configuration or state"
echo "install-test: package installs, serves and removes cleanly"
