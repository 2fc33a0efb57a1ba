"""Tensor parallelism: split the network's units among the workers, not the data.

With ``--parallel tensor`` every worker sees *all* ``N*b`` samples of an
iteration (minibatch SGD with batch ``N*b``, as in data parallelism), but owns
only a share of each hidden layer: worker ``k`` of ``N`` owns the hidden units
``R_k = [k*h//N, (k+1)*h//N)`` of a layer of width ``h`` (:func:`owned_units`;
when ``N`` does not divide ``h`` the shares differ by one unit, when ``N > h``
some are empty). Its weights live in its own memory and never leave its core.

**One hidden layer (the seed's 784-200-10).** Worker ``k`` holds rows ``R_k`` of
``W1`` and ``b1`` and columns ``R_k`` of ``W2``. Each iteration it

1. computes its slice of the hidden layer for all samples, ``H_k = sigmoid(X W1[R_k].T + b1[R_k])``
   (one GEMM), and its *partial output* ``P_k = H_k W2[:, R_k].T`` (``N*b x 10``
   numbers), which it writes to its slot in shared memory;
2. crosses the barrier once;
3. sums the ``N`` partial outputs in worker order (and ``b2``, which worker 0
   holds), so every worker has the same output ``Y``, and the same output
   deltas ``D2``; computes its own hidden deltas ``D1_k = (D2 W2[:, R_k]) * H_k (1 - H_k)``
   and updates only what it owns (two in-place GEMMs).

The only numbers that cross between the cores are the partial outputs: ``N*b*10``
per worker per iteration, against about 1.2k per sample for data parallelism's
sufficient factors (:mod:`pdsgd.engine.traffic` counts both).

**Deeper networks** pair the layers as Megatron-LM does for a transformer's
MLP (Shoeybi et al. 2019, arXiv:1909.08053): layer ``2p`` is split by rows
(its output units, ``R_k`` of the pair's hidden layer; no crossing, since
every worker has the pair's whole input), layer ``2p + 1`` by columns (its
inputs, the same ``R_k``), which gives partial sums of the pair's output:
one crossing sums them, and every worker has the whole output, which is the
next pair's input. Backwards, the gradient with respect to a pair's input is
again a sum over its hidden units, so every pair but the first needs one more
crossing. With ``P = L // 2`` pairs among ``L`` weight layers an iteration
crosses the barrier ``2P - 1`` times (:func:`crossings`): once for one or two
hidden layers, three times for three or four. With an even number of hidden
layers the last weight layer (the output layer, the smallest) has no partner:
every worker computes it whole and applies the same update to its own copy,
which costs less than the two crossings that splitting it would add.

A bias is the weight of an input that is always 1: each private matrix carries
its biases as one more column, and each private input one more column of ones,
so one GEMM computes a layer with its bias and one updates both. A layer split
by columns has one bias for the whole sum: worker 0 owns it.

Every worker sums the partials in the same order with one BLAS thread, so the
weights are bit for bit the same on the ``serial`` backend (the workers take
turns, crossing by crossing: :mod:`pdsgd.engine.strategies.tensor`), ``threads`` and
``processes``; they equal sequential minibatch SGD with batch ``N*b`` to
rounding. With ``N = 1`` and ``b = 1`` the worker takes the batch-1 fast path
(:meth:`pdsgd.mlp.MLP.step_one`).

This module holds the layout (who owns what, what crosses, how often);
:mod:`pdsgd.engine.tensor_worker` the arithmetic of one worker.
"""

from __future__ import annotations

from dataclasses import dataclass

from pdsgd.engine.modes import Aggregation


def owned_units(width, index, workers):
    """The units ``(lo, hi)`` of a layer of ``width`` that worker ``index`` of ``workers`` owns."""
    return index * width // workers, (index + 1) * width // workers


def crossings(n_layers):
    """Barrier crossings per iteration with ``n_layers`` weight layers: ``2 (L // 2) - 1``."""
    return max(1, 2 * (n_layers // 2) - 1)


def crossing_fields(spec):
    """Where the partial sums travel: ``{name: (shape, dtype)}`` for :class:`~.shm.SharedArrays`.

    Crossing ``c`` has one array of shape ``(2, N, N*b, width)``: by iteration
    parity (a fast worker may write iteration ``t + 1``'s partials while a slow
    one still reads ``t``'s), worker, sample, unit. Forward crossings carry a
    pair's partial outputs, backward ones the partial deltas of a pair's input.
    """
    sizes, n, rows = spec.sizes, spec.workers, spec.iteration_rows
    pairs = (len(sizes) - 1) // 2
    widths = [sizes[2 * p + 2] for p in range(pairs)] + [sizes[2 * p] for p in range(1, pairs)]
    return {f"cross{c}": ((2, n, rows, w), spec.dtype) for c, w in enumerate(widths)}


@dataclass(frozen=True)
class OwnersUpdate(Aggregation):
    """Who applies the update under tensor parallelism: each worker, to the units it owns.

    No broker in the iterations, no replica of the whole model, and the
    iteration barrier has N parties; ``crossings`` depends on the depth.
    """

    n_layers: int = 2

    @property
    def crossings(self):
        """Barrier crossings per iteration (:func:`crossings`)."""
        return crossings(self.n_layers)


def hosts(workers, processes):
    """Which workers each of ``processes`` processes runs: consecutive ones, as many each as can be.

    Under tensor parallelism every worker has the same work, so with more
    workers than cores the ``processes`` backend starts one process per core
    and gives each the same number of workers (to one): ``hosts(8, 2)`` is
    ``[(0, 1, 2, 3), (4, 5, 6, 7)]``. Each process runs its workers in turns
    (:func:`pdsgd.engine.strategies.tensor.run_turns`).
    """
    return [tuple(range(p * workers // processes, (p + 1) * workers // processes))
            for p in range(processes)]
