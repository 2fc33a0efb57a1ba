"""The one way to train: :func:`train`, for one worker or many, on any backend.

A run is five named steps, each a function of its own:

1. :class:`~pdsgd.spec.EngineSpec`: every engine option checked and resolved, once;
2. :func:`prepare_data`: the dataset loaded, cut to P samples, in the run's dtype;
3. :func:`build_model`: the seed's network, seeded;
4. :func:`resume_from`: the weights and position of a checkpoint, when asked;
5. :func:`run_epochs`: each epoch's SGD by a *runner* (the sequential one, or
   the Broker's engine), at the epoch's rate (:func:`epoch_lr`), then :func:`evaluate`.

It returns a :class:`TrainResult` holding the model, the history and the
engine's trace. A run asked to stop (``stop=``) raises :class:`TrainingStopped`,
which holds what the finished epochs produced.
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
from pdsgd.engine.sync import staleness
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
    """

    def __init__(self, result):
        self.result = result
        self.epochs_done = len(result.history["epoch"])
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
        startup, split = "", " tensor-parallel" if c.get("parallel") == "tensor" else ""
        if c.get("backend", "sequential") != "sequential":
            startup = f", after {self.startup_seconds:.2f} s starting {c['workers']} workers"
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
    """The parent's learning rate under ``rule`` (after any warm-up).

    ``fixed`` is the seed's: the same ``lr`` whatever the batch ``N * b``.
    ``linear`` is Goyal et al. (2017): scale ``lr`` by the batch size, so that
    one step on ``N * b`` samples moves as far as ``N * b`` single-sample steps.
    """
    choice("lr_rule", rule, LR_RULES)
    return lr * workers * micro_batch if rule == "linear" else lr


def check_warmup(warmup_epochs, rule):
    """Return ``warmup_epochs`` (an integer >= 0), or raise :class:`OptionError`."""
    if isinstance(warmup_epochs, bool) or not isinstance(warmup_epochs, (int, np.integer)) \
            or warmup_epochs < 0:
        raise OptionError("warmup_epochs", warmup_epochs, "must be a whole number of epochs >= 0")
    if warmup_epochs > 0:
        if rule != "linear":
            raise OptionError("warmup_epochs", warmup_epochs,
                              "applies to {lr_rule}linear only: a fixed rate has nothing "
                              "to warm up to")
    return int(warmup_epochs)


def epoch_lr(config, epoch):
    """The learning rate of epoch ``epoch`` (0-based): Goyal et al.'s gradual warm-up.

    For ``config["warmup_epochs"] = W > 0`` the rate rises from the unscaled
    ``lr`` to the scaled ``step_lr`` over the first W epochs. Goyal et al.
    raise it a little every iteration; here every epoch runs at one rate, the
    rate their ramp has halfway through that epoch: ``lr + (step_lr - lr) *
    (epoch + 1/2) / W``. From epoch W on, ``step_lr``.
    """
    warmup, target, base = config.get("warmup_epochs", 0), config["step_lr"], config["lr"]
    if epoch >= warmup:
        return target
    return base + (target - base) * (epoch + 0.5) / warmup


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


class _StopRequested(Exception):
    """Raised between iterations to leave the runner cleanly (its ``with`` closes it)."""


def stop_check(stop):
    """``stop`` (a :class:`threading.Event`, a callable or None) as a callable or None."""
    if stop is None:
        return None
    if hasattr(stop, "is_set"):
        return stop.is_set
    if callable(stop):
        return stop
    raise OptionError("stop", stop, "must be a threading.Event or a callable returning True "
                      "to stop")


def progress_bar(progress, *, total, initial, desc):
    """The run's progress bar: tqdm when ``progress`` is a bool, else ``progress(...)``.

    A callable receives ``total``, ``initial``, ``unit`` and ``desc`` and must
    return a tqdm-like object (``update``, ``set_description``,
    ``set_postfix``, ``close``, a context manager): a notebook panel passes a
    class that draws into the panel.
    """
    if isinstance(progress, bool) or progress is None:
        return tqdm(total=total, unit="sample", disable=not progress, leave=False,
                    initial=initial, desc=desc)
    return progress(total=total, unit="sample", initial=initial, desc=desc)


