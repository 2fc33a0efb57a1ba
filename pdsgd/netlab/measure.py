"""Samples per second of BSP and parameter averaging on a class cluster, run on the teacher's host.

``pdsgd bench network`` starts this module inside the lab's teacher host
(its namespace), where a teacher's notebook would run:

    python -m pdsgd.netlab.measure SCHEDULER BUNDLE WORKERS SECONDS K [K ...]

and reads one JSON line: for BSP and for averaging with each K, the seconds
per round and samples per second on the seed's network 784-200-10, b = 1.
Each configuration starts one Broker (its data scattered once), runs one
warm-up round, times one round to size the measurement, then times as many
rounds as fill about SECONDS (at least two).
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from pdsgd.engine.broker import Broker
from pdsgd.mlp import MLP
from pdsgd.netlab.lab import SIZES
from pdsgd.study.timing import load_samples

#: Samples every worker holds: the rounds cycle through them (the data's transfer is
#: not what is measured, and 300 samples of MNIST already take seconds over a slow link).
SAMPLES = 300


def _timed(broker, order):
    start = time.perf_counter()
    broker.run_epoch(order, 0.1)
    return time.perf_counter() - start


def configurations(local_steps):
    """``(name, algorithm, K)``: BSP, then averaging with each K."""
    return [("bsp", "bsp", 1)] + [(f"average K={k}", "average", k) for k in local_steps]


def measure(scheduler, bundle, workers, seconds, local_steps, timeout=300.0):
    """One dict per configuration: ``rounds``, ``seconds_per_round``, ``samples_per_second``."""
    X, T = load_samples("mnist-5k", SAMPLES)
    rows = []
    for name, algorithm, k in configurations(local_steps):
        per_round = workers * k

        def order(rounds, per_round=per_round):
            return np.resize(np.arange(len(X)), rounds * per_round)  # cycles through X

        with Broker(MLP(SIZES, seed=0), X, T, backend="dask", scheduler=scheduler,
                    bundle=bundle, workers=workers, algorithm=algorithm, local_steps=k,
                    trace=False, timeout=timeout) as broker:
            _timed(broker, order(1))  # warm-up: the data's scatter, the first tasks
            one = _timed(broker, order(1))
            rounds = int(np.clip(seconds / one, 2, 200))
            took = _timed(broker, order(rounds))
        rows.append({"name": name, "algorithm": algorithm, "local_steps": k,
                     "workers": workers, "rounds": rounds, "seconds_per_round": took / rounds,
                     "samples_per_second": rounds * per_round / took})
    return rows


def main(argv):
    scheduler, bundle, workers, seconds, *ks = argv
    rows = measure(scheduler, bundle, int(workers), float(seconds), [int(k) for k in ks])
    print(json.dumps(rows), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
