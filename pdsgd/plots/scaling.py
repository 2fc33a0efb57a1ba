"""Figures of the scaling study: time, speedup, efficiency and accuracy against N, the cost model.

A curve is one strategy, training size P and micro-batch b; it looks the same in
every figure (colour by P, marker by strategy, line style by b).
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from pdsgd.plots.style import axes_or_new, legend_outside, new_figure, tidied
from pdsgd.study.costmodel import amdahl_speedup

MARKERS = "osD^v"


def _workers_axis(ax, workers, cores=None):
    """x axis in N, log 2, ticks at the measured N, a dotted line at the number of cores."""

    workers = sorted(set(workers))
    ax.set_xscale("log", base=2)
    ax.set_xticks(workers, [str(n) for n in workers])
    ax.xaxis.set_minor_locator(NullLocator())
    if cores:
        ax.axvline(cores, color="0.5", ls=":", lw=1)
        ax.annotate(f"{cores} cores", (cores, 1), xycoords=("data", "axes fraction"),
                    xytext=(-3, -12), textcoords="offset points", fontsize=8, color="0.4",
                    ha="right")
    ax.set_xlabel("workers N")
    ax.grid(alpha=0.3)


def _by_size(rows):
    groups = {}
    for r in rows:
        groups.setdefault(r["train_size"], []).append(r)
    return {p: sorted(rs, key=lambda r: r["workers"]) for p, rs in sorted(groups.items())}


def _panels(rows, ax, width=4.6, height=3.6):
    """``[(ax, rows of one b, b or None)]``: a panel per micro-batch, or everything on ``ax``."""
    bs = sorted({r.get("micro_batch", 1) for r in rows})
    if ax is not None or len(bs) == 1:
        return [(axes_or_new(ax, width + 0.6, height), rows, None if len(bs) == 1 else "all")]
    fig = Figure(figsize=(width * len(bs) + 1.6, height), layout="constrained")
    axes = fig.subplots(1, len(bs), sharey=True, squeeze=False)[0]
    return [(a, [r for r in rows if r.get("micro_batch", 1) == b], b)
            for a, b in zip(axes, bs, strict=True)]


def _curves(rows):
    """``{(strategy, P, b): rows sorted by N}`` of the engine's rows."""
    groups = {}
    for r in rows:
        key = (r.get("strategy", "data"), r["train_size"], r.get("micro_batch", 1))
        groups.setdefault(key, []).append(r)
    return {k: sorted(v, key=lambda r: r["workers"]) for k, v in sorted(groups.items())}


def _style(key, rows):
    """Colour by P, marker by strategy, line style by b: the same curve looks the same
    in every figure and panel."""
    strategy, p, b = key
    sizes = sorted({r["train_size"] for r in rows})
    strategies = sorted({r.get("strategy", "data") for r in rows}, key=lambda s: s != "data")
    bs = sorted({r.get("micro_batch", 1) for r in rows})
    return dict(color=f"C{sizes.index(p) % 10}",
                marker=MARKERS[strategies.index(strategy) % len(MARKERS)],
                ls=("-", "--", "-.", ":")[bs.index(b) % 4])


def _curve_label(key, rows, panel_b):
    strategy, p, b = key
    label = f"P = {p:,}"
    if len({r.get("strategy", "data") for r in rows}) > 1:
        label += f", {strategy}"
    if panel_b == "all":
        label += f", b = {b}"
    return label


def _finish_panels(panels, title, ylabel):
    """Titles per b, the y label on the first panel, and one legend outside the last."""
    for i, (ax, _, b) in enumerate(panels):
        ax.set_title(title if b in (None, "all") else
                     f"{title}, b = {b}" + (" (the seed's)" if b == 1 else ""))
        ax.set_ylabel(ylabel if i == 0 else "")
    handles = {}
    for ax, _, _ in panels:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(lab, h)
    legend_outside(panels[-1][0], list(handles.values()), list(handles), fontsize="x-small")
    return panels[0][0].figure


