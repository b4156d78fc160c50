"""What the open-loop load scripts (fixed_rate.py, latency.py) share: the fixed-rate schedule
and reading HTTP/1.1 answers."""
import asyncio
import time


async def schedule(rate, seconds, t0):
    """Yields `(i, due)` for `rate * seconds` requests at `due = t0 + i / rate` (`t0` on the
    `time.monotonic()` clock), waking at each due time whatever earlier answers do: no
    coordinated omission."""
    for i in range(int(rate * seconds)):
        due = t0 + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        yield i, due


async def read_response(r):
    """Reads one response (head and Content-Length body) from the asyncio stream; its status."""
    head = await r.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length:
        await r.readexactly(length)
    return status
