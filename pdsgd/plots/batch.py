"""Figures of what a bigger batch costs, and of time to accuracy.

Both draw :func:`pdsgd.study.time_to_accuracy.analyse`'s numbers and nothing
else, so a figure can be checked against ``study.json``: every plotted point
is a ``curve`` or ``engine`` row of ``study["to_target"]``.
"""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import NullLocator

from pdsgd.plots.style import legend_outside, new_figure, tidied


def _batch_axis(ax, batches):
    ax.set_xscale("log", base=2)
    ax.set_xticks(batches, [str(b) for b in batches])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("batch size B (= N b)")
    ax.grid(alpha=0.3)


@tidied
def plot_batch_size(to_target):
    """Samples and steps to the target against B, log-log (Shallue et al. 2019's curve).

    Per B the best rule's point (solid), every rule's samples (faint), the
    perfect-scaling line (samples flat, steps falling as 1/B from the smallest B),
    the fitted model ``E = E_min (1 + B / B_crit)`` and ``B_crit``, and the
    noise scale ``B_simple`` at the target, when measured.
    """
    fig, (by_samples, by_steps) = new_figure(ncols=2, width=4.8)
    curve = [c for c in to_target["curve"] if c["reached"]]
    batches = [c["batch"] for c in to_target["curve"]]
    rules = sorted({r for c in to_target["curve"] for r in c["rules"]})
    for i, rule in enumerate(rules):
        pts = [(c["batch"], c["rules"][rule]) for c in to_target["curve"]
               if c["rules"].get(rule) is not None]
        if pts:
            by_samples.plot(*zip(*pts, strict=True), marker=".", ls=":", lw=0.8, alpha=0.6,
                            color=f"C{i + 1}", label=f"rule {rule}")
    if curve:
        b = np.array([c["batch"] for c in curve], dtype=float)
        by_samples.plot(b, [c["samples"] for c in curve], "ko-", label="best rule per B")
        by_steps.plot(b, [c["steps"] for c in curve], "ko-", label="best rule per B")
        e0, s0 = curve[0]["samples"], curve[0]["steps"] * curve[0]["batch"]
        grid = np.geomspace(min(batches), max(batches), 50)
        by_samples.plot(grid, np.full_like(grid, e0), color="0.6", lw=1,
                        label="perfect scaling")
        by_steps.plot(grid, s0 / grid, color="0.6", lw=1, label="perfect scaling")
        crit = to_target.get("critical")
        if crit:
            by_samples.plot(grid, crit["e_min"] * (1 + grid / crit["b_crit"]), "C0--", lw=1,
                            label=f"E_min (1 + B / B_crit), B_crit = {crit['b_crit']:.0f}")
            by_steps.plot(grid, crit["s_min"] * (1 + crit["b_crit"] / grid), "C0--", lw=1,
                          label="S_min (1 + B_crit / B)")
        noise = to_target.get("noise")
        for ax in (by_samples, by_steps):
            if crit:
                ax.axvline(crit["b_crit"], color="C0", ls=":", lw=1)
            if noise:
                ax.axvline(noise["b_simple"], color="C3", ls=":", lw=1,
                           label=f"noise scale B_simple = {noise['b_simple']:.0f}")
    # The axis reaches the critical batch and the noise scale when they lie beyond the grid.
    marks = [v for v in ((to_target.get("critical") or {}).get("b_crit"),
                         (to_target.get("noise") or {}).get("b_simple")) if v]
    top = max([*batches, *marks])
    ticks = sorted({*batches, *(2 ** k for k in range(int(np.log2(top)) + 2)
                                if max(batches) < 2 ** k <= 2 * top)})
    for ax, what in ((by_samples, "samples"), (by_steps, "steps")):
        _batch_axis(ax, ticks)
        ax.set_yscale("log")
        ax.set_ylabel(f"{what} to {to_target['target']:.0%} test accuracy")
    by_samples.set_title("Samples to target")
    by_steps.set_title("Steps to target")
    legend_outside(by_steps, *_merged(by_samples, by_steps), fontsize="x-small")
    return fig


def _merged(*axes):
    handles = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(lab, h)
    return list(handles.values()), list(handles)


@tidied
def plot_time_to_accuracy(to_target):
    """Each engine configuration's time-to-accuracy speedup over the best one-core one,
    beside its hardware speedup at the target (bars; 1 is the best sequential run)."""
    rows = to_target["engine"]
    fig, (ax,) = new_figure(width=7.0, height=3.8)
    labels = [f"{r['strategy']} N={r['workers']} b={r['micro_batch']}" for r in rows]
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [r["speedup"] for r in rows], 0.4, color="C0",
           label="time to accuracy: best sequential / engine")
    ax.bar(x + 0.2, [r.get("hardware", np.nan) for r in rows], 0.4, color="C1",
           label="hardware: sequential at N b / engine")
    ax.axhline(1, color="0.3", lw=0.8)
    ax.set_xticks(x, labels, rotation=45, ha="right", fontsize="small")
    best = to_target["best"]
    ax.set(ylabel="speedup to the target",
           title=f"To {to_target['target']:.0%} test accuracy, against\nthe best one-core "
                 f"run (B = {best['batch']}, lr {best['lr']:g})")
    ax.grid(alpha=0.3, axis="y")
    legend_outside(ax, fontsize="x-small")
    return fig
