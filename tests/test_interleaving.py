"""Repeats are interleaved wherever the kit says so, checked by the order things ran in.

Interleaving is what makes the kit's ratios trustworthy on a shared machine: when
round 1 of every cell runs before round 2 of any, a burst of load from another
program spoils one round of several cells rather than every round of one. Each test
here records, through the function that runs one cell (or one timing), the order in
which a grid ran, and checks it round by round:

* the study's grid (:func:`pdsgd.study.experiment.run_grid`, and ``make reproduce``
  through it; notebook 03 runs its cells there too);
* ``pdsgd bench sync`` (and the course's sweep, :func:`pdsgd.course.without_barrier.sweep`, which
  calls it);
* ``pdsgd bench scaling``: each cell's engine timings take turns with the sequential
  path's (and the ceiling's copies), repeat by repeat;
* ``pdsgd bench neighbours``, ``pdsgd bench sequential``, ``pdsgd bench ceiling`` (the
  copies at once against one alone, and its cache traffic) and
  :func:`pdsgd.course.lessons.interleaved` (the course's own timings).
"""

import itertools
from dataclasses import replace

import numpy as np
import pytest

from pdsgd.bench import ceiling as ceiling_bench
from pdsgd.bench import scaling
from pdsgd.bench.common import load_samples
from pdsgd.course import lessons
from pdsgd.data.datasets import load_dataset
from pdsgd.study import busy_neighbours as neighbours
from pdsgd.study import experiment
from pdsgd.study import sequential_paths as sequential_bench
from pdsgd.study import sync_sweep as sync_bench
from pdsgd.study.experiment import Cell, run_grid
from pdsgd.study.profiles import tiny_profile
from pdsgd.study.reproduce import reproduce


def assert_rounds(ran, group, round_of):
    """``ran`` (in the order run) holds every group once per round, round 1 of all before
    round 2 of any: the rounds never go back, and each round holds every group once."""
    rounds = [round_of(x) for x in ran]
    assert rounds == sorted(rounds), f"a later round started before an earlier one ended: " \
                                     f"{[(group(x), round_of(x)) for x in ran]}"
    groups = {group(x) for x in ran}
    for r, members in itertools.groupby(ran, key=round_of):
        names = [group(x) for x in members]
        assert sorted(names, key=repr) == sorted(groups, key=repr), f"round {r}: {names}"


def collapse(events):
    """Consecutive equal events as one: ``a a b b a`` -> ``a b a``."""
    return [e for e, _ in itertools.groupby(events)]


@pytest.fixture(scope="module")
def data():
    return load_dataset("synthetic", train_size=80, test_size=40, synthetic_features=20)


@pytest.fixture
def ran_cells(monkeypatch):
    """The cells :func:`run_grid` trains, in the order it trains them (each really trained)."""
    ran = []
    real = experiment.run_cell

    def recording(cell, *args, **kwargs):
        ran.append(cell)
        return real(cell, *args, **kwargs)

    monkeypatch.setattr(experiment, "run_cell", recording)
    return ran


def _group(cell):
    """A cell without its repeat index (the timeline's run, which keeps its trace, is a
    cell of its own)."""
    return replace(cell, repeat=0)


def test_the_grid_runs_its_repeats_in_rounds_whatever_order_it_is_given(data, tmp_path,
                                                                      ran_cells):
    # Given cell by cell, each cell's three repeats back to back ...
    cells = [Cell(train_size=p, workers=n, backend=b, epochs=1, repeat=r)
             for p in (40, 80) for n, b in ((1, None), (2, "serial")) for r in range(3)]
    records = run_grid(cells, data, cache_dir=tmp_path, settings=dict(hidden=[8]),
                       progress=False)
    # ... it runs round 1 of every cell, then round 2 of every cell, then round 3.
    assert len(ran_cells) == len(cells) == 12
    assert_rounds(ran_cells, _group, lambda c: c.repeat)
    # And hands the records back in the order it was given them.
    assert [r["cell"]["repeat"] for r in records] == [c.repeat for c in cells]


def test_a_resumed_grid_keeps_its_rounds(data, tmp_path, ran_cells):
    cells = [Cell(train_size=40, workers=n, backend=b, epochs=1, repeat=r)
             for n, b in ((1, None), (2, "serial")) for r in range(2)]
    run_grid([cells[0]], data, cache_dir=tmp_path, settings=dict(hidden=[8]), progress=False)
    ran_cells.clear()
    run_grid(cells, data, cache_dir=tmp_path, settings=dict(hidden=[8]), progress=False)
    # What was cached is not run again; what is left still goes round by round.
    assert cells[0] not in ran_cells and len(ran_cells) == 3
    assert [c.repeat for c in ran_cells] == [0, 1, 1]


def test_make_reproduce_runs_every_part_of_the_study_in_rounds(tmp_path, ran_cells):
    from pdsgd.study.sync_report import SyncGrid

    profile = tiny_profile(backend="threads", sync=SyncGrid(settings=("async",), train_size=60),
                           repeats=3)
    reproduce(tmp_path, profile, progress=False, formats=("png",))
    repeated = [c for c in ran_cells if c.repeat > 0]
    assert {c.sync for c in repeated} == {"bsp", "async"}  # timing and sync cells alike
    timed = {_group(c) for c in repeated}
    # Every cell repeated has all of its rounds in the study, round 1 of all before round 2
    # of any (cells run once, the accuracy runs and the timeline, belong to round 1).
    assert_rounds([c for c in ran_cells if _group(c) in timed], _group, lambda c: c.repeat)
    assert [c.repeat for c in ran_cells] == sorted(c.repeat for c in ran_cells)


