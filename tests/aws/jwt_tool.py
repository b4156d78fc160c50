"""Keys and tokens for the JWT authorizer tests, made with PyJWT and `cryptography`.

    jwt_tool.py keys  < [{"alg": "RS256", "kid": "k1"}, ...]
        -> [{"kid", "alg", "private_pem", "jwk"}, ...]   (a fresh key pair each)
    jwt_tool.py sign  < [{"alg", "kid", "private_pem", "claims"}, ...]
        -> ["<compact JWS>", ...]
"""
import json
import sys

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa


def keys(specs):
    out = []
    for spec in specs:
        alg = spec["alg"]
        if alg.startswith("RS"):
            private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
        else:
            curve = ec.SECP256R1() if alg == "ES256" else ec.SECP384R1()
            private = ec.generate_private_key(curve)
            jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
        jwk.update({"kid": spec["kid"], "alg": alg, "use": "sig"})
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        out.append({"kid": spec["kid"], "alg": alg, "private_pem": pem, "jwk": jwk})
    return out


def sign(specs):
    return [
        jwt.encode(s["claims"], s["private_pem"], algorithm=s["alg"], headers={"kid": s["kid"]})
        for s in specs
    ]


if __name__ == "__main__":
    command = {"keys": keys, "sign": sign}[sys.argv[1]]
    json.dump(command(json.load(sys.stdin)), sys.stdout)
