"""Demo mode: a panel replays kept results and says so; the projector's style."""

from pathlib import Path

import matplotlib as mpl
import pytest

import pdsgd.course
from pdsgd import load_dataset
from pdsgd.course import demo, widgets
from pdsgd.errors import PdsgdError

KEPT = Path(__file__).resolve().parents[1] / "results" / "reference" / "full-fashion-mnist"


@pytest.fixture(scope="module")
def data():
    return load_dataset("synthetic", train_size=400, test_size=100, seed=3)


def test_a_panel_replays_kept_runs_and_every_figure_says_so(data):
    panel = widgets.TrainingPanel(data, train_size=300).replay_from(KEPT)
    assert panel.run_button.description == "Replay" and "demo mode" in panel.status.value
    for workers in (1, 2):
        panel.workers.value = workers
        kept = panel.run()
        assert isinstance(kept, demo.KeptRun)
    assert "kept, not trained now" in panel.status.value
    # The numbers are the kept ones, not a run of the panel's data.
    assert kept.config["dataset"] == "fashion-mnist" and kept.config["train_size"] == 1000
    table = panel.history.table()
    assert table["source"].tolist() == ["results/reference/full-fashion-mnist"] * 2
    assert table.loc[2, "S vs N = 1"] == pytest.approx(
        kept.samples_per_second / panel.history.rows[0]["samples/s"], abs=0.005)
    fig = panel.history.figure()
    assert "replayed from results/reference/full-fashion-mnist" in fig._suptitle.get_text()
    assert "not trained now" in fig._suptitle.get_text()
    assert [o for o in panel.history_area.outputs if "image/png" in o["data"]]
    panel.replay_from(False)
    panel.workers.value = 1
    assert panel.run().config["dataset"] == "synthetic"  # live again
    assert panel.history.rows[-1]["source"] == "live"


def test_a_setting_that_was_not_kept_is_refused_in_the_panel(data):
    panel = widgets.TrainingPanel(data, workers=3, train_size=300).replay_from(KEPT)
    assert panel.run() is None
    assert "no kept run with N = 3" in panel.error and "N = 1, 2, 4, 8, 16" in panel.error
    assert len(panel.history) == 0


def test_no_kept_results_is_a_one_line_error(tmp_path):
    with pytest.raises(PdsgdError, match="no kept results at"):
        demo.study_path(tmp_path)


def test_present_switches_large_fonts_and_thick_lines_once(data):
    before = mpl.rcParams["font.size"], mpl.rcParams["lines.linewidth"]
    try:
        pdsgd.course.present()
        pdsgd.course.present()  # twice is once
        assert mpl.rcParams["font.size"] == 16 and mpl.rcParams["lines.linewidth"] == 3.0
        from pdsgd import plots

        fig = plots.plot_loss_curve({"samples": [0, 10], "loss": [0.5, 0.2]})
        assert fig.axes[0].lines[0].get_linewidth() == 3.0
    finally:
        pdsgd.course.present(False)
    assert (mpl.rcParams["font.size"], mpl.rcParams["lines.linewidth"]) == before
