"""The sweep over synchronization settings: what dropping the barrier buys, in rate and accuracy.

``pdsgd bench sync`` is the command line over :func:`run`; the study's
synchronization section (:mod:`pdsgd.study.sync_report`) and notebook 6
(:mod:`pdsgd.course.without_barrier`) measure their cells with the same functions.

Every cell trains the seed's network (784-200-10, lr 0.1) for the same number
of epochs of ``mnist-5k`` with one *setting* (BSP, SSP with s = 1, 4, 16,
async, Hogwild!), N workers and micro-batch b on the ``processes`` backend,
with or without a straggler: worker N-1 made ``factor`` times slower
(``straggler_factor``: after each forward and backward pass it stays busy
``factor - 1`` times as long as the pass took, as a slower core would).

Each cell reports its training samples/s (start-up and evaluation excluded),
its test accuracy after those equal samples, and the staleness of its
gradients (``TrainResult.staleness``: how many updates landed between a
gradient's read and its own), pooled over the repeats. Repeats are
interleaved, every cell once per round, so that a burst of load on the
machine hits all cells alike; ``vs_bsp`` is the median over rounds of the
cell's rate over BSP's in the same round and group (N, b, straggler).
"""

from __future__ import annotations

import math

import numpy as np

from pdsgd.data.datasets import Dataset, load_dataset
from pdsgd.errors import PdsgdError
from pdsgd.machine import machine_facts
from pdsgd.spec import EngineSpec
from pdsgd.train import train

SETTINGS = ("bsp", "ssp:1", "ssp:4", "ssp:16", "async", "hogwild")
GRID = {"workers": (2, 4), "micro_batch": (1, 16), "straggler_factor": (1.0, 2.0)}


def setting_options(setting):
    """``"ssp:4"`` -> ``{"sync": "ssp", "staleness": 4}``; ``"async"`` -> ``{"sync": "async"}``."""
    sync, _, bound = setting.partition(":")
    try:
        return {"sync": sync, **({"staleness": int(bound)} if bound else {})}
    except ValueError:
        raise PdsgdError(f"sync setting {setting}: the bound after ':' must be an integer, "
                         "as in ssp:4") from None


def cell_options(setting, workers, factor):
    """The :func:`pdsgd.train.train` options of one setting, with worker N-1 made ``factor``
    times slower (none with ``factor`` 1)."""
    straggler = {"straggler": workers - 1, "straggler_factor": factor} if factor != 1 else {}
    return {**setting_options(setting), **straggler}


def measure(data, setting, workers, micro_batch, factor, epochs, backend="processes",
            train_size=None):
    """Train one cell once: ``(samples/s, test accuracy, staleness counts)``.

    The counts are ``np.bincount`` of the run's staleness: entry k holds how
    many gradients were k updates stale.
    """
    result = train(data, epochs=epochs, workers=workers, micro_batch=micro_batch,
                   backend=backend, train_size=train_size, trace=False,
                   **cell_options(setting, workers, factor))
    return result.samples_per_second, result.test_accuracy, np.bincount(result.staleness)


def run(dataset="mnist-5k", epochs=2, repeats=3, workers=GRID["workers"],
        micro_batches=GRID["micro_batch"], factors=GRID["straggler_factor"], settings=SETTINGS,
        backend="processes", train_size=None, progress=print):
    """Measure the grid; return a JSON-ready dict with one row per cell.

    Parameters
    ----------
    dataset : str or Dataset
        A name for :func:`pdsgd.data.datasets.load_dataset`, or data already loaded.
    epochs : int
        Every cell trains on the same ``epochs * P`` samples.
    repeats : int
        Rounds; each trains every cell once.
    workers, micro_batches, factors : sequence
        N, b and straggler factors (1: no straggler).
    settings : sequence of str
        ``"bsp"``, ``"ssp:S"``, ``"async"``, ``"hogwild"``; ``"bsp"`` is added if
        missing (it is the baseline).
    progress : callable, optional
        Called with a line of text after each round.

    Returns
    -------
    dict
        ``rows``: per cell ``setting``, ``sync``, ``staleness_bound``, ``workers``,
        ``micro_batch``, ``straggler_factor``, ``samples_per_s`` (median) and
        ``rates`` (all), ``vs_bsp``, ``test_accuracy`` (median) and
        ``accuracies``, ``accuracy_vs_bsp`` (points), ``staleness`` (histogram,
        pooled), ``staleness_mean`` and ``staleness_max``.
    """
    settings = tuple(dict.fromkeys(("bsp", *settings)))
    cells = [(n, b, f, s) for n in workers for b in micro_batches for f in factors
             for s in settings]
    for n, b, f, s in cells:  # every mistake in one line, before anything runs
        EngineSpec(workers=n, micro_batch=b, backend=backend, **cell_options(s, n, f))
    data = (dataset if isinstance(dataset, Dataset)
            else load_dataset(dataset, train_size=train_size))
    runs = {cell: [] for cell in cells}
    for round_ in range(repeats):
        for cell in cells:
            n, b, f, s = cell
            runs[cell].append(measure(data, s, n, b, f, epochs, backend, train_size))
        if progress is not None:
            progress(f"round {round_ + 1} of {repeats} done ({len(cells)} cells)")
    rows = [summarize_cell(cell, runs[cell], runs[cell[:3] + ("bsp",)]) for cell in cells]
    return {"dataset": data.name, "epochs": epochs,
            "train_size": min(train_size or math.inf, len(data.X_train)),
            "repeats": repeats, "backend": backend, "machine": machine_facts(), "rows": rows}


def summarize_cell(cell, runs, bsp):
    """One row of :func:`run`'s table from a cell's runs and BSP's in the same rounds.

    Parameters
    ----------
    cell : tuple
        ``(N, b, straggler factor, setting)``.
    runs, bsp : list of tuple
        ``(samples/s, test accuracy, staleness counts)`` per round (:func:`measure`),
        of the cell and of BSP at the same N, b and factor; round k of one is
        compared with round k of the other.
    """
    n, b, factor, setting = cell
    rates = [r for r, _, _ in runs]
    accuracies = [a for _, a, _ in runs]
    width = max(len(c) for _, _, c in runs)
    counts = np.sum([np.pad(np.asarray(c, np.int64), (0, width - len(c))) for _, _, c in runs],
                    axis=0)
    options = setting_options(setting)
    return {"setting": setting, "sync": options["sync"],
            "staleness_bound": options.get("staleness"), "workers": n, "micro_batch": b,
            "straggler_factor": factor, "samples_per_s": float(np.median(rates)),
            "rates": rates,
            "vs_bsp": float(np.median([r / base for r, (base, _, _) in zip(rates, bsp)])),
            "test_accuracy": float(np.median(accuracies)), "accuracies": accuracies,
            "accuracy_vs_bsp": 100 * float(np.median(accuracies)
                                           - np.median([a for _, a, _ in bsp])),
            "staleness": {"staleness": list(range(width)), "count": counts.tolist()},
            "staleness_mean": float(np.arange(width) @ counts / max(counts.sum(), 1)),
            "staleness_max": int(np.flatnonzero(counts)[-1]) if counts.any() else 0}
