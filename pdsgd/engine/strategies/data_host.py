"""One thread or process of a data-parallel pool: its workers' blocks, one crossing, its update.

A pool's thread or process (a *host*, :class:`~pdsgd.engine.backends.pool.Host`)
runs one worker, or several when the ``processes`` backend hosts more workers
than it has cores (``--hosting cores``: one process per core, like goroutines
on Go's threads). Every iteration a host

1. computes worker blocks into the result slots: it takes the next block
   from the iteration's shared counter (*work stealing*: whichever host is
   free computes the next worker's block, so a host that the scheduler took
   off its core delays only the block it holds), or, without a lock, the
   blocks of the workers it hosts;
2. crosses the iteration barrier once (its parties are the hosts, and the
   broker for ``central``);
3. applies the update by the aggregation: ``replicated``, the whole update
   once to the host's one replica; ``sharded``, row shares taken from a
   second counter (the same N shares as one process per worker), then a
   second crossing; ``central``, a second crossing while the broker applies.

``sharded`` with stealing crosses no barrier inside a span: its weights are
shared, so an iteration ends when counters say that its N blocks, then its N
shares, are done (:meth:`Turns.wait`), whoever did them. A host that the
scheduler took off its core between two blocks finds the counters ahead when
it wakes and joins the current iteration; only a block or share it holds can
delay the others (the ``holding`` words say which, to name a host that never
finishes one).

A block's result depends only on the weights it read and its worker's index
(its rows of the slots), never on which host computed it, and the update
reduces the slots in worker order: the weights are bit for bit those of the
``serial`` backend and of one process per worker. The trace keeps one row per
worker: a block's compute, its wait from there to its host's crossing, and
its host's update.
"""

from __future__ import annotations

import os
import time

import numpy as np

from pdsgd.engine.barrier import BarrierTimeout, BrokenBarrierError
from pdsgd.engine.shm import checksum, flat
from pdsgd.engine.trace import AGGREGATE, COMPUTE, WAIT

_yield = getattr(os, "sched_yield", lambda: time.sleep(0))


#: Seconds a host waiting for the others' blocks yields the core before it naps.
YIELD = 0.0002
#: A nap: short, so that a host that was waiting starts on the next iteration soon.
NAP = 0.00005


def turn_fields(spec):
    """Each iteration's counters, zeroed before a span: blocks and shares taken, then done;
    what each party holds (1 + a block's worker, 0: nothing) and when it last showed life,
    to name a late one."""
    return {"turns": ((spec.span, 4), np.int64), "holding": ((spec.workers,), np.int64),
            "turn_beat": ((spec.workers,), np.float64)}


class Turns:
    """Hands out an iteration's blocks: the next index from a shared counter, under ``lock``.

    Without a lock (nothing to share the counter safely with), a host takes the
    blocks of the workers it hosts, in order. ``party`` of ``parties`` (the
    hosts; the broker is not one). ``timeout``: seconds a host waits
    for the others' blocks, or for the lock, before it stops the run and names
    the late one; ``check``: called every ``poll`` while it waits.
    """

    def __init__(self, block, lock, own, total, party=0, parties=1, timeout=None, check=None,
                 poll=0.01):
        self.lock, self.own, self.total, self.party = lock, list(own), total, party
        self.parties = parties
        self.timeout, self.check, self.poll = timeout, check, poll
        self.counters = flat(block["turns"]) if lock is not None else None
        self.flags, self.holding = flat(block["flags"]), flat(block["holding"])
        # Each party's last sign of life (perf_counter: one clock for every process),
        # stamped at each block and lock, and every nap of a wait. A party stopped
        # between two blocks, or inside the lock, holds no block; and when loky,
        # seeing one process die, ends the others at once, the one silent longest
        # is the one that died first.
        self.beats = flat(block["turn_beat"])

    def take(self, k, column):
        """The indices this host computes in iteration ``k`` (``column``: blocks 0, shares 1)."""
        if self.counters is None:
            return self.own
        return self._stolen(4 * k + column)

    def hold(self, i):
        """This party works on worker ``i``'s block or share now."""
        self.holding[self.party] = i + 1
        self.beats[self.party] = time.perf_counter()

    def finish(self, k, column):
        """One more block (``column`` 0) or share (1) of iteration ``k`` is done."""
        self.holding[self.party] = 0
        self.beats[self.party] = time.perf_counter()
        self._acquire()
        try:
            self.counters[4 * k + 2 + column] += 1
        finally:
            self.lock.release()

    def wait(self, k, column):
        """Return once every block (``column`` 0) or share (1) of iteration ``k`` is done.

        The iteration ends when its work is done, not when every host has
        arrived: a host that the scheduler took off its core holds up only
        the block it holds. The waiting host yields its core for a moment,
        then naps, so that a descheduled one can run. Raises
        ``BrokenBarrierError`` once the run is aborted, and after
        ``timeout`` seconds (aborting it).
        """
        counters, j, total = self.counters, 4 * k + 2 + column, self.total
        if counters[j] >= total:
            return
        clock, beats, party = time.perf_counter, self.beats, self.party
        start = beats[party] = clock()
        last = start
        while counters[j] < total:
            if self.flags[0]:
                raise BrokenBarrierError("the run was stopped")
            now = clock()
            if now - start < YIELD:
                _yield()
                continue
            beats[party] = now  # a nap apart: loky takes longer to end the others
            time.sleep(NAP)
            if now - last >= self.poll:
                last = now
                self._still_waiting(start, now, "the blocks of an iteration were not done")

    def _acquire(self):
        # Never block on the lock for good: a host stopped (SIGSTOP) while it
        # held it would hold up the others without a block to be named by.
        lock, clock = self.lock, time.perf_counter
        start = self.beats[self.party] = clock()
        while not lock.acquire(timeout=self.poll):
            self._still_waiting(start, clock(), "the lock on the block counters was not free")

    def _still_waiting(self, start, now, what):
        """A poll of a wait: beat, check, and stop the run once it is aborted or too long."""
        flags = self.flags
        self.beats[self.party] = now
        if flags[0]:
            raise BrokenBarrierError("the run was stopped")
        if self.check is not None:
            self.check()
        if self.timeout is not None and now - start > self.timeout:
            if flags[1] == 0:
                flags[1] = self.late() + 1
            flags[0] = 1
            raise BarrierTimeout(f"{what} within {self.timeout:g} s")

    def late(self):
        """The party that holds a block, or else the one silent longest (not this one)."""
        holding, beats = self.holding, self.beats
        others = [p for p in range(self.parties) if p != self.party]
        holders = [p for p in others if holding[p]]
        return holders[0] if holders else min(others, key=lambda p: beats[p], default=self.party)

    def _stolen(self, j):
        counters, lock, total = self.counters, self.lock, self.total
        while True:
            self._acquire()
            try:
                t = counters[j]
                counters[j] = t + 1
            finally:
                lock.release()
            if t >= total:
                return
            yield t


