"""The processes backend: N long-lived loky worker processes around shared memory.

(For a strategy whose workers may share a process, data and tensor
parallelism, with more workers than cores and ``--hosting cores``: one
process per core, each running several workers in turns, as Go runs many
goroutines on few threads; see :attr:`ProcessesBackend.hosts`.)

* The workers start once per run (a fresh loky executor, shut down at close, so
  none outlives the run) and stay: each runs the strategy's worker loop
  (:meth:`pdsgd.engine.strategies.base.Strategy.work`) until told to stop.
* Weights, training data, result slots, control words, barrier counters and
  trace live in one ``multiprocessing.shared_memory`` block; only its name
  travels to the workers, once. Nothing is pickled per iteration.
* Each worker's BLAS is limited to one thread (environment and threadpoolctl),
  so N workers use N cores and GEMMs give the same bits everywhere.
* The barriers are :class:`pdsgd.engine.barrier.CyclicBarrier`; their semaphores come
  from loky's context and reach the workers through the executor's
  ``initializer``: that is the one way such objects can be handed to them.
* Failures: the broker polls the workers' futures while it waits; a dead or
  failed worker breaks the barriers (everyone wakes) and is named in the error.
  A worker that does not reach a barrier within ``timeout`` seconds of the
  others is named too, as alive (stopped, hung) or dead.
* Lifetime (:mod:`pdsgd.engine.lifetime`): every worker dies with the broker's
  process, and a janitor process unlinks the shared block and the semaphores
  if the broker's process dies before it could.
"""

from __future__ import annotations

import _multiprocessing
import concurrent.futures
import contextlib
import functools
import gc
import multiprocessing
import multiprocessing.resource_tracker
import os
import signal

import psutil
from joblib.externals.loky import ProcessPoolExecutor
from joblib.externals.loky.backend import resource_tracker as loky_tracker
from joblib.externals.loky.backend.context import get_context
from threadpoolctl import threadpool_limits

from pdsgd.engine.backends.base import WorkerError
from pdsgd.engine.backends.failures import DeathOrder, LateWatch, laggard, late_error, worker_name
from pdsgd.engine.backends.pool import PoolBackend, host_of
from pdsgd.engine.barrier import BrokenBarrierError, CyclicBarrier, barrier_fields
from pdsgd.engine.lifetime import Janitor, die_with_parent
from pdsgd.engine.shm import SharedArrays
from pdsgd.engine.tensor import hosts
from pdsgd.machine import usable_cores

#: Seconds a waiting party spins before it blocks, when every party has a core.
SPIN = 0.0005
#: Smallest b at which ``sharded`` is the default (while N <= cores).
SHARDED_FROM_BATCH = 8
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                     "MKL_NUM_THREADS", "BLIS_NUM_THREADS")}

_SEMAPHORES = None  # in a worker: set by the executor's initializer


@contextlib.contextmanager
def deaf_to_ctrl_c():
    """Start worker processes inside: they never see SIGINT (this process still does).

    Ctrl-C reaches the whole process group; a worker still starting printed a
    "Fatal Python error" each. A blocked signal stays blocked across ``exec``,
    and this thread's mask is what a thread started here begins with: the
    workers are born with SIGINT blocked, and this process receives its own
    SIGINT as soon as the block is lifted. The workers end with the run
    (:mod:`pdsgd.engine.lifetime`), not by Ctrl-C.
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def start_trackers():
    """Start Python's and loky's resource trackers, deaf to SIGHUP as they are to SIGINT.

    They ignore SIGINT and SIGTERM, but a closed terminal's SIGHUP to the
    process group killed them: the trainer's clean-up then started new ones,
    which printed a KeyError traceback for every name they had never seen.
    An ignored signal stays ignored across ``exec``, so they are started while
    this process ignores it. (Trackers already running are left as they are.)
    """
    try:
        previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    except (AttributeError, ValueError):  # no SIGHUP (Windows), or not the main thread
        return
    try:
        multiprocessing.resource_tracker.ensure_running()
        loky_tracker.ensure_running()
    finally:
        signal.signal(signal.SIGHUP, previous)


def _init_worker(semaphores, parent):
    global _SEMAPHORES
    die_with_parent(parent)  # first: a worker must never outlive the broker's process
    _SEMAPHORES = semaphores

    threadpool_limits(limits=1)


def _barriers(block, semaphores, party, spin, timeout, spec, step=True):
    """This process's handles on the span and step barriers (``spin``: their spin times)."""
    adaptive = spec.barrier == "adaptive"
    span = CyclicBarrier(block["span_arrive"], block["span_sleeping"], block["flags"],
                         semaphores[0], party, spin=spin[0], adaptive=adaptive,
                         stamps=block["span_stamps"])
    if not step:
        return span, None
    step = CyclicBarrier(block["step_arrive"], block["step_sleeping"], block["flags"],
                         semaphores[1], party, spin=spin[1], timeout=timeout,
                         adaptive=adaptive, stamps=block["step_stamps"])
    return span, step


