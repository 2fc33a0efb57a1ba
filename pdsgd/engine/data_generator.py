"""The seed's Data Generator: a thread that feeds sample assignments to the broker.

It reads the source (the epoch's random order, the seed's ``ShuffleSlice``) and
cuts it into :class:`Span` objects, each the assignments of a run of
iterations: row ``k`` holds the ``N*b`` sample indices of iteration ``k``,
worker 0's block first. They travel through a bounded queue (the seed's
buffered channel), so the generator prepares the next span while the workers
run the current one, and never runs more than ``buffer`` spans ahead.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field

import numpy as np

from pdsgd.engine.shuffle import n_iterations


@dataclass
class Span:
    """Assignments of iterations ``first`` to ``first + count - 1`` of an epoch.

    Attributes
    ----------
    first : int
        Epoch-local number of the first iteration.
    indices : ndarray of int, shape (count, N*b)
        Sample indices; in an epoch's last iteration only the first
        ``n_rows[k]`` are used (the rest are padding).
    n_rows : ndarray of int, shape (count,)
        Samples in each iteration.
    order : ndarray of int, optional
        The whole epoch's sample order (a reference, not a copy), so that a
        strategy may look past the span (:func:`make_span`): the serial
        simulation of SSP and async plays a schedule over the span's window,
        whatever cuts it (see :func:`window`).
    """

    first: int
    indices: np.ndarray
    n_rows: np.ndarray
    order: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def count(self):
        """Number of iterations."""
        return len(self.n_rows)

    @property
    def last(self):
        """Epoch-local number of the last iteration."""
        return self.first + self.count - 1


def span_bounds(first, total, span, every=None):
    """Where spans start and end: cut after multiples of ``span`` and of ``every``.

    Cut at multiples of ``span`` (not ``span`` after ``first``): a run resumed
    in the middle of an epoch keeps the uninterrupted run's windows.
    """
    bounds, t = [], first
    while t < total:
        end = min(total, (t // span + 1) * span)
        if every:
            end = min(end, (t // every + 1) * every)
        bounds.append((t, end))
        t = end
    return bounds


def make_span(order, step, start, end):
    """The :class:`Span` of iterations ``[start, end)`` of an epoch's ``order``, ``step`` = N*b."""
    chunk = order[start * step:end * step]
    count = end - start
    indices = np.zeros(count * step, dtype=np.int64)
    indices[:len(chunk)] = chunk
    n_rows = np.full(count, step, dtype=np.int64)
    n_rows[-1] = len(chunk) - (count - 1) * step
    return Span(start, indices.reshape(count, step), n_rows, order)


def window(span, length):
    """The window of ``length`` iterations (from the epoch's start) that holds ``span``.

    The :class:`Span` of the iterations ``[k*length, (k+1)*length)`` (fewer at
    the epoch's end) around ``span``: the span itself when it does not know
    its epoch's order.
    """
    if span.order is None:
        return span
    step = span.indices.shape[1]
    start = span.first // length * length
    total = n_iterations(len(span.order), step, 1)
    return make_span(span.order, step, start, min(total, start + length))


class DataGenerator:
    """Iterate over the spans of one epoch, produced by a background thread.

    Parameters
    ----------
    order : ndarray of int
        The epoch's sample order.
    workers, micro_batch : int
        N and b.
    first_iteration : int
        Start here (resuming from a checkpoint).
    span : int
        Most iterations per span.
    every : int, optional
        Also end a span after every multiple of ``every`` iterations (checkpoints).
    buffer : int, default 2
        Capacity of the queue, in spans.

    Examples
    --------
    >>> import numpy as np
    >>> with DataGenerator(np.arange(5), workers=2, micro_batch=1, span=2) as gen:
    ...     [s.n_rows.tolist() for s in gen]
    [[2, 2], [1]]
    """

    _DONE = object()

    def __init__(self, order, workers, micro_batch=1, *, first_iteration=0, span=512,
                 every=None, buffer=2):
        self.order, self.step = np.asarray(order), workers * micro_batch
        total = n_iterations(len(order), workers, micro_batch)
        self.bounds = span_bounds(first_iteration, total, span, every)
        self.queue = queue.Queue(maxsize=buffer)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._produce, name="pdsgd-data-generator",
                                       daemon=True)

    def make_span(self, start, end):
        """The :class:`Span` of iterations ``[start, end)``."""
        return make_span(self.order, self.step, start, end)

    def _produce(self):
        try:
            for start, end in self.bounds:
                if not self._put(self.make_span(start, end)):
                    return
            self._put(self._DONE)
        except BaseException as error:  # hand it to the consumer rather than lose it
            self._put(error)

    def _put(self, item):
        while not self.stopping.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join()

    def __iter__(self):
        while True:
            item = self.queue.get()
            if item is self._DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
