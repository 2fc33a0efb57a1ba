"""A panel's run history: one row per run with the settings that differ, one figure."""

import pytest

from pdsgd import load_dataset
from pdsgd.course import widgets
from pdsgd.course.history import RunHistory


def _kept(workers, rate, accuracy, backend="processes", **config):
    base = dict(workers=workers, micro_batch=1, train_size=1000, hidden=[200], epochs=1,
                backend=backend, dataset="mnist-5k", sync="bsp", lr_rule="fixed", lr=0.1)
    return dict(config={**base, **config}, samples_per_second=rate,
                test_accuracy=accuracy, train_seconds=1000 / rate)


def test_the_table_shows_the_settings_that_differ_and_the_speedup_against_n_1():
    history = RunHistory()
    history.add(_kept(1, 8000.0, 0.80, backend="sequential"))
    history.add(_kept(2, 12000.0, 0.80))
    history.add(_kept(2, 20000.0, 0.78, micro_batch=16))
    table = history.table()
    assert list(table.index) == [1, 2, 3]
    assert {"N", "b", "backend", "samples/s", "test accuracy"} <= set(table.columns)
    assert "P" not in table.columns and "sync" not in table.columns  # the same in every row
    assert table.loc[2, "S vs N = 1"] == pytest.approx(1.5)
    # Run 3 solves another problem (b = 16): no sequential run of it, no speedup.
    assert table["S vs N = 1"].isna().tolist() == [True, False, True]
    assert history.labels()[2] == "3: N 2, b 16, processes"


def test_the_figure_sets_every_run_side_by_side_and_marks_replayed_ones():
    history = RunHistory()
    history.add(_kept(1, 8000.0, 0.80, backend="sequential"))
    history.add(_kept(2, 12000.0, 0.80), source="results/reference/full-fashion-mnist")
    fig = history.figure()
    rate, accuracy = fig.axes
    assert len(rate.patches) == len(accuracy.patches) == 2
    assert [p.get_hatch() for p in rate.patches] == [None, "//"]
    assert "replayed from kept results" in fig._suptitle.get_text()
    assert "source" in history.table().columns


@pytest.mark.slow
def test_three_panel_runs_make_three_rows_and_one_figure():
    data = load_dataset("synthetic", train_size=400, test_size=100, seed=3)
    panel = widgets.TrainingPanel(data, train_size=200, epochs=1, hidden_width=20)
    for workers, backend in ((1, "auto"), (2, "threads"), (2, "serial")):
        panel.workers.value, panel.backend.value = workers, backend
        assert panel.run() is not None
    assert len(panel.history) == 3
    table = panel.history.table()
    assert table["N"].tolist() == [1, 2, 2]
    assert table["backend"].tolist() == ["sequential", "threads", "serial"]
    assert table["S vs N = 1"].notna().tolist() == [False, True, True]
    shown = panel.history_area.outputs
    assert "text/html" in shown[0]["data"]  # the table
    assert [o for o in shown if "image/png" in o["data"]], "one figure of the three runs"
