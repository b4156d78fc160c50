"""Renders the shapes of benches/template.rs with airspeed-ext (the Velocity engine LocalStack's
API Gateway emulation uses) and prints the mean microseconds per render of each.

$input, $util and $context are minimal stand-ins (dotted JSONPath only), so the Python side
does less work than API Gateway's rules need: the ratio is, if anything, kind to it.
Usage: python compare.py DIR  (DIR holds the .vtl and body files)."""
import json
import sys
import time
import urllib.parse

import airspeed

SHAPES = [
    ("reshape_1kb", "reshape.vtl", "reshape.json"),
    ("foreach_100_items", "foreach100.vtl", "items100.json"),
    ("form_to_json", "form.vtl", "form.txt"),
    ("select_response_fields", "select.vtl", "select.json"),
]


class Input:
    def __init__(self, body):
        self.body = body
        self._doc = None

    def _select(self, path):
        if self._doc is None:
            self._doc = json.loads(self.body)
        v = self._doc
        for part in path.lstrip("$").split("."):
            if part:
                v = v.get(part) if isinstance(v, dict) else None
        return v

    def path(self, p):
        return self._select(p)

    def json(self, p):
        return json.dumps(self._select(p), separators=(",", ":"))


class Util:
    def escapeJavaScript(self, s):
        return json.dumps(s)[1:-1].replace("'", "\\'")

    def urlDecode(self, s):
        return urllib.parse.unquote_plus(s)


def main(folder):
    for name, template, body in SHAPES:
        src = open(f"{folder}/{template}").read()
        text = open(f"{folder}/{body}").read()
        t = airspeed.Template(src)
        ctx = lambda: {"input": Input(text), "util": Util(), "context": {"stage": "prod"}}
        first = t.merge(ctx())
        if "--show" in sys.argv:
            print(first)
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < 2.0:
            t.merge(ctx())
            n += 1
        us = (time.perf_counter() - start) / n * 1e6
        print(f"{name} {us:.2f}")


main(sys.argv[1])
