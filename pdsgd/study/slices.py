"""One tensor-parallel worker's slice of the network against the whole, timed on one core.

Where a hardware speedup passes its ideal N, the report explains it from this
measurement rather than a guess (:mod:`pdsgd.study.speedups`): when N slices
of the hidden units cost less than the whole network at the same batch, the
split alone makes the work cheaper, the mark of a slice that fits a cache the
whole does not.
"""

from __future__ import annotations

import json
import time

import numpy as np
from threadpoolctl import threadpool_limits

from pdsgd.files import write_json
from pdsgd.machine import machine_key
from pdsgd.mlp import MLP


def slice_timing(sizes, workers, batch, repeats=5, steps=None, dtype="float64", seed=0):
    """Microseconds per SGD step at ``batch`` of the whole network and of one worker's slice.

    A tensor-parallel worker holds 1/N of the hidden units (their rows of W1,
    their columns of W2) and runs every sample of the batch on them. Timing the
    network with ``hidden // workers`` units against the whole, on one core,
    measures what the split alone does to the work: when ``advantage`` (whole
    over ``workers`` times the slice) passes 1, N slices cost less than the whole
    network, the mark of a slice that fits a cache the whole does not.

    Returns
    -------
    dict
        ``workers``, ``batch``, ``whole_us``, ``slice_us`` (medians of
        ``repeats``), ``whole_kb`` and ``slice_kb`` (weights, in kB) and
        ``advantage`` (``whole_us / (workers * slice_us)``).
    """
    sizes = tuple(sizes)
    part = (sizes[0], *(max(1, h // workers) for h in sizes[1:-1]), sizes[-1])
    rng = np.random.default_rng(seed)
    X = rng.random((batch, sizes[0])).astype(dtype)
    T = np.eye(sizes[-1], dtype=dtype)[rng.integers(0, sizes[-1], batch)]
    steps = steps or max(20, 4096 // batch)
    out = {"workers": workers, "batch": batch}
    times = {"whole": [], "slice": []}
    models = {"whole": MLP(sizes, dtype=dtype, seed=seed), "slice": MLP(part, dtype=dtype,
                                                                       seed=seed)}
    with threadpool_limits(limits=1):
        for m in models.values():
            m.sgd_step(X, T, 1e-6)  # warm the caches and lazy allocations
        for _ in range(repeats):  # interleaved, so that a burst of load hits both
            for name, m in models.items():
                start = time.perf_counter()
                for _ in range(steps):
                    m.sgd_step(X, T, 1e-6)
                times[name].append((time.perf_counter() - start) / steps * 1e6)
    for name, m in models.items():
        out[f"{name}_us"] = float(np.median(times[name]))
        out[f"{name}_kb"] = m.params.nbytes / 1000
    out["advantage"] = out["whole_us"] / (workers * out["slice_us"])
    return out


def cached_slices(pairs, sizes, path, **kw):
    """:func:`slice_timing` for each ``(workers, batch)`` pair, kept in the JSON file ``path``.

    A rerun of ``make reproduce`` reads them back (the same numbers, the same
    report); a file measured on another machine or for other sizes is measured again.
    """
    key = {"machine": machine_key(), "sizes": list(sizes)}
    try:
        with open(path) as f:
            kept = json.load(f)
    except (OSError, ValueError):
        kept = {}
    rows = {(r["workers"], r["batch"]): r for r in kept.get("rows", [])
            if kept.get("key") == key}
    missing = [p for p in dict.fromkeys(pairs) if p not in rows]
    for n, batch in missing:
        rows[(n, batch)] = slice_timing(sizes, n, batch, **kw)
    if missing:
        write_json(path, {"key": key, "rows": list(rows.values())})
    return [rows[p] for p in dict.fromkeys(pairs)]
