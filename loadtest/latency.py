#!/usr/bin/env python3
"""Open-loop latency probe for loadtest/functions.sh: GET requests scheduled at a fixed rate
(t0 + i/RATE, whatever earlier answers do), each on an idle keep-alive connection from a pool
(a new one is opened when all are busy), latency measured from the *scheduled* time to the
last byte of the answer, so a stall counts for every request it delays (no coordinated
omission).

    latency.py HOST PORT PATH RATE SECONDS

Prints one JSON object: sent, ok (2xx), other, p50_ms, p90_ms, p99_ms, max_ms.
"""
import asyncio
import json
import sys
import time

from http1 import read_response, schedule


async def one(pool, host, port, request, due, lat, counts):
    conn = pool.pop() if pool else await asyncio.open_connection(host, port)
    r, w = conn
    w.write(request)
    status = await read_response(r)
    lat.append(time.monotonic() - due)
    counts["ok" if 200 <= status < 300 else "other"] += 1
    pool.append(conn)


async def main():
    host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rate, seconds = float(sys.argv[4]), float(sys.argv[5])
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    pool = [await asyncio.open_connection(host, port) for _ in range(8)]
    lat, counts, tasks = [], {"ok": 0, "other": 0}, []
    total = int(rate * seconds)
    t0 = time.monotonic() + 0.05
    async for _, due in schedule(rate, seconds, t0):
        tasks.append(asyncio.create_task(one(pool, host, port, request, due, lat, counts)))
    await asyncio.gather(*tasks)
    lat.sort()
    pct = lambda p: round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 2)
    print(json.dumps({"sent": total, **counts, "p50_ms": pct(0.50), "p90_ms": pct(0.90),
                      "p99_ms": pct(0.99), "max_ms": round(lat[-1] * 1000, 2)}))


asyncio.run(main())
