"""What moving the weights between the cores costs: two copies, a shared layer, a spin barrier.

The ceiling's copies (:mod:`pdsgd.bench.ceiling`) share nothing. Data
parallelism's ``sharded`` update does share: each worker writes its rows of
the shared weights, and every worker reads all of them in the next forward
pass, so half of the first layer moves from one core's cache to the other's
in every iteration. :func:`traffic` runs exactly that traffic, with no
network around it, in two of the ceiling's copies; with ``shared`` False,
the same arithmetic on a private layer each. The ratio of the two is what
the distance between the cores' caches costs at that moment: on a laptop it
stays put; on a virtual machine, whose cores the host moves, it changes.
"""

from __future__ import annotations

import time

import numpy as np

from pdsgd.engine.shm import SharedArrays
from pdsgd.study.timing import median_and_range

#: Seconds a copy spins for the other before it gives up on it.
SPIN_TIMEOUT = 300.0


def traffic(spec, party, iterations, shared):
    """Seconds of ``iterations`` of sharded-like traffic between the cores (or none).

    Every iteration this copy reads the whole first-layer matrix (a
    forward pass), crosses a spin barrier with the other copy, writes its
    half of the rows (its share of an update), and crosses again: what the
    ``sharded`` update does to the shared weights. With ``shared`` False each
    copy does the same to a private matrix: the same arithmetic, nothing
    moving between the cores.
    """
    block = SharedArrays.attach(spec)
    arrive, clock = block["arrive"], time.perf_counter
    whole = block["weights"] if shared else np.zeros_like(block["weights"])
    rows = len(whole) // 2
    mine = whole[party * rows:(party + 1) * rows]
    x, v = np.ones(whole.shape[1]), np.full(rows, 1e-12)
    step = np.empty_like(mine)  # allocated once: the loop allocates nothing
    deadline, g = clock() + SPIN_TIMEOUT, 0

    def cross():
        nonlocal g
        g += 1
        arrive[party] = g
        while arrive[1 - party] < g:  # a spin: each copy has a core of its own
            if clock() > deadline:
                raise TimeoutError("the other copy stopped crossing")

    try:
        start = clock()
        for _ in range(iterations):
            whole @ x  # a forward pass reads every row
            cross()
            np.outer(v, x, out=step)
            mine += step  # an update writes this copy's rows
            cross()
        return clock() - start
    finally:
        whole = mine = arrive = None  # let go of the block's views before it closes
        block.close()


def measure_traffic(group, sizes, repeats, min_seconds):
    """Rounds of (private, shared) traffic of ``group`` (a
    :class:`~pdsgd.bench.ceiling.Copies`), in turn: us per iteration, medians."""
    probe = 200
    per = max(group.traffic(sizes, probe, False)) / probe
    iterations = max(probe, int(np.ceil(min_seconds / per)))
    private, shared = [], []
    for _ in range(repeats):
        private.append(max(group.traffic(sizes, iterations, False)) / iterations)
        shared.append(max(group.traffic(sizes, iterations, True)) / iterations)
    ratios = np.array(shared) / np.array(private)
    return {"iterations": iterations, "private_us": 1e6 * float(np.median(private)),
            "shared_us": 1e6 * float(np.median(shared)), **median_and_range("ratio", ratios)}


def format_traffic(traffic, sizes):
    """One line: the cost of moving the weights between the cores, against keeping them."""
    lo, hi = traffic["ratio_range"]
    return (f"weights between the cores: each of 2 copies writes half of a {sizes[1]}x"
            f"{sizes[0] + 1} layer and reads all of it, every iteration: "
            f"{traffic['shared_us']:.0f} us per iteration, against {traffic['private_us']:.0f} "
            f"us with a private layer each ({traffic['ratio']:.2f}x, {lo:.2f}-{hi:.2f})")
