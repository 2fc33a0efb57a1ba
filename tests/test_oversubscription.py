"""The goroutine lesson: hosted workers against one process per worker, past the cores."""

import resource
from types import SimpleNamespace

import numpy as np
import pytest

from pdsgd import load_dataset
from pdsgd.plots import plot_hosting
from pdsgd.study import oversubscription


@pytest.fixture(scope="module")
def data():
    return load_dataset("mnist-5k")


def test_a_row_counts_the_worker_processes_switches_per_iteration(monkeypatch, data):
    calls = iter([SimpleNamespace(ru_nivcsw=100, ru_nvcsw=10),
                  SimpleNamespace(ru_nivcsw=160, ru_nvcsw=40)])
    monkeypatch.setattr(resource, "getrusage", lambda who: next(calls))
    row, result = oversubscription.measure(data, 3, "cores", epochs=2, train_size=60,
                                           micro_batch=2, trace=True)
    # 2 epochs of ceil(60 / (3 * 2)) = 10 iterations: 60 and 30 switches over 20.
    assert row["involuntary switches / iteration"] == pytest.approx(3.0)
    assert row["voluntary switches / iteration"] == pytest.approx(1.5)
    assert row["N"] == 3 and row["hosting"] == "cores"
    assert row["samples/s"] == result.samples_per_second
    assert 0 <= row["waiting"] <= 1


def test_both_hostings_train_the_same_weights_and_give_one_median_row_each(data):
    seen = []
    rows = oversubscription.compare(data, workers=(3,), repeats=2, progress=seen.append,
                                    epochs=1, train_size=90, micro_batch=2)
    assert [(r["N"], r["hosting"], r["runs"]) for r in rows] == [(3, "cores", 2),
                                                               (3, "workers", 2)]
    assert [r["hosting"] for r in seen] == ["cores", "workers"] * 2  # interleaved rounds
    for r in rows:
        assert r["samples/s"] > 0 and r["involuntary switches / iteration"] >= 0
    _, hosted = oversubscription.measure(data, 3, "cores", epochs=1, train_size=90)
    _, apart = oversubscription.measure(data, 3, "workers", epochs=1, train_size=90)
    np.testing.assert_array_equal(hosted.model.params, apart.model.params)
    lines = oversubscription.table_lines(rows)
    assert len(lines) == 3 and "hosting" in lines[0] and "workers" in lines[2]


def test_the_figure_draws_a_line_per_hosting_on_both_panels():
    rows = [{"N": n, "hosting": h, "samples/s": 100.0 * n, "waiting": 0.1,
             "involuntary switches / iteration": float(n),
             "voluntary switches / iteration": 1.0} for n in (2, 4) for h in ("cores", "workers")]
    fig = plot_hosting(rows, cores=2)
    rate, switches = fig.axes[:2]
    assert len(rate.lines) == len(switches.lines) == 3  # two hostings and the cores' line
    assert "per iteration" in switches.get_ylabel()
