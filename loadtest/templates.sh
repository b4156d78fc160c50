#!/usr/bin/env bash
# Mapping templates side by side: the shapes of benches/template.rs (files in
# loadtest/templates/) rendered by Tollgate's engine (criterion), by airspeed-ext (the Python
# engine LocalStack's API Gateway uses) and by velocityjs (serverless-offline's), in one run,
# as microseconds per render and as ratios to Tollgate. Each engine renders on CPU 0 alone.
#
#   python3 -m venv /tmp/venv-tpl && /tmp/venv-tpl/bin/pip install airspeed-ext
#   (cd /tmp/vjs && npm install velocityjs@2);  loadtest/templates.sh
#
# Knobs: PYTHON=/tmp/venv-tpl/bin/python NODE_MODULES=/tmp/vjs/node_modules
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
PYTHON="${PYTHON:-/tmp/venv-tpl/bin/python}"
NODE_MODULES="${NODE_MODULES:-/tmp/vjs/node_modules}"
OUT="$HERE/out/templates-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"

(cd "$ROOT" && taskset -c 0 cargo bench --bench template -- --warm-up-time 2 --measurement-time 5 >"$OUT/criterion.txt" 2>&1)
for name in reshape_1kb foreach_100_items form_to_json select_response_fields; do
  est="$ROOT/target/criterion/template/$name/new/estimates.json"
  python3 -c "import json,sys; print(sys.argv[1], round(json.load(open(sys.argv[2]))['mean']['point_estimate']/1000, 2))" "$name" "$est"
done >"$OUT/tollgate.txt"
taskset -c 0 "$PYTHON" "$HERE/templates/compare.py" "$HERE/templates" >"$OUT/airspeed.txt"
NODE_PATH="$NODE_MODULES" taskset -c 0 node "$HERE/templates/compare.js" "$HERE/templates" >"$OUT/velocityjs.txt"

python3 - "$OUT" <<'PY'
import sys
out = sys.argv[1]
def read(f):
    return dict(line.split() for line in open(f"{out}/{f}") if line.strip())
t, a, v = read("tollgate.txt"), read("airspeed.txt"), read("velocityjs.txt")
print(f"{'shape':<24} {'tollgate µs':>12} {'airspeed µs':>12} {'velocityjs µs':>14} {'airspeed/t':>11} {'velocityjs/t':>13}")
for k in t:
    tt, aa, vv = float(t[k]), float(a[k]), float(v[k])
    print(f"{k:<24} {tt:>12.2f} {aa:>12.2f} {vv:>14.2f} {aa/tt:>10.1f}x {vv/tt:>12.1f}x")
PY
echo "(raw numbers in $OUT)"