@tidied
def plot_time_vs_workers(rows, cores=None, ax=None):
    """Training time against N, one line per P (and b, strategy); stars: the sequential run.

    Medians of the repeats; bars from the fastest to the slowest. With several
    micro-batches b and no ``ax``, one panel per b.
    """
    panels = _panels(rows, ax)
    for a, rs, b in panels:
        seq = [r for r in rs if r["backend"] is None]
        for key, crs in _curves([r for r in rs if r["backend"]]).items():
            style = _style(key, rows)
            err = [[r["seconds"] - r["seconds_min"] for r in crs],
                   [r["seconds_max"] - r["seconds"] for r in crs]]
            a.errorbar([r["workers"] for r in crs], [r["seconds"] for r in crs], yerr=err,
                       capsize=3, label=_curve_label(key, rows, b), **style)
            # The sequential reference T(1) of the same P and b, beside the engine's N = 1.
            ref = [r for r in seq if (r["train_size"], r.get("micro_batch", 1)) == key[1:]]
            a.plot([1] * len(ref), [r["seconds"] for r in ref], "*", ms=11,
                   color=style["color"], mec="k", label="sequential, same b")
        _workers_axis(a, [r["workers"] for r in rows], cores)
        a.set_yscale("log")
    epochs = rows[0]["epochs"]
    return _finish_panels(panels, "Execution time",
                          f"training time, {epochs} epoch{'s' * (epochs > 1)} (s)")


@tidied
def plot_speedup(table, amdahl=None, cores=None, ax=None):
    """Speedup per curve, the ideal ``N`` and Amdahl's law fitted per curve.

    ``table`` rows hold ``train_size``, ``workers``, ``speedup``, ``speedup_lo`` and
    ``speedup_hi`` (the seed's S, against the sequential run at b), and
    optionally ``micro_batch``, ``strategy`` and ``hardware_speedup`` with its
    ``_lo`` and ``_hi`` (against sequential minibatch SGD at batch N b, the same
    arithmetic). Where rows have the hardware speedup it is the solid curve with
    its bars, and the ideal line and the fits belong to it; the seed's S is drawn
    beside it, dotted, with open markers. ``amdahl`` maps ``(strategy, b, P)``,
    or just P, to a fitted parallel fraction. With several micro-batches b and no
    ``ax``, one panel per b.
    """
    amdahl = amdahl or {}
    key = "hardware_speedup" if all("hardware_speedup" in r for r in table) else "speedup"
    ns = [r["workers"] for r in table]
    grid = np.geomspace(1, max(ns), 50)
    panels = _panels(table, ax)
    for a, rs, b in panels:
        fitted = False
        a.plot(grid, grid, color="0.6", lw=1,
               label="ideal: N" if key == "speedup" else "ideal of the hardware speedup: N")
        a.axhline(1, color="0.3", lw=0.8)
        for curve, crs in _curves(rs).items():
            style = _style(curve, table)
            err = [[r[key] - r[f"{key}_lo"] for r in crs], [r[f"{key}_hi"] - r[key] for r in crs]]
            a.errorbar([r["workers"] for r in crs], [r[key] for r in crs], yerr=err,
                       capsize=3, label=_curve_label(curve, table, b), **style)
            if key != "speedup":  # the seed's S beside, against the sequential run at b
                a.plot([r["workers"] for r in crs], [r["speedup"] for r in crs],
                       **{**style, "ls": ":"}, mfc="none", lw=1)
            strategy, p, mb = curve
            f = amdahl.get((strategy, mb, p), amdahl.get(p))
            if f is not None:
                a.plot(grid, amdahl_speedup(grid, f), color=style["color"], ls=(0, (2, 2)),
                       lw=0.8)
                fitted = True
        if key != "speedup":
            a.plot([], [], color="0.4", ls=":", marker="o", mfc="none", lw=1,
                   label="open, dotted: the seed's S (sequential at b)")
        if fitted:  # one neutral legend entry for all the fits
            a.plot([], [], color="0.4", ls=(0, (2, 2)), lw=0.8,
                   label="dashed: Amdahl's law fitted to the curve of its colour")
        _workers_axis(a, ns, cores)
        a.set_yscale("log", base=2)
        lows = [r[f"{key}_lo"] for r in table] + [r["speedup"] for r in table]
        tops = [r[f"{key}_hi"] for r in table] + [r["speedup"] for r in table]
        a.set_ylim(min(0.8, min(lows)) / 1.15, max(2.0, max(tops)) * 1.15)
    ylabel = ("speedup S = T(1) / T(N)" if key == "speedup" else
              "hardware speedup T_seq(N b) / T(N)")
    return _finish_panels(panels, "Speedup" if key == "speedup" else "Hardware speedup",
                          ylabel)


