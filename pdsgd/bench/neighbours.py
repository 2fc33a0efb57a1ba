"""``pdsgd bench neighbours``: the engine on a machine that other programs keep busy.

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

from pdsgd.arguments import count_list, positive_int
from pdsgd.bench.common import load_samples, register
from pdsgd.engine.broker import Broker
from pdsgd.engine.sequential import SequentialRunner
from pdsgd.machine import machine_facts
from pdsgd.mlp import MLP

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
        micro_batch=1, progress=print):
    """Time the three engines under each number of neighbours; return a JSON-ready dict."""
    X, T = load_samples(dataset, samples)
    sizes = (X.shape[1], 200, T.shape[1])
    order = np.arange(len(X))
    runners = {"sequential": SequentialRunner(MLP(sizes), X, T, micro_batch)}
    for barrier in ("adaptive", "fixed"):
        runners[barrier] = Broker(MLP(sizes), X, T, workers=workers, micro_batch=micro_batch,
                                  backend="processes", barrier=barrier, trace=False, span=4096)
    result = {"dataset": dataset, "samples": len(X), "repeats": repeats, "workers": workers,
              "micro_batch": micro_batch, "sizes": list(sizes), "machine": machine_facts(),
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
            progress(format_row(row))
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


def format_row(r):
    """One table line."""
    s = r["samples_per_s"]
    lo, hi = r["adaptive_vs_sequential_range"]
    flo, fhi = r["fixed_vs_sequential_range"]
    return (f"{r['neighbours']:>10} {s['sequential']:>12,.0f} {s['adaptive']:>12,.0f} "
            f"{r['adaptive_vs_sequential']:>6.2f}x ({lo:.2f}-{hi:.2f}) {s['fixed']:>12,.0f} "
            f"{r['fixed_vs_sequential']:>6.2f}x ({flo:.2f}-{fhi:.2f}) "
            f"{r['adaptive_vs_fixed']:>8.2f}x")


def format_table(result):
    """The result of :func:`run` as a fixed-width table."""
    lines = [f"N={result['workers']} processes, b={result['micro_batch']}, "
             f"{'-'.join(map(str, result['sizes']))}, {result['dataset']}: "
             f"{result['samples']} samples per timing, median of {result['repeats']} "
             "interleaved repeats (range of the per-repeat ratios)",
             f"{'neighbours':>10} {'sequential/s':>12} {'adaptive/s':>12} {'vs seq':>19} "
             f"{'fixed spin/s':>12} {'vs seq':>19} {'adaptive/fixed':>8}"]
    lines += [format_row(r) for r in result["rows"]]
    return "\n".join(lines)


def add_parser(subparsers):
    """Register ``pdsgd bench neighbours``."""
    p = register(subparsers, "neighbours", "N=2 processes against the sequential path with "
                 "0, 1 and 2 CPU-bound programs beside them", run=_run_args,
                 table=format_table)
    p.add_argument("--dataset", default="mnist-5k")
    p.add_argument("--samples", type=positive_int, default=2000,
                   help="samples per timing (default 2000)")
    p.add_argument("--repeats", type=positive_int, default=5)
    p.add_argument("--neighbours", type=count_list, default=(0, 1, 2), metavar="0,1,2")
    p.add_argument("--workers", type=positive_int, default=2)
    p.add_argument("--micro-batch", type=positive_int, default=1)


def _run_args(args):
    return run(args.dataset, args.samples, args.repeats, args.neighbours, args.workers,
               args.micro_batch)
