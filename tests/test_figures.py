"""Every figure reads cleanly: legends off the data, plain numbers on every axis, no offsets.

Each plotting function of :mod:`pdsgd.plots` (and the engine's timeline) is
drawn on small made-up numbers chosen to provoke the default formatters (a
speedup axis from 0.4 to 1.3 that matplotlib labels ``5x10^-1``, accuracies
that differ in the eighth decimal, which it labels with an offset), then
rendered, and its legends and tick labels are checked as laid out.
"""

import matplotlib
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from pdsgd import plots
from pdsgd.engine import trace as tr
from pdsgd.study.costmodel import CostModel

matplotlib.use("Agg")

SIZES, WORKERS, BS = (1000, 4000), (1, 2, 4, 8), (1, 16)


def _timing():
    rows = []
    for b in BS:
        for p in SIZES:
            rows.append(dict(backend=None, workers=1, train_size=p, micro_batch=b,
                             strategy="data", epochs=1, seconds=p * 6e-5 / b ** 0.5,
                             seconds_min=p * 5.8e-5 / b ** 0.5, seconds_max=p * 6.5e-5 / b ** 0.5))
            for n, s in zip(WORKERS, (0.55, 0.99, 0.46, 0.58) if b == 1 else (0.9, 1.4, 1.1, 1.0),
                            strict=True):
                t = p * 6e-5 / b ** 0.5 / s
                rows.append(dict(backend="processes", workers=n, train_size=p, micro_batch=b,
                                 strategy="data", epochs=1, seconds=t, seconds_min=t * 0.95,
                                 seconds_max=t * 1.1))
    return rows


def _table():
    seq = {(r["train_size"], r["micro_batch"]): r["seconds"] for r in _timing()
           if r["backend"] is None}
    out = []
    for r in _timing():
        if r["backend"]:
            t1 = seq[(r["train_size"], r["micro_batch"])]
            s = t1 / r["seconds"]
            out.append(dict(r, speedup=s, speedup_lo=t1 / r["seconds_max"],
                            speedup_hi=t1 / r["seconds_min"], efficiency=s / r["workers"]))
    return out


def _accuracy():
    return [dict(workers=n, lr_rule=rule, test_accuracy=0.49 + 1e-8 * n, epochs=5,
                 train_size=4000, micro_batch=1,
                 history={"test_accuracy": [0.3, 0.4, 0.49 + 1e-8 * n],
                          "seconds": [0.2 * n, 0.2 * n, 0.2 * n]})
            for rule in ("fixed", "linear") for n in (1, 2, 4)]


def _trace(aggregator):
    rows = []
    for k in range(6):
        t = 1e-8 + 0.49 + k * 3e-4  # late in a run: seconds since the start are large
        for w in (0, 1):
            rows.append((w, k, tr.COMPUTE, t, t + 1e-4))
            rows.append((w, k, tr.WAIT, t + 1e-4, t + 2e-4))
            if not aggregator:
                rows.append((w, k, tr.AGGREGATE, t + 2e-4, t + 2.8e-4))
        if aggregator:
            rows.append((tr.AGGREGATOR, k, tr.AGGREGATE, t + 1e-4, t + 1.9e-4))
    return np.array(rows, dtype=tr.TRACE_DTYPE)


MODEL = CostModel(sequential=80e-6, compute=45e-6, aggregate=50e-6, sync0=10e-6, sync1=2e-6,
                  cores=2)

