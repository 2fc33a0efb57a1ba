"""Long-lived workers around a block of shared arrays: what threads and processes share.

:class:`PoolBackend` keeps N workers waiting at a *span barrier*. For each span
the broker writes the sample schedule and the parent's weights into the shared
block, lets the workers go, runs the Results Aggregator itself when the
aggregation says the broker applies the update (``central``, the seed's), and
after the span copies the weights back into the parent model (checking first,
with ``replicated``, that every replica holds the very same bytes).

:func:`run_worker` is a worker's side of that protocol: spans, iterations, the
iteration barrier and the trace. The subclasses provide only how workers start
and stop and how a party crosses a barrier.

Runs without the iteration barrier (``sync`` other than ``bsp``) keep the span
barrier and hand each span to their own code (``spec.synchronization.pool``,
:mod:`pdsgd.engine.asynchronous` and :mod:`pdsgd.engine.hogwild`).
"""

from __future__ import annotations

import abc
import time
from threading import BrokenBarrierError

import numpy as np

from pdsgd.engine.backends.base import Backend, WorkerError
from pdsgd.engine.shm import SharedArrays, checksum, flat, nbytes
from pdsgd.engine.slots import ResultSlots, slot_fields
from pdsgd.engine.tensor import crossing_fields
from pdsgd.engine.tensor_run import run_tensor_host
from pdsgd.engine.trace import AGGREGATE, COMPUTE, WAIT, from_times
from pdsgd.mlp import MLP

RUN, STOP = 1, 2  # commands in control[0]


class PoolBackend(Backend):
    """Long-lived workers around a block of shared arrays (threads and processes)."""

    shared_memory = False  # processes put the block in multiprocessing.shared_memory

    def fields(self):
        """The block's arrays: control, schedule, weights, slots, trace."""
        spec, m = self.spec, self.model
        n = spec.workers
        return {
            "control": ((4,), np.int64), "lr": ((1,), np.float64),
            "flags": ((4,), np.int64),
            "schedule": ((spec.span, spec.round_size), np.int64),
            "n_rows": ((spec.span,), np.int64),
            "params": (m.params.shape, m.dtype),
            "checksums": ((n,), np.int64), "pids": ((n,), np.int64),
            # [party, iteration in span, phase, start/end]; party n is the aggregator
            "trace": ((n + 1, spec.span, 3, 2), np.float64),
            # Tensor parallelism sends partial sums instead of results.
            **(crossing_fields(spec) if spec.parallel == "tensor" else slot_fields(spec)),
            **(spec.synchronization.pool.fields(spec) if spec.synchronization.pool else {}),
        }

    def block_bytes(self):
        return nbytes(self.fields())

    def start(self, t0):
        super().start(t0)
        self.closed = False
        self.block = SharedArrays(self.fields(), shared=self.shared_memory)
        self.slots = result_slots(self.spec, self.block)
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
            return self._run_span(span, lr, first)
        except BaseException:
            # An error or Ctrl-C: wake every worker with an error so that none
            # is left waiting, then let the caller's close() end them.
            self.abort()
            raise

    def _run_span(self, span, lr, first):
        if self.spec.synchronization.pool:
            return self.spec.synchronization.pool.run_span(self, span, lr, first)
        block, count, mode = self.block, span.count, self.spec.aggregation
        block["schedule"][:count] = span.indices
        block["n_rows"][:count] = span.n_rows
        block["params"][...] = self.model.params
        block["lr"][0] = lr
        block["control"][:2] = RUN, count
        times = block["trace"]
        if self.spec.trace:
            times[:, :count] = 0.0
        self.span_wait()  # go
        if mode.broker_applies:
            self._aggregate_span(span, lr, times[self.spec.workers])
        self.span_wait()  # every worker has finished the span
        if mode.replicas:
            self._check_replicas()
        self.model.params[...] = block["params"]
        return from_times(times[:, :count], first) if self.spec.trace else None

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
            if self.spec.trace:
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


def result_slots(spec, block):
    """The two parities of result slots in ``block`` (None with tensor parallelism)."""
    if spec.parallel == "tensor":
        return None
    return [ResultSlots(block, p, len(spec.sizes) - 1) for p in (0, 1)]


