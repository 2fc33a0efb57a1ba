"""Which samples go where: the seed's ``Broker.ShuffleSlice``, made reproducible.

Every epoch visits the training samples in a fresh random order, drawn from
``(seed, epoch)`` alone so that a resumed run sees exactly the order an
uninterrupted one would. Iteration ``t`` of BSP with ``N`` workers and
micro-batch ``b`` takes the next ``N * b`` samples of that order, and worker
``i`` gets the ``i``-th block of ``b`` of them: a random assignment of samples
to workers, fixed by the seed.
"""

from __future__ import annotations

import numpy as np


def epoch_order(n_samples, seed, epoch):
    """The order in which epoch ``epoch`` visits ``n_samples`` samples."""
    return np.random.default_rng([seed, epoch]).permutation(n_samples)


def n_iterations(n_samples, workers, micro_batch):
    """Number of BSP iterations in one epoch (the last one may be partial)."""
    step = workers * micro_batch
    return -(-n_samples // step)


def assignment(order, iteration, workers, micro_batch):
    """The sample indices of each worker in one iteration.

    Returns
    -------
    list of ndarray
        ``workers`` index arrays. In the last, partial iteration some are
        shorter than ``micro_batch`` or empty; the parent step then averages
        over the samples actually seen, as minibatch SGD does with its last batch.
    """
    step = workers * micro_batch
    chunk = order[iteration * step:(iteration + 1) * step]
    return [chunk[i * micro_batch:(i + 1) * micro_batch] for i in range(workers)]
