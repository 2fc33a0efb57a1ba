"""``make reproduce``: the grid runner, its cache, resuming, the figures and the report.

Everything runs on a tiny synthetic problem (20 features, 8 hidden units, a
few hundred samples) with the serial backend for N = 2, so the whole file takes
seconds. Nothing here asserts a timing: only counts, files and equalities.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pdsgd.cli import build_parser
from pdsgd.cli import main as cli
from pdsgd.data.datasets import load_dataset
from pdsgd.errors import OptionError, PdsgdError
from pdsgd.machine import usable_cores
from pdsgd.study.experiment import Cell, run_grid, summarize
from pdsgd.study.grid import customize, powers_of_two
from pdsgd.study.profiles import PROFILES, build_cells, machine_workers, tiny_profile
from pdsgd.study.reference import load_studies, render_index
from pdsgd.study.reproduce import load_profile_data, reproduce
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
    # The network's section, from the run kept with the course (no live run in a profile
    # that does not ask for one: it takes minutes).
    assert "## Over a network" in report and "the run kept with the course" in report
    assert len(study["claims"]) == 3 * 2  # three claims, two curves (b = 1 and 4)
    assert json.loads((out / "study.json").read_text())["profile"] == "tiny"


def test_a_second_reproduce_trains_nothing_and_changes_no_number(reproduced):
    _, first, second = reproduced
    assert second["cells"]["trained"] == 0
    assert second["cells"]["cached"] == first["cells"]["total"]
    for key in ("timing", "speedup", "curves", "breakdown", "accuracy", "cost_model", "claims",
                "finished"):
        assert second[key] == first[key], key


def test_reproduce_measures_speedup_against_the_sequential_run(reproduced):
    _, study, _ = reproduced
    assert {r["workers"] for r in study["speedup"]} == {1, 2}
    # One curve per micro-batch, each against the sequential run at its own b.
    assert {(r["micro_batch"], r["strategy"]) for r in study["speedup"]} == {
        (1, "data"), (4, "data")}
    seq = {(r["train_size"], r["micro_batch"]): r["seconds"] for r in study["timing"]
           if r["backend"] is None}
    for r in study["timing"]:
        if r["backend"]:
            t1 = seq[(r["train_size"], r["micro_batch"])]
            assert r["speedup"] == pytest.approx(t1 / r["seconds"])
    assert len(study["curves"]) == 4  # 2 P x 2 b
    assert [r["workers"] for r in study["breakdown"]] == [1, 2]
    assert {c["curve"] for c in study["claims"]} == {"b = 1", "b = 4"}
    assert study["cost_model"] is not None
    assert {r["lr_rule"] for r in study["accuracy"]} == {"fixed", "linear"}
    assert study["timeline_cell"]["phases"]["iterations"] > 0


def test_cells_of_a_profile():
    cells = build_cells(PROFILES["quick"], n_train=4000)
    timing = cells["timing"]
    # The quick profile's N follow the machine: 1, 2, 4, ... up to 4 per core, at least 32.
    assert {c.workers for c in timing} == set(machine_workers()) == set(
        powers_of_two(min(16 * usable_cores(), max(32, 4 * usable_cores()))))
    assert machine_workers(2) == (1, 2, 4, 8, 16, 32) and machine_workers(16)[-1] == 64
    assert {c.micro_batch for c in timing} == {1, 16}
    assert {c.micro_batch for c in timing if c.backend is None} == {1, 16}  # T(1) per b
    if usable_cores() <= 8:  # six N: the middle P goes, to stay within the budget
        assert {c.train_size for c in timing} == {1000, 4000}
    assert {c.lr_rule for c in cells["accuracy"]} == {"fixed", "linear"}
    assert {c.micro_batch for c in cells["accuracy"]} == {1}
    assert [c.keep_model for c in cells["accuracy"]][0]  # the seed's default run
    assert cells["timeline"][0].keep_trace
    # Sizes the data cannot supply are dropped.
    assert {c.train_size for c in build_cells(PROFILES["full"], 20_000)["timing"]} == {
        1000, 10_000}
    # The full profile's seed run (5 epochs, largest P) is timed and kept once, not twice.
    full = build_cells(PROFILES["full"], 60_000)
    assert full["accuracy"][0] in full["timing"]


def test_a_long_machine_grid_keeps_the_quick_profile_in_budget(monkeypatch):
    import pdsgd.study.profiles

    monkeypatch.setattr(pdsgd.study.profiles, "usable_cores", lambda: 16)
    timing = build_cells(PROFILES["quick"], n_train=4000)["timing"]
    assert {c.workers for c in timing} == {1, 2, 4, 8, 16, 32, 64}
    assert {c.train_size for c in timing} == {1000, 4000}  # the middle P goes


def test_the_full_profile_drops_what_the_machine_cannot_run(monkeypatch):
    import pdsgd.study.profiles

    monkeypatch.setattr(pdsgd.study.profiles, "usable_cores", lambda: 2)
    sizes, workers, notes = pdsgd.study.profiles.resolve(PROFILES["full"], 60_000)
    assert workers == (1, 2, 4, 8, 16, 32)  # the seed's sweep, as far as 2 cores go
    assert any(n.startswith("N = 64 dropped: this machine runs at most 32") for n in notes)


def test_the_user_sets_the_grid():
    quick = PROFILES["quick"]
    p = customize(quick, workers=(4, 1, 2, 2), train_sizes=(1000, 3000), micro_batch=(16,),
                  repeats=5, epochs=2, dataset="synthetic", backend="threads")
    assert (p.workers, p.sizes, p.micro_batches, p.repeats) == ((1, 2, 4), (1000, 3000), (16,), 5)
    assert (p.timing_epochs, p.accuracy_epochs, p.timeline[2]) == (2, 2, 1)
    assert (p.datasets, p.backend) == (("synthetic",), "threads")
    assert "--workers 4,1,2,2" in p.notes[-1]
    # The seed's own words: #max_workers and #max_trainsize.
    assert customize(quick, max_workers=16).workers == (1, 2, 4, 8, 16)
    assert customize(quick, max_workers=12).workers == (1, 2, 4, 8, 12)
    assert customize(PROFILES["full"], max_train_size=20_000).sizes == (1000, 10_000, 20_000)
    assert customize(quick, max_train_size=2000).sizes == (1000, 2000)
    cells = build_cells(customize(quick, workers=(1, 8)), 4000)
    assert cells["timeline"][0].workers == 8  # the profile's N = 2 is not in the grid
    assert customize(quick) is quick
    # What is split: one set of curves per strategy, in the strategies' own order.
    assert customize(quick, parallel=("tensor", "data")).strategies == ("data", "tensor")
    only = customize(quick, parallel=("tensor",))
    assert only.strategies == ("tensor",) and "--parallel tensor" in only.notes[-1]


def test_one_strategy_alone_gets_its_curves_and_its_sweep(tmp_path):
    study = reproduce(tmp_path, tiny_profile(strategies=("tensor",), batch_sweep=(1, 4)),
                      progress=False, formats=("png",))
    assert {r["strategy"] for r in study["speedup"] + study["sweep"]} == {"tensor"}
    assert {c["curve"] for c in study["claims"]} == {"tensor, b = 1", "tensor, b = 4"}
    report = (tmp_path / "REPORT.md").read_text()
    assert "## Speedup against b" in report and "## Two ways to split the work" not in report
    assert "It runs the seed's iteration" in report and "Both run" not in report


@pytest.mark.parametrize("grid,message", [
    (dict(workers=(0, 2)), "workers=0 must be a positive integer"),
    (dict(max_workers=8, workers=(1, 2)), "max_workers=8 cannot be combined with workers=1,2"),
    (dict(max_train_size=500, train_sizes=(100,)), "cannot be combined with train_sizes=100"),
    (dict(micro_batch=()), "micro_batch='' needs at least one value"),
    (dict(backend="sequential"), "backend='sequential' is unknown"),
    (dict(dataset="cifar"), "dataset='cifar' is unknown"),
    (dict(repeats=0), "repeats=0 must be a positive integer"),
    (dict(parallel=("data", "model")), "parallel='model' is unknown: choose one of data, tensor"),
    (dict(parallel=()), "needs at least one split"),
])
def test_a_bad_grid_is_refused_in_one_line(grid, message):
    with pytest.raises(OptionError) as err:
        customize(PROFILES["quick"], **grid)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("argv,message", [
    (["--workers", "1,0"], "argument --workers: expected a positive integer, got 0"),
    (["--workers", "1,two"], "argument --workers: expected a positive integer, got 'two'"),
    (["--max-workers", "8", "--workers", "1,2"], "--max-workers 8 cannot be combined with "
                                                 "--workers 1,2"),
    (["--train-sizes", "1000,100000"], "--train-sizes 1000,100000 asks for more than the "
                                       "4,000 training samples of mnist-5k"),
    (["--max-train-size", "5000"], "--max-train-size 5000 asks for more than"),
    (["--backend", "sequential"], "argument --backend: invalid choice"),
    (["--dataset", "fashion"], "argument --dataset: invalid choice"),
    (["--parallel", "model"], "--parallel model is unknown: choose one of data, tensor"),
])
def test_the_cli_refuses_a_bad_grid_before_anything_runs(tmp_path, capsys, argv, message):
    out = tmp_path / "results"
    assert cli(["reproduce", "--quiet", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()  # nothing written, nothing trained


def test_a_missing_dataset_is_refused_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PDSGD_DATA_DIR", str(tmp_path))  # no MNIST there
    out = tmp_path / "results"
    assert cli(["reproduce", "--quiet", "--out", str(out), "--dataset", "mnist"]) == 2
    err = capsys.readouterr().err
    assert "pdsgd data fetch mnist" in err and err.count("\n") == 1
    assert not out.exists()


def test_the_cli_runs_the_grid_it_is_given(tmp_path, capsys):
    out = tmp_path / "results"
    argv = ["reproduce", "--quiet", "--out", str(out), "--dataset", "synthetic",
            "--train-sizes", "40,80", "--workers", "1,2", "--micro-batch", "1,4",
            "--repeats", "1", "--epochs", "1", "--backend", "serial"]
    assert cli(argv) == 0
    study = json.loads((out / "study.json").read_text())
    engine = [r for r in study["timing"] if r["backend"]]
    assert {(r["train_size"], r["workers"], r["micro_batch"]) for r in engine} == {
        (p, n, b) for p in (40, 80) for n in (1, 2) for b in (1, 4)}
    assert {r["backend"] for r in engine} == {"serial"} and study["repeats"] == 1
    assert study["command"] == ("pdsgd reproduce --profile quick --workers 1,2 --train-sizes "
                                "40,80 --micro-batch 1,4 --repeats 1 --epochs 1 --dataset "
                                "synthetic --backend serial")
    assert "grid set by the user" in (out / "REPORT.md").read_text()
    assert cli(argv) == 0  # again: everything from the cache
    assert "0 cells trained" in capsys.readouterr().out


def test_full_profile_without_data_fails_in_one_line(tmp_path, monkeypatch):
    import pdsgd.data.datasets

    monkeypatch.setenv("PDSGD_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(pdsgd.data.datasets, "FASHION_MNIST_SYSTEM_DIRS", ())
    with pytest.raises(PdsgdError) as err:
        load_profile_data(PROFILES["full"])
    assert "\n" not in str(err.value) and "pdsgd data fetch mnist" in str(err.value)


def test_a_kept_reference_run_and_its_index(tmp_path):
    assert "No reference run is kept yet" in render_index({})
    for name in ("ref-a", "ref-b"):
        reproduce(tmp_path, tiny_profile(repeats=1), progress=False, reference=name,
                  formats=("png",))
    root = tmp_path / "reference"
    for name in ("ref-a", "ref-b"):
        assert (root / name / "REPORT.md").is_file() and (root / name / "study.json").is_file()
        assert (root / name / ".cache").is_dir()  # beside it, but not kept (.gitignore)
    index = (root / "README.md").read_text()
    assert "[ref-a](ref-a/REPORT.md)" in index and "[ref-b](ref-b/REPORT.md)" in index
    assert "--reference ref-b" in index and "usable cores" in index
    assert "Which machine answered which claim" in index
    assert "b = 1: cannot tell" in index
    # Each run names the speedup its claims were judged on; a run kept before the hardware
    # speedup was measured was judged on the seed's S, and the index says so.
    assert index.count("the hardware speedup (against sequential minibatch SGD at batch N b)") \
        == 2
    old = json.loads((root / "ref-a" / "study.json").read_text())
    for c in old["claims"]:
        c.pop("measure", None)
    assert "| judged on | the seed's S (against the sequential run at b) |" in render_index(
        {"old": old})
    assert not (tmp_path / "REPORT.md").exists()
    with pytest.raises(OptionError, match="plain folder name"):
        reproduce(tmp_path, tiny_profile(), progress=False, reference="../elsewhere")


def test_a_kept_run_is_replaced_only_with_force(tmp_path):
    def run(**options):
        return reproduce(tmp_path, tiny_profile(repeats=1), progress=False, reference="ref",
                         formats=("png",), **options)

    run()
    root = tmp_path / "reference"
    kept = {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and ".cache" not in p.parts}
    with pytest.raises(PdsgdError, match="--reference ref: .* holds a kept run; pass --force"):
        run()
    assert {p: p.read_bytes() for p in kept} == kept
    assert build_parser().parse_args(["reproduce", "--reference", "ref", "--force"]).force
    run(force=True)
    (root / "ref" / "study.json").unlink()  # an interrupted run, before its study was written
    run()
    assert (root / "ref" / "study.json").is_file()


def test_the_kept_index_lists_the_kept_runs():
    root = Path(__file__).parents[1] / "results" / "reference"
    assert (root / "README.md").read_text() == render_index(load_studies(root))


@pytest.mark.skipif(shutil.which("git") is None or not (Path(__file__).parents[1] / ".git")
                    .exists(), reason="not a git checkout")
def test_a_reference_run_is_kept_but_not_its_cache():
    root = Path(__file__).parents[1]

    def ignored(path):
        return subprocess.run(["git", "check-ignore", "-q", "--no-index", path],
                              cwd=root).returncode == 0

    kept = ["results/reference/README.md", "results/reference/full-fashion-mnist/REPORT.md",
            "results/reference/full-fashion-mnist/study.json",
            "results/reference/full-fashion-mnist/speedup.png",
            "results/reference/full-fashion-mnist/seed_defaults/metrics.json",
            "results/README.md"]
    dropped = ["results/reference/full-fashion-mnist/.cache/P1000-N1-seq.json",
               "results/reference/full-fashion-mnist/seed_defaults/model.npz",
               "results/reference/full-fashion-mnist/speedup.svg",
               "results/reference/full-fashion-mnist/seed_defaults/history.svg",
               "results/REPORT.md", "results/speedup.png", "results/.cache/x.json"]
    assert [p for p in kept if ignored(p)] == []
    assert [p for p in dropped if not ignored(p)] == []


def test_full_profile_falls_back_to_fashion_mnist_with_a_notice(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PDSGD_DATA_DIR", str(tmp_path))  # no MNIST there
    profile = tiny_profile(datasets=("mnist", "synthetic"))
    data, notice = load_profile_data(profile)
    assert data.name == "synthetic" and "mnist" in notice
    assert "notice" in capsys.readouterr().out


def test_the_quick_profile_times_tensor_parallelism_and_sweeps_b_for_both_strategies():
    cells = build_cells(PROFILES["quick"], n_train=4000)
    timing = cells["timing"]
    tensor = [c for c in timing if c.strategy == "tensor"]
    # Tensor parallelism's curve: b = 1, every P and N of the grid, on the engine.
    assert {c.micro_batch for c in tensor} == {1} and all(c.backend for c in tensor)
    assert ({(c.train_size, c.workers) for c in tensor}
            == {(c.train_size, c.workers) for c in timing if c.backend})
    # The sweep: both strategies at N = 2 and the largest P, for every b, each b with
    # its sequential run; its b = 1 cells are the timing grid's own (run once).
    sweep = cells["sweep"]
    assert {(c.strategy, c.micro_batch) for c in sweep if c.backend} == {
        (s, b) for s in ("data", "tensor") for b in (1, 4, 16)}
    assert {(c.workers, c.train_size) for c in sweep if c.backend} == {(2, 4000)}
    assert {c.micro_batch for c in sweep if c.backend is None} == {1, 4, 16}
    assert {c for c in sweep if c.micro_batch == 1} <= set(timing)
    # The full profile keeps tensor parallelism to P <= 10,000, its sweep there too.
    full = build_cells(PROFILES["full"], 60_000)
    assert {c.train_size for c in full["timing"] if c.strategy == "tensor"} == {1000, 10_000}
    assert {c.train_size for c in full["sweep"]} == {10_000}


def test_a_user_grid_without_the_strategys_b_keeps_its_curve_at_the_smallest_b():
    profile = customize(PROFILES["quick"], micro_batch=(16,), workers=(1, 4))
    cells = build_cells(profile, 4000)
    assert {c.micro_batch for c in cells["timing"] if c.strategy == "tensor"} == {16}
    assert {c.workers for c in cells["sweep"] if c.backend} == {4}  # no N = 2 in the grid


@pytest.fixture(scope="module")
def two_strategies(tmp_path_factory):
    out = tmp_path_factory.mktemp("strategies")
    profile = tiny_profile(strategies=("data", "tensor"), batch_sweep=(1, 4),
                           strategy_grid={"tensor": {"micro_batches": (1,)}})
    return out, reproduce(out, profile, progress=False, formats=("png",))


def test_reproduce_sets_the_two_strategies_side_by_side(two_strategies):
    out, study = two_strategies
    assert (out / "speedup_vs_batch.png").stat().st_size > 0
    assert {(r["strategy"], r["micro_batch"]) for r in study["speedup"]} == {
        ("data", 1), ("data", 4), ("tensor", 1)}
    # The sweep's rows are not curves against N: they stay out of the claims.
    assert {c["curve"] for c in study["claims"]} == {"b = 1", "b = 4", "tensor, b = 1"}
    assert {(r["strategy"], r["micro_batch"], r["workers"]) for r in study["sweep"]} == {
        (s, b, 2) for s in ("data", "tensor") for b in (1, 4)}
    # Where a sweep cell is also a timing cell, it is the same measurement, same speedup.
    timed = {(r["strategy"], r["micro_batch"], r["workers"], r["train_size"]): r["speedup"]
             for r in study["speedup"]}
    shared = [r for r in study["sweep"] if (r["strategy"], r["micro_batch"], 2, 120) in timed]
    assert len(shared) == 3 and all(r["train_size"] == 120 for r in study["sweep"])
    for r in shared:
        assert r["speedup"] == timed[(r["strategy"], r["micro_batch"], 2, 120)]
    # What crosses per iteration: 20-8-10, N = 2; tensor: two partial outputs per sample.
    tensor = [t for t in study["traffic"] if t["strategy"] == "tensor"]
    assert {(t["micro_batch"], t["numbers"]) for t in tensor} == {(1, 2 * 2 * 10),
                                                                  (4, 2 * 8 * 10)}
    assert [m["strategy"] for m in study["cost_models"]] == ["data", "tensor"]
    report = (out / "REPORT.md").read_text()
    assert "## Two ways to split the work" in report and "(speedup_vs_batch.png)" in report
    assert "**A cost model per strategy**" in report
    assert "**What crosses between the workers per iteration**" in report
    for b in (1, 4):
        assert re.search(rf"^b = {b}: (data|tensor) parallelism \d", report, re.M)
