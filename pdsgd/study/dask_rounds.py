"""What a Dask round costs, and what parameter averaging buys back (``pdsgd bench dask``).

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

from pdsgd.engine.backends.dask import local_cluster
from pdsgd.engine.broker import Broker
from pdsgd.mlp import MLP
from pdsgd.study.timing import load_samples, median_rate


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
    """Both measurements; returns a dict (``pdsgd bench dask`` prints it as a table)."""

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
