"""The serial backend: the BSP algorithm in one process, the oracle for the others.

Each iteration the N workers compute their factors one after another, over the
parent model's own weights, and the Results Aggregator applies them: exactly the
arithmetic the parallel backends do, with nothing running at the same time.
"""

from __future__ import annotations

import time

import numpy as np

from pdsgd.engine.aggregator import ResultSlots, slot_fields
from pdsgd.engine.backends.base import Backend
from pdsgd.engine.shm import SharedArrays
from pdsgd.engine.trace import AGGREGATE, COMPUTE, from_times
from pdsgd.engine.worker import Worker


class SerialBackend(Backend):
    """N workers taking turns in the calling thread (see :class:`~.base.Backend`)."""

    name = "serial"

    def start(self, t0):
        m, n = self.model, self.workers
        self.t0 = t0
        block = SharedArrays(slot_fields(m.sizes, n, self.micro_batch, m.dtype, self.send,
                                         m.bias, self.local_steps), shared=False)
        self.slots = ResultSlots(block, 0, m.n_layers)
        self.pool = [Worker(i, m, self.X, self.T, self.micro_batch, self.send, self.delays[i],
                            **self.averaging) for i in range(n)]
        self.times = np.zeros((n + 1, self.span, 3, 2))

    def run_span(self, span, lr, first):
        clock, t0, times, slots = time.perf_counter, self.t0, self.times, self.slots
        if self.trace:
            times[:, :span.count] = 0.0
        for k in range(span.count):
            n_rows = int(span.n_rows[k])
            for worker in self.pool:
                s = clock()
                worker.compute(slots, span.indices[k], n_rows, lr)
                if self.trace:
                    times[worker.index, k, COMPUTE] = s - t0, clock() - t0
            s = clock()
            self.aggregator.apply(self.model, slots, n_rows, lr)
            if self.trace:
                times[self.workers, k, AGGREGATE] = s - t0, clock() - t0
        return from_times(times[:, :span.count], first) if self.trace else None
