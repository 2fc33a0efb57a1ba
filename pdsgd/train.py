"""The one way to train: :func:`train`, for one worker or many, on any backend.

It loads the data, builds the seed's network, asks a *runner* to do each
epoch's SGD (the sequential runner for one worker, the Broker's engine for
more), evaluates after every epoch and returns a :class:`TrainResult` holding
the model, the history and the engine's trace.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from pdsgd.checkpoint import check_resumable, load_checkpoint, save_checkpoint
from pdsgd.data.datasets import Dataset, load_dataset
from pdsgd.engine.sequential import SequentialRunner
from pdsgd.engine.shuffle import epoch_order
from pdsgd.errors import PdsgdError
from pdsgd.files import write_json
from pdsgd.mlp import MLP

LR_RULES = ("fixed", "linear")


@dataclass
class TrainResult:
    """What a training run produced.

    Attributes
    ----------
    model : MLP
        The parent model: the run's output.
    history : dict of list
        Per epoch: ``epoch``, ``loss`` (mean squared error on the training
        set), ``train_accuracy``, ``test_accuracy`` and ``seconds`` (training
        time of the epoch, evaluation excluded).
    trace : ndarray or None
        The engine's timeline (:data:`pdsgd.engine.trace.TRACE_DTYPE`); None for a
        sequential run.
    config : dict
        The arguments of the run, for the record.
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
        """Write ``model.npz`` and ``metrics.json`` into ``out_dir`` (atomically)."""
        from pathlib import Path

        out = Path(out_dir)
        self.model.save(out / "model.npz")
        write_json(out / "metrics.json", {"config": self.config, "history": self.history,
                                          "summary": self.summary()})


def evaluate(model, X, y, T=None, chunk=10_000):
    """Accuracy on ``(X, y)`` and, when targets ``T`` are given, the mean loss."""
    correct, loss = 0, 0.0
    for s in range(0, len(X), chunk):
        out = model.forward(X[s:s + chunk])[-1]
        correct += int(np.sum(np.argmax(out, axis=1) == y[s:s + chunk]))
        if T is not None:
            loss += float(0.5 * np.sum((out - T[s:s + chunk]) ** 2))
    return correct / len(X), (loss / len(X) if T is not None else None)


def effective_lr(lr, rule, workers, micro_batch):
    """The parent's learning rate under ``rule``.

    ``fixed`` is the seed's: the same ``lr`` whatever the batch ``N * b``.
    ``linear`` is Goyal et al. (2017): scale ``lr`` by the batch size, so that
    one step on ``N * b`` samples moves as far as ``N * b`` single-sample steps.
    """
    if rule not in LR_RULES:
        raise PdsgdError(f"unknown learning-rate rule {rule!r}: choose one of {LR_RULES}")
    return lr * workers * micro_batch if rule == "linear" else lr


def _check_positive(**values):
    for name, value in values.items():
        if value is None or value <= 0:
            flag = "--" + name.replace("_", "-")
            raise PdsgdError(f"{flag} must be positive, got {value}")


def make_runner(model, X, T, *, workers, micro_batch, backend, aggregate=None, send="factors",
                trace=True, timeout=60.0, checkpoint_every=None, straggler=None,
                straggler_delay=0.0, algorithm="bsp", local_steps=1, scheduler=None):
    """The runner for a run: sequential for one worker with no backend named, else the Broker.

    See :class:`pdsgd.engine.broker.Broker` for the engine's parameters.
    """
    if (workers == 1 and backend is None and aggregate is None and send == "factors"
            and straggler is None and algorithm == "bsp" and scheduler is None):
        return SequentialRunner(model, X, T, micro_batch)
    from pdsgd.engine.broker import Broker

    return Broker(model, X, T, workers=workers, micro_batch=micro_batch, backend=backend,
                  aggregate=aggregate, send=send, trace=trace, timeout=timeout,
                  checkpoint_every=checkpoint_every, straggler=straggler,
                  straggler_delay=straggler_delay, algorithm=algorithm,
                  local_steps=local_steps, scheduler=scheduler)


