"""``pdsgd cluster serve`` and ``pdsgd cluster join``: a class's laptops as one Dask cluster.

The teacher runs ``serve``: a Dask scheduler, its dashboard's address, and the
command every student types. A student runs ``join``: a Dask worker with one
thread per core it offers. ``pdsgd train --backend dask --scheduler ADDRESS
--bundle FILE`` then trains on the class's workers.

Listening on anything but loopback, the scheduler speaks only TLS with mutual
authentication (:mod:`pdsgd.engine.security`): a worker or client without the
class's bundle is refused.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import psutil

from pdsgd.arguments import positive_float, positive_int
from pdsgd.engine.security import (
    DEFAULT_BUNDLE,
    for_address,
    is_loopback,
    make_bundle,
    security,
)
from pdsgd.errors import PdsgdError

#: Dask's loggers: a student sees pdsgd's lines, and dask's errors only.
_DASK_LOGGERS = ("distributed", "tornado", "bokeh")


def _quiet(level=logging.ERROR):
    for name in _DASK_LOGGERS:
        logging.getLogger(name).setLevel(level)


def _this_machine(host):
    """Addresses at which students reach ``host`` (every IPv4 address for 0.0.0.0)."""
    if host not in ("0.0.0.0", ""):
        return [host]
    found = [a.address for addresses in psutil.net_if_addrs().values() for a in addresses
             if a.family.name == "AF_INET" and not is_loopback(a.address)]
    return found or ["HOST"]


def serve_settings(host, port, bundle):
    """The scheduler's protocol, its ``Security`` and the bundle used.

    On loopback, without ``bundle``: plain TCP, no bundle (only this machine connects).
    """
    if is_loopback(host) and bundle is None:
        return "tcp", None, None
    bundle = Path(bundle or DEFAULT_BUNDLE)
    if not bundle.exists():
        make_bundle(bundle)
    return "tls", security(bundle), bundle


async def _serve(host, port, dashboard, worker_ttl, protocol, sec, bundle):
    import dask
    from distributed import Scheduler

    _quiet()  # after the import: importing distributed sets its loggers' levels
    # Dask's active memory manager drops "extra" replicas of a key: the copies of the
    # training data every worker holds on purpose, which each round would fetch again.
    with dask.config.set({"distributed.scheduler.worker-ttl": f"{worker_ttl}s",
                          "distributed.scheduler.active-memory-manager.start": False}):
        scheduler = Scheduler(host=host, port=port, protocol=protocol, security=sec,
                              dashboard_address=dashboard, dashboard=dashboard is not None)
        async with scheduler:
            addresses = [f"{protocol}://{h}:{scheduler.port}" for h in _this_machine(host)]
            print(f"scheduler: {' or '.join(addresses)}")
            if dashboard is not None:
                board = scheduler.services["dashboard"]
                print(f"dashboard: http://{dashboard.rpartition(':')[0]}:{board.port}/status")
            extra = f" --bundle {bundle.name}" if bundle is not None else ""
            print(f"students:  pdsgd cluster join {addresses[0]}{extra}")
            print(f"train:     pdsgd train --backend dask --scheduler {addresses[0]}{extra} "
                  "--workers N")
            if bundle is not None:
                print(f"bundle:    {bundle} (hand it to the class only: whoever holds it may "
                      "run any code on every worker)")
            print("Ctrl-C stops the scheduler", flush=True)
            await scheduler.finished()


def serve(args):
    """``pdsgd cluster serve``: run a class's scheduler until Ctrl-C."""
    protocol, sec, bundle = serve_settings(args.host, args.port, args.bundle)
    dashboard = None if args.no_dashboard else f"{_dashboard_host(args.host)}:{args.dashboard_port}"
    try:
        asyncio.run(_serve(args.host, args.port, dashboard, args.worker_ttl, protocol, sec,
                           bundle))
    except OSError as error:
        raise PdsgdError(f"cannot listen on {args.host}:{args.port} ({error.strerror or error});"
                         " choose another --port, or an address of this machine for --host"
                         ) from None
    return 0