def run_host(strategy, host, slots):
    """The life of one host of a data-parallel pool: spans until the broker says stop.

    ``slots``: the two parities of result slots in ``host.block``.
    """
    spec, block, step = host.spec, host.block, host.step_barrier
    mode, parts, trace, t0 = strategy.aggregation(spec), spec.workers, spec.trace, host.t0
    replicated, sharded = mode.replicas, mode.sharded
    aggregator = strategy.make_aggregator(spec)
    clock = time.perf_counter
    own = [w.index for w in host.workers]
    model, first = host.workers[0].model, host.workers[0]
    lock = host.lock if strategy.steals else None
    # Every worker's block may come this host's way: one Worker object each,
    # all reading the host's one model (a Worker holds only scratch space).
    hosted = {w.index: w for w in host.workers}
    workers = [hosted.get(i) or strategy.make_worker(i, model, first.X, first.T, spec)
               for i in range(parts)] if lock is not None else hosted
    turns = Turns(block, lock, own, parts, host.party, host.span_barrier.parties - 1,
                  spec.timeout, host.check)
    # Sharded, stealing: an iteration ends when its N blocks and N shares are
    # done (the counters), whoever did them; no crossing of the barrier.
    counted = sharded and lock is not None and strategy.ends_when_done
    schedule, n_rows_of = block["schedule"], block["n_rows"]
    times = [flat(block["trace"][i]) for i in range(parts)] if trace else None
    done = []  # (worker, compute end) of this iteration's blocks
    for count, lr in host.spans():
        if replicated:
            model.params[...] = block["params"]
        for k in range(count):
            parity = k & 1 if replicated else 0
            n_rows, j = int(n_rows_of[k]), 6 * k
            done.clear()
            for i in turns.take(k, 0):
                if counted:
                    turns.hold(i)
                s = clock()
                try:
                    workers[i].compute(slots[parity], schedule[k], n_rows, lr)
                except Exception as error:
                    error.worker = i  # whose block failed, whichever host ran it
                    raise
                c = clock()
                done.append((i, c))
                if counted:
                    turns.finish(k, 0)
                if trace:
                    times[i][j + 2 * COMPUTE] = s - t0
                    times[i][j + 2 * COMPUTE + 1] = c - t0
            if counted:
                turns.wait(k, 0)
            else:
                step.wait()
            w = clock()
            if replicated:
                aggregator.apply(model, slots[parity], n_rows, lr)
                e = clock()
            elif sharded:
                for part in turns.take(k, 1):
                    if counted:
                        turns.hold(part)
                    aggregator.apply_rows(model, slots[0], n_rows, lr, part, parts)
                    if counted:
                        turns.finish(k, 1)
                e = clock()
                if counted:  # every share is in before anyone reads the weights
                    turns.wait(k, 1)
                else:
                    step.wait()
            else:
                step.wait()  # the broker's aggregator is publishing new weights
                e = clock()
            if trace:  # a few stores per block into a preallocated array
                for i, c in done:
                    row = times[i]
                    row[j + 2 * WAIT] = c - t0
                    # Sharded: the second wait shows as the gap before the next compute.
                    if mode.broker_applies:
                        row[j + 2 * WAIT + 1] = e - t0
                    else:
                        row[j + 2 * WAIT + 1] = w - t0
                        row[j + 2 * AGGREGATE] = w - t0
                        row[j + 2 * AGGREGATE + 1] = e - t0
        if replicated:
            total = checksum(model.params)
            for i in own:
                block["checksums"][i] = total
            if 0 in own:
                block["params"][...] = model.params
