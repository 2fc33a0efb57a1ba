"""The notebooks' widget panels and helpers, driven as a student would: set values, press Run."""


import gc
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from engine_helpers import shm_segments, worker_children
from matplotlib.figure import Figure

import pdsgd
from pdsgd import load_dataset, plots
from pdsgd.course import background, distributed, lab, lessons, scaling, tables, widgets
from pdsgd.course import panel as panel_module
from pdsgd.engine import trace
from pdsgd.engine.backends import BACKENDS
from pdsgd.engine.modes import AGGREGATIONS
from pdsgd.errors import OptionError
from pdsgd.mlp import MLP
from pdsgd.study import experiment
from pdsgd.train import LR_RULES, TrainingStopped, train


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
    assert opts["aggregate"] is None and opts["warmup_epochs"] == 0
    assert opts["span"] == widgets.SPAN_SAMPLES // 8  # a Stop is seen every 1,024 samples
    panel.backend.value, panel.aggregate.value = "threads", "replicated"
    assert panel.options()["backend"] == "threads"
    assert panel.options()["aggregate"] == "replicated"
    panel.lr_rule.value = "linear"
    assert not panel.warmup_epochs.disabled and panel.options()["warmup_epochs"] == 1
    panel.lr_rule.value = "fixed"
    assert panel.warmup_epochs.disabled and panel.options()["warmup_epochs"] == 0


def test_drop_downs_offer_what_the_engine_has():
    panel = widgets.TrainingPanel()
    assert panel.backend.options == ("auto", *BACKENDS)
    assert panel.aggregate.options == ("auto", *AGGREGATIONS)
    assert panel.lr_rule.options == LR_RULES
    assert set(widgets.BARRIER_BACKENDS) <= set(BACKENDS)


def test_training_panel_defaults_are_the_course_defaults():
    panel = widgets.TrainingPanel()
    d = lessons.defaults()
    assert panel.train_size.value == d["train_size"] and panel.epochs.value == d["epochs"]
    assert panel.hidden == tuple(d["hidden"]) and panel.workers.value == 1


def test_sliders_cannot_exceed_the_data(data):
    panel = widgets.TrainingPanel(data)
    assert panel.train_size.max == len(data.X_train) == 400
    panel.train_size.value = 5000
    assert panel.train_size.value == 400
    assert widgets.TrainingPanel().train_size.max == 4000  # mnist-5k's training set
    straggler = widgets.StragglerPanel(data, train_size=10_000)
    assert straggler.train_size.value == straggler.train_size.max == 400


def test_training_panel_run_button_trains_and_plots(data):
    panel = widgets.TrainingPanel(data, train_size=200, epochs=2)
    panel.hidden_width.value = 20
    panel.run_button.click()  # starts the run in its own thread and returns
    assert panel.wait(60)
    assert panel.error is None, panel.error
    assert panel.result.history["epoch"] == [1, 2]
    assert panel.result.config["train_size"] == 200
    assert panel.result.model.sizes == (784, 20, 10)
    (fig,) = panel.figures  # the loss/accuracy figure, redrawn after each epoch
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert len(fig.axes[0].lines[0].get_xdata()) == 2
    assert "test accuracy" in panel.status.value
    assert not panel.run_button.disabled and panel.stop_button.disabled
    bar = panel.progress_box.children[0]  # tqdm's bar, drawn inside the panel
    assert bar.children[1].value == bar.children[1].max == 400  # 2 epochs of 200 samples
    gc.collect()
    assert "400/400" in repr(panel)  # the panel can still be shown after the run


def test_training_panel_runs_the_parallel_engine_and_reports_start_up(data):
    panel = widgets.TrainingPanel(data, train_size=200, epochs=1, workers=2, backend="serial")
    assert panel.run() is panel.result
    assert panel.error is None, panel.error
    assert panel.result.config["workers"] == 2 and panel.result.config["span"] == 512
    assert panel.result.trace is not None and len(panel.result.trace) > 0
    assert "s starting 2 workers" in panel.status.value and "s training" in panel.status.value


