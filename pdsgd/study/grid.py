"""The grid a user sets on ``pdsgd reproduce``'s command line, checked before anything runs.

``--workers 1,2,4 --train-sizes 1000,10000 --micro-batch 1,16 --parallel data,tensor
...``: :func:`customize` turns such options into a changed
:class:`~pdsgd.study.profiles.Profile`, refusing a bad value in one line that
names the option as the user wrote it; :func:`check_sizes` refuses a size the
dataset does not hold, once the dataset is known.
"""

from __future__ import annotations

from dataclasses import replace

from pdsgd.data.datasets import DATASETS
from pdsgd.errors import OptionError, choice, positive
from pdsgd.spec import BACKENDS
from pdsgd.study.experiment import STRATEGIES

#: The grid options of ``pdsgd reproduce``, as :func:`customize` takes them.
GRID_OPTIONS = ("workers", "max_workers", "train_sizes", "max_train_size", "micro_batch",
                "repeats", "epochs", "dataset", "backend", "parallel")


def powers_of_two(top):
    """1, 2, 4, ... up to ``top``, and ``top`` itself when it is not a power of two."""
    out, n = [], 1
    while n < top:
        out.append(n)
        n *= 2
    return tuple(out + [top])


def _positive_list(option, values):
    values = tuple(values)
    if not values:
        raise OptionError(option, "", "needs at least one value")
    for v in values:
        positive(option, v)
    return tuple(sorted(set(int(v) for v in values)))


def _written(values):
    return ",".join(map(str, values)) if isinstance(values, (tuple, list)) else values


def customize(profile, **grid):
    """``profile`` with the grid the user set; every value is checked here, before any run.

    Parameters
    ----------
    profile : Profile
    **grid
        Any of :data:`GRID_OPTIONS` (None: keep the profile's): ``workers``,
        ``train_sizes``, ``micro_batch`` (sequences of positive integers);
        ``max_workers`` (N = 1, 2, 4, ... up to it); ``max_train_size`` (the
        profile's sizes below it, and it); ``repeats``, ``epochs`` (timing and
        accuracy runs); ``dataset``; ``backend``; ``parallel`` (the strategies
        timed: a sequence of ``data`` and ``tensor``).

    Raises
    ------
    OptionError
        For a bad value, naming the option as the caller wrote it.
    """
    unknown = sorted(set(grid) - set(GRID_OPTIONS))
    if unknown:
        raise OptionError(unknown[0], grid[unknown[0]], f"is not a grid option: use one of "
                                                        f"{', '.join(GRID_OPTIONS)}")
    grid = {k: v for k, v in grid.items() if v is not None}
    for one, other in (("max_workers", "workers"), ("max_train_size", "train_sizes")):
        if one in grid and other in grid:
            raise OptionError(one, grid[one], f"cannot be combined with {{{other}}}"
                                              f"{_written(grid[other])}: give one of them")
    changes = {}
    if "workers" in grid:
        changes["workers"] = _positive_list("workers", grid["workers"])
    if "max_workers" in grid:
        changes["workers"] = powers_of_two(positive("max_workers", grid["max_workers"]))
    if "train_sizes" in grid:
        changes["sizes"] = _positive_list("train_sizes", grid["train_sizes"])
    if "max_train_size" in grid:
        top = positive("max_train_size", grid["max_train_size"])
        changes["sizes"] = tuple(p for p in profile.sizes if p < top) + (top,)
    if "micro_batch" in grid:
        changes["micro_batches"] = _positive_list("micro_batch", grid["micro_batch"])
    if "repeats" in grid:
        changes["repeats"] = positive("repeats", grid["repeats"])
    if "epochs" in grid:
        epochs = positive("epochs", grid["epochs"])
        changes.update(timing_epochs=epochs, accuracy_epochs=epochs,
                       timeline=profile.timeline[:2] + (min(profile.timeline[2], epochs),))
    if "dataset" in grid:
        changes["datasets"] = (choice("dataset", grid["dataset"], DATASETS),)
    if "backend" in grid:
        changes["backend"] = choice("backend", grid["backend"], tuple(BACKENDS))
    if "parallel" in grid:
        chosen = tuple(grid["parallel"])
        if not chosen:
            raise OptionError("parallel", "", "needs at least one split: data, tensor or both")
        # In the strategies' own order (data first, the seed's), each once.
        changes["strategies"] = tuple(s for s in STRATEGIES if s in {
            choice("parallel", s, tuple(STRATEGIES)) for s in chosen})
    if not changes:
        return profile
    custom = {**profile.custom, **{k: _written(v) for k, v in grid.items()}}
    note = "grid set by the user: " + ", ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in custom.items())
    notes = tuple(n for n in profile.notes if not n.startswith("grid set by")) + (note,)
    return replace(profile, custom=custom, notes=notes, **changes)


def check_sizes(profile, data_name, n_train):
    """Refuse a user's training size above what the dataset holds (one line, before any run)."""
    option = next((o for o in ("train_sizes", "max_train_size") if o in profile.custom), None)
    if option and max(profile.sizes) > n_train:
        raise OptionError(option, profile.custom[option],
                          f"asks for more than the {n_train:,} training samples of {data_name}")