def _worker_main(party, hosted, block_spec, strategy, spec, t0, spin):
    """Entry point of process ``party``, which runs the workers ``hosted`` of ``strategy``.

    A module function, so that it pickles.
    """
    block = SharedArrays.attach(block_spec)
    span, step = _barriers(block, _SEMAPHORES, party, (spin, spin), spec.timeout, spec)
    try:
        block["pids"][list(hosted)] = os.getpid()
        parent = os.getppid()

        def parent_alive():
            if os.getppid() != parent:
                raise BrokenBarrierError("the broker process has gone")

        lock = _SEMAPHORES[2][0] if _SEMAPHORES[2] else None
        strategy.work(host_of(strategy, spec, hosted, block, block["params"], block["X"],
                              block["T"], span, step, t0, check=parent_alive, lock=lock,
                              spin=10 * spin, party=party))
    except BaseException:
        span.abort()  # wake everyone: nobody waits for a worker that has gone
        step.abort()
        raise
    finally:
        del span, step
        block.close()


class ProcessesBackend(PoolBackend):
    """N loky processes, shared memory, :class:`~pdsgd.engine.barrier.CyclicBarrier`."""

    name = "processes"
    shared_memory = True
    semaphores = None
    janitor = None

    def start(self, t0):
        start_trackers()
        # The janitor first: from the moment the shared block exists, someone
        # must be there to unlink it if this process is killed.
        self.janitor = Janitor()
        self.watch = LateWatch(len(self.hosts), self.spec.timeout)
        self.deaths = DeathOrder()
        try:
            super().start(t0)
            self.watch.active = True  # the workers are up: from now on, one can be late
            self.deaths.watch(self._pid(p) for p in range(len(self.hosts)))
        except BaseException:
            # Ctrl-C while the workers start: close() must not wait for them.
            if hasattr(self, "block") and hasattr(self, "span_barrier"):
                self.abort()
            raise

    @functools.cached_property
    def hosts(self):
        """The workers each process runs, one tuple per process.

        One worker each, unless the strategy's workers may share a process
        (data and tensor parallelism, parameter averaging) and
        ``spec.hosting`` is ``"cores"``: then, with more workers than cores,
        one process per core, each hosting consecutive workers
        (:func:`pdsgd.engine.tensor.hosts`). The barriers' parties are the
        processes; a failure names the workers of the process. Without a
        barrier per iteration (``--sync ssp|async|hogwild``) every worker
        keeps a process of its own.
        """
        n = self.spec.workers
        if self.strategy.shares_hosts and self.spec.hosting == "cores":
            return hosts(n, min(n, usable_cores()))
        return [(i,) for i in range(n)]

    def fields(self):
        n = len(self.hosts)  # the processes: parties of the barriers
        return {**super().fields(),
                "X": (self.X.shape, self.X.dtype), "T": (self.T.shape, self.T.dtype),
                **barrier_fields("span", n + 1),
                **barrier_fields("step", self.spec.aggregation.step_parties(n))}

    def launch(self):
        spec, block = self.spec, self.block
        n, mode = len(self.hosts), spec.aggregation
        block["X"][...] = self.X
        block["T"][...] = self.T
        cores = usable_cores()
        # Spin only while every party that may be running has a core to itself.
        step_parties = mode.step_parties(n)
        worker_spin = SPIN if step_parties <= cores else 0.0
        parent_spin = SPIN if mode.broker_applies and step_parties <= cores else 0.0
        context = get_context("loky")
        self.janitor.track(block.name)
        self.semaphores = ([context.Semaphore(0) for _ in range(n + 1)],
                           [context.Semaphore(0) for _ in range(step_parties)],
                           [context.Semaphore(1)] if self.strategy.uses_lock else [])
        for group in self.semaphores:
            for sem in group:
                self.janitor.track(sem._semlock.name)
        # The broker takes part in iterations only when it applies the update.
        self.span_barrier, self.step_barrier = _barriers(
            block, self.semaphores, n, (0.0, parent_spin), spec.timeout, spec,
            step=mode.broker_applies)
        with deaf_to_ctrl_c():
            self.executor = ProcessPoolExecutor(max_workers=n, initializer=_init_worker,
                                                initargs=(self.semaphores, os.getpid()),
                                                env=ONE_THREAD, context=context)
            self.futures = [self.executor.submit(_worker_main, i, hosted, block.spec,
                                                 self.strategy, spec, self.t0, worker_spin)
                            for i, hosted in enumerate(self.hosts)]
        # The pids loky just started: should this process die while they are
        # still starting up (before they could ask to die with it), the
        # janitor ends them.
        for pid in getattr(self.executor, "_processes", {}):
            self.janitor.watch(pid)
        for tracker in (loky_tracker, multiprocessing.resource_tracker):
            pid = getattr(tracker._resource_tracker, "_pid", None)
            if pid is not None:
                self.janitor.defer_to(pid)

    @classmethod
    def default_aggregate(cls, spec):
        """``sharded``, ``replicated`` or ``central``, whichever measured fastest for N and b.

        While every worker has a core of its own: ``sharded`` from b = 8 up,
        where the update is a GEMM big enough that splitting it by rows pays
        for the second barrier crossing (N = 2, median of interleaved runs on
        the 2-core machine: 1.22x replicated at b = 8, 1.26x-1.36x at b = 16),
        and ``replicated`` below (b = 1 to 4: within noise of sharded, which
        also pulls the weights between the cores' caches every iteration).

        Past N = cores, hosted (``--hosting cores``): ``replicated``, one
        replica per process, one update per process per iteration. Measured
        hosted on the 2-core machine (``pdsgd bench scaling``, 3 interleaved
        repeats, medians, S against the sequential path at b; other work ran
        on the machine): b = 1, N = 4/8/16: replicated 0.47x/1.31x/1.48x,
        sharded 0.74x/0.70x/0.95x, central 0.35x/0.64x/0.93x; b = 16:
        replicated 1.12x/1.30x/1.31x, sharded 0.72x/1.39x/0.74x (its row
        shares move between the cores' caches: fast or slow from one run to
        the next), central 0.76x/0.89x/1.19x. One process per worker
        (``--hosting workers``) past the cores: each extra replica adds the
        whole update to the cores' work, so the seed's ``central`` aggregation
        (one update, by the broker) degrades more gently (docs/performance.md).
        An algorithm that cannot shard (parameter averaging) stays replicated.
        """
        if spec.workers > usable_cores():
            return "replicated" if spec.hosting == "cores" else "central"
        if spec.micro_batch >= SHARDED_FROM_BATCH and "sharded" in spec.strategy.aggregates:
            return "sharded"
        return "replicated"

    def span_wait(self):
        self._wait(self.span_barrier)

    def _unlink_semaphores(self):

        for group in self.semaphores or ():
            for sem in group:
                try:
                    _multiprocessing.sem_unlink(sem._semlock.name)
                except (FileNotFoundError, AttributeError):
                    pass
        self.semaphores = None

    def step_wait(self):
        self._wait(self.step_barrier)

    def _wait(self, barrier):
        self.watch.reset()
        try:
            barrier.wait(check=lambda: self._check_workers(barrier))
        except BrokenBarrierError:
            self._check_workers(barrier, broken=True)
            raise

    def _check_workers(self, barrier, broken=False):
        """Raise :class:`WorkerError` naming the worker if one failed, died or is late.

        Called every ``poll`` while the broker is blocked at ``barrier``, and
        once the barrier has broken.
        """
        flags = self.block["flags"]
        late = int(flags[1]) - 1
        if late < 0 and not broken:
            late = self.watch.late(barrier._arrive, barrier.generation)
        if late >= 0:
            self.abort()
            raise late_error(self.hosts[late], self._pid(late), self.spec.timeout)
        if not broken and not any(f.done() for f in self.futures):
            return
        self.abort()
        concurrent.futures.wait(self.futures, timeout=2.0)
        for i, future in enumerate(self.futures):
            error = future.exception(timeout=0) if future.done() else None
            if error is not None and not isinstance(error, BrokenBarrierError) \
                    and "Terminated" not in type(error).__name__:
                # A stolen block's error names the worker whose block it was.
                who = getattr(error, "worker", None)
                who = worker_name(self.hosts[i] if who is None else (who,))
                raise WorkerError(f"{who} failed: {type(error).__name__}: {error}") from error
        i = laggard(self.block, len(self.hosts), [self._pid(p) for p in range(len(self.hosts))],
                    self.deaths.first)
        if i is None:
            if broken:
                return
            raise WorkerError("a worker process stopped unexpectedly; the run was stopped")
        raise late_error(self.hosts[i], self._pid(i), self.spec.timeout, died=True)

    def _pid(self, party):
        return int(self.block["pids"][self.hosts[party][0]])

    def abort(self):
        self.block["flags"][0] = 1
        for barrier in (getattr(self, "span_barrier", None), getattr(self, "step_barrier", None)):
            if barrier is not None:
                barrier.abort()

    def shutdown(self):
        broken = self.broken()
        self.abort()
        if hasattr(self, "deaths"):
            self.deaths.close()
        if getattr(self, "executor", None) is None:
            self._unlink_semaphores()
            return
        # Healthy workers return within a poll of the abort; a stopped or stuck
        # one never does, so a broken run does not wait long for it.
        concurrent.futures.wait(self.futures, timeout=0.2 if broken else 3.0)
        # Then kill them: a worker idle in loky's queue has nothing left to do,
        # and letting N interpreters tear themselves down costs seconds on a
        # busy machine.
        self.executor.shutdown(wait=True, kill_workers=True)
        # Loky's own locks are named semaphores too, released with the executor.
        self.executor = None
        multiprocessing.active_children()  # forgets finished processes and their locks
        gc.collect()
        self._unlink_semaphores()
        self._reap()

    def close(self):
        try:
            super().close()
        finally:
            # Last, once the workers have ended and the block is unlinked.
            self._release_janitor()

    def _release_janitor(self):
        janitor, self.janitor = self.janitor, None
        if janitor is not None:
            janitor.close()

    def _reap(self):
        # Belt and braces: no worker process may outlive the run.

        procs = []
        for pid in self.block["pids"][self.block["pids"] > 0]:
            try:
                procs.append(psutil.Process(int(pid)))
            except (psutil.NoSuchProcess, ValueError):
                pass
        procs = [p for p in procs if _is_child(p)]
        _, alive = psutil.wait_procs(procs, timeout=2.0)
        for p in alive:
            p.kill()


def _is_child(process):
    try:
        return process.ppid() == os.getpid()
    except psutil.NoSuchProcess:
        return False
