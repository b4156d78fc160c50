#!/usr/bin/env python3
"""The runtime's own cold start, without the gateway: the baseline for "cold start = the
runtime's own start time plus under 10 ms" (issue 11).

Serves the smallest Lambda Runtime API that `awslambdaric` accepts (one `next` answered at
once with an event, then the result taken) from this process on loopback, starts the runtime
process, and reports per round:
  ready_ms   from spawn to its first `GET .../invocation/next` (process start, runtime init,
             handler import)
  result_ms  from spawn to its `POST .../invocation/{id}/response` (the above plus the
             runtime's first invocation)
With GATEWAY=host:port and GATEWAY_PATH set (a route to the same handler hosted by a gateway
whose workers stop after `idle_timeout = 1`), each round also times one cold request through
the gateway from this process (connect to the last response byte), after waiting for the
previous worker to be stopped, alternated with the runtime-alone round:
  gateway_ms from the client's connect to the whole answer

    runtime_alone.py ROUNDS WORKING_DIR PYTHON [HANDLER] [-- COMMAND...]

COMMAND (default: PYTHON -m awslambdaric HANDLER) is the runtime to start, e.g.
`-- target/release/examples/min_runtime` (built from loadtest/min_runtime.rs), a runtime that starts in about a millisecond.

Prints one JSON object: the per-round figures and their medians.
"""
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EVENT = json.dumps({"httpMethod": "GET", "path": "/fn", "headers": None, "body": None}).encode()


class Runtime(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self):
        srv = self.server
        if srv.ready is None:
            srv.ready = time.monotonic()
        if srv.served:
            # One invocation per round: later polls wait until the process is stopped.
            srv.done.wait(30)
            return
        srv.served = True
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", "req-1")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
        self.send_header(
            "Lambda-Runtime-Invoked-Function-Arn",
            "arn:aws:lambda:us-east-1:123456789012:function:hello",
        )
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(EVENT)))
        self.end_headers()
        self.wfile.write(EVENT)

    def do_POST(self):
        srv = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        srv.result = (time.monotonic(), self.path, body)
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        srv.done.set()

    def log_message(self, *a):
        pass


def one_round(workdir, command, handler):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Runtime)
    srv.daemon_threads = True
    # The runtime is killed while its second poll is open: not an error worth a traceback.
    srv.handle_error = lambda *a: None
    srv.ready, srv.served, srv.result, srv.done = None, False, None, threading.Event()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    env = dict(os.environ)
    env.update(
        AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{srv.server_address[1]}",
        AWS_LAMBDA_FUNCTION_NAME="hello",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128",
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        AWS_REGION="us-east-1",
        _HANDLER=handler,
        LAMBDA_TASK_ROOT=workdir,
    )
    t0 = time.monotonic()
    proc = subprocess.Popen(
        command,
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    srv.done.wait(30)
    proc.kill()
    proc.wait()
    srv.shutdown()
    if srv.result is None or srv.ready is None:
        raise SystemExit("the runtime posted no result")
    return {
        "ready_ms": round((srv.ready - t0) * 1000, 1),
        "result_ms": round((srv.result[0] - t0) * 1000, 1),
    }


def cold_request(gateway, path):
    """One request through the gateway, timed from connect to the end of the answer."""
    host, port = gateway.rsplit(":", 1)
    t0 = time.monotonic()
    with socket.create_connection((host, int(port))) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    elapsed = time.monotonic() - t0
    if not answer.startswith(b"HTTP/1.1 200"):
        raise SystemExit(f"gateway answered {answer[:80]!r}")
    return round(elapsed * 1000, 1)


def main():
    args, command = sys.argv[1:], None
    if "--" in args:
        command = args[args.index("--") + 1 :]
        args = args[: args.index("--")]
    rounds, workdir, python = int(args[0]), args[1], args[2]
    handler = args[3] if len(args) > 3 else "app.handler"
    command = command or [python, "-m", "awslambdaric", handler]
    gateway, path = os.environ.get("GATEWAY"), os.environ.get("GATEWAY_PATH", "/prod/fn")
    runs = []
    for _ in range(rounds):
        run = one_round(workdir, command, handler)
        if gateway:
            # The gateway's housekeeping (about once a second) stops a worker idle past
            # `idle_timeout = 1`: after 2.5 s none is left and the next request starts one.
            time.sleep(2.5)
            run["gateway_ms"] = cold_request(gateway, path)
        runs.append(run)
    summary = {"runs": runs}
    for key in ("ready_ms", "result_ms", "gateway_ms"):
        if all(key in r for r in runs):
            summary[key] = statistics.median(r[key] for r in runs)
    if gateway:
        # What the gateway adds to a cold start, paired per round (the machine's noise
        # between rounds is larger than the difference).
        extra = sorted(round(r["gateway_ms"] - r["result_ms"], 1) for r in runs)
        summary["gateway_minus_alone_ms"] = {
            "median": statistics.median(extra),
            "min": extra[0],
            "max": extra[-1],
        }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
