"""Long-lived workers around a block of shared arrays: what threads and processes share.

:class:`PoolBackend` keeps N workers waiting at a *span barrier* and provides
what the run's strategy (:mod:`pdsgd.engine.strategies`) needs to run a span
on them: the block of shared arrays (the transport's and the strategy's own),
:meth:`~PoolBackend.publish` (the span's samples, the weights, the rate),
:meth:`~PoolBackend.go` and the barrier crossings, and
:meth:`~PoolBackend.check_replicas`. The strategy's leader drives the span
from the broker's side; on the workers' side each thread or process runs the
strategy's worker loop through a :class:`Host`. The subclasses provide only
how workers start and stop, how a party crosses a barrier, and how a failure
is noticed.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from threading import BrokenBarrierError

import numpy as np

from pdsgd.engine.backends.base import Backend, WorkerError
from pdsgd.engine.barrier import set_off
from pdsgd.engine.shm import SharedArrays, checksum, nbytes

RUN, STOP = 1, 2  # commands in control[0]


@dataclass
class Host:
    """What one thread or process of a pool hands the strategy's worker loop.

    Attributes
    ----------
    workers : list
        The workers it runs (one; several only for a strategy that
        :attr:`~pdsgd.engine.strategies.base.Strategy.shares_hosts`).
    block : SharedArrays
        ``control``, ``lr``, ``flags``, ``schedule``, ``n_rows``, ``params``,
        ``checksums``, ``pids`` and the strategy's own arrays.
    span_barrier, step_barrier
        ``threading.Barrier`` or :class:`pdsgd.engine.barrier.CyclicBarrier`
        handles: all parties around a span, the workers (and the broker, when
        it applies the update) around an iteration.
    spec : EngineSpec
    t0 : float
        ``time.perf_counter()`` at the start of the run (trace times are relative).
    check : callable, optional
        Called while waiting (a process checks that its parent is alive).
    lock : optional
        A lock shared by the pool (for a strategy that
        :attr:`~pdsgd.engine.strategies.base.Strategy.uses_lock`).
    spin : float
        Seconds a wait outside the barriers may spin before it sleeps.
    party : int
        Which party of the barriers this thread or process is.
    """

    workers: list
    block: SharedArrays
    span_barrier: object
    step_barrier: object
    spec: object
    t0: float
    check: object = None
    lock: object = None
    spin: float = 0.0
    party: int = 0

    def spans(self):
        """Yield ``(count, lr)`` for every span the broker starts; return when it says stop.

        Each span starts and ends with a crossing of the span barrier (all
        workers and the broker): the loop's body is one span's work.
        """
        wait = {} if self.check is None else {"check": self.check}
        control, lr = self.block["control"], self.block["lr"]
        # The step barrier judges lateness from when each party set off: a
        # span sets off at the span barrier's crossing, not the last step's.
        while True:
            self.span_barrier.wait(**wait)
            if control[0] == STOP:
                return
            set_off(self.step_barrier)
            yield int(control[1]), float(lr[0])
            self.span_barrier.wait(**wait)


class PoolBackend(Backend):
    """Long-lived workers around a block of shared arrays (threads and processes)."""

    shared_memory = False  # processes put the block in multiprocessing.shared_memory

    def fields(self):
        """The block's arrays: control, schedule, weights, and the strategy's own."""
        spec, m = self.spec, self.model
        n = spec.workers
        return {
            "control": ((4,), np.int64), "lr": ((1,), np.float64),
            "flags": ((4,), np.int64),
            "schedule": ((spec.span, spec.round_size), np.int64),
            "n_rows": ((spec.span,), np.int64),
            "params": (m.params.shape, m.dtype),
            "checksums": ((n,), np.int64), "pids": ((n,), np.int64),
            **self.strategy.fields(spec),
        }

    def block_bytes(self):
        return nbytes(self.fields())

    def start(self, t0):
        super().start(t0)
        self.closed = False
        self.block = SharedArrays(self.fields(), shared=self.shared_memory)
        self.leader = self.strategy.leader(self)
        self.launch()
        # An empty span: it returns once every worker is up and waiting, so that
        # starting them is not counted as training time in the first epoch.
        self.block["params"][...] = self.model.params
        self.go(0)
        self.span_wait()

    @abc.abstractmethod
    def launch(self):
        """Start the N workers (each ends up waiting at the span barrier)."""

    @abc.abstractmethod
    def span_wait(self):
        """The broker's crossing of the span barrier (N workers + broker)."""

    @abc.abstractmethod
    def step_wait(self):
        """The broker's crossing of the iteration barrier (when the broker applies the update)."""

    @abc.abstractmethod
    def shutdown(self):
        """Make sure every worker has ended; release barriers and executors."""

    @abc.abstractmethod
    def abort(self):
        """Break the barriers: every waiting worker wakes with an error and returns."""

    def run_span(self, span, lr, first):
        try:
            return self.leader.run_span(span, lr, first)
        except BaseException:
            # An error or Ctrl-C: wake every worker with an error so that none
            # is left waiting, then let the caller's close() end them.
            self.abort()
            raise

    def publish(self, span, lr):
        """Put a span's samples, the parent's weights and the rate where the workers read them."""
        block = self.block
        block["schedule"][:span.count] = span.indices
        block["n_rows"][:span.count] = span.n_rows
        block["params"][...] = self.model.params
        block["lr"][0] = lr

    def go(self, count):
        """Let the workers run ``count`` iterations: the span barrier's first crossing."""
        self.block["control"][:2] = RUN, count
        self.span_wait()
        set_off(getattr(self, "step_barrier", None))

    def check_replicas(self):
        """Raise :class:`WorkerError` unless every worker's replica has the checksum of ``params``.

        Workers that keep replicas write their checksum at a span's end, and
        worker 0 its weights into ``params``.
        """
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


def host_of(strategy, spec, workers, block, params, X, T, span_barrier, step_barrier, t0,
            **options):
    """A :class:`Host` whose ``workers`` (indices) read ``params`` through the strategy's model."""
    model = strategy.worker_model(spec, params)
    hosted = [strategy.make_worker(i, model, X, T, spec) for i in workers]
    return Host(hosted, block, span_barrier, step_barrier, spec, t0, **options)
