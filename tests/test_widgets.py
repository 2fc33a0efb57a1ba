"""The notebooks' widget panels and helpers, driven as a student would: set values, press Run."""


import numpy as np
import pytest
from matplotlib.figure import Figure

from pdsgd import load_dataset, plots
from pdsgd.course import lessons, widgets
from pdsgd.engine import trace
from pdsgd.mlp import MLP


@pytest.fixture(scope="module")
def data():
    """Small synthetic data: the panels' logic without mnist-5k's loading time."""
    return load_dataset("synthetic", train_size=400, test_size=100, seed=3)


def test_training_panel_controls_map_to_train_arguments(data):
    panel = widgets.TrainingPanel(data, train_size=300)
    panel.hidden_width.value, panel.hidden_layers.value = 50, 2
    panel.workers.value, panel.micro_batch.value = 2, 4
    opts = panel.options()
    assert opts["hidden"] == (50, 50)
    assert opts["workers"] == 2 and opts["micro_batch"] == 4 and opts["train_size"] == 300
    assert opts["backend"] is None  # "auto": sequential for N = 1, the engine's default above
    panel.backend.value = "threads"
    assert panel.options()["backend"] == "threads"


def test_training_panel_defaults_are_the_course_defaults():
    panel = widgets.TrainingPanel()
    d = lessons.defaults()
    assert panel.train_size.value == d["train_size"] and panel.epochs.value == d["epochs"]
    assert panel.hidden == tuple(d["hidden"]) and panel.workers.value == 1


def test_training_panel_run_button_trains_and_plots(data):
    panel = widgets.TrainingPanel(data, train_size=200, epochs=2)
    panel.hidden_width.value = 20
    panel.run_button.click()
    assert panel.error is None, panel.error
    assert panel.result.history["epoch"] == [1, 2]
    assert panel.result.config["train_size"] == 200
    assert panel.result.model.sizes == (784, 20, 10)
    (fig,) = panel.figures  # the loss/accuracy figure, redrawn after each epoch
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert len(fig.axes[0].lines[0].get_xdata()) == 2
    assert "test accuracy" in panel.status.value
    assert not panel.run_button.disabled


def test_training_panel_runs_the_parallel_engine(data):
    panel = widgets.TrainingPanel(data, train_size=200, epochs=1, workers=2, backend="serial")
    panel.run_button.click()
    assert panel.error is None, panel.error
    assert panel.result.config["workers"] == 2
    assert panel.result.trace is not None and len(panel.result.trace) > 0


def test_training_panel_shows_a_refusal_instead_of_raising(data):
    panel = widgets.TrainingPanel(data, train_size=1000)  # the data holds only 400
    panel.run_button.click()
    assert panel.result is None
    assert "train_size" in panel.error and "refused" in panel.status.value
    assert not panel.run_button.disabled


def test_straggler_panel_draws_the_timeline(data):
    panel = widgets.StragglerPanel(data, train_size=100, delay_ms=0.0, backend="threads")
    panel.run_button.click()
    assert panel.error is None, panel.error
    assert len(panel.figures) == 2  # the timeline window and the per-worker totals
    assert set(trace.summarize(panel.result.trace)) >= {0, 1}


def test_straggler_slider_follows_the_number_of_workers():
    panel = widgets.StragglerPanel(workers=4)
    assert panel.straggler.max == 3
    panel.workers.value = 2
    assert panel.straggler.max == 1


def test_straggler_makes_the_others_wait(data):
    panel = widgets.StragglerPanel(data, train_size=60, delay_ms=3.0, straggler=1,
                                   backend="threads")
    assert panel.options()["straggler"] == 1 and panel.options()["straggler_delay"] == 0.003
    panel.run_button.click()
    assert panel.error is None, panel.error
    totals = trace.summarize(panel.result.trace)
    iterations = 30
    # Worker 1 spends the delay computing; worker 0 spends it waiting for worker 1.
    assert totals[1]["compute"] - totals[0]["compute"] > 0.5 * iterations * 0.003
    assert totals[0]["barrier wait"] > 0.5 * iterations * 0.003


