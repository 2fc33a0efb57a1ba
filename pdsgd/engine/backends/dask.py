"""The dask backend: the strategy's rounds, run as dask.distributed futures.

The broker side is the strategy's (:meth:`pdsgd.engine.strategies.base.Strategy.rounds`:
for data-parallel BSP and parameter averaging, one round is one iteration or K
local steps, aggregated by the broker in worker order, as the serial backend
does: the weights agree bit for bit). This backend moves the data of a round
(:meth:`DaskBackend.round`):

1. it scatters the parent's weights to the N chosen Dask workers (once per round);
2. it submits N tasks, task ``i`` pinned to Dask worker ``i``: each runs the
   strategy's round worker (:meth:`~pdsgd.engine.strategies.base.Strategy.round_worker`),
   the very worker code of the other backends, and returns its result;
3. gathering the N results is the barrier.

The training data are scattered once per run (every chosen worker holds all of
``X`` and ``T``); a worker that joins later fetches them from a peer.

Losing a worker: a round is a pure function of (weights, samples, lr), so it is
simply computed again. The tasks are pinned *loosely*: when their worker has
gone, the scheduler reruns them on another (Dask retries a task whose worker
died, up to ``distributed.scheduler.allowed-failures`` times). If the round's
data were lost too, the broker scatters them again and repeats the round,
until ``timeout`` seconds have passed. The run finishes with the same weights;
it stops with :class:`WorkerError` only when no round completes in that time.

With no scheduler address the backend starts a ``LocalCluster`` of N
single-threaded worker processes on 127.0.0.1, and closes it on every exit path.

Getting ready is bounded by ``timeout`` seconds in all: reaching the scheduler
(an address that refuses connections fails at once), N workers joining, and
the training data reaching them; past that, a one-line error says which step
did not finish. So is every round, with its retries: a round that cannot
finish (a scheduler cut off from its workers) ends the run within ``timeout``
seconds of its start, closing included. Each of these budgets keeps its last
:data:`CLOSING` seconds (at most a quarter of it) for closing the client, whose
goodbye to workers it cannot reach would otherwise wait on the network.
"""

from __future__ import annotations

import logging
import secrets
import signal
import time

import psutil
from threadpoolctl import threadpool_limits

from pdsgd.engine.backends.base import Backend, WorkerError
from pdsgd.engine.backends.processes import deaf_to_ctrl_c, start_trackers
from pdsgd.engine.backends.scheduler_probe import probe, unreachable
from pdsgd.engine.security import for_address

#: Seconds between two tries of a round whose data were lost with a worker.
RETRY_PAUSE = 0.5
#: Seconds of every budget (at most a quarter of it) kept for closing the client and
#: for the process to end after it.
CLOSING = 1.0
_NOISY = ("distributed", "distributed.nanny", "distributed.scheduler", "distributed.worker",
          "distributed.core", "distributed.comm", "distributed.deploy.spec", "tornado",
          "tornado.application", "bokeh")

_STATE = {}  # in a Dask worker process: (run token, worker index) -> (Worker, ResultSlots)


def local_cluster(workers):
    """A ``LocalCluster`` of ``workers`` single-threaded processes, listening on 127.0.0.1 only.

    No dashboard; the scheduler's small HTTP server takes a free port rather
    than 8787, so that two clusters never fight over one. Close it when done
    (it is a context manager). With ``workers=0`` it returns at once, and
    ``cluster.scale(N)`` starts the workers in the background.
    """
    import dask
    from distributed import LocalCluster

    # Dask's active memory manager drops "extra" replicas of a key: the copies of the
    # training data placed on every worker, which every round then fetched again.
    with dask.config.set({"distributed.scheduler.active-memory-manager.start": False}):
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                            host="127.0.0.1", dashboard_address=None,
                            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                            silence_logs=logging.ERROR, preload=[__name__])


def dask_setup(worker):
    """Run by each local Dask worker process as it starts (the cluster's ``preload``).

    Ctrl-C, a closed terminal or ``kill`` of the process group signals every
    process in it: the workers printed a KeyboardInterrupt traceback each, or
    died at once from SIGTERM, and the scheduler (in the trainer's process)
    logged the lost workers as errors before the trainer's own handler had run.
    They ignore those signals; the trainer, which gets them too, closes the
    cluster, and a worker whose nanny has gone exits by itself (dask watches
    the pipe from its parent; closing ends a worker with SIGKILL if need be).
    """
    for name in ("SIGINT", "SIGHUP", "SIGTERM"):
        try:
            signal.signal(getattr(signal, name), signal.SIG_IGN)
        except (AttributeError, ValueError):  # no such signal, or not the main thread
            pass


def _state(token, index, spec, X, T):
    """This process's worker for (run, index), made once and kept between rounds."""
    state = _STATE.get((token, index))
    if state is None:
        threadpool_limits(limits=1)  # one core per Dask worker, and reproducible GEMMs
        state = _STATE[(token, index)] = spec.strategy.round_worker(index, spec, X, T)
    return state


