"""What every backend does, and the part the threads and processes backends share.

The broker hands a backend one *span* of iterations at a time (up to the next
checkpoint, epoch end or progress update). :class:`PoolBackend` keeps long-lived
workers waiting at a span barrier; for each span it writes the sample schedule
and the parent's weights into the shared block, lets the workers go, runs the
Results Aggregator itself in ``central`` mode, and, after the span, copies the
weights back into the parent model (checking first, in ``replicated`` mode,
that every replica holds the very same bytes). In ``sharded`` mode the workers
update the shared weights themselves, each its share of the rows.
"""

from __future__ import annotations

import os
import time
from threading import BrokenBarrierError

import numpy as np

from pdsgd.engine.aggregator import ResultsAggregator, ResultSlots, slot_fields
from pdsgd.engine.trace import from_times
from pdsgd.engine.worker import RUN, STOP, checksum
from pdsgd.errors import PdsgdError
from pdsgd.mlp import MLP

AGGREGATES = ("central", "replicated", "sharded")


class WorkerError(PdsgdError):
    """A worker failed or died; the run was stopped and everything released."""


def usable_cores():
    """Cores this process may run on (affinity-aware where the OS tells)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


class Backend:
    """Runs the N workers of a :class:`~pdsgd.engine.broker.Broker`.

    Parameters
    ----------
    model : MLP
        The parent model; after each span it holds the new weights.
    X, T : ndarray
        Training inputs and targets.
    workers, micro_batch : int
        N and b.
    aggregate : {"central", "replicated", "sharded"}
        Who applies the averaged update: the broker's aggregator, to shared
        weights the workers read (the seed's); every worker to its own replica;
        or every worker its share of the rows of the shared weights.
    send : {"factors", "gradients"}
    span : int
        Most iterations per span (sizes the schedule and trace buffers).
    trace : bool
        Record the timeline.
    timeout : float
        Seconds a worker may wait at the iteration barrier before the run is
        declared stuck.
    straggler : int, optional
        A worker made slow on purpose, by ``straggler_delay`` seconds per iteration.
    straggler_delay : float
    local_steps : int, optional
        K for parameter averaging (:mod:`pdsgd.engine.averaging`); None for BSP. A
        round (N*K*b samples) then plays the part of an iteration.
    """

    name = "base"

    def __init__(self, model, X, T, *, workers, micro_batch=1, aggregate="central",
                 send="factors", span=512, trace=True, timeout=60.0, straggler=None,
                 straggler_delay=0.0, local_steps=None):
        if aggregate not in AGGREGATES:
            raise PdsgdError(f"--aggregate {aggregate}: choose one of {', '.join(AGGREGATES)}")
        self.model, self.X, self.T = model, X, T
        self.workers, self.micro_batch = workers, micro_batch
        self.aggregate, self.send, self.span = aggregate, send, span
        self.trace, self.timeout = trace, timeout
        self.local_steps = local_steps
        # Samples per iteration (BSP) or per round (averaging): a schedule row.
        self.round_size = workers * micro_batch * (local_steps or 1)
        self.aggregator = ResultsAggregator(send, micro_batch, **self.averaging,
                                            **self.sharding)
        self.delays = [straggler_delay if i == straggler else 0.0 for i in range(workers)]

    @property
    def averaging(self):
        """Keyword arguments that make a Worker or ResultsAggregator average parameters (or not)."""
        return dict(workers=self.workers, local_steps=self.local_steps)

    @property
    def sharding(self):
        """Keyword arguments that make the serial aggregator apply the update in N row blocks."""
        return {"shards": self.workers} if self.aggregate == "sharded" else {}

    def start(self, t0):
        """Start the workers; ``t0`` is the run's ``time.perf_counter()`` origin."""

    def run_span(self, span, lr, first):
        """Run the iterations of ``span`` (a :class:`~pdsgd.engine.data_generator.Span`).

        Returns
        -------
        ndarray
            Trace rows (:data:`~pdsgd.engine.trace.TRACE_DTYPE`), iterations from ``first``.
        """
        raise NotImplementedError

    def close(self):
        """Stop the workers and release what they used; safe to call twice."""


class PoolBackend(Backend):
    """Long-lived workers around a block of shared arrays (threads and processes)."""

    shared_memory = False  # processes put the block in multiprocessing.shared_memory

    def fields(self):
        """The block's arrays: control, schedule, weights, slots, trace."""
        n, m = self.workers, self.model
        return {
            "control": ((4,), np.int64), "lr": ((1,), np.float64),
            "flags": ((4,), np.int64),
            "schedule": ((self.span, self.round_size), np.int64),
            "n_rows": ((self.span,), np.int64),
            "params": (m.params.shape, m.dtype),
            "checksums": ((n,), np.int64), "pids": ((n,), np.int64),
            # [party, iteration in span, phase, start/end]; party n is the aggregator
            "trace": ((n + 1, self.span, 3, 2), np.float64),
            **slot_fields(m.sizes, n, self.micro_batch, m.dtype, self.send, m.bias,
                          self.local_steps),
        }

    def start(self, t0):
        from pdsgd.engine.shm import SharedArrays

        self.t0, self.closed = t0, False
        self.block = SharedArrays(self.fields(), shared=self.shared_memory)
        self.slots = [ResultSlots(self.block, p, self.model.n_layers) for p in (0, 1)]
        m = self.model
        self.shared_model = MLP(m.sizes, bias=m.bias, dtype=m.dtype,
                                params=self.block["params"])
        self.launch()
        # An empty span: it returns once every worker is up and waiting, so that
        # starting them is not counted as training time in the first epoch.
        self.block["params"][...] = m.params
        self.block["control"][:2] = RUN, 0
        self.span_wait()
        self.span_wait()

    # Subclasses provide these five.
    def launch(self):
        """Start the N workers (each ends up waiting at the span barrier)."""
        raise NotImplementedError

    def span_wait(self):
        """The broker's crossing of the span barrier (N workers + broker)."""
        raise NotImplementedError

    def step_wait(self):
        """The broker's crossing of the iteration barrier (central mode only)."""
        raise NotImplementedError

    def shutdown(self):
        """Make sure every worker has ended; release barriers and executors."""
        raise NotImplementedError

    def abort(self):
        """Break the barriers: every waiting worker wakes with an error and returns."""
        raise NotImplementedError

    def run_span(self, span, lr, first):
        try:
            return self._run_span(span, lr, first)
        except BaseException:
            # An error or Ctrl-C: wake every worker with an error so that none
            # is left waiting, then let the caller's close() end them.
            self.abort()
            raise

    def _run_span(self, span, lr, first):
        block, count = self.block, span.count
        block["schedule"][:count] = span.indices
        block["n_rows"][:count] = span.n_rows
        block["params"][...] = self.model.params
        block["lr"][0] = lr
        block["control"][:2] = RUN, count
        times = block["trace"]
        if self.trace:
            times[:, :count] = 0.0
        self.span_wait()  # go
        if self.aggregate == "central":
            self._aggregate_span(span, lr, times[self.workers])
        self.span_wait()  # every worker has finished the span
        if self.aggregate == "replicated":
            self._check_replicas()
        self.model.params[...] = block["params"]
        return from_times(times[:, :count], first) if self.trace else None

    def _aggregate_span(self, span, lr, rows):
        # The seed's Results Aggregator: wait for all results, update the shared
        # weights, and let the workers go on only once the weights are published.
        clock, t0 = time.perf_counter, self.t0
        for k in range(span.count):
            self.step_wait()
            s = clock()
            self.aggregator.apply(self.shared_model, self.slots[0], int(span.n_rows[k]), lr)
            e = clock()
            self.step_wait()
            if self.trace:
                rows[k, 2] = s - t0, e - t0

    def _check_replicas(self):
        sums = self.block["checksums"]
        expected = checksum(self.block["params"])
        if not np.all(sums == expected):
            raise WorkerError(f"the workers' replicas disagree (checksums {sums.tolist()}): "
                              "a bug; rerun with --aggregate central")

    def close(self):
        if getattr(self, "closed", True):
            return
        self.closed = True
        try:
            self.stop()
        finally:
            try:
                self.shutdown()
            finally:
                self.block.close()

    def stop(self):
        """Ask the workers, idle at the span barrier, to return (unless the run broke)."""
        if self.broken() or not hasattr(self, "span_barrier"):
            return
        self.block["control"][0] = STOP
        try:
            self.span_wait()
        except (BrokenBarrierError, WorkerError):
            pass  # shutdown() ends them the hard way

    def broken(self):
        """True once a barrier was aborted (a worker failed, or the run was interrupted)."""
        return bool(self.block["flags"][0])
