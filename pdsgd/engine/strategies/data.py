"""Data-parallel BSP, the seed's: every worker takes b samples, the barrier, one averaged step.

Each iteration the N workers compute their results (sufficient factors or
gradients, ``--send``) into their rows of the result slots
(:mod:`pdsgd.engine.slots`), cross the iteration barrier, and the update is
applied by the aggregation (``--aggregate``, :mod:`pdsgd.engine.modes`):

* ``central`` (the seed's): the broker's Results Aggregator updates the shared
  weights while the workers wait a second time;
* ``replicated``: every worker applies the whole update to its own replica
  (one crossing); at a span's end the replicas must hold the same bytes;
* ``sharded``: every worker applies its share of the rows to the shared
  weights, and waits a second time so that all shares are in.

The serial oracle (:class:`SerialSpan`) computes the workers one after another
and applies the update with the same aggregator: the same bits.
:class:`LockStep` is the broker's side on a pool, shared with tensor
parallelism (:mod:`pdsgd.engine.strategies.tensor`).
"""

from __future__ import annotations

import time

import numpy as np

from pdsgd.engine.modes import AGGREGATIONS, SENDS
from pdsgd.engine.shm import SharedArrays
from pdsgd.engine.slots import ResultSlots, slot_fields
from pdsgd.engine.strategies.base import Outcome, Strategy
from pdsgd.engine.strategies.data_host import run_host, turn_fields
from pdsgd.engine.trace import AGGREGATE, COMPUTE, WAIT, from_times
from pdsgd.mlp import MLP


def trace_fields(spec):
    """The lock-step trace: ``[party, iteration in span, phase, start/end]`` (party N: broker)."""
    return {"trace": ((spec.workers + 1, spec.span, 3, 2), np.float64)}


def result_slots(spec, block):
    """The two parities of result slots in ``block``."""
    return [ResultSlots(block, p, len(spec.sizes) - 1) for p in (0, 1)]


class DataParallel(Strategy):
    """BSP data parallelism (``--algorithm bsp``); see the module docstring."""

    name = "bsp"
    option = "algorithm"
    backends = ("serial", "threads", "processes", "dask")
    aggregates = tuple(AGGREGATIONS)
    sends = SENDS
    shares_hosts = True
    uses_lock = True  # for the counters of work stealing
    #: Hosts take the next worker's block from a shared counter (work stealing).
    steals = True
    #: With ``sharded`` and stealing, an iteration ends when its blocks and
    #: shares are done, not when every host has crossed the barrier.
    ends_when_done = True

    def fields(self, spec):
        return {**trace_fields(spec), **slot_fields(spec), **turn_fields(spec)}

    def serial(self, model, X, T, spec):
        return SerialSpan(self, model, X, T, spec)

    def leader(self, pool):
        return LockStep(self, pool)

    def rounds(self, backend):
        """The broker's side on a backend that runs one round at a time (``dask``)."""
        return Rounds(self, backend)

    def round_worker(self, index, spec, X, T):
        """Worker ``index`` as such a backend keeps it in another process, between rounds."""
        return RoundWorker(self, index, spec, X, T)

    def work(self, host):
        """Every iteration: compute blocks, cross, then apply by the aggregation.

        See :func:`pdsgd.engine.strategies.data_host.run_host`: a host runs
        one worker, or several in turns (``--hosting cores``), and takes the
        next worker's block from a shared counter while it has a lock.
        """
        run_host(self, host, result_slots(host.spec, host.block))


class SerialSpan:
    """The oracle: N workers taking turns over the parent's weights, then the aggregator."""

    def __init__(self, strategy, model, X, T, spec):
        self.model, self.spec = model, spec
        self.slots = ResultSlots(SharedArrays(slot_fields(spec), shared=False), 0, model.n_layers)
        self.pool = [strategy.make_worker(i, model, X, T, spec) for i in range(spec.workers)]
        self.aggregator = strategy.make_aggregator(spec)
        self.times = np.zeros((spec.workers + 1, spec.span, 3, 2))

    def run_span(self, span, lr, first, t0):
        """Run ``span``; return its :class:`~pdsgd.engine.strategies.base.Outcome`."""
        clock, times, slots = time.perf_counter, self.times, self.slots
        trace = self.spec.trace
        if trace:
            times[:, :span.count] = 0.0
        for k in range(span.count):
            n_rows = int(span.n_rows[k])
            for worker in self.pool:
                s = clock()
                worker.compute(slots, span.indices[k], n_rows, lr)
                if trace:
                    times[worker.index, k, COMPUTE] = s - t0, clock() - t0
            s = clock()
            self.aggregator.apply(self.model, slots, n_rows, lr)
            if trace:
                times[-1, k, AGGREGATE] = s - t0, clock() - t0
        return Outcome(from_times(times[:, :span.count], first) if trace else None)


