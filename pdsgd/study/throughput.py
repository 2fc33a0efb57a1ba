"""Samples per second of the engine, N workers by b, beside its two baselines in the same run.

Every cell trains the seed's network (784-200-10) on the same samples with one
backend, split (``parallel``: the data, or the network's hidden units) and
aggregation, N and b, inside one :class:`~pdsgd.engine.broker.Broker` (started
once and warmed up). Engines are named ``BACKEND:AGGREGATE`` for data
parallelism and ``BACKEND:tensor`` for tensor parallelism. ``pdsgd bench
scaling`` (:mod:`pdsgd.bench.scaling`) is the command line over :func:`run`.

Each cell has two speedups, each named for its baseline:

- the **seed's S**, against pdsgd's *best* sequential path at the same b (the
  batch-1 fast path ``step_one`` for b = 1, ``sgd_step`` above, with one or all
  BLAS threads, whichever measured faster at the start). This is how the seed
  defined its speedup, but the engine computes minibatch SGD with batch N b, and
  on one core a larger batch alone is faster per sample: S mixes that in.
- the **hardware speedup**, against sequential minibatch SGD at batch N b on one
  core (one BLAS thread): the same arithmetic, the same weights after every step
  (:func:`hardware_baseline`). Its ideal is N on N cores.

Each cell times the engine and both sequential paths alternately, ``repeats``
times, so that a burst of load on a shared machine hits all alike: each speedup
is the median of the per-repeat ratios (the spread is their range). A timing
lasts at least :data:`MIN_SECONDS` (every side trains the same number of passes
over the samples). The ``ceiling`` is what the machine itself allows: in every
repeat of a cell with N >= 2, min(N, cores) copies of the sequential path run at
once (:mod:`pdsgd.study.ceiling`), their combined rate over the sequential
path's in the same repeat.
"""

from __future__ import annotations

import contextlib
import os
import time

import numpy as np
import psutil
from threadpoolctl import threadpool_limits

from pdsgd.engine.broker import Broker
from pdsgd.engine.sequential import SequentialRunner
from pdsgd.engine.strategies import TENSOR
from pdsgd.errors import PdsgdError
from pdsgd.machine import machine_facts, usable_cores
from pdsgd.mlp import MLP
from pdsgd.spec import HOSTINGS

# The module, not its names: it imports pdsgd.bench, whose commands import this module.
from pdsgd.study import ceiling as machine_ceiling
from pdsgd.study.timing import load_samples, median_and_range, median_rate

GRID = {"workers": (1, 2, 4, 8), "micro_batch": (1, 16),
        "engines": ("serial:central", "threads:central", "threads:replicated",
                    "processes:central", "processes:replicated", "processes:tensor")}
#: Shortest timing: passes over the samples are repeated until the sequential path takes this long.
MIN_SECONDS = 0.25


def parse_engine(text):
    """``BACKEND:AGGREGATE`` or ``BACKEND:tensor`` as ``(backend, parallel, aggregate)``."""
    backend, sep, mode = text.partition(":")
    if not sep or not backend or not mode:
        raise PdsgdError(f"--engines {text}: write BACKEND:AGGREGATE or BACKEND:tensor, "
                         "e.g. processes:replicated,processes:tensor")
    if mode == TENSOR:
        return backend, TENSOR, None
    return backend, "data", mode


def hardware_baseline(model, X, T, workers, micro_batch):
    """The hardware speedup's baseline: sequential minibatch SGD at batch ``workers * b``.

    BSP with N workers of micro-batch b computes exactly this run's weights over
    the same sample order (the tests check it to 1e-12), so the two do the same
    arithmetic and only the time differs. Run it with one BLAS thread: one core.
    """
    return SequentialRunner(model, X, T, workers * micro_batch)


def sequential_rates(X, T, micro_batch, repeats, sizes):
    """Samples/s of the sequential runner with one BLAS thread and with all; and the naive loop."""
    from pdsgd.study.sequential_paths import naive_step, torch_step

    order = np.arange(len(X))
    out = {}
    for threads in (1, None):
        with threadpool_limits(limits=threads):
            runner = SequentialRunner(MLP(sizes), X, T, micro_batch)
            runner.run_epoch(order[:64 * micro_batch], 0.1)  # warm-up
            out[f"sequential ({threads or 'all'} BLAS threads)"] = median_rate(
                lambda r=runner: r.run_epoch(order, 0.1), len(X), repeats)
    if micro_batch == 1:
        m = MLP(sizes)
        ws, bs = [w.copy() for w in m.weights], [b.copy() for b in m.biases]

        def naive():
            for i in range(len(X)):
                naive_step(ws, bs, X[i], T[i], 0.1)

        out["naive NumPy loop"] = median_rate(naive, len(X), repeats)
        step = torch_step(sizes, X.dtype.name)
        if step is not None:  # PyTorch CPU at batch 1, when installed
            out["PyTorch CPU"] = median_rate(
                lambda: [step(X[i], T[i]) for i in range(len(X))], len(X), repeats)
    return out


