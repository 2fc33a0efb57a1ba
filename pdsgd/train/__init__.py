"""The one way to train: :func:`train`, for one worker or many, on any backend.

A run is five named steps, each a function of its own:

1. :class:`~pdsgd.spec.EngineSpec` and :class:`~pdsgd.train.plan.TrainPlan`: every
   engine and training option checked and resolved, once;
2. :func:`prepare_data`: the dataset loaded, cut to P samples, in the run's dtype;
3. :func:`build_model`: the seed's network, seeded;
4. :func:`resume_from`: the weights and position of a checkpoint, when asked;
5. :func:`run_epochs`: each epoch's SGD by a *runner* (the sequential one, or
   the Broker's engine), at the epoch's rate (:func:`epoch_lr`), then :func:`evaluate`.

It returns a :class:`TrainResult` holding the model, the history and the
engine's trace. A run asked to stop (``stop=``) raises :class:`TrainingStopped`,
which holds what the finished epochs produced.

Every keyword's default is the one its option declares (:mod:`pdsgd.options`):
``epochs=TrainPlan.epochs`` reads the field's default.

Where each part lives: :mod:`~pdsgd.train.plan` (the training options),
:mod:`~pdsgd.train.prepare` (data, model, evaluation),
:mod:`~pdsgd.train.rates` (the learning-rate rules), :mod:`~pdsgd.train.epochs`
(the epoch loop, checkpoints, stop requests, the progress bar) and
:mod:`~pdsgd.train.result`; this module puts them in order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pdsgd.engine.admission import admit, n_params
from pdsgd.engine.broker import Broker
from pdsgd.engine.sequential import SequentialRunner
from pdsgd.errors import OptionError, PdsgdError
from pdsgd.files import check_room, remove_stranded
from pdsgd.spec import EngineSpec
from pdsgd.train.epochs import progress_bar, resume_from, run_epochs, stop_check
from pdsgd.train.plan import TrainPlan
from pdsgd.train.prepare import TrainingData, build_model, evaluate, prepare_data
from pdsgd.train.rates import LR_RULES, check_warmup, effective_lr, epoch_lr
from pdsgd.train.result import TrainingStopped, TrainResult

__all__ = ["LR_RULES", "TrainPlan", "TrainResult", "TrainingData", "TrainingStopped",
           "build_model", "check_warmup", "checkpoint_bytes", "effective_lr", "epoch_lr",
           "evaluate", "make_runner", "make_spec", "prepare_data", "progress_bar",
           "resume_from", "run_epochs", "stop_check", "train"]


# Each default is the one its option's field declares (EngineSpec.workers is the default).
def train(data=TrainPlan.dataset, *, hidden=EngineSpec.hidden, epochs=TrainPlan.epochs,
          lr=TrainPlan.lr, workers=EngineSpec.workers, micro_batch=EngineSpec.micro_batch,
          backend=EngineSpec.backend, bias=EngineSpec.bias, dtype=EngineSpec.dtype,
          seed=TrainPlan.seed, train_size=TrainPlan.train_size, lr_rule=TrainPlan.lr_rule,
          warmup_epochs=TrainPlan.warmup_epochs, input_nodes=EngineSpec.n_inputs,
          output_nodes=EngineSpec.n_outputs, progress=False, on_epoch=None, on_step=None, stop=None,
          checkpoint=None, resume=None, **engine):
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
    on_step : callable, optional
        Called as ``on_step(model, samples)`` with the samples seen so far in
        the run: once before the first step, then after every step of the
        sequential path and every span of the engine's iterations (a loss
        curve drawn as it falls). Its time counts as training time.
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
        (``data``, the seed's, or ``tensor``: split the hidden units, not
        the samples); ``algorithm`` (``"bsp"``, the seed's, or ``"average"``,
        Algorithm 1) and ``local_steps``; ``aggregate`` (``"central"``, ``"replicated"``,
        ``"sharded"``); ``send`` (``"factors"``, ``"gradients"``); ``trace``;
        ``timeout`` (seconds at a barrier); ``checkpoint_every``;
        ``straggler``, ``straggler_delay`` and ``straggler_factor``; ``sync``
        (``"bsp"``, ``"ssp"``, ``"async"``, ``"hogwild"``) and ``staleness``;
        ``scheduler`` (a Dask scheduler's address) and ``bundle`` (the join
        bundle of a ``tls://`` one, :mod:`pdsgd.cluster`); ``span``.

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
    plan = TrainPlan(dataset=getattr(data, "name", data), train_size=train_size,
                     epochs=epochs, lr=lr, lr_rule=lr_rule, warmup_epochs=warmup_epochs,
                     seed=seed)
    if spec.checkpoint_every is not None and checkpoint is None:
        raise OptionError("checkpoint_every", spec.checkpoint_every,
                          "needs a file to write: give {checkpoint}PATH")
    prepared = prepare_data(data, train_size=plan.train_size, dtype=dtype)
    spec = spec.for_data(prepared.n_features, prepared.n_classes, prepared.name)
    plan = plan.for_run(prepared, spec)
    admit(spec, len(prepared.X))  # before the model or any worker exists
    # What a writer killed in mid-write (kill -9) left beside the files this run continues.
    for path in {Path(p) for p in (checkpoint, resume) if p is not None}:
        remove_stranded(path)
    if checkpoint is not None:
        check_room(checkpoint, 2 * checkpoint_bytes(spec), "--checkpoint")
    model = build_model(spec, plan.seed)
    history, start_epoch, first_iteration, state = resume_from(resume, model,
                                                               plan.record(spec))
    runner = make_runner(model, prepared.X, prepared.T, spec)
    trace, startup = run_epochs(runner, model, prepared, plan, spec, history,
                                start_epoch=start_epoch, first_iteration=first_iteration,
                                checkpoint=checkpoint, progress=progress, on_epoch=on_epoch,
                                on_step=on_step, stop=stop, state=state)
    return TrainResult(model=model, history=history, trace=trace,
                       config={**plan.record(spec), "startup_seconds": startup},
                       updates=getattr(runner, "updates", None))


def checkpoint_bytes(spec):
    """About how large a checkpoint (or a saved model and its metrics) of ``spec`` is."""
    return n_params(spec.sizes, spec.bias) * np.dtype(spec.dtype).itemsize + 2**20


def make_spec(**options):
    """:class:`~pdsgd.spec.EngineSpec` from keyword options, naming an unknown one in one line."""
    names = [o.name for o in EngineSpec.options()]
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise PdsgdError(f"unknown training option {', '.join(unknown)}; the engine's options "
                         f"are: {', '.join(names)}")
    return EngineSpec(**options)


def make_runner(model, X, T, spec):
    """The runner of a run: the sequential fast path, or the Broker's engine."""
    if spec.sequential:
        return SequentialRunner(model, X, T, spec.micro_batch)
    return Broker(model, X, T, spec)
