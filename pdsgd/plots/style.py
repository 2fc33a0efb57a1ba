"""How every figure reads: new figures, plain-number ticks, legends off the data, saving.

Every public plotting function ends with :func:`tidy` (through :func:`tidied`):
tick labels are plain numbers, 0.5, 1, 2, 4, never ``5x10^-1`` or an offset such
as ``1e-8+4.9e-1``, and legends sit outside the axes (:func:`legend_outside`).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, Locator, NullFormatter, ScalarFormatter

from pdsgd.files import atomic_path


def new_figure(ncols=1, width=5.0, height=3.6):
    """A figure with ``ncols`` side-by-side axes (returned as a list)."""
    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    return fig, [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]


def plain_number(value, _pos=None):
    """A tick label as a plain number: ``0.5``, ``2``, ``1,000``, ``0.002``."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else ""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return np.format_float_positional(float(f"{value:.3g}"), trim="-")


class PlainLogLocator(Locator):
    """Ticks of a log axis at round numbers: 1-2-5 per decade, or powers of two (``base=2``).

    The coarsest sequence that puts at least three ticks in view is chosen (a
    few at most eight), so a speedup axis from 0.4 to 1.3 still gets 0.5 and 1
    (and 0.75) rather than one lonely "1".
    """

    SEQUENCES = {10: ((1,), (1, 3), (1, 2, 5), (1, 1.5, 2, 3, 5, 7)),
                 2: ((1,), (1, 1.5), (1, 1.25, 1.5, 1.75))}

    def __init__(self, base=10):
        self.base = base

    def __call__(self):
        vmin, vmax = self.axis.get_view_interval()
        return self.tick_values(vmin, vmax)

    def tick_values(self, vmin, vmax):
        vmin, vmax = sorted((vmin, vmax))
        if not (vmin > 0 and math.isfinite(vmax)):
            return []
        lo, hi = math.floor(math.log(vmin, self.base)), math.ceil(math.log(vmax, self.base))
        best = []
        for subs in self.SEQUENCES[self.base]:
            ticks = [m * self.base ** e for e in range(lo, hi + 1) for m in subs]
            ticks = [t for t in ticks if vmin <= t * (1 + 1e-9) and t <= vmax * (1 + 1e-9)]
            if len(ticks) > 8 and best:
                break
            best = ticks
            if len(ticks) >= 3:
                break
        return best


def at_least_span(ax, values, span):
    """Widen ``ax``'s y-axis to at least ``span`` around ``values``; returns ``ax``.

    Autoscaling fills the axes with whatever range the data have: a saturated
    run whose loss moves in its fourth digit (0.4901 to 0.4905) then looks like
    a steep fall. With a floor on the span a change that small is drawn flat.
    """
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    if len(values) and np.ptp(values) < span:
        middle = (values.min() + values.max()) / 2
        ax.set_ylim(middle - 0.6 * span, middle + 0.6 * span)  # a margin, as autoscaling has
    return ax


def tidy(fig):
    """Plain-number tick labels on every axis of ``fig``, without offsets; returns ``fig``.

    Log axes get :class:`PlainLogLocator` (base 2 where the axis is in base 2)
    and no minor labels; linear axes never use an offset or a power-of-ten
    multiplier. Fixed ticks a function set on purpose (the workers axis) stay.
    """
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() == "log":
                if not isinstance(axis.get_major_locator(), FixedLocator):
                    base = getattr(axis.get_transform(), "base", 10)
                    axis.set_major_locator(PlainLogLocator(2 if base == 2 else 10))
                    axis.set_major_formatter(FuncFormatter(plain_number))
                axis.set_minor_formatter(NullFormatter())
            elif isinstance(axis.get_major_formatter(), ScalarFormatter):
                axis.get_major_formatter().set_useOffset(False)
                axis.get_major_formatter().set_scientific(False)
    return fig


def tidied(draw):
    """Decorator: run :func:`tidy` on the figure a plotting function returns (or draws on)."""

    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        result = draw(*args, **kwargs)
        tidy(result.figure if isinstance(result, Axes) else result)
        return result

    return wrapper


def legend_outside(ax, handles=None, labels=None, **kw):
    """A legend to the right of ``ax``, outside it: it never covers the data."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    return ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                     borderaxespad=0.0, fontsize=kw.pop("fontsize", "small"), **kw)


def save_figure(fig, path, formats=("png",)):
    """Save ``fig`` as ``path`` with each suffix in ``formats``, atomically; return the paths."""
    written = []
    for fmt in formats:
        target = Path(path).with_suffix("." + fmt)
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=fmt, dpi=120)
        written.append(target)
    return written


def axes_or_new(ax, width=5.0, height=3.6):
    if ax is None:
        fig, (ax,) = new_figure(1, width=width, height=height)
    return ax
