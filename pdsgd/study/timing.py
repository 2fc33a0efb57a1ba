"""How the measurements time things: the samples they train on, medians of repeats.

Shared by the study's benchmarks (:mod:`pdsgd.study.busy_neighbours`,
:mod:`pdsgd.study.dask_rounds`, and the ceiling's copies) and the
command lines of ``pdsgd bench``.
"""

from __future__ import annotations

import time

import numpy as np

from pdsgd.data.datasets import load_dataset


def load_samples(dataset, samples):
    """The first ``samples`` training inputs of ``dataset`` and their targets."""
    data = load_dataset(dataset, train_size=samples)
    X = np.ascontiguousarray(data.X_train[:samples])
    return X, data.targets(data.y_train[:samples]).astype(X.dtype)


def median_rate(run, n_samples, repeats):
    """Samples per second of ``run()`` over ``n_samples``, median of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return n_samples / float(np.median(times))


def median_and_range(name, values):
    """``{name: median, name_range: [min, max]}`` of ``values``, as JSON-ready floats."""
    return {name: float(np.median(values)),
            f"{name}_range": [float(np.min(values)), float(np.max(values))]}
