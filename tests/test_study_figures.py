"""Every figure of ``make reproduce`` draws the numbers of ``study.json`` and of the report.

One tiny study (synthetic data, both strategies, a sweep over b, the synchronization
grid on threads) is reproduced once; every figure it saves is caught on its way to
the disk (:func:`pdsgd.plots.save_figure`) and read back: the x and y arrays of its
lines, the ends of its error bars, the widths of its bars. Each is compared with the
numbers ``study.json`` holds for the same cells (and the speedups and times with
the report's table), so a figure that draws a wrong number fails here, whatever it
looks like. The expected values are computed here from the study's rows, not by the
plotting code: Amdahl's curve, for one, from its formula.
"""

import json
import re

import numpy as np
import pytest
from matplotlib.container import ErrorbarContainer

from pdsgd import plots
from pdsgd.study.analysis import PREDICT_WORKERS
from pdsgd.study.profiles import tiny_profile
from pdsgd.study.reproduce import reproduce
from pdsgd.study.sync_report import SyncGrid, name

APPROX = dict(rel=1e-12, abs=1e-15)


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """``(out, study as read from study.json, REPORT.md, {figure name: Figure})``."""
    out = tmp_path_factory.mktemp("figures")
    figures = {}
    real = plots.save_figure

    def catching(fig, path, formats=("png",)):
        figures[path.name] = fig
        return real(fig, path, formats=formats)

    profile = tiny_profile(strategies=("data", "tensor"), batch_sweep=(1, 4),
                           strategy_grid={"tensor": {"micro_batches": (1,)}},
                           backend="threads",
                           sync=SyncGrid(settings=("ssp:1", "async"), train_size=60))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plots, "save_figure", catching)
        reproduce(out, profile, progress=False, formats=("png",))
    study = json.loads((out / "study.json").read_text())
    return out, study, (out / "REPORT.md").read_text(), figures


def errorbars(ax):
    """``{label: (x, y, low ends, high ends)}`` of the axes' error-bar curves (y bars)."""
    out = {}
    for c in ax.containers:
        if isinstance(c, ErrorbarContainer):
            line, _, bars = c.lines
            x, y = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
            # The last collection holds the y bars: one vertical segment per point.
            segments = bars[-1].get_segments()
            out[c.get_label()] = (x, y, np.array([s[:, 1].min() for s in segments]),
                                  np.array([s[:, 1].max() for s in segments]))
    return out


def lines(ax):
    """``{label: [(x, y), ...]}`` of the axes' plain lines (several may share a label)."""
    out = {}
    for line in ax.get_lines():
        out.setdefault(line.get_label(), []).append(
            (np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)))
    return out


def panel_b(ax):
    return int(re.search(r"b = (\d+)", ax.get_title()).group(1))


def curve_label(strategy, p, strategies):
    return f"P = {p:,}" + (f", {strategy}" if len(strategies) > 1 else "")


def expected_curves(rows, b, value):
    """``{label: (N, value, ...)}`` of the rows of micro-batch ``b``, per curve, by N."""
    strategies = {r["strategy"] for r in rows}
    out = {}
    for r in sorted(rows, key=lambda r: r["workers"]):
        if r["micro_batch"] == b:
            out.setdefault(curve_label(r["strategy"], r["train_size"], strategies), []).append(
                (r["workers"], *(r[k] for k in value)))
    return {k: tuple(np.array(c, float) for c in zip(*v, strict=True)) for k, v in out.items()}


def assert_same(drawn, expected, what):
    assert drawn == pytest.approx(expected, **APPROX), what


def test_every_figure_of_the_study_is_checked(drawn):
    _, study, _, figures = drawn
    checked = {"history", "time_vs_workers", "speedup", "efficiency", "accuracy_vs_workers",
               "accuracy_vs_time", "timeline", "cost_model", "speedup_vs_batch",
               "sync_tradeoff", "sync_staleness"}
    assert set(figures) == checked  # a new figure needs its check here
    assert sorted(study["figures"]) == sorted(f"{n}.png" for n in checked - {"history"})