def train(data="mnist-5k", *, hidden=(200,), epochs=5, lr=0.1, workers=1, micro_batch=1,
          backend=None, bias=True, dtype="float64", seed=0, train_size=None,
          lr_rule="fixed", input_nodes=None, output_nodes=None, progress=False,
          on_epoch=None, aggregate=None, send="factors", trace=True, timeout=60.0,
          checkpoint=None, checkpoint_every=None, resume=None, straggler=None,
          straggler_delay=0.0, algorithm="bsp", local_steps=1, scheduler=None):
    """Train the seed's MLP with bulk-synchronous data-parallel SGD.

    Parameters
    ----------
    data : str or Dataset, default "mnist-5k"
        A dataset name (see :data:`pdsgd.data.datasets.DATASETS`) or a loaded :class:`Dataset`.
    hidden : sequence of int, default (200,)
        Hidden layer widths.
    epochs : int, default 5
    lr : float, default 0.1
    workers : int, default 1
        N, the number of workers.
    micro_batch : int, default 1
        b, samples per worker per iteration (1 is the seed: no batching).
    backend : {"serial", "threads", "processes", "dask"}, optional
        How the workers run; None means sequential for one worker and
        ``"processes"`` for more.
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
    aggregate : {"central", "replicated", "sharded"}, optional
        Who applies each iteration's averaged update: the broker, to shared
        weights (the seed's); every worker to its own replica (one barrier
        per iteration); or every worker its share of the shared weights' rows.
        Same weights to rounding (central and replicated bit for bit); default:
        the faster one for the backend, N and b (:func:`pdsgd.engine.broker.default_aggregate`).
    send : {"factors", "gradients"}, default "factors"
        What workers send: sufficient factors or full gradient matrices.
    trace : bool, default True
        Record the engine's timeline (``TrainResult.trace``).
    timeout : float, default 60
        Seconds a worker may wait at the barrier before the run is stopped.
    checkpoint : str or Path, optional
        Where to save checkpoints: at every epoch's end and, with
        ``checkpoint_every``, every that many iterations of an epoch.
    checkpoint_every : int, optional
        Iterations between checkpoints (needs ``checkpoint``).
    resume : str or Path, optional
        A checkpoint to continue from; the final weights equal those of an
        uninterrupted run with the same settings.
    straggler : int, optional
        Make this worker sleep ``straggler_delay`` seconds every iteration, to
        see the barrier make everyone wait (the weights do not change).
    straggler_delay : float, default 0
    algorithm : {"bsp", "average"}, default "bsp"
        ``"bsp"``: the seed's, gradients averaged every iteration.
        ``"average"``: Algorithm 1, parameter averaging: each worker takes
        ``local_steps`` SGD steps on its own samples, then the parameters are
        averaged (:mod:`pdsgd.engine.averaging`). Checkpoints then count rounds.
    local_steps : int, default 1
        K, local steps per round (``"average"`` only).
    scheduler : str, optional
        ``tcp://HOST:8786``: the Dask scheduler the ``dask`` backend uses;
        none starts a LocalCluster on 127.0.0.1 for the run.

    Returns
    -------
    TrainResult
    """
    _check_positive(epochs=epochs, lr=lr, workers=workers, micro_batch=micro_batch,
                    local_steps=local_steps)
    if checkpoint_every is not None:
        _check_positive(checkpoint_every=checkpoint_every)
        if checkpoint is None:
            raise PdsgdError("--checkpoint-every needs a file to write: give --checkpoint PATH")
    if isinstance(data, Dataset):
        if train_size is not None and train_size > len(data.X_train):
            raise PdsgdError(f"--train-size {train_size} is more than {data.name} holds "
                             f"({len(data.X_train)} training samples)")
        dataset = data
    else:
        dataset = load_dataset(data, train_size=train_size, dtype=dtype)
    X = np.ascontiguousarray(dataset.X_train[:train_size], dtype=dtype)
    y = dataset.y_train[:train_size]
    T = dataset.targets(y).astype(dtype, copy=False)
    X_test = dataset.X_test.astype(dtype, copy=False)
    if input_nodes is not None and input_nodes != dataset.n_features:
        raise PdsgdError(f"--input-nodes {input_nodes} does not match {dataset.name}, whose "
                         f"samples have {dataset.n_features} values; use --input-nodes "
                         f"{dataset.n_features}")
    if output_nodes is not None and output_nodes != dataset.n_classes:
        raise PdsgdError(f"--output-nodes {output_nodes} does not match {dataset.name}, which "
                         f"has {dataset.n_classes} classes; use --output-nodes "
                         f"{dataset.n_classes}")
    model = MLP((dataset.n_features, *hidden, dataset.n_classes), bias=bias, dtype=dtype,
                seed=seed)
    step_lr = effective_lr(lr, lr_rule, workers, micro_batch)
    config = dict(dataset=dataset.name, train_size=len(X), test_size=len(X_test),
                  sizes=list(model.sizes), bias=bias, dtype=str(model.dtype), epochs=epochs,
                  lr=lr, lr_rule=lr_rule, step_lr=step_lr, workers=workers,
                  micro_batch=micro_batch, backend=backend, seed=seed, aggregate=aggregate,
                  send=send, algorithm=algorithm,
                  local_steps=local_steps if algorithm == "average" else 1)
    history = {k: [] for k in ("epoch", "loss", "train_accuracy", "test_accuracy", "seconds")}
    start_epoch, first_iteration = 0, 0
    if resume is not None:
        state = load_checkpoint(resume)
        check_resumable(state, config)
        model.params[...] = state.model.params
        history, start_epoch, first_iteration = state.history, state.epoch, state.iteration
    runner = make_runner(model, X, T, workers=workers, micro_batch=micro_batch,
                         backend=backend, aggregate=aggregate, send=send, trace=trace,
                         timeout=timeout, checkpoint_every=checkpoint_every,
                         straggler=straggler, straggler_delay=straggler_delay,
                         algorithm=algorithm, local_steps=local_steps, scheduler=scheduler)
    per_iteration = workers * micro_batch * config["local_steps"]  # samples (a round's)
    bar = tqdm(total=epochs * len(X), unit="sample", disable=not progress, leave=False,
               initial=min(start_epoch * len(X) + first_iteration * per_iteration,
                           epochs * len(X)))

    def save(epoch, iteration):
        save_checkpoint(checkpoint, model, epoch=epoch, iteration=iteration, history=history,
                        config=config)

    started = time.perf_counter()
    with runner, bar:
        # Starting the workers is timed apart from training (the seed's T(N) is training).
        config["startup_seconds"] = time.perf_counter() - started
        for epoch in range(start_epoch, epochs):
            order = epoch_order(len(X), seed, epoch)
            on_iteration = None
            if checkpoint is not None and checkpoint_every is not None:
                def on_iteration(t, epoch=epoch):
                    if (t + 1) % checkpoint_every == 0:
                        save(epoch, t + 1)
            start = time.perf_counter()
            runner.run_epoch(order, step_lr, first_iteration=first_iteration,
                             on_iteration=on_iteration, progress=bar)
            first_iteration = 0
            seconds = time.perf_counter() - start
            train_acc, loss = evaluate(model, X, y, T)
            test_acc, _ = evaluate(model, X_test, dataset.y_test)
            values = (epoch + 1, loss, train_acc, test_acc, seconds)
            for key, value in zip(history, values, strict=True):
                history[key].append(value)
            bar.set_postfix(loss=f"{loss:.4f}", test_acc=f"{test_acc:.3f}")
            if checkpoint is not None:
                save(epoch + 1, 0)
            if on_epoch is not None:
                on_epoch(epoch + 1, history)
        trace = runner.trace
    return TrainResult(model=model, history=history, trace=trace, config=config)
