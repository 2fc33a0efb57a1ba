"""N = 1: the seed's algorithm on one core, and the reference for every backend.

With ``micro_batch = 1`` this is the seed's per-sample SGD on the batch-1 fast
path (:meth:`MLP.step_one`); with a larger batch it is plain minibatch SGD. BSP
with ``N`` workers and micro-batch ``b`` must equal this runner with batch
``N * b`` over the same sample order.
"""

from __future__ import annotations

from pdsgd.engine.blas import one_blas_thread
from pdsgd.engine.shuffle import n_iterations


class SequentialRunner:
    """Minibatch SGD over a given sample order, in this process.

    Parameters
    ----------
    model : MLP
        Updated in place.
    X, T : ndarray
        Training inputs and one-hot targets, in the model's dtype.
    micro_batch : int, default 1
        Samples per step; 1 takes the in-place BLAS fast path.
    """

    trace = None  # nothing runs in parallel, so there is no timeline to draw

    def __init__(self, model, X, T, micro_batch=1):
        self.model, self.X, self.T, self.micro_batch = model, X, T, micro_batch

    def __enter__(self):
        # One BLAS thread: at batch 1 a second thread only adds hand-offs, and a
        # BLAS thread spinning on a busy core slows every step many times over.
        self._limits = one_blas_thread()
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Give BLAS back its usual number of threads."""
        limits, self._limits = getattr(self, "_limits", None), None
        if limits is not None:
            limits.__exit__(None, None, None)

    def iterations(self, n_samples):
        """Number of steps in an epoch of ``n_samples`` samples."""
        return n_iterations(n_samples, 1, self.micro_batch)

    def run_epoch(self, order, lr, *, first_iteration=0, on_iteration=None, progress=None):
        """Train on one epoch's ``order`` of samples, starting at ``first_iteration``.

        Parameters
        ----------
        order : ndarray of int
            The epoch's sample order (:func:`pdsgd.engine.shuffle.epoch_order`).
        lr : float
            Learning rate of each step.
        first_iteration : int, default 0
            Skip the steps before this one (resuming from a checkpoint).
        on_iteration : callable, optional
            Called as ``on_iteration(t)`` after step ``t``; used for checkpoints.
        progress : tqdm-like, optional
            Its ``update(n)`` is called with the number of samples done, every
            few hundred steps so that the bar costs nothing measurable.
        """
        model, X, T, b = self.model, self.X, self.T, self.micro_batch
        total = self.iterations(len(order))
        done = 0
        for t in range(first_iteration, total):
            if b == 1:
                i = order[t]
                model.step_one(X[i], T[i], lr)
                done += 1
            else:
                idx = order[t * b:(t + 1) * b]
                model.sgd_step(X[idx], T[idx], lr)
                done += len(idx)
            if on_iteration is not None:
                on_iteration(t)
            if progress is not None and (done >= 512 or t == total - 1):
                progress.update(done)
                done = 0
