"""The seed's Results Aggregator: N workers' results in, one parent update out.

Each iteration every worker leaves its result in its own rows of the result
slots (:mod:`pdsgd.engine.slots`); the aggregator averages them and updates a
model in place. Two aggregators, one per strategy (:mod:`pdsgd.engine.strategies`):

* :class:`ResultsAggregator` (BSP, the seed's): one SGD step with the mean of the
  iteration's gradients. From sufficient factors (``send="factors"``) it is a
  single GEMM per layer (:meth:`pdsgd.mlp.MLP.apply_factors`); from whole
  gradients (``send="gradients"``) a sum in worker order. The two agree to
  rounding (the sums are grouped differently).
* :class:`AveragingAggregator` (Algorithm 1): the parent becomes the average of
  the workers' parameters after their local steps.

The reduction order is fixed (worker 0 first, one GEMM, one BLAS thread), so
the result is bit for bit the same whichever backend ran the workers, and the
replicas of ``--aggregate replicated`` stay identical.

With ``--aggregate sharded`` the update is split by rows: worker ``i`` of N
applies share ``i`` of every layer's rows (:meth:`ResultsAggregator.apply_rows`)
to the shared weights, and the serial backend applies the N shares in turn, so
both give the same bits.
"""

from __future__ import annotations

import numpy as np

from pdsgd.engine.averaging import average_into, samples_per_worker


class ResultsAggregator:
    """BSP: one SGD step on a model, in place, with the mean of the iteration's gradients.

    Parameters
    ----------
    spec : EngineSpec
        ``send`` (what the workers left in their slots), ``micro_batch`` (rows per
        worker) and, with ``--aggregate sharded``, ``workers``: :meth:`apply`
        then applies the update in N row blocks, one after another (the same
        arithmetic as N workers each applying one).
    """

    def __init__(self, spec):
        self.send, self.micro_batch = spec.send, spec.micro_batch
        self.parts = spec.workers if spec.aggregation.sharded else 1
        self._total = None

    def apply(self, model, slots, n_rows, lr):
        """One SGD step on ``model`` with the mean of the ``n_rows`` samples' gradients.

        Parameters
        ----------
        model : MLP
            Updated in place: the parent (central) or a worker's replica.
        slots : ResultSlots
        n_rows : int
            Samples seen this iteration (``N*b``, fewer in an epoch's last one).
        lr : float
        """
        for part in range(self.parts):
            self.apply_rows(model, slots, n_rows, lr, part, self.parts)

    def apply_rows(self, model, slots, n_rows, lr, part, parts):
        """Share ``part`` of ``parts`` of :meth:`apply`'s update (``--aggregate sharded``).

        Factors: rows ``[part*n_out//parts, (part+1)*n_out//parts)`` of every
        layer (:meth:`pdsgd.mlp.MLP.apply_factors` with ``part``). Gradients: the
        same share of the flat parameter vector. Shares are disjoint, so the N
        workers may apply theirs to the shared weights at the same time; one
        share of one is the whole update.
        """
        scale = -lr / n_rows
        if self.send == "factors":
            model.apply_factors([d[:n_rows] for d in slots.deltas],
                                [a[:n_rows] for a in slots.inputs], scale, part, parts)
            return
        size = len(model.params)
        lo, hi = part * size // parts, (part + 1) * size // parts
        n_busy = -(-n_rows // self.micro_batch)  # workers that had samples
        grads = slots.grads
        if self._total is None:
            self._total = np.empty_like(model.params)
        total = self._total[lo:hi]
        total[...] = grads[0, lo:hi]
        for i in range(1, n_busy):  # worker order, always: the sum is bit-reproducible
            total += grads[i, lo:hi]
        model.params[lo:hi] += scale * total


class AveragingAggregator:
    """Algorithm 1: the model becomes the (sample-weighted) mean of the workers' parameters.

    Parameters
    ----------
    spec : EngineSpec
        ``workers``, ``local_steps`` and ``micro_batch`` give each worker's
        share of a round (:func:`pdsgd.engine.averaging.samples_per_worker`).
    """

    def __init__(self, spec):
        self.spec = spec
        self._scratch = None

    def apply(self, model, slots, n_rows, lr):
        """Average the replicas in ``slots`` into ``model`` (``lr`` was used by the local steps)."""
        if self._scratch is None:
            self._scratch = np.empty((2, len(model.params)), model.dtype)
        s = self.spec
        counts = samples_per_worker(n_rows, s.workers, s.local_steps, s.micro_batch)
        average_into(model.params, slots.replicas, counts, self._scratch)