def test_the_speedup_figure_draws_the_speedups_of_the_study(drawn):
    _, study, _, figures = drawn
    axes = figures["speedup"].axes
    assert sorted(panel_b(ax) for ax in axes) == sorted(study["micro_batches"])
    fractions = {(c["strategy"], c["micro_batch"], c["train_size"]): c["amdahl"]
                 for c in study["curves"]}
    for ax in axes:
        b = panel_b(ax)
        # The hardware speedup (against sequential at N b) is the solid curve with its bars.
        want = expected_curves(study["speedup"], b, ("hardware_speedup", "hardware_speedup_lo",
                                                     "hardware_speedup_hi"))
        got = errorbars(ax)
        assert set(got) == set(want), b
        for label, (n, s, lo, hi) in want.items():
            x, y, low, high = got[label]
            assert_same(x, n, f"b = {b}, {label}: N")
            assert_same(y, s, f"b = {b}, {label}: hardware speedup")
            assert_same(low, lo, f"b = {b}, {label}: slowest repeat")
            assert_same(high, hi, f"b = {b}, {label}: fastest repeat")
        (ideal,) = lines(ax)["ideal of the hardware speedup: N"]
        assert_same(ideal[1], ideal[0], "the ideal line is N")
        # Curves in data coordinates (not the cores' vertical marker), without a legend entry.
        unlabelled = [line for line in ax.get_lines() if line.get_label().startswith("_child")
                      and len(line.get_xdata()) > 0 and line.get_transform() == ax.transData]
        # The seed's S (against sequential at b), dotted beside each curve.
        seeds = sorted(((np.asarray(line.get_xdata(), float),
                         np.asarray(line.get_ydata(), float))
                        for line in unlabelled if line.get_linestyle() == ":"),
                       key=lambda xy: tuple(xy[0]))
        want_s = expected_curves(study["speedup"], b, ("speedup",))
        assert len(seeds) == len(want_s) > 0
        for (x, _), (n, _) in zip(seeds, sorted(want_s.values(), key=lambda c: tuple(c[0])),
                                  strict=True):
            assert_same(x, n, f"b = {b}: the seed's S, N")
        assert sorted(np.concatenate([y for _, y in seeds])) == pytest.approx(
            sorted(np.concatenate([s for _, s in want_s.values()])), **APPROX), b
        # Amdahl's law, fitted per curve: S = 1 / ((1 - f) + f / N) on the dashed lines.
        dashed = [(np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float))
                  for line in unlabelled if line.get_linestyle() == "--"]
        fits = [f for (strategy, mb, p), f in fractions.items() if mb == b and f is not None]
        assert len(dashed) == len(fits) > 0
        for f, (x, y) in zip(sorted(fits), sorted(dashed, key=lambda xy: xy[1][-1]),
                             strict=True):
            assert_same(y, 1.0 / ((1.0 - f) + f / x), f"b = {b}: Amdahl's curve for f = {f}")


def test_the_efficiency_figure_draws_the_hardware_speedup_over_n(drawn):
    _, study, _, figures = drawn
    for ax in figures["efficiency"].axes:
        b = panel_b(ax)
        # Efficiency belongs to the hardware speedup (the same arithmetic on one core).
        want = expected_curves(study["speedup"], b, ("hardware_speedup",))
        got = {k: v[0] for k, v in lines(ax).items() if k.startswith("P = ")}
        assert set(got) == set(want)
        for label, (n, s) in want.items():
            assert_same(got[label][0], n, label)
            assert_same(got[label][1], s / n, f"b = {b}, {label}: efficiency")


def test_the_time_figure_draws_the_median_times_and_their_spread(drawn):
    _, study, _, figures = drawn
    engine = [r for r in study["timing"] if r["backend"]]
    for ax in figures["time_vs_workers"].axes:
        b = panel_b(ax)
        want = expected_curves(engine, b, ("seconds", "seconds_min", "seconds_max"))
        got = errorbars(ax)
        assert set(got) == set(want)
        for label, (n, t, lo, hi) in want.items():
            assert_same(got[label][0], n, label)
            assert_same(got[label][1], t, f"b = {b}, {label}: median time")
            assert_same(got[label][2], lo, f"b = {b}, {label}: fastest repeat")
            assert_same(got[label][3], hi, f"b = {b}, {label}: slowest repeat")
        stars = lines(ax)["sequential, same b"]
        assert all(list(x) == [1.0] for x, _ in stars)
        sequential = {r["seconds"] for r in study["timing"]
                      if r["backend"] is None and r["micro_batch"] == b}
        assert sorted({float(y[0]) for _, y in stars}) == pytest.approx(sorted(sequential),
                                                                       **APPROX)


def _report_rows(report):
    """The report's timing table: ``{(P, b, strategy, N): (time, S, hardware speedup)}``."""
    section = report.split("## Execution time and speedup")[1]
    out = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 12 and cells[2] in ("data", "tensor"):
            out[(int(cells[0].replace(",", "")), int(cells[1]), cells[2], int(cells[3]))] = (
                cells[5], cells[9], cells[10])
    return out


