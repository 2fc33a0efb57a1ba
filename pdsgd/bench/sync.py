"""``pdsgd bench sync``: what dropping the barrier buys, in samples/s and in accuracy.

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

import numpy as np

from pdsgd.arguments import int_list, positive_int
from pdsgd.bench.common import register
from pdsgd.data.datasets import load_dataset
from pdsgd.engine.sync import histogram
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
        raise PdsgdError(f"--settings {setting}: the bound after ':' must be an integer, "
                         "as in ssp:4") from None


def measure(data, setting, workers, micro_batch, factor, epochs, backend="processes"):
    """Train one cell once: ``(samples/s, test accuracy, staleness array)``."""
    straggler = {"straggler": workers - 1, "straggler_factor": factor} if factor != 1 else {}
    result = train(data, epochs=epochs, workers=workers, micro_batch=micro_batch,
                   backend=backend, trace=False, **setting_options(setting), **straggler)
    return result.samples_per_second, result.test_accuracy, result.staleness


def run(dataset="mnist-5k", epochs=2, repeats=3, workers=GRID["workers"],
        micro_batches=GRID["micro_batch"], factors=GRID["straggler_factor"], settings=SETTINGS,
        backend="processes", train_size=None, progress=print):
    """Measure the grid; return a JSON-ready dict with one row per cell.

    Parameters
    ----------
    dataset : str
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
        straggler = {"straggler": n - 1, "straggler_factor": f} if f != 1 else {}
        EngineSpec(workers=n, micro_batch=b, backend=backend, **setting_options(s), **straggler)
    data = load_dataset(dataset, train_size=train_size)
    runs = {cell: [] for cell in cells}
    for round_ in range(repeats):
        for cell in cells:
            n, b, f, s = cell
            runs[cell].append(measure(data, s, n, b, f, epochs, backend))
        if progress is not None:
            progress(f"round {round_ + 1} of {repeats} done ({len(cells)} cells)")
    rows = [_row(cell, runs[cell], runs[cell[:3] + ("bsp",)]) for cell in cells]
    return {"dataset": dataset, "train_size": len(data.X_train), "epochs": epochs,
            "repeats": repeats, "backend": backend, "machine": machine_facts(), "rows": rows}


def _row(cell, runs, bsp):
    n, b, factor, setting = cell
    rates = [r for r, _, _ in runs]
    accuracies = [a for _, a, _ in runs]
    pooled = np.concatenate([s for _, _, s in runs])
    options = setting_options(setting)
    return {"setting": setting, "sync": options["sync"],
            "staleness_bound": options.get("staleness"), "workers": n, "micro_batch": b,
            "straggler_factor": factor, "samples_per_s": float(np.median(rates)),
            "rates": rates,
            "vs_bsp": float(np.median([r / base for r, (base, _, _) in zip(rates, bsp)])),
            "test_accuracy": float(np.median(accuracies)), "accuracies": accuracies,
            "accuracy_vs_bsp": 100 * float(np.median(accuracies)
                                           - np.median([a for _, a, _ in bsp])),
            "staleness": histogram(pooled), "staleness_mean": float(pooled.mean()),
            "staleness_max": int(pooled.max())}


def format_table(result):
    """The result of :func:`run` as a fixed-width table, grouped by N, b and straggler."""
    lines = [f"sync settings, {result['dataset']} ({result['train_size']} samples x "
             f"{result['epochs']} epochs), {result['backend']}, median of "
             f"{result['repeats']} interleaved rounds",
             f"{'setting':<9} {'N':>2} {'b':>3} {'straggler':>9} {'samples/s':>10} "
             f"{'vs BSP':>7} {'test acc':>8} {'vs BSP':>8} {'stale mean':>10} {'max':>5}"]
    group = None
    for r in result["rows"]:
        key = (r["workers"], r["micro_batch"], r["straggler_factor"])
        if key != group:
            group = key
            lines.append("")
        straggler = f"{r['straggler_factor']:g}x" if r["straggler_factor"] != 1 else "-"
        lines.append(f"{r['setting']:<9} {r['workers']:>2} {r['micro_batch']:>3} "
                     f"{straggler:>9} {r['samples_per_s']:>10,.0f} {r['vs_bsp']:>6.2f}x "
                     f"{r['test_accuracy']:>8.4f} {r['accuracy_vs_bsp']:>+7.1f}p "
                     f"{r['staleness_mean']:>10.2f} {r['staleness_max']:>5}")
    return "\n".join(lines)


def add_parser(subparsers):
    """Register ``pdsgd bench sync``."""
    p = register(subparsers, "sync", "samples/s, accuracy and staleness of BSP, SSP, async "
                 "and Hogwild!, with and without a straggler", run=_run_args,
                 table=format_table)
    p.add_argument("--dataset", default="mnist-5k")
    p.add_argument("--train-size", type=positive_int, default=None, metavar="P")
    p.add_argument("--epochs", type=positive_int, default=2)
    p.add_argument("--repeats", type=positive_int, default=3)
    p.add_argument("--workers", type=int_list, default=GRID["workers"], metavar="2,4")
    p.add_argument("--micro-batch", type=int_list, default=GRID["micro_batch"], metavar="1,16")
    p.add_argument("--straggler-factor", type=_factors, default=GRID["straggler_factor"],
                   metavar="1,2", help="1: no straggler; F: worker N-1 computes F times slower")
    p.add_argument("--settings", type=lambda s: tuple(s.split(",")), default=SETTINGS,
                   metavar="bsp,ssp:4,async,hogwild")
    p.add_argument("--backend", choices=("serial", "threads", "processes"), default="processes")


def _factors(text):
    return tuple(float(part) for part in text.split(","))


def _run_args(args):
    return run(args.dataset, args.epochs, args.repeats, args.workers, args.micro_batch,
               args.straggler_factor, args.settings, args.backend, args.train_size)
