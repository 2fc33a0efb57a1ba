"""Figures. Each function draws on a new (or given) matplotlib figure and returns it.

Figures are built with :class:`matplotlib.figure.Figure`, not pyplot, so they
work the same in a notebook, a test and a headless ``make reproduce``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch
from matplotlib.ticker import MaxNLocator, NullLocator

from pdsgd.engine.trace import plot_timeline
from pdsgd.files import atomic_path
from pdsgd.study.costmodel import amdahl_speedup


def new_figure(ncols=1, width=5.0, height=3.6):
    """A figure with ``ncols`` side-by-side axes (returned as a list)."""
    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    return fig, [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]


def plot_history(history, title=None):
    """Training loss and train/test accuracy per epoch, side by side."""
    fig, (ax_loss, ax_acc) = new_figure(2)
    ax_loss.plot(history["epoch"], history["loss"], marker="o")
    ax_loss.set(xlabel="epoch", ylabel="training loss (mean squared error)")
    ax_acc.plot(history["epoch"], history["train_accuracy"], marker="o", label="train")
    ax_acc.plot(history["epoch"], history["test_accuracy"], marker="s", label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy")
    ax_acc.legend()
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    if title:
        fig.suptitle(title)
    return fig


def save_figure(fig, path, formats=("png",)):
    """Save ``fig`` as ``path`` with each suffix in ``formats``, atomically; return the paths."""
    written = []
    for fmt in formats:
        target = Path(path).with_suffix("." + fmt)
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=fmt, dpi=120)
        written.append(target)
    return written


def plot_loss_curve(curve, ax=None):
    """Training loss against samples seen, from ``{"samples": [...], "loss": [...]}``."""
    if ax is None:
        fig, (ax,) = new_figure(1, width=5.0, height=3.0)
    ax.plot(curve["samples"], curve["loss"], marker=".")
    ax.set(xlabel="samples seen", ylabel="training loss (mean squared error)")
    ax.grid(alpha=0.3)
    return ax.figure


def plot_messages(measured):
    """Sufficient factors against whole gradients: floats sent and seconds spent.

    ``measured`` is what :func:`pdsgd.course.lessons.measure_messages` returns.
    """
    fig, (ax_size, ax_time) = new_figure(2, width=4.5, height=3.2)
    names = list(measured)
    ax_size.bar(names, [measured[n]["floats"] for n in names], color=["C2", "C3"])
    ax_size.set(yscale="log", ylabel="floats sent per worker per step",
                ylim=(100, 5 * max(measured[n]["floats"] for n in names)))
    for i, n in enumerate(names):
        ax_size.annotate(f"{measured[n]['floats']:,}", (i, measured[n]["floats"]),
                         ha="center", va="bottom")
    worker = [measured[n]["worker_seconds"] * 1e6 for n in names]
    agg = [measured[n]["aggregate_seconds"] * 1e6 for n in names]
    ax_time.bar(names, worker, label="worker: compute the message", color="C0")
    ax_time.bar(names, agg, bottom=worker, label="aggregator: apply all N", color="C1")
    ax_time.set(ylabel="microseconds per iteration")
    ax_time.margins(y=0.3)
    ax_time.legend(fontsize="small", loc="upper left")
    return fig


def draw_architecture(workers=3):
    """The seed's architecture as boxes and arrows: Broker, Data Generator,
    Results Aggregator, Workers and the cyclic barrier."""
    fig = Figure(figsize=(8.5, 4.4), layout="constrained")
    ax = fig.add_subplot()
    ax.set(xlim=(0, 1), ylim=(0, 1))
    ax.axis("off")

    def box(x, y, text, color, w=0.2, h=0.13):
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.01",
                                    fc=color, ec="0.3"))
        ax.text(x, y, text, ha="center", va="center", fontsize=9)

    def arrow(a, b, text="", style="-|>", ls="-", color="0.2", offset=(0, 0.02)):
        ax.annotate("", xy=b, xytext=a, arrowprops=dict(arrowstyle=style, ls=ls, color=color,
                                                        shrinkA=2, shrinkB=2))
        if text:
            ax.text((a[0] + b[0]) / 2 + offset[0], (a[1] + b[1]) / 2 + offset[1], text,
                    ha="center", fontsize=8, color=color)

    ax.add_patch(FancyBboxPatch((0.02, 0.03), 0.36, 0.93, boxstyle="round,pad=0.01",
                                fc="#f4f4f4", ec="0.5", ls="--"))
    ax.text(0.04, 0.91, "Broker (main thread)", fontsize=10, weight="bold")
    box(0.2, 0.77, "Data Generator\nreads the data,\nShuffleSlice", "#cfe3ff")
    box(0.2, 0.5, "parent model\n(source of truth)", "#ffe7b3")
    box(0.2, 0.2, "Results Aggregator\naverages N results,\nupdates the parent",
        "#d6f5d6", h=0.15)
    arrow((0.2, 0.28), (0.2, 0.43), "new weights", offset=(0.07, -0.01))
    ys = [0.85 - i * 0.7 / max(workers - 1, 1) for i in range(workers)]
    for i, y in enumerate(ys):
        box(0.7, y, f"Worker {i + 1}\nforward + backward\non its sample", "#f3d6f5",
            w=0.19, h=0.12)
        arrow((0.3, 0.79), (0.6, y + 0.035), "samples (bounded queue)" if i == 0 else "",
              color="#2b6cb0", offset=(0, 0.04))
        arrow((0.3, 0.5), (0.6, y), style="-|>", ls=":", color="#b7791f")
        arrow((0.6, y - 0.035), (0.3, 0.2), "factors or gradient" if i == workers - 1 else "",
              color="#2f855a", offset=(0.02, -0.08))
    ax.text(0.4, 0.52, "publish weights", fontsize=8, color="#b7791f")
    ax.plot([0.86, 0.86], [0.05, 0.95], color="#c53030", lw=3)
    for y in ys:
        arrow((0.8, y), (0.86, y), color="#c53030")
    ax.text(0.875, 0.5, "cyclic barrier:\nnobody starts\niteration t+1\nbefore all N\n"
            "finished t and\nthe new weights\nare published", fontsize=8, color="#c53030",
            va="center")
    return fig


# ------------------------------------------------------------ the study (make reproduce)
# Each takes the rows of :func:`pdsgd.study.experiment.summarize` (or tables built from them).


def _workers_axis(ax, workers, cores=None):
    """x axis in N, log 2, ticks at the measured N, a dotted line at the number of cores."""

    workers = sorted(set(workers))
    ax.set_xscale("log", base=2)
    ax.set_xticks(workers, [str(n) for n in workers])
    ax.xaxis.set_minor_locator(NullLocator())
    if cores:
        ax.axvline(cores, color="0.5", ls=":", lw=1)
        ax.annotate(f"{cores} cores", (cores, 1), xycoords=("data", "axes fraction"),
                    xytext=(3, -12), textcoords="offset points", fontsize=8, color="0.4")
    ax.set_xlabel("workers N")
    ax.grid(alpha=0.3)


def _by_size(rows):
    groups = {}
    for r in rows:
        groups.setdefault(r["train_size"], []).append(r)
    return {p: sorted(rs, key=lambda r: r["workers"]) for p, rs in sorted(groups.items())}


def _axes(ax, width=5.0, height=3.6):
    if ax is None:
        fig, (ax,) = new_figure(1, width=width, height=height)
    return ax


def plot_time_vs_workers(rows, cores=None, ax=None):
    """Training time against N, one line per training size P (median; bars: min to max)."""
    ax = _axes(ax)
    seq = [r for r in rows if r["backend"] is None]
    for i, (p, rs) in enumerate(_by_size([r for r in rows if r["backend"]]).items()):
        t = [r["seconds"] for r in rs]
        err = [[r["seconds"] - r["seconds_min"] for r in rs],
               [r["seconds_max"] - r["seconds"] for r in rs]]
        ax.errorbar([r["workers"] for r in rs], t, yerr=err, marker="o", capsize=3,
                    color=f"C{i}", label=f"P = {p:,}, {rs[0]['backend']}")
        # The sequential reference T(1) of the same P, beside the engine's N = 1.
        ax.plot([r["workers"] for r in seq if r["train_size"] == p],
                [r["seconds"] for r in seq if r["train_size"] == p], "*", ms=10,
                color=f"C{i}", mec="k", label="sequential" if i == 0 else None)
    _workers_axis(ax, [r["workers"] for r in rows], cores)
    epochs = rows[0]["epochs"]
    ax.set(yscale="log", ylabel=f"training time, {epochs} epoch{'s' * (epochs > 1)} (s)",
           title="Execution time")
    ax.legend(fontsize="small")
    return ax.figure


def plot_speedup(table, amdahl=None, cores=None, ax=None):
    """Speedup ``T(1)/T(N)`` per P, the ideal ``S = N`` and Amdahl's law fitted per P.

    ``table`` rows hold ``train_size``, ``workers``, ``speedup``, ``speedup_lo`` and
    ``speedup_hi``; ``amdahl`` maps P to its fitted parallel fraction.
    """


    ax = _axes(ax)
    ns = [r["workers"] for r in table]
    grid = np.geomspace(1, max(ns), 50)
    ax.plot(grid, grid, color="0.6", lw=1, label="ideal S = N")
    for i, (p, rs) in enumerate(_by_size(table).items()):
        s = [r["speedup"] for r in rs]
        err = [[r["speedup"] - r["speedup_lo"] for r in rs],
               [r["speedup_hi"] - r["speedup"] for r in rs]]
        ax.errorbar([r["workers"] for r in rs], s, yerr=err, marker="o", capsize=3,
                    color=f"C{i}", label=f"P = {p:,}")
        f = (amdahl or {}).get(p)
        if f is not None:
            ax.plot(grid, amdahl_speedup(grid, f), color=f"C{i}", ls="--", lw=1,
                    label=f"Amdahl fit, P = {p:,}: f = {f:.2f}")
    _workers_axis(ax, ns, cores)
    ax.set(yscale="log", ylabel="speedup S = T(1) / T(N)", title="Speedup")
    ax.legend(fontsize="x-small", ncol=2)
    return ax.figure


def plot_efficiency(table, cores=None, ax=None):
    """Parallel efficiency ``S / N`` per P (1 is perfect)."""
    ax = _axes(ax)
    for p, rs in _by_size(table).items():
        ax.plot([r["workers"] for r in rs], [r["efficiency"] for r in rs], marker="o",
                label=f"P = {p:,}")
    ax.axhline(1, color="0.6", lw=1)
    _workers_axis(ax, [r["workers"] for r in table], cores)
    ax.set(ylabel="efficiency S / N", ylim=(0, None), title="Parallel efficiency")
    ax.legend(fontsize="small")
    return ax.figure


def plot_accuracy_vs_workers(rows, cores=None, ax=None):
    """Test accuracy against N, one line per learning-rate rule (fixed: the seed's)."""
    ax = _axes(ax)
    names = {"fixed": "fixed lr (the seed)", "linear": "lr x N (Goyal et al. 2017)"}
    for rule in ("fixed", "linear"):
        rs = sorted((r for r in rows if r["lr_rule"] == rule), key=lambda r: r["workers"])
        if rs:
            ax.plot([r["workers"] for r in rs], [r["test_accuracy"] for r in rs], marker="o",
                    label=names[rule])
    _workers_axis(ax, [r["workers"] for r in rows], cores)
    r0 = rows[0]
    ax.set(ylabel="test accuracy",
           title=f"Accuracy after {r0['epochs']} epochs, P = {r0['train_size']:,}")
    ax.legend(fontsize="small")
    return ax.figure


def plot_accuracy_vs_time(rows, ax=None):
    """Test accuracy after each epoch against training seconds so far, per N and lr rule."""

    ax = _axes(ax)
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
    ax.legend(fontsize="x-small", ncol=2)
    return ax.figure


def plot_run_timeline(trace, first=None, count=8, title=None):
    """A window of ``count`` iterations of a run's trace: per worker, compute, wait, aggregate.

    The window starts at iteration ``first`` (default: the middle of the run,
    away from start-up); :func:`pdsgd.engine.trace.plot_timeline` draws it.
    """


    its = np.unique(trace["iteration"])
    first = its[len(its) // 2] if first is None else first
    window = trace[(trace["iteration"] >= first) & (trace["iteration"] < first + count)]
    fig, (ax,) = new_figure(1, width=8.0, height=3.2)
    plot_timeline(window, ax=ax)
    ax.set_title(title or f"Iterations {first} to {first + count - 1} of one run")
    return fig


def plot_cost_model(model, measured=(), n_max=64, train_size=60_000, ax=None):
    """Predicted speedup up to ``n_max`` workers, with a core each and on the measuring
    machine, beside the speedups measured there (``measured``: ``(N, S)`` pairs)."""
    ax = _axes(ax, width=6.0, height=4.0)
    # Powers of two and their midpoints: ceil(P / N) makes the curve jagged in between.
    ns = sorted({n for k in range(n_max.bit_length()) for n in (2 ** k, 3 * 2 ** k // 2)
                 if 1 <= n <= n_max})
    ax.plot(ns, ns, color="0.6", lw=1, label="ideal S = N")
    ax.plot(ns, [model.speedup(n, train_size, cores=n) for n in ns], color="C0",
            label="model, one core per worker")
    ax.plot(ns, [model.speedup(n, train_size) for n in ns], color="C1", ls="--",
            label=f"model, {model.cores} cores (this machine)")
    if model.limit() < n_max:
        ax.axhline(model.limit(), color="C0", ls=":", lw=1,
                   label=f"limit sequential / aggregate = {model.limit():.1f}")
    if measured:
        n, s = zip(*measured, strict=True)
        ax.plot(n, s, "ko", label="measured here")
    _workers_axis(ax, [1, 2, 4, 8, 16, 32, 64][:max(1, n_max.bit_length())], model.cores)
    ax.set(yscale="log", ylabel="speedup S = T(1) / T(N)",
           title=f"Cost model (fitted from {model.source}), P = {train_size:,}")
    ax.legend(fontsize="x-small")
    return ax.figure


def plot_digits(X, y, side=28):
    """A row of images (rows of ``X``, ``side`` x ``side`` pixels) titled by label."""
    fig = Figure(figsize=(1.1 * len(X), 1.4), layout="constrained")
    for i, (x, label) in enumerate(zip(X, y, strict=True)):
        ax = fig.add_subplot(1, len(X), i + 1)
        ax.imshow(x.reshape(side, side), cmap="gray_r")
        ax.set_title(str(label))
        ax.axis("off")
    return fig


def plot_phase_totals(totals, ax=None):
    """Seconds each worker spent computing, waiting at the barrier and aggregating.

    ``totals`` is :func:`pdsgd.engine.trace.summarize` of a run's trace.
    """
    ax = _axes(ax, width=5.0, height=3.0)
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
    ax.legend(fontsize="small")
    return ax.figure


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
    by_rounds.legend()
    return fig


def plot_staleness(histograms, ax=None):
    """Staleness histograms: the share of gradients against how stale they were, one line each.

    Parameters
    ----------
    histograms : dict
        ``{label: {"staleness": [0, 1, ...], "count": [...]}}``, as
        :func:`pdsgd.engine.sync.histogram` returns (of ``TrainResult.staleness``)
        and ``pdsgd bench sync`` stores in its rows.
    ax : matplotlib Axes, optional

    The y axis is logarithmic: the rare, very stale gradients are the story.
    """
    if ax is None:
        _, (ax,) = new_figure(1, width=5.5, height=3.6)
    for label, hist in histograms.items():
        count = np.asarray(hist["count"], float)
        share = count / max(count.sum(), 1.0)
        keep = share > 0
        ax.plot(np.asarray(hist["staleness"])[keep], share[keep], "o-", markersize=3,
                label=label)
    ax.set_yscale("log")
    ax.set(xlabel="staleness: updates applied between a gradient's read and its own",
           ylabel="share of gradients")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return ax.figure


def plot_sync_tradeoff(rows, ax=None):
    """Samples/s against test accuracy after the same samples, one point per setting.

    ``rows`` are rows of ``pdsgd bench sync`` (:func:`pdsgd.bench.sync.run`) for
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
        ax.annotate(r["setting"], (x, y), textcoords="offset points", xytext=(5, 5),
                    fontsize="small")
    ax.set(xlabel="training samples per second (median)",
           ylabel="test accuracy after the same samples")
    ax.grid(alpha=0.3)
    return ax.figure
