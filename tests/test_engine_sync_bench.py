"""``pdsgd bench sync`` on a tiny grid, and the figures drawn from it."""

import json

import numpy as np
import pytest

from pdsgd import load_dataset, train
from pdsgd.bench.sync import format_table
from pdsgd.cli import main
from pdsgd.engine.sync import histogram
from pdsgd.plots import plot_staleness, plot_sync_tradeoff
from pdsgd.study.sync_sweep import run, setting_options

#: How far a cell's samples/s may stray from sequential minibatch SGD's on the same samples
#: (same arithmetic, batch N x b, timed here) before the rate is taken for a wrong number:
#: N workers are at most N times as fast, a run with a straggler on a busy machine may be
#: an order of magnitude slower; generous both ways (x 10), since both are timed on a
#: shared machine at different moments. A wrong unit (milliseconds for seconds) is x 1000.
FASTER, SLOWER = 10, 100


@pytest.fixture(scope="module")
def measured():
    return run("mnist-5k", epochs=1, repeats=2, workers=(2,), micro_batches=(1, 4),
               factors=(1.0, 2.0), settings=("ssp:0", "async"), backend="threads",
               train_size=120, progress=None)


@pytest.fixture(scope="module")
def sequential():
    """Sequential minibatch SGD at batch N x b = 2b on the bench's samples, per b: BSP's
    arithmetic in one process, the independent reference of accuracy and rate."""
    data = load_dataset("mnist-5k", train_size=120)
    return {b: train(data, epochs=1, micro_batch=2 * b, train_size=120) for b in (1, 4)}


def test_every_cell_is_measured_against_bsp_in_the_same_rounds(measured):
    rows = measured["rows"]
    assert len(rows) == 2 * 2 * 3  # b x straggler x (bsp, ssp:0, async)
    assert json.loads(json.dumps(measured)) == measured  # JSON-ready
    for r in rows:
        assert len(r["rates"]) == 2 and r["samples_per_s"] > 0
        assert 0 <= r["test_accuracy"] <= 1
        # One gradient per block of b samples, per round.
        assert sum(r["staleness"]["count"]) == 2 * 120 // r["micro_batch"]
    for r in (r for r in rows if r["setting"] == "bsp"):
        assert r["vs_bsp"] == 1.0 and r["staleness_max"] == 0
    # SSP with s = 0 computes what BSP computes: the same accuracy.
    for r in (r for r in rows if r["setting"] == "ssp:0"):
        assert r["accuracy_vs_bsp"] == 0.0 and r["staleness_bound"] == 0
    table = format_table(measured)
    assert "ssp:0" in table and "async" in table and "2x" in table


def test_bsp_learns_what_sequential_sgd_learns_and_every_rate_is_near_its_rate(measured,
                                                                               sequential):
    n_test = len(load_dataset("mnist-5k", train_size=120).X_test)
    for r in measured["rows"]:
        reference = sequential[r["micro_batch"]]
        if r["sync"] == "bsp" or r["staleness_bound"] == 0:
            # BSP (and SSP with s = 0), straggler or not, computes sequential minibatch SGD
            # with batch N x b (to 1e-12): the same test accuracy, within one test sample.
            for accuracy in r["accuracies"]:
                assert abs(accuracy - reference.test_accuracy) <= 1 / n_test, r["setting"]
        # Every accuracy is a count of test samples over the test set.
        for accuracy in r["accuracies"]:
            assert accuracy * n_test == pytest.approx(round(accuracy * n_test), abs=1e-6)
        # The rates are samples over seconds of the same training the sequential run did.
        seq = reference.samples_per_second
        for rate in r["rates"]:
            assert seq / SLOWER < rate < FASTER * r["workers"] * seq, (r["setting"], rate, seq)
        assert r["samples_per_s"] == pytest.approx(float(np.median(r["rates"])))


def test_the_figures_draw_the_measured_rows(measured):
    group = [r for r in measured["rows"] if r["micro_batch"] == 1 and r["straggler_factor"] == 2]
    fig = plot_sync_tradeoff(group)
    assert [t.get_text() for t in fig.axes[0].texts] == ["bsp", "ssp:0", "async"]
    fig = plot_staleness({r["setting"]: r["staleness"] for r in group})
    assert [ax.get_title().split(":")[0] for ax in fig.axes] == ["bsp", "ssp", "async"]
    fig = plot_staleness({"a": histogram([0, 0, 3])})
    bars = fig.axes[0].patches
    assert [p.get_x() + p.get_width() / 2 for p in bars] == [0, 3]  # empty bins left out


def test_bad_settings_are_refused_in_one_line_before_anything_runs(capsys):
    assert setting_options("ssp:4") == {"sync": "ssp", "staleness": 4}
    assert main(["bench", "sync", "--settings", "ssp:x"]) == 2
    assert main(["bench", "sync", "--settings", "ssp", "--repeats", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "ssp:x" in err[0] and "--staleness" in err[1], err
