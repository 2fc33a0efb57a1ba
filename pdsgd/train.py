"""The one way to train: :func:`train`, for one worker or many, on any backend.

A run is five named steps, each a function of its own:

1. :class:`~pdsgd.spec.EngineSpec`: every engine option checked and resolved, once;
2. :func:`prepare_data`: the dataset loaded, cut to P samples, in the run's dtype;
3. :func:`build_model`: the seed's network, seeded;
4. :func:`resume_from`: the weights and position of a checkpoint, when asked;
5. :func:`run_epochs`: each epoch's SGD by a *runner* (the sequential one, or
   the Broker's engine), then :func:`evaluate`.

It returns a :class:`TrainResult` holding the model, the history and the
engine's trace.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from pdsgd.checkpoint import HISTORY, check_resumable, load_checkpoint, save_checkpoint
from pdsgd.data.datasets import Dataset, load_dataset
from pdsgd.engine.admission import admit, n_params
from pdsgd.engine.broker import Broker
from pdsgd.engine.sequential import SequentialRunner
from pdsgd.engine.shuffle import epoch_order
from pdsgd.errors import PdsgdError, PdsgdWarning
from pdsgd.files import (
    check_room,
    json_bytes,
    make_dirs,
    npz_bytes,
    remove_empty,
    write_files,
)
from pdsgd.mlp import MLP
from pdsgd.spec import EngineSpec, OptionError, choice, positive

LR_RULES = ("fixed", "linear")


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
    config : dict
        The run's settings and its :class:`~pdsgd.spec.EngineSpec`, for the record.
    """

    model: MLP
    history: dict
    trace: np.ndarray | None = None
    config: dict = field(default_factory=dict)

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

    def summary(self):
        """One line: accuracy, loss, time and throughput."""
        c = self.config
        return (f"{c['dataset']} {'-'.join(map(str, self.model.sizes))} "
                f"N={c['workers']} b={c['micro_batch']} {c['epochs']} epochs: "
                f"test accuracy {self.test_accuracy:.4f}, loss {self.history['loss'][-1]:.4f}, "
                f"{self.train_seconds:.2f} s ({self.samples_per_second:,.0f} samples/s)")

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


@dataclass
class TrainingData:
    """A dataset made ready for training: P samples, one-hot targets, the run's dtype."""

    name: str
    scaling: str
    X: np.ndarray
    y: np.ndarray
    T: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int

    @property
    def n_features(self):
        """Input width."""
        return self.X.shape[1]


def prepare_data(data, *, train_size=None, dtype="float64"):
    """Load ``data`` (a name or a :class:`Dataset`) and keep its first ``train_size`` samples.

    Returns
    -------
    TrainingData
        Contiguous inputs and 0.01/0.99 targets in ``dtype``.
    """
    positive("train_size", train_size, allow_none=True)
    if isinstance(data, Dataset):
        if train_size is not None and train_size > len(data.X_train):
            raise OptionError("train_size", train_size,
                              f"is more than {data.name} holds ({len(data.X_train)} "
                              "training samples)")
        dataset = data
    else:
        dataset = load_dataset(data, train_size=train_size, dtype=dtype)
    X = np.ascontiguousarray(dataset.X_train[:train_size], dtype=dtype)
    y = dataset.y_train[:train_size]
    return TrainingData(dataset.name, dataset.scaling, X, y,
                        dataset.targets(y).astype(dtype, copy=False),
                        dataset.X_test.astype(dtype, copy=False), dataset.y_test,
                        dataset.n_classes)


def build_model(spec, seed=0):
    """The seed's network with the spec's sizes, bias and dtype, initial weights from ``seed``."""
    return MLP(spec.sizes, bias=spec.bias, dtype=spec.dtype, seed=seed)


def effective_lr(lr, rule, workers, micro_batch):
    """The parent's learning rate under ``rule``.

    ``fixed`` is the seed's: the same ``lr`` whatever the batch ``N * b``.
    ``linear`` is Goyal et al. (2017): scale ``lr`` by the batch size, so that
    one step on ``N * b`` samples moves as far as ``N * b`` single-sample steps.
    """
    choice("lr_rule", rule, LR_RULES)
    return lr * workers * micro_batch if rule == "linear" else lr