def test_bench_sync_runs_every_cell_once_per_round_and_pairs_the_rounds(monkeypatch):
    ran = []

    def measure(data, setting, workers, micro_batch, factor, epochs, backend, train_size):
        ran.append((workers, micro_batch, factor, setting))
        round_ = sum(1 for x in ran if x == ran[-1])
        # A rate that says which round it came from, and a staleness count per setting.
        return 1000.0 * round_ + (10 if setting == "bsp" else 20), 0.5, [1]

    monkeypatch.setattr(sync_bench, "measure", measure)
    data = load_dataset("synthetic", train_size=40, test_size=20, synthetic_features=8)
    result = sync_bench.run(data, epochs=1, repeats=3, workers=(2,), micro_batches=(1, 4),
                            factors=(1.0, 2.0), settings=("ssp:1", "async"), backend="threads",
                            progress=None)
    assert len(ran) == 3 * 2 * 2 * 3
    rounds = [sum(1 for x in ran[:i + 1] if x == ran[i]) for i in range(len(ran))]
    assert_rounds(list(zip(ran, rounds, strict=True)), lambda x: x[0], lambda x: x[1])
    # Round k of a cell is set against round k of BSP: the ratios use the same round.
    for row in result["rows"]:
        assert row["rates"] == [1000.0 * k + (10 if row["setting"] == "bsp" else 20)
                                for k in (1, 2, 3)]
        assert row["vs_bsp"] == pytest.approx(np.median(
            [(1000.0 * k + (10 if row["setting"] == "bsp" else 20)) / (1000.0 * k + 10)
             for k in (1, 2, 3)]))


class _Copies:
    """A stand-in for :class:`pdsgd.bench.ceiling.Copies` that records when it runs."""

    count = 2

    def __init__(self, events):
        self.events = events

    def together(self, passes, count=None):
        self.events.append(f"copies x{self.count if count is None else count}")
        return [0.01] * (self.count if count is None else count)


def test_bench_scaling_times_the_engine_and_the_sequential_path_in_turns(monkeypatch):
    events = []
    for cls, name in ((scaling.SequentialRunner, "sequential"), (scaling.Broker, "engine")):
        real = cls.run_epoch

        def recording(self, *args, _real=real, _name=name, **kwargs):
            events.append(_name)
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(cls, "run_epoch", recording)
    X, T = load_samples("synthetic", 32)
    sizes = (X.shape[1], 8, T.shape[1])
    row = scaling.engine_cell(X, T, "serial:central", 2, 1, repeats=3, sizes=sizes,
                              min_seconds=0.0, copies=_Copies(events))
    assert row["passes"] == 1
    # Warm-up of the engine, one timed pass of the sequential path to size the timings,
    # then per repeat: the sequential path, the engine, the copies at once.
    assert events == ["engine", "sequential"] + ["sequential", "engine", "copies x2"] * 3


def test_bench_neighbours_times_its_engines_in_turns():
    events = []

    class Runner:
        def __init__(self, name):
            self.name = name

        def run_epoch(self, order, lr):
            events.append(self.name)

    runners = {name: Runner(name) for name in neighbours.ENGINES}
    neighbours._measure(runners, np.arange(8), repeats=4)
    assert events == list(neighbours.ENGINES) * 4


def test_bench_sequential_times_its_steps_in_turns():
    events = []
    steps = {name: (lambda x, t, _n=name: events.append(_n)) for name in ("fast", "naive")}
    X = T = np.zeros((5, 3))
    sequential_bench._time_interleaved(steps, X, T, repeats=3)
    # One warm-up call each, then every step over all rows, round after round.
    assert collapse(events) == ["fast", "naive"] + ["fast", "naive"] * 3
    assert len(events) == 2 + 2 * 3 * len(X)


def test_bench_ceiling_times_alone_and_together_in_turns(monkeypatch):
    events = []

    class Copies(_Copies):
        def __init__(self, *args):
            super().__init__(events)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def prepare(self, micro_batch):
            events.append(f"b={micro_batch}")

    monkeypatch.setattr(ceiling_bench, "Copies", Copies)
    monkeypatch.setattr(ceiling_bench, "measure_traffic", lambda *args: {})
    monkeypatch.setattr(ceiling_bench, "format_traffic", lambda *args: "")
    ceiling_bench.measure("synthetic", 16, copies=2, micro_batches=(1,), repeats=3,
                          min_seconds=0.0, progress=lambda line: None)
    assert events == ["b=1", "copies x1"] + ["copies x1", "copies x2"] * 3


def test_bench_ceilings_cache_traffic_times_private_and_shared_in_turns():
    from pdsgd.bench.cache_traffic import measure_traffic

    events = []

    class Group:
        def traffic(self, sizes, iterations, shared):
            events.append("shared" if shared else "private")
            return [1e-6 * iterations, 1e-6 * iterations]

    measure_traffic(Group(), (784, 200, 10), repeats=3, min_seconds=0.0)
    # One probe to size the timings, then (private, shared) round after round.
    assert events == ["private"] + ["private", "shared"] * 3


def test_the_courses_timings_take_turns():
    events = []
    fns = {name: (lambda _n=name: events.append(_n)) for name in ("factors", "gradients")}
    times = lessons.interleaved(fns, repeats=3)
    assert events == ["factors", "gradients"] * 3
    assert {k: len(v) for k, v in times.items()} == {"factors": 3, "gradients": 3}