def test_live_epoch_draws_a_falling_loss(data):
    model, curve = widgets.live_epoch(data, hidden=(30,), train_size=300, every=50, lr=0.3)
    assert curve["samples"] == [0, 50, 100, 150, 200, 250, 300]
    assert curve["loss"][-1] < curve["loss"][0]
    assert model.accuracy(data.X_test, data.y_test) > 0.8


def test_gradient_check_agrees_with_finite_differences():
    rng = np.random.default_rng(0)
    check = lessons.gradient_check(MLP((6, 5, 3), seed=1), rng.random((4, 6)),
                                  rng.random((4, 3)), n_checks=10)
    assert check["relative_error"].max() < 1e-6
    assert len(set(check["index"])) == 10


def test_measure_messages_counts_the_floats():
    m = lessons.measure_messages(sizes=(784, 200, 10), workers=2, repeats=2)
    assert m["factors"]["floats"] == 784 + 200 + 200 + 10
    assert m["gradients"]["floats"] == 784 * 200 + 200 + 200 * 10 + 10
    for kind in m.values():
        assert kind["worker_seconds"] > 0 and kind["aggregate_seconds"] > 0
    assert isinstance(plots.plot_messages(m), Figure)


def test_crossing_cost_is_the_last_arrivals_wait():
    rows = trace.empty_trace(6)
    rows["phase"] = trace.WAIT
    rows["worker"] = [0, 1, 0, 1, trace.AGGREGATOR, 0]
    rows["iteration"] = [0, 0, 1, 1, 1, 2]
    rows["end"] = [5.0, 1.0, 2.0, 3.0, 0.1, 4.0]
    assert lessons.crossing_cost(rows) == 2.0  # median of 1, 2 and 4; the aggregator ignored


def test_thread_barrier_measurement_is_a_small_positive_time():
    assert 0 < lessons.measure_thread_barrier(2, crossings=200) < 0.05


def test_quick_mode_shrinks_the_defaults(monkeypatch):
    monkeypatch.setenv(lessons.QUICK_ENV, "1")
    quick = lessons.defaults()
    monkeypatch.setenv(lessons.QUICK_ENV, "0")
    normal = lessons.defaults()
    assert quick["train_size"] < normal["train_size"]
    assert lessons.pick("a", "b") == "a"


def test_course_figures_draw():
    for fig in (plots.draw_architecture(4), plots.plot_digits(np.zeros((3, 784)), [1, 2, 3]),
                plots.plot_loss_curve({"samples": [0, 1], "loss": [1.0, 0.5]}),
                plots.plot_phase_totals({0: {"compute": 1.0, "barrier wait": 0.5,
                                             "aggregate": 0.0},
                                         -1: {"compute": 0.0, "barrier wait": 0.2,
                                              "aggregate": 0.3}})):
        assert isinstance(fig, Figure)
        assert widgets.figure_image(fig).data[:4] == b"\x89PNG"


def test_iteration_profile_reads_medians_off_the_trace():
    rows = trace.empty_trace(4)
    rows["worker"] = [0, 1, 0, 1]
    rows["iteration"] = [0, 0, 0, 0]
    rows["phase"] = [trace.COMPUTE, trace.COMPUTE, trace.WAIT, trace.WAIT]
    rows["start"] = [0.0, 0.0, 1.0, 3.0]
    rows["end"] = [1.0, 3.0, 3.5, 3.5]
    profile = lessons.iteration_profile(rows)
    assert profile == {"iteration": 3.5, "compute": 2.0, "crossing": 0.5}


def test_a_bug_in_a_run_is_reported_and_the_button_comes_back(data, monkeypatch):
    panel = widgets.TrainingPanel(data, train_size=100)

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(widgets, "train", broken)
    panel.run_button.click()  # ipywidgets logs what a click handler raises
    assert panel.result is None and panel.error is None
    assert "failed" in panel.status.value and not panel.run_button.disabled
    with pytest.raises(RuntimeError, match="a bug"):  # outside a kernel, run() raises it
        panel.run()
