"""A course panel's runs side by side (:class:`pdsgd.course.history.RunHistory`)."""

from __future__ import annotations

import numpy as np

from pdsgd.plots.style import new_figure, tidied


@tidied
def plot_run_history(labels, samples_per_s, accuracies, replayed=None, title=None):
    """Horizontal bars, one per run: samples per second (left), test accuracy (right).

    Runs replayed from kept results (``replayed``) are hatched, and the figure says so.
    """
    n = len(labels)
    replayed = list(replayed or [False] * n)
    fig, (rate, acc) = new_figure(ncols=2, width=4.6, height=1.2 + 0.42 * n)
    y = np.arange(n)[::-1]
    for ax, values, name in ((rate, samples_per_s, "samples per second"),
                             (acc, accuracies, "test accuracy")):
        bars = ax.barh(y, values, color=["#9ab" if r else "#4477aa" for r in replayed])
        for bar, r in zip(bars, replayed, strict=True):
            if r:
                bar.set_hatch("//")
        ax.set_xlabel(name)
        ax.set_xlim(0, max(values) * 1.25 if len(values) and max(values) > 0 else 1)
        for yi, v in zip(y, values, strict=True):
            ax.text(v, yi, f" {v:,.0f}" if name.startswith("samples") else f" {v:.3f}",
                    va="center", fontsize="small")
    rate.set_yticks(y, labels)
    acc.set_yticks(y, [])
    heading = title or f"{n} run{'s' if n != 1 else ''}, side by side"
    if any(replayed):
        heading += "\nhatched: replayed from kept results, not trained now"
    fig.suptitle(heading)
    return fig
