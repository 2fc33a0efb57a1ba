"""The seed's Results Aggregator: N workers' results in, one parent update out.

Each iteration every worker leaves its result in its own *slot*; the
aggregator averages them and updates a model in place. Two kinds of result
(``send``):

* ``"factors"`` (default): sufficient factors, per layer the deltas and the
  layer inputs of the worker's samples. Worker ``i`` writes rows
  ``[i*b, i*b + n_i)`` of one ``(N*b, width)`` array per layer, so the rows of
  all workers, *in worker order*, are one contiguous array, and the averaged
  update of the whole iteration is a single GEMM per layer
  (:meth:`pdsgd.mlp.MLP.apply_factors`). For 784-200-10 at ``b = 1`` that is
  about 1.2k numbers per worker instead of a 159k-number gradient.
* ``"gradients"``: each worker forms its full summed gradient; the aggregator
  adds them up in worker order. Slower; there to show the difference. It
  agrees with ``"factors"`` to rounding (the sums are grouped differently).

The reduction order is fixed (worker 0 first, one GEMM, one BLAS thread), so
the result is bit for bit the same whichever backend ran the workers, and the
replicas of ``--aggregate replicated`` stay identical.

With ``--aggregate sharded`` the update is split by rows: worker ``i`` of N
applies share ``i`` of every layer's rows (:meth:`ResultsAggregator.apply_rows`)
to the shared weights, and the serial backend applies the N shares in turn, so
both give the same bits.

Slots are double-buffered (``parity`` 0 and 1, by iteration): with replicated
aggregation a fast worker may write its results for ``t + 1`` while a slower one
still reads those of ``t``.
"""

from __future__ import annotations

import numpy as np

from pdsgd.mlp import param_count

SENDS = ("factors", "gradients")


def slot_fields(sizes, workers, micro_batch, dtype, send="factors", bias=True,
                local_steps=None):
    """The result slots as ``{name: (shape, dtype)}``, for :class:`~pdsgd.engine.shm.SharedArrays`.

    With parameter averaging (``local_steps`` given) each worker's result is its
    whole parameter vector: one row of ``replicas`` per worker.
    """
    rows, fields = workers * micro_batch, {}
    for parity in (0, 1):
        if local_steps:
            fields[f"replicas{parity}"] = ((workers, param_count(sizes, bias)), dtype)
        for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            fields[f"deltas{parity}_{l}"] = ((rows, n_out), dtype)
            fields[f"inputs{parity}_{l}"] = ((rows, n_in), dtype)
        if send == "gradients":
            fields[f"grads{parity}"] = ((workers, param_count(sizes, bias)), dtype)
    return fields


class ResultSlots:
    """One parity's slots: ``deltas[l]`` and ``inputs[l]`` (rows of all workers), ``grads``."""

    def __init__(self, block, parity, n_layers):
        self.deltas = [block[f"deltas{parity}_{l}"] for l in range(n_layers)]
        self.inputs = [block[f"inputs{parity}_{l}"] for l in range(n_layers)]
        self.grads = block.arrays.get(f"grads{parity}")
        self.replicas = block.arrays.get(f"replicas{parity}")  # parameter averaging


class ResultsAggregator:
    """Averages one iteration's results and applies them to a model, in place.

    Parameters
    ----------
    send : {"factors", "gradients"}
        What the workers left in their slots.
    micro_batch : int
        b, rows per worker: worker ``i`` owns rows ``[i*b, (i+1)*b)``.
    workers : int, default 1
        N (needed by parameter averaging only).
    local_steps : int, optional
        K: average the workers' parameters after K local steps
        (:mod:`pdsgd.engine.averaging`) instead of taking one step with their gradients.
    shards : int, optional
        Apply the update in this many row blocks, one after another (``--aggregate
        sharded`` on one thread: the same arithmetic as N workers each applying one).
    """

    def __init__(self, send="factors", micro_batch=1, workers=1, local_steps=None,
                 shards=None):
        if send not in SENDS:
            raise ValueError(f"send must be one of {SENDS}, got {send!r}")
        self.send, self.micro_batch = send, micro_batch
        self.workers, self.local_steps, self.shards = workers, local_steps, shards
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
        if self.local_steps:
            self._average(model, slots, n_rows)
            return
        parts = self.shards or 1
        for part in range(parts):
            self.apply_rows(model, slots, n_rows, lr, part, parts)

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

    def _average(self, model, slots, n_rows):
        """Parameter averaging: the parent becomes the (sample-weighted) mean of the replicas."""
        from pdsgd.engine.averaging import average_into, samples_per_worker

        if self._total is None:
            self._total = np.empty((2, len(model.params)), model.dtype)
        counts = samples_per_worker(n_rows, self.workers, self.local_steps, self.micro_batch)
        average_into(model.params, slots.replicas, counts, self._total)
