"""Parameter averaging (Algorithm 1, ``--algorithm average``): BSP's loop, other results.

Every worker takes K local SGD steps from the current weights
(:class:`~pdsgd.engine.worker.AveragingWorker`), sends its whole parameter
vector, and the aggregation averages them
(:class:`~pdsgd.engine.aggregator.AveragingAggregator`): the lock-step loop,
oracle and leader of data parallelism (:mod:`~pdsgd.engine.strategies.data`)
with another worker and aggregator. The arithmetic is in :mod:`pdsgd.engine.averaging`.
"""

from __future__ import annotations

from pdsgd.engine.aggregator import AveragingAggregator
from pdsgd.engine.strategies.data import DataParallel
from pdsgd.engine.worker import AveragingWorker


class ParameterAveraging(DataParallel):
    """Local SGD, then average the parameters; not split by rows, sends parameters only."""

    name = "average"
    aggregates = ("central", "replicated")
    sends = ("factors",)
    averages_parameters = True
    worker = AveragingWorker
    aggregator = AveragingAggregator


AVERAGE = ParameterAveraging()