FIGURES = {
    "time_vs_workers": lambda: plots.plot_time_vs_workers(_timing(), cores=2),
    "speedup": lambda: plots.plot_speedup(_table(), {("data", 1, 1000): 0.3, 4000: 0.1}, 2),
    "efficiency": lambda: plots.plot_efficiency(_table(), cores=2),
    "accuracy_vs_workers": lambda: plots.plot_accuracy_vs_workers(_accuracy()),
    "accuracy_vs_time": lambda: plots.plot_accuracy_vs_time(_accuracy()),
    "run_timeline": lambda: plots.plot_run_timeline(_trace(True), count=4),
    "cost_model": lambda: plots.plot_cost_model(MODEL, [(1, 0.55), (2, 0.99)], train_size=4000),
    "history": lambda: plots.plot_history({"epoch": [1, 2, 3], "loss": [0.1, 0.08, 0.07],
                                           "train_accuracy": [0.8, 0.85, 0.9],
                                           "test_accuracy": [0.79, 0.84, 0.88]}),
    "messages": lambda: plots.plot_messages({
        "factors": {"floats": 1204, "worker_seconds": 40e-6, "aggregate_seconds": 90e-6},
        "gradients": {"floats": 159_010, "worker_seconds": 300e-6, "aggregate_seconds": 400e-6}}),
    "phase_totals": lambda: plots.plot_phase_totals(tr.summarize(_trace(True))),
    "rounds_and_time": lambda: plots.plot_rounds_and_time([
        {"rounds": [1, 10, 100], "accuracy": [0.2, 0.5, 0.8], "seconds": [0.1, 0.5, 2],
         "label": "BSP"},
        {"rounds": [1, 3, 10], "accuracy": [0.2, 0.6, 0.75], "seconds": [0.1, 0.3, 1],
         "label": "averaging, K = 10"}]),
    "loss_curve": lambda: plots.plot_loss_curve({"samples": [0, 100, 200],
                                                 "loss": [0.45, 0.2, 0.1]}),
    "engine_timeline": lambda: tr.plot_timeline(_trace(False)).figure,
}


def _drawn(fig):
    if fig.canvas is None or not hasattr(fig.canvas, "get_renderer"):
        FigureCanvasAgg(fig)
    fig.canvas.draw()
    return fig


def _labels(ax):
    return [t.get_text() for axis in (ax.xaxis, ax.yaxis)
            for t in axis.get_ticklabels() + axis.get_ticklabels(minor=True) if t.get_text()]


@pytest.mark.parametrize("name", list(FIGURES))
def test_every_legend_stays_off_the_data(name):
    fig = _drawn(FIGURES[name]())
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    assert legends or name in ("loss_curve",), "a figure with several lines needs a legend"
    for legend in legends:
        box = legend.get_window_extent()
        for ax in fig.axes:
            assert not box.overlaps(ax.get_window_extent()), f"{name}: legend over the axes"


@pytest.mark.parametrize("name", list(FIGURES))
def test_every_axis_shows_plain_numbers(name):
    fig = _drawn(FIGURES[name]())
    for ax in fig.axes:
        labels = _labels(ax)
        for text in labels:
            assert not any(mark in text for mark in ("$", "\\times", "^", "e-0", "e+0")), \
                f"{name}: tick label {text!r}"
        for axis in (ax.xaxis, ax.yaxis):
            assert axis.get_offset_text().get_text() == "", f"{name}: an offset on the axis"


def test_a_speedup_axis_reads_half_one_two():
    fig = _drawn(plots.plot_speedup(_table(), cores=2))
    labels = set(_labels(fig.axes[0]))
    assert {"0.5", "1", "2"} <= labels


def test_the_timeline_starts_at_zero_and_drops_an_empty_aggregator_row():
    ax = tr.plot_timeline(_trace(aggregator=False))
    assert [t.get_text() for t in ax.get_yticklabels()] == ["worker 0", "worker 1"]
    assert ax.get_xlim()[0] == 0
    lefts = [p.get_x() for p in ax.patches]
    assert min(lefts) == pytest.approx(0.0) and max(lefts) < 2.0  # ms since the window's start
    assert "since the window's start" in ax.get_xlabel()
    ax = tr.plot_timeline(_trace(aggregator=True))
    assert [t.get_text() for t in ax.get_yticklabels()][-1] == "aggregator"


def test_plain_log_ticks():
    loc = plots.PlainLogLocator
    assert loc(2).tick_values(0.4, 1.3) == [0.5, 0.75, 1]
    assert loc(10).tick_values(0.1, 100) == [0.1, 1, 10, 100]
    assert loc(10).tick_values(0.03, 0.2) == pytest.approx([0.05, 0.1, 0.2])
    assert [plots.plain_number(v) for v in (0.5, 2, 1000, 0.002, 159_010)] == [
        "0.5", "2", "1,000", "0.002", "159,010"]


