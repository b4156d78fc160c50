#!/usr/bin/env bash
# User-space instructions per render of each template shape of loadtest/templates/ (and per
# parse of each JSON body), counted by callgrind: a run of SHORT renders subtracted from a run
# of LONG renders, divided by the difference, so start-up and template parsing drop out.
# Deterministic, so a change can be compared with the one before it on a noisy machine
# (benches/template.rs gives the wall-clock times).
#
#   loadtest/template-instructions.sh            (needs valgrind)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SHORT="${SHORT:-20}"
LONG="${LONG:-220}"

BIN="$(cd "$ROOT" && cargo bench --bench template_instructions --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "template_instructions" and m.get("executable"):
        print(m["executable"])')"

count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" "$@" 2>&1 |
    awk '/Collected/ {print $4}'
}

per_render() {
  local a b
  a="$(count "$1" "$2" "$SHORT")"
  b="$(count "$1" "$2" "$LONG")"
  echo $(((b - a) / (LONG - SHORT)))
}

printf '%-24s %14s\n' shape instructions
for shape in "reshape_1kb reshape.vtl reshape.json" "foreach_100_items foreach100.vtl items100.json" \
  "form_to_json form.vtl form.txt" "select_response_fields select.vtl select.json" \
  "parse_1kb_body --parse reshape.json" "parse_100_items_body --parse items100.json"; do
  set -- $shape
  printf '%-24s %14s\n' "$1" "$(per_render "$2" "$3")"
done