def test_the_figures_and_the_reports_table_give_the_same_numbers(drawn):
    _, study, report, figures = drawn
    table = _report_rows(report)
    assert len(table) == len([r for r in study["timing"] if r["backend"]])
    strategies = {r["strategy"] for r in study["speedup"]}
    speedup, time = ({panel_b(ax): errorbars(ax) for ax in figures[f].axes}
                     for f in ("speedup", "time_vs_workers"))
    seed_s = {(r["train_size"], r["micro_batch"], r["strategy"], r["workers"]): r["speedup"]
              for r in study["speedup"]}
    for (p, b, strategy, n), (seconds, s, hardware) in table.items():
        label = curve_label(strategy, p, strategies)
        i = list(speedup[b][label][0]).index(n)
        assert f"{speedup[b][label][1][i]:.2f}" == hardware, (p, b, strategy, n)
        assert f"{time[b][label][1][i]:.2f}" == seconds, (p, b, strategy, n)
        assert f"{seed_s[(p, b, strategy, n)]:.2f}" == s, (p, b, strategy, n)


def test_the_accuracy_figures_draw_the_accuracy_runs(drawn):
    _, study, _, figures = drawn
    acc = study["accuracy"]
    (ax,) = figures["accuracy_vs_workers"].axes
    got = lines(ax)
    fixed = sorted((r["workers"], r["test_accuracy"]) for r in acc if r["lr_rule"] == "fixed")
    # With one worker both rules are the same run: the linear line starts from it.
    linear = sorted((r["workers"], r["test_accuracy"]) for r in acc
                    if r["lr_rule"] == "linear" or r["workers"] == 1)
    for label, want in (("fixed lr (the seed)", fixed), ("lr x N b (Goyal et al. 2017)", linear)):
        ((x, y),) = got[label]
        assert_same(x, [n for n, _ in want], label)
        assert_same(y, [a for _, a in want], label)
    (ax,) = figures["accuracy_vs_time"].axes
    got = lines(ax)
    assert len(got) == len(acc)
    for r in acc:
        ((x, y),) = got[f"N = {r['workers']}, {r['lr_rule']} lr"]
        assert_same(x, r["elapsed"], "seconds after each epoch")
        assert_same(y, r["history"]["test_accuracy"], "accuracy after each epoch")
        assert y[-1] == pytest.approx(r["test_accuracy"], **APPROX)


def test_the_cost_model_figure_draws_the_predictions_and_the_measured_speedups(drawn):
    _, study, _, figures = drawn
    (ax,) = figures["cost_model"].axes
    got = lines(ax)
    cores = study["cost_model"]["cores"]
    for label, key in (("seed's S (sequential at b), model, one core per worker", "many_cores"),
                       (f"seed's S, model, {cores} cores (this machine)", "this_machine"),
                       ("hardware speedup (sequential at N b), model, one core per worker",
                        "hardware_many_cores"),
                       (f"hardware speedup, model, {cores} cores (this machine)",
                        "hardware_this_machine")):
        ((x, y),) = got[label]
        drawn_at = dict(zip(x.tolist(), y.tolist(), strict=True))
        for p in study["cost_predictions"]:
            if p["workers"] in drawn_at:
                assert drawn_at[p["workers"]] == pytest.approx(p[key], **APPROX), (label, p)
        if key.startswith("hardware"):
            # Predicted exactly where the sequential rate at N b was measured or lies
            # between two measured batches, nowhere else.
            predicted = {p["workers"] for p in study["cost_predictions"] if p[key]}
            assert predicted and predicted <= set(drawn_at), (label, drawn_at)
            assert all(p[key] is None for p in study["cost_predictions"]
                       if p["workers"] not in drawn_at)
        else:
            assert set(PREDICT_WORKERS) <= set(drawn_at)
    ((x, y),) = got["ideal of the hardware speedup: N"]
    assert_same(x, y, "the ideal is N")
    # The measured points are the speedups of the seed's curve at the largest P.
    p_max = max(r["train_size"] for r in study["timing"])
    seed = [r for r in study["speedup"]
            if (r["strategy"], r["micro_batch"], r["train_size"]) == ("data", 1, p_max)]
    for label, key in (("seed's S, measured here", "speedup"),
                       ("hardware speedup, measured here", "hardware_speedup")):
        measured = sorted((r["workers"], r[key]) for r in seed)
        ((x, y),) = got[label]
        assert_same(x, [n for n, _ in measured], f"measured N ({label})")
        assert_same(y, [s for _, s in measured], label)