def run_epochs(runner, model, data, config, history, *, start_epoch=0, first_iteration=0,
               checkpoint=None, progress=False, on_epoch=None, stop=None):
    """Train epochs ``start_epoch`` to ``config["epochs"]``, evaluating after each.

    Appends to ``history`` and saves a checkpoint at every epoch's end (and
    every ``checkpoint_every`` iterations) when ``checkpoint`` is given.
    ``stop`` (see :func:`train`) is checked before the workers start, after
    every iteration of the sequential path or span of the engine, and before
    every epoch; once it is set the runner is closed (workers ended, shared
    memory released) and :class:`TrainingStopped` is raised.

    Returns
    -------
    ndarray or None
        The runner's trace.
    """
    epochs, seed, workers = config["epochs"], config["seed"], config["workers"]
    every, n = config["checkpoint_every"], len(data.X)
    stopping = stop_check(stop)
    done = min(start_epoch * n + first_iteration * config["round_size"], epochs * n)
    starting = "" if config["backend"] == "sequential" else f"starting {workers} workers"
    bar = progress_bar(progress, total=epochs * n, initial=done, desc=starting)

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

    def iteration_hook(epoch):
        saving = checkpoint is not None and every is not None
        if not saving and stopping is None:
            return None

        def on_iteration(t):
            if saving and (t + 1) % every == 0:
                save(epoch, t + 1, epoch)
            if stopping is not None and stopping():
                if checkpoint is not None:
                    save(epoch, t + 1, epoch)  # resume goes on from here
                raise _StopRequested
        return on_iteration

    started = time.perf_counter()
    try:
        if stopping is not None and stopping():
            bar.close()
            raise _StopRequested  # before any worker starts
        with runner, bar:
            # Starting the workers is timed apart from training (the seed's T(N) is training).
            config["startup_seconds"] = time.perf_counter() - started
            for epoch in range(start_epoch, epochs):
                bar.set_description(f"epoch {epoch + 1}/{epochs}")
                if stopping is not None and stopping():
                    raise _StopRequested
                start = time.perf_counter()
                runner.run_epoch(epoch_order(n, seed, epoch), epoch_lr(config, epoch),
                                 first_iteration=first_iteration,
                                 on_iteration=iteration_hook(epoch), progress=bar)
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
    except _StopRequested:
        raise TrainingStopped(TrainResult(model, history, runner.trace, config)) from None
    return runner.trace


def diverged(config, epoch, what):
    """The one-line error of a run whose loss or weights stopped being finite numbers."""
    return OptionError("lr", config["lr"], f"gave {what} in epoch {epoch + 1}: training "
                       "diverged and was stopped, and nothing was saved; try a smaller {lr} "
                       "(or look for nan and inf in the data)")


def train(data="mnist-5k", *, hidden=(200,), epochs=5, lr=0.1, workers=1, micro_batch=1,
          backend=None, bias=True, dtype="float64", seed=0, train_size=None,
          lr_rule="fixed", warmup_epochs=0, input_nodes=None, output_nodes=None,
          progress=False, on_epoch=None, stop=None, checkpoint=None, resume=None, **engine):
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
    warmup_epochs : int, default 0
        With ``lr_rule="linear"``: raise the rate from ``lr`` to the scaled
        rate over this many epochs (Goyal et al.'s gradual warm-up, see
        :func:`epoch_lr`).
    input_nodes, output_nodes : int, optional
        When given, checked against the data (the seed's command line names them).
    progress : bool or callable
        Show a progress bar (tqdm), or draw one with a tqdm-like class (see
        :func:`progress_bar`). Its description reads "starting N workers"
        while the engine's workers start, then the epoch.
    on_epoch : callable, optional
        Called as ``on_epoch(epoch, history)`` after each epoch (live plots).
    stop : threading.Event or callable, optional
        A request to stop, checked after every step of the sequential path,
        every span of the engine's iterations (``span``) and every epoch:
        once it is set (or returns True) the workers are ended, their shared
        memory released, the position saved when ``checkpoint`` is given,
        and :class:`TrainingStopped` raised. A notebook panel's Stop button
        sets it from another thread.
    checkpoint : str or Path, optional
        Where to save checkpoints: at every epoch's end and, with
        ``checkpoint_every``, every that many iterations of an epoch.
    resume : str or Path, optional
        A checkpoint to continue from; the final weights equal those of an
        uninterrupted run with the same settings.
    **engine
        Any other option of :class:`~pdsgd.spec.EngineSpec`: ``parallel``
        (``"data"``, the seed's, or ``"tensor"``: split the hidden units, not
        the samples); ``algorithm`` (``"bsp"``, the seed's, or ``"average"``,
        Algorithm 1) and ``local_steps``; ``aggregate`` (``"central"``, ``"replicated"``,
        ``"sharded"``); ``send`` (``"factors"``, ``"gradients"``); ``trace``;
        ``timeout`` (seconds at a barrier); ``checkpoint_every``;
        ``straggler``, ``straggler_delay`` and ``straggler_factor``; ``sync``
        (``"bsp"``, ``"ssp"``, ``"async"``, ``"hogwild"``) and ``staleness``;
        ``scheduler`` (a Dask scheduler's address); ``span``.

    Returns
    -------
    TrainResult

    Raises
    ------
    TrainingStopped
        When ``stop`` was set before the last epoch ended.
    """
    spec = make_spec(hidden=hidden, n_inputs=input_nodes, n_outputs=output_nodes, bias=bias,
                     dtype=dtype, workers=workers, micro_batch=micro_batch, backend=backend,
                     **engine)
    positive("epochs", epochs)
    positive("lr", lr, integer=False)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise OptionError("seed", seed, "must be an integer >= 0")
    step_lr = effective_lr(lr, lr_rule, workers, micro_batch)
    warmup_epochs = check_warmup(warmup_epochs, lr_rule)
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
                  step_lr=step_lr, warmup_epochs=warmup_epochs, seed=seed,
                  round_size=spec.round_size, **spec.record())
    history, start_epoch, first_iteration = resume_from(resume, model, config)
    runner = make_runner(model, prepared.X, prepared.T, spec)
    trace = run_epochs(runner, model, prepared, config, history, start_epoch=start_epoch,
                       first_iteration=first_iteration, checkpoint=checkpoint,
                       progress=progress, on_epoch=on_epoch, stop=stop)
    return TrainResult(model=model, history=history, trace=trace, config=config,
                       updates=getattr(runner, "updates", None))


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
