"""The machine's own ceiling: k copies of the sequential path at once, against one.

Part of the answer to "why doesn't training get N times faster on N cores?" is
not the engine's. k copies of the sequential path that share nothing and never
wait for each other do not run k times faster on k cores either when the cores
share execution units (the two vCPUs of a cloud machine are often two hardware
threads of one core), caches, memory bandwidth or a power budget, or when
another program takes a core for a moment. No parallel engine can beat that
ceiling by splitting the same work, barring cache effects (a smaller slice of
the weights per core, as in tensor parallelism, can fit a cache the whole
network did not).

:class:`Copies` starts k processes, each holding the sequential path on the
same samples, and times them all at once. :func:`measure` (``pdsgd bench
ceiling``, :mod:`pdsgd.bench.ceiling`) times them against the sequential path alone, in turns;
``pdsgd bench scaling`` does so in every repeat of a cell with N >= 2,
between the sequential path alone and the engine, so that the ceiling, the
engine and its baseline meet the same moments of a shared machine. The last
line of ``pdsgd bench ceiling`` is what the copies do not measure: the cost of
moving weights between the cores (:mod:`pdsgd.bench.cache_traffic`).
"""

from __future__ import annotations

import os
import time

import numpy as np
from joblib.externals.loky.backend import get_context
from threadpoolctl import threadpool_limits

from pdsgd.bench.cache_traffic import measure_traffic, traffic
from pdsgd.engine.lifetime import Janitor, die_with_parent
from pdsgd.engine.sequential import SequentialRunner
from pdsgd.engine.shm import SharedArrays
from pdsgd.errors import PdsgdError
from pdsgd.machine import machine_facts, usable_cores
from pdsgd.mlp import MLP
from pdsgd.study.timing import load_samples, median_and_range

#: Seconds a copy may take to answer before it is taken for hung.
ANSWER_TIMEOUT = 300.0


def _copy_main(conn, parent, dataset, samples, sizes):
    """One copy: the sequential path on ``samples`` of ``dataset``, run on command."""
    die_with_parent(parent)  # first: a copy must never outlive the benchmark
    # After every BLAS library is loaded, so that none keeps its own threads.
    threadpool_limits(limits=1)
    X, T = load_samples(dataset, samples)
    order, runner = np.arange(len(X)), None
    while (message := conn.recv()) is not None:
        command, value = message
        if command == "prepare":  # value: b; one pass warms the caches up
            runner = SequentialRunner(MLP(sizes), X, T, value)
            runner.run_epoch(order, 0.1)
            conn.send(0.0)
        elif command == "traffic":  # value: (block spec, party, iterations, shared)
            conn.send(traffic(*value))
        else:  # "run", value: passes over the samples
            start = time.perf_counter()
            for _ in range(value):
                runner.run_epoch(order, 0.1)
            conn.send(time.perf_counter() - start)


class Copies:
    """``count`` processes running the sequential path (one BLAS thread each) at once.

    Parameters
    ----------
    dataset : str
    samples : int
        Each copy trains on the first ``samples`` samples of ``dataset``, as
        the benchmark's sequential path does.
    sizes : tuple of int
        The network's layer sizes.
    count : int
        How many copies.

    Examples
    --------
    >>> with Copies("mnist-5k", 2000, (784, 200, 10), 2) as copies:  # doctest: +SKIP
    ...     copies.prepare(16)
    ...     copies.together(3)   # seconds each copy took, all running at once
    [0.31, 0.30]
    """

    def __init__(self, dataset, samples, sizes, count):
        self.count, self.procs, self.conns, self._janitor = count, [], [], None
        # loky's processes start without running the caller's __main__ again
        # (a script with no ``if __name__ == "__main__"`` guard works).
        context = get_context("loky")
        try:
            for _ in range(count):
                ours, theirs = context.Pipe()
                proc = context.Process(target=_copy_main, daemon=True, name="pdsgd-copy",
                                       args=(theirs, os.getpid(), dataset, samples, sizes))
                proc.start()
                theirs.close()
                self.procs.append(proc)
                self.conns.append(ours)
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def prepare(self, micro_batch):
        """Give every copy a fresh sequential path at batch ``micro_batch``, warmed up."""
        self._ask([("prepare", micro_batch)] * self.count)

    def together(self, passes, count=None):
        """Seconds each of the first ``count`` copies (all) took for ``passes`` passes, at once."""
        return self._ask([("run", passes)] * (self.count if count is None else count))

    def traffic(self, sizes, iterations, shared):
        """Seconds the first two copies took for sharded-like traffic
        (:func:`pdsgd.bench.cache_traffic.traffic`).

        The matrix is the first layer of ``sizes`` (with its bias column), in
        a fresh shared block that a janitor unlinks should this process die.
        """
        if self._janitor is None:  # one for all the calls: starting one takes a while
            self._janitor = Janitor()
        block = SharedArrays({"weights": ((sizes[1], sizes[0] + 1), np.float64),
                              "arrive": ((2,), np.int64)})
        try:
            self._janitor.track(block.name)
            return self._ask([("traffic", (block.spec, party, iterations, shared))
                              for party in (0, 1)])
        finally:
            block.close()

    def _ask(self, messages):
        """Send ``messages[i]`` to copy ``i``, all first (so that they start together), then
        collect the answers."""
        pairs = list(zip(self.conns[:len(messages)], self.procs, strict=False))
        try:
            # ``proc`` names the copy that failed, in the error below.
            for (conn, proc), message in zip(pairs, messages, strict=True):  # noqa: B007
                conn.send(message)
            answers = []
            for conn, proc in pairs:
                if not conn.poll(ANSWER_TIMEOUT):
                    raise PdsgdError(f"a sequential copy (pid {proc.pid}) of the ceiling "
                                     f"did not answer in {ANSWER_TIMEOUT:g} s")
                answers.append(conn.recv())
        except (EOFError, OSError):
            proc.join(1.0)
            raise PdsgdError(f"a sequential copy (pid {proc.pid}) of the ceiling died "
                             f"(exit code {proc.exitcode})") from None
        return answers

    def close(self):
        """Stop and reap every copy (killing any that does not stop within a second)."""
        for conn in self.conns:
            try:
                conn.send(None)
            except OSError:  # it has already gone
                pass
        for proc in self.procs:
            proc.join(1.0)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for conn in self.conns:
            conn.close()
        self.procs, self.conns = [], []
        janitor, self._janitor = self._janitor, None
        if janitor is not None:  # last: the blocks are unlinked, the copies gone
            janitor.close()


