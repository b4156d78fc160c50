#!/usr/bin/env bash
# Builds the Debian package with dpkg-deb (Debian's own packager; no extra tool to install):
#
#   config/debian/build.sh            # cargo build --release, then the package
#   BIN=target/debug/tollgate config/debian/build.sh   # package a binary already built
#
# Writes target/debian/tollgate_<version>_<arch>.deb:
#   /usr/bin/tollgate                      the binary (debug info stripped)
#   /etc/tollgate/                         the example configuration (conffiles), usage store
#                                          moved to /var/lib/tollgate
#   /lib/systemd/system/tollgate.service   the unit (config/systemd/tollgate.service)
#   /usr/share/man/man1/tollgate.1.gz      the man page
# The maintainer scripts create the `tollgate` system user and, where systemd runs, enable and
# start the service.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$ROOT"
VERSION="$(awk -F'"' '/^version *=/ { print $2; exit }' Cargo.toml)"
ARCH="$(dpkg --print-architecture)"
if [[ -z "${BIN:-}" ]]; then
    cargo build --release --bin tollgate
    BIN=target/release/tollgate
fi
STAGE="target/debian/tollgate_${VERSION}_${ARCH}"
OUT="$STAGE.deb"
rm -rf "$STAGE"
mkdir -p "$STAGE/DEBIAN" "$STAGE/etc/tollgate" "$STAGE/usr/share/doc/tollgate" \
    "$STAGE/usr/share/man/man1" "$STAGE/lib/systemd/system"

install -D -m 0755 "$BIN" "$STAGE/usr/bin/tollgate"
strip --strip-debug "$STAGE/usr/bin/tollgate"

# The example configuration, as README describes it, with state under /var/lib/tollgate.
for f in gateway.toml api_keys.toml usage_plans.toml apis functions; do
    cp -r "config/$f" "$STAGE/etc/tollgate/"
done
find "$STAGE/etc/tollgate" -name '__pycache__' -prune -exec rm -rf {} +
sed -i 's|^store = "usage.redb".*|store = "/var/lib/tollgate/usage.redb"   # the unit'"'"'s StateDirectory|' \
    "$STAGE/etc/tollgate/gateway.toml"
grep -q '^store = "/var/lib/tollgate/usage.redb"' "$STAGE/etc/tollgate/gateway.toml" \
    || { echo "build.sh: could not point [usage] store at /var/lib/tollgate" >&2; exit 1; }
# The control plane's store beside it; and no example administrator key in a package: every
# local user could use it. The operator sets one (the apigateway API refuses calls until then).
sed -i -e 's|^store = "control.redb".*|store = "/var/lib/tollgate/control.redb"|' \
    -e 's|^audit_log = "control-audit.log".*|audit_log = "/var/lib/tollgate/control-audit.log"|' \
    -e 's|^access_key_id = "AKIDTOLLGATEEXAMPLE"|# access_key_id = "AKID..."|' \
    -e 's|^secret_access_key = "example-secret-change-me"|# secret_access_key = "..."|' \
    "$STAGE/etc/tollgate/gateway.toml"
grep -q '^store = "/var/lib/tollgate/control.redb"' "$STAGE/etc/tollgate/gateway.toml" \
    && grep -q '^audit_log = "/var/lib/tollgate/control-audit.log"' "$STAGE/etc/tollgate/gateway.toml" \
    && ! grep -q '^access_key_id' "$STAGE/etc/tollgate/gateway.toml" \
    || { echo "build.sh: could not set up [control] for the package" >&2; exit 1; }

install -m 0644 config/systemd/tollgate.service "$STAGE/lib/systemd/system/"
gzip -9n -c "$HERE/tollgate.1" >"$STAGE/usr/share/man/man1/tollgate.1.gz"
install -m 0644 README.md "$STAGE/usr/share/doc/tollgate/README.md"
printf 'Tollgate %s\nBuilt from the repository; see README.md.\n' "$VERSION" \
    >"$STAGE/usr/share/doc/tollgate/copyright"

# Every file under /etc is a conffile: an upgrade keeps the operator's edits.
(cd "$STAGE" && find etc -type f | sort | sed 's|^|/|') >"$STAGE/DEBIAN/conffiles"
SIZE="$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)"
cat >"$STAGE/DEBIAN/control" <<CONTROL
Package: tollgate
Version: $VERSION
Architecture: $ARCH
Maintainer: Tollgate developers <tollgate@localhost>
Depends: libc6, passwd
Section: net
Priority: optional
Installed-Size: $SIZE
Description: self-hosted API gateway with Amazon API Gateway's semantics
 Publishes REST APIs, routes methods to HTTP backends and Lambda functions (remote or hosted
 on the node), throttles and meters callers with API keys and usage plans, caches answers and
 reports what happened, on an io_uring thread-per-core runtime.
CONTROL
for script in postinst prerm postrm; do
    install -m 0755 "$HERE/$script" "$STAGE/DEBIAN/$script"
done
dpkg-deb --root-owner-group -Zxz --build "$STAGE" "$OUT" >/dev/null
echo "$OUT"
