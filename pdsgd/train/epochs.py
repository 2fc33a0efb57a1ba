"""A run's epochs: the runner over each epoch's order, checkpoints, stop requests, progress."""

from __future__ import annotations

import time
import warnings

import numpy as np
from tqdm.auto import tqdm

from pdsgd.checkpoint import HISTORY, check_resumable, load_checkpoint, save_checkpoint
from pdsgd.engine.shuffle import epoch_order
from pdsgd.errors import OptionError, PdsgdWarning
from pdsgd.train.prepare import evaluate
from pdsgd.train.result import TrainingStopped, TrainResult, starting_workers


def resume_from(path, model, config):
    """Load checkpoint ``path`` into ``model``: ``(history, epoch, iteration, state)``.

    ``state`` is the runner's state beyond the weights (:attr:`Checkpoint.state`);
    the rest is the position to go on from.

    ``config`` is this run's record (:meth:`~pdsgd.train.plan.TrainPlan.record`),
    compared with the checkpoint's. With no ``path``: an empty history at epoch
    0, iteration 0.
    """
    if path is None:
        return {k: [] for k in HISTORY}, 0, 0, {}
    state = load_checkpoint(path)
    check_resumable(state, config)
    model.params[...] = state.model.params
    return state.history, state.epoch, state.iteration, state.state