@tidied
def plot_speedup_vs_batch(rows, ax=None):
    """Speedup against the micro-batch b at one N and P, a line per strategy.

    ``rows`` are the sweep's (:func:`pdsgd.study.analysis.sweep_table`): ``strategy``,
    ``micro_batch``, ``workers``, ``train_size``, ``speedup``, ``speedup_lo`` and
    ``speedup_hi`` (the seed's S, against the sequential run at b), and
    optionally ``hardware_speedup`` with its range (against the sequential run at
    batch N b): where present it is the solid line and S is dotted beside it.
    """
    ax = axes_or_new(ax, width=6.0)
    key = "hardware_speedup" if all("hardware_speedup" in r for r in rows) else "speedup"
    strategies = sorted({r["strategy"] for r in rows}, key=lambda s: (s != "data", s))
    for i, strategy in enumerate(strategies):
        rs = sorted((r for r in rows if r["strategy"] == strategy),
                    key=lambda r: r["micro_batch"])
        err = [[r[key] - r[f"{key}_lo"] for r in rs], [r[f"{key}_hi"] - r[key] for r in rs]]
        ax.errorbar([r["micro_batch"] for r in rs], [r[key] for r in rs], yerr=err,
                    capsize=3, marker=MARKERS[i % len(MARKERS)], color=f"C{i}",
                    label=f"{strategy} parallelism")
        if key != "speedup":
            ax.plot([r["micro_batch"] for r in rs], [r["speedup"] for r in rs], ls=":",
                    marker=MARKERS[i % len(MARKERS)], mfc="none", color=f"C{i}", lw=1,
                    label=f"{strategy}: the seed's S (sequential at b)")
    ax.axhline(1, color="0.3", lw=0.8, label="the sequential run at batch N b"
               if key != "speedup" else "the sequential run at the same b")
    bs = sorted({r["micro_batch"] for r in rows})
    ax.set_xscale("log", base=2)
    ax.set_xticks(bs, [str(b) for b in bs])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_yscale("log", base=2)
    lo = min([r[f"{key}_lo"] for r in rows] + [r["speedup"] for r in rows])
    hi = max([r[f"{key}_hi"] for r in rows] + [r["speedup"] for r in rows])
    ax.set_ylim(min(0.8, lo) / 1.15, max(2.0, hi) * 1.15)
    r0 = rows[0]
    ax.set(xlabel="micro-batch b (samples per worker per iteration)",
           ylabel="speedup S = T(1) / T(N)" if key == "speedup"
           else "hardware speedup T_seq(N b) / T(N)",
           title=f"Where each split wins: N = {r0['workers']}, P = {r0['train_size']:,}")
    ax.grid(alpha=0.3)
    legend_outside(ax, fontsize="x-small")
    return ax.figure


@tidied
def plot_efficiency(table, cores=None, ax=None):
    """Parallel efficiency per curve (1 is perfect): ``efficiency``, the hardware speedup over
    N where the rows have it (:func:`pdsgd.study.analysis.speedup_table`), else S / N; a
    panel per b without ``ax``."""
    panels = _panels(table, ax)
    for a, rs, b in panels:
        for key, crs in _curves(rs).items():
            a.plot([r["workers"] for r in crs], [r["efficiency"] for r in crs],
                   label=_curve_label(key, table, b), **_style(key, table))
        a.axhline(1, color="0.6", lw=1)
        _workers_axis(a, [r["workers"] for r in table], cores)
        a.set_ylim(0, max(1.05, max(r["efficiency"] for r in table) * 1.05))
    hardware = all("hardware_speedup" in r for r in table)
    return _finish_panels(panels, "Parallel efficiency", "efficiency: hardware speedup / N"
                          if hardware else "efficiency S / N")


@tidied
def plot_accuracy_vs_workers(rows, cores=None, ax=None):
    """Test accuracy against N, one line per learning-rate rule (fixed: the seed's)."""
    ax = axes_or_new(ax, width=6.0)
    names = {"fixed": "fixed lr (the seed)", "linear": "lr x N b (Goyal et al. 2017)"}
    for rule in ("fixed", "linear"):
        rs = sorted((r for r in rows if r["lr_rule"] == rule), key=lambda r: r["workers"])
        if rs:
            ax.plot([r["workers"] for r in rs], [r["test_accuracy"] for r in rs], marker="o",
                    label=names[rule])
    _workers_axis(ax, [r["workers"] for r in rows], cores)
    r0 = rows[0]
    ax.set(ylabel="test accuracy",
           title=f"Accuracy after {r0['epochs']} epochs, P = {r0['train_size']:,}")
    legend_outside(ax)
    return ax.figure


