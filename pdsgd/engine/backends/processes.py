"""The processes backend: N long-lived loky worker processes around shared memory.

* The workers start once per run (a fresh loky executor, shut down at close, so
  none outlives the run) and stay: each runs :func:`pdsgd.engine.worker.run_worker`
  until told to stop.
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
"""

from __future__ import annotations

import concurrent.futures
import gc
import multiprocessing
import os

import numpy as np
from joblib.externals.loky import ProcessPoolExecutor
from joblib.externals.loky.backend.context import get_context

from pdsgd.engine.backends.base import PoolBackend, WorkerError, usable_cores
from pdsgd.engine.barrier import BrokenBarrierError, CyclicBarrier, barrier_fields

#: Seconds a waiting party spins before it blocks, when every party has a core.
SPIN = 0.0005
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                     "MKL_NUM_THREADS", "BLIS_NUM_THREADS")}

_SEMAPHORES = None  # in a worker: set by the executor's initializer


def _init_worker(semaphores):
    global _SEMAPHORES
    _SEMAPHORES = semaphores
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)


def _barriers(block, semaphores, party, config, step=True):
    """This process's handles on the span and step barriers."""
    spin = config["spin"]
    span = CyclicBarrier(block["span_arrive"], block["span_sleeping"], block["flags"],
                         semaphores[0], party, spin=spin[0])
    if not step:
        return span, None
    step = CyclicBarrier(block["step_arrive"], block["step_sleeping"], block["flags"],
                         semaphores[1], party, spin=spin[1], timeout=config["timeout"])
    return span, step


def _worker_main(index, spec, config):
    """Entry point of worker ``index`` in its process (a module function, so it pickles)."""
    from pdsgd.engine.aggregator import ResultsAggregator, ResultSlots
    from pdsgd.engine.shm import SharedArrays
    from pdsgd.engine.worker import Worker, run_worker
    from pdsgd.mlp import MLP

    block = SharedArrays.attach(spec)
    span, step = _barriers(block, _SEMAPHORES, index, config)
    try:
        block["pids"][index] = os.getpid()
        replicated = config["aggregate"] == "replicated"
        params = block["params"].copy() if replicated else block["params"]
        model = MLP(config["sizes"], bias=config["bias"], dtype=config["dtype"], params=params)
        worker = Worker(index, model, block["X"], block["T"], config["micro_batch"],
                        config["send"], config["delays"][index], **config["averaging"])
        slots = [ResultSlots(block, p, model.n_layers) for p in (0, 1)]
        parent = os.getppid()

        def parent_alive():
            if os.getppid() != parent:
                raise BrokenBarrierError("the broker process has gone")

        run_worker(worker, block, slots, span, step,
                   ResultsAggregator(config["send"], config["micro_batch"],
                                     **config["averaging"]),
                   replicated=replicated, t0=config["t0"], trace=config["trace"],
                   check=parent_alive, sharded=config["aggregate"] == "sharded")
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

    def fields(self):
        n = self.workers
        step_parties = n + 1 if self.aggregate == "central" else n
        return {**super().fields(),
                "X": (self.X.shape, self.X.dtype), "T": (self.T.shape, self.T.dtype),
                **barrier_fields("span", n + 1), **barrier_fields("step", step_parties)}

    def launch(self):
        n, m, block = self.workers, self.model, self.block
        central = self.aggregate == "central"
        block["X"][...] = self.X
        block["T"][...] = self.T
        cores = usable_cores()
        # Spin only while every party that may be running has a core to itself.
        busy = n + 1 if central else n
        worker_spin = SPIN if busy <= cores else 0.0
        parent_spin = SPIN if central and n + 1 <= cores else 0.0
        context = get_context("loky")
        step_parties = n + 1 if central else n
        self.semaphores = ([context.Semaphore(0) for _ in range(n + 1)],
                           [context.Semaphore(0) for _ in range(step_parties)])
        config = dict(sizes=m.sizes, bias=m.bias, dtype=m.dtype.name, workers=n,
                      micro_batch=self.micro_batch, aggregate=self.aggregate, send=self.send,
                      trace=self.trace, timeout=self.timeout, t0=self.t0, delays=self.delays,
                      averaging=self.averaging,
                      spin=(worker_spin, worker_spin))
        self.span_barrier, self.step_barrier = _barriers(
            block, self.semaphores, n, dict(spin=(0.0, parent_spin), timeout=None),
            step=central)  # replicated, sharded: the broker takes no part in iterations
        self.executor = ProcessPoolExecutor(max_workers=n, initializer=_init_worker,
                                            initargs=(self.semaphores,), env=ONE_THREAD,
                                            context=context)
        self.futures = [self.executor.submit(_worker_main, i, block.spec, config)
                        for i in range(n)]

    def span_wait(self):
        self._wait(self.span_barrier)
        if self.semaphores is not None:
            # Every worker has crossed once, so each holds its semaphores open:
            # their names in /dev/shm are no longer needed. Removing them now
            # means no exit path, however abrupt, can leave them behind.
            self._unlink_semaphores()

    def _unlink_semaphores(self):
        import _multiprocessing

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
        try:
            barrier.wait(check=self._check_workers)
        except BrokenBarrierError:
            self._check_workers(broken=True)
            raise

    def _check_workers(self, broken=False):
        """Raise :class:`WorkerError` naming the worker if one has failed or died."""
        if not broken and not any(f.done() for f in self.futures):
            return
        self.abort()
        concurrent.futures.wait(self.futures, timeout=2.0)
        for i, future in enumerate(self.futures):
            error = future.exception(timeout=0) if future.done() else None
            if error is not None and not isinstance(error, BrokenBarrierError) \
                    and "Terminated" not in type(error).__name__:
                raise WorkerError(f"worker {i} failed: {type(error).__name__}: {error}") \
                    from error
        i = self._laggard()
        if i is None:
            if broken:
                return
            raise WorkerError("a worker process stopped unexpectedly; the run was stopped")
        pid = int(self.block["pids"][i])
        raise WorkerError(f"worker {i} (pid {pid}) died: its process ended without finishing "
                          "the iteration; the run was stopped and its workers ended")

    def _laggard(self):
        """The worker that is behind the others at the barriers: the one that died."""
        arrivals = [(int(self.block["span_arrive"][i]), int(self.block["step_arrive"][i]))
                    for i in range(self.workers)]
        if len(set(arrivals)) < 2:
            return None
        return int(np.argmin([s * 2**32 + t for s, t in arrivals]))

    def abort(self):
        self.block["flags"][0] = 1
        for barrier in (getattr(self, "span_barrier", None), getattr(self, "step_barrier", None)):
            if barrier is not None:
                barrier.abort()

    def shutdown(self):
        self.abort()
        if getattr(self, "executor", None) is None:
            self._unlink_semaphores()
            return
        done, pending = concurrent.futures.wait(self.futures, timeout=3.0)
        self.executor.shutdown(wait=True, kill_workers=bool(pending))
        # Loky's own locks are named semaphores too, released with the executor.
        self.executor = None
        multiprocessing.active_children()  # forgets finished processes and their locks
        gc.collect()
        self._unlink_semaphores()
        self._reap()

    def _reap(self):
        # Belt and braces: no worker process may outlive the run.
        import psutil

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
    import psutil

    try:
        return process.ppid() == os.getpid()
    except psutil.NoSuchProcess:
        return False
