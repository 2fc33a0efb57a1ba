"""Where the workers' results travel: the result slots' layout.

Each iteration every worker leaves its result in its own rows of the *slots*:
for BSP with sufficient factors (``send="factors"``), per layer the deltas and
the layer inputs of its samples. Worker ``i`` writes rows ``[i*b, i*b + n_i)``
of one ``(N*b, width)`` array per layer, so the rows of all workers, *in worker
order*, are one contiguous array and the aggregator's update is a single GEMM
per layer. With ``send="gradients"`` each worker also has a row of ``grads``
for its whole summed gradient; with parameter averaging a row of ``replicas``
for its parameters.

Slots are double-buffered (``parity`` 0 and 1, by iteration): with replicated
aggregation a fast worker may write its results for ``t + 1`` while a slower one
still reads those of ``t``.
"""

from __future__ import annotations

from pdsgd.mlp import param_count


def slot_fields(spec):
    """The result slots of a run as ``{name: (shape, dtype)}``, for :class:`~.shm.SharedArrays`."""
    rows, fields = spec.iteration_rows, {}
    sizes, n_params = spec.sizes, param_count(spec.sizes, spec.bias)
    for parity in (0, 1):
        if spec.strategy.averages_parameters:
            fields[f"replicas{parity}"] = ((spec.workers, n_params), spec.dtype)
        for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            fields[f"deltas{parity}_{l}"] = ((rows, n_out), spec.dtype)
            fields[f"inputs{parity}_{l}"] = ((rows, n_in), spec.dtype)
        if spec.send == "gradients":
            fields[f"grads{parity}"] = ((spec.workers, n_params), spec.dtype)
    return fields


class ResultSlots:
    """One parity's slots: ``deltas[l]`` and ``inputs[l]`` (rows of all workers), ``grads``,
    ``replicas`` (the last two None unless the run uses them)."""

    def __init__(self, block, parity, n_layers):
        self.deltas = [block[f"deltas{parity}_{l}"] for l in range(n_layers)]
        self.inputs = [block[f"inputs{parity}_{l}"] for l in range(n_layers)]
        self.grads = block.arrays.get(f"grads{parity}")
        self.replicas = block.arrays.get(f"replicas{parity}")
