"""The serial backend: the run's strategy in one process, the oracle for the other backends.

It runs the strategy's serial span (:meth:`pdsgd.engine.strategies.base.Strategy.serial`):
every worker's arithmetic, one after another in the calling thread, exactly as
the parallel backends compute it, with nothing running at the same time (for
data-parallel BSP: the workers, then the Results Aggregator; for SSP and
async: a seeded schedule; for tensor parallelism: turns at every crossing).
"""

from __future__ import annotations

from pdsgd.engine.backends.base import Backend


class SerialBackend(Backend):
    """N workers taking turns in the calling thread (see :class:`~.base.Backend`)."""

    name = "serial"

    def start(self, t0):
        super().start(t0)
        self.runner = self.strategy.serial(self.model, self.X, self.T, self.spec)

    def run_span(self, span, lr, first):
        return self.runner.run_span(span, lr, first, self.t0)

    def state(self):
        """The serial simulation's window in play, under SSP and async (else empty)."""
        return self.runner.state() if hasattr(self.runner, "state") else {}

    def restore(self, state):
        if hasattr(self.runner, "restore"):
            self.runner.restore(state)

    def close(self):
        """Nothing runs outside the calling thread: nothing to stop."""
