"""What the notebooks call that is neither a figure nor a widget.

The course's default sizes (small enough that every cell runs in seconds on a
2-core laptop, smaller still when ``PDSGD_QUICK=1`` is set, as the headless
notebook tests do), a gradient check against finite differences, and the
measurement of sufficient factors against whole gradients, and of barriers.
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np
from threadpoolctl import threadpool_limits

from pdsgd.engine.trace import COMPUTE, WAIT
from pdsgd.mlp import MLP, param_count

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
        ``train_size`` (P), ``epochs``, ``hidden``, ``lr`` and ``workers_grid``
        (the values of N a scaling sweep tries).
    """
    return dict(train_size=pick(1000, 300), epochs=2, hidden=(200,), lr=0.1,
                workers_grid=pick((1, 2, 4), (1, 2)))


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


def _best_time(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def measure_messages(sizes=(784, 200, 10), workers=4, repeats=20, dtype="float64", seed=0):
    """Sufficient factors against whole gradients, for one BSP iteration at batch 1.

    Each of ``workers`` workers has one sample. It either sends its
    sufficient factors (per layer the delta and the input vectors) or its
    whole gradient (a copy of every parameter). The aggregator then either
    forms the averaged update from the stacked factors (one GEMM per layer)
    or sums the ``workers`` gradients and applies them.

    Returns
    -------
    dict
        For ``"factors"`` and ``"gradients"``: ``floats`` sent per worker,
        ``worker_seconds`` (one worker computing its message) and
        ``aggregate_seconds`` (the aggregator applying all of them), best of
        ``repeats``.
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

    per_sample = sum(n_in + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=False))
    with threadpool_limits(1):  # one BLAS thread, as each worker of the engine has
        return {
            "factors": dict(
                floats=per_sample,
                worker_seconds=_best_time(lambda: model.factors(X[:1], T[:1]), repeats),
                aggregate_seconds=_best_time(
                    lambda: model.apply_factors(*stacked, -lr / workers), repeats)),
            "gradients": dict(
                floats=param_count(sizes, model.bias),
                worker_seconds=_best_time(lambda: model.gradient(X[:1], T[:1]), repeats),
                aggregate_seconds=_best_time(aggregate_gradients, repeats)),
        }


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
