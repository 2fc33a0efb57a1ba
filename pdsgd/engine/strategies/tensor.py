"""Tensor parallelism as a strategy: split the hidden units; run the workers in turns or at once.

The layout (who owns what, what crosses, how often) is :mod:`pdsgd.engine.tensor`,
one worker's arithmetic :mod:`pdsgd.engine.tensor_worker`; this module is the
strategy (``--parallel tensor``): what it allows, and how its workers run.

A :class:`~pdsgd.engine.tensor_worker.TensorWorker`'s iteration is a generator that
stops at each crossing, once its partial sums are written. What runs the
workers decides what happens there:

* :class:`TensorTurns` (the ``serial`` backend) advances the N workers' generators
  one after another, crossing by crossing, in the calling thread: the same
  arithmetic, in the same order, with nothing running at the same time;
* :meth:`TensorParallel.work` (``threads`` and ``processes``) is the life of one
  thread or process of a pool: for each span, load the slices, run the span,
  store them back (so the parent is whole at every span's end), with a
  crossing of the iteration barrier at every stop. The broker's side is
  data parallelism's :class:`~pdsgd.engine.strategies.data.LockStep`.

Both run their workers through :func:`run_turns`. A pool's thread or process
usually runs one worker; on ``processes`` with more workers than cores, each
process runs several, in turns, as the serial backend does
(:func:`pdsgd.engine.tensor.hosts`). N processes on fewer cores would take
turns anyway, but the operating system would switch between them at every
crossing, and each switch costs the process that comes in its cache
(docs/tensor.md has the measured difference). The
weights are the same bit for bit: each worker's arithmetic does not depend
on who runs it, and the partial sums are added in worker order.

The trace keeps the three phases of data parallelism: *compute* up to the
first crossing (the forward pass of the first pair of layers), *barrier wait*
at the first crossing, *aggregate* from there to the iteration's end (the sum
of the partial outputs, the deltas and the updates of the worker's own slices;
with more than one crossing, the later waits fall inside it).
"""

from __future__ import annotations

import time

import numpy as np

from pdsgd.engine.shm import SharedArrays, flat
from pdsgd.engine.strategies.base import Outcome, Strategy
from pdsgd.engine.strategies.data import LockStep, trace_fields
from pdsgd.engine.tensor import OwnersUpdate, crossing_fields, crossings
from pdsgd.engine.tensor_worker import TensorWorker
from pdsgd.engine.trace import from_times
from pdsgd.errors import OptionError

#: ``--parallel``'s value that picks this strategy.
TENSOR = "tensor"


class TensorParallel(Strategy):
    """``--parallel tensor``: every worker takes every sample and updates the units it owns."""

    name = TENSOR
    option = "parallel"
    shares_hosts = True
    worker = TensorWorker

    def check(self, spec):
        if not spec.hidden:
            raise OptionError("parallel", spec.parallel, "needs a hidden layer to split")
        if spec.backend not in (None, "sequential", *self.backends):
            where = f"{', '.join(self.backends[:-1])} or {self.backends[-1]}"
            raise OptionError("parallel", spec.parallel,
                              f"runs on {{backend}}{where} (not {spec.backend})")
        for option, data_only in (("algorithm", "bsp"), ("send", "factors"),
                                  ("aggregate", None), ("sync", "bsp")):
            value = getattr(spec, option)
            if value != data_only:
                raise OptionError(option, value, "applies to {parallel}data only: with "
                                  "tensor parallelism every worker takes every sample and "
                                  "updates the units it owns")

    def resolve_aggregate(self, spec, backend):
        return None  # each worker updates what it owns

    def aggregation(self, spec):
        return OwnersUpdate("owners", n_layers=len(spec.hidden) + 1)

    def make_aggregator(self, spec):
        return None  # the workers apply their own updates

    def fields(self, spec):
        # The partial sums travel instead of results.
        return {**trace_fields(spec), **crossing_fields(spec)}

    def serial(self, model, X, T, spec):
        return TensorTurns(model, X, T, spec)

    def leader(self, pool):
        return LockStep(self, pool)

    def work(self, host):
        """Run the host's workers in turns, crossing the iteration barrier at every stop.

        One worker per thread or process, or several when there are more
        workers than cores (:func:`pdsgd.engine.tensor.hosts`); the partial
        sums travel through the block's ``cross*`` arrays.
        """
        workers, block, spec = host.workers, host.block, host.spec
        for worker in workers:
            worker.attach(block)
            worker.follow(workers[0])
        schedule, n_rows_of = block["schedule"], block["n_rows"]
        times = [flat(block["trace"][w.index]) for w in workers] if spec.trace else None
        for count, lr in host.spans():
            for worker in workers:
                worker.load()
            run_turns(workers, schedule, n_rows_of, count, lr, times, host.t0,
                      host.step_barrier.wait)
            for worker in workers:
                worker.store()




