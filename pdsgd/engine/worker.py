"""The seed's Worker: forward and backward pass on its samples, then its result.

:class:`Worker` does the arithmetic and is the same object on every backend
(the serial one calls it in a loop; threads and processes call
:func:`run_worker`), which is what makes their weights bit-identical.

A worker writes its sufficient factors straight into its rows of the shared
result slots (see :mod:`pdsgd.engine.aggregator`): the forward pass stores each layer's
activations where the aggregator will read them, so nothing is copied or
pickled on the way.
"""

from __future__ import annotations

import time
import zlib

import numpy as np
from scipy.special import expit

from pdsgd.engine.trace import AGGREGATE, COMPUTE, WAIT
from pdsgd.mlp import MLP

RUN, STOP = 1, 2  # commands in control[0]


class Worker:
    """Worker ``index`` of ``N``: computes the factors of its share of an iteration.

    Parameters
    ----------
    index : int
        Which worker: it owns rows ``[index*b, (index+1)*b)`` of the slots.
    model : MLP
        The weights it reads: the shared parent (central aggregation) or its
        own replica (replicated aggregation).
    X, T : ndarray
        All training inputs and targets (shared; the worker reads its rows).
    micro_batch : int
        b, samples per worker per iteration.
    send : {"factors", "gradients"}
    delay : float, default 0
        Seconds to sleep before each computation: a *straggler*, to show how
        the barrier makes everyone wait for the slowest worker.
    workers : int, default 1
        N (needed by parameter averaging only).
    local_steps : int, optional
        K: parameter averaging (:mod:`pdsgd.engine.averaging`). Each call then copies
        ``model``'s weights into this worker's row of ``slots.replicas`` and
        runs K local SGD steps there, instead of computing factors.
    """

    def __init__(self, index, model, X, T, micro_batch=1, send="factors", delay=0.0,
                 workers=1, local_steps=None):
        self.index, self.model, self.X, self.T = index, model, X, T
        self.micro_batch, self.send, self.delay = micro_batch, send, delay
        self.workers, self.local_steps = workers, local_steps
        self._replicas = {}
        self._out = np.empty((micro_batch, model.sizes[-1]), model.dtype)
        self._grad_models = {}

    def rows(self, n_rows):
        """This worker's slot rows ``(lo, hi)`` in an iteration of ``n_rows`` samples."""
        lo = self.index * self.micro_batch
        return lo, max(lo, min(lo + self.micro_batch, n_rows))

    def compute(self, slots, indices, n_rows, lr=None):
        """Forward and backward pass on this worker's samples of one iteration.

        Parameters
        ----------
        slots : ResultSlots
            Where the factors go (this worker's rows only).
        indices : ndarray of int, shape (N*b,)
            The iteration's sample indices, worker 0's first.
        n_rows : int
            How many of ``indices`` are used (fewer in an epoch's last iteration).
        lr : float, optional
            The local steps' learning rate (parameter averaging only).

        Returns
        -------
        int
            Samples processed (0 if the last iteration left this worker none).
        """
        if self.delay:
            time.sleep(self.delay)
        if self.local_steps:
            return self._local_sgd(slots, indices, n_rows, lr)
        lo, hi = self.rows(n_rows)
        if hi == lo:
            return 0
        model, idx, n = self.model, indices[lo:hi], hi - lo
        a = slots.inputs[0][lo:hi]
        np.take(self.X, idx, axis=0, out=a)
        last = model.n_layers - 1
        for l in range(model.n_layers):
            # The activations land in the next layer's input slot: no copy later.
            z = slots.inputs[l + 1][lo:hi] if l < last else self._out[:n]
            model.layer_into(l, a, z)
            expit(z, out=z)
            a = z
        d = slots.deltas[last][lo:hi]
        np.subtract(a, self.T[idx], out=d)
        d *= a
        d *= 1.0 - a
        for l in range(last, 0, -1):
            prev, h = slots.deltas[l - 1][lo:hi], slots.inputs[l][lo:hi]
            np.matmul(slots.deltas[l][lo:hi], model.weights[l], out=prev)
            prev *= h
            prev *= 1.0 - h
        if self.send == "gradients":
            self._gradient(slots, lo, hi)
        return n

    def _local_sgd(self, slots, indices, n_rows, lr):
        """Parameter averaging: K SGD steps from the current weights, in its replica row."""
        from pdsgd.engine.averaging import local_sgd, local_steps_of

        key = id(slots)
        if key not in self._replicas:
            m = self.model
            self._replicas[key] = MLP(m.sizes, bias=m.bias, dtype=m.dtype,
                                      params=slots.replicas[self.index])
        replica = self._replicas[key]
        replica.params[...] = self.model.params
        steps = local_steps_of(indices, n_rows, self.index, self.workers, self.local_steps,
                               self.micro_batch)
        local_sgd(replica, self.X, self.T, steps, lr, self.micro_batch)
        return sum(len(s) for s in steps)

    def _gradient(self, slots, lo, hi):
        """The full summed gradient of this worker's samples, into its gradient slot."""
        g = slots.grads[self.index]
        key = id(slots)
        if key not in self._grad_models:
            m = self.model
            self._grad_models[key] = MLP(m.sizes, bias=m.bias, dtype=m.dtype, params=g)
        g[...] = 0.0
        self._grad_models[key].apply_factors([d[lo:hi] for d in slots.deltas],
                                             [a[lo:hi] for a in slots.inputs], 1.0)


