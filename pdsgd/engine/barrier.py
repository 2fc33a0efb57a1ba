"""The seed's circular barrier, for processes: shared counters plus semaphores.

BSP needs every worker to finish iteration ``t`` before any starts ``t + 1``.
Threads have :class:`threading.Barrier`; processes need their own, because a
``multiprocessing.Barrier`` cannot be pickled into loky workers and, even where
it can, one crossing costs more than a sample's forward and backward pass.

How :class:`CyclicBarrier` works (docs/performance.md has the measured costs):

* Every party owns one counter in shared memory and writes only that one: on
  its ``g``-th crossing it sets its counter to ``g`` and the barrier is passed
  when *all* counters have reached ``g``. Counters only grow, so the barrier is
  reusable (cyclic) with nothing to reset.
* A waiting party first **spins** (re-reads the counters) for a short while:
  a crossing then costs a few microseconds, as long as every party has a core.
  When the late party is not running (the cores are busy with more parties
  than cores, or with other programs) a spinner steals the core it needs, so
  the party **blocks** on its own semaphore instead; whoever sees the barrier
  complete releases the sleepers.
* The barrier is **adaptive**: each party learns from its crossings whether
  spinning pays. A crossing where the last party arrived later than the spin
  time means that party was not running: the next waits block at once. Once
  :data:`FAST_STREAK` crossings in a row were fast (the last party arrived
  within the spin time, even while this one slept), the parties run side by
  side again and the next wait spins. Each party stamps when it set off and
  when it arrived, so "late" is how much longer the others took to get here,
  not anyone's wake-up delay (which, once the parties block, would otherwise
  keep them blocking).
  ``adaptive=False`` keeps the old fixed spin, for comparison
  (``pdsgd bench neighbours``).
* A ``timeout`` and an :meth:`abort` flag make sure nothing waits forever: an
  aborted or timed-out barrier raises :class:`threading.BrokenBarrierError` in
  every waiter, as ``threading.Barrier`` does. A timed-out party records which
  party was late (``flags[1] = party + 1``) so that the run can name it.

Stores to shared memory become visible to other cores in program order on x86;
a rare lost wake-up (a store and a load reordered) is bounded by the short
``poll`` with which sleepers re-check the counters.
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np

from pdsgd.engine.shm import flat

BrokenBarrierError = threading.BrokenBarrierError
_yield = getattr(os, "sched_yield", lambda: None)
#: Fast crossings in a row after which an adaptive party spins again.
FAST_STREAK = 8


class BarrierTimeout(BrokenBarrierError):
    """A party waited longer than the barrier's timeout (a worker hung or died)."""


def barrier_fields(prefix, parties):
    """The shared arrays one :class:`CyclicBarrier` needs (for :class:`~.shm.SharedArrays`)."""
    return {f"{prefix}_arrive": ((parties,), np.int64),
            f"{prefix}_sleeping": ((parties,), np.int64),
            f"{prefix}_stamps": ((parties, 4), np.float64)}


def set_off(barrier):
    """:meth:`CyclicBarrier.resume` where ``barrier`` is one (a thread's barrier has none)."""
    if isinstance(barrier, CyclicBarrier):
        barrier.resume()


