"""What a strategy is: how N workers train together, whatever runs them.

A :class:`Strategy` owns the three things that make a way of training what it
is, and a backend (:mod:`pdsgd.engine.backends`) only moves data for it:

* its **serial span** (:meth:`Strategy.serial`): the oracle, every worker's
  arithmetic in one thread, in a fixed order; the ``serial`` backend runs it;
* its **worker loop** (:meth:`Strategy.work`): what one thread or process of
  a pool (``threads``, ``processes``) does span after span, through a
  :class:`~pdsgd.engine.backends.pool.Host`: the shared arrays, the span and
  iteration barriers, a lock;
* its **leader** (:meth:`Strategy.leader`): the broker's side of a span on a
  pool (publish the span, cross the barriers, take the weights back);
* and what it asks of a backend: its shared arrays (:meth:`Strategy.fields`),
  a lock (:attr:`Strategy.uses_lock`), whether a process may run several
  workers in turns (:attr:`Strategy.shares_hosts`), the backends it runs on.

Every span returns an :class:`Outcome`: the trace rows and, for a strategy
that does not apply one update per iteration, the applied gradients.
"""

from __future__ import annotations

from typing import NamedTuple

from pdsgd.engine.aggregator import ResultsAggregator
from pdsgd.engine.modes import AGGREGATIONS, LOCK_FREE
from pdsgd.engine.worker import Worker
from pdsgd.errors import OptionError
from pdsgd.mlp import MLP


class Outcome(NamedTuple):
    """What a span gives back to the broker.

    Attributes
    ----------
    trace : ndarray or None
        Trace rows (:data:`~pdsgd.engine.trace.TRACE_DTYPE`); None without a trace.
    updates : ndarray or None
        The span's applied gradients (:data:`~pdsgd.engine.sync.UPDATE_DTYPE`,
        span-local numbers); None: one update per iteration, all of an
        iteration's gradients read and applied together (BSP).
    """

    trace: object
    updates: object = None


class Strategy:
    """How N workers train together (see the module docstring); registered by name.

    Attributes
    ----------
    name : str
        The option value that picks it (``--algorithm bsp``, ``--sync ssp``...).
    option : {"algorithm", "sync", "parallel"}
        The :class:`~pdsgd.spec.EngineSpec` option whose value is :attr:`name`.
    backends : tuple of str
        Where it runs.
    aggregates, sends : tuple of str
        The ``--aggregate`` and ``--send`` values it takes.
    aggregate : str or None
        The only ``--aggregate`` it runs with (None: any, or none at all).
    bounded : bool
        Takes ``--staleness s`` (SSP).
    averages_parameters : bool
        Workers send their whole parameters (``--local-steps K`` applies).
    shares_hosts : bool
        One process may run several of its workers, in turns (more workers than
        cores, ``--hosting cores``); it crosses the iteration barrier once for them.
    uses_lock : bool
        Its workers take blocks under a lock shared by the pool.
    worker, aggregator : type
        The worker side (``cls(index, model, X, T, spec)``) and the aggregator
        side (``cls(spec)``).
    """

    name = "base"
    option = "algorithm"
    backends = ("serial", "threads", "processes")
    aggregates = ()
    sends = ("factors",)
    aggregate = None
    bounded = False
    averages_parameters = False
    shares_hosts = False
    uses_lock = False
    worker = Worker
    aggregator = ResultsAggregator

    def check(self, spec):
        """Raise :class:`~pdsgd.errors.OptionError` if ``spec`` asks what it cannot do."""

    def resolve_aggregate(self, spec, backend):
        """The ``--aggregate`` a run uses: the named one, else ``backend``'s default."""
        return spec.aggregate if spec.aggregate is not None else backend.default_aggregate(spec)

    def aggregation(self, spec):
        """Who applies the update: an :class:`~pdsgd.engine.modes.Aggregation`."""
        return AGGREGATIONS.get(spec.aggregate, LOCK_FREE)

    def make_worker(self, index, model, X, T, spec):
        """Worker ``index``, reading ``model``."""
        return self.worker(index, model, X, T, spec)

    def make_aggregator(self, spec):
        """The Results Aggregator of a run."""
        return self.aggregator(spec)

    def worker_model(self, spec, params):
        """The weights a pool's worker reads: the shared ``params``, or a private replica."""
        if self.aggregation(spec).replicas:
            params = params.copy()
        return MLP(spec.sizes, bias=spec.bias, dtype=spec.dtype, params=params)

    def fields(self, spec):
        """The shared arrays a pool needs for it: ``{name: (shape, dtype)}``."""
        return {}

    def serial(self, model, X, T, spec):
        """The serial oracle of a run on ``model``.

        An object with ``run_span(span, lr, first, t0)`` returning an :class:`Outcome`.
        """
        raise NotImplementedError

    def leader(self, pool):
        """The broker's side on ``pool`` (a :class:`~pdsgd.engine.backends.pool.PoolBackend`).

        An object with ``run_span(span, lr, first)`` returning an :class:`Outcome`.
        """
        raise NotImplementedError

    def rounds(self, backend):
        """The broker's side on a backend that runs one round at a time (``dask``).

        An object with ``run_span(span, lr, first)``; only strategies that list
        ``dask`` in :attr:`backends` have one.
        """
        raise NotImplementedError

    def round_worker(self, index, spec, X, T):
        """Worker ``index`` kept in a process of such a backend: ``run(params, X, T, indices,
        n_rows, lr)`` returns its result of a round."""
        raise NotImplementedError

    def work(self, host):
        """The life of one thread or process of a pool: run spans until the broker says stop.

        ``host`` is a :class:`~pdsgd.engine.backends.pool.Host`.
        """
        raise NotImplementedError


class WithoutBarrier(Strategy):
    """A ``--sync`` strategy: no iteration barrier, BSP's algorithm and factors only."""

    option = "sync"
    uses_lock = True  # blocks are handed out in order, under a lock

    def check(self, spec):
        for option, value, allowed in (("algorithm", spec.algorithm, "bsp"),
                                       ("send", spec.send, "factors")):
            if value != allowed:
                raise OptionError(option, value, "applies to {sync}bsp only")
        if spec.backend is not None and spec.backend not in self.backends:
            raise OptionError("sync", spec.sync, f"runs on {{backend}}"
                              f"{' or '.join(self.backends)} only (not {spec.backend})")
        if spec.aggregate is not None and spec.aggregate != self.aggregate:
            raise OptionError("aggregate", spec.aggregate,
                              f"applies to {{sync}}bsp only: {{sync}}{spec.sync} "
                              + (f"uses {self.aggregate}" if self.aggregate
                                 else "has no aggregation"))

    def resolve_aggregate(self, spec, backend):
        return self.aggregate

    def leader(self, pool):
        return _FreeSpans(self, pool)

    def reset(self, block, spec):
        """Before a span: clear the strategy's shared words (who holds what, the records)."""

    def collect(self, pool, span, first):
        """After a span: take the weights back; return its :class:`Outcome`."""
        raise NotImplementedError


class _FreeSpans:
    """The broker's side of a span without the barrier: publish, let go, wait, collect."""

    def __init__(self, strategy, pool):
        self.strategy, self.pool = strategy, pool

    def run_span(self, span, lr, first):
        pool = self.pool
        pool.publish(span, lr)
        self.strategy.reset(pool.block, pool.spec)
        if pool.spec.trace:
            pool.block["sync_times"][:] = 0.0
        pool.go(span.count)
        pool.span_wait()  # every block is in
        return self.strategy.collect(pool, span, first)
