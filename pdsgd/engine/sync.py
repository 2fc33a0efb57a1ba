"""Beyond the barrier: stale-synchronous (SSP), asynchronous and Hogwild! SGD.

The seed's engine is bulk-synchronous (BSP): no worker starts iteration t+1
before all N finished t. ``sync`` (``--sync``) lets gradients reach the weights
without that barrier.

What a worker does (``sync="ssp"`` and ``"async"``)
---------------------------------------------------
Each worker repeatedly takes its next block of b samples, reads the current
weights, computes its gradient (sufficient factors) and sends it. The Results
Aggregator applies every gradient *as soon as it arrives*, alone, scaled by
lr/N: the update is ``-lr / (N*b)`` times the block's summed gradient (``-lr /
n`` with n the samples of the iteration, fewer in an epoch's last one), so that
the N gradients of an iteration add up to BSP's averaged step. A gradient
computed from weights that already held ``read`` updates and applied after
``applied`` updates is ``applied - read`` updates stale.

Which samples: the epoch's order is cut into blocks of b, as BSP cuts it
(block ``j`` is the ``j % N``-th block of iteration ``j // N``). Blocks are
handed out *in order, to whichever worker asks next*, under a lock: every
sample of an epoch is used once, and a fast worker simply takes more blocks.

SSP's bound (``sync="ssp", staleness=s``), after Ho et al. (2013), counts
iterations by block: a gradient of iteration t

* is computed from weights holding every update of iterations up to
  ``t - s - 1`` (a worker that far ahead of the slowest block waits for it), and
* is applied only once every block of iteration ``t - s`` has been read, so no
  weights read for iteration u hold an update of iteration ``u + s`` or later.

With s = 0 the weights read for iteration t hold exactly the updates of the
iterations before it: BSP, to rounding (its N updates are applied one by one
instead of as one sum). ``async`` drops both rules. :func:`iteration_lag` and
:func:`ssp_violations` check a run against them, update by update.

How it runs
-----------
* ``serial`` simulates it (:mod:`pdsgd.engine.strategies.schedule`, the oracle): a seeded
  schedule of who computes which block from which version of the weights, and
  in which order the gradients land. The same seed gives the same weights.
* ``threads`` and ``processes`` run it for real (:mod:`pdsgd.engine.strategies.update_log`):
  an append-only log of the arrived gradients, in arrival order, and a replica
  of the weights per worker that applies the log, in that order, before each read.
* ``sync="hogwild"`` (:mod:`pdsgd.engine.strategies.hogwild`, Recht et al. 2011): no
  aggregator and no lock on the weights; every worker writes its own update
  into the shared weights while the others read and write them.

This module holds what they share: the blocks of a span, the update records
(``TrainResult.updates``), the SSP checks, and how a worker waits.
"""

from __future__ import annotations

import functools
import os
import time
from threading import BrokenBarrierError

import numpy as np
from scipy.linalg import blas

from pdsgd.engine.shm import flat
from pdsgd.engine.trace import AGGREGATOR, TRACE_DTYPE

#: One row per applied gradient (``TrainResult.updates``).
UPDATE_DTYPE = np.dtype([
    ("worker", np.int16),     # who computed it
    ("iteration", np.int64),  # the iteration of its block (global, from 0)
    ("block", np.int16),      # which of the iteration's N blocks (BSP gives it worker `block`)
    ("read", np.int64),       # updates already in the weights it was computed from
    ("applied", np.int64),    # updates applied before it
])

_yield = getattr(os, "sched_yield", lambda: time.sleep(0))


def staleness(updates):
    """Updates applied between each gradient's read and its own application."""
    return updates["applied"] - updates["read"]


def span_blocks(n_rows, workers, micro_batch):
    """The blocks of a span, in order: their iteration (span-local), part and size.

    Iteration ``t`` of ``n_rows[t]`` samples holds blocks of ``micro_batch``
    samples, part ``p`` at columns ``[p*b, p*b + size)`` of the span's schedule
    row ``t``; the empty blocks of an epoch's last iteration are left out.
    """
    n_rows = np.asarray(n_rows)
    iteration = np.repeat(np.arange(len(n_rows)), workers)
    part = np.tile(np.arange(workers), len(n_rows))
    size = np.clip(n_rows[iteration] - part * micro_batch, 0, micro_batch)
    keep = size > 0
    return iteration[keep], part[keep], size[keep]


def take_block(spec, indices, worker, row, part, size):
    """Put block ``part`` (``size`` samples of an iteration's schedule ``row``) in worker's rows.

    Without the barrier a worker computes whichever block it is handed, in
    its own rows of ``indices`` and of the result slots (``spec.block``).
    Returns the end of those rows: the ``n_rows`` to pass to ``Worker.compute``.
    """
    lo, src = spec.block(worker)[0], spec.block(part)[0]
    indices[lo:lo + size] = row[src:src + size]
    return lo + size


