"""A TCP relay that holds every chunk for a fixed delay: a link's latency, without ``netem``.

Run inside a student host's namespace, it forwards each listening address to
its target, and every byte, either way, leaves ``delay`` seconds after it
arrived (in order; bandwidth is the token bucket's business, not the
relay's). TLS passes through untouched: the relay sees only ciphertext.

    python -m pdsgd.netlab.relay DELAY LISTEN_HOST:PORT=TARGET_HOST:PORT [...]

Two routes make a host's whole traffic late: the worker's own address
(others reach it through the relay) and the scheduler's (the worker reaches
it through a relay on its loopback).
"""

from __future__ import annotations

import asyncio
import sys

CHUNK = 1 << 16


async def _pump(reader, writer, delay):
    """Copy ``reader`` to ``writer``, each chunk ``delay`` seconds after it was read."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def read():
        try:
            while data := await reader.read(CHUNK):
                queue.put_nowait((loop.time() + delay, data))
        except OSError:
            pass
        queue.put_nowait((loop.time() + delay, b""))

    reading = asyncio.ensure_future(read())
    try:
        while True:
            when, data = await queue.get()
            await asyncio.sleep(max(0.0, when - loop.time()))
            if not data:
                break
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        pass
    finally:
        reading.cancel()


def _splitting(target, delay):
    host, _, port = target.rpartition(":")

    async def handle(reader, writer):
        try:
            far_reader, far_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pump(reader, far_writer, delay), _pump(far_reader, writer, delay))
        for w in (writer, far_writer):
            w.close()

    return handle


async def relay(delay, routes):
    """Serve every ``(listen_host, listen_port, target)`` of ``routes`` until cancelled."""
    servers = [await asyncio.start_server(_splitting(target, delay), host, port)
               for host, port, target in routes]
    print("relaying", flush=True)  # the lab waits for this line
    await asyncio.gather(*(s.serve_forever() for s in servers))


def main(argv):
    delay, routes = float(argv[0]), []
    for route in argv[1:]:
        listen, _, target = route.partition("=")
        host, _, port = listen.rpartition(":")
        routes.append((host, int(port), target))
    asyncio.run(relay(delay, routes))


if __name__ == "__main__":
    main(sys.argv[1:])