def worker_model(spec, params):
    """The weights a worker reads: the shared ``params``, or a private copy with replicas."""
    if spec.aggregation.replicas:
        params = params.copy()
    return MLP(spec.sizes, bias=spec.bias, dtype=spec.dtype, params=params)


def run_worker(workers, block, slots, span_barrier, step_barrier, aggregator, spec, *, t0,
               check=None, lock=None, spin=0.0):
    """A worker's life on the threads and processes backends: run spans until told to stop.

    Each span starts and ends with a crossing of ``span_barrier`` (all workers
    and the broker). Inside, every iteration: compute, cross ``step_barrier``;
    then, by the spec's aggregation, apply the summed factors to the own
    replica (one crossing per iteration), or wait a second time while the
    broker's aggregator updates the shared weights (the seed's ``central``),
    or apply its share of the rows to the shared weights and wait a second
    time so that all shares are in before the next forward pass (``sharded``).

    Parameters
    ----------
    workers : list of Worker
        The one worker of this thread or process (several only with tensor
        parallelism on more workers than cores: :func:`pdsgd.engine.tensor.hosts`).
    block : SharedArrays
        Holds ``control``, ``lr``, ``schedule``, ``n_rows``, ``params``,
        ``checksums`` and ``trace`` (see :class:`PoolBackend`).
    slots : list of ResultSlots
        The two parities of result slots.
    span_barrier, step_barrier
        ``threading.Barrier`` or :class:`pdsgd.engine.barrier.CyclicBarrier` handles.
    aggregator : ResultsAggregator
        Used on the replica (replicated), on the shared weights (sharded).
    spec : EngineSpec
    t0 : float
        ``time.perf_counter()`` at the start of the run (trace times are relative).
    check : callable, optional
        Passed to waits at the span barrier (a process checks its parent is alive).
    lock, spin
        For a ``sync`` other than ``bsp``, which runs ``spec.synchronization.pool.work``
        instead: the lock that hands out blocks, and how long its waits spin.
    """
    if spec.parallel == "tensor":
        return run_tensor_host(workers, block, span_barrier, step_barrier, spec, t0=t0,
                               stop=STOP, check=check)
    worker, = workers
    if spec.synchronization.pool:
        return spec.synchronization.pool.work(worker, block, span_barrier, lock, spec, t0=t0,
                                              check=check, spin=spin)
    mode, parts, trace = spec.aggregation, spec.workers, spec.trace
    replicated, sharded = mode.replicas, mode.sharded
    clock, i = time.perf_counter, worker.index
    control, lr_box, schedule = block["control"], block["lr"], block["schedule"]
    n_rows_of = block["n_rows"]
    times = flat(block["trace"][i])  # this worker's (span, phase, start/end) times
    span_wait = {} if check is None else {"check": check}
    while True:
        span_barrier.wait(**span_wait)
        if control[0] == STOP:
            return
        count, lr = int(control[1]), float(lr_box[0])
        if replicated:
            worker.model.params[...] = block["params"]
        for k in range(count):
            parity = k & 1 if replicated else 0
            n_rows = int(n_rows_of[k])
            s = clock()
            worker.compute(slots[parity], schedule[k], n_rows, lr)
            c = clock()
            step_barrier.wait()
            w = clock()
            if replicated:
                aggregator.apply(worker.model, slots[parity], n_rows, lr)
                e = clock()
            elif sharded:
                aggregator.apply_rows(worker.model, slots[0], n_rows, lr, i, parts)
                e = clock()
                step_barrier.wait()  # every share is in before anyone reads the weights
            else:
                step_barrier.wait()  # the broker's aggregator is publishing new weights
                e = clock()
            if trace:  # six stores into a preallocated array: well under 1 us
                j = 6 * k
                times[j + 2 * COMPUTE] = s - t0
                times[j + 2 * COMPUTE + 1] = c - t0
                times[j + 2 * WAIT] = c - t0
                # Sharded: the second wait shows as the gap before the next compute.
                if mode.broker_applies:
                    times[j + 2 * WAIT + 1] = e - t0
                else:
                    times[j + 2 * WAIT + 1] = w - t0
                    times[j + 2 * AGGREGATE] = w - t0
                    times[j + 2 * AGGREGATE + 1] = e - t0
        if replicated:
            block["checksums"][i] = checksum(worker.model.params)
            if i == 0:
                block["params"][...] = worker.model.params
        span_barrier.wait(**span_wait)