def test_the_notebooks_calls_still_work():
    # notebooks/03_scaling.py: three panels of one figure, speedups of one b, Amdahl by P.
    fig, axes = plots.new_figure(3, width=4.2, height=3.4)
    rows = [r for r in _timing() if r["micro_batch"] == 1]
    table = [r for r in _table() if r["micro_batch"] == 1]
    assert plots.plot_time_vs_workers(rows, 2, ax=axes[0]) is fig
    assert plots.plot_speedup(table, cores=2, ax=axes[1]) is fig
    assert plots.plot_efficiency(table, cores=2, ax=axes[2]) is fig
    old = [{k: v for k, v in r.items() if k not in ("micro_batch", "strategy")} for r in table]
    fig = _drawn(plots.plot_speedup(old, amdahl={1000: 0.2}, cores=2))
    assert len(fig.axes) == 1 and any("Amdahl" in t.get_text()
                                      for t in fig.axes[0].get_legend().get_texts())


def _extents(fig, artists):
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    return [a.get_window_extent(renderer) for a in artists]


def test_labels_of_points_on_one_spot_do_not_overlap():
    # SSP s = 4 and s = 16 landing on almost the same point used to read "ssp:16ssp:4".
    rows = [{"setting": s, "samples_per_s": x, "test_accuracy": y} for s, x, y in (
        ("bsp", 4000, 0.80), ("ssp:1", 5000, 0.79), ("ssp:4", 6010, 0.7801),
        ("ssp:16", 6000, 0.7800), ("async", 6005, 0.7799), ("hogwild", 9000, 0.70))]
    fig = plots.plot_sync_tradeoff(rows)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == [r["setting"] for r in rows]
    boxes = _extents(fig, ax.texts)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), (a, b)


@pytest.mark.parametrize("draw", [
    lambda h: plots.plot_history(h), lambda h: plots.plot_loss_curve(
        {"samples": h["epoch"], "loss": h["loss"]})])
def test_the_loss_axis_is_whole_and_a_saturated_run_is_drawn_flat(draw):
    flat = {"epoch": [1, 2, 3, 4], "loss": [0.4905, 0.4903, 0.4902, 0.4901],
            "train_accuracy": [0.1135] * 4, "test_accuracy": [0.1135] * 4}
    fig = draw(flat)
    whole = fig.bbox
    for ax, box in zip(fig.axes, _extents(fig, [ax.yaxis.label for ax in fig.axes]),
                       strict=True):
        assert whole.x0 <= box.x0 and box.x1 <= whole.x1, ax.get_ylabel()  # not cut off
        assert whole.y0 <= box.y0 and box.y1 <= whole.y1, ax.get_ylabel()
    lo, hi = fig.axes[0].get_ylim()
    assert hi - lo >= 0.05 * 0.4905  # a change in the fourth digit does not fill the axes
    falling = {"epoch": [1, 2, 3], "loss": [0.30, 0.10, 0.05],
               "train_accuracy": [0.5, 0.8, 0.9], "test_accuracy": [0.5, 0.79, 0.88]}
    lo, hi = draw(falling).axes[0].get_ylim()
    assert hi - lo < 0.35  # a run that learns keeps its autoscaled axis


def test_staleness_histograms_are_small_multiples_one_setting_each():
    from pdsgd.engine.sync import histogram

    hists = {"bsp": histogram([0] * 40), "ssp s=4": histogram([0] * 20 + [1] * 15 + [4] * 5),
             "async": histogram([0] * 10 + [2] * 20 + [9] * 10), "hogwild": histogram([])}
    fig = plots.plot_staleness(hists)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    # One panel per setting, none drawn over another: no lines, one bar per non-empty bin.
    assert [ax.get_title() for ax in shown] == [
        "bsp: mean 0.00, max 0", "ssp s=4: mean 0.88, max 4", "async: mean 3.25, max 9",
        "hogwild: no gradients"]
    assert [len(ax.patches) for ax in shown] == [1, 3, 3, 0]
    assert all(not ax.lines for ax in shown)
    centres = [p.get_x() + p.get_width() / 2 for p in shown[1].patches]
    heights = [p.get_height() for p in shown[1].patches]
    assert centres == [0, 1, 4] and heights == pytest.approx([0.5, 0.375, 0.125])
    # Shared axes: the panels are read on the same ranges; one label each for x and y.
    assert len({ax.get_ylim() for ax in shown}) == 1 and len({ax.get_xlim() for ax in shown}) == 1
    assert "staleness" in fig.get_supxlabel() and fig.get_supylabel() == "share of gradients"
    assert all(ax.get_yscale() == "log" for ax in shown)
