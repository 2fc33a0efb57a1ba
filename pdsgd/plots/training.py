"""Figures of one network and one run: loss and accuracy per epoch, digits, the architecture."""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch
from matplotlib.ticker import MaxNLocator

from pdsgd.plots.style import at_least_span, legend_outside, new_figure, tidied

#: The loss axis: its label short enough for a small figure, what it measures in the title.
LOSS_LABEL, LOSS_TITLE = "training loss", "loss: ½ Σ squared error, mean over samples"
#: The smallest change drawn as a change: 5% of the loss, 2 points of accuracy.
LOSS_SPAN, ACCURACY_SPAN = 0.05, 0.02


@tidied
def plot_history(history, title=None):
    """Training loss and train/test accuracy per epoch, side by side."""
    fig, (ax_loss, ax_acc) = new_figure(2)
    ax_loss.plot(history["epoch"], history["loss"], marker="o")
    ax_loss.set(xlabel="epoch", ylabel=LOSS_LABEL)
    ax_loss.set_title(LOSS_TITLE, fontsize="small")
    at_least_span(ax_loss, history["loss"], LOSS_SPAN * max(history["loss"], default=0))
    ax_acc.plot(history["epoch"], history["train_accuracy"], marker="o", label="train")
    ax_acc.plot(history["epoch"], history["test_accuracy"], marker="s", label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy")
    at_least_span(ax_acc, [*history["train_accuracy"], *history["test_accuracy"]],
                  ACCURACY_SPAN)
    legend_outside(ax_acc)
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    if title:
        fig.suptitle(title)
    return fig


@tidied
def plot_loss_curve(curve, ax=None):
    """Training loss against samples seen, from ``{"samples": [...], "loss": [...]}``."""
    if ax is None:
        fig, (ax,) = new_figure(1, width=5.0, height=3.0)
    ax.plot(curve["samples"], curve["loss"], marker=".")
    ax.set(xlabel="samples seen", ylabel=LOSS_LABEL)
    ax.set_title(LOSS_TITLE, fontsize="small")
    at_least_span(ax, curve["loss"], LOSS_SPAN * max(curve["loss"], default=0))
    ax.grid(alpha=0.3)
    return ax.figure


@tidied
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
    legend_outside(ax_time)
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


@tidied
def plot_digits(X, y, side=28):
    """A row of images (rows of ``X``, ``side`` x ``side`` pixels) titled by label."""
    fig = Figure(figsize=(1.1 * len(X), 1.4), layout="constrained")
    for i, (x, label) in enumerate(zip(X, y, strict=True)):
        ax = fig.add_subplot(1, len(X), i + 1)
        ax.imshow(x.reshape(side, side), cmap="gray_r")
        ax.set_title(str(label))
        ax.axis("off")
    return fig
