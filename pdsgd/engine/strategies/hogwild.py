"""Hogwild! (Recht et al. 2011): every worker writes its own update into the shared weights.

No Results Aggregator, no log, no replica, no lock on the weights: each worker
takes its next block (blocks are handed out in order under a lock, as for
async, so every sample of an epoch is used once), runs its forward and
backward pass straight on the shared weights while the others write them, and
applies its own update, scaled by lr/N as in :mod:`pdsgd.engine.sync`, into the
shared weights with BLAS, in place. Updates from two workers can interleave
inside one matrix, and a forward pass can read a layer half updated.

Every worker keeps a process (or thread) of its own, whatever ``--hosting``
says: Hogwild!'s point is workers writing the weights at the same time.

What that gives up, on purpose:

* **reproducibility**: the weights depend on the timing of every run, and two
  runs with the same seed differ;
* **the oracle**: there is no schedule to replay, so nothing equals the serial
  backend or minibatch SGD to 1e-12;
* **exact staleness**: each worker counts the updates it finished, and a
  gradient's ``read`` and ``applied`` are those counts' sum when it read the
  weights and when it began its own update, so updates half written at that
  moment are not counted.

What still holds (``tests/test_engine_sync_hogwild.py``): it trains (accuracy
within 2 points of BSP after the same samples on mnist-5k), it runs to the end
without a crash, and it stops cleanly when interrupted or when a worker dies.
"""

from __future__ import annotations

import time

import numpy as np

from pdsgd.engine.slots import ResultSlots, slot_fields
from pdsgd.engine.strategies.base import Outcome, WithoutBarrier
from pdsgd.engine.sync import (
    UPDATE_DTYPE,
    Waits,
    apply_block,
    beat_fields,
    span_blocks,
    take_block,
    trace_rows,
)
from pdsgd.engine.trace import COMPUTE, WAIT

PHASES = (WAIT, COMPUTE)  # wait for a block (the lock), compute and update


class Hogwild(WithoutBarrier):
    """``sync="hogwild"`` (see the module docstring)."""

    name = "hogwild"
    # Shared memory is the point: there is nothing to simulate on one thread.
    backends = ("threads", "processes")

    def fields(self, spec):
        """The shared arrays a run needs: the next block, the records, the slots it computes in."""
        n, blocks = spec.workers, spec.span * spec.workers
        return {"sync_next": ((1,), np.int64),
                "sync_finished": ((n,), np.int64),                # updates each worker finished
                "sync_records": ((n, blocks, 3), np.int64),       # block, read, applied
                "sync_done": ((n,), np.int64),
                "sync_times": ((n, blocks, len(PHASES), 2), np.float64),
                **slot_fields(spec), **beat_fields(n)}

    def reset(self, block, spec):
        block["sync_next"][0] = 0
        block["sync_finished"][:] = 0
        block["sync_done"][:] = 0

    def collect(self, pool, span, first):
        block, spec = pool.block, pool.spec
        pool.model.params[...] = block["params"]
        iterations, parts, _ = span_blocks(span.n_rows, spec.workers, spec.micro_batch)
        done = block["sync_done"]
        rows = [block["sync_records"][w, :done[w]] for w in range(spec.workers)]
        records = np.zeros(int(done.sum()), UPDATE_DTYPE)
        records["worker"] = np.repeat(np.arange(spec.workers), done)
        mine = np.concatenate(rows) if rows else np.zeros((0, 3), np.int64)
        records["iteration"], records["block"] = iterations[mine[:, 0]], parts[mine[:, 0]]
        records["read"], records["applied"] = mine[:, 1], mine[:, 2]
        trace = None
        if spec.trace:
            trace = trace_rows(block["sync_times"], block["sync_records"][..., 0], done, PHASES,
                               first, spec.workers)
        return Outcome(trace, np.sort(records, order=["applied", "worker"]))

    def work(self, host):
        """A worker's life: for each span, take blocks and apply their updates, unlocked."""
        worker, = host.workers
        block, spec, lock, t0 = host.block, host.spec, host.lock, host.t0
        i, b, n = worker.index, spec.micro_batch, spec.workers
        slots = ResultSlots(block, 0, worker.model.n_layers)
        finished, records = block["sync_finished"], block["sync_records"][i]
        indices = np.zeros(spec.iteration_rows, np.int64)
        lo = spec.block(i)[0]
        clock = time.perf_counter
        for count, lr in host.spans():
            waits = Waits(block["flags"], spec.timeout, host.spin, host.check, block["sync_beat"],
                          i)
            n_rows = block["n_rows"][:count].copy()
            iterations, parts, sizes = span_blocks(n_rows, n, b)
            times, mine = block["sync_times"][i], 0
            while True:
                waits.beat()
                s = clock()
                waits.lock(lock)
                try:
                    j = int(block["sync_next"][0])
                    block["sync_next"][0] = j + 1
                finally:
                    lock.release()
                if j >= len(iterations):
                    break
                c = clock()
                t, p, size = iterations[j], parts[j], sizes[j]
                end = take_block(spec, indices, i, block["schedule"][t], p, size)
                read = int(finished.sum())
                worker.compute(slots, indices, end)  # reads the shared weights
                applied = int(finished.sum())
                apply_block(worker.model, slots, lo, size, -lr / n_rows[t])  # writes them
                finished[i] += 1
                records[mine] = j, read, applied
                if spec.trace:
                    times[mine] = (s - t0, c - t0), (c - t0, clock() - t0)
                mine += 1
            block["sync_done"][i] = mine


HOGWILD = Hogwild()
