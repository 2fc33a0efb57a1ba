"""What every panel is built from: its sliders and drop-downs, its data, the span it asks for."""

from __future__ import annotations

import ipywidgets as w

from pdsgd.data.datasets import Dataset, load_dataset

#: Samples per span of the engine's iterations in a panel run: the broker looks at the Stop
#: request and moves the bar after every span, so at most this many samples pass unseen
#: (a few tenths of a second, even with more workers than cores). For N = 2 at b = 1 that
#: is the engine's default span: shorter spans cost throughput (each span end copies and
#: checks the weights): at 256 samples per span an epoch took 1.16x as long.
SPAN_SAMPLES = 1024
DASK_SPAN = 2  # a dask round costs tens of milliseconds: a couple per span
#: Seconds of known per-iteration delay (a straggler's) that one span may hold: a Stop is
#: seen within about this long however slow the iterations are made.
SPAN_SECONDS = 0.25
WIDE = {"description_width": "initial"}


def panel_span(workers, micro_batch, backend, delay=0.0):
    """The ``span`` a panel run asks for: see :data:`SPAN_SAMPLES`.

    ``delay`` (seconds) is what every iteration takes at least (a straggler's
    extra time): the span then holds no more than :data:`SPAN_SECONDS` of it.
    At 1,024 samples, N = 2 and a 10 ms straggler, a span would last 5 s and a
    Stop could wait that long.
    """
    if backend == "dask":
        return DASK_SPAN
    span = max(1, SPAN_SAMPLES // (workers * micro_batch))
    if delay > 0:
        span = min(span, max(1, int(SPAN_SECONDS / delay)))
    return span


def slider(cls, description, **kw):
    """A labelled slider of class ``cls`` that reports its value when released."""
    return cls(description=description, style=WIDE, continuous_update=False,
               layout=w.Layout(width="360px"), **kw)


def dropdown(description, options, value=None):
    """A labelled drop-down, at ``value`` or its first option."""
    return w.Dropdown(description=description, options=options,
                      value=options[0] if value is None else value, style=WIDE)


def loaded(data):
    """``data`` as a :class:`~pdsgd.data.datasets.Dataset` (a name is loaded)."""
    return data if isinstance(data, Dataset) else load_dataset(data)