class _StopRequested(Exception):
    """Raised between iterations to leave the runner cleanly (its ``with`` closes it).

    Its argument, when given, is the ``time.perf_counter()`` at which training stopped.
    """


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

    A callable receives ``total``, ``initial``, ``unit``, ``desc`` and
    ``smoothing`` and must return a tqdm-like object (``update``,
    ``set_description``, ``set_postfix``, ``close``, a context manager): a
    notebook panel passes a class that draws into the panel.

    The bar's rate is the run's average (``smoothing=0``), over training time
    only: :func:`run_epochs` takes the workers' start-up and every evaluation
    off its clock (:func:`pause_clock`), so the rate it shows at the end is the
    summary's samples/s, not a smaller number that counts the waiting too.
    """
    if isinstance(progress, bool) or progress is None:
        return tqdm(total=total, unit="sample", disable=not progress, leave=False,
                    initial=initial, desc=desc, smoothing=0)
    return progress(total=total, unit="sample", initial=initial, desc=desc, smoothing=0)


def pause_clock(bar, seconds):
    """Take ``seconds`` that were not training off a tqdm bar's clock (its rate and time).

    tqdm divides the samples by the time since the bar was made; start-up and
    evaluation are not training, and the summary's rate leaves them out. A
    bar that is not tqdm's (without ``start_t``) is left alone.
    """
    if hasattr(bar, "start_t"):
        bar.start_t += seconds
        bar.last_print_t = getattr(bar, "last_print_t", bar.start_t) + seconds


def run_epochs(runner, model, data, plan, spec, history, *, start_epoch=0, first_iteration=0,
               checkpoint=None, progress=False, on_epoch=None, on_step=None, stop=None,
               state=None):
    """Train epochs ``start_epoch`` to ``plan.epochs``, evaluating after each.

    Appends to ``history`` and saves a checkpoint at every epoch's end (and
    every ``spec.checkpoint_every`` iterations) when ``checkpoint`` is given.
    ``stop`` (see :func:`train`) is checked before the workers start, after
    every iteration of the sequential path or span of the engine, and before
    every epoch; once it is set the runner is closed (workers ended, shared
    memory released) and :class:`TrainingStopped` is raised. ``on_step`` (see
    :func:`train`) is called with the model and the samples seen so far.
    ``state`` is a checkpoint's runner state (:func:`resume_from`), handed to
    the runner once it has started; the runner's own goes into every checkpoint.

    Returns
    -------
    trace : ndarray or None
        The runner's trace.
    startup_seconds : float
        Seconds the runner took to start its workers (timed apart from training).
    """
    epochs, every, n = plan.epochs, spec.checkpoint_every, len(data.X)
    stopping = stop_check(stop)
    done = min(start_epoch * n + first_iteration * spec.round_size, epochs * n)
    starting = "" if spec.sequential else starting_workers(spec.workers)
    bar = progress_bar(progress, total=epochs * n, initial=done, desc=starting)
    startup = None

    def record():
        # What checkpoints and a stopped run hold: the settings, then the start-up once timed.
        timed = {} if startup is None else {"startup_seconds": startup}
        return {**plan.record(spec), **timed}

    failed_saves = []

    def save(epoch, iteration, training):
        # (epoch, iteration): the position to resume from; training: the epoch just run.
        if not np.all(np.isfinite(model.params)):
            raise diverged(plan.lr, training, "weights that are not finite")
        try:
            save_checkpoint(checkpoint, model, epoch=epoch, iteration=iteration,
                            history=history, config=record(),
                            state=runner.state() if hasattr(runner, "state") else None)
        except OSError as error:  # a full disk: the last good checkpoint stays
            failed_saves.append(error)
            if len(failed_saves) == 1:  # once a run is enough
                warnings.warn(f"could not write the checkpoint {checkpoint} "
                              f"({error.strerror or type(error).__name__}); the last one "
                              "written is kept and training goes on", PdsgdWarning,
                              stacklevel=2)

    def iteration_hook(epoch):
        saving = checkpoint is not None and every is not None
        if not saving and stopping is None and on_step is None:
            return None

        def on_iteration(t):
            if on_step is not None:
                on_step(model, epoch * n + min((t + 1) * spec.round_size, n))
            if saving and (t + 1) % every == 0:
                save(epoch, t + 1, epoch)
            if stopping is not None and stopping():
                stopped_at = time.perf_counter()  # training ends here, not when workers close
                if checkpoint is not None:
                    save(epoch, t + 1, epoch)  # resume goes on from here
                raise _StopRequested(stopped_at)
        return on_iteration

    started, start = time.perf_counter(), None  # start: of the epoch in progress
    try:
        if stopping is not None and stopping():
            bar.close()
            raise _StopRequested  # before any worker starts
        with runner, bar:
            # Starting the workers is timed apart from training (the seed's T(N) is training).
            startup = time.perf_counter() - started
            pause_clock(bar, startup)
            if state and hasattr(runner, "restore"):
                runner.restore(state)
            if on_step is not None:
                on_step(model, done)  # where the run starts from
            for epoch in range(start_epoch, epochs):
                bar.set_description(f"epoch {epoch + 1}/{epochs}")
                if stopping is not None and stopping():
                    raise _StopRequested
                start = time.perf_counter()
                runner.run_epoch(epoch_order(n, plan.seed, epoch), plan.epoch_lr(epoch),
                                 first_iteration=first_iteration,
                                 on_iteration=iteration_hook(epoch), progress=bar)
                first_iteration = 0
                ended = time.perf_counter()
                seconds, start = ended - start, None
                train_acc, loss = evaluate(model, data.X, data.y, data.T)
                if not np.isfinite(loss):
                    raise diverged(plan.lr, epoch, f"a loss of {loss}")
                test_acc, _ = evaluate(model, data.X_test, data.y_test)
                for key, value in zip(history, (epoch + 1, loss, train_acc, test_acc, seconds),
                                      strict=True):
                    history[key].append(value)
                bar.set_postfix(loss=f"{loss:.4f}", test_acc=f"{test_acc:.3f}")
                if checkpoint is not None:
                    save(epoch + 1, 0, epoch)
                if on_epoch is not None:
                    on_epoch(epoch + 1, history)
                pause_clock(bar, time.perf_counter() - ended)  # evaluating is not training
    except _StopRequested as request:
        cut_short = 0.0 if start is None or not request.args else request.args[0] - start
        raise TrainingStopped(TrainResult(model, history, runner.trace, record()),
                              partial_seconds=cut_short) from None
    return runner.trace, startup


def diverged(lr, epoch, what):
    """The one-line error of a run whose loss or weights stopped being finite numbers."""
    return OptionError("lr", lr, f"gave {what} in epoch {epoch + 1}: training "
                       "diverged and was stopped, and nothing was saved; try a smaller {lr} "
                       "(or look for nan and inf in the data)")
