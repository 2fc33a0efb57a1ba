"""The seed's circular barrier, for processes: shared counters plus semaphores.

BSP needs every worker to finish iteration ``t`` before any starts ``t + 1``.
Threads have :class:`threading.Barrier`; processes need their own, because a
``multiprocessing.Barrier`` cannot be pickled into loky workers and, even where
it can, one crossing costs more than a sample's forward and backward pass.

How :class:`CyclicBarrier` works (the README has the measured costs):

* Every party owns one counter in shared memory and writes only that one: on
  its ``g``-th crossing it sets its counter to ``g`` and the barrier is passed
  when *all* counters have reached ``g``. Counters only grow, so the barrier is
  reusable (cyclic) with nothing to reset.
* A waiting party first **spins** (re-reads the counters) for a short while:
  a crossing then costs a few microseconds, as long as every party has a core.
  When parties outnumber cores a spinner steals the core the late party needs,
  so the broker sets the spin time to zero and parties **block** on their own
  semaphore; whoever sees the barrier complete releases the sleepers.
* A ``timeout`` and an :meth:`abort` flag make sure nothing waits forever: an
  aborted or timed-out barrier raises :class:`threading.BrokenBarrierError` in
  every waiter, as ``threading.Barrier`` does.

Stores to shared memory become visible to other cores in program order on x86;
a rare lost wake-up (a store and a load reordered) is bounded by the short
``poll`` with which sleepers re-check the counters.
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np

BrokenBarrierError = threading.BrokenBarrierError
_yield = getattr(os, "sched_yield", lambda: None)


class BarrierTimeout(BrokenBarrierError):
    """A party waited longer than the barrier's timeout (a worker hung or died)."""


def barrier_fields(prefix, parties):
    """The shared arrays one :class:`CyclicBarrier` needs (for :class:`~.shm.SharedArrays`)."""
    return {f"{prefix}_arrive": ((parties,), np.int64),
            f"{prefix}_sleeping": ((parties,), np.int64)}


class CyclicBarrier:
    """One party's handle on a barrier shared by ``parties`` processes.

    Parameters
    ----------
    arrive, sleeping : ndarray of int64, shape (parties,)
        Shared counters (see :func:`barrier_fields`), zeroed before first use.
    flags : ndarray of int64
        Shared; ``flags[0] != 0`` means aborted (shared by all barriers of a run).
    semaphores : list
        One semaphore per party (``loky`` context, initial value 0).
    party : int
        Which party this handle waits as.
    spin : float, default 0.0
        Seconds to spin before blocking; 0 when parties outnumber cores.
    timeout : float, optional
        Default timeout of :meth:`wait`, in seconds.
    poll : float, default 0.01
        How often a blocked party re-checks the counters, the abort flag and
        ``check``.
    """

    def __init__(self, arrive, sleeping, flags, semaphores, party, *, spin=0.0, timeout=None,
                 poll=0.01):
        self.parties = len(arrive)
        self.party = party
        # memoryviews: reading a few ints costs ~0.1 us, a NumPy reduction ~1 us.
        self._arrive = memoryview(arrive).cast("B").cast("q")
        self._sleeping = memoryview(sleeping).cast("B").cast("q")
        self._flags = memoryview(flags).cast("B").cast("q")
        self._sems = semaphores
        self.generation = int(arrive[party])
        self.spin, self.timeout, self.poll = spin, timeout, poll

    @property
    def broken(self):
        """True once the barrier has been aborted."""
        return bool(self._flags[0])

    def abort(self):
        """Break the barrier: every current and future waiter raises ``BrokenBarrierError``."""
        self._flags[0] = 1
        for sem in self._sems:
            sem.release()

    def wait(self, timeout=None, check=None):
        """Wait until every party has called :meth:`wait` as often as this one.

        Parameters
        ----------
        timeout : float, optional
            Seconds; defaults to the barrier's ``timeout`` (None: forever).
        check : callable, optional
            Called every ``poll`` seconds while blocked; it may raise (the
            broker uses it to notice a dead worker).

        Returns
        -------
        int
            The generation just completed (1 for the first crossing).
        """
        arrive = self._arrive
        self.generation += 1
        g = self.generation
        arrive[self.party] = g
        if min(arrive) >= g:
            self._wake(g)
            return g
        if self.spin > 0:
            flags, clock = self._flags, time.perf_counter
            end = clock() + self.spin
            while clock() < end:
                if min(arrive) >= g:
                    self._wake(g)
                    return g
                if flags[0]:
                    raise BrokenBarrierError("the barrier was aborted")
                # Free: returns at once on an idle core, but lets the late party
                # run first when the machine is busier than we assumed.
                _yield()
        self._block(g, self.timeout if timeout is None else timeout, check)
        return g

    def _block(self, g, timeout, check):
        deadline = None if timeout is None else time.monotonic() + timeout
        sem, arrive = self._sems[self.party], self._arrive
        self._sleeping[self.party] = g
        try:
            while min(arrive) < g:
                if self._flags[0]:
                    raise BrokenBarrierError("the barrier was aborted")
                if deadline is not None and time.monotonic() > deadline:
                    self.abort()
                    late = [p for p in range(self.parties) if arrive[p] < g]
                    raise BarrierTimeout(f"parties {late} did not reach the barrier "
                                         f"within {timeout:g} s")
                if check is not None:
                    check()
                sem.acquire(timeout=self.poll)
        finally:
            self._sleeping[self.party] = 0
        self._wake(g)

    def _wake(self, g):
        # Whoever sees the barrier complete releases the parties asleep on it.
        # Two parties may both release one sleeper: its extra wake-up is
        # harmless, since a woken party always re-checks the counters.
        sleeping = self._sleeping
        for p in range(self.parties):
            if sleeping[p] == g:
                sleeping[p] = 0
                self._sems[p].release()
