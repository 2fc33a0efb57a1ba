"""``make reproduce``: the grid runner, its cache, resuming, the figures and the report.

Everything runs on a tiny synthetic problem (20 features, 8 hidden units, a
few hundred samples) with the serial backend for N = 2, so the whole file takes
seconds. Nothing here asserts a timing: only counts, files and equalities.
"""

import json

import pytest

from pdsgd.data.datasets import load_dataset
from pdsgd.errors import PdsgdError
from pdsgd.study.experiment import Cell, run_grid, summarize
from pdsgd.study.reproduce import PROFILES, build_cells, load_profile_data, reproduce, tiny_profile
from pdsgd.train import train

SETTINGS = dict(hidden=[8])
FIGURES = ("time_vs_workers", "speedup", "efficiency", "accuracy_vs_workers",
           "accuracy_vs_time", "timeline", "cost_model")


@pytest.fixture(scope="module")
def data():
    return load_dataset("synthetic", train_size=80, test_size=40, synthetic_features=20)


class CountingTrain:
    """:func:`pdsgd.train.train`, counting its calls; raises KeyboardInterrupt on call ``stop``."""

    def __init__(self, stop=None):
        self.calls, self.stop = 0, stop

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.stop:
            raise KeyboardInterrupt  # as if Ctrl-C landed in the middle of the grid
        return train(*args, **kwargs)


GRID = [Cell(train_size=p, workers=n, backend=b, epochs=1, repeat=r)
        for r in range(2) for p in (40, 80) for n, b in ((1, None), (2, "serial"))]


def test_grid_runs_every_cell_once_then_trains_nothing(data, tmp_path):
    first = CountingTrain()
    records = run_grid(GRID, data, cache_dir=tmp_path, settings=SETTINGS, progress=False,
                       train_fn=first)
    assert first.calls == len(GRID)
    assert not any(r["cached"] for r in records)
    assert all(r["machine"]["hardware_threads"] >= 1 for r in records)
    engine = [r for r in records if r["cell"]["workers"] == 2]
    assert all(r["phases"]["iterations"] > 0 for r in engine)  # from the engine's trace

    again = CountingTrain()
    cached = run_grid(GRID, data, cache_dir=tmp_path, settings=SETTINGS, progress=False,
                      train_fn=again)
    assert again.calls == 0
    assert [r["seconds"] for r in cached] == [r["seconds"] for r in records]

    rows = summarize(records)
    assert len(rows) == 4 and {r["repeats"] for r in rows} == {2}
    assert all(r["seconds_min"] <= r["seconds"] <= r["seconds_max"] for r in rows)


def test_a_different_setting_is_a_different_cell(data, tmp_path):
    run_grid(GRID[:1], data, cache_dir=tmp_path, settings=SETTINGS, progress=False)
    other = CountingTrain()
    run_grid(GRID[:1], data, cache_dir=tmp_path, settings=dict(hidden=[8], lr=0.2),
             progress=False, train_fn=other)
    assert other.calls == 1


def test_an_unreadable_record_is_measured_again(data, tmp_path):
    run_grid(GRID[:1], data, cache_dir=tmp_path, settings=SETTINGS, progress=False)
    (record,) = tmp_path.glob("*.json")
    record.write_text("{not json")
    again = CountingTrain()
    run_grid(GRID[:1], data, cache_dir=tmp_path, settings=SETTINGS, progress=False,
             train_fn=again)
    assert again.calls == 1 and json.loads(record.read_text())["cell"]["train_size"] == 40


def test_an_interrupted_grid_resumes_without_redoing_finished_cells(data, tmp_path):
    crash = CountingTrain(stop=3)
    with pytest.raises(KeyboardInterrupt):
        run_grid(GRID, data, cache_dir=tmp_path, settings=SETTINGS, progress=False,
                 train_fn=crash)
    kept = list(tmp_path.glob("*.json"))
    assert len(kept) == 2  # the two finished cells; nothing half-written
    assert not list(tmp_path.glob("*.part"))

    resume = CountingTrain()
    records = run_grid(GRID, data, cache_dir=tmp_path, settings=SETTINGS, progress=False,
                       train_fn=resume)
    assert resume.calls == len(GRID) - 2
    assert sum(r["cached"] for r in records) == 2


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory):
    """Reproduce the tiny profile twice into one folder: (out, first study, second study)."""
    out = tmp_path_factory.mktemp("results")
    first = reproduce(out, tiny_profile(), progress=False)
    counter = CountingTrain()
    # PNG only the second time: the figures are drawn from the same numbers either way.
    second = reproduce(out, tiny_profile(), progress=False, train_fn=counter, formats=("png",))
    assert counter.calls == 0
    return out, first, second


def test_reproduce_writes_every_figure_and_the_report(reproduced):
    out, study, _ = reproduced
    for name in FIGURES:
        for fmt in ("png", "svg"):
            assert (out / f"{name}.{fmt}").stat().st_size > 0, f"{name}.{fmt}"
    for name in ("model.npz", "metrics.json", "history.png", "history.svg"):
        assert (out / "seed_defaults" / name).stat().st_size > 0
    report = (out / "REPORT.md").read_text()
    for name in FIGURES:
        assert f"({name}.png)" in report
    assert "The seed's claims" in report and "hardware_threads" in report
    assert len(study["claims"]) == 3
    assert json.loads((out / "study.json").read_text())["profile"] == "tiny"


def test_a_second_reproduce_trains_nothing_and_changes_no_number(reproduced):
    _, first, second = reproduced
    assert second["cells"]["trained"] == 0
    assert second["cells"]["cached"] == first["cells"]["total"]
    for key in ("timing", "speedup", "amdahl", "accuracy", "cost_model", "claims"):
        assert second[key] == first[key], key


def test_reproduce_measures_speedup_against_the_sequential_run(reproduced):
    _, study, _ = reproduced
    assert {r["workers"] for r in study["speedup"]} == {1, 2}
    assert study["cost_model"] is not None
    assert {r["lr_rule"] for r in study["accuracy"]} == {"fixed", "linear"}
    assert study["timeline_cell"]["phases"]["iterations"] > 0


def test_cells_of_a_profile():
    cells = build_cells(PROFILES["quick"], n_train=4000)
    timing = cells["timing"]
    assert {c.train_size for c in timing} == {1000, 2000, 4000}
    assert {c.workers for c in timing} == {1, 2, 4, 8}
    assert {c.lr_rule for c in cells["accuracy"]} == {"fixed", "linear"}
    assert [c.keep_model for c in cells["accuracy"]][0]  # the seed's default run
    assert cells["timeline"][0].keep_trace
    # Sizes the data cannot supply are dropped.
    assert {c.train_size for c in build_cells(PROFILES["full"], 20_000)["timing"]} == {
        1000, 10_000}


def test_full_profile_without_data_fails_in_one_line(tmp_path, monkeypatch):
    import pdsgd.data.datasets

    monkeypatch.setenv("PDSGD_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(pdsgd.data.datasets, "FASHION_MNIST_SYSTEM_DIRS", ())
    with pytest.raises(PdsgdError) as err:
        load_profile_data(PROFILES["full"])
    assert "\n" not in str(err.value) and "pdsgd data fetch mnist" in str(err.value)


def test_full_profile_falls_back_to_fashion_mnist_with_a_notice(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PDSGD_DATA_DIR", str(tmp_path))  # no MNIST there
    profile = tiny_profile(datasets=("mnist", "synthetic"))
    data, notice = load_profile_data(profile)
    assert data.name == "synthetic" and "mnist" in notice
    assert "notice" in capsys.readouterr().out
