"""What ``make reproduce`` measures: its profiles, and the cells of each.

A :class:`Profile` names the grid (training sizes P, worker counts N,
micro-batches b, strategies), the epochs and repeats, and the dataset, and the
micro-batches of the sweep that sets the strategies side by side at one N.
``quick`` (the default) fits in a few minutes on a 2-core laptop; ``full`` is the
seed's grid; :func:`pdsgd.study.grid.customize` applies the grid a user sets on
the command line. :func:`build_cells` turns a profile into the cells that
:func:`pdsgd.study.experiment.run_grid` runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from pdsgd.engine.strategies import TENSOR
from pdsgd.errors import choice
from pdsgd.machine import usable_cores
from pdsgd.spec import MAX_WORKERS_PER_CORE
from pdsgd.study.experiment import STRATEGIES, Cell
from pdsgd.study.grid import powers_of_two
from pdsgd.study.sync_report import SyncGrid, sync_cells
from pdsgd.study.time_to_accuracy import ToTarget

SEED_EPOCHS = 5
#: The quick profile's engine timing cells on a 2-core machine (2 P x 6 N x 3 repeats x 3
#: curves: data at b = 1 and 16, tensor at b = 1): a machine whose N grid is longer drops
#: middle sizes to stay near this many.
QUICK_CELLS = 108


@dataclass(frozen=True)
class Profile:
    """What one ``--profile`` runs.

    Attributes
    ----------
    name : str
    datasets : tuple of str
        Tried in order; the first one present is used (a notice says so).
    sizes : tuple of int
        The training sizes P of the timing cells.
    workers : tuple of int or None
        The worker counts N (N = 1 runs sequentially *and* on the engine);
        None follows the machine: :func:`machine_workers`.
    timing_epochs, repeats : int
        Epochs of each timing cell, and how many times each is run (medians are reported).
    timeline : tuple of int
        ``(P, N, epochs)`` of the one run whose trace is drawn.
    micro_batches : tuple of int
        Samples per worker per iteration; each b is a curve, timed against the
        sequential run at the same b. 1 is the seed's.
    strategies : tuple of str
        Keys of :data:`pdsgd.study.experiment.STRATEGIES`; each is a curve per b.
    strategy_grid : dict
        Where a strategy's curves against N stop short of the whole grid:
        ``{strategy: {"micro_batches": (1,), "max_size": 10_000}}`` (its b among
        the profile's, its P up to ``max_size``; each key optional). A strategy
        left out has a curve at every P and b.
    batch_sweep : tuple of int
        Micro-batches of the sweep: every strategy at ``sweep_workers`` workers and
        one P (the largest that every strategy's curves have), each against the
        sequential run at its b, to show where each strategy wins. Empty: no sweep.
    sweep_workers : int
        N of the sweep (the smallest parallel N of the grid if it lacks this one).
    accuracy_epochs : int
        Epochs of the accuracy runs (largest P, smallest b, N of the grid, both lr rules).
    backend : str
        The engine's backend for N workers.
    accuracy_backend : str, optional
        Backend of the accuracy runs; default ``backend``. Every backend computes
        the same weights (the serial one is the oracle the others are tested
        against), so a profile short of time may learn its accuracies on the
        fast serial backend and take the time axis from the timing cells.
    max_cells : int, optional
        With ``workers=None``, a machine with many cores has a long N grid: middle
        sizes are dropped until the timing grid has at most this many cells.
    network_live : bool
        Measure the network section's table here (``pdsgd bench network``: root, a few
        minutes) where namespaces can be made; False: the run kept with the course.
    notes : tuple of str
        Where the profile departs from the seed's settings, for the report.
    to_target : ToTarget, optional
        The time-to-accuracy study (:mod:`pdsgd.study.time_to_accuracy`): the
        sequential path over a grid of batches and learning-rate rules, and the
        engine against its best configuration; None: none.
    sync : SyncGrid, optional
        The synchronization cells (BSP, SSP, async, Hogwild!, with and without a
        straggler: :mod:`pdsgd.study.sync_report`); None: none.
    data_options, settings : dict
        Passed to :func:`pdsgd.data.datasets.load_dataset` and over the seed's training
        settings (:data:`pdsgd.study.experiment.SEED_SETTINGS`); tests shrink the problem here.
    custom : dict
        The grid options the user set (``{"workers": "1,2,4"}``), as written.
    """

    name: str
    datasets: tuple
    sizes: tuple
    workers: tuple | None
    timing_epochs: int
    repeats: int
    timeline: tuple
    micro_batches: tuple = (1,)
    strategies: tuple = ("data",)
    strategy_grid: dict = field(default_factory=dict)
    batch_sweep: tuple = ()
    sweep_workers: int = 2
    accuracy_epochs: int = SEED_EPOCHS
    backend: str = "processes"
    accuracy_backend: str | None = None
    max_cells: int | None = None
    sync: SyncGrid | None = None
    to_target: ToTarget | None = None
    network_live: bool = False
    notes: tuple = field(default=())
    data_options: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    custom: dict = field(default_factory=dict)


PROFILES = {
    "quick": Profile(
        name="quick", datasets=("mnist-5k",), sizes=(1000, 2000, 4000), workers=None,
        micro_batches=(1, 16), timing_epochs=1, repeats=3, timeline=(1000, 2, 1),
        strategies=("data", TENSOR), strategy_grid={TENSOR: {"micro_batches": (1,)}},
        batch_sweep=(1, 4, 16), accuracy_backend="serial", max_cells=QUICK_CELLS,
        sync=SyncGrid(), to_target=ToTarget(eval_every=250, max_epochs=7),
        notes=("quick profile: the embedded mnist-5k, P up to 4,000 (the seed: up to 60,000).",
               "quick profile: N = 1, 2, 4, ... up to 4 workers per core and at least 32, "
               "hosted (one process per core runs its workers in turns).",
               "quick profile: timing cells train 1 epoch each, not the seed's 5: an epoch's "
               "time is steady, so the speedups are the same, and three repeats fit in the "
               "time budget.",
               "quick profile: accuracies are learnt on the serial backend, which computes the "
               "same weights as the processes backend, in a fraction of the time; "
               "'accuracy against wall time' puts them at the processes backend's measured "
               "epoch time (the timing cells at the largest P).",
               "quick profile: time to accuracy evaluates every 250 samples, stops a run "
               "after 7 epochs, and compares the engine with the best one-core "
               "configuration in 2 rounds.")),
    "full": Profile(
        name="full", datasets=("mnist", "fashion-mnist"), sizes=(1000, 10_000, 60_000),
        workers=(1, 2, 4, 8, 16, 32, 64), micro_batches=(1, 16), timing_epochs=SEED_EPOCHS,
        repeats=3,
        timeline=(10_000, 4, 1), accuracy_backend="serial", strategies=("data", TENSOR),
        strategy_grid={TENSOR: {"micro_batches": (1,), "max_size": 10_000}},
        batch_sweep=(1, 4, 16),
        sync=SyncGrid(workers=(2, 4), micro_batches=(1, 16), train_size=4000, repeats=2),
        to_target=ToTarget(eval_every=1000, max_epochs=3, repeats=3),
        network_live=True,
        notes=("full profile: tensor parallelism is timed at b = 1 and P up to 10,000, and "
               "in the sweep over b (N = 2, P = 10,000): at P = 60,000 its cells would make "
               "the profile longer still.",
               "full profile: the synchronization cells train P = 4,000 samples for one "
               "epoch, in 2 interleaved rounds (the timing cells: 5 epochs of up to 60,000, "
               "3 repeats): their 96 runs, each mostly the workers' start-up, add about two "
               "minutes.",
               "full profile: accuracies are learnt on the serial backend, which computes the "
               "same weights as the processes backend in less time; 'accuracy against wall "
               "time' puts them at the processes backend's measured epoch time.",
               "full profile: time to accuracy evaluates every 1,000 samples, stops a run "
               "after 3 epochs, and compares the engine with the best one-core "
               "configuration in 3 rounds. Timed on 2 cores with N up to 32 (Fashion-MNIST): "
               "the timing, accuracy and synchronization cells (350) took 33 minutes; time "
               "to accuracy's 29 evaluated runs about 20 s each (10 minutes) and its 66 "
               "timed runs to the crossings about 4 s each (5 minutes).")),
}

def machine_workers(cores=None):
    """The quick profile's N grid: 1, 2, 4, ... up to 4 workers per core, and at least 32.

    As the seed sweeps N far past its 16 hardware threads: hosted workers
    (``hosting="cores"``, one process per core running its workers in turns)
    make N = 32 on 2 cores cost about what N = 2 does. Never more than
    :data:`pdsgd.spec.MAX_WORKERS_PER_CORE` per core.
    """
    cores = cores or usable_cores()
    return powers_of_two(min(MAX_WORKERS_PER_CORE * cores, max(32, 4 * cores)))


def resolve(profile, n_train):
    """The profile's grid on this machine and dataset: ``(sizes, workers, notes)``.

    ``workers=None`` becomes :func:`machine_workers`; sizes above ``n_train``
    are dropped (the dataset holds fewer samples); with ``max_cells``, middle
    sizes are dropped until the timing grid fits. Notes say what was dropped.
    """
    workers = profile.workers or machine_workers()
    most = MAX_WORKERS_PER_CORE * usable_cores()
    notes = [f"N = {n} dropped: this machine runs at most {most} workers "
             f"({MAX_WORKERS_PER_CORE} per core)." for n in workers if n > most]
    workers = [n for n in workers if n <= most]
    sizes = [p for p in profile.sizes if p <= n_train] or [n_train]
    notes += [f"P = {p:,} dropped: the dataset holds {n_train:,} training samples."
              for p in profile.sizes if p > n_train]

    def cells():
        return len(workers) * profile.repeats * sum(
            len(ps) * len(bs) for ps, bs in strategy_curves(profile, sizes).values())

    if profile.max_cells and profile.workers is None:
        while len(sizes) > 2 and cells() > profile.max_cells:
            dropped = sizes.pop(len(sizes) // 2)
            notes.append(f"P = {dropped:,} dropped: with N up to {max(workers)} on this "
                         "machine, it keeps the profile within its time budget.")
    return tuple(sizes), tuple(workers), tuple(notes)


def strategy_curves(profile, sizes):
    """``{strategy: (its P, its b)}``: where each strategy's curves against N are measured.

    A strategy's entry in ``profile.strategy_grid`` narrows the grid's ``sizes``
    and b (see :class:`Profile`); when nothing of the grid is left (a user's
    ``--micro-batch 16``, say), the strategy keeps the smallest P or b of the grid.
    """
    out = {}
    for s in profile.strategies:
        limits = profile.strategy_grid.get(s, {})
        bs = tuple(b for b in profile.micro_batches
                   if b in limits.get("micro_batches", profile.micro_batches))
        top = limits.get("max_size")
        ps = tuple(p for p in sizes if top is None or p <= top)
        out[s] = (ps or (min(sizes),), bs or (min(profile.micro_batches),))
    return out


def sweep_point(profile, sizes, workers):
    """``(P, N)`` of the sweep over b: the largest P that every strategy's curves have,
    and ``profile.sweep_workers`` (the smallest parallel N of the grid if it lacks it)."""
    p = min(max(ps) for ps, _ in strategy_curves(profile, sizes).values())
    n = profile.sweep_workers
    if n not in workers:
        n = min((k for k in workers if k > 1), default=max(workers))
    return p, n


def build_cells(profile, n_train):
    """Every cell of the profile: ``{"timing", "sweep", "hardware", "accuracy", "timeline",
    "sync"}`` lists (``hardware``: the sequential runs at batch N b of the engine's cells).

    A cell may be in two lists (the sweep shares its b = 1 cells with the timing
    grid, and so does the sync grid its BSP cell without a straggler, say):
    :func:`pdsgd.study.experiment.run_grid` runs it once.

    The sequential cell of the accuracy runs (largest P, smallest b) keeps its
    model: with the seed's settings it is the seed's default run, saved under
    ``seed_defaults/``.
    """
    for s in profile.strategies:
        choice("strategy", s, tuple(STRATEGIES))
    sizes, workers, _ = resolve(profile, n_train)
    p_max, b_acc = max(sizes), min(profile.micro_batches)

    def cell(p, n, backend, rule="fixed", epochs=profile.timing_epochs, repeat=0, b=1,
             strategy="data", **kw):
        # The same run in two parts (timing and accuracy) must be the same cell.
        seed_run = (backend is None and p == p_max and epochs == profile.accuracy_epochs
                    and rule == "fixed" and repeat == 0 and b == b_acc)
        return Cell(train_size=p, workers=n, backend=backend, micro_batch=b, strategy=strategy,
                    lr_rule=rule, epochs=epochs, repeat=repeat, keep_model=seed_run, **kw)

    timing = [cell(p, 1, None, repeat=r, b=b) for r in range(profile.repeats)
              for b in profile.micro_batches for p in sizes]
    curves = strategy_curves(profile, sizes)
    timing += [cell(p, n, profile.backend, repeat=r, b=b, strategy=s)
               for r in range(profile.repeats) for s, (ps, bs) in curves.items()
               for b in bs for p in ps for n in workers]
    sweep = []
    if profile.batch_sweep:
        sp, sn = sweep_point(profile, sizes, workers)
        sweep = [c for r in range(profile.repeats) for b in profile.batch_sweep
                 for c in [cell(sp, 1, None, repeat=r, b=b)]
                 + [cell(sp, sn, profile.backend, repeat=r, b=b, strategy=s)
                    for s in profile.strategies]]
    # The hardware speedup's baselines: sequential minibatch SGD at batch N b for every
    # engine cell, in the same interleaved repeats (run_grid runs cells repeat by repeat).
    hardware = [cell(c.train_size, 1, None, repeat=c.repeat, b=c.workers * c.micro_batch)
                for c in timing + sweep if c.backend is not None]
    accuracy = [cell(p_max, 1, None, epochs=profile.accuracy_epochs, b=b_acc)]
    accuracy += [cell(p_max, n, profile.accuracy_backend or profile.backend, rule,
                      epochs=profile.accuracy_epochs, b=b_acc)
                 for rule in ("fixed", "linear") for n in workers if n > 1]
    tp, tn, te = profile.timeline
    if tn not in workers:  # the grid was set by hand: the smallest parallel N it has
        tn = min((n for n in workers if n > 1), default=max(workers))
    timeline = [cell(min(tp, p_max), tn, profile.backend, epochs=te, b=b_acc,
                     keep_trace=True)]
    sync = sync_cells(profile.sync, sizes, n_train, profile.backend, profile.repeats)
    return {"timing": timing, "sweep": sweep, "hardware": list(dict.fromkeys(hardware)),
            "accuracy": accuracy, "timeline": timeline, "sync": sync}


def tiny_profile(**changes):
    """A profile small enough for tests (synthetic data, a few hundred samples)."""
    base = Profile(name="tiny", datasets=("synthetic",), sizes=(60, 120), workers=(1, 2),
                   micro_batches=(1, 4), timing_epochs=1, repeats=2, timeline=(60, 2, 1),
                   accuracy_epochs=2, backend="serial",
                   data_options=dict(train_size=120, test_size=50, synthetic_features=20),
                   settings=dict(hidden=[8]))
    return replace(base, **changes)
