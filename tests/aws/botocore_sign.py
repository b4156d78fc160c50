#!/usr/bin/env python3
"""Sign one request with botocore's SigV4Auth, to cross-check src/upstream/sigv4.rs.

stdin:  {"method", "url", "headers": {name: value}, "body_b64", "access_key", "secret_key",
         "token" (null for none), "region", "service", "amz_date": "YYYYMMDDTHHMMSSZ"}
stdout: {"authorization": ..., "x-amz-date": ...}
        or, with "presign": true (botocore's SigV4QueryAuth, as presigned URLs are made):
        {"url": ...}

The url's path must be exactly the encoded path the Rust side puts on the wire (for Lambda,
"/2015-03-31/functions/arn%3Aaws%3A.../invocations"): botocore signs
quote(normalize(urlsplit(url).path), safe='/~'), which double-encodes it the same way.
botocore leaves some headers unsigned (user-agent, expect, transfer-encoding, ...:
SIGNED_HEADERS_BLACKLIST), so pass only headers both sides sign.
"""

import base64
import datetime
import json
import sys

import botocore.auth
from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def main():
    req = json.load(sys.stdin)
    frozen = datetime.datetime.strptime(req["amz_date"], SIGV4_TIMESTAMP)
    # SigV4Auth.add_auth overwrites request.context["timestamp"] with
    # botocore.auth.get_current_datetime(), so the clock itself is what gets frozen (older
    # botocore read datetime.datetime.utcnow() instead; the X-Amz-Date check below catches that).
    botocore.auth.get_current_datetime = lambda *args, **kwargs: frozen
    request = AWSRequest(
        method=req["method"],
        url=req["url"],
        headers=dict(req.get("headers") or {}),
        data=base64.b64decode(req.get("body_b64") or ""),
    )
    creds = Credentials(req["access_key"], req["secret_key"], req.get("token"))
    if req.get("presign"):
        expires = req.get("expires", 300)
        SigV4QueryAuth(creds, req["service"], req["region"], expires=expires).add_auth(request)
        json.dump({"url": request.url}, sys.stdout)
        sys.stdout.write("\n")
        return
    SigV4Auth(creds, req["service"], req["region"]).add_auth(request)
    if request.headers["X-Amz-Date"] != req["amz_date"]:
        sys.exit("botocore did not sign at the requested time")
    out = {
        "authorization": request.headers["Authorization"],
        "x-amz-date": request.headers["X-Amz-Date"],
    }
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