def _wait_for(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.mark.parametrize("engine", [dict(workers=1), dict(workers=2, backend="processes")])
def test_stop_button_ends_the_run_and_the_panel_stays_usable(data, engine):
    panel = widgets.TrainingPanel(data, train_size=400, epochs=10, **engine)
    panel.run_button.click()
    _wait_for(lambda: panel.figures)  # an epoch has finished
    assert not panel.stop_button.disabled
    panel.stop_button.click()
    assert panel.wait(30)
    assert panel.result is None and panel.error is None
    assert 1 <= panel.stopped_after < 10
    assert f"stopped after epoch {panel.stopped_after} of 10" in panel.status.value
    assert not panel.run_button.disabled and panel.stop_button.disabled
    assert worker_children() == [] and shm_segments() == set()
    panel.epochs.value = 1  # and the next run works
    assert panel.run() is not None and panel.result.history["epoch"] == [1]


def test_sigint_stops_the_runs_in_progress_instead_of_raising(data):
    panel = widgets.TrainingPanel(data, train_size=400, epochs=10)
    previous = signal.getsignal(signal.SIGINT)
    background.install_sigint_handler()  # what a kernel's event loop runs on Run
    try:
        panel.run_button.click()
        _wait_for(lambda: panel.figures)
        os.kill(os.getpid(), signal.SIGINT)  # Kernel > Interrupt
        assert panel.wait(30)
        assert panel.stopped_after is not None and "stopped after epoch" in panel.status.value
        with pytest.raises(KeyboardInterrupt):  # with nothing running: as before
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
    finally:
        signal.signal(signal.SIGINT, previous)


def test_an_interrupt_of_a_cell_that_waits_stops_the_run_first(data):
    panel = widgets.TrainingPanel(data, train_size=400, epochs=10)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # a cell's handler

    def interrupt_after_the_first_epoch():
        _wait_for(lambda: panel.figures)
        os.kill(os.getpid(), signal.SIGINT)

    interrupter = threading.Thread(target=interrupt_after_the_first_epoch)
    interrupter.start()
    with pytest.raises(KeyboardInterrupt):
        panel.run()  # the cell waits; the interrupt reaches it as in any cell
    interrupter.join()
    assert not panel.running and 1 <= panel.stopped_after < 10
    assert "stopped after epoch" in panel.status.value


def test_a_refusal_names_the_control_not_the_api(data, monkeypatch):
    panel = widgets.TrainingPanel(data, train_size=100)

    def refuse(*args, **kwargs):
        raise OptionError("micro_batch", 64, "does not divide {train_size}100 here")

    monkeypatch.setattr(widgets, "train", refuse)
    panel.run_button.click()
    panel.wait(30)
    assert panel.result is None
    assert panel.error == "micro-batch b = 64 does not divide samples P = 100 here"
    assert "refused" in panel.status.value and not panel.run_button.disabled


def test_panel_figures_have_no_offset_on_their_axes(data):
    flat = {"epoch": [1, 2, 3], "loss": [0.4904970, 0.4904971, 0.4904972],
            "train_accuracy": [0.1] * 3, "test_accuracy": [0.1] * 3}
    fig = plots.plot_history(flat)  # pdsgd.plots draws every axis without an offset
    fig.canvas.draw()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            assert axis.get_major_formatter().get_offset() == ""
    panel = widgets.TrainingPanel(data, train_size=100, epochs=2, hidden_width=10)
    panel.run()
    for fig in panel.figures:
        fig.canvas.draw()
        assert all(a.get_major_formatter().get_offset() == ""
                   for ax in fig.axes for a in (ax.xaxis, ax.yaxis))


def test_straggler_panel_draws_the_timeline_and_the_time_budget(data):
    panel = widgets.StragglerPanel(data, train_size=100, delay_ms=0.0, backend="threads")
    panel.run()
    assert panel.error is None, panel.error
    # The timeline window, the per-worker totals, and the staleness of the panel's runs.
    assert len(panel.figures) == 3
    assert set(trace.summarize(panel.result.trace)) >= {0, 1}
    table = panel.messages.outputs[-1]["data"]["text/html"]
    assert "barrier wait (us)" in table and "rest (us)" in table


def test_straggler_slider_follows_the_number_of_workers():
    panel = widgets.StragglerPanel(workers=4)
    assert panel.straggler.max == 3
    panel.workers.value = 2
    assert panel.straggler.max == 1


def test_straggler_makes_the_others_wait(data):
    panel = widgets.StragglerPanel(data, train_size=60, delay_ms=3.0, straggler=1,
                                   backend="threads")
    assert panel.options()["straggler"] == 1 and panel.options()["straggler_delay"] == 0.003
    panel.run()
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
    digits = np.arange(3 * 784, dtype=float).reshape(3, 784)
    figures = (plots.draw_architecture(4), plots.plot_digits(digits, [1, 2, 3]),
               plots.plot_loss_curve({"samples": [0, 1], "loss": [1.0, 0.5]}),
               plots.plot_phase_totals({0: {"compute": 1.0, "barrier wait": 0.5,
                                            "aggregate": 0.0},
                                        -1: {"compute": 0.0, "barrier wait": 0.2,
                                             "aggregate": 0.3}}))
    for fig in figures:
        assert isinstance(fig, Figure)
        assert panel_module.figure_image(fig).data[:4] == b"\x89PNG"
    # What each draws: the architecture's four workers, the digits' pixels and labels,
    # the loss curve's points, the phase totals' bars (left to right, per party).
    architecture, digits_fig, loss, totals = figures
    texts = [t.get_text() for t in architecture.axes[0].texts]
    assert [t.split("\n")[0] for t in texts if t.startswith("Worker")] == [
        f"Worker {i}" for i in range(1, 5)]
    assert [ax.get_title() for ax in digits_fig.axes] == ["1", "2", "3"]
    for ax, row in zip(digits_fig.axes, digits, strict=True):
        np.testing.assert_array_equal(ax.images[0].get_array(), row.reshape(28, 28))
    ((x, y),) = [(line.get_xdata(), line.get_ydata()) for line in loss.axes[0].get_lines()]
    assert list(x) == [0, 1] and list(y) == [1.0, 0.5]
    bars = {(round(p.get_y() + p.get_height() / 2), p.get_facecolor()): (p.get_x(), p.get_width())
            for p in totals.axes[0].patches}
    names = [t.get_text() for t in totals.axes[0].get_yticklabels()]
    assert names == ["worker 0", "aggregator"]
    widths = sorted((y, round(x, 9), round(w, 9)) for (y, _), (x, w) in bars.items())
    assert widths == [(0, 0.0, 1.0), (0, 1.0, 0.5), (0, 1.5, 0.0),
                      (1, 0.0, 0.0), (1, 0.0, 0.2), (1, 0.2, 0.3)]


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
    panel.run_button.click()
    panel.wait(30)
    assert panel.result is None and panel.error is None
    assert "failed" in panel.status.value and not panel.run_button.disabled
    assert "RuntimeError: a bug" in panel.messages.outputs[-1]["text"]  # the traceback
    with pytest.raises(RuntimeError, match="a bug"):  # a cell that waits for the run sees it
        panel.run()


KERNEL_SETUP = """
import os, time, psutil
from pdsgd import load_dataset
from pdsgd.course import widgets
panel = widgets.TrainingPanel(load_dataset("synthetic", train_size=400, test_size=100, seed=3),
                              train_size=400, epochs=10, workers=2, backend="processes")
print(panel.run_button.model_id)
"""
KERNEL_CHECK = """
assert panel.wait(30)
left = [p for p in psutil.Process().children(recursive=True)
        if "resource_tracker" not in " ".join(p.cmdline())]
shm = [n for n in os.listdir("/dev/shm") if n.startswith((f"pdsgd_{os.getpid()}_",
                                                          f"sem.loky-{os.getpid()}-"))]
print(repr((panel.stopped_after, panel.status.value, left, shm)))
"""


@pytest.mark.slow
def test_kernel_interrupt_stops_a_panel_run_in_a_real_kernel():
    """Run pressed through the widget protocol, then Kernel > Interrupt (SIGINT to the
    kernel's process group, as Jupyter sends it) while the kernel is idle."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", env={**os.environ, "MPLBACKEND": "agg"})
    try:
        outputs = []
        kc.execute_interactive(KERNEL_SETUP, timeout=60, output_hook=outputs.append)
        model_id = "".join(m["content"].get("text", "") for m in outputs
                           if m["msg_type"] == "stream").strip()
        click = {"method": "custom", "content": {"event": "click"}}
        kc.shell_channel.send(kc.session.msg("comm_msg", {"comm_id": model_id, "data": click}))
        kc.execute_interactive("while not panel.figures: time.sleep(0.01)", timeout=60)
        km.interrupt_kernel()  # the kernel is idle: only the panel's handler hears it
        outputs.clear()
        kc.execute_interactive(KERNEL_CHECK, timeout=60, output_hook=outputs.append)
        text = "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")
        errors = [m for m in outputs if m["msg_type"] == "error"]
        assert not errors, errors
        stopped_after, status, left, shm = eval(text)  # noqa: S307 (our own repr)
        assert 1 <= stopped_after < 10 and f"stopped after epoch {stopped_after} of 10" in status
        assert left == [] and shm == []
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_trace_table_names_its_columns(data):
    result = pdsgd.train(data, hidden=(8,), workers=2, backend="threads", aggregate="central",
                         epochs=1, train_size=40)
    table = tables.trace_table(result.trace, count=6)
    assert list(table.columns) == ["party", "iteration", "phase", "start (ms)", "end (ms)",
                                   "lasted (us)"]
    assert len(table) == 6 and set(table["phase"]) <= {"compute", "barrier wait", "aggregate"}
    assert set(table["party"]) <= {"worker 0", "worker 1", "aggregator"}


@pytest.mark.parametrize("aggregate", ["central", "replicated"])
def test_the_time_budget_accounts_for_the_whole_iteration(data, aggregate):
    result = pdsgd.train(data, hidden=(8,), workers=2, backend="threads", aggregate=aggregate,
                         epochs=2, train_size=60)
    budget = tables.time_budget(result)
    assert budget["iteration"] == pytest.approx(result.train_seconds / 60)  # 2 x 30
    for name, phases in budget["parties"].items():
        assert sum(phases.values()) == pytest.approx(budget["iteration"], rel=1e-12)
        assert phases["rest"] > -1e-6, name  # the phases fit inside the iteration
    assert ("aggregator" in budget["parties"]) == (aggregate == "central")
    frame = tables.budget_table(budget)
    assert list(frame.columns)[-1] == "= one iteration (us)"
    np.testing.assert_allclose(frame.iloc[:, -1], budget["iteration"] * 1e6, atol=0.1)


def test_interleaved_takes_turns_and_spread_reports_the_extremes():
    calls = []
    times = lessons.interleaved({"a": lambda: calls.append("a"),
                                 "b": lambda: calls.append("b")}, repeats=3)
    assert calls == ["a", "b"] * 3 and set(times) == {"a", "b"} and len(times["a"]) == 3
    assert lessons.spread([3.0, 1.0, 2.0]) == {"median": 2.0, "low": 1.0, "high": 3.0}


def test_scaling_reads_the_reproduce_cache_of_this_machine_only(data, tmp_path):
    grid = scaling.cells(40, [2], repeats=2, epochs=1)
    settings = dict(hidden=[8])
    records = experiment.run_grid(grid, data, cache_dir=tmp_path, settings=settings,
                                  progress=False)
    found = scaling.cached_records(data, cache_dir=tmp_path)
    # Per round: the sequential run at b = 1, at batch N b = 2, and the engine with N = 2.
    assert found is not None and len(found) == len(records) == 6
    assert all(r["cached"] for r in found)
    assert scaling.cached_records(data, cache_dir=tmp_path / "none") is None
    other = load_dataset("synthetic", train_size=300, test_size=100, seed=3)
    assert scaling.cached_records(other, cache_dir=tmp_path) is None  # another dataset
    for path in tmp_path.glob("*.json"):  # measured on another machine: not ours
        record = json.loads(path.read_text())
        record["machine"]["cpu"] = "another processor"
        path.write_text(json.dumps(record))
    assert scaling.cached_records(data, cache_dir=tmp_path) is None
    table = scaling.speedups(records)
    assert list(table["N"]) == [1, 1, 2] and list(table["repeats"]) == [2, 2, 2]
    assert list(table["batch (N b)"]) == [1, 2, 2]
    assert list(table["baseline of"]) == ["baseline of S",
                                          "baseline of the hardware speedup at N = 2", ""]
    # Each speedup divides its own baseline's median time (the sequential run at b, and
    # sequential minibatch SGD at batch N b), computed here directly from the records.
    median = {(c.backend, c.micro_batch): float(np.median(
        [r["seconds"] for r in records if (r["cell"]["backend"], r["cell"]["micro_batch"])
         == (c.backend, c.micro_batch)])) for c in grid}
    engine = table.iloc[2]
    assert engine["S (against sequential at b)"] == pytest.approx(
        median[(None, 1)] / median[("processes", 1)], abs=1e-3)
    assert engine["hardware speedup (against sequential at N b)"] == pytest.approx(
        median[(None, 2)] / median[("processes", 1)], abs=1e-3)
    assert "to" in table["S range"][2] and "to" in table["hardware speedup range"][2]
    words = scaling.two_speedups_in_words(experiment.summarize(records))
    assert "the seed's S = " in words and "batch N b = 2" in words
    budget = scaling.iteration_budget(records)
    assert list(budget["backend"]) == ["sequential", "processes"]
    row = budget.iloc[1]
    parts = row["compute (us)"] + row["barrier wait (us)"] + row["rest (us)"]
    if row["aggregation"] != "central":
        parts += row["aggregate (us)"]
    assert parts == pytest.approx(row["one iteration (us)"], abs=0.3)


def test_lr_rule_sweep_sets_the_rules_side_by_side(data):
    table = lessons.lr_rule_sweep(data, batches=(1, 4), epochs=2, train_size=100, hidden=(8,))
    assert list(table.index) == [1, 4]
    assert table.loc[4, "linear rate"] == pytest.approx(0.4)
    one = table.loc[1]
    assert one["accuracy, fixed"] == one["accuracy, linear"]  # batch 1: the rules agree
    assert table.loc[4].between(0, 1)[[c for c in table.columns if "accuracy" in c]].all()
    # Each column is BSP's accuracy at that batch: N = B workers of one sample on the
    # engine (serial backend) compute the same weights to 1e-12, so the same accuracy
    # to the table's three decimals; the linear rule's column with lr x B.
    for batch, lr in ((1, 0.1), (4, 0.1), (4, 0.4)):
        bsp = pdsgd.train(data, workers=batch, backend="serial", epochs=2, train_size=100,
                          hidden=(8,), lr=lr, seed=0)
        column = "accuracy, fixed" if lr == 0.1 else "accuracy, linear"
        assert table.loc[batch, column] == round(bsp.test_accuracy, 3), (batch, column)


def test_the_lab_launcher_puts_this_environment_first_on_path(monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setenv("SHELL", "/bin/bash")
    env = lab.environment()
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    command = lab.command("notebooks", "--no-browser", env=env)
    assert command[1:5] == ["-m", "jupyter", "lab", "notebooks"] and "--no-browser" in command
    setting = next(c for c in command if c.startswith("--ServerApp.terminado_settings="))
    assert json.loads(setting.split("=", 1)[1]) == {
        "shell_command": ["/bin/bash", "--rcfile", str(lab.BASHRC), "-i"]}


@pytest.mark.slow
def test_a_command_line_dask_cluster_starts_and_stops(data):
    with distributed.command_line_cluster(workers=2) as address:
        rows = distributed.compare(data, scheduler=address, workers=2, micro_batch=10,
                                   local_steps=(), epochs=1, train_size=60, hidden=(8,))
    assert rows[0]["rounds"] == [3]
    left = [p for p in worker_children() if "dask" in " ".join(p.cmdline())]
    assert left == []


def test_the_parallel_drop_down_splits_the_network_and_counts_what_crosses(data):
    panel = widgets.TrainingPanel(data, train_size=200, epochs=1, workers=2, backend="serial")
    assert panel.parallel.options == ("data", "tensor") and panel.parallel.value == "data"
    panel.aggregate.value = "central"
    panel.parallel.value = "tensor"
    # The aggregation applies to data parallelism only: disabled, and not passed on.
    assert panel.aggregate.disabled and panel.options()["aggregate"] is None
    assert panel.options()["parallel"] == "tensor"
    assert panel.run() is not None and panel.error is None
    assert panel.result.config["parallel"] == "tensor"
    (line,) = [o["text"] for o in panel.messages.outputs]
    # 784-200-10, N = 2, b = 1: two workers' partial outputs for two samples, ten classes.
    assert line.startswith("parallel = tensor, N = 2, b = 1: 40 numbers (320 bytes) cross")
    panel.parallel.value = "data"
    assert not panel.aggregate.disabled and panel.options()["aggregate"] == "central"


def test_compare_splits_runs_both_and_says_what_it_measured(data, capsys):
    panel = widgets.TrainingPanel(data, train_size=200, epochs=1, workers=2, backend="serial")
    panel.hidden_width.value = 20
    table = scaling.compare_splits(panel, repeats=2)
    assert list(table.index) == ["data", "tensor"]
    # One arithmetic, two splits: the same accuracy (the same minibatch SGD).
    assert table.loc["data", "test accuracy"] == table.loc["tensor", "test accuracy"]
    assert table.loc["tensor", "numbers per iteration"] == 2 * 2 * 10
    # The serial backend aggregates centrally: every worker's factors up, the weights down.
    assert table.loc["data", "numbers per iteration"] == (2 * (784 + 20 + 20 + 10)
                                                          + 784 * 20 + 20 + 20 * 10 + 10)
    assert (table["fastest (s)"] <= table["training time (s)"]).all()
    printed = capsys.readouterr().out
    assert "parallel = data, N = 2" in printed and "parallel = tensor, N = 2" in printed
    words = scaling.splits_in_words(table)
    assert f"the same test accuracy, {table.loc['data', 'test accuracy']:.4f}" in words
    assert "moved 17,578 numbers between the workers and tensor parallelism 40, 439x fewer" in words
    # Sentences that hold whichever way the measurement goes.
    slower = table.copy()
    slower.loc["tensor", "training time (s)"] = 4 * slower.loc["data", "training time (s)"]
    slower.loc["tensor", "test accuracy"] += 0.01
    words = scaling.splits_in_words(slower)
    assert "data parallelism trained 4.00x as fast" in words and "which differ" in words


def test_the_status_counts_one_worker_and_the_epoch_a_stop_cut_short(data):
    assert widgets.TrainingPanel(data, workers=1, backend="threads").starting() == \
        "starting 1 worker (threads)"
    assert widgets.TrainingPanel(data, workers=3, backend="threads").starting() == \
        "starting 3 workers (threads)"
    assert widgets.StragglerPanel(data).starting().startswith("starting 2 workers (")
    ticks = iter(range(10**6))
    with pytest.raises(TrainingStopped) as info:
        train(data, hidden=(8,), epochs=3, workers=1, backend="serial", span=1,
              stop=lambda: next(ticks) > 20, on_step=lambda model, samples: time.sleep(0.005))
    status = panel_module._timing(info.value)
    assert status.endswith("s starting 1 worker)"), status
    assert float(status[1:status.index(" s training")]) >= 0.1, status


def test_a_scratch_folder_of_a_killed_kernel_goes_the_next_time(tmp_path, monkeypatch):
    import subprocess
    import tempfile

    from pdsgd.course import scratch

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a kernel that was killed: its process id is free
    left = tmp_path / f"pdsgd-03-{gone.pid}-abc"
    left.mkdir()
    (left / "cell.json").write_text("{}")
    mine = scratch.scratch_folder("03")
    other = scratch.scratch_folder("03-solutions")  # another notebook's: left alone
    assert not left.exists()
    assert Path(mine.name).is_dir() and Path(other.name).is_dir()
    assert Path(mine.name).name.startswith(f"pdsgd-03-{os.getpid()}-")
    again = scratch.scratch_folder("03")  # a living kernel's folder stays
    assert Path(mine.name).is_dir()
    for folder in (mine, other, again):
        folder.cleanup()
    assert not any(tmp_path.iterdir())


def test_notebook_03_reads_the_hardware_baselines_that_make_reproduce_measured(tmp_path):
    """From the cache of ``make reproduce``, notebook 03 takes the sequential runs at batch
    N b too, and sets both speedups beside each other as the study computed them."""
    from pdsgd.study.profiles import tiny_profile
    from pdsgd.study.reproduce import reproduce

    profile = tiny_profile(repeats=1)
    study = reproduce(tmp_path, profile, progress=False, formats=("png",))
    data = load_dataset(profile.datasets[0], **profile.data_options)
    records = scaling.cached_records(data, cache_dir=tmp_path / ".cache", backend="serial")
    cells = {(r["cell"]["backend"], r["cell"]["workers"], r["cell"]["micro_batch"])
             for r in records}
    assert cells == {(None, 1, 1), (None, 1, 2), ("serial", 1, 1), ("serial", 2, 1)}
    table = scaling.speedups(records, backend="serial")
    want = next(r for r in study["speedup"] if (r["strategy"], r["micro_batch"], r["workers"],
                                                r["train_size"]) == ("data", 1, 2, 120))
    (i,) = table.index[(table["backend"] == "serial") & (table["N"] == 2)]
    row = table.loc[i]
    assert row["hardware speedup (against sequential at N b)"] == pytest.approx(
        want["hardware_speedup"], abs=1e-3)
    assert row["S (against sequential at b)"] == pytest.approx(want["speedup"], abs=1e-3)


def test_the_wait_splits_into_the_crossing_and_waiting_for_the_later_worker():
    rows = trace.empty_trace(6)
    rows["phase"] = trace.WAIT
    rows["worker"] = [0, 1, 0, 1, 0, 1]
    rows["iteration"] = [0, 0, 1, 1, 2, 2]
    # Worker 0 waits 3 us, 5 ms (its partner lost its core), 2 us; worker 1 arrives last
    # in iterations 0 and 1 (waits 1 us each), worker 0 in iteration 2.
    rows["end"] = [3e-6, 1e-6, 5e-3, 1e-6, 2e-6, 4e-6]
    parts = lessons.wait_breakdown(rows)
    assert parts["iterations"] == 3
    assert parts["wait"] == pytest.approx((3e-6 + 5e-3 + 2e-6) / 3)
    assert parts["crossing"] == pytest.approx((1e-6 + 1e-6 + 2e-6) / 3)
    assert parts["crossing"] + parts["behind"] == pytest.approx(parts["wait"])
    assert parts["long_count"] == 1
    assert parts["long_share"] == pytest.approx(5e-3 / (5e-3 + 5e-6))


def test_notebook_4s_straggler_panel_leaves_the_sync_controls_to_notebook_6():
    def described(panel):
        found, todo = [], [panel]
        while todo:
            widget = todo.pop()
            found.append(getattr(widget, "description", None))
            todo.extend(getattr(widget, "children", ()))
        return found

    barrier = widgets.StragglerPanel(sync_controls=False)
    assert "sync" not in described(barrier) and "staleness s" not in described(barrier)
    assert barrier.options()["sync"] == "bsp" and "staleness" not in barrier.options()
    assert "synchronize" not in barrier.heading
    full = widgets.StragglerPanel()
    assert "sync" in described(full) and "staleness s" in described(full)


@pytest.mark.parametrize("delay_ms", [0.5, 2.0, 10.0])
def test_a_straggler_run_looks_at_stop_at_least_every_quarter_second_of_its_delay(delay_ms):
    # The broker looks at Stop between spans: a span of slowed iterations must stay short
    # (at 1,024 samples and 10 ms a span took 5 s, and Stop waited for it).
    for workers in (2, 4):
        panel = widgets.StragglerPanel(workers=workers, delay_ms=delay_ms)
        span = panel.options()["span"]
        assert 1 <= span and span * delay_ms / 1e3 <= 0.25, (workers, span)
