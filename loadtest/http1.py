"""Reading HTTP/1.1 answers in the load scripts (fixed_rate.py, latency.py)."""


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
