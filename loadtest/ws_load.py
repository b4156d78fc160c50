#!/usr/bin/env python3
"""WebSocket load for loadtest/websocket.sh: raw sockets (no client library in the way), so
thousands of connections fit in one process.

  ws_load.py hold PORT N            N connections, one echo round trip each; prints
                                    "ready N failed F", holds them until stdin closes
  ws_load.py chat PORT CONNS MSGS   MSGS echo round trips over CONNS connections, one in
                                    flight per connection; prints "done MSGS SECONDS"
  ws_load.py fanout PORT N AKID SECRET
                                    N connections learn their ids (a message no route takes
                                    is answered with AWS's Forbidden frame, which names the
                                    connection), then one @connections POST per connection,
                                    SigV4-signed by botocore on one keep-alive connection;
                                    prints "fanout N SECONDS delivered D"
  ws_load.py broadcast PORT N       (the Python baseline server) N connections, then one
                                    message that server broadcasts to all; prints
                                    "fanout N SECONDS delivered D"

Messages are {"action": "echo"}; connections come from 127.0.0.2.. (25,000 per address).
"""

import base64
import json
import os
import socket
import struct
import sys
import time

HANDSHAKE = (
    "GET /prod HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def frame(text):
    """A masked text frame (clients must mask, RFC 6455 §5.3)."""
    payload = text.encode()
    mask = os.urandom(4)
    head = bytes([0x81])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class Conn:
    def __init__(self, port, i, host):
        s = socket.socket()
        s.setsockopt(socket.IPPROTO_IP, 24, 1)  # IP_BIND_ADDRESS_NO_PORT
        s.bind((f"127.0.0.{2 + i // 25000}", 0))
        s.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall(HANDSHAKE.format(host=host, key=key).encode())
        self.sock = s
        self.buf = b""

    def finish_handshake(self):
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(head.split(b"\r\n")[0].decode())

    def messages(self, count):
        """Reads `count` frames' payloads (server frames are unmasked)."""
        out = []
        while len(out) < count:
            if len(self.buf) >= 2:
                n = self.buf[1] & 0x7F
                at = 2
                if n == 126:
                    n, at = struct.unpack(">H", self.buf[2:4])[0], 4
                elif n == 127:
                    n, at = struct.unpack(">Q", self.buf[2:10])[0], 10
                if len(self.buf) >= at + n:
                    out.append(self.buf[at:at + n])
                    self.buf = self.buf[at + n:]
                    continue
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        return out


def open_conns(port, n, host):
    conns = []
    for i in range(n):
        conns.append(Conn(port, i, host))
        if len(conns) % 500 == 0 or i == n - 1:
            for c in conns[-500:]:
                c.finish_handshake()
    return conns


def round_trip(conns, text='{"action": "echo"}'):
    failed = 0
    for start in range(0, len(conns), 500):
        batch = conns[start:start + 500]
        for c in batch:
            c.sock.sendall(frame(text))
        for c in batch:
            if not c.messages(1):
                failed += 1
    return failed


def hold(port, n, host):
    conns = open_conns(port, n, host)
    failed = round_trip(conns)
    print(f"ready {len(conns)} failed {failed}", flush=True)
    sys.stdin.read()


def chat(port, nconns, total, host):
    """One message in flight per connection, as wrk keeps one request in flight per
    connection: each message costs the gateway a read and a write, as a request does."""
    conns = open_conns(port, nconns, host)
    msg = frame('{"action": "echo"}')
    started = time.monotonic()
    done = 0
    while done < total:
        for c in conns:
            c.sock.sendall(msg)
        for c in conns:
            c.messages(1)
        done += len(conns)
    print(f"done {done} {time.monotonic() - started:.3f}", flush=True)


def fanout(port, n, akid, secret, host):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    conns = open_conns(port, n, host)
    ids = []
    for start in range(0, n, 500):
        batch = conns[start:start + 500]
        for c in batch:
            c.sock.sendall(frame('{"action": "who"}'))
        for c in batch:
            ids.append(json.loads(c.messages(1)[0])["connectionId"])
    creds = Credentials(akid, secret)
    signed = []
    for cid in ids:
        quoted = cid.replace("=", "%3D")
        url = f"http://{host}/prod/@connections/{quoted}"
        req = AWSRequest(method="POST", url=url, data=b"hello", headers={"Host": host})
        SigV4Auth(creds, "execute-api", "us-east-1").add_auth(req)
        head = f"POST /prod/@connections/{quoted} HTTP/1.1\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in req.headers.items()) + "Content-Length: 5\r\n\r\n"
        signed.append(head.encode() + b"hello")
    api = socket.create_connection(("127.0.0.1", port))
    started = time.monotonic()
    pending = b""
    for i in range(0, len(signed), 50):
        api.sendall(b"".join(signed[i:i + 50]))
        got = 0
        while got < len(signed[i:i + 50]):
            pending += api.recv(65536)
            got = pending.count(b"HTTP/1.1 200")
        pending = b""
    delivered = sum(1 for c in conns if c.messages(1)[0] == b"hello")
    print(f"fanout {n} {time.monotonic() - started:.3f} delivered {delivered}", flush=True)


def broadcast(port, n, host):
    conns = open_conns(port, n, host)
    started = time.monotonic()
    conns[0].sock.sendall(frame('{"action": "broadcast"}'))
    delivered = sum(1 for c in conns if c.messages(1)[0] == b"hello")
    print(f"fanout {n} {time.monotonic() - started:.3f} delivered {delivered}", flush=True)


if __name__ == "__main__":
    cmd, port = sys.argv[1], int(sys.argv[2])
    host = os.environ.get("WS_HOST", "127.0.0.1")
    if cmd == "hold":
        hold(port, int(sys.argv[3]), host)
    elif cmd == "chat":
        chat(port, int(sys.argv[3]), int(sys.argv[4]), host)
    elif cmd == "fanout":
        fanout(port, int(sys.argv[3]), sys.argv[4], sys.argv[5], host)
    elif cmd == "broadcast":
        broadcast(port, int(sys.argv[3]), host)
