"""What the notebooks call that is neither a figure nor a widget.

The course's default sizes (small enough that every cell runs in seconds on a
2-core laptop, smaller still when ``PDSGD_QUICK=1`` is set, as the headless
notebook tests do), a gradient check against finite differences, the
measurement of sufficient factors against whole gradients and of barriers
(medians of interleaved repeats, with their spread), and tables that name
their columns: a trace, and where an iteration's time went.
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from pdsgd.mlp import MLP, param_count
from pdsgd.study.costmodel import bytes_moved
from pdsgd.train import train
from pdsgd.train.result import COMPUTE, WAIT

QUICK_ENV = "PDSGD_QUICK"


def quick():
    """True when ``PDSGD_QUICK`` is set (to anything but ``0``): the tests' tiny sizes."""
    return os.environ.get(QUICK_ENV, "") not in ("", "0")


def pick(normal, quick_value):
    """``normal`` for a reader, ``quick_value`` when the notebooks run as tests."""
    return quick_value if quick() else normal


def defaults():
    """The course's default run: the seed's network, on few samples and few epochs.

    Returns
    -------
    dict
        ``train_size`` (P), ``epochs``, ``hidden``, ``lr``, ``workers_grid``
        (the values of N a scaling sweep tries) and ``repeats`` (how many
        times a timing is repeated; medians are reported).
    """
    return dict(train_size=pick(1000, 300), epochs=2, hidden=(200,), lr=0.1,
                workers_grid=pick((1, 2, 4), (1, 2)), repeats=pick(3, 2))


def crossing_line(config):
    """What crossed between the workers per iteration of a run, in one line.

    ``config`` is a run's ``TrainResult.config``; the count comes from
    :func:`pdsgd.engine.traffic.numbers_per_iteration`, e.g. "parallel = tensor,
    N = 2, b = 1: 40 numbers (320 bytes) cross between the workers per iteration,
    over 1 barrier crossing: partial sums: ...".
    """
    moved = bytes_moved(config)
    crossings = moved["crossings"]
    return (f"parallel = {config.get('parallel', 'data')}, N = {config['workers']}, "
            f"b = {config['micro_batch']}: {moved['numbers']:,} numbers ({moved['bytes']:,} "
            f"bytes) cross between the workers per iteration, over {crossings} barrier "
            f"crossing{'s' * (crossings != 1)}: {moved['what']}")


def gradient_check(model, X, T, n_checks=8, eps=1e-6, seed=0):
    """Compare :meth:`MLP.gradient` with central finite differences on a few parameters.

    Parameters
    ----------
    model : MLP
    X, T : ndarray
        A small batch and its targets.
    n_checks : int, default 8
        How many parameters (drawn at random) to check.
    eps : float, default 1e-6
        The finite-difference step.

    Returns
    -------
    dict of ndarray
        ``index``, ``backprop``, ``finite_difference`` and ``relative_error``
        (``|a - b| / max(|a| + |b|, 1e-12)``) for each checked parameter.
    """
    grad = model.gradient(X, T)
    index = np.random.default_rng(seed).choice(len(model.params), n_checks, replace=False)
    numeric = np.empty(n_checks)
    for k, i in enumerate(index):
        keep = model.params[i]
        model.params[i] = keep + eps
        plus = model.loss(X, T)
        model.params[i] = keep - eps
        minus = model.loss(X, T)
        model.params[i] = keep
        numeric[k] = (plus - minus) / (2 * eps)
    exact = grad[index]
    error = np.abs(exact - numeric) / np.maximum(np.abs(exact) + np.abs(numeric), 1e-12)
    return dict(index=index, backprop=exact, finite_difference=numeric, relative_error=error)


def interleaved(fns, repeats):
    """Time each of ``fns`` (``{name: callable}``) ``repeats`` times, taking turns.

    One round calls every function once, then the next round starts: a burst
    of load from elsewhere on the machine then hits all of them alike, not
    one. Report medians, and the spread, of what this returns.

    Returns
    -------
    dict of ndarray
        ``{name: seconds of each call}``.
    """
    times = {name: np.empty(repeats) for name in fns}
    for r in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name][r] = time.perf_counter() - start
    return times


