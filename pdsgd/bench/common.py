"""What every benchmark shares: its subcommand, its JSON output, its samples and timer.

A benchmark module defines ``run(...)`` (returns a JSON-ready dict),
``format_table(result)`` (the text printed, each number beside its baseline)
and ``add_parser(subparsers)``, which calls :func:`register` and adds its own
options.
"""

from __future__ import annotations

import time

import numpy as np

from pdsgd.data.datasets import load_dataset
from pdsgd.files import write_json


def register(subparsers, name, help, *, run, table):
    """Add ``pdsgd bench NAME``; return its parser for the benchmark's own options.

    Parameters
    ----------
    name, help : str
    run : callable
        ``run(args)``: measure with the parsed options, return a JSON-ready dict.
    table : callable
        ``table(result)``: the text to print.
    """

    def main(args):
        result = run(args)
        print(table(result))
        if args.json:
            write_json(args.json, result)
        return 0

    p = subparsers.add_parser(name, help=help)
    p.add_argument("--json", default=None, help="also write the result here")
    p.set_defaults(func=main)
    return p


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