def test_the_reports_cost_model_table_gives_both_predicted_speedups(drawn):
    """S and the hardware speedup, predicted and measured, per N, as the study holds them."""
    _, study, report, _ = drawn
    section = report.split("## A cost model, and machines larger than this one")[1]
    header = next(line for line in section.splitlines() if line.startswith("| N |"))
    assert [c.strip() for c in header.strip("|").split("|")][3:] == [
        "S measured", "hardware speedup predicted, a core each",
        f"hardware speedup predicted, {study['cost_model']['cores']} cores",
        "hardware speedup measured"]
    rows = {}
    for line in section.splitlines()[section.splitlines().index(header) + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[int(cells[0])] = cells[1:]
    fmt = lambda x: f"{x:.2f}" if x else ""  # noqa: E731
    for p in study["cost_predictions"]:
        assert rows[p["workers"]] == [fmt(p[k]) for k in (
            "many_cores", "this_machine", "measured", "hardware_many_cores",
            "hardware_this_machine", "hardware_measured")], p
    assert any(p["hardware_many_cores"] for p in study["cost_predictions"])
    assert "predicted from the sequential rates measured at each batch" in section


def test_the_sweep_figure_draws_each_strategys_speedup_by_b(drawn):
    _, study, _, figures = drawn
    (ax,) = figures["speedup_vs_batch"].axes
    got = errorbars(ax)
    assert set(got) == {f"{s} parallelism" for s in study["strategies"]}
    for strategy in study["strategies"]:
        rows = sorted((r for r in study["sweep"] if r["strategy"] == strategy),
                      key=lambda r: r["micro_batch"])
        # The hardware speedup with its bars; the seed's S dotted beside it.
        x, y, lo, hi = got[f"{strategy} parallelism"]
        assert_same(x, [r["micro_batch"] for r in rows], strategy)
        assert_same(y, [r["hardware_speedup"] for r in rows], strategy)
        assert_same(lo, [r["hardware_speedup_lo"] for r in rows], strategy)
        assert_same(hi, [r["hardware_speedup_hi"] for r in rows], strategy)
        ((sx, sy),) = lines(ax)[f"{strategy}: the seed's S (sequential at b)"]
        assert_same(sx, [r["micro_batch"] for r in rows], strategy)
        assert_same(sy, [r["speedup"] for r in rows], f"{strategy}: the seed's S")


def test_the_sync_figures_draw_the_sync_rows(drawn):
    _, study, _, figures = drawn
    rows = study["sync"]["rows"]
    for ax in figures["sync_tradeoff"].axes:
        n, b = map(int, re.search(r"N = (\d+), b = (\d+)", ax.get_title()).groups())
        factor = 1.0 if "no straggler" in ax.get_title() else float(
            re.search(r"([\d.]+)x slower", ax.get_title()).group(1))
        group = [r for r in rows if (r["workers"], r["micro_batch"], r["straggler_factor"])
                 == (n, b, factor)]
        got = errorbars(ax)
        assert set(got) == {r["setting"] for r in group} and group
        for r in group:
            x, y, lo, hi = got[r["setting"]]
            assert_same(x, [r["samples_per_s"]], r["setting"])
            assert_same(y, [r["test_accuracy"]], r["setting"])
            assert_same(lo, [min(r["accuracies"])], r["setting"])
            assert_same(hi, [max(r["accuracies"])], r["setting"])
    slow = [r for r in rows if r["straggler_factor"] == max(x["straggler_factor"] for x in rows)
            and r["setting"] != "bsp"]
    # One panel of bars per setting, named in its title.
    got = {ax.get_title().split(":")[0]: ([p.get_x() + p.get_width() / 2 for p in ax.patches],
                                          [p.get_height() for p in ax.patches])
           for ax in figures["sync_staleness"].axes if ax.get_visible()}
    assert set(got) == {name(r["setting"]) for r in slow}
    for r in slow:
        x, y = got[name(r["setting"])]
        count = np.array(r["staleness"]["count"], float)
        assert_same(x, np.flatnonzero(count), r["setting"])
        assert_same(y, count[count > 0] / count.sum(), r["setting"])


def test_the_timeline_draws_a_window_of_the_kept_trace(drawn):
    out, study, _, figures = drawn
    (ax,) = figures["timeline"].axes
    (path,) = (out / ".cache").glob("*-trace-*.trace.npz")
    with np.load(path) as f:
        trace = f["trace"]
    its = np.unique(trace["iteration"])
    first = its[len(its) // 2]
    window = trace[(trace["iteration"] >= first) & (trace["iteration"] < first + 8)]
    widths = sorted(p.get_width() for p in ax.patches)
    # One bar per recorded phase, as long as the phase took (milliseconds).
    assert widths == pytest.approx(sorted((window["end"] - window["start"]) * 1e3), rel=1e-9)
    assert study["timeline_cell"]["phases"]["iterations"] == len(its)


def test_the_seed_runs_history_figure_draws_its_metrics(drawn):
    out, _, _, figures = drawn
    history = json.loads((out / "seed_defaults" / "metrics.json").read_text())["history"]
    loss, acc = figures["history"].axes
    ((x, y),) = lines(loss)["_child0"]
    assert_same(x, history["epoch"], "epochs")
    assert_same(y, history["loss"], "loss")
    for label, key in (("train", "train_accuracy"), ("test", "test_accuracy")):
        ((x, y),) = lines(acc)[label]
        assert_same(y, history[key], label)