class TensorTurns:
    """The serial backend's tensor parallelism: N workers taking turns at every crossing.

    Parameters
    ----------
    model : MLP
        The parent: the workers load their slices from it at every span's
        start and store them back at its end.
    X, T : ndarray
    spec : EngineSpec
    """

    def __init__(self, model, X, T, spec):
        self.spec = spec
        self.block = SharedArrays(crossing_fields(spec), shared=False)
        self.pool = [TensorWorker(i, model, X, T, spec) for i in range(spec.workers)]
        for worker in self.pool:
            worker.attach(self.block)
            worker.follow(self.pool[0])
        self.times = np.zeros((spec.workers + 1, spec.span, 3, 2)) if spec.trace else None
        self.rows = None if self.times is None else [flat(t) for t in self.times[:-1]]

    def run_span(self, span, lr, first, t0):
        """Run ``span`` (see :meth:`pdsgd.engine.backends.base.Backend.run_span`)."""
        if self.times is not None:
            self.times[:, :span.count] = 0.0
        for worker in self.pool:
            worker.load()
        run_turns(self.pool, span.indices, span.n_rows, span.count, lr, self.rows, t0)
        for worker in self.pool:
            worker.store()
        if self.times is None:
            return Outcome(None)
        return Outcome(from_times(self.times[:, :span.count], first))


def run_turns(workers, schedule, n_rows_of, count, lr, times, t0, cross=None):
    """Run ``count`` iterations of ``workers``, in turns, crossing with ``cross()`` at every stop.

    Parameters
    ----------
    workers : list of TensorWorker
        Those this thread or process runs (all N on the serial backend).
    schedule, n_rows_of : ndarray
        Each iteration's sample indices and how many of them are used.
    count : int
    lr : float
    times : list of memoryview, or None
        Each worker's trace as flat doubles, six per iteration (start and
        end of compute, barrier wait, aggregate); None records nothing.
    t0 : float
        ``time.perf_counter()`` at the start of the run.
    cross : callable, optional
        The barrier crossing between phases; None (the serial backend):
        the other workers' turns are the crossing, and no wait is recorded.
    """
    clock = time.perf_counter
    phases = 1 if workers[0].fast else crossings(len(workers[0].sizes) - 1) + 1
    for k in range(count):
        # j: iteration k's six doubles, (compute, wait, aggregate) x (start, end)
        n_rows, parity, j = int(n_rows_of[k]), k & 1, 6 * k
        steps = [w.iteration(schedule[k], n_rows, lr, parity) for w in workers]
        for phase in range(phases):
            for i, step in enumerate(steps):
                s = clock()
                next(step, None)
                if times is None:
                    continue
                row = times[i]
                if phase == 0:  # compute, up to the first crossing; the wait starts there
                    row[j] = s - t0
                    row[j + 1] = row[j + 2] = clock() - t0
                else:  # aggregate: from the first crossing to the iteration's end
                    if phase == 1:  # the first one's starts where the wait ended
                        row[j + 4] = row[j + 3] if i == 0 and cross else s - t0
                    row[j + 5] = clock() - t0
            if phase == phases - 1 or cross is None:
                continue
            cross()
            if phase == 0 and times is not None:  # later waits fall inside aggregate
                w = clock() - t0
                for row in times:
                    row[j + 3] = w


TENSOR_PARALLEL = TensorParallel()
