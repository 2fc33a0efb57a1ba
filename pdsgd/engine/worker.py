"""The seed's Worker: forward and backward pass on its samples, then its result.

A worker does the arithmetic and is the same object on every backend (the
serial one calls it in a loop; the threads and processes in their strategy's loop;
Dask in a task), which is what makes their weights bit-identical. Two workers,
one per strategy (:mod:`pdsgd.engine.strategies`):

* :class:`Worker` (BSP): writes its sufficient factors straight into its rows of
  the result slots (:mod:`pdsgd.engine.slots`): the forward pass stores each
  layer's activations where the aggregator will read them, so nothing is
  copied or pickled on the way;
* :class:`AveragingWorker` (Algorithm 1): K local SGD steps from the current
  weights, in its row of the ``replicas`` slot.
"""

from __future__ import annotations

import os
import time

import numpy as np
from scipy.special import expit

from pdsgd.engine.averaging import local_sgd, local_steps_of
from pdsgd.mlp import MLP

_yield = getattr(os, "sched_yield", lambda: time.sleep(0))


def hold(seconds):
    """Stay busy for ``seconds``, as a slower core would, yielding the core to anyone waiting.

    The straggler's ``straggler_factor``: a sleep this short overshoots by tens
    of microseconds (the kernel's timer slack), a busy wait does not. Each
    ``sched_yield`` also releases the GIL, so threads keep running.
    """
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        _yield()


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
    spec : EngineSpec
        ``micro_batch``, ``send`` and the straggler's delay: a worker made slow
        on purpose sleeps that long before each computation, and stays busy
        ``straggler_factor - 1`` times as long as each computation took, to
        show how the barrier makes everyone wait for the slowest.
    """

    def __init__(self, index, model, X, T, spec):
        self.index, self.model, self.X, self.T, self.spec = index, model, X, T, spec
        self.micro_batch, self.send, self.delay = spec.micro_batch, spec.send, spec.delay(index)
        self.slowdown = spec.slowdown(index)
        self._out = np.empty((self.micro_batch, model.sizes[-1]), model.dtype)
        self._grad_models = {}

    def rows(self, n_rows):
        """This worker's slot rows ``(lo, hi)`` in an iteration of ``n_rows`` samples."""
        return self.spec.block(self.index, n_rows)

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
            The local steps' learning rate (:class:`AveragingWorker` only).

        Returns
        -------
        int
            Samples processed (0 if the last iteration left this worker none).
        """
        if self.delay:
            time.sleep(self.delay)
        start = time.perf_counter()
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
        if self.slowdown != 1:
            hold((self.slowdown - 1) * (time.perf_counter() - start))
        return n

    def result(self, slots, n_rows):
        """What this worker sends for one iteration, as a copy (the Dask backend returns it).

        Its factor rows (deltas and inputs of every layer), or its gradient
        with ``send="gradients"``.
        """
        if self.send == "gradients":
            return slots.grads[self.index].copy()
        lo, hi = self.rows(n_rows)
        return ([d[lo:hi].copy() for d in slots.deltas], [a[lo:hi].copy() for a in slots.inputs])

    def receive(self, slots, n_rows, result):
        """Put a :meth:`result` of this worker where it would have left it in ``slots``."""
        if self.send == "gradients":
            slots.grads[self.index] = result
            return
        lo = self.rows(n_rows)[0]
        for l, (d, a) in enumerate(zip(*result, strict=True)):
            slots.deltas[l][lo:lo + len(d)] = d
            slots.inputs[l][lo:lo + len(a)] = a

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


class AveragingWorker(Worker):
    """Parameter averaging's worker: K local SGD steps from the current weights.

    Each :meth:`compute` copies ``model``'s weights into this worker's row of
    ``slots.replicas`` and runs its K local steps of the round there
    (:func:`pdsgd.engine.averaging.local_steps_of`), instead of computing factors.
    """

    def __init__(self, index, model, X, T, spec):
        super().__init__(index, model, X, T, spec)
        self.workers, self.local_steps = spec.workers, spec.local_steps
        self._replicas = {}

    def compute(self, slots, indices, n_rows, lr=None):
        """K local SGD steps on this worker's blocks of the round; returns the samples used."""
        if self.delay:
            time.sleep(self.delay)
        start = time.perf_counter()
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
        if self.slowdown != 1:
            hold((self.slowdown - 1) * (time.perf_counter() - start))
        return sum(len(s) for s in steps)

    def result(self, slots, n_rows):
        """This worker's parameters after its local steps, as a copy."""
        return slots.replicas[self.index].copy()

    def receive(self, slots, n_rows, result):
        """Put a :meth:`result` of this worker into its row of ``slots.replicas``."""
        slots.replicas[self.index] = result
