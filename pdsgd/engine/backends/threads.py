"""The threads backend: N worker threads over shared NumPy arrays.

Threads share the process's memory, so the weights and result slots are plain
arrays and the barriers are :class:`threading.Barrier`. NumPy releases the GIL
inside BLAS calls, so the matrix products of different workers can overlap; the
Python between them cannot, which is what this backend lets a student see.
"""

from __future__ import annotations

import threading

from pdsgd.engine.backends.base import WorkerError
from pdsgd.engine.backends.pool import PoolBackend, host_of


class ThreadsBackend(PoolBackend):
    """N threads and ``threading.Barrier`` (see :class:`~.base.Backend`)."""

    name = "threads"

    def launch(self):
        spec = self.spec
        n = spec.workers
        self.span_barrier = threading.Barrier(n + 1)
        self.step_barrier = threading.Barrier(spec.aggregation.step_parties(n),
                                              timeout=spec.timeout)
        self.errors = {}
        lock = threading.Lock() if self.strategy.uses_lock else None
        self.threads = []
        for i in range(n):
            host = host_of(self.strategy, spec, (i,), self.block, self.block["params"], self.X,
                           self.T, self.span_barrier, self.step_barrier, self.t0, lock=lock,
                           party=i)
            thread = threading.Thread(target=self._work, args=(i, host), daemon=True,
                                      name=f"pdsgd-worker-{i}")
            thread.start()
            self.threads.append(thread)

    def _work(self, i, host):
        try:
            self.strategy.work(host)
        except threading.BrokenBarrierError:
            # Another party failed or the run was stopped (that one reports), or
            # this one waited too long for the others' blocks: the broker must wake.
            self.abort()
        except BaseException as error:
            self.errors[i] = error
            self.abort()

    def span_wait(self):
        self._wait(self.span_barrier)

    def step_wait(self):
        self._wait(self.step_barrier)

    def _wait(self, barrier):
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            self._raise_worker_error()
            # No worker failed and nobody aborted: a wait ran out of time.
            raise WorkerError(f"a worker did not reach the barrier within --timeout "
                              f"{self.spec.timeout:g} s; the run was stopped") from None

    def _raise_worker_error(self):
        for i, error in sorted(self.errors.items()):
            # A stolen block's error names the worker whose block it was.
            i = getattr(error, "worker", i)
            raise WorkerError(f"worker {i} failed: {type(error).__name__}: {error}") from error

    def abort(self):
        self.block["flags"][0] = 1
        self.span_barrier.abort()
        self.step_barrier.abort()

    def shutdown(self):
        self.abort()
        for thread in self.threads:
            thread.join(timeout=10)
