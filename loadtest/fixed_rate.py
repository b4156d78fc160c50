#!/usr/bin/env python3
"""Open-loop (fixed-rate, wrk2-style) HTTP/1.1 load generator for loadtest/accuracy.sh.

Requests are *scheduled* at t0 + i/RATE, whatever the answers do (no coordinated omission):
each is written on its connection at its time even when earlier answers are still pending
(HTTP/1.1 pipelining), so the offered rate is exact. Answers are parsed (status line and
Content-Length) and timestamped on arrival.

    fixed_rate.py HOST PORT PATH RATE SECONDS CONNECTIONS [HEADER: VALUE ...]

Prints one JSON object: sent, answered, admitted (2xx), throttled (429), other, the
admitted rate over the run, over the steady part (after the first second, when the initial
burst is spent), the biggest number admitted in any one-second window (sliding, 10 ms steps),
and the latency of the answers (p50, p99, max in ms, from each request's due time).
"""
import asyncio
import collections
import json
import sys
import time

from http1 import read_response, schedule


async def reader(r, stamps, counts, dues, latencies):
    while True:
        status = await read_response(r)
        now = time.monotonic()
        # Answers come back in order on a connection: this one is for the oldest request
        # still unanswered on it, latency measured from when it was due (its schedule).
        latencies.append(now - dues.popleft())
        counts["answered"] += 1
        if 200 <= status < 300:
            stamps.append(now)
        elif status == 429:
            counts["throttled"] += 1
        else:
            counts["other"] += 1


async def main():
    host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rate, seconds, nconn = float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
    extra = "".join(h + "\r\n" for h in sys.argv[7:])
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()
    conns = [await asyncio.open_connection(host, port) for _ in range(nconn)]
    stamps, counts = [], {"answered": 0, "throttled": 0, "other": 0}
    dues = [collections.deque() for _ in conns]
    latencies = []
    readers = [
        asyncio.create_task(reader(r, stamps, counts, dues[i], latencies))
        for i, (r, _) in enumerate(conns)
    ]
    total = int(rate * seconds)
    t0 = time.monotonic() + 0.05
    async for i, due in schedule(rate, seconds, t0):
        dues[i % nconn].append(due)
        conns[i % nconn][1].write(request)
    for _, w in conns:
        await w.drain()
    deadline = time.monotonic() + 5
    while counts["answered"] < total and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    for t in readers:
        t.cancel()
    stamps.sort()
    end = t0 + seconds
    steady = [s for s in stamps if t0 + 1 <= s < end]
    best, j = 0, 0
    start = t0
    while start + 1 <= end + 0.5:
        while j < len(stamps) and stamps[j] < start:
            j += 1
        k = j
        while k < len(stamps) and stamps[k] < start + 1:
            k += 1
        best = max(best, k - j)
        start += 0.01
    print(json.dumps({
        "offered_rate": rate,
        "seconds": seconds,
        "connections": nconn,
        "sent": total,
        "answered": counts["answered"],
        "admitted": len(stamps),
        "throttled": counts["throttled"],
        "other": counts["other"],
        "admitted_rate": round(len(stamps) / seconds, 1),
        "steady_admitted_rate": round(len(steady) / (seconds - 1), 1),
        "max_1s_admitted": best,
        "latency_ms": percentiles(latencies),
    }))


def percentiles(latencies):
    """p50, p99 and max of the answers' latencies, in ms."""
    if not latencies:
        return {}
    xs = sorted(latencies)
    at = lambda q: round(xs[min(len(xs) - 1, int(q * len(xs)))] * 1000, 2)
    return {"p50": at(0.50), "p99": at(0.99), "max": round(xs[-1] * 1000, 2)}


asyncio.run(main())
