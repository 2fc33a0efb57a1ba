"""Figures. Each function draws on a new (or given) matplotlib figure and returns it.

Figures are built with :class:`matplotlib.figure.Figure`, not pyplot, so they
work the same in a notebook, a test and a headless ``make reproduce``. Every
figure reads the same way (:mod:`~pdsgd.plots.style`): plain-number ticks and
legends off the data. The figures are grouped by what they show:
:mod:`~pdsgd.plots.training` (one network, one run), :mod:`~pdsgd.plots.scaling`
(the study's curves against N), :mod:`~pdsgd.plots.engine` (the engine at work),
:mod:`~pdsgd.plots.hosting` (workers past the cores) and :mod:`~pdsgd.plots.network`
(the network lab).
"""

from pdsgd.plots.batch import plot_batch_size, plot_time_to_accuracy
from pdsgd.plots.engine import (
    plot_phase_totals,
    plot_run_timeline,
    plot_staleness,
    plot_sync_tradeoff,
)
from pdsgd.plots.hosting import plot_hosting
from pdsgd.plots.network import plot_network
from pdsgd.plots.runs import plot_run_history
from pdsgd.plots.scaling import (
    plot_accuracy_vs_time,
    plot_accuracy_vs_workers,
    plot_cost_model,
    plot_efficiency,
    plot_rounds_and_time,
    plot_speedup,
    plot_speedup_vs_batch,
    plot_time_vs_workers,
)
from pdsgd.plots.style import (
    PlainLogLocator,
    legend_outside,
    new_figure,
    plain_number,
    save_figure,
    tidy,
)
from pdsgd.plots.training import (
    draw_architecture,
    plot_digits,
    plot_history,
    plot_loss_curve,
    plot_messages,
)

__all__ = [
    "draw_architecture",
    "legend_outside",
    "new_figure",
    "plain_number",
    "PlainLogLocator",
    "plot_accuracy_vs_time",
    "plot_batch_size",
    "plot_accuracy_vs_workers",
    "plot_cost_model",
    "plot_digits",
    "plot_efficiency",
    "plot_history",
    "plot_hosting",
    "plot_loss_curve",
    "plot_messages",
    "plot_network",
    "plot_phase_totals",
    "plot_rounds_and_time",
    "plot_run_history",
    "plot_run_timeline",
    "plot_speedup",
    "plot_speedup_vs_batch",
    "plot_staleness",
    "plot_sync_tradeoff",
    "plot_time_to_accuracy",
    "plot_time_vs_workers",
    "save_figure",
    "tidy",
]
