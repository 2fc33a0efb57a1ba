"""Who applies a data-parallel iteration's update (``--aggregate``), and what workers send.

An :class:`Aggregation` knows what it implies, so that no other code has to
decode its name: how many parties cross the iteration barrier, whether the
broker applies the update, whether workers keep private replicas, and whether
the update is split by rows. The strategies (:mod:`pdsgd.engine.strategies`)
say which aggregations they take; :attr:`pdsgd.spec.EngineSpec.aggregation`
is the run's.
"""

from __future__ import annotations

from dataclasses import dataclass

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

#: Hogwild!'s: no aggregation at all; every worker writes its own update into
#: the shared weights (not a ``--aggregate`` choice).
LOCK_FREE = Aggregation("none")
