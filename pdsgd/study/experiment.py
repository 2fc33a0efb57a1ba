"""The experiment runner: a grid of training runs, each cached on disk, resumable.

A *cell* is one training run: P samples, N workers, a backend, a micro-batch,
a parallel strategy, a learning-rate rule, a number of epochs and a repeat index
(and, for the synchronization study, a ``sync`` setting and a straggler). Each finished
cell is written as one JSON record under the cache directory, atomically and
named by a hash of everything that determines its result (the cell, the
shared settings, the dataset, the code's cache version and the machine). So:

- a second run finds every record and trains nothing;
- an interrupted run loses only the cell it was in: the others are on disk,
  and the next run does only what is missing;
- records measured on another machine, or by code whose measurements mean
  something else (bump :data:`CACHE_VERSION`), are never mistaken for ours.

Repeats are run interleaved (every cell once, then every cell again), so that
a burst of load from another program spoils one repeat of several cells
rather than every repeat of one; :func:`summarize` reports medians.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from pdsgd import __version__
from pdsgd.engine import trace as tr
from pdsgd.engine.strategies import TENSOR
from pdsgd.engine.sync import histogram
from pdsgd.files import write_json, write_npz
from pdsgd.machine import machine_facts as engine_facts
from pdsgd.machine import machine_key
from pdsgd.study.sync_sweep import cell_options
from pdsgd.train import train

# Bump when a change to the code makes cached measurements wrong or incomparable.
CACHE_VERSION = 5  # 5: hosted workers past the cores

SEED_SETTINGS = dict(hidden=[200], lr=0.1, dtype="float64", seed=0, bias=True)

#: How the engine splits the work: a cell's ``strategy`` names one of these, and
#: its value is what :func:`pdsgd.train.train` is given for it. ``data`` is the
#: seed's data parallelism (each worker its own samples, their updates averaged);
#: ``tensor`` splits the network by its hidden units instead (every worker all the
#: samples, on its own units: :mod:`pdsgd.engine.tensor`).
#: A new engine strategy is one more entry here (and a name in a profile's
#: ``strategies``): the study times it, draws it as its own curve and sets the
#: seed's claims against it.
STRATEGIES = {"data": {}, TENSOR: {"parallel": TENSOR}}


@dataclass(frozen=True)
class Cell:
    """One training run of the grid.

    ``backend=None`` with one worker is the sequential reference, T(1), of
    every strategy at its micro-batch. ``strategy`` is a key of :data:`STRATEGIES`.
    ``keep_trace`` and ``keep_model`` store the run's trace and model beside its
    record (for the timeline figure and the seed's saved model). ``sync`` is a
    setting of ``pdsgd bench sync`` (``"bsp"``, ``"ssp:4"``, ``"async"``,
    ``"hogwild"``) and ``straggler_factor`` makes worker N-1 that many times
    slower (:func:`pdsgd.study.sync_sweep.cell_options`).
    """

    train_size: int
    workers: int = 1
    backend: str | None = None
    micro_batch: int = 1
    strategy: str = "data"
    lr_rule: str = "fixed"
    epochs: int = 5
    repeat: int = 0
    keep_trace: bool = False
    keep_model: bool = False
    sync: str = "bsp"
    straggler_factor: float = 1.0

    def label(self):
        """A short readable name, used in file names and progress bars."""
        keep = ("-trace" if self.keep_trace else "") + ("-model" if self.keep_model else "")
        strategy = "" if self.strategy == "data" else f"-{self.strategy}"
        sync = "" if self.sync == "bsp" else f"-{self.sync.replace(':', '')}"
        slow = "" if self.straggler_factor == 1 else f"-slow{self.straggler_factor:g}x"
        return (f"P{self.train_size}-N{self.workers}-{self.backend or 'seq'}-b{self.micro_batch}"
                f"{strategy}{sync}{slow}-{self.lr_rule}-e{self.epochs}-r{self.repeat}{keep}")

    def options(self):
        """What :func:`pdsgd.train.train` is given for the cell's strategy, sync and straggler."""
        extra = {} if self.sync == "bsp" and self.straggler_factor == 1 else cell_options(
            self.sync, self.workers, self.straggler_factor)
        return {**STRATEGIES[self.strategy], **extra}

    def group(self):
        """The cell's parameters without the repeat index (what repeats share)."""
        d = asdict(self)
        for k in ("repeat", "keep_trace", "keep_model"):
            d.pop(k)
        return d


def machine_facts():
    """:func:`pdsgd.machine.machine_facts`, and the one BLAS thread per process every cell uses."""
    return {**engine_facts(), "blas_threads_per_process": 1}  # see run_cell


def dataset_id(data):
    """Name and shape of a loaded dataset: enough to tell two datasets apart in the cache."""
    return {"name": data.name, "train": int(len(data.X_train)), "test": int(len(data.X_test)),
            "features": int(data.X_train.shape[1])}


def cell_key(cell, data_id, settings):
    """The hash that names a cell's record (see the module docstring)."""

    fields = asdict(cell)
    # The synchronization fields came later: at their defaults they stay out of the key, so
    # the cells cached before them keep their names.
    for name in ("sync", "straggler_factor"):
        if fields[name] == Cell.__dataclass_fields__[name].default:
            del fields[name]
    # The strategy's options too: redefining what a strategy runs changes its cells.
    blob = json.dumps({"cell": fields, "strategy": STRATEGIES.get(cell.strategy),
                       "data": data_id, "settings": settings,
                       "cache_version": CACHE_VERSION, "pdsgd": __version__,
                       "machine": machine_key()}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def phase_summary(trace):
    """Mean seconds per iteration of compute and barrier wait (per worker) and aggregation.

    Returns None for an empty or missing trace (the sequential reference has none).
    """
    if trace is None or len(trace) == 0:
        return None

    per = tr.summarize(trace)
    iterations = len(np.unique(trace["iteration"]))
    workers = [w for w in per if w != tr.AGGREGATOR]

    def mean(phase, who):
        return float(np.mean([per[w][phase] for w in who])) / iterations if who else 0.0

    # A central aggregator records under its own id; replicas aggregate on every worker.
    agg_from = [tr.AGGREGATOR] if tr.AGGREGATOR in per else workers
    return {"compute": mean("compute", workers), "wait": mean("barrier wait", workers),
            "aggregate": mean("aggregate", agg_from), "iterations": iterations}


def run_cell(cell, data, settings, cache_dir, train_fn, progress=False):
    """Train one cell and write its record (and trace/model if asked); return the record."""

    start = time.perf_counter()
    # One BLAS thread, as each of the engine's workers has: a fair T(1), and on a busy
    # machine BLAS threads spinning for a core make a batch-1 step up to 30x slower.
    with threadpool_limits(limits=1):
        result = train_fn(data, workers=cell.workers, backend=cell.backend,
                          micro_batch=cell.micro_batch, lr_rule=cell.lr_rule,
                          epochs=cell.epochs, train_size=cell.train_size, progress=progress,
                          **cell.options(),
                          **{**settings, "hidden": tuple(settings["hidden"])})
    wall = time.perf_counter() - start
    key = cell_key(cell, dataset_id(data), settings)
    base = Path(cache_dir) / f"{cell.label()}-{key}"
    # Artifacts first, the record last: a record on disk means the cell is complete.
    files = {}
    if cell.keep_trace and result.trace is not None:

        files["trace"] = f"{base.name}.trace.npz"
        write_npz(base.parent / files["trace"], trace=result.trace)
    if cell.keep_model:
        files["model"] = f"{base.name}.model.npz"
        result.model.save(base.parent / files["model"])
    record = {"key": key, "cell": asdict(cell), "settings": settings,
              "data": dataset_id(data), "config": result.config, "history": result.history,
              "seconds": result.train_seconds, "wall_seconds": wall,
              "test_accuracy": result.test_accuracy, "phases": phase_summary(result.trace),
              # Per applied gradient, how many updates landed since its read (engine runs).
              "staleness": None if result.updates is None else histogram(result.staleness),
              "files": files, "machine": machine_facts(),
              "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
    write_json(f"{base}.json", record)
    return record


def record_path(cell, data, settings, cache_dir):
    """Where ``cell``'s record is (or will be) stored."""
    key = cell_key(cell, dataset_id(data), settings)
    return Path(cache_dir) / f"{cell.label()}-{key}.json"


def run_grid(cells, data, *, cache_dir, settings=None, progress=True, train_fn=None,
             desc="grid"):
    """Run every cell whose record is not cached yet; return all records in ``cells``' order.

    Parameters
    ----------
    cells : sequence of Cell
        Duplicates are run once.
    data : Dataset
        Loaded once by the caller and shared by every cell.
    cache_dir : str or Path
        Where records live (created if missing).
    settings : dict, optional
        Shared training settings; defaults to the seed's (:data:`SEED_SETTINGS`).
    progress : bool
        A bar over the grid, and one within each cell.
    train_fn : callable, optional
        The training function, :func:`pdsgd.train.train` by default (tests count calls).

    Returns
    -------
    list of dict
        The records; each has ``"cached"``: whether it was read rather than trained.
    """
    train_fn = train_fn or train
    settings = {**SEED_SETTINGS, **(settings or {})}
    settings["hidden"] = list(settings["hidden"])
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    unique = list(dict.fromkeys(cells))
    records = {}
    for cell in unique:
        path = record_path(cell, data, settings, cache_dir)
        try:
            records[cell] = {**json.loads(path.read_text()), "cached": True}
        except FileNotFoundError:
            pass  # not run yet
        except (OSError, ValueError):  # unreadable (edited by hand?): measure it again
            path.unlink(missing_ok=True)
    todo = sorted((c for c in unique if c not in records), key=lambda c: c.repeat)
    bar = tqdm(total=len(unique), initial=len(records), desc=desc, unit="cell",
               disable=not progress)
    with bar:
        for cell in todo:
            bar.set_postfix_str(cell.label())
            try:
                records[cell] = {**run_cell(cell, data, settings, cache_dir, train_fn,
                                            progress=progress), "cached": False}
            except KeyboardInterrupt:
                bar.write(f"interrupted in {cell.label()}: {len(records)} of {len(unique)} "
                          f"cells are saved in {cache_dir}; run again to finish the rest")
                raise
            bar.update(1)
    return [records[c] for c in cells]


def summarize(records):
    """One row per cell group (repeats merged): median time and its spread, accuracy, phases.

    Returns
    -------
    list of dict
        Each row holds the cell's parameters plus ``seconds`` (median of repeats),
        ``seconds_min``, ``seconds_max``, ``repeats``, ``test_accuracy``,
        ``samples_per_second``, ``phases`` (medians, or None), ``aggregate``
        (the aggregation the engine ran, or None) and ``history`` (of the first
        repeat; accuracy does not depend on the repeat).
    """
    groups = {}
    for rec in records:
        cell = Cell(**rec["cell"])
        groups.setdefault(json.dumps(cell.group(), sort_keys=True), []).append(rec)
    rows = []
    for recs in groups.values():
        recs = sorted(recs, key=lambda r: r["cell"]["repeat"])
        secs = [r["seconds"] for r in recs]
        row = Cell(**recs[0]["cell"]).group()
        median = float(np.median(secs))
        row.update(seconds=median, seconds_min=float(min(secs)), seconds_max=float(max(secs)),
                   repeats=len(recs), test_accuracy=float(recs[0]["test_accuracy"]),
                   samples_per_second=row["train_size"] * row["epochs"] / median,
                   phases=_median_phases([r["phases"] for r in recs]),
                   aggregate=recs[0]["config"].get("aggregate") if row["backend"] else None,
                   history=recs[0]["history"],
                   iterations=row["epochs"] * math.ceil(
                       row["train_size"] / (row["workers"] * row["micro_batch"])))
        rows.append(row)
    return rows


def _median_phases(phases):
    phases = [p for p in phases if p]
    if not phases:
        return None
    return {k: float(np.median([p[k] for p in phases])) for k in phases[0]}


def select(rows, **where):
    """The rows whose fields equal every ``where`` value, sorted by train size and workers."""
    out = [r for r in rows if all(r.get(k) == v for k, v in where.items())]
    return sorted(out, key=lambda r: (r["train_size"], r["workers"]))
