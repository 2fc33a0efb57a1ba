"""The engine on a machine that other programs keep busy (``pdsgd bench neighbours``).

A classroom laptop always runs something else: a browser, another notebook. This
benchmark starts 0, 1 and 2 CPU-bound *neighbour* processes itself (a Python
busy loop each; they die with the benchmark) and, under each load, times the
sequential fast path and the engine with N = 2 worker processes (b = 1, the
backend's default aggregation) with the adaptive barrier and with the old
fixed-spin one (``barrier="fixed"``). The engines are started once, warmed up,
and timed in interleaved repeats (sequential, adaptive, fixed, again and again),
so that a burst of load hits them alike; each ratio is the median of the
per-repeat ratios against the sequential path timed in the same repeat.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np

from pdsgd.engine.broker import Broker
from pdsgd.engine.sequential import SequentialRunner
from pdsgd.machine import machine_facts
from pdsgd.mlp import MLP
from pdsgd.study.timing import load_samples

#: A CPU-bound neighbour: a busy loop that ends when its parent (the benchmark) does.
NEIGHBOUR = """
import ctypes, os, sys
try:
    ctypes.CDLL(None).prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL (Linux)
except Exception:
    pass
parent = int(sys.argv[1])
while os.getppid() == parent:
    for _ in range(200_000):
        pass
"""
ENGINES = ("sequential", "adaptive", "fixed")


def start_neighbours(count):
    """Start ``count`` CPU-bound processes; return their ``Popen`` objects."""
    return [subprocess.Popen([sys.executable, "-I", "-S", "-c", NEIGHBOUR, str(os.getpid())],
                             stdin=subprocess.DEVNULL) for _ in range(count)]


def stop_neighbours(procs):
    """Kill and reap the neighbours."""
    for p in procs:
        p.kill()
    for p in procs:
        p.wait()


def run(dataset="mnist-5k", samples=2000, repeats=5, neighbours=(0, 1, 2), workers=2,
        micro_batch=1, progress=None, aggregate=None):
    """Time the three engines under each number of neighbours; return a JSON-ready dict.

    ``progress``, when given, is called with each load's row as soon as it is measured.
    ``aggregate``: the engines' aggregation (None: the backend's default).
    """
    X, T = load_samples(dataset, samples)
    sizes = (X.shape[1], 200, T.shape[1])
    order = np.arange(len(X))
    runners = {"sequential": SequentialRunner(MLP(sizes), X, T, micro_batch)}
    for barrier in ("adaptive", "fixed"):
        runners[barrier] = Broker(MLP(sizes), X, T, workers=workers, micro_batch=micro_batch,
                                  backend="processes", barrier=barrier, trace=False, span=4096,
                                  aggregate=aggregate)
    result = {"dataset": dataset, "samples": len(X), "repeats": repeats, "workers": workers,
              "micro_batch": micro_batch, "aggregate": runners["adaptive"].spec.aggregate,
              "sizes": list(sizes), "machine": machine_facts(),
              "rows": []}
    try:
        for runner in runners.values():
            runner.__enter__()
            runner.run_epoch(order[:256], 0.1)  # warm-up: workers started, caches filled
        for count in neighbours:
            procs = start_neighbours(count)
            try:
                time.sleep(0.5)  # let the neighbours get going
                row = _measure(runners, order, repeats)
            finally:
                stop_neighbours(procs)
            row["neighbours"] = count
            result["rows"].append(row)
            if progress is not None:
                progress(row)
    finally:
        for runner in runners.values():
            runner.__exit__(None, None, None)
    return result


def _measure(runners, order, repeats):
    rates = {name: [] for name in runners}
    for _ in range(repeats):
        for name, runner in runners.items():
            start = time.perf_counter()
            runner.run_epoch(order, 0.1)
            rates[name].append(len(order) / (time.perf_counter() - start))
    seq = np.array(rates["sequential"])
    row = {"samples_per_s": {k: float(np.median(v)) for k, v in rates.items()},
           "all_samples_per_s": rates}
    for name in ("adaptive", "fixed"):
        ratios = np.array(rates[name]) / seq
        row[f"{name}_vs_sequential"] = float(np.median(ratios))
        row[f"{name}_vs_sequential_range"] = [float(ratios.min()), float(ratios.max())]
    ratios = np.array(rates["adaptive"]) / np.array(rates["fixed"])
    row["adaptive_vs_fixed"] = float(np.median(ratios))
    return row