def apply_block(model, slots, lo, size, scale):
    """Apply one gradient: the factor rows ``[lo, lo+size)`` of ``slots``, times ``scale``.

    The one update path of every ``sync`` mode, so that the serial oracle and
    the replicas apply the same numbers in the same way (same bits). Without
    a barrier every gradient is applied alone, so a one-sample gradient takes
    BLAS ``ger`` (a rank-1 update in place, about half the time of a GEMM with
    one row here), as the sequential fast path does.
    """
    if size > 1:
        model.apply_factors([d[lo:lo + size] for d in slots.deltas],
                            [a[lo:lo + size] for a in slots.inputs], scale)
    else:
        apply_rank_one(rank_one_terms(model, slots, lo), scale)


def rank_one_terms(model, slots, row):
    """What a one-sample update of ``model`` reads: per layer ``(W.T, bias, delta, input)``.

    Views, made once: a worker that applies thousands of gradients from the
    same slots reuses them (:func:`apply_rank_one`).
    """
    return [(w.T, b, d[row], a[row])
            for w, b, d, a in zip(model.weights, model.biases, slots.deltas, slots.inputs,
                                  strict=True)]


def apply_rank_one(terms, scale):
    """``W += scale * delta input^T`` and ``b += scale * delta`` in place, per layer (BLAS)."""
    ger, axpy = _rank_one(terms[0][0].dtype)
    for wt, b, d, a in terms:
        ger(scale, a, d, a=wt, overwrite_a=1)  # W.T is Fortran-ordered: updated in place
        if b is not None:
            axpy(d, b, a=scale)


@functools.cache
def _rank_one(dtype):
    return tuple(blas.get_blas_funcs(name, dtype=dtype) for name in ("ger", "axpy"))


def bsp_updates(n_rows, workers, micro_batch):
    """BSP's records for a span: every gradient of iteration t read and applied at update t."""
    iteration, part, _ = span_blocks(n_rows, workers, micro_batch)
    out = np.zeros(len(iteration), UPDATE_DTYPE)
    out["worker"] = out["block"] = part
    out["iteration"] = out["read"] = out["applied"] = iteration
    return out


def shift(updates, first_iteration, first_update):
    """Span-local records, numbered from the run's start."""
    out = updates.copy()
    out["iteration"] += first_iteration
    out["read"] += first_update
    out["applied"] += first_update
    return out


def updates_count(updates):
    """How many updates a span's records account for (one per iteration for BSP)."""
    return int(updates["applied"].max()) + 1 if len(updates) else 0


def _completed(updates):
    """For every version v, the iterations whose every update is in it: ``np.searchsorted`` key."""
    first = int(updates["iteration"].min())
    last = np.full(int(updates["iteration"].max()) - first + 1, -1, np.int64)
    np.maximum.at(last, updates["iteration"] - first, updates["applied"])
    # Iteration u is complete in version v once it and every earlier one are in.
    return first, np.maximum.accumulate(last + 1)


def iteration_lag(updates):
    """For each gradient of iteration t: t minus the iterations complete in the weights it read.

    0 under BSP; at most s under SSP; unbounded under async. (Records of one
    run, as ``TrainResult.updates``.)
    """
    if len(updates) == 0:
        return np.zeros(0, np.int64)
    first, ready = _completed(updates)
    complete = np.searchsorted(ready, updates["read"], side="right")
    return updates["iteration"] - first - complete


def ssp_violations(updates, bound):
    """Which gradients broke SSP's guarantee for ``staleness=bound`` (a boolean mask).

    A gradient of iteration t breaks it if the weights it read missed an
    update of an iteration before ``t - bound``, or held one of iteration
    ``t + bound`` or later.
    """
    if len(updates) == 0:
        return np.zeros(0, bool)
    first = int(updates["iteration"].min())
    n_iter = int(updates["iteration"].max()) - first + 2
    earliest = np.full(n_iter, np.iinfo(np.int64).max)  # first update of iterations >= u
    np.minimum.at(earliest, updates["iteration"] - first, updates["applied"])
    earliest = np.minimum.accumulate(earliest[::-1])[::-1]
    later = np.minimum(updates["iteration"] - first + bound, n_iter - 1)
    too_new = earliest[later] < updates["read"]
    return (iteration_lag(updates) > bound) | too_new


def beat_fields(workers):
    """The shared array of the workers' last signs of life (see :class:`Waits`)."""
    return {"sync_beat": ((workers,), np.float64)}


def histogram(values):
    """``{"staleness": [0, 1, ...], "count": [...]}``, JSON-ready, for a staleness histogram."""
    counts = np.bincount(np.asarray(values, np.int64)) if len(values) else np.zeros(1, int)
    return {"staleness": list(range(len(counts))), "count": counts.tolist()}


