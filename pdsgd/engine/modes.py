"""The engine's modes, decoded once: who applies the update, and what is averaged.

Each mode is a small object that knows what it implies, so that no other code
has to decode a mode's name:

* an :class:`Aggregation` (``--aggregate``) knows how many parties cross the
  iteration barrier, whether the broker applies the update, whether workers
  keep private replicas, and whether the update is split by rows;
* an :class:`Algorithm` (``--algorithm``) is a pair of classes, the worker
  side and the aggregator side, and what they allow;
* a :class:`Sync` (``--sync``) says when a worker's gradient reaches the
  weights: after the barrier (BSP, the seed's), as soon as it arrives (SSP and
  async, :mod:`pdsgd.engine.sync`), or straight from the worker (Hogwild!).

:class:`pdsgd.spec.EngineSpec` picks one of each (``spec.aggregation``,
``spec.rules``, ``spec.synchronization``).
"""

from __future__ import annotations

from dataclasses import dataclass

from pdsgd.engine.aggregator import AveragingAggregator, ResultsAggregator
from pdsgd.engine.asynchronous import UpdateLog
from pdsgd.engine.hogwild import Hogwild
from pdsgd.engine.worker import AveragingWorker, Worker

#: What BSP workers send: sufficient factors, or whole gradient matrices.
SENDS = ("factors", "gradients")


@dataclass(frozen=True)
class Aggregation:
    """Who applies an iteration's averaged update (``--aggregate``).

    Attributes
    ----------
    name : str
    broker_applies : bool
        The broker's Results Aggregator updates the shared weights between two
        crossings of the iteration barrier (the seed's ``central``).
    replicas : bool
        Every worker applies the whole update to a private copy (one crossing).
    sharded : bool
        Every worker applies its share of the rows to the shared weights.
    """

    name: str
    broker_applies: bool = False
    replicas: bool = False
    sharded: bool = False

    def step_parties(self, workers):
        """Parties of the iteration barrier: the N workers, and the broker if it applies."""
        return workers + 1 if self.broker_applies else workers

    @property
    def crossings(self):
        """Barrier crossings per iteration."""
        return 1 if self.replicas else 2


AGGREGATIONS = {
    "central": Aggregation("central", broker_applies=True),
    "replicated": Aggregation("replicated", replicas=True),
    "sharded": Aggregation("sharded", sharded=True),
}


@dataclass(frozen=True)
class Algorithm:
    """What the workers compute and how the aggregator combines it (``--algorithm``).

    Attributes
    ----------
    name : str
    worker, aggregator : type
        The worker side (``cls(index, model, X, T, spec)``) and the aggregator
        side (``cls(spec)``).
    aggregates, sends : tuple of str
        The ``--aggregate`` and ``--send`` values it supports.
    averages_parameters : bool
        Workers send their whole parameter vector (a row of the ``replicas`` slot).
    """

    name: str
    worker: type
    aggregator: type
    aggregates: tuple
    sends: tuple
    averages_parameters: bool = False


ALGORITHMS = {
    "bsp": Algorithm("bsp", Worker, ResultsAggregator, tuple(AGGREGATIONS), SENDS),
    # Averaging workers send their parameters; their update is not split by rows.
    "average": Algorithm("average", AveragingWorker, AveragingAggregator,
                         ("central", "replicated"), ("factors",), averages_parameters=True),
}


#: Hogwild!'s: no aggregation at all; every worker writes its own update into
#: the shared weights (not a ``--aggregate`` choice).
LOCK_FREE = Aggregation("none")


@dataclass(frozen=True)
class Sync:
    """When a worker's gradient reaches the weights (``--sync``).

    Attributes
    ----------
    name : str
    pool : type or None
        What the threads and processes backends run instead of the BSP loop
        of :func:`pdsgd.engine.backends.pool.run_worker` (None: that loop).
    bounded : bool
        Takes ``--staleness s`` (SSP).
    aggregate : str or None
        The only ``--aggregate`` it runs with (None: any, or none at all).
    backends : tuple of str
        Where it runs.
    """

    name: str
    pool: type | None = None
    bounded: bool = False
    aggregate: str | None = "replicated"
    backends: tuple = ("serial", "threads", "processes")


SYNCS = {
    "bsp": Sync("bsp", aggregate=None, backends=("serial", "threads", "processes", "dask")),
    "ssp": Sync("ssp", UpdateLog, bounded=True),
    "async": Sync("async", UpdateLog),
    # Shared memory is the point: there is nothing to simulate on one thread.
    "hogwild": Sync("hogwild", Hogwild, aggregate=None, backends=("threads", "processes")),
}
