"""Peers of loadtest/auth.sh (needs PyJWT, cryptography and botocore: TOLLGATE_PYTHON).

    auth_peers.py serve PORT OUTDIR
        Serves an issuer's key set at /pool/.well-known/jwks.json and a Lambda Invoke API whose
        every function is an authorizer allowing the whole API; writes OUTDIR/token, an RS256
        ID token of that issuer valid for an hour.
    auth_peers.py sign URL ACCESS_KEY SECRET
        Prints `Authorization` and `X-Amz-Date` of a botocore SigV4 signature of GET URL for
        execute-api in us-east-1, now.
"""
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def serve(port, outdir):
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "bench", "alg": "RS256", "use": "sig"})
    issuer = f"http://127.0.0.1:{port}/pool"
    now = int(time.time())
    claims = {"iss": issuer, "sub": "bench", "token_use": "id", "iat": now, "exp": now + 3600}
    with open(f"{outdir}/token", "w") as f:
        f.write(jwt.encode(claims, key, algorithm="RS256", headers={"kid": "bench"}))
    keys = json.dumps({"keys": [jwk]}).encode()
    policy = json.dumps({
        "principalId": "bench",
        "policyDocument": {"Version": "2012-10-17", "Statement": [{
            "Action": "execute-api:Invoke", "Effect": "Allow",
            "Resource": "arn:aws:execute-api:*:*:bench/*"}]},
        "context": {"tier": "bench"},
    }).encode()

    class Handler(BaseHTTPRequestHandler):
        def answer(self, body):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self.answer(keys)

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.answer(policy)

        def log_message(self, *args):
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def sign(url, access_key, secret):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials(access_key, secret), "execute-api", "us-east-1").add_auth(request)
    print(request.headers["Authorization"])
    print(request.headers["X-Amz-Date"])


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]), sys.argv[3])
    else:
        sign(*sys.argv[2:5])
