"""SSP and async SGD (``--sync ssp`` / ``async``) as a strategy: an update log and replicas.

On the serial backend the oracle plays a seeded schedule
(:class:`pdsgd.engine.strategies.schedule.SyncSimulation`); on threads and processes the
workers run it for real, as follows.

The semantics are in :mod:`pdsgd.engine.sync`; this is how N workers run them
without a barrier per iteration, while keeping every gradient's version exact:

* **The log.** When a worker's gradient arrives it is appended to a shared log
  (under a lock, with the next block handed out in the same breath): its
  position *is* the order in which the Results Aggregator applies it. The
  factors stay in the worker's staging buffer (:data:`BUFFERS` per worker),
  which it reuses only once every replica has applied them.
* **The replicas.** Each worker keeps its own copy of the weights and, to
  *read* the current weights, applies every logged gradient it has not
  applied yet, in log order (the aggregator's work, done by each worker on its
  copy, as with ``--aggregate replicated``). Its copy then holds exactly the
  first ``read`` updates, whatever the others are doing, so no read is torn.
  Waiting workers keep catching up, which is what keeps the buffers free.
* **SSP's waits** read only what each worker publishes about itself: the
  iteration of the block it holds and whether it has read it.

At the end of a span every replica has applied the whole log, so all hold the
same bits (checked by CRC-32, as for ``replicated``); worker 0's becomes the
parent's. The broker takes no part in a span: it waits at the span barrier.

Hosting: every worker keeps a process (or thread) of its own, whatever
``--hosting`` says. Its replica, its staging buffers and its staleness are
its own; several workers in one process would need a replica each and would
share one clock, so a worker's staleness would count its host's turns too.
"""

from __future__ import annotations

import time

import numpy as np

from pdsgd.engine.shm import SharedArrays, checksum, flat
from pdsgd.engine.slots import ResultSlots, slot_fields
from pdsgd.engine.strategies.base import Outcome, WithoutBarrier
from pdsgd.engine.strategies.schedule import SyncSimulation
from pdsgd.engine.sync import (
    UPDATE_DTYPE,
    Waits,
    apply_block,
    apply_rank_one,
    beat_fields,
    rank_one_terms,
    span_blocks,
    take_block,
    trace_rows,
)
from pdsgd.engine.trace import AGGREGATE, COMPUTE, WAIT

#: Staging buffers per worker: how many of its gradients may wait to be applied everywhere.
BUFFERS = 16
#: The iteration a worker "holds" when it holds no block.
NONE = 2**62
LENGTH, NEXT = 0, 1  # sync_count: the log's length, the next block to hand out
PHASES = (WAIT, AGGREGATE, COMPUTE, WAIT)  # wait to read, catch up, compute, wait to land


def stage_tag(r):
    """The slot name of staging buffer ``r`` (:class:`~pdsgd.engine.slots.ResultSlots` parity)."""
    return f"stage{r}"


