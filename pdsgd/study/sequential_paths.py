"""Microseconds per sample of one-sample SGD, three ways (``pdsgd bench sequential``).

1. pdsgd's batch-1 fast path (:meth:`pdsgd.mlp.MLP.step_one`): BLAS in place.
2. The same network written the usual way in NumPy: new arrays every step,
   ``np.outer`` for the weight update (Rashid's code). This is the baseline.
3. PyTorch on the CPU at batch 1, float64 and float32, when torch is installed.

All run in one process, on one core (one BLAS thread, one torch thread), on
the same samples, repeated; medians are reported.
"""

from __future__ import annotations

import time

import numpy as np
from threadpoolctl import threadpool_limits

from pdsgd.machine import machine_facts
from pdsgd.mlp import MLP


def naive_step(weights, biases, x, t, lr):
    """One SGD step written the usual way: new arrays each step, ``np.outer`` updates."""
    acts = [x]
    for w, b in zip(weights, biases):
        acts.append(1.0 / (1.0 + np.exp(-(w @ acts[-1] + b))))
    out = acts[-1]
    delta = (out - t) * out * (1.0 - out)
    for l in range(len(weights) - 1, -1, -1):
        prev = weights[l].T @ delta
        weights[l] -= lr * np.outer(delta, acts[l])
        biases[l] -= lr * delta
        delta = prev * acts[l] * (1.0 - acts[l])


def _time_interleaved(steps, X, T, repeats):
    """Microseconds per sample of each ``step(x, t)``, over all rows, repeats interleaved.

    Each repeat times every method once, one after the other, so that a burst
    of load on a shared machine hits all of them alike; the speedups are the
    medians of the per-repeat ratios to the first method.

    Returns
    -------
    dict
        ``{name: (median us/sample, median ratio first/this)}``.
    """
    for step in steps.values():
        step(X[0], T[0])  # warm caches and lazy allocations outside the timing
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            for i in range(len(X)):
                step(X[i], T[i])
            times[name].append((time.perf_counter() - start) / len(X) * 1e6)
    base = np.array(times[next(iter(steps))])
    return {name: (float(np.median(t)), float(np.median(base / np.array(t))))
            for name, t in times.items()}


def torch_step(sizes, dtype):
    """A batch-1 PyTorch SGD step on the same network, or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)  # the same single core as the NumPy paths
    torch_dtype = {"float64": torch.float64, "float32": torch.float32}[dtype]
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(n_in, n_out, dtype=torch_dtype), torch.nn.Sigmoid()]
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    loss_fn = torch.nn.MSELoss(reduction="sum")

    def step(x, t):
        opt.zero_grad()
        loss = 0.5 * loss_fn(net(torch.from_numpy(x)), torch.from_numpy(t))
        loss.backward()
        opt.step()

    return step


def run(sizes=(784, 200, 10), samples=2000, repeats=5, seed=0):
    """Measure the three ways on the same random samples.

    Returns
    -------
    dict
        ``{"rows": [{"method", "dtype", "us_per_sample", "speedup_vs_naive"}], ...}``
        with machine facts.
    """


    with threadpool_limits(limits=1):  # one core each: batch 1 gains nothing from threads
        rows = _measure(sizes, samples, repeats, seed)
    return {"sizes": list(sizes), "samples": samples, "repeats": repeats,
            "machine": machine_facts(), "rows": rows}


def _measure(sizes, samples, repeats, seed):
    rng = np.random.default_rng(seed)
    rows = []
    for dtype in ("float64", "float32"):
        X = rng.random((samples, sizes[0])).astype(dtype)
        T = np.full((samples, sizes[-1]), 0.01, dtype=dtype)
        T[np.arange(samples), rng.integers(0, sizes[-1], samples)] = 0.99
        model = MLP(sizes, dtype=dtype, seed=seed)
        naive = model.copy()
        ws = [w.copy() for w in naive.weights]
        bs = [b.copy() for b in naive.biases]
        steps = {
            "naive NumPy loop": lambda x, t, ws=ws, bs=bs: naive_step(ws, bs, x, t, 0.1),
            "pdsgd step_one": lambda x, t, m=model: m.step_one(x, t, 0.1),
        }
        torch_step_ = torch_step(sizes, dtype)
        if torch_step_ is not None:
            steps["PyTorch CPU"] = torch_step_
        found = _time_interleaved(steps, X, T, repeats)
        rows += [{"method": m, "dtype": dtype, "us_per_sample": us, "speedup_vs_naive": ratio}
                 for m, (us, ratio) in found.items()]
    return rows
