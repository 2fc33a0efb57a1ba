"""Round trips between two hosts of the lab, timed with Dask's own messages.

Run on one host of the lab (:meth:`pdsgd.netlab.lab.Lab.run`), it connects to
a Dask scheduler or worker at ADDRESS with the class's bundle and times COUNT
``identity`` exchanges over that one connection (the TLS handshake before
them is not timed); it prints the fastest, in seconds (a busy machine adds to
a round trip, never takes from it):

    python -m pdsgd.netlab.ping ADDRESS BUNDLE [COUNT]

It is how the lab's latency is checked against the profile's
:attr:`~pdsgd.netlab.lab.Profile.round_trip`, the figure the cost model uses.
"""

from __future__ import annotations

import asyncio
import sys
import time

from pdsgd.engine.security import security


async def _round_trips(address, connection_args, count):
    from distributed.comm import connect

    comm = await connect(address, timeout=30, **connection_args)
    took = []
    try:
        for _ in range(count):
            start = time.perf_counter()
            await comm.write({"op": "identity", "reply": True})
            await comm.read()
            took.append(time.perf_counter() - start)
    finally:
        comm.abort()
    return took


def round_trip(address, bundle, count=9):
    """The fastest of ``count`` exchanges with the Dask server at ``address``, in seconds."""
    args = security(bundle).get_connection_args("client")
    return min(asyncio.run(_round_trips(address, args, count)))


def main(argv):
    address, bundle, *count = argv
    print(f"{round_trip(address, bundle, *map(int, count)):.6f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