def _broker(X, T, sizes, backend, parallel, aggregate, workers, micro_batch, trace=True,
            hosting="cores"):
    return Broker(MLP(sizes), X, T, workers=workers, micro_batch=micro_batch, backend=backend,
                  parallel=parallel, aggregate=aggregate, trace=trace, span=4096,
                  hosting=hosting)


def engine_rate(X, T, backend, aggregate, workers, micro_batch, repeats, sizes, trace=True,
                parallel="data"):
    """Samples/s of one engine cell (median of ``repeats``), and the memory (MB) of its tree."""
    order = np.arange(len(X))
    with _broker(X, T, sizes, backend, parallel, aggregate, workers, micro_batch,
                 trace) as broker:
        broker.run_epoch(order[:64 * workers * micro_batch], 0.1)  # warm-up: workers started
        rate = median_rate(lambda: broker.run_epoch(order, 0.1), len(X), repeats)
        memory = _tree_memory_mb()
    return rate, memory


def engine_cell(X, T, engine, workers, micro_batch, repeats, sizes, threads=1,
                min_seconds=MIN_SECONDS, copies=None, hosting="cores"):
    """One cell, its repeats interleaved with both baselines' (and the ceiling's).

    The seed's baseline is the sequential path at b with ``threads`` BLAS
    threads; the hardware baseline is :func:`hardware_baseline` (batch N b) with
    one. Each timing repeats passes over the samples until the sequential path
    at b takes ``min_seconds`` (measured on a warm-up pass); every side runs as
    many. ``hosting`` is the processes backend's (``cores`` or ``workers``:
    :attr:`pdsgd.spec.EngineSpec.hosting`). With ``copies`` (a
    :class:`~pdsgd.study.ceiling.Copies` prepared for ``micro_batch``) and
    N >= 2, every repeat also times min(N, copies) sequential copies at once:
    the machine's ceiling in the same moments.

    Returns
    -------
    dict
        ``samples_per_s`` (engine, median), ``sequential_per_s`` (the sequential
        path at b), ``speedup`` (the seed's S: median of the per-repeat ratios)
        and ``speedup_range``; ``hardware_per_s`` (sequential at batch N b),
        ``hardware_speedup`` and ``hardware_speedup_range``; ``memory_mb``; with
        the ceiling also ``copies``, ``ceiling``, ``ceiling_range`` and
        ``of_ceiling`` (median of the per-repeat speedups over the ceiling).
    """
    backend, parallel, aggregate = parse_engine(engine)
    order = np.arange(len(X))
    sequential = SequentialRunner(MLP(sizes), X, T, micro_batch)
    same = hardware_baseline(MLP(sizes), X, T, workers, micro_batch)
    engine_s, sequential_s, same_s, ceilings = [], [], [], []
    k = min(workers, copies.count) if copies is not None else 0
    with _broker(X, T, sizes, backend, parallel, aggregate, workers, micro_batch,
                 hosting=hosting) as broker:
        broker.run_epoch(order[:64 * workers * micro_batch], 0.1)  # warm-up: workers started
        with threadpool_limits(limits=1):
            same.run_epoch(order[:64 * workers * micro_batch], 0.1)
        with threadpool_limits(limits=threads):
            passes = _passes(lambda: sequential.run_epoch(order, 0.1), min_seconds)
        for _ in range(repeats):
            with threadpool_limits(limits=threads):
                sequential_s.append(_seconds(lambda: sequential.run_epoch(order, 0.1), passes))
            engine_s.append(_seconds(lambda: broker.run_epoch(order, 0.1), passes))
            with threadpool_limits(limits=1):
                same_s.append(_seconds(lambda: same.run_epoch(order, 0.1), passes))
            if k >= 2:
                ceilings.append(machine_ceiling.ceiling(sequential_s[-1],
                                                        copies.together(passes, k)))
        memory = _tree_memory_mb()
    ratios = np.array(sequential_s) / np.array(engine_s)
    row = {"backend": backend, "parallel": parallel, "aggregate": broker.spec.aggregate,
           "workers": workers, "micro_batch": micro_batch,
           "hosting": hosting if backend == "processes" else None,
           "samples_per_s": passes * len(X) / float(np.median(engine_s)),
           "sequential_per_s": passes * len(X) / float(np.median(sequential_s)),
           "hardware_per_s": passes * len(X) / float(np.median(same_s)),
           "passes": passes, **median_and_range("speedup", ratios),
           **median_and_range("hardware_speedup", np.array(same_s) / np.array(engine_s)),
           "memory_mb": memory}
    if ceilings:  # per repeat: a moment when the machine was slow lowers both alike
        row.update(copies=k, **median_and_range("ceiling", ceilings),
                   of_ceiling=float(np.median(ratios / np.array(ceilings))))
    return row


