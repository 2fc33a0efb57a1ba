"""The serial backend: the engine's algorithm in one process, the oracle for the others.

Each iteration the N workers compute their results one after another, over the
parent model's own weights, and the Results Aggregator applies them: exactly the
arithmetic the parallel backends do, with nothing running at the same time.
With ``sync="ssp"`` or ``"async"`` it plays a seeded schedule instead
(:class:`pdsgd.engine.schedule.SyncSimulation`).
With tensor parallelism the workers take turns at every crossing instead
(:class:`~pdsgd.engine.tensor_run.TensorTurns`).
"""

from __future__ import annotations

import time

import numpy as np

from pdsgd.engine.backends.base import Backend
from pdsgd.engine.schedule import SyncSimulation
from pdsgd.engine.shm import SharedArrays
from pdsgd.engine.slots import ResultSlots, slot_fields
from pdsgd.engine.tensor_run import TensorTurns
from pdsgd.engine.trace import AGGREGATE, COMPUTE, from_times


class SerialBackend(Backend):
    """N workers taking turns in the calling thread (see :class:`~.base.Backend`)."""

    name = "serial"
    parallel = False

    def start(self, t0):
        super().start(t0)
        spec, m = self.spec, self.model
        if spec.parallel == "tensor":
            self.tensor = TensorTurns(m, self.X, self.T, spec)
            return
        self.slots = ResultSlots(SharedArrays(slot_fields(spec), shared=False), 0, m.n_layers)
        self.pool = [spec.make_worker(i, m, self.X, self.T) for i in range(spec.workers)]
        self.times = np.zeros((spec.workers + 1, spec.span, 3, 2))
        self.sync = None if spec.sync == "bsp" else SyncSimulation(m, self.pool, self.slots, spec)

    def run_span(self, span, lr, first):
        if self.spec.parallel == "tensor":
            return self.tensor.run_span(span, lr, first, self.t0)
        if self.sync is not None:
            rows = self.sync.run_span(span, lr, first, self.t0)
            self.span_updates = self.sync.span_updates
            return rows
        clock, t0, times, slots = time.perf_counter, self.t0, self.times, self.slots
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
        return from_times(times[:, :span.count], first) if trace else None

    def close(self):
        """Nothing runs outside the calling thread: nothing to stop."""