def trace_rows(times, blocks, done, phases, first, workers):
    """Trace rows from per-worker, per-block intervals.

    ``times[w, m, k]`` is the (start, end) of phase ``phases[k]`` of worker
    ``w``'s ``m``-th block in the span, ``blocks[w, m]`` that block's index,
    ``done[w]`` how many blocks worker ``w`` did. A worker of -1 in
    ``blocks`` marks the aggregator's rows (the serial simulation's).
    """
    rows = []
    for w in range(len(done)):
        m = int(done[w])
        if m == 0:
            continue
        t = times[w, :m]
        for k, phase in enumerate(phases):
            keep = t[:, k, 1] > 0
            part = np.zeros(int(keep.sum()), TRACE_DTYPE)
            part["worker"] = AGGREGATOR if w == workers else w
            part["iteration"] = first + blocks[w, :m][keep] // workers
            part["phase"] = phase
            part["start"], part["end"] = t[keep, k, 0], t[keep, k, 1]
            rows.append(part)
    out = np.concatenate(rows) if rows else np.zeros(0, TRACE_DTYPE)
    return out[np.argsort(out["start"], kind="stable")]


class Waits:
    """How a worker waits on what the others write: briefly spinning, then sleeping.

    Parameters
    ----------
    flags : ndarray
        The run's shared flags; ``flags[0] != 0`` means the run was stopped.
    timeout : float
        Seconds one wait may last before the run is stopped.
    spin : float
        Seconds to spin (yielding the core) before sleeping: while every
        worker has a core a wait is then a few microseconds.
    check : callable, optional
        Called while sleeping; it may raise (a process checks its parent).
    beats : ndarray, optional
        Shared ``sync_beat``: the worker's last sign of life, written by
        :meth:`beat` and while it waits, so that the broker can tell which
        worker stopped first when several processes are gone.
    index : int
        Which worker waits.
    """

    def __init__(self, flags, timeout, spin, check=None, beats=None, index=0):
        self.flags, self.timeout, self.spin, self.check = flags, timeout, spin, check
        self.beats = None if beats is None else flat(beats)
        self.index = index

    def beat(self):
        """Record that this worker is alive now (``time.perf_counter``: one clock for all)."""
        if self.beats is not None:
            self.beats[self.index] = time.perf_counter()

    def stopped(self):
        """Raise ``BrokenBarrierError`` if the run was stopped (a failure elsewhere, Ctrl-C)."""
        if self.flags[0]:
            raise BrokenBarrierError("the run was stopped")

    def until(self, ready, meanwhile=None, what="the other workers"):
        """Return once ``ready()`` is true, calling ``meanwhile()`` while waiting."""
        if ready():
            return
        clock = time.perf_counter
        start = clock()
        pause = 20e-6
        while True:
            if meanwhile is not None:
                meanwhile()
            if ready():
                return
            self.beat()
            self.stopped()
            waited = clock() - start
            if waited > self.timeout:
                self.give_up(what)
            if waited < self.spin:
                _yield()
                continue
            if self.check is not None:
                self.check()
            time.sleep(pause)
            pause = min(2 * pause, 1e-3)

    def lock(self, lock):
        """Acquire ``lock`` (a lock or semaphore), giving up if the run is stopped or late."""
        start = time.perf_counter()
        while not lock.acquire(timeout=0.01):
            self.beat()
            self.stopped()
            if self.check is not None:
                self.check()
            if time.perf_counter() - start > self.timeout:
                self.give_up("the lock")

    def late(self):
        """The other worker whose last sign of life is oldest, if older than half the timeout.

        Every worker that waits beats about every millisecond, and one that
        computes beats before each block: the one that went silent while the
        others waited for it is the one that stopped (or hangs). None when no
        other worker has been silent that long (then nobody is blamed).
        """
        if self.beats is None:
            return None
        others = [w for w in range(len(self.beats)) if w != self.index]
        if not others:
            return None
        w = min(others, key=lambda w: self.beats[w])
        return w if time.perf_counter() - self.beats[w] > self.timeout / 2 else None

    def give_up(self, what):
        """Stop the run after waiting ``timeout`` s for ``what``, naming the late worker.

        The late worker goes into ``flags[1]`` (``worker + 1``), as a barrier's
        timeout puts its late party there, so that the processes backend's
        broker names it with its pid (a worker per process); this worker then
        reports the wait itself.
        """
        late = self.late()
        if late is not None and self.flags[1] == 0:
            self.flags[1] = late + 1
        self.flags[0] = 1
        # Not a BrokenBarrierError: this worker is the one to report it.
        raise TimeoutError(f"waited {self.timeout:g} s for {what}")