class UpdateLog(WithoutBarrier):
    """``sync="ssp"`` (``bounded``) and ``"async"`` (see the module docstring)."""

    aggregate = "replicated"  # the only --aggregate it runs with: each replica applies the log

    def __init__(self, name, bounded=False):
        self.name, self.bounded = name, bounded

    def fields(self, spec):
        """The shared arrays of the log, the replicas' progress and the staging buffers."""
        n, blocks = spec.workers, spec.span * spec.workers
        out = {"sync_count": ((2,), np.int64),
               "sync_log": ((blocks, 4), np.int64),      # worker, buffer, block, read
               "sync_held": ((n, 2), np.int64),          # iteration held, read yet
               "sync_applied": ((n,), np.int64),         # log entries in each replica
               "sync_used": ((n, BUFFERS), np.int64),    # log position of each buffer's gradient
               "sync_done": ((n,), np.int64),
               "sync_blocks": ((n, blocks), np.int64),
               "sync_times": ((n, blocks, len(PHASES), 2), np.float64),
               **beat_fields(n)}
        sizes = spec.sizes
        for r in range(BUFFERS):
            for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
                out[f"deltas{stage_tag(r)}_{l}"] = ((spec.iteration_rows, n_out), spec.dtype)
                out[f"inputs{stage_tag(r)}_{l}"] = ((spec.iteration_rows, n_in), spec.dtype)
        return out

    def serial(self, model, X, T, spec):
        slots = ResultSlots(SharedArrays(slot_fields(spec), shared=False), 0, model.n_layers)
        pool = [self.make_worker(i, model, X, T, spec) for i in range(spec.workers)]
        return SyncSimulation(model, pool, slots, spec)

    def reset(self, block, spec):
        block["sync_count"][:] = 0
        block["sync_held"][:] = NONE, 0
        block["sync_applied"][:] = 0
        block["sync_used"][:] = -1
        block["sync_done"][:] = 0

    def collect(self, pool, span, first):
        """Every replica holds the whole log: check they agree, and read the log's records."""
        block, spec = pool.block, pool.spec
        pool.check_replicas()
        pool.model.params[...] = block["params"]
        iterations, parts, _ = span_blocks(span.n_rows, spec.workers, spec.micro_batch)
        log = block["sync_log"][:len(iterations)]
        records = np.zeros(len(log), UPDATE_DTYPE)
        records["worker"], records["read"] = log[:, 0], log[:, 3]
        records["iteration"], records["block"] = iterations[log[:, 2]], parts[log[:, 2]]
        records["applied"] = np.arange(len(log))
        rows = None
        if spec.trace:
            rows = trace_rows(block["sync_times"], block["sync_blocks"], block["sync_done"],
                              PHASES, first, spec.workers)
        return Outcome(rows, records)

    def work(self, host):
        """A worker's life: for each span, take blocks until none is left (see the module)."""
        worker, = host.workers
        block, spec = host.block, host.spec
        for count, lr in host.spans():
            waits = Waits(block["flags"], spec.timeout, host.spin, host.check, block["sync_beat"],
                          worker.index)
            _Span(worker, block, host.lock, spec, waits, host.t0, count, lr,
                  spec.staleness if self.bounded else None).run()


