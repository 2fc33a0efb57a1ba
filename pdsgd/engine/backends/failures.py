"""Telling what went wrong with a worker process: it failed, it died, or it is late.

The processes backend's broker calls these while it waits at a barrier (every
``poll``) and once a barrier has broken, so that the run ends with one line
that names the worker and says the right thing about it: a worker that is
stopped (SIGSTOP) or stuck is *late* and alive; one whose process has gone
*died*.
"""

from __future__ import annotations

import os
import select
import threading
import time

import numpy as np
import psutil

from pdsgd.engine.backends.base import WorkerError


class LateWatch:
    """Notices a worker that has not reached a barrier ``timeout`` s after another one did.

    Inside a span the workers' own iteration barrier times out; at the span's
    end only the broker waits, and this is its clock. ``active`` is False while
    the workers start up (they arrive one by one: nobody is late yet).
    """

    def __init__(self, workers, timeout):
        self.workers, self.timeout = workers, timeout
        self.since, self.active = None, False

    def reset(self):
        """A new wait begins."""
        self.since = None

    def late(self, arrive, generation):
        """The first worker missing at ``generation`` of a barrier, once late; else -1."""
        if not self.active:
            return -1
        there = [arrive[i] >= generation for i in range(self.workers)]
        if all(there) or not any(there):
            self.since = None
            return -1
        now = time.monotonic()
        if self.since is None:
            self.since = now
        return there.index(False) if now - self.since >= self.timeout else -1


class DeathOrder:
    """Which worker processes ended first, seen the moment they end (Linux: pidfds).

    loky, seeing one of its processes die, kills the others at once: by the
    time the broker looks, every process is gone, and without an iteration
    barrier (work stealing) no counter says which one went first. A thread
    blocked on the processes' pidfds wakes when the first ends, before loky
    has ended the rest. Elsewhere (no ``os.pidfd_open``) it sees nothing, and
    :func:`laggard` goes by the last signs of life alone.
    """

    def __init__(self):
        self.first, self._thread, self._stop = frozenset(), None, None

    def watch(self, pids):
        """Start watching ``pids``; :attr:`first` is then the pids that ended first."""
        if not hasattr(os, "pidfd_open"):
            return
        fds = {}
        for pid in set(pids):
            try:
                fds[os.pidfd_open(pid)] = pid
            except OSError:  # already gone: nothing to tell about it
                pass
        self._stop = os.pipe()
        self._thread = threading.Thread(target=self._wait, args=(fds,), daemon=True,
                                        name="pdsgd-death-order")
        self._thread.start()

    def _wait(self, fds):
        try:
            ready = select.select([*fds, self._stop[0]], [], [])[0]
            self.first = frozenset(fds[fd] for fd in ready if fd in fds)
        finally:
            for fd in fds:
                os.close(fd)

    def close(self):
        """Stop watching (idempotent)."""
        thread, stop, self._thread, self._stop = self._thread, self._stop, None, None
        if thread is None:
            return
        os.write(stop[1], b"x")
        thread.join()
        for fd in stop:
            os.close(fd)


def late_error(hosted, pid, timeout, died=None):
    """The one-line error for the workers ``hosted`` of process ``pid``: alive but late, or dead."""
    if died is None:
        died = not alive(pid)
    who = worker_name(hosted)
    if died:
        return WorkerError(f"{who} (pid {pid}) died: its process ended without finishing "
                           "the iteration; the run was stopped and its workers ended")
    return WorkerError(f"{who} (pid {pid}) did not reach the barrier within {timeout:g} s "
                       "(it is alive but stopped or stuck); the run was stopped and its workers "
                       "ended; raise --timeout if it was just slow")


def worker_name(hosted):
    """``worker 3``, or ``workers 2-3`` for a process that runs several.

    See :func:`pdsgd.engine.tensor.hosts`.
    """
    if len(hosted) == 1:
        return f"worker {hosted[0]}"
    return f"workers {hosted[0]}-{hosted[-1]}"


def laggard(block, parties, pids=None, first=frozenset()):
    """The process (barrier party) behind the others at the barriers (the one that died), or None.

    Without crossings of the iteration barrier (``sync``; ``sharded`` with
    work stealing, which ends an iteration by its counters) the one gone:
    one of ``first`` (pids seen ending first, :class:`DeathOrder`), else the
    one silent longest. ``pids``: each party's pid (default: ``block["pids"]``,
    one worker per process).
    """
    arrivals = [(int(block["span_arrive"][i]), int(block["step_arrive"][i]))
                for i in range(parties)]
    if len(set(arrivals)) < 2:
        # No iteration barrier to fall behind at (``sync``; work stealing): of the
        # workers whose process is gone (loky, seeing one die, ends the others at
        # once), the one seen ending first, or whose last sign of life is oldest.
        pids = block["pids"][:parties] if pids is None else pids
        gone = [i for i in range(parties) if not alive(int(pids[i]))]
        beats = block.arrays.get("sync_beat", block.arrays.get("turn_beat"))
        return min(gone, key=lambda i: (int(pids[i]) not in first,
                                        beats[i] if beats is not None else 0), default=None)
    return int(np.argmin([s * 2**32 + t for s, t in arrivals]))


def alive(pid):
    """Whether process ``pid`` exists and has not ended (a zombie has ended)."""
    try:
        return psutil.Process(pid).status() not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except psutil.Error:
        return False