@tidied
def plot_accuracy_vs_time(rows, ax=None):
    """Test accuracy after each epoch against training seconds so far, per N and lr rule."""

    ax = axes_or_new(ax, width=6.5)
    styles = {"fixed": "-", "linear": "--"}
    workers = sorted({r["workers"] for r in rows})
    for r in sorted(rows, key=lambda r: (r["lr_rule"], r["workers"])):
        h = r["history"]
        elapsed = r.get("elapsed") or np.cumsum(h["seconds"])  # analysis may supply it
        ax.plot(elapsed, h["test_accuracy"], marker="o", ms=3,
                ls=styles[r["lr_rule"]], color=f"C{workers.index(r['workers'])}",
                label=f"N = {r['workers']}, {r['lr_rule']} lr")
    ax.set(xscale="log", xlabel="training time (s)", ylabel="test accuracy",
           title="Accuracy against wall time (one point per epoch)")
    ax.grid(alpha=0.3)
    legend_outside(ax, fontsize="x-small")
    return ax.figure


@tidied
def plot_cost_model(model, measured=(), n_max=64, train_size=60_000, ax=None, *,
                    micro_batch=1, measured_hardware=()):
    """Predicted speedups up to ``n_max`` workers, with a core each and on the measuring
    machine, beside the speedups measured there.

    Where the model knows the sequential rates at batch N b (``model.batch_seconds``)
    it predicts the hardware speedup (against sequential minibatch SGD at batch N b,
    solid), to which the ideal line N belongs, and the seed's S (against the
    sequential run at b) is drawn beside it, dotted; without them, S alone.
    ``measured`` and ``measured_hardware`` are ``(N, speedup)`` pairs: S and the
    hardware speedup measured here.
    """
    ax = axes_or_new(ax, width=7.0, height=4.0)
    # Powers of two and their midpoints: ceil(P / N) makes the curve jagged in between.
    ns = sorted({n for k in range(n_max.bit_length()) for n in (2 ** k, 3 * 2 ** k // 2)
                 if 1 <= n <= n_max})
    b = micro_batch
    hw = {n: (model.hardware_speedup(n, train_size, b, cores=n),
              model.hardware_speedup(n, train_size, b)) for n in ns}
    hw = {n: v for n, v in hw.items() if v[0] is not None}
    seed_style = {"ls": ":", "lw": 1} if hw else {}
    ax.plot(ns, ns, color="0.6", lw=1,
            label="ideal of the hardware speedup: N" if hw else "ideal: N")
    if hw:
        ax.plot(list(hw), [v[0] for v in hw.values()], color="C0",
                label="hardware speedup (sequential at N b), model, one core per worker")
        ax.plot(list(hw), [v[1] for v in hw.values()], color="C1", ls="--",
                label=f"hardware speedup, model, {model.cores} cores (this machine)")
    ax.plot(ns, [model.speedup(n, train_size, b, cores=n) for n in ns], color="C0",
            **seed_style, label="seed's S (sequential at b), model, one core per worker")
    ax.plot(ns, [model.speedup(n, train_size, b) for n in ns], color="C1",
            **{**seed_style, "ls": ":" if hw else "--"},
            label=f"seed's S, model, {model.cores} cores (this machine)")
    if model.limit() < n_max:
        ax.axhline(model.limit(), color="0.4", ls=(0, (1, 3)), lw=1,
                   label=f"limit of S: sequential / aggregate = {model.limit():.1f}")
    if measured_hardware:
        n, s = zip(*measured_hardware, strict=True)
        ax.plot(n, s, "ko", label="hardware speedup, measured here")
    if measured:
        n, s = zip(*measured, strict=True)
        ax.plot(n, s, "ko", mfc="none", label="seed's S, measured here")
    _workers_axis(ax, [1, 2, 4, 8, 16, 32, 64][:max(1, n_max.bit_length())], model.cores)
    ax.set_yscale("log", base=2)
    ax.set(ylabel="speedup (solid: hardware, dotted: S)" if hw
           else "speedup S = T_seq(b) / T(N)",
           title=f"Cost model (fitted from {model.source}), P = {train_size:,}, b = {b}")
    legend_outside(ax, fontsize="x-small")
    return ax.figure


@tidied
def plot_rounds_and_time(rows):
    """Test accuracy against communication rounds and against wall time, one line per run.

    ``rows`` as returned by :func:`pdsgd.course.distributed.compare`.
    """
    fig, (by_rounds, by_time) = new_figure(ncols=2)
    for r in rows:
        by_rounds.plot(r["rounds"], r["accuracy"], "o-", label=r["label"])
        by_time.plot(r["seconds"], r["accuracy"], "o-", label=r["label"])
    by_rounds.set_xscale("log")
    by_rounds.set_xlabel("communication rounds (log scale)")
    by_time.set_xlabel("training time (s)")
    for ax in (by_rounds, by_time):
        ax.set_ylabel("test accuracy")
        ax.grid(alpha=0.3)
    legend_outside(by_time)
    return fig
