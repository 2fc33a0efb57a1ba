"""Is a Dask scheduler there? Asked with every wait bounded, before a ``Client`` is made.

Dask's own connect waits without end for the other side's half of its
handshake: a web server, a silent socket or a program answering garbage at the
``--scheduler`` address hung a run past ``--timeout``. :func:`probe` makes that
first exchange itself, under one deadline, and says in one line what it found.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

from pdsgd.errors import PdsgdError


def probe(address, timeout, connection_args=None, *, limit=None):
    """Raise :class:`PdsgdError` unless a Dask scheduler answers at ``address`` within ``timeout``.

    Dask's own connect waits without end for the other side's half of the
    handshake, so the first exchange is made here, every step of it bounded:
    whatever listens there (a web server, a silent socket, a program that
    answers garbage, nothing at all) costs at most ``timeout`` seconds and one
    line. ``connection_args`` are what the client would connect with (TLS);
    ``limit`` is the ``--timeout`` the message names (default ``timeout``).
    """
    limit = timeout if limit is None else limit
    deadline = time.monotonic() + timeout  # one for every step: the connect and the exchange
    scheme, _, rest = address.rpartition("://")
    if scheme in ("", "tcp", "tls"):  # refused at once beats dask's retries until the timeout
        host, _, port = rest.rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
                pass
        except (OSError, ValueError) as error:
            raise unreachable(address, limit,
                              error.strerror or type(error).__name__) from None
    answer, left = {}, max(0.05, deadline - time.monotonic())

    def ask():
        try:
            answer["reply"] = asyncio.run(_identity(address, left, connection_args or {}))
        except BaseException as error:  # reported below, in one line
            answer["error"] = error

    asker = threading.Thread(target=ask, name="pdsgd-dask-probe", daemon=True)
    asker.start()
    asker.join(left + 0.2)  # _identity bounds itself; this, should it not
    reply = answer.get("reply")
    if isinstance(reply, dict) and reply.get("type") == "Scheduler":
        return
    if isinstance(reply, dict) and reply.get("type"):
        why = f"a Dask {reply['type'].lower()} answers there, not the scheduler"
    elif isinstance(answer.get("error"), (TimeoutError, asyncio.TimeoutError)) or not answer:
        why = "what listens there did not answer as a Dask scheduler does"
    else:
        why = "what listens there does not speak Dask's protocol"
    raise unreachable(address, limit, why)


async def _identity(address, timeout, connection_args):
    """What the scheduler at ``address`` says it is; every wait bounded by ``timeout`` in all."""
    from distributed.comm import connect

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout

    def left():
        return max(0.01, deadline - loop.time())

    comm = await asyncio.wait_for(connect(address, timeout=left(), **connection_args), left())
    try:
        await asyncio.wait_for(comm.write({"op": "identity", "reply": True}), left())
        return await asyncio.wait_for(comm.read(), left())
    finally:
        comm.abort()


def unreachable(address, timeout, why):
    """The one-line error for a scheduler address that does not lead to a scheduler."""
    return PdsgdError(f"--scheduler {address}: cannot reach a Dask scheduler there within "
                      f"--timeout {timeout:g} s ({why}); start one with `dask scheduler`, "
                      "or give its address")