def ceiling(alone_seconds, together_seconds):
    """The copies' combined rate over the rate of the path timed alone.

    Parameters
    ----------
    alone_seconds : float
        The sequential path alone, for the same passes.
    together_seconds : sequence of float
        What each copy took, all running at once.
    """
    return float(sum(alone_seconds / s for s in together_seconds))


def measure(dataset="mnist-5k", samples=2000, copies=None, micro_batches=(1, 16), repeats=5,
            min_seconds=0.25, on_row=None):
    """Time ``copies`` copies of the sequential path at once against it alone, in turns.

    Parameters
    ----------
    dataset : str
    samples : int
        Samples per pass.
    copies : int, optional
        How many copies; None: one per usable core.
    micro_batches : sequence of int
        The b of each row.
    repeats : int
        Rounds of (one copy alone, all at once), each as many passes as last
        ``min_seconds`` alone.
    min_seconds : float
    on_row : callable, optional
        Called with each row as it is measured, then with ``{"traffic", "sizes"}``.

    Returns
    -------
    dict
        JSON-ready: per b, the rate alone (``alone_per_s``, median), ``ceiling``
        (median of the per-round ratios, see :func:`ceiling`) and ``ceiling_range``;
        and ``traffic``: microseconds per iteration of two copies moving half of
        the first layer between the cores (``shared_us``) against keeping it
        private (``private_us``), in rounds in turn
        (:mod:`pdsgd.bench.cache_traffic`).
    """
    count = usable_cores() if copies is None else copies
    if count < 2:
        raise PdsgdError(f"copies {count}: the ceiling needs at least 2 copies (this machine "
                         f"has {usable_cores()} usable cores); try --copies 2")
    X, T = load_samples(dataset, samples)  # refused here, before anything starts, if bad
    sizes = (X.shape[1], 200, T.shape[1])
    result = {"dataset": dataset, "samples": len(X), "copies": count, "repeats": repeats,
              "sizes": list(sizes), "machine": machine_facts(), "rows": []}
    with Copies(dataset, len(X), sizes, count) as group:
        for b in micro_batches:
            group.prepare(b)
            # "Alone" is one of the copies, alone: the same process, data and library.
            passes = max(1, int(np.ceil(min_seconds / group.together(1, 1)[0])))
            alone, ratios = [], []
            for _ in range(repeats):
                alone.append(group.together(passes, 1)[0])
                ratios.append(ceiling(alone[-1], group.together(passes)))
            row = {"micro_batch": b, "passes": passes,
                   "alone_per_s": passes * len(X) / float(np.median(alone)),
                   **median_and_range("ceiling", ratios)}
            result["rows"].append(row)
            if on_row is not None:
                on_row(row)
        result["traffic"] = measure_traffic(group, sizes, repeats, min_seconds)
        if on_row is not None:
            on_row({"traffic": result["traffic"], "sizes": sizes})
    return result
