"""``pdsgd bench dask``: what a Dask round costs, and what parameter averaging buys back.

Two measurements, in one run, on one ``LocalCluster`` of two worker processes
on 127.0.0.1 (started once, closed at the end), the seed's network 784-200-10:

1. **per-round time** of BSP at N = 2, b = 1 on ``dask`` against ``processes``
   (and ``serial``, whose round is pure computation): what a round's
   communication costs on each. The overhead is the round time minus serial's.
2. **parameter averaging** on ``dask`` with K local steps (default 100):
   samples per second at N = 2 against N = 1. A round of averaging carries
   ``K * b`` samples per worker, so the round's fixed cost is paid once per K
   steps instead of once per step.

Every timing is a median over ``repeats`` epochs, after a warm-up epoch.
"""

from __future__ import annotations

import numpy as np

from pdsgd.arguments import positive_int
from pdsgd.bench.common import load_samples, median_rate, register
from pdsgd.engine.backends.dask import local_cluster
from pdsgd.engine.broker import Broker
from pdsgd.mlp import MLP


def median_epoch_seconds(X, T, repeats, **engine):
    """Median seconds of one epoch over ``X`` in a Broker started once (after a warm-up)."""

    order = np.arange(len(X))
    with Broker(MLP((X.shape[1], 200, T.shape[1])), X, T, trace=False, **engine) as broker:
        broker.run_epoch(order[:len(order) // 4], 0.1)  # warm-up: first tasks, caches
        rate = median_rate(lambda: broker.run_epoch(order, 0.1), len(X), repeats)
        rounds = broker.iterations(len(X))
    return len(X) / rate, rounds


def run(dataset="mnist-5k", samples=400, average_samples=4000, local_steps=100,
        micro_batch=1, repeats=3):
    """Both measurements; returns a dict (see :func:`format_table`)."""

    X, T = load_samples(dataset, max(samples, average_samples))
    Xr, Tr = X[:samples], T[:samples]
    out = {"samples": samples, "average_samples": average_samples,
           "local_steps": local_steps, "micro_batch": micro_batch, "rounds": {}}
    with local_cluster(2) as cluster:
        address = cluster.scheduler_address
        for backend in ("serial", "processes", "dask"):
            options = {"scheduler": address} if backend == "dask" else {}
            seconds, rounds = median_epoch_seconds(Xr, Tr, repeats, workers=2, micro_batch=1,
                                                   backend=backend, **options)
            out["rounds"][backend] = seconds / rounds
        rates = {}
        for n in (1, 2):
            seconds, _ = median_epoch_seconds(X[:average_samples], T[:average_samples],
                                              repeats, workers=n, micro_batch=micro_batch,
                                              backend="dask", scheduler=address,
                                              algorithm="average", local_steps=local_steps)
            rates[n] = average_samples / seconds
    out["average_rate"] = rates
    out["speedup"] = rates[2] / rates[1]
    return out


def format_table(r):
    """The result as lines of text."""
    rounds = r["rounds"]
    serial = rounds["serial"]
    lines = ["per-round time, BSP, N=2, b=1 (overhead = round time - serial's):"]
    for backend, seconds in rounds.items():
        extra = "" if backend == "serial" else f"   overhead {1e3 * (seconds - serial):8.3f} ms"
        lines.append(f"  {backend:<10} {1e3 * seconds:8.3f} ms/round{extra}")
    lines.append(f"  dask round / processes round: {rounds['dask'] / rounds['processes']:.0f}x")
    rates = r["average_rate"]
    lines.append(f"parameter averaging on dask, K={r['local_steps']}, b={r['micro_batch']}, "
                 f"{r['average_samples']} samples:")
    for n, rate in rates.items():
        lines.append(f"  N={n}: {rate:10,.0f} samples/s")
    lines.append(f"  speedup N=2 over N=1: {r['speedup']:.2f}x (goal >= 1.5x on 2 cores)")
    return "\n".join(lines)


def add_parser(subparsers):
    """Register ``pdsgd bench dask``."""
    p = register(subparsers, "dask", "per-round overhead of dask against processes; speedup "
                 "of parameter averaging, N=2 over N=1", table=format_table,
                 run=lambda a: run(a.dataset, a.samples, a.average_samples, a.local_steps,
                                   a.micro_batch, a.repeats))
    p.add_argument("--dataset", default="mnist-5k")
    p.add_argument("--samples", type=positive_int, default=400,
                   help="samples per BSP timing (default 400: 200 rounds)")
    p.add_argument("--average-samples", type=positive_int, default=4000,
                   help="samples per averaging timing (default 4000)")
    p.add_argument("--local-steps", type=positive_int, default=100, metavar="K")
    p.add_argument("--micro-batch", type=positive_int, default=1, metavar="b")
    p.add_argument("--repeats", type=positive_int, default=3)