class _Span:
    """One worker's share of one span of ``sync="ssp"`` or ``"async"``."""

    def __init__(self, worker, block, lock, spec, waits, t0, count, lr, bound):
        self.worker, self.block, self.lock, self.spec, self.waits = worker, block, lock, spec, waits
        self.t0, self.i, self.b, self.n = t0, worker.index, spec.micro_batch, spec.workers
        self.bound = bound  # SSP's s; None for async
        self.lr, self.n_rows = lr, block["n_rows"][:count].copy()
        self.iterations, self.parts, self.sizes = span_blocks(self.n_rows, self.n, self.b)
        self.stages = [ResultSlots(block, stage_tag(r), worker.model.n_layers)
                       for r in range(BUFFERS)]
        # A worker touches these shared words a dozen times per gradient.
        self.count, self.log, self.held, self.applied = (
            flat(block[name]) for name in ("sync_count", "sync_log", "sync_held", "sync_applied"))
        self.used = block["sync_used"][self.i]
        self.scale_of = (-self.lr / self.n_rows[self.iterations]).tolist()
        self.size_of, self.iteration_of = self.sizes.tolist(), self.iterations.tolist()
        self.indices = np.zeros(spec.iteration_rows, np.int64)
        self.lo_of = [spec.block(w)[0] for w in range(self.n)]  # each worker's first slot row
        model = worker.model
        self.rank_one = [[rank_one_terms(model, stage, lo) for lo in self.lo_of]
                         for stage in self.stages] if self.b == 1 else None

    def catch_up(self):
        """Apply every logged gradient this replica lacks, in log order."""
        i, log, applied = self.i, self.log, self.applied
        k, end = applied[i], self.count[LENGTH]
        while k < end:
            w, r, j = log[4 * k], log[4 * k + 1], log[4 * k + 2]
            if self.rank_one is not None:
                apply_rank_one(self.rank_one[r][w], self.scale_of[j])
            else:
                apply_block(self.worker.model, self.stages[r], self.lo_of[w], self.size_of[j],
                            self.scale_of[j])
            k += 1
            applied[i] = k

    def claim(self):
        """Take the next block (the caller holds the lock); -1 when none is left."""
        j, held, i = self.count[NEXT], self.held, self.i
        held[2 * i + 1] = 0  # first "not read": others must never see a new block as read
        if j == len(self.size_of):
            held[2 * i] = NONE
            return -1
        self.count[NEXT] = j + 1
        held[2 * i] = self.iteration_of[j]
        return j

    def may_read(self, t):
        """SSP: every block of the iterations before ``t - s`` has landed."""
        held = self.held
        return min(held[2 * w] for w in range(self.n)) >= t - self.bound

    def may_land(self, t):
        """SSP: every block of iteration ``t - s`` and before has been handed out and read."""
        j, oldest = self.count[NEXT], t - self.bound
        if j < len(self.size_of) and self.iteration_of[j] <= oldest:
            return False
        held = self.held
        iterations = [held[2 * w] for w in range(self.n)]  # first, then the flags: see claim()
        read = [held[2 * w + 1] for w in range(self.n)]
        return not any(it <= oldest and not rd for it, rd in zip(iterations, read, strict=True))

    def run(self):
        i, waits, clock, t0 = self.i, self.waits, time.perf_counter, self.t0
        trace, mine = self.spec.trace, 0
        times = self.block["sync_times"][i]
        self.worker.model.params[...] = self.block["params"]
        waits.lock(self.lock)
        try:
            j = self.claim()
        finally:
            self.lock.release()
        while j >= 0:
            waits.beat()
            s = clock()
            t, r = self.iteration_of[j], mine % BUFFERS
            # Reuse a buffer only once every replica has applied its last gradient.
            waits.until(lambda r=r: self.used[r] < min(self.applied), self.catch_up,
                        "the replicas to apply an earlier gradient")
            if self.bound is not None:
                waits.until(lambda t=t: self.may_read(t), self.catch_up, "the slowest worker")
            a = clock()
            self.catch_up()  # the read: this replica now holds `read` updates
            read = self.applied[i]
            self.held[2 * i + 1] = 1
            c = clock()
            size, p = self.size_of[j], self.parts[j]
            end = take_block(self.spec, self.indices, i, self.block["schedule"][t], p, size)
            self.worker.compute(self.stages[r], self.indices, end)
            e = clock()
            if self.bound is not None:
                waits.until(lambda t=t: self.may_land(t), self.catch_up,
                            "the slowest worker's read")
            waits.lock(self.lock)
            try:
                k, log = self.count[LENGTH], self.log
                log[4 * k], log[4 * k + 1], log[4 * k + 2], log[4 * k + 3] = i, r, j, read
                self.count[LENGTH] = k + 1  # after the entry: readers see it whole
                self.used[r] = k
                done = j
                j = self.claim()
            finally:
                self.lock.release()
            if trace:
                times[mine] = (s - t0, a - t0), (a - t0, c - t0), (c - t0, e - t0), \
                              (e - t0, clock() - t0)
                self.block["sync_blocks"][i, mine] = done
            mine += 1
        self.block["sync_done"][i] = mine
        # Every replica holds the whole log before worker 0 publishes its copy: a
        # worker that started late (and took no block) must still copy the
        # span's first weights, not worker 0's last.
        n_blocks = len(self.iterations)
        waits.until(lambda: min(self.applied) == n_blocks, self.catch_up,
                    "the last gradients of the span")
        self.block["checksums"][i] = checksum(self.worker.model.params)
        if i == 0:
            self.block["params"][...] = self.worker.model.params


SSP = UpdateLog("ssp", bounded=True)
ASYNC = UpdateLog("async")