def _seconds(run, passes=1):
    start = time.perf_counter()
    for _ in range(passes):
        run()
    return time.perf_counter() - start


def _passes(run, min_seconds):
    """How many calls of ``run`` (a warm-up pass, timed) last ``min_seconds``."""
    return max(1, int(np.ceil(min_seconds / max(_seconds(run), 1e-9))))


def _tree_memory_mb():
    """Unique memory of this process and its children, plus shared memory counted once."""

    me = psutil.Process()
    total = 0
    for p in [me, *me.children(recursive=True)]:
        try:
            if "resource_tracker" in " ".join(p.cmdline()):
                continue
            info = p.memory_full_info()
            total += info.uss
        except psutil.Error:
            pass
    # Shared pages are in no process's unique set: add our shared blocks once.
    prefix = f"pdsgd_{os.getpid()}_"
    if os.path.isdir("/dev/shm"):
        total += sum(os.stat(os.path.join("/dev/shm", n)).st_size
                     for n in os.listdir("/dev/shm") if n.startswith(prefix))
    return total / 2**20


def run(dataset="mnist-5k", samples=2000, repeats=3, workers=GRID["workers"],
        micro_batches=GRID["micro_batch"], engines=GRID["engines"], progress=print,
        min_seconds=MIN_SECONDS, with_ceiling=True, on_row=None, hostings=("cores",)):
    """Measure the grid; return a JSON-ready dict (rows, baselines, machine facts).

    Every ``processes`` engine is measured with each of ``hostings`` (one
    process per core, or one per worker: :attr:`pdsgd.spec.EngineSpec.hosting`).

    With ``with_ceiling``, cells with N >= 2 also time min(N, cores) copies of
    the sequential path at once in every repeat (:mod:`pdsgd.study.ceiling`).
    ``progress`` receives one line per b, ``on_row`` each cell's row as it is
    measured (``pdsgd bench scaling`` prints it as a line of its table).
    """
    for engine in engines:
        parse_engine(engine)  # a typo fails before anything is measured
    for hosting in hostings:
        if hosting not in HOSTINGS:
            raise PdsgdError(f"--hosting {hosting}: write cores, workers or cores,workers")
    X, T = load_samples(dataset, samples)
    sizes = (X.shape[1], 200, T.shape[1])
    result = {"dataset": dataset, "samples": len(X), "repeats": repeats,
              "sizes": list(sizes), "machine": machine_facts(), "baselines": {}, "rows": [],
              "min_seconds": min_seconds}
    count = min(max(workers), usable_cores()) if with_ceiling else 0
    with contextlib.ExitStack() as stack:
        copies = (stack.enter_context(machine_ceiling.Copies(dataset, len(X), sizes, count))
                  if count > 1
                  else None)
        for b in micro_batches:
            if copies is not None:  # first: once it returns they are up, and idle
                copies.prepare(b)
            base = sequential_rates(X, T, b, repeats, sizes)
            one, every = base["sequential (1 BLAS threads)"], base["sequential (all BLAS threads)"]
            threads = 1 if one >= every else usable_cores()
            result["baselines"][b] = {**base, "best sequential": max(one, every)}
            progress(f"b={b}: best sequential {max(one, every):,.0f} samples/s "
                     f"({'one BLAS thread' if threads == 1 else 'all BLAS threads'})")
            cells = [(engine, hosting) for engine in engines
                     for hosting in (hostings if engine.startswith("processes:") else ("cores",))]
            for engine, hosting in cells:
                for n in workers:
                    row = engine_cell(X, T, engine, n, b, repeats, sizes, threads, min_seconds,
                                      copies, hosting)
                    for key, name in (("vs_naive", "naive NumPy loop"),
                                      ("vs_torch", "PyTorch CPU")):
                        if name in base:
                            row[key] = row["samples_per_s"] / base[name]
                    result["rows"].append(row)
                    if on_row is not None:
                        on_row(row)
    return result


def trace_overhead(dataset="mnist-5k", samples=2000, repeats=5, workers=2, micro_batch=1,
                   backend="processes", aggregate="replicated"):
    """Run time with the trace recorded over run time without it, minus 1 (median of pairs)."""
    X, T = load_samples(dataset, samples)
    sizes = (X.shape[1], 200, T.shape[1])
    ratios = []
    for _ in range(repeats):
        on, _ = engine_rate(X, T, backend, aggregate, workers, micro_batch, 1, sizes, True)
        off, _ = engine_rate(X, T, backend, aggregate, workers, micro_batch, 1, sizes, False)
        ratios.append(off / on - 1.0)
    return float(np.median(ratios))
