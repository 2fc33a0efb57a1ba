"""The seed's Broker: owns the parent model and runs bulk-synchronous SGD with N workers.

Semantics: iteration ``t`` gives each of the N workers ``b`` samples of the
epoch's random order (:mod:`pdsgd.engine.shuffle`), and the parent takes one SGD step
with the average over those ``N*b`` samples. That is minibatch SGD with batch
``N*b``, whichever backend runs the workers; the tests hold every backend to it.

The Broker starts the :class:`~pdsgd.engine.data_generator.DataGenerator` (a thread
feeding sample assignments through a bounded queue) and a backend that runs the
workers and the :class:`~pdsgd.engine.aggregator.ResultsAggregator`. It is a *runner*,
used like :class:`~pdsgd.engine.sequential.SequentialRunner`: :func:`pdsgd.train`
creates one when ``workers > 1`` or a backend is named.

Example
-------
>>> from pdsgd.mlp import MLP
>>> import numpy as np
>>> X = np.random.default_rng(0).random((8, 4)); T = np.eye(2)[[0, 1] * 4]
>>> model = MLP((4, 3, 2))
>>> with Broker(model, X, T, workers=2, backend="serial") as broker:
...     broker.run_epoch(np.arange(8), lr=0.1)
>>> broker.trace.size > 0
True
"""

from __future__ import annotations

import time

import numpy as np
from threadpoolctl import threadpool_limits

from pdsgd.engine.aggregator import SENDS
from pdsgd.engine.backends import DEFAULT_BACKEND, get_backend
from pdsgd.engine.backends.base import AGGREGATES, usable_cores
from pdsgd.engine.data_generator import DataGenerator
from pdsgd.engine.shuffle import n_iterations
from pdsgd.engine.trace import empty_trace
from pdsgd.errors import PdsgdError

#: ``--aggregate`` when none is given, per backend: the faster one measured here.
DEFAULT_AGGREGATE = {"processes": "replicated", "threads": "central", "serial": "central",
                     "dask": "central"}


#: Smallest b at which ``sharded`` is the default on processes (while N <= cores).
SHARDED_FROM_BATCH = 8


def default_aggregate(backend, workers, micro_batch=1, algorithm="bsp"):
    """The ``--aggregate`` used when none is named.

    On processes, while every worker has a core of its own: ``sharded`` from
    b = 8 up, where the update is a GEMM big enough that splitting it by rows
    pays for the second barrier crossing (N = 2, median of interleaved runs on
    the 2-core machine: 1.22x replicated at b = 8, 1.26x-1.36x at b = 16), and
    ``replicated`` below (b = 1 to 4: within noise of sharded, which also
    pulls the weights between the cores' caches every iteration). Past N =
    cores, each extra replica adds the whole update to the cores' work, so the
    seed's ``central`` aggregation (one update, by the broker) degrades more
    gently (see the README's scaling table). Parameter averaging never shards.
    """
    if backend == "processes" and workers > usable_cores():
        return "central"
    if (backend == "processes" and algorithm == "bsp"
            and micro_batch >= SHARDED_FROM_BATCH):
        return "sharded"
    return DEFAULT_AGGREGATE.get(backend, "central")


