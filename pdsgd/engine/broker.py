"""The seed's Broker: owns the parent model and runs bulk-synchronous SGD with N workers.

Semantics: iteration ``t`` gives each of the N workers ``b`` samples of the
epoch's random order (:mod:`pdsgd.engine.shuffle`), and the parent takes one SGD step
with the average over those ``N*b`` samples. That is minibatch SGD with batch
``N*b``, whichever backend runs the workers; the tests hold every backend to it.

The Broker starts the :class:`~pdsgd.engine.data_generator.DataGenerator` (a thread
feeding sample assignments through a bounded queue) and a backend that runs the
workers and the :class:`~pdsgd.engine.aggregator.ResultsAggregator`. It is a *runner*,
used like :class:`~pdsgd.engine.sequential.SequentialRunner`: :func:`pdsgd.train`
creates one whenever the run's :class:`~pdsgd.spec.EngineSpec` is not sequential.

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

from pdsgd.engine.admission import admit_engine
from pdsgd.engine.backends import DEFAULT_BACKEND, get_backend
from pdsgd.engine.blas import one_blas_thread
from pdsgd.engine.data_generator import DataGenerator
from pdsgd.engine.shuffle import n_iterations
from pdsgd.engine.sync import UPDATE_DTYPE, bsp_updates, shift, updates_count
from pdsgd.engine.trace import empty_trace
from pdsgd.errors import PdsgdError
from pdsgd.spec import EngineSpec


class Broker:
    """Bulk-synchronous data-parallel SGD on a parent model, with N workers.

    Parameters
    ----------
    model : MLP
        The parent model, the source of truth: updated in place, current after
        every span (so after every epoch and at every checkpoint).
    X, T : ndarray
        Training inputs and targets, in the model's dtype.
    spec : EngineSpec, optional
        The run's engine options (N, b, backend, algorithm, aggregation...).
    **options
        Without ``spec``: the options of :class:`~pdsgd.spec.EngineSpec`, for
        a spec built from ``model`` (``workers=2`` unless given; the backend
        defaults to ``processes`` even for one worker).
    """

    def __init__(self, model, X, T, spec=None, **options):
        if spec is None:
            options.setdefault("workers", 2)
            if options.get("backend") is None:

                options["backend"] = DEFAULT_BACKEND
            spec = EngineSpec.for_model(model, **options)
        elif options:
            raise TypeError("give either spec or options, not both")
        if spec.sequential:
            raise PdsgdError("this run needs no broker: use the sequential runner")
        if tuple(spec.sizes) != tuple(model.sizes) or spec.dtype != model.dtype.name:
            raise PdsgdError(f"the spec is for a {'-'.join(map(str, spec.sizes))} {spec.dtype} "
                             f"network, the model is {'-'.join(map(str, model.sizes))} "
                             f"{model.dtype}")
        if X.dtype != model.dtype or T.dtype != model.dtype:
            raise PdsgdError(f"the data are {X.dtype}/{T.dtype} but the model is {model.dtype}; "
                             "convert them with .astype(model.dtype)")
        self.model, self.X, self.T, self.spec = model, X, T, spec
        self.backend = get_backend(spec.backend)(model, X, T, spec)
        # Before anything is allocated or started: does the machine have room for it?
        admit_engine(spec, len(X), self.backend.block_bytes(), self.backend.shared_memory,
                     X.nbytes + T.nbytes)
        self._traces, self._iteration = [], 0
        self._updates, self._version = [], 0
        self._limits, self.started = None, False

    @property
    def workers(self):
        """N."""
        return self.spec.workers

    # -------------------------------------------------------------- lifetime
    def start(self):
        """Start the workers (done by ``with`` or the first :meth:`run_epoch`)."""
        if self.started:
            return
        # One BLAS thread for every GEMM in this process: the results then do
        # not depend on the machine's thread count, and backends agree bit for bit.
        self._limits = one_blas_thread()
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
            self._limits.__exit__(None, None, None)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    # -------------------------------------------------------------- training
    def iterations(self, n_samples):
        """Number of iterations (rounds, with averaging) in an epoch of ``n_samples`` samples."""
        return n_iterations(n_samples, self.spec.workers, self.spec.round_batch)

    def run_epoch(self, order, lr, *, first_iteration=0, on_iteration=None, progress=None):
        """Train on one epoch's ``order`` of samples, as the sequential runner does.

        ``on_iteration(t)`` is called at the end of every span, with ``t`` the
        last iteration done (epoch-local); ``progress.update(n)`` likewise.
        """
        self.start()
        spec = self.spec
        with DataGenerator(order, spec.workers, spec.round_batch,
                           first_iteration=first_iteration, span=spec.span,
                           every=spec.checkpoint_every) as generator:
            for span in generator:
                outcome = self.backend.run_span(span, lr, self._iteration)
                self._record_updates(span, outcome.updates)
                self._iteration += span.count
                if outcome.trace is not None:
                    self._traces.append(outcome.trace)
                if progress is not None:
                    progress.update(int(span.n_rows.sum()))
                if on_iteration is not None:
                    on_iteration(span.last)

    def state(self):
        """What a checkpoint must hold beyond the weights to go on bit for bit.

        ``{name: ndarray}``, empty for every strategy and backend but the serial
        simulation of SSP and async in mid-window (:mod:`pdsgd.engine.strategies.schedule`).
        """
        return self.backend.state()

    def restore(self, state):
        """Go on from :meth:`state` of the checkpointed run (after :meth:`start`)."""
        self.start()
        self.backend.restore(state)

    def _record_updates(self, span, updates):
        if updates is None:  # one update per iteration (BSP)
            updates = bsp_updates(span.n_rows, self.spec.workers, self.spec.round_batch)
        self._updates.append(shift(updates, self._iteration, self._version))
        self._version += updates_count(updates)

    @property
    def updates(self):
        """Every applied gradient so far (:data:`~pdsgd.engine.sync.UPDATE_DTYPE` rows):
        who computed it, its iteration, and the updates before its read and its application."""
        return np.concatenate(self._updates) if self._updates else np.zeros(0, UPDATE_DTYPE)

    @property
    def trace(self):
        """The timeline so far: :data:`~.trace.TRACE_DTYPE` rows, iterations counted from 0."""
        return np.concatenate(self._traces) if self._traces else empty_trace()