def evaluate(model, X, y, T=None, chunk=10_000):
    """Accuracy on ``(X, y)`` and, when targets ``T`` are given, the mean loss."""
    correct, loss = 0, 0.0
    for s in range(0, len(X), chunk):
        out = model.forward(X[s:s + chunk])[-1]
        correct += int(np.sum(np.argmax(out, axis=1) == y[s:s + chunk]))
        if T is not None:
            loss += float(0.5 * np.sum((out - T[s:s + chunk]) ** 2))
    return correct / len(X), (loss / len(X) if T is not None else None)


def make_runner(model, X, T, spec):
    """The runner of a run: the sequential fast path, or the Broker's engine."""
    if spec.sequential:
        return SequentialRunner(model, X, T, spec.micro_batch)
    return Broker(model, X, T, spec)


def resume_from(path, model, config):
    """Load checkpoint ``path`` into ``model``: ``(history, epoch, iteration)`` to go on from.

    With no ``path``: an empty history at epoch 0, iteration 0.
    """
    if path is None:
        return {k: [] for k in HISTORY}, 0, 0
    state = load_checkpoint(path)
    check_resumable(state, config)
    model.params[...] = state.model.params
    return state.history, state.epoch, state.iteration


def run_epochs(runner, model, data, config, history, *, start_epoch=0, first_iteration=0,
               checkpoint=None, progress=False, on_epoch=None):
    """Train epochs ``start_epoch`` to ``config["epochs"]``, evaluating after each.

    Appends to ``history`` and saves a checkpoint at every epoch's end (and
    every ``checkpoint_every`` iterations) when ``checkpoint`` is given.
    """
    epochs, seed, step_lr = config["epochs"], config["seed"], config["step_lr"]
    every, n = config["checkpoint_every"], len(data.X)
    done = min(start_epoch * n + first_iteration * config["round_size"], epochs * n)
    bar = tqdm(total=epochs * n, unit="sample", disable=not progress, leave=False,
               initial=done)

    failed_saves = []

    def save(epoch, iteration, training):
        # (epoch, iteration): the position to resume from; training: the epoch just run.
        if not np.all(np.isfinite(model.params)):
            raise diverged(config, training, "weights that are not finite")
        try:
            save_checkpoint(checkpoint, model, epoch=epoch, iteration=iteration,
                            history=history, config=config)
        except OSError as error:  # a full disk: the last good checkpoint stays
            failed_saves.append(error)
            if len(failed_saves) == 1:  # once a run is enough
                warnings.warn(f"could not write the checkpoint {checkpoint} "
                              f"({error.strerror or type(error).__name__}); the last one "
                              "written is kept and training goes on", PdsgdWarning,
                              stacklevel=2)

    started = time.perf_counter()
    with runner, bar:
        # Starting the workers is timed apart from training (the seed's T(N) is training).
        config["startup_seconds"] = time.perf_counter() - started
        for epoch in range(start_epoch, epochs):
            on_iteration = None
            if checkpoint is not None and every is not None:
                def on_iteration(t, epoch=epoch):
                    if (t + 1) % every == 0:
                        save(epoch, t + 1, epoch)
            start = time.perf_counter()
            runner.run_epoch(epoch_order(n, seed, epoch), step_lr,
                             first_iteration=first_iteration, on_iteration=on_iteration,
                             progress=bar)
            first_iteration = 0
            seconds = time.perf_counter() - start
            train_acc, loss = evaluate(model, data.X, data.y, data.T)
            if not np.isfinite(loss):
                raise diverged(config, epoch, f"a loss of {loss}")
            test_acc, _ = evaluate(model, data.X_test, data.y_test)
            for key, value in zip(history, (epoch + 1, loss, train_acc, test_acc, seconds),
                                  strict=True):
                history[key].append(value)
            bar.set_postfix(loss=f"{loss:.4f}", test_acc=f"{test_acc:.3f}")
            if checkpoint is not None:
                save(epoch + 1, 0, epoch)
            if on_epoch is not None:
                on_epoch(epoch + 1, history)
        return runner.trace


def diverged(config, epoch, what):
    """The one-line error of a run whose loss or weights stopped being finite numbers."""
    return OptionError("lr", config["lr"], f"gave {what} in epoch {epoch + 1}: training "
                       "diverged and was stopped, and nothing was saved; try a smaller {lr} "
                       "(or look for nan and inf in the data)")