class CyclicBarrier:
    """One party's handle on a barrier shared by ``parties`` processes.

    Parameters
    ----------
    arrive, sleeping : ndarray of int64, shape (parties,)
        Shared counters (see :func:`barrier_fields`), zeroed before first use.
    flags : ndarray of int64
        Shared, shared by all barriers of a run: ``flags[0] != 0`` means
        aborted; ``flags[1]`` is ``party + 1`` of the first party found late by
        a timeout (0: none).
    semaphores : list
        One semaphore per party (``loky`` context, initial value 0).
    party : int
        Which party this handle waits as.
    spin : float, default 0.0
        Most seconds to spin before blocking; 0 when parties outnumber cores.
    timeout : float, optional
        Default timeout of :meth:`wait`, in seconds.
    poll : float, default 0.01
        How often a blocked party re-checks the counters, the abort flag and
        ``check``.
    adaptive : bool, default True
        Spin only while the last crossing says that spinning pays; False
        always spins ``spin`` seconds first (the old behaviour).
    stamps : ndarray of float64, shape (parties, 4), optional
        Shared: each party's last two arrival times and the times it set off
        towards them (``time.perf_counter``, which all processes of a machine
        share), so that a party can tell whether the others were running,
        apart from how long anyone took to wake up. Without them the adaptive
        rule uses this party's own waiting time.
    """

    def __init__(self, arrive, sleeping, flags, semaphores, party, *, spin=0.0, timeout=None,
                 poll=0.01, adaptive=True, stamps=None):
        self.parties = len(arrive)
        self.party = party
        # memoryviews: reading a few ints costs ~0.1 us, a NumPy reduction ~1 us.
        self._arrive, self._sleeping, self._flags = flat(arrive), flat(sleeping), flat(flags)
        self._sems = semaphores
        self.generation = int(arrive[party])
        self.spin, self.timeout, self.poll = spin, timeout, poll
        self.adaptive = adaptive
        self._stamps = None if stamps is None else flat(stamps)
        self._budget = spin  # this wait's spin time: the adaptive part
        self._fast = 0
        self.spun = self.blocked = 0  # crossings completed spinning / asleep (for the curious)

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
        arrive, stamps, clock = self._arrive, self._stamps, time.perf_counter
        self.generation += 1
        g = self.generation
        start = clock()
        if stamps is not None:  # written before arriving, so others read it once we arrive
            stamps[4 * self.party + (g & 1)] = start
        arrive[self.party] = g
        if min(arrive) >= g:
            self._wake(g)
            self.resume()
            return g
        budget = self._budget
        if budget > 0:
            flags = self._flags
            end = start + budget
            while clock() < end:
                if min(arrive) >= g:
                    self._wake(g)
                    self.spun += 1
                    if self.adaptive:
                        self._learn(True)
                    self.resume()
                    return g
                if flags[0]:
                    raise BrokenBarrierError("the barrier was aborted")
                # Free: returns at once on an idle core, but lets the late party
                # run first when the machine is busier than we assumed.
                _yield()
        self._block(g, self.timeout if timeout is None else timeout, check)
        self.blocked += 1
        if self.adaptive:
            # Fast: the others arrived within the spin time, so they were running.
            self._learn(self._lateness(g, start, clock) < self.spin)
        self.resume()
        return g

    def resume(self):
        """Stamp that this party sets off now towards its next crossing.

        :meth:`wait` calls it on leaving; a party that next waits elsewhere
        first (a worker between spans, at the span barrier) calls it again
        when it comes back, so its wake-up there is not taken for lateness here.
        """
        if self._stamps is not None:
            self._stamps[4 * self.party + 2 + ((self.generation + 1) & 1)] = time.perf_counter()

    def _learn(self, fast):
        # One slow crossing and the party blocks at once; it spins again only
        # after FAST_STREAK fast ones in a row. On a busy machine the others
        # are often descheduled, and a spin that fails has burnt the core they
        # needed; on an idle one every crossing is fast and nothing changes.
        self._fast = self._fast + 1 if fast else 0
        self._budget = self.spin if self._fast >= FAST_STREAK else 0.0

    def _lateness(self, g, start, clock):
        """How much longer than this party the slowest took to get from its start to ``g``.

        Arrival times alone would count a party's late start as lateness: once
        the parties block, each crossing's wake-up (some 0.4 ms on a virtual
        machine) delays the woken party's next arrival by as much, which a spin
        time of 0.5 ms then reads as "not running" half the time, and the
        parties never spin again. Time from setting off to arriving leaves the
        wake-ups out and keeps what the rule is for: a party that was not
        running (or had more to do) while this one was.
        """
        stamps = self._stamps
        if stamps is None:
            return clock() - start  # the wait, wake-up included
        # A party's stamps for g stay until it sets off towards g + 2, which it
        # cannot do before this party has arrived at g + 1.
        a, b = g & 1, 2 + (g & 1)
        mine = start - stamps[4 * self.party + b]
        return max(stamps[4 * p + a] - stamps[4 * p + b] for p in range(self.parties)) - mine

    def _block(self, g, timeout, check):
        deadline = None if timeout is None else time.monotonic() + timeout
        sem, arrive = self._sems[self.party], self._arrive
        self._sleeping[self.party] = g
        try:
            while min(arrive) < g:
                if self._flags[0]:
                    raise BrokenBarrierError("the barrier was aborted")
                if deadline is not None and time.monotonic() > deadline:
                    late = [p for p in range(self.parties) if arrive[p] < g]
                    if self._flags[1] == 0:
                        self._flags[1] = late[0] + 1
                    self.abort()
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