class RoundWorker:
    """Worker ``index`` in a process of its own that runs one round at a time (``dask``)."""

    def __init__(self, strategy, index, spec, X, T):
        model = MLP(spec.sizes, bias=spec.bias, dtype=spec.dtype)
        self.slots = ResultSlots(SharedArrays(slot_fields(spec), shared=False), 0, model.n_layers)
        self.worker = strategy.make_worker(index, model, X, T, spec)

    def run(self, params, X, T, indices, n_rows, lr):
        """Compute this worker's part of a round from ``params``; return its result, a copy."""
        worker = self.worker
        worker.X, worker.T = X, T  # this process's copy of the scattered data
        worker.model.params[...] = params
        worker.compute(self.slots, indices, n_rows, lr)
        return worker.result(self.slots, n_rows)


class Rounds:
    """The broker's side on a backend that runs a round at a time: gather, then aggregate.

    ``backend.round(indices, n_rows, lr)`` returns every worker's
    :meth:`RoundWorker.run` result and its compute seconds; the results go
    into the broker's slots where the workers would have left them, and the
    Results Aggregator updates the parent in worker order, as the oracle does.
    """

    def __init__(self, strategy, backend):
        spec, m = backend.spec, backend.model
        self.backend, self.model, self.spec = backend, m, spec
        self.slots = ResultSlots(SharedArrays(slot_fields(spec), shared=False), 0, m.n_layers)
        self.aggregator = strategy.make_aggregator(spec)
        # The broker's view of each worker: where its result goes in the slots.
        self.receivers = [strategy.make_worker(i, m, backend.X, backend.T, spec)
                          for i in range(spec.workers)]
        self.times = np.zeros((spec.workers + 1, spec.span, 3, 2))

    def run_span(self, span, lr, first):
        """Run ``span`` round by round: an :class:`~pdsgd.engine.strategies.base.Outcome`."""
        clock, t0, times, trace = time.perf_counter, self.backend.t0, self.times, self.spec.trace
        if trace:
            times[:, :span.count] = 0.0
        for k in range(span.count):
            n_rows = int(span.n_rows[k])
            s = clock()
            results = self.backend.round(span.indices[k], n_rows, lr)
            g = clock()
            for receiver, (result, _) in zip(self.receivers, results, strict=True):
                receiver.receive(self.slots, n_rows, result)
            self.aggregator.apply(self.model, self.slots, n_rows, lr)
            if trace:
                # A worker's clock is not ours: its compute time is placed from
                # the round's start (transfer time shows up as waiting).
                for i, (_, seconds) in enumerate(results):
                    c = min(s + seconds, g)
                    times[i, k, COMPUTE] = s - t0, c - t0
                    times[i, k, WAIT] = c - t0, g - t0
                times[self.spec.workers, k, AGGREGATE] = g - t0, clock() - t0
        return Outcome(from_times(times[:, :span.count], first) if trace else None)


class LockStep:
    """The broker's side of a lock-step span on a pool (data parallelism and tensor's).

    Publish the span, let the workers go, run the Results Aggregator between
    the iteration barrier's two crossings when the aggregation says the broker
    applies the update (``central``, the seed's), check the replicas, and copy
    the weights back into the parent.
    """

    def __init__(self, strategy, pool):
        self.pool, spec = pool, pool.spec
        self.mode = strategy.aggregation(spec)
        if self.mode.broker_applies:
            m = pool.model
            self.slots = result_slots(spec, pool.block)[0]
            self.shared_model = MLP(m.sizes, bias=m.bias, dtype=m.dtype,
                                    params=pool.block["params"])
            self.aggregator = strategy.make_aggregator(spec)

    def run_span(self, span, lr, first):
        """Run ``span`` on the pool; return its :class:`~pdsgd.engine.strategies.base.Outcome`."""
        pool, count, trace = self.pool, span.count, self.pool.spec.trace
        times = pool.block["trace"]
        if trace:
            times[:, :count] = 0.0
        pool.publish(span, lr)
        if "turns" in pool.block.arrays:  # work stealing's counters: every block is free
            pool.block["turns"][:count] = 0
        pool.go(count)
        if self.mode.broker_applies:
            self._aggregate_span(span, lr, times[pool.spec.workers])
        pool.span_wait()  # every worker has finished the span
        if self.mode.replicas:
            pool.check_replicas()
        pool.model.params[...] = pool.block["params"]
        return Outcome(from_times(times[:, :count], first) if trace else None)

    def _aggregate_span(self, span, lr, rows):
        # The seed's Results Aggregator: wait for all results, update the shared
        # weights, and let the workers go on only once the weights are published.
        pool, clock = self.pool, time.perf_counter
        t0 = pool.t0
        for k in range(span.count):
            pool.step_wait()
            s = clock()
            self.aggregator.apply(self.shared_model, self.slots, int(span.n_rows[k]), lr)
            e = clock()
            pool.step_wait()
            if pool.spec.trace:
                rows[k, 2] = s - t0, e - t0


BSP = DataParallel()