def train(data="mnist-5k", *, hidden=(200,), epochs=5, lr=0.1, workers=1, micro_batch=1,
          backend=None, bias=True, dtype="float64", seed=0, train_size=None,
          lr_rule="fixed", input_nodes=None, output_nodes=None, progress=False,
          on_epoch=None, checkpoint=None, resume=None, **engine):
    """Train the seed's MLP with bulk-synchronous data-parallel SGD.

    Parameters
    ----------
    data : str or Dataset, default "mnist-5k"
        A dataset name (see :data:`pdsgd.data.DATASETS`) or a loaded :class:`Dataset`.
    hidden : sequence of int, default (200,)
        Hidden layer widths.
    epochs : int, default 5
    lr : float, default 0.1
    workers : int, default 1
        N, the number of workers.
    micro_batch : int, default 1
        b, samples per worker per iteration (1 is the seed: no batching).
    backend : {"sequential", "serial", "threads", "processes", "dask"}, optional
        How the workers run; None means sequential for one worker asking
        nothing of the engine, ``"processes"`` otherwise.
    bias : bool, default True
    dtype : {"float64", "float32"}
    seed : int, default 0
        Seeds the initial weights and every epoch's sample order.
    train_size : int, optional
        P: use only the first P training samples.
    lr_rule : {"fixed", "linear"}
        See :func:`effective_lr`.
    input_nodes, output_nodes : int, optional
        When given, checked against the data (the seed's command line names them).
    progress : bool
        Show a progress bar.
    on_epoch : callable, optional
        Called as ``on_epoch(epoch, history)`` after each epoch (live plots).
    checkpoint : str or Path, optional
        Where to save checkpoints: at every epoch's end and, with
        ``checkpoint_every``, every that many iterations of an epoch.
    resume : str or Path, optional
        A checkpoint to continue from; the final weights equal those of an
        uninterrupted run with the same settings.
    **engine
        Any other option of :class:`~pdsgd.spec.EngineSpec`: ``algorithm``
        (``"bsp"``, the seed's, or ``"average"``, Algorithm 1) and
        ``local_steps``; ``aggregate`` (``"central"``, ``"replicated"``,
        ``"sharded"``); ``send`` (``"factors"``, ``"gradients"``); ``trace``;
        ``timeout`` (seconds at a barrier); ``checkpoint_every``;
        ``straggler`` and ``straggler_delay``; ``scheduler`` (a Dask
        scheduler's address); ``span``.

    Returns
    -------
    TrainResult
    """
    spec = make_spec(hidden=hidden, n_inputs=input_nodes, n_outputs=output_nodes, bias=bias,
                     dtype=dtype, workers=workers, micro_batch=micro_batch, backend=backend,
                     **engine)
    positive("epochs", epochs)
    positive("lr", lr, integer=False)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise OptionError("seed", seed, "must be an integer >= 0")
    if spec.checkpoint_every is not None and checkpoint is None:
        raise OptionError("checkpoint_every", spec.checkpoint_every,
                          "needs a file to write: give {checkpoint}PATH")
    prepared = prepare_data(data, train_size=train_size, dtype=dtype)
    spec = spec.for_data(prepared.n_features, prepared.n_classes, prepared.name)
    admit(spec, len(prepared.X))  # before the model or any worker exists
    if checkpoint is not None:
        check_room(checkpoint, 2 * checkpoint_bytes(spec), "--checkpoint")
    model = build_model(spec, seed)
    config = dict(dataset=prepared.name, scaling=prepared.scaling, train_size=len(prepared.X),
                  test_size=len(prepared.X_test), epochs=epochs, lr=lr, lr_rule=lr_rule,
                  step_lr=effective_lr(lr, lr_rule, workers, micro_batch), seed=seed,
                  round_size=spec.round_size, **spec.record())
    history, start_epoch, first_iteration = resume_from(resume, model, config)
    trace = run_epochs(make_runner(model, prepared.X, prepared.T, spec), model, prepared,
                       config, history, start_epoch=start_epoch,
                       first_iteration=first_iteration, checkpoint=checkpoint,
                       progress=progress, on_epoch=on_epoch)
    return TrainResult(model=model, history=history, trace=trace, config=config)


def checkpoint_bytes(spec):
    """About how large a checkpoint (or a saved model and its metrics) of ``spec`` is."""
    return n_params(spec.sizes, spec.bias) * np.dtype(spec.dtype).itemsize + 2**20


def make_spec(**options):
    """:class:`~pdsgd.spec.EngineSpec` from keyword options, naming an unknown one in one line."""
    unknown = sorted(set(options) - set(EngineSpec.__dataclass_fields__))
    if unknown:
        raise PdsgdError(f"unknown training option {', '.join(unknown)}; the engine's options "
                         f"are: {', '.join(EngineSpec.__dataclass_fields__)}")
    return EngineSpec(**options)