def checksum(params):
    """CRC-32 of a parameter buffer's bytes: equal replicas give equal sums."""
    return zlib.crc32(memoryview(np.ascontiguousarray(params)).cast("B"))


def run_worker(worker, block, slots, span_barrier, step_barrier, aggregator, *,
               replicated, t0, trace=True, check=None, sharded=False):
    """A worker's life on the threads and processes backends: run spans until told to stop.

    Each span starts and ends with a crossing of ``span_barrier`` (all workers
    and the broker). Inside, every iteration: compute, cross ``step_barrier``;
    then either apply the summed factors to the own replica (``replicated``:
    one crossing per iteration), or wait a second time while the broker's
    aggregator updates the shared weights (``central``: the seed's design), or
    apply its share of the rows to the shared weights and wait a second time so
    that all shares are in before the next forward pass (``sharded``).

    Parameters
    ----------
    worker : Worker
    block : SharedArrays
        Holds ``control``, ``lr``, ``schedule``, ``n_rows``, ``params``,
        ``checksums`` and ``trace`` (see :mod:`pdsgd.engine.backends.base`).
    slots : list of ResultSlots
        The two parities of result slots.
    span_barrier, step_barrier
        ``threading.Barrier`` or :class:`pdsgd.engine.barrier.CyclicBarrier` handles.
    aggregator : ResultsAggregator
        Used on the replica when ``replicated``, on the shared weights when ``sharded``.
    t0 : float
        ``time.perf_counter()`` at the start of the run (trace times are relative).
    check : callable, optional
        Passed to waits at the span barrier (a process checks its parent is alive).
    sharded : bool, default False
        ``--aggregate sharded``; the step barrier then has the N workers as parties.
    """
    parts = aggregator.workers
    clock, i = time.perf_counter, worker.index
    control, lr_box, schedule = block["control"], block["lr"], block["schedule"]
    n_rows_of = block["n_rows"]
    # This worker's (span, phase, start/end) times as flat doubles: a memoryview
    # store costs a few tens of nanoseconds, a NumPy one several times more.
    times = memoryview(block["trace"][i]).cast("B").cast("d")
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
                if replicated or sharded:
                    times[j + 2 * WAIT + 1] = w - t0
                    times[j + 2 * AGGREGATE] = w - t0
                    times[j + 2 * AGGREGATE + 1] = e - t0
                else:
                    times[j + 2 * WAIT + 1] = e - t0
        if replicated:
            block["checksums"][i] = checksum(worker.model.params)
            if i == 0:
                block["params"][...] = worker.model.params
        span_barrier.wait(**span_wait)
