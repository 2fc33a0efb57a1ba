"""The serial oracle of SSP and async SGD: a seeded schedule, then its arithmetic.

A *schedule* says, for every gradient of a span in the order the gradients
land: which worker computed it, which block it was, and how many updates the
weights it read held. Given a schedule, the weights are fixed: this module
computes them, one worker at a time in one thread (:class:`SyncSimulation`,
what ``backend="serial"`` runs for ``sync="ssp"`` and ``"async"``).

Where the schedule comes from:

* :func:`simulate` plays N workers on a simulated clock: worker ``i``'s k-th
  block takes a random time (mean 1, drawn from a gamma distribution with
  shape :data:`SHAPE`), times ``straggler_factor`` for the straggler; blocks are
  handed out in order; SSP's two waits are honoured (:mod:`pdsgd.engine.sync`).
  The random numbers are seeded by the window's samples and position, which
  the run's seed fixes: the same seed gives the same schedule and the same
  weights. A window is ``spec.span`` iterations from the epoch's start, whatever
  else cuts the spans (checkpoints): see :class:`SyncSimulation`.
* :class:`Replay` takes the records of another run (``TrainResult.updates`` of a
  threads or processes run) and replays them: the weights then equal that
  run's, which is how the tests hold the parallel backends to the oracle.
"""

from __future__ import annotations

import time

import numpy as np

from pdsgd.engine.data_generator import make_span, window
from pdsgd.engine.strategies.base import Outcome
from pdsgd.engine.sync import UPDATE_DTYPE, apply_block, span_blocks, take_block, trace_rows
from pdsgd.engine.trace import AGGREGATE, COMPUTE
from pdsgd.errors import PdsgdError

#: Shape of the gamma distribution of simulated compute times (mean 1, spread 1/sqrt(SHAPE)).
SHAPE = 8.0
CLAIM, READ, APPEND, DONE = range(4)


def simulate(iterations, workers, bound, durations):
    """The order in which a span's gradients land, on a simulated clock.

    Parameters
    ----------
    iterations : ndarray of int
        Each block's iteration, blocks in order (:func:`~pdsgd.engine.sync.span_blocks`).
    workers : int
    bound : int or None
        SSP's staleness bound; None for async.
    durations : ndarray, shape (workers, len(iterations))
        ``durations[i, k]``: how long worker ``i`` computes its k-th block.

    Returns
    -------
    ndarray of int, shape (n_blocks, 3)
        Rows ``(worker, block, read)`` in landing order.
    """
    n = len(iterations)
    held = [-1] * workers      # block held (claimed, not yet landed), -1: none
    has_read = [False] * workers
    phase, ready, done = [CLAIM] * workers, [0.0] * workers, [0] * workers
    reads = [0] * workers
    entries, next_block, now = [], 0, 0.0

    def enabled(i):
        if phase[i] == CLAIM or bound is None:
            return True
        t = iterations[held[i]]
        others = [w for w in range(workers) if w != i and held[w] >= 0]
        if phase[i] == READ:  # every block of iterations before t - bound has landed
            return all(iterations[held[w]] >= t - bound for w in others)
        # APPEND: every block of iteration t - bound and before handed out and read
        if next_block < n and iterations[next_block] <= t - bound:
            return False
        return all(has_read[w] or iterations[held[w]] > t - bound for w in others)

    while len(entries) < n:
        choices = [(max(ready[i], now), i) for i in range(workers)
                   if phase[i] != DONE and enabled(i)]
        if not choices:
            raise PdsgdError("the simulated schedule is stuck: a bug in "
                             "pdsgd.engine.strategies.schedule")
        now, i = min(choices)
        if phase[i] == CLAIM:
            if next_block == n:
                phase[i] = DONE
                continue
            held[i], has_read[i], phase[i] = next_block, False, READ
            next_block += 1
        elif phase[i] == READ:
            reads[i], has_read[i], phase[i] = len(entries), True, APPEND
            ready[i] = now + durations[i, done[i]]
            done[i] += 1
        else:
            entries.append((i, held[i], reads[i]))
            held[i], has_read[i], phase[i] = -1, False, CLAIM
    return np.array(entries, np.int64).reshape(-1, 3)


class Replay:
    """A schedule source that replays recorded updates (``TrainResult.updates``).

    The replaying run must cut its spans where the recorded one did (same
    ``span`` and ``checkpoint_every``, same number of workers and micro-batch):
    the recorded run landed every gradient at each of its spans' ends, which
    the window's replay then does too.
    """

    def __init__(self, updates):
        self.updates = np.sort(updates, order="applied")

    def __call__(self, span, first_iteration, first_update, spec):
        mine = self.updates[(self.updates["iteration"] >= first_iteration)
                            & (self.updates["iteration"] < first_iteration + span.count)]
        block = (mine["iteration"] - first_iteration) * spec.workers + mine["block"]
        return np.stack([mine["worker"], block, mine["read"] - first_update], axis=1)