class Broker:
    """Bulk-synchronous data-parallel SGD on a parent model, with N workers.

    Parameters
    ----------
    model : MLP
        The parent model, the source of truth: updated in place, current after
        every span (so after every epoch and at every checkpoint).
    X, T : ndarray
        Training inputs and targets, in the model's dtype.
    workers : int, default 2
        N.
    micro_batch : int, default 1
        b, samples per worker per iteration.
    backend : {"serial", "threads", "processes", "dask"}, optional
        Default ``"processes"``.
    aggregate : {"central", "replicated", "sharded"}, optional
        Default per backend and N, see :func:`default_aggregate`.
    send : {"factors", "gradients"}, default "factors"
    trace : bool, default True
        Record the timeline (:attr:`trace`).
    timeout : float, default 60
        Seconds a worker may wait at the iteration barrier before the run is
        declared stuck and stopped.
    span : int, default 512
        Most iterations the workers run before the broker regains control
        (progress bar, checkpoints, weights copied back to the parent).
    checkpoint_every : int, optional
        Also hand control back after every multiple of this many iterations of
        an epoch, so that ``on_iteration`` can save a checkpoint there.
    straggler : int, optional
        Make this worker slow on purpose (a lesson on the barrier) ...
    straggler_delay : float, default 0
        ... by this many seconds per iteration.
    algorithm : {"bsp", "average"}, default "bsp"
        Average the workers' gradients every iteration (the seed's BSP), or
        their parameters after ``local_steps`` local SGD steps (Algorithm 1,
        :mod:`pdsgd.engine.averaging`); then an "iteration" is a round of ``N*K*b`` samples.
    local_steps : int, default 1
        K, local steps per round (``"average"`` only).
    scheduler : str, optional
        The ``dask`` backend's scheduler address (default: a LocalCluster of its own).
    """

    def __init__(self, model, X, T, *, workers=2, micro_batch=1, backend=None, aggregate=None,
                 send="factors", trace=True, timeout=60.0, span=512, checkpoint_every=None,
                 straggler=None, straggler_delay=0.0, algorithm="bsp", local_steps=1,
                 scheduler=None):
        from pdsgd.engine.averaging import ALGORITHMS

        backend = backend or DEFAULT_BACKEND
        cls = get_backend(backend)
        aggregate = aggregate or default_aggregate(backend, workers, micro_batch, algorithm)
        if aggregate not in AGGREGATES:
            raise PdsgdError(f"--aggregate {aggregate}: choose one of {', '.join(AGGREGATES)}")
        if send not in SENDS:
            raise PdsgdError(f"--send {send}: choose one of {', '.join(SENDS)}")
        if straggler is not None and not 0 <= straggler < workers:
            raise PdsgdError(f"--straggler {straggler}: workers are numbered 0 to {workers - 1}")
        if algorithm not in ALGORITHMS:
            raise PdsgdError(f"--algorithm {algorithm}: choose one of {', '.join(ALGORITHMS)}")
        if int(local_steps) != local_steps or local_steps < 1:
            raise PdsgdError(f"--local-steps must be a positive integer, got {local_steps}")
        if algorithm == "average" and aggregate == "sharded":
            raise PdsgdError("--aggregate sharded applies to --algorithm bsp only")
        if algorithm == "average" and send != "factors":
            raise PdsgdError("--send applies to --algorithm bsp only: averaging workers send "
                             "their parameters")
        if scheduler is not None and backend != "dask":
            raise PdsgdError(f"--scheduler needs --backend dask (not {backend})")
        if straggler_delay < 0:
            raise PdsgdError(f"--straggler-delay must be >= 0, got {straggler_delay}")
        if X.dtype != model.dtype or T.dtype != model.dtype:
            raise PdsgdError(f"the data are {X.dtype}/{T.dtype} but the model is {model.dtype}; "
                             "convert them with .astype(model.dtype)")
        self.model, self.X, self.T = model, X, T
        self.workers, self.micro_batch = int(workers), int(micro_batch)
        self.backend_name, self.aggregate, self.send = backend, aggregate, send
        self.checkpoint_every = checkpoint_every
        self.span = int(span)
        self.algorithm = algorithm
        # K for averaging, None for BSP; a round of averaging has K*b samples per worker.
        self.local_steps = local_steps if algorithm == "average" else None
        self.round_batch = self.micro_batch * (self.local_steps or 1)
        options = {"scheduler": scheduler} if backend == "dask" else {}
        self.backend = cls(model, X, T, workers=self.workers, micro_batch=self.micro_batch,
                           aggregate=aggregate, send=send, span=self.span, trace=trace,
                           timeout=timeout, straggler=straggler,
                           straggler_delay=straggler_delay, local_steps=self.local_steps,
                           **options)
        self._traces, self._iteration = [], 0
        self._limits, self.started = None, False

    # -------------------------------------------------------------- lifetime
    def start(self):
        """Start the workers (done by ``with`` or the first :meth:`run_epoch`)."""
        if self.started:
            return
        # One BLAS thread for every GEMM in this process: the results then do
        # not depend on the machine's thread count, and backends agree bit for bit.
        self._limits = threadpool_limits(limits=1)
        self.t0 = time.perf_counter()
        self.started = True
        try:
            self.backend.start(self.t0)
        except BaseException:
            self.close()
            raise

    def close(self):
        """Stop the workers and release shared memory; safe to call more than once."""
        if not self.started:
            return
        self.started = False
        try:
            self.backend.close()
        finally:
            self._limits.restore_original_limits()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    # -------------------------------------------------------------- training
    def iterations(self, n_samples):
        """Number of BSP iterations in an epoch of ``n_samples`` samples."""
        return n_iterations(n_samples, self.workers, self.round_batch)

    def run_epoch(self, order, lr, *, first_iteration=0, on_iteration=None, progress=None):
        """Train on one epoch's ``order`` of samples, as the sequential runner does.

        ``on_iteration(t)`` is called at the end of every span, with ``t`` the
        last iteration done (epoch-local); ``progress.update(n)`` likewise.
        """
        self.start()
        with DataGenerator(order, self.workers, self.round_batch,
                           first_iteration=first_iteration, span=self.span,
                           every=self.checkpoint_every) as generator:
            for span in generator:
                rows = self.backend.run_span(span, lr, self._iteration)
                self._iteration += span.count
                if rows is not None:
                    self._traces.append(rows)
                if progress is not None:
                    progress.update(int(span.n_rows.sum()))
                if on_iteration is not None:
                    on_iteration(span.last)

    @property
    def trace(self):
        """The timeline so far: :data:`~.trace.TRACE_DTYPE` rows, iterations counted from 0."""
        return np.concatenate(self._traces) if self._traces else empty_trace()
