"""Running tensor-parallel workers: in turns (the serial oracle) or at the same time (a pool).

A :class:`~pdsgd.engine.tensor_worker.TensorWorker`'s iteration is a generator that
stops at each crossing, once its partial sums are written. What runs the
workers decides what happens there:

* :class:`TensorTurns` (the ``serial`` backend) advances the N workers' generators
  one after another, crossing by crossing, in the calling thread: the same
  arithmetic, in the same order, with nothing running at the same time;
* :func:`run_tensor_worker` (``threads`` and ``processes``) is one worker's
  life in a pool: the span protocol of :mod:`pdsgd.engine.backends.pool` (load
  the slices, run the span, store them back, so the parent is whole at every
  span's end), and a crossing of the iteration barrier at every stop.

**Waiting.** On ``processes`` the workers spin at the iteration barrier even when
they outnumber the cores, unlike data parallelism's: each turn of the spin
yields the core (``sched_yield``), so a waiting worker hands it to a worker
that still has work, and nobody sleeps and needs waking. On the 2-core
machine, at b = 1, that made N = 4 run at 0.9-1.0x the speed of N = 2 and
N = 8 at 0.8-0.9x, against 0.5-0.75x with workers that block (the README's
"Tensor parallelism" section has the table).

The trace keeps the three phases of data parallelism: *compute* up to the
first crossing (the forward pass of the first pair of layers), *barrier wait*
at the first crossing, *aggregate* from there to the iteration's end (the sum
of the partial outputs, the deltas and the updates of the worker's own slices;
with more than one crossing, the later waits fall inside it).
"""

from __future__ import annotations

import time

import numpy as np

from pdsgd.engine.shm import SharedArrays
from pdsgd.engine.tensor import crossing_fields, crossings
from pdsgd.engine.trace import AGGREGATE, COMPUTE, WAIT, from_times


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
        self.pool = [spec.make_worker(i, model, X, T) for i in range(spec.workers)]
        for worker in self.pool:
            worker.attach(self.block)
        self.phases = 1 if self.pool[0].fast else crossings(len(spec.sizes) - 1) + 1
        self.times = np.zeros((spec.workers + 1, spec.span, 3, 2))

    def run_span(self, span, lr, first, t0):
        """Run ``span`` (see :meth:`pdsgd.engine.backends.base.Backend.run_span`)."""
        clock, times, trace = time.perf_counter, self.times, self.spec.trace
        if trace:
            times[:, :span.count] = 0.0
        for worker in self.pool:
            worker.load()
        for k in range(span.count):
            n_rows = int(span.n_rows[k])
            steps = [w.iteration(span.indices[k], n_rows, lr, k & 1) for w in self.pool]
            for phase in range(self.phases):
                for i, step in enumerate(steps):
                    s = clock()
                    next(step, None)
                    if trace:
                        row = times[i, k, COMPUTE if phase == 0 else AGGREGATE]
                        row[0] = row[0] or s - t0  # a later phase extends the interval
                        row[1] = clock() - t0
        for worker in self.pool:
            worker.store()
        return from_times(times[:, :span.count], first) if trace else None


def run_tensor_worker(worker, block, span_barrier, step_barrier, spec, *, t0, stop, check=None):
    """A tensor-parallel worker's life on the threads and processes backends.

    The arguments are those of :func:`pdsgd.engine.backends.pool.run_worker`
    (the result slots aside: the partial sums travel through the block's
    ``cross*`` arrays), and ``stop``, the broker's command to return.
    """
    worker.attach(block)
    trace, clock, i = spec.trace, time.perf_counter, worker.index
    control, lr_box, schedule = block["control"], block["lr"], block["schedule"]
    n_rows_of = block["n_rows"]
    times = memoryview(block["trace"][i]).cast("B").cast("d")  # see run_worker
    span_wait = {} if check is None else {"check": check}
    while True:
        span_barrier.wait(**span_wait)
        if control[0] == stop:
            return
        count, lr = int(control[1]), float(lr_box[0])
        worker.load()
        for k in range(count):
            s = clock()
            c = w = None
            for _ in worker.iteration(schedule[k], int(n_rows_of[k]), lr, k & 1):
                if c is None:
                    c = clock()
                    step_barrier.wait()
                    w = clock()
                else:
                    step_barrier.wait()
            e = clock()
            if trace:
                j = 6 * k
                times[j + 2 * COMPUTE] = s - t0
                if c is None:  # no crossing (one worker): all of it is compute
                    times[j + 2 * COMPUTE + 1] = e - t0
                    continue
                times[j + 2 * COMPUTE + 1] = c - t0
                times[j + 2 * WAIT] = c - t0
                times[j + 2 * WAIT + 1] = w - t0
                times[j + 2 * AGGREGATE] = w - t0
                times[j + 2 * AGGREGATE + 1] = e - t0
        worker.store()
        span_barrier.wait(**span_wait)