def simulated(span, first_iteration, first_update, spec):
    """The default schedule source: :func:`simulate`, seeded by the span (a window)."""
    iterations = span_blocks(span.n_rows, spec.workers, spec.micro_batch)[0]
    rng = np.random.default_rng([*np.abs(span.indices[0]).tolist(), span.first, span.count])
    durations = rng.gamma(SHAPE, 1.0 / SHAPE, size=(spec.workers, len(iterations)))
    durations *= np.array([spec.slowdown(i) for i in range(spec.workers)])[:, None]
    bound = spec.staleness if spec.strategy.bounded else None
    return simulate(iterations, spec.workers, bound, durations)


class SyncSimulation:
    """SSP and async on the serial backend: a schedule's arithmetic on the parent model.

    The schedule is played over *windows* of ``spec.span`` iterations from the
    epoch's start (:func:`~pdsgd.engine.data_generator.window`), whatever
    else cuts the spans (checkpoints, a resumed run): a span runs the
    window's landings up to the last one of its own iterations, and the
    gradients read but not yet landed stay in their workers' slots for the
    next span. Where spans are cut therefore changes nothing, and
    :meth:`state` is what a checkpoint must hold so that a resumed run goes
    on bit for bit.

    Parameters
    ----------
    model : MLP
        The parent, updated in place; its version is the number of updates in it.
    pool : list of Worker
        The N workers, reading ``model``.
    slots : ResultSlots
        Worker ``i`` leaves its block's factors in rows ``[i*b, i*b+size)``; it
        holds at most one block whose gradient has not landed.
    spec : EngineSpec
    schedule : callable, optional
        ``schedule(span, first_iteration, first_update, spec)`` returns the
        rows ``(worker, block, read)``; default :func:`simulated`.
    """

    def __init__(self, model, pool, slots, spec, schedule=simulated):
        self.model, self.pool, self.slots, self.spec = model, pool, slots, spec
        self.schedule = schedule
        self.version = 0  # updates applied since the run started
        self.plan = None  # the window being played (_Window)
        self.resumed = None  # (window's first iteration, version, landed) of a checkpoint

    def run_span(self, span, lr, first, t0):
        """Run a span as the schedule says: an :class:`~pdsgd.engine.strategies.base.Outcome`."""
        spec, n = self.spec, self.spec.workers
        plan = self._window(span, first)
        # The landings up to the last one of the span's iterations (all, at the window's end).
        stop = plan.stop(span.first + span.count - plan.span.first)
        entries, iterations, parts, sizes = plan.entries, plan.iterations, plan.parts, plan.sizes
        by_read, rows = plan.by_read, plan.span.indices
        indices = np.zeros(spec.iteration_rows, np.int64)
        clock, begin = time.perf_counter, plan.done
        count = stop - begin
        times = np.zeros((n + 1, max(count, 1) + n, 2, 2))
        blocks = np.zeros((n + 1, max(count, 1) + n), np.int64)
        done = np.zeros(n + 1, np.int64)
        for k in range(begin, stop):
            # Which gradients are computed from version k: each before update k lands.
            while plan.ptr < len(entries) and entries[by_read[plan.ptr], 2] == k:
                rw, rj = entries[by_read[plan.ptr], :2]
                t, p, size = iterations[rj], parts[rj], sizes[rj]
                end = take_block(spec, indices, rw, rows[t], p, size)
                s = clock()
                self.pool[rw].compute(self.slots, indices, end)
                times[rw, done[rw], 0] = s - t0, clock() - t0
                blocks[rw, done[rw]] = rj
                done[rw] += 1
                plan.ptr += 1
            w, j, _ = entries[k]
            s = clock()
            apply_block(self.model, self.slots, spec.block(w)[0], sizes[j],
                        -lr / plan.span.n_rows[iterations[j]])
            times[n, k - begin, 1] = s - t0, clock() - t0
            blocks[n, k - begin] = j
        done[n] = count
        mine = entries[begin:stop]
        records = np.zeros(count, UPDATE_DTYPE)
        records["worker"] = mine[:, 0]
        records["read"] = mine[:, 2] + plan.version - self.version
        records["iteration"] = iterations[mine[:, 1]] + plan.span.first - span.first
        records["block"] = parts[mine[:, 1]]
        records["applied"] = np.arange(count)
        self.version += count
        plan.done = stop
        if span.first + span.count == plan.span.first + plan.span.count:
            self.plan = None  # the window's end: every block has landed
        trace = None
        if spec.trace:
            # Blocks numbered from the span's first iteration, as trace_rows counts them.
            shifted = blocks + (plan.span.first - span.first) * n
            trace = trace_rows(times, shifted, done, (COMPUTE, AGGREGATE), first, n)
        return Outcome(trace, records)

    def _window(self, span, first):
        """The window that ``span`` (global iteration ``first``) belongs to, begun if new."""
        plan = self.plan  # a window not played to its end is in this epoch
        if plan is not None and 0 <= span.first - plan.span.first < plan.span.count:
            return plan
        whole = window(span, self.spec.span)
        version, done = self.version, 0
        if self.resumed is not None and self.resumed[0] == whole.first:
            _, version, done = self.resumed  # a checkpoint's window: go on where it was
            if done > whole.count * self.spec.workers:
                raise PdsgdError("cannot resume: the checkpoint's SSP/async simulation state "
                                 "is past its window; resume from another checkpoint")
        elif whole.first != span.first:
            # Mid-window without the window's state (a checkpoint that did not
            # keep it): play the rest of the window from here.
            whole = make_span(span.order, span.indices.shape[1], span.first,
                              whole.first + whole.count)
        self.resumed = None
        start = first - (span.first - whole.first)
        entries = self.schedule(whole, start, version, self.spec)
        self.plan = _Window(whole, start, version, entries, self.spec, done)
        return self.plan

    def state(self):
        """The window in play, as arrays for a checkpoint (empty between windows).

        ``sync_position``: the window's first iteration (epoch-local), the
        version it began at, how many of its updates landed and the windows'
        length (``spec.span``); ``sync_deltas_l`` and
        ``sync_inputs_l``: the slots, which hold the gradients read but not landed.
        """
        plan = self.plan
        if plan is None:
            return {}
        out = {"sync_position": np.array([plan.span.first, plan.version, plan.done,
                                          self.spec.span], np.int64)}
        for l, (d, a) in enumerate(zip(self.slots.deltas, self.slots.inputs, strict=True)):
            out[f"sync_deltas_{l}"], out[f"sync_inputs_{l}"] = d.copy(), a.copy()
        return out

    def restore(self, state):
        """Go on from :meth:`state` (a checkpoint's; nothing to do when empty)."""
        if "sync_position" not in state:
            return
        position = np.asarray(state["sync_position"])
        slots = [(f"sync_{kind}_{l}", array) for kind in ("deltas", "inputs")
                 for l, array in enumerate(getattr(self.slots, kind))]
        if position.shape != (4,) or np.any(position < 0) \
                or any(np.shape(state.get(name)) != array.shape for name, array in slots):
            raise PdsgdError("cannot resume: the checkpoint's SSP/async simulation state is "
                             "damaged or from another run; resume from another checkpoint")
        start, version, done, length = (int(v) for v in position)
        if length != self.spec.span:
            raise PdsgdError(f"cannot resume: the checkpoint's SSP/async schedule was cut into "
                             f"spans of {length} iterations, this run's of {self.spec.span}; "
                             f"resume with span={length}")
        for name, array in slots:
            array[...] = state[name]
        self.version = version + done
        self.resumed = start, version, done