def spread(seconds):
    """``{"median", "low", "high"}`` of a sample of timings (low and high: its extremes)."""
    seconds = np.asarray(seconds, dtype=float)
    return {"median": float(np.median(seconds)), "low": float(seconds.min()),
            "high": float(seconds.max())}


def measure_messages(sizes=(784, 200, 10), workers=4, repeats=21, dtype="float64", seed=0):
    """Sufficient factors against whole gradients, for one BSP iteration at batch 1.

    Each of ``workers`` workers has one sample. It either sends its
    sufficient factors (per layer the delta and the input vectors) or its
    whole gradient (a copy of every parameter). The aggregator then either
    forms the averaged update from the stacked factors (one GEMM per layer)
    or sums the ``workers`` gradients and applies them. The four timings
    take turns (:func:`interleaved`).

    Returns
    -------
    dict
        For ``"factors"`` and ``"gradients"``: ``floats`` sent per worker,
        ``worker_seconds`` (one worker computing its message) and
        ``aggregate_seconds`` (the aggregator applying all of them), medians
        of ``repeats``, and ``worker_spread`` and ``aggregate_spread``
        (:func:`spread`).
    """
    model = MLP(sizes, dtype=dtype, seed=seed)
    rng = np.random.default_rng(seed)
    X = rng.random((workers, sizes[0])).astype(model.dtype)
    T = np.full((workers, sizes[-1]), 0.01, dtype=model.dtype)
    T[np.arange(workers), rng.integers(0, sizes[-1], workers)] = 0.99
    lr = 0.1
    messages = [model.factors(X[i:i + 1], T[i:i + 1]) for i in range(workers)]
    stacked = ([np.vstack([m[0][l] for m in messages]) for l in range(model.n_layers)],
               [np.vstack([m[1][l] for m in messages]) for l in range(model.n_layers)])
    grads = [model.gradient(X[i:i + 1], T[i:i + 1]) for i in range(workers)]
    total = np.empty_like(model.params)

    def aggregate_gradients():
        total[:] = grads[0]
        for g in grads[1:]:
            np.add(total, g, out=total)
        model.params -= (lr / workers) * total

    with threadpool_limits(1):  # one BLAS thread, as each worker of the engine has
        times = interleaved({
            "factors worker": lambda: model.factors(X[:1], T[:1]),
            "factors aggregate": lambda: model.apply_factors(*stacked, -lr / workers),
            "gradients worker": lambda: model.gradient(X[:1], T[:1]),
            "gradients aggregate": aggregate_gradients}, repeats)
    per_sample = sum(n_in + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=False))
    floats = {"factors": per_sample, "gradients": param_count(sizes, model.bias)}
    out = {}
    for kind in ("factors", "gradients"):
        worker, aggregate = spread(times[f"{kind} worker"]), spread(times[f"{kind} aggregate"])
        out[kind] = dict(floats=floats[kind], worker_seconds=worker["median"],
                         aggregate_seconds=aggregate["median"], worker_spread=worker,
                         aggregate_spread=aggregate)
    return out


def lr_rule_sweep(data, batches=(1, 2, 4, 8, 16, 32, 64), *, lr=0.1, epochs=3,
                  warmup_epochs=1, train_size=None, hidden=(200,), seed=0):
    """Test accuracy against the batch ``N*b``: the seed's fixed rate, Goyal et al.'s
    linear rule, and the linear rule with their gradual warm-up.

    Each run is minibatch SGD with batch B in one process: the very arithmetic
    of BSP with N workers of micro-batch b, ``N*b = B`` (notebook 02 checks
    it), at a fraction of the time.

    Returns
    -------
    pandas.DataFrame
        One row per batch: the linear rule's rate, and the test accuracy of each rule.
    """
    def accuracy(batch, **rule):
        return train(data, micro_batch=batch, lr=lr, epochs=epochs, train_size=train_size,
                     hidden=hidden, seed=seed, **rule).test_accuracy

    rows = []
    for batch in batches:
        fixed = accuracy(batch)
        linear = accuracy(batch, lr_rule="linear") if batch > 1 else fixed
        warm = (accuracy(batch, lr_rule="linear", warmup_epochs=warmup_epochs)
                if batch > 1 and warmup_epochs else linear)
        rows.append({"batch N x b": batch, "fixed rate": lr, "accuracy, fixed": fixed,
                     "linear rate": lr * batch, "accuracy, linear": linear,
                     f"accuracy, linear + {warmup_epochs}-epoch warm-up": warm})
    return pd.DataFrame(rows).set_index("batch N x b").round(3)


