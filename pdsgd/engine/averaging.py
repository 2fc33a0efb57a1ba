"""Algorithm 1 (ParallelSGD, after Zinkevich et al. 2010): local SGD, then average the parameters.

BSP averages N *gradients* every iteration; parameter averaging lets every
worker take K plain SGD steps on its own samples, from the parent's weights,
and only then averages the N workers' *parameters* into the parent. One
communication round per K steps instead of one per step.

The sample schedule, fixed so that every backend computes the same thing:

* a *round* takes the next ``N * K * b`` samples of the epoch's order (for the
  Broker, the Data Generator and checkpoints a round counts as one iteration);
* cut them into blocks of ``b``: worker ``i``'s ``k``-th local step uses block
  ``k * N + i``. With ``K = 1`` a round is exactly one BSP iteration;
* in an epoch's last, partial round some blocks are short or empty: a worker
  skips its empty steps, and the average weighs each worker by the samples it
  saw (equal weights in every full round).

With K = 1 the average of the workers' one-step parameters is
``w - lr / (N b) * (sum of the N*b gradients)``: BSP's step, to rounding.
"""

from __future__ import annotations

import numpy as np


def local_steps_of(indices, n_rows, index, workers, local_steps, micro_batch):
    """Worker ``index``'s local steps in one round: a list of sample-index arrays, in order.

    Parameters
    ----------
    indices : ndarray of int, shape (N*K*b,)
        The round's samples (only the first ``n_rows`` are used).
    n_rows : int
        Samples in the round (fewer in an epoch's last round).
    index, workers, local_steps, micro_batch : int
        i, N, K and b.

    Examples
    --------
    >>> import numpy as np
    >>> [s.tolist() for s in local_steps_of(np.arange(8), 8, 1, 2, 2, 2)]
    [[2, 3], [6, 7]]
    """
    steps = []
    for k in range(local_steps):
        lo = (k * workers + index) * micro_batch
        hi = min(lo + micro_batch, n_rows)
        if hi <= lo:
            break  # blocks are in order: every later one is empty too
        steps.append(indices[lo:hi])
    return steps


def samples_per_worker(n_rows, workers, local_steps, micro_batch):
    """How many of a round's ``n_rows`` samples each worker uses (array of N ints)."""
    return np.array([sum(len(s) for s in local_steps_of(np.empty(n_rows), n_rows, i, workers,
                                                          local_steps, micro_batch))
                     for i in range(workers)])


def local_sgd(model, X, T, steps, lr, micro_batch):
    """Plain SGD on ``model``, in place, one step per index array of ``steps``.

    ``b = 1`` takes the batch-1 fast path (:meth:`~pdsgd.mlp.MLP.step_one`), as
    the sequential runner does; larger micro-batches take ``sgd_step``.
    """
    for idx in steps:
        if micro_batch == 1:
            model.step_one(X[idx[0]], T[idx[0]], lr)
        else:
            model.sgd_step(X[idx], T[idx], lr)


def average_into(params, replicas, counts, scratch):
    """``params += sum_i (n_i / n) * (replicas[i] - params)``, worker 0 first.

    Parameters
    ----------
    params : ndarray
        The parent's flat parameters, updated in place.
    replicas : ndarray, shape (N, len(params))
        Each worker's parameters after its local steps.
    counts : sequence of int
        Samples each worker used this round; workers with none are left out.
    scratch : ndarray, shape (2, len(params))
        Work space (no allocation per round).

    Averaging the *changes* rather than the parameters keeps the rounding small
    (the changes are small numbers), and the fixed worker order makes the
    result bit-reproducible on every backend.
    """
    total, diff = scratch
    n = float(sum(counts))
    total[...] = 0.0
    for i, c in enumerate(counts):
        if c:
            np.subtract(replicas[i], params, out=diff)
            diff *= c / n
            total += diff
    params += total
