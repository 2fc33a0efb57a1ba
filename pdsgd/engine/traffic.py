"""How many numbers cross between the workers per iteration, for each way to split the work.

What one worker writes into shared memory for others to read is what would
travel over a network between machines, and what travels between the cores'
caches on one: the part of the work that does not shrink as N grows. Counted
per iteration (per round with parameter averaging), each number once however
many workers read it, for a network of layer ``sizes``, N workers and
micro-batch b:

========================= ===================================================
data, ``send="factors"``   every worker its samples' sufficient factors: per
                           layer the deltas and the layer inputs,
                           ``N*b*sum(n_in + n_out)`` numbers
data, ``send="gradients"`` every worker its whole gradient, ``N*|params|``
data, averaging            every worker its parameters, ``N*|params|``
 + ``central``             the broker publishes the new weights, ``|params|``
 + ``sharded``             every worker publishes its rows, ``|params|`` in all
tensor                     every worker, at each crossing, its partial sums for
                           all ``N*b`` samples: a pair of layers' outputs
                           forward, a pair's input deltas backward
========================= ===================================================

With ``replicated`` aggregation nothing more crosses: each worker applies the
same update to its own copy. For the seed's 784-200-10 at b = 1 and N = 2 that
is 2,388 numbers per iteration for data parallelism (factors) and 40 for tensor
parallelism (two workers' partial outputs for two samples and ten classes).
The training data are not counted: every worker reads them where they lie.
"""

from __future__ import annotations

from dataclasses import dataclass

from pdsgd.engine.modes import AGGREGATIONS
from pdsgd.engine.strategies import TENSOR
from pdsgd.engine.tensor import crossings
from pdsgd.mlp import param_count


@dataclass(frozen=True)
class Traffic:
    """What crosses between the workers in one iteration (one round with averaging).

    Attributes
    ----------
    numbers : int
        Numbers written by one party and read by another, each counted once.
    crossings : int
        Barrier crossings per iteration.
    what : str
        What the numbers are, in words.
    """

    numbers: int
    crossings: int
    what: str

    def bytes(self, itemsize=8):
        """The same in bytes (8 per float64 number, 4 per float32)."""
        return self.numbers * itemsize


def numbers_per_iteration(sizes, workers, micro_batch=1, *, parallel="data",
                          aggregate="replicated", send="factors", algorithm="bsp", bias=True):
    """What crosses between the workers per iteration of a run (see the module's table).

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input first.
    workers, micro_batch : int
        N and b.
    parallel : str
        ``data`` or ``tensor`` (:data:`pdsgd.engine.strategies.TENSOR`).
    aggregate : {"central", "replicated", "sharded"}
        Data parallelism only.
    send : {"factors", "gradients"}
        Data parallelism with ``algorithm="bsp"`` only.
    algorithm : {"bsp", "average"}
    bias : bool

    Returns
    -------
    Traffic

    Examples
    --------
    >>> numbers_per_iteration((784, 200, 10), 2).numbers
    2388
    >>> from pdsgd.engine.strategies import TENSOR
    >>> numbers_per_iteration((784, 200, 10), 2, parallel=TENSOR).numbers
    40
    """
    sizes, n, b = tuple(sizes), workers, micro_batch
    if parallel == TENSOR:
        rows, pairs = n * b, (len(sizes) - 1) // 2
        forward = sum(sizes[2 * p + 2] for p in range(pairs))
        backward = sum(sizes[2 * p] for p in range(1, pairs))
        return Traffic(n * rows * (forward + backward), crossings(len(sizes) - 1),
                       "partial sums: each pair of layers' outputs forward"
                       + (", its input deltas backward" if backward else ""))
    params = param_count(sizes, bias)
    if algorithm == "average":
        numbers, what = n * params, "parameters"
    elif send == "gradients":
        numbers, what = n * params, "gradients"
    else:
        numbers, what = n * b * sum(sizes[:-1]) + n * b * sum(sizes[1:]), "sufficient factors"
    if aggregate == "central":
        numbers, what = numbers + params, what + " up, new weights down"
    elif aggregate == "sharded":
        numbers, what = numbers + params, what + ", then each worker's rows of the weights"
    return Traffic(numbers, AGGREGATIONS[aggregate].crossings, what)


def traffic(spec):
    """:func:`numbers_per_iteration` of a resolved :class:`~pdsgd.spec.EngineSpec` (with sizes)."""
    return numbers_per_iteration(spec.sizes, spec.workers, spec.micro_batch,
                                 parallel=spec.parallel, aggregate=spec.aggregate,
                                 send=spec.send, algorithm=spec.algorithm, bias=spec.bias)
