"""What a run produces: :class:`TrainResult`, or :class:`TrainingStopped` when asked to stop.

It also names the vocabulary of ``TrainResult.trace``
(:data:`pdsgd.engine.trace.TRACE_DTYPE`): its phases (``COMPUTE``, ``WAIT``,
``PHASES``), the aggregator's worker id (``AGGREGATOR``), the seconds per worker
and phase (``summarize``), the workers' share of time spent waiting
(``wait_share``), the staleness histogram (``histogram``) and the iterations an
epoch takes (``n_iterations``), so that
the readers of a result (the course, the study) read it without importing the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pdsgd.engine.shuffle import n_iterations
from pdsgd.engine.strategies import TENSOR
from pdsgd.engine.sync import histogram, staleness
from pdsgd.engine.trace import AGGREGATOR, COMPUTE, PHASES, WAIT, summarize, wait_share
from pdsgd.errors import PdsgdError
from pdsgd.files import json_bytes, make_dirs, npz_bytes, remove_empty, write_files
from pdsgd.mlp import MLP

__all__ = ["AGGREGATOR", "COMPUTE", "PHASES", "WAIT", "TrainResult", "TrainingStopped",
           "histogram", "n_iterations", "starting_workers", "summarize",
           "wait_share"]


def starting_workers(workers):
    """``"starting 1 worker"``, ``"starting 4 workers"``: what a run does before it trains."""
    return f"starting {workers} worker{'' if workers == 1 else 's'}"


class TrainingStopped(Exception):
    """The run was asked to stop (``train(stop=...)``) before its last epoch ended.

    Attributes
    ----------
    result : TrainResult
        What the run produced until it stopped: the history of the finished
        epochs, the model as it stood (the parent is current at every stop
        point) and the trace so far.
    epochs_done : int
        Epochs finished before the stop.
    train_seconds : float
        Seconds spent training, the epoch cut short included (``result.history``
        holds finished epochs only).
    """

    def __init__(self, result, partial_seconds=0.0):
        self.result = result
        self.epochs_done = len(result.history["epoch"])
        self.train_seconds = result.train_seconds + partial_seconds
        super().__init__(f"stopped after epoch {self.epochs_done} of {result.config['epochs']}")


@dataclass
class TrainResult:
    """What a training run produced.

    Attributes
    ----------
    model : MLP
        The parent model: the run's output.
    history : dict of list
        Per epoch: ``epoch``, ``loss`` (half the squared error, summed over the
        outputs and averaged over the training set), ``train_accuracy``,
        ``test_accuracy`` and ``seconds`` (training time of the epoch,
        evaluation excluded).
    trace : ndarray or None
        The engine's timeline (:data:`pdsgd.engine.trace.TRACE_DTYPE`); None for a
        sequential run.
    updates : ndarray or None
        Every applied gradient (:data:`pdsgd.engine.sync.UPDATE_DTYPE`): who
        computed it, its iteration, and how many updates the weights held when
        it read them and when it was applied; None for a sequential run.
    config : dict
        The run's settings and its :class:`~pdsgd.spec.EngineSpec`, for the record.
    """

    model: MLP
    history: dict
    trace: np.ndarray | None = None
    config: dict = field(default_factory=dict)
    updates: np.ndarray | None = None

    @property
    def staleness(self):
        """Per applied gradient, the updates applied between its read and its own application.

        All 0 under BSP; ``np.bincount`` of it is the staleness histogram
        (:func:`pdsgd.plots.plot_staleness`). None for a sequential run.
        """
        return None if self.updates is None else staleness(self.updates)

    @property
    def test_accuracy(self):
        """Test accuracy after the last epoch."""
        return self.history["test_accuracy"][-1]

    @property
    def train_seconds(self):
        """Seconds spent training (evaluation excluded), all epochs together."""
        return float(sum(self.history["seconds"]))

    @property
    def samples_per_second(self):
        """Training throughput over the whole run."""
        return self.config["train_size"] * len(self.history["seconds"]) / self.train_seconds

    @property
    def startup_seconds(self):
        """Seconds spent starting the workers before training (0 on the sequential path)."""
        return float(self.config.get("startup_seconds", 0.0))

    def summary(self):
        """One line: accuracy, loss, training time and throughput, and the workers' start-up."""
        c = self.config
        mode = c.get("sync", "bsp")
        sync = "" if mode == "bsp" else f" {mode}" + (f" s={c['staleness']}" if mode == "ssp"
                                                      else "")
        startup, split = "", " tensor-parallel" if c.get("parallel") == TENSOR else ""
        if c.get("backend", "sequential") != "sequential":
            startup = f", after {self.startup_seconds:.2f} s {starting_workers(c['workers'])}"
        return (f"{c['dataset']} {'-'.join(map(str, self.model.sizes))} "
                f"N={c['workers']} b={c['micro_batch']}{split}{sync} {c['epochs']} epochs: "
                f"test accuracy {self.test_accuracy:.4f}, loss {self.history['loss'][-1]:.4f}, "
                f"{self.train_seconds:.2f} s training ({self.samples_per_second:,.0f} "
                f"samples/s){startup}")

    def save(self, out_dir):
        """Write ``model.npz`` and ``metrics.json`` into ``out_dir``: both, or neither.

        Raises
        ------
        PdsgdError
            If they cannot be written (a full disk, say): one line naming
            where. Nothing is left behind, not even the folder if this call
            created it, and the result, its model included, is unchanged.
        """
        out = Path(out_dir)
        made = []
        try:
            made = make_dirs(out)
            write_files({out / "model.npz": npz_bytes(**self.model.arrays()),
                         out / "metrics.json": json_bytes({"config": self.config,
                                                           "history": self.history,
                                                           "summary": self.summary()})})
        except OSError as error:
            remove_empty(made)
            reason = error.strerror or type(error).__name__
            raise PdsgdError(f"could not write the model and metrics into {out} ({reason}); "
                             "nothing was written there, and the trained model is only in "
                             "memory") from None
        except BaseException:
            remove_empty(made)
            raise