def _dashboard_host(host):
    # The dashboard has no authentication: it stays on loopback unless served there anyway.
    return host if is_loopback(host) else "127.0.0.1"


async def _join(address, sec, cores, name, listen, contact, timeout):
    from distributed import Worker

    host, port, protocol = listen or (None, None, None)
    worker = Worker(address, nthreads=cores, security=sec, name=name, host=host, port=port,
                    protocol=protocol, contact_address=contact, death_timeout=timeout,
                    dashboard=False, silence_logs=logging.CRITICAL)
    _quiet(logging.CRITICAL)  # while joining: a refusal is our one line, not dask's retries
    try:
        await worker
    except BaseException:
        await worker.close(reason="join failed")
        raise
    _quiet()
    threads = "1 thread" if cores == 1 else f"{cores} threads"
    print(f"joined {address} as {worker.contact_address} with {threads}; Ctrl-C leaves",
          flush=True)
    try:
        await worker.finished()
    finally:
        await worker.close(reason="left")


def _listen_address(listen):
    """``(host, port, protocol)`` of ``[tls://]HOST:PORT``; a one-line error otherwise."""
    protocol, _, rest = listen.rpartition("://")
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise PdsgdError(f"--listen {listen}: write tls://HOST:PORT, HOST an address of this "
                         "machine")
    return host, int(port), protocol or None


def join(args):
    """``pdsgd cluster join ADDRESS``: serve this machine's cores to a class until Ctrl-C."""
    import dask

    sec = for_address(args.address, args.bundle)
    listen = None if args.listen is None else _listen_address(args.listen)
    cores = args.cores or os.cpu_count() or 1
    settings = {"distributed.comm.timeouts.connect": f"{args.timeout}s"}
    try:
        with dask.config.set(settings):
            asyncio.run(_join(args.address, sec, cores, args.name, listen, args.contact,
                              args.timeout))
    except (OSError, TimeoutError) as error:
        text = " ".join(str(error).split())[:160]
        raise PdsgdError(f"cannot join {args.address}: the scheduler refused this worker or did "
                         f"not answer within --timeout {args.timeout:g} s ({text}); check the "
                         "address, and that --bundle is this class's") from None
    return 0


def add_parsers(sub):
    """Register ``serve`` and ``join`` under ``pdsgd cluster``'s subparsers ``sub``."""
    s = sub.add_parser("serve", help="start the class's scheduler; print the join command")
    s.add_argument("--host", default="0.0.0.0",
                   help="address to listen on (default 0.0.0.0: every network of this "
                        "machine, with TLS); 127.0.0.1 serves this machine only, without")
    s.add_argument("--port", type=int, default=8786)
    s.add_argument("--dashboard-port", type=int, default=8787)
    s.add_argument("--no-dashboard", action="store_true")
    s.add_argument("--bundle", default=None, metavar="FILE",
                   help=f"the join bundle: made if missing, kept if there (default "
                        f"{DEFAULT_BUNDLE})")
    s.add_argument("--worker-ttl", type=positive_float, default=60.0, metavar="S",
                   help="a worker silent for S seconds is taken as gone and its tasks run "
                        "elsewhere (default 60)")
    s.set_defaults(func=serve)
    j = sub.add_parser("join", help="offer this machine's cores to a class's scheduler")
    j.add_argument("address", help="the scheduler's address, as `pdsgd cluster serve` printed")
    j.add_argument("--bundle", default=None, metavar="FILE",
                   help="the class's join bundle (needed for a tls:// address)")
    j.add_argument("--cores", type=positive_int, default=None, metavar="C",
                   help="threads to offer (default: every core)")
    j.add_argument("--name", default=None, help="this worker's name on the dashboard")
    j.add_argument("--timeout", type=positive_float, default=30.0, metavar="S",
                   help="seconds to reach the scheduler (default 30)")
    j.add_argument("--listen", default=None, metavar="tls://HOST:PORT",
                   help="where to listen (default: a free port on the way to the scheduler)")
    j.add_argument("--contact", default=None, metavar="tls://HOST:PORT",
                   help="the address others reach this worker at, when that is not --listen "
                        "(behind a relay or NAT)")
    j.set_defaults(func=join)
