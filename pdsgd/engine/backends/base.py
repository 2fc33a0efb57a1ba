"""What every backend is: the interface the Broker drives, and what backends share.

The broker hands a backend one *span* of iterations at a time (up to the next
checkpoint, epoch end or progress update) and gets the span's
:class:`~pdsgd.engine.strategies.base.Outcome` back. What happens in a span is
the run's strategy's (:mod:`pdsgd.engine.strategies`): a backend launches the
workers, lays out their shared memory, provides the barriers and notices
failures, and decides nothing about the mode.
A backend is configured by one object, the run's
:class:`~pdsgd.spec.EngineSpec`, and says through class attributes and
:meth:`Backend.default_aggregate` what it does best, as joblib's backends do.
"""

from __future__ import annotations

import abc

from pdsgd.errors import PdsgdError


class WorkerError(PdsgdError):
    """A worker failed or died; the run was stopped and everything released."""


class Backend(abc.ABC):
    """Runs the N workers of a :class:`~pdsgd.engine.broker.Broker`.

    Parameters
    ----------
    model : MLP
        The parent model; after each span it holds the new weights.
    X, T : ndarray
        Training inputs and targets, in the model's dtype.
    spec : EngineSpec
        Everything else: N, b, the strategy, the aggregation, what is sent,
        the span length, trace, timeout, straggler.

    Attributes
    ----------
    name : str
        The ``--backend`` name.
    strategy : Strategy
        The run's strategy (``spec.strategy``).
    shared_memory : bool
        Whether the workers' block of arrays lives in shared memory.
    """

    name = "base"
    shared_memory = False  # whether its block of arrays lives in /dev/shm

    def __init__(self, model, X, T, spec):
        self.model, self.X, self.T, self.spec = model, X, T, spec
        self.strategy = spec.strategy

    @classmethod
    def default_aggregate(cls, spec):
        """The ``--aggregate`` this backend uses when none is named: the seed's ``central``."""
        return "central"

    def block_bytes(self):
        """Bytes of memory the backend will lay out for its workers (checked before start)."""
        return 0

    def start(self, t0):
        """Start the workers; ``t0`` is the run's ``time.perf_counter()`` origin."""
        self.t0 = t0

    @abc.abstractmethod
    def run_span(self, span, lr, first):
        """Run the iterations of ``span`` (a :class:`~pdsgd.engine.data_generator.Span`).

        Returns
        -------
        Outcome
            Trace rows (iterations from ``first``; None when the spec asks
            for no trace) and the applied gradients (None: one update per
            iteration): :class:`~pdsgd.engine.strategies.base.Outcome`.
        """

    def state(self):
        """The run's state beyond the weights, for a checkpoint (:meth:`Broker.state`): none."""
        return {}

    def restore(self, state):
        """Go on from :meth:`state`: nothing to do where it is empty."""
        return None

    @abc.abstractmethod
    def close(self):
        """Stop the workers and release what they used; safe to call twice."""