class _Window:
    """A window's schedule and how far it has been played (see :class:`SyncSimulation`)."""

    def __init__(self, span, first, version, entries, spec, done=0):
        self.span, self.first, self.version, self.entries = span, first, version, entries
        self.iterations, self.parts, self.sizes = span_blocks(span.n_rows, spec.workers,
                                                              spec.micro_batch)
        _check(entries, len(self.iterations), spec.workers)
        self.by_read = np.argsort(entries[:, 2], kind="stable")
        self.done = done  # updates landed
        # The gradients read before update `done` landed were computed already.
        self.ptr = int(np.searchsorted(entries[self.by_read, 2], done))
        # Where the last block of iteration t (and of every one before it) lands.
        last = np.zeros(span.count, np.int64)
        np.maximum.at(last, self.iterations[entries[:, 1]], np.arange(len(entries)))
        self.last = np.maximum.accumulate(last)

    def stop(self, end):
        """How many landings it takes for every block of the first ``end`` iterations to land."""
        return int(self.last[end - 1]) + 1


def _check(entries, n_blocks, workers):
    """A schedule must land every block once, each read before it lands, one block per worker."""
    ok = (len(entries) == n_blocks
          and np.array_equal(np.sort(entries[:, 1]), np.arange(n_blocks))
          and np.all(entries[:, 2] <= np.arange(n_blocks)))
    if ok:
        last = np.full(workers, -1)
        for k, (w, _, read) in enumerate(entries):
            ok = ok and 0 <= w < workers and read > last[w]
            last[w] = k
    if not ok:
        raise PdsgdError("this schedule cannot be run: every block must land once, after "
                         "it was read, and a worker reads only once its last gradient landed")