def round_task(token, index, spec, params, X, T, indices, n_rows, lr):
    """Worker ``index``'s part of one round, run in a Dask worker process.

    Returns
    -------
    result, seconds
        The worker's result (:meth:`pdsgd.engine.worker.Worker.result`) and how
        long the computation took.
    """
    start = time.perf_counter()
    result = _state(token, index, spec, X, T).run(params, X, T, indices, n_rows, lr)
    return result, time.perf_counter() - start


def forget(token):
    """Drop a finished run's Workers from a Dask worker process (``client.run``)."""
    for key in [k for k in _STATE if k[0] == token]:
        del _STATE[key]


class DaskBackend(Backend):
    """N tasks per round on N Dask workers (see :class:`~.base.Backend`).

    The spec's ``scheduler`` is a running scheduler's address (``tcp://HOST:8786``);
    None starts a LocalCluster.
    """

    name = "dask"

    def __init__(self, model, X, T, spec):
        super().__init__(model, X, T, spec)
        self.client = self.cluster = None
        self.ends_by = None  # while a budget runs: when the run must have ended, closed

    # -------------------------------------------------------------- lifetime
    def start(self, t0):
        super().start(t0)
        start_trackers()  # before the local cluster's processes need one
        self.token = secrets.token_hex(4)
        self._quiet()
        # Everything before the first round shares one deadline: --timeout.
        self._budget()
        try:
            self._connect()
            self._place()
            self._scatter_data()
        except BaseException:
            self._end_starting_workers()
            self.close()
            raise
        self.ends_by = None
        self.leader = self.strategy.rounds(self)
        self.rounds = 0

    def _quiet(self):
        # Dask logs every restarted worker and lost connection at WARNING: noise
        # for a student, so only errors get through while the run lasts.
        self._levels = {name: logging.getLogger(name).level for name in _NOISY}
        for name in _NOISY:
            logging.getLogger(name).setLevel(logging.ERROR)

    def _budget(self):
        """Start a budget of --timeout seconds: its steps' deadline, and the run's end."""
        self.ends_by = time.monotonic() + self.spec.timeout
        self.deadline = self.ends_by - min(CLOSING, self.spec.timeout / 4)

    def _left(self):
        """Seconds left before the deadline (at least a little, so that a call can fail)."""
        return max(0.1, self.deadline - time.monotonic())

    def _connect(self):
        from distributed import Client

        if self.spec.scheduler is None:
            # The scheduler now, the workers in the background: waiting for
            # them below is bounded by the deadline.
            self.cluster_started = time.time()
            with deaf_to_ctrl_c():  # its threads, and the workers they start, too
                self.cluster = local_cluster(0)
            self.cluster.scale(self.spec.workers)
            address = self.cluster.scheduler_address
        else:
            address = self.spec.scheduler
        security = for_address(address, self.spec.bundle)  # None for a plain tcp:// one
        if self.spec.scheduler is not None:
            # The first exchange bounded by --timeout, whatever listens there (TLS too).
            tls = security.get_connection_args("client") if security is not None else None
            probe(address, self._left(), tls, limit=self.spec.timeout)
        try:
            self.client = Client(address, timeout=self._left(), set_as_default=False,
                                 security=security)
        except Exception as error:  # refused (a TLS peer without our bundle), or went away
            why = f"{type(error).__name__}: {str(error)[:100]}"
            if security is not None:
                why += "; check that --bundle is this class's"
            raise unreachable(address, self.spec.timeout, why) from None
        self._wait_for_workers(self._left())

    def _wait_for_workers(self, timeout):
        try:
            self.client.wait_for_workers(self.spec.workers, timeout=timeout)
        except TimeoutError:
            have = len(self.client.scheduler_info(n_workers=-1)["workers"])
            where = ("the local Dask cluster started" if self.cluster is not None
                     else "the Dask scheduler has")
            raise WorkerError(f"{where} {have} workers, fewer than the {self.spec.workers} "
                              f"asked for, within --timeout {self.spec.timeout:g} s; ask for "
                              "fewer with --workers, or start more with `dask worker ADDRESS`"
                              ) from None

    def _place(self):
        """Choose N distinct Dask workers, keeping those already chosen that are still there."""
        alive = sorted(self.client.scheduler_info(n_workers=-1)["workers"])
        kept = [a for a in getattr(self, "addresses", []) if a in alive]
        spare = [a for a in alive if a not in kept]
        self.addresses = (kept + spare)[:self.spec.workers]
        # Fewer alive than N (a worker has just died): share the ones left.
        while len(self.addresses) < self.spec.workers:
            self.addresses.append(alive[len(self.addresses) % len(alive)])

    def _scatter(self, data, **where):
        """``client.scatter`` within the budget: its own timeout bounds only the wait for
        the workers to exist, not the transfer to a worker the scheduler cannot reach."""
        return self.client.sync(self.client._scatter, data, hash=False, timeout=self._left(),
                                callback_timeout=self._left(), **where)

    def _scatter_data(self):
        try:
            self.data = self._scatter([self.X, self.T], workers=self.addresses, broadcast=True)
        except TimeoutError:
            size = (self.X.nbytes + self.T.nbytes) / 2**20
            raise WorkerError(f"the training data ({size:,.1f} MiB) did not reach the "
                              f"{self.spec.workers} Dask workers within --timeout "
                              f"{self.spec.timeout:g} s; the run was stopped") from None

    def _end_starting_workers(self):
        """Kill the local cluster's worker processes: closing it waits for slow starters."""
        if self.cluster is None:
            return
        for name in _NOISY:  # the nannies would report every kill as an error
            logging.getLogger(name).setLevel(logging.CRITICAL)
        for child in psutil.Process().children():
            try:
                if child.create_time() >= self.cluster_started - 1 and \
                        "spawn_main" in " ".join(child.cmdline()):
                    child.kill()
            except psutil.Error:
                pass

    def close(self):
        client, cluster, self.client, self.cluster = self.client, self.cluster, None, None
        # Within a budget (a failed start or round), closing gets what is left of it:
        # the scheduler may not reach the workers to pass the goodbye on.
        ends_by = time.monotonic() + self.spec.timeout if self.ends_by is None else \
            self.ends_by

        def left():
            return max(0.1, ends_by - time.monotonic())

        try:
            if client is not None:
                try:
                    if cluster is None:  # a shared scheduler lives on: tidy its workers
                        client.sync(client._run, forget, self.token, on_error="ignore",
                                    callback_timeout=left() / 2)
                except TimeoutError:
                    pass  # the workers keep a few objects of this run, nothing more
                finally:
                    try:
                        client.close(timeout=left() / 2)  # the rest: the process's end
                    except TimeoutError:
                        pass  # the scheduler did not answer: nothing of ours is left there
        finally:
            try:
                if cluster is not None:
                    cluster.close()
            finally:
                for name, level in getattr(self, "_levels", {}).items():
                    logging.getLogger(name).setLevel(level)

    # -------------------------------------------------------------- training
    def run_span(self, span, lr, first):
        outcome = self.leader.run_span(span, lr, first)
        self._place()  # once a span: notice workers that left or joined
        return outcome

    def round(self, indices, n_rows, lr):
        """Run one round on the cluster: ``[(result, seconds)]``, worker by worker.

        The gather is the barrier. A round whose data a lost worker took along
        is repeated; every wait of the round and its tries shares one budget,
        so that a round that cannot finish ends the run within ``timeout``
        seconds, closing included.
        """
        self._budget()
        while True:
            try:
                results = self._submit_and_gather(indices, n_rows, lr)
                self.ends_by = None
                return results
            except WorkerError:
                raise
            except Exception as error:  # data lost with a worker, a worker gone mid-scatter
                if time.monotonic() + RETRY_PAUSE >= self.deadline:
                    raise WorkerError(f"round {self.rounds} kept failing on the Dask cluster "
                                      f"({type(error).__name__}: {error}); the run was stopped "
                                      f"within --timeout {self.spec.timeout:g} s") from error
                time.sleep(RETRY_PAUSE)  # let the scheduler notice the loss (and a restart)
                self._wait_for_workers(self._left())
                self._place()
                self._scatter_data()

    def _submit_and_gather(self, indices, n_rows, lr):
        from distributed import wait
        from distributed.scheduler import KilledWorker

        client, X, T = self.client, *self.data
        # A fresh key for every try: Dask would hand back a failed key's old future.
        self.tries = getattr(self, "tries", 0) + 1
        try:
            # One copy of the weights per worker, sent straight to it: no second hop.
            copies = [self._scatter(self.model.params, workers=[address])
                      for address in self.addresses]
            futures = [client.submit(round_task, self.token, i, self.spec, params, X, T,
                                     indices, n_rows, lr,
                                     key=f"pdsgd-{self.token}-{self.tries}-{i}",
                                     workers=[address], allow_other_workers=True, pure=False)
                       for i, (address, params) in enumerate(zip(self.addresses, copies))]
            with client.as_current():  # wait() asks for "the" client; ours is not the default
                wait(futures, timeout=self._left())
            # Fetching the results is a wait on the network too: bounded like the rest.
            results = client.sync(client._gather, futures, callback_timeout=self._left())
        except KilledWorker as error:
            raise WorkerError(f"a task of round {self.rounds} was running on every Dask "
                              f"worker that died ({error}); the run was stopped") from error
        except TimeoutError:
            raise WorkerError(f"round {self.rounds} did not finish on the Dask cluster; the "
                              f"run was stopped within --timeout {self.spec.timeout:g} s"
                              ) from None
        self.rounds += 1
        return results