def measure_thread_barrier(parties=2, crossings=2000):
    """Seconds per crossing of a :class:`threading.Barrier` by ``parties`` threads doing
    nothing else (the median over ``crossings``, seen from the first thread)."""

    barrier = threading.Barrier(parties)
    times = np.empty(crossings)

    def other():
        for _ in range(crossings + 1):
            barrier.wait()

    threads = [threading.Thread(target=other, daemon=True) for _ in range(parties - 1)]
    for t in threads:
        t.start()
    barrier.wait()  # everyone has started
    for k in range(crossings):
        start = time.perf_counter()
        barrier.wait()
        times[k] = time.perf_counter() - start
    for t in threads:
        t.join()
    return float(np.median(times))


def crossing_cost(trace):
    """The cost of one barrier crossing, read off an engine run's trace.

    In every iteration the *last* worker to arrive at the barrier does not wait
    for anyone: the time it spends in the barrier-wait phase is the price of
    the crossing itself. Returns the median over iterations of the shortest
    wait of any worker, in seconds (with ``aggregate="central"`` the wait also
    holds the broker's update of the weights).
    """

    rows = trace[(trace["phase"] == WAIT) & (trace["worker"] >= 0)]
    if len(rows) == 0:
        return float("nan")
    waits = rows["end"] - rows["start"]
    its, inverse = np.unique(rows["iteration"], return_inverse=True)
    shortest = np.full(len(its), np.inf)
    np.minimum.at(shortest, inverse, waits)
    return float(np.median(shortest))


def wait_breakdown(trace, worker=0, long=1e-3):
    """A worker's barrier wait per iteration, split into the crossing and waiting for others.

    In every iteration the last worker to arrive waits for no one: its wait
    (the shortest of the iteration, as in :func:`crossing_cost`) is what the
    barrier itself costs. ``worker`` waits that long too, plus the time until
    the last of the others arrived. Means per iteration, so that the parts add
    up to the wait of :func:`pdsgd.course.tables.time_budget`.

    Returns
    -------
    dict
        ``wait`` (seconds per iteration), ``crossing`` (the last arrival's wait),
        ``behind`` (``wait - crossing``: waiting for a later worker),
        ``iterations``, and ``long_count`` / ``long_share``: the iterations in
        which the worker waited more than ``long`` seconds (a partner taken
        off its core for a time slice) and their share of the whole wait.
    """
    rows = trace[(trace["phase"] == WAIT) & (trace["worker"] >= 0)]
    its = np.unique(trace["iteration"])
    workers = np.unique(rows["worker"])
    waits = np.zeros((len(workers), len(its)))  # per worker and iteration, summed
    np.add.at(waits, (np.searchsorted(workers, rows["worker"]),
                      np.searchsorted(its, rows["iteration"])), rows["end"] - rows["start"])
    mine = waits[np.searchsorted(workers, worker)]
    shortest = waits.min(axis=0)
    total = max(float(mine.sum()), 1e-300)
    return {"iterations": len(its), "wait": float(mine.mean()),
            "crossing": float(shortest.mean()), "behind": float((mine - shortest).mean()),
            "long_count": int((mine > long).sum()),
            "long_share": float(mine[mine > long].sum() / total)}


def iteration_profile(trace):
    """Median seconds per iteration, read off an engine run's trace.

    Returns
    -------
    dict
        ``iteration`` (first start to last end of an iteration, all parties),
        ``compute`` (one worker's forward and backward pass) and ``crossing``
        (:func:`crossing_cost`).
    """

    its, inverse = np.unique(trace["iteration"], return_inverse=True)
    first = np.full(len(its), np.inf)
    last = np.full(len(its), -np.inf)
    np.minimum.at(first, inverse, trace["start"])
    np.maximum.at(last, inverse, trace["end"])
    compute = trace[trace["phase"] == COMPUTE]
    return {"iteration": float(np.median(last - first)),
            "compute": float(np.median(compute["end"] - compute["start"])),
            "crossing": crossing_cost(trace)}
