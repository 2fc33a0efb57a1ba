"""Figures of the engine at work: a run's timeline, where its time goes, staleness."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from pdsgd.engine.trace import plot_timeline
from pdsgd.plots.style import axes_or_new, legend_outside, new_figure, tidied


@tidied
def plot_run_timeline(trace, first=None, count=8, title=None):
    """A window of ``count`` iterations of a run's trace: per worker, compute, wait, aggregate.

    The window starts at iteration ``first`` (default: the middle of the run,
    away from start-up); :func:`pdsgd.engine.trace.plot_timeline` draws it,
    its time axis starting at 0 where the window starts.
    """

    its = np.unique(trace["iteration"])
    first = its[len(its) // 2] if first is None else first
    window = trace[(trace["iteration"] >= first) & (trace["iteration"] < first + count)]
    fig, (ax,) = new_figure(1, width=9.0, height=3.2)
    plot_timeline(window, ax=ax)
    ax.set_title(title or f"Iterations {first} to {first + count - 1} of one run")
    return fig


@tidied
def plot_phase_totals(totals, ax=None):
    """Seconds each worker spent computing, waiting at the barrier and aggregating.

    ``totals`` is :func:`pdsgd.engine.trace.summarize` of a run's trace.
    """
    ax = axes_or_new(ax, width=6.0, height=3.0)
    parties = sorted(totals, key=lambda w: (w < 0, w))
    names = [f"worker {w}" if w >= 0 else "aggregator" for w in parties]
    bottom = [0.0] * len(parties)
    colors = {"compute": "tab:blue", "barrier wait": "tab:red", "aggregate": "tab:green"}
    for phase, color in colors.items():  # the colours of pdsgd.engine.trace.plot_timeline
        values = [totals[w][phase] for w in parties]
        ax.barh(names, values, left=bottom, color=color, label=phase)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.invert_yaxis()
    ax.set(xlabel="seconds, whole run", title="Where each party's time went")
    legend_outside(ax)
    return ax.figure


@tidied
def plot_staleness(histograms, columns=3):
    """Staleness histograms, one small panel per setting: the share of gradients against
    how stale they were, as bars.

    Parameters
    ----------
    histograms : dict
        ``{label: {"staleness": [0, 1, ...], "count": [...]}}``, as
        :func:`pdsgd.engine.sync.histogram` returns (of ``TrainResult.staleness``)
        and ``pdsgd bench sync`` stores in its rows.
    columns : int
        Panels per row of the figure.

    Lines of several settings drawn on one axes cross and hide each other;
    panels side by side, on the same axes ranges, are compared at a glance.
    Each panel's title gives the setting, the mean and the largest staleness.
    The y axis is logarithmic: the rare, very stale gradients are the story.
    Empty bins are not drawn.
    """
    labels = list(histograms) or ["no runs"]
    ncols = min(columns, len(labels))
    nrows = -(-len(labels) // ncols)
    fig = Figure(figsize=(2.6 * ncols + 0.8, 2.1 * nrows + 0.9), layout="constrained")
    axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False).ravel()
    for i, (ax, label) in enumerate(zip(axes, labels, strict=False)):
        hist = histograms.get(label, {"staleness": [0], "count": [0]})
        count = np.asarray(hist["count"], float)
        stale = np.asarray(hist["staleness"])
        share = count / max(count.sum(), 1.0)
        keep = share > 0
        ax.bar(stale[keep], share[keep], width=0.8, color=f"C{i % 10}")
        if count.sum():
            mean = float(stale @ count / count.sum())
            ax.set_title(f"{label}: mean {mean:.2f}, max {int(stale[keep][-1])}",
                         fontsize="medium")
        else:
            ax.set_title(f"{label}: no gradients", fontsize="medium")
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3, axis="y")
    for ax in axes[len(labels):]:
        ax.set_visible(False)
    fig.supxlabel("staleness: updates applied between a gradient's read and its own",
                  fontsize="medium")
    fig.supylabel("share of gradients", fontsize="medium")
    return fig


def plot_sync_tradeoff(rows, ax=None):
    """Samples/s against test accuracy after the same samples, one point per setting.

    ``rows`` are rows of ``pdsgd bench sync`` (:func:`pdsgd.study.sync_sweep.run`) for
    one N, b and straggler: ``setting``, ``samples_per_s``, ``test_accuracy`` and,
    when present, every repeat's ``rates`` and ``accuracies`` (drawn as bars from
    the smallest to the largest).
    """
    if ax is None:
        _, (ax,) = new_figure(1, width=5.5, height=3.8)
    for i, r in enumerate(rows):
        x, y = r["samples_per_s"], r["test_accuracy"]
        rates, accuracies = r.get("rates", [x]), r.get("accuracies", [y])
        ax.errorbar(x, y, xerr=[[x - min(rates)], [max(rates) - x]],
                    yerr=[[y - min(accuracies)], [max(accuracies) - y]], fmt="o",
                    color=f"C{i % 10}", capsize=3, label=r["setting"])
    ax.set(xlabel="training samples per second (median)",
           ylabel="test accuracy after the same samples")
    ax.grid(alpha=0.3)
    label_points(ax, [(r["samples_per_s"], r["test_accuracy"]) for r in rows],
                 [r["setting"] for r in rows])
    return ax.figure


def label_points(ax, points, labels, fontsize=8):
    """Write each label beside its point (in data coordinates), no two labels overlapping.

    Points close together (SSP s = 4 and s = 16 often land on one spot) would
    get labels written over each other; each label takes the first place,
    to the upper right of its point and then ever lower, that no earlier
    label holds. Sizes are estimated from the font size and the axes' size
    on the figure, so this needs no drawing.
    """
    ax.autoscale_view()
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    box = ax.get_position()
    fig_w, fig_h = ax.figure.get_size_inches() * 72
    width, height = box.width * fig_w, box.height * fig_h  # the axes, in points
    line = 1.3 * fontsize
    taken, offsets = [], {}
    for i in sorted(range(len(points)), key=lambda i: -points[i][1]):  # the highest first
        (x, y), w = points[i], 0.62 * fontsize * len(labels[i])
        px = (x - x0) / ((x1 - x0) or 1) * width
        py = (y - y0) / ((y1 - y0) or 1) * height
        dy = 4.0
        while any(px + 5 < bx + bw and bx < px + 5 + w and py + dy < by + line
                  and by < py + dy + line for bx, by, bw in taken):
            dy -= line
        taken.append((px + 5, py + dy, w))
        offsets[i] = dy
    for i, (point, text) in enumerate(zip(points, labels, strict=True)):  # in the rows' order
        ax.annotate(text, point, textcoords="offset points", xytext=(5, offsets[i]),
                    fontsize=fontsize)
