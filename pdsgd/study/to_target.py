"""Time to accuracy: train until a target test accuracy, timing only the training.

One run trains a runner (the sequential path at batch B, or the engine's
Broker at N workers of micro-batch b) over the usual epoch orders in chunks of
whole steps, about ``eval_every`` samples each, and evaluates the test accuracy
between chunks, outside the clock (the test set's forward pass). The history of
evaluations gives the crossing of the target (:func:`pdsgd.study.batch_size.crossing`):
the wall time and samples to reach it. At the crossing it also measures the
gradient noise scale (:func:`pdsgd.study.batch_size.noise_scale`) on the training set.
:func:`replay_to` then times a run to a crossing already found, without the stops.

Learning-rate rules (:func:`lr_schedule`), each named in the results: ``fixed``
(the seed's 0.1 whatever the batch), ``linear`` (Goyal et al. 2017: 0.1 x B,
reached by a linear warm-up from 0.1 over the first :data:`WARMUP_SAMPLES`),
``linear/2`` and ``linear/4`` (0.05 x B and 0.025 x B) and ``sqrt`` (0.1 x sqrt(B)),
each with the same warm-up. The best of the five per batch is "the best of a small grid".
"""

from __future__ import annotations

import math
import time

import numpy as np

from pdsgd.engine.broker import Broker
from pdsgd.engine.sequential import SequentialRunner
from pdsgd.engine.shuffle import epoch_order
from pdsgd.mlp import MLP
from pdsgd.study.batch_size import crossing, noise_scale
from pdsgd.study.experiment import STRATEGIES

#: Target test accuracy per dataset: reached by the seed's run (batch 1, lr 0.1) within a
#: few epochs, and below where every batch size levels off, so that each batch can reach it.
TARGETS = {"mnist-5k": 0.88, "mnist": 0.95, "fashion-mnist": 0.85, "synthetic": 0.5}
#: Samples over which the linear rule's rate rises from the base rate (Goyal et al.'s warm-up).
WARMUP_SAMPLES = 2000
BASE_LR = 0.1
#: The rules of the grid: each one's rate after the warm-up, from the base rate and batch B.
RULES = {"fixed": lambda base, b: base, "linear": lambda base, b: base * b,
         "linear/2": lambda base, b: base * b / 2, "linear/4": lambda base, b: base * b / 4,
         "sqrt": lambda base, b: base * math.sqrt(b)}


def rule_lr(rule, batch, base=BASE_LR):
    """The rate of ``rule`` at ``batch`` after its warm-up."""
    return RULES[rule](base, batch)


def lr_schedule(rule, batch, base=BASE_LR, warmup=WARMUP_SAMPLES):
    """``lr(samples_done)`` of ``rule`` at ``batch`` (see the module docstring)."""
    top = rule_lr(rule, batch, base)
    if top <= base or warmup <= 0:
        return lambda samples: top
    return lambda samples: base + (top - base) * min(1.0, (samples + 0.5 * batch) / warmup)


def make_runner(model, X, T, workers=1, micro_batch=1, strategy=None, backend="processes"):
    """The sequential path at batch ``micro_batch`` (``strategy`` None), or the engine."""
    if strategy is None:
        return SequentialRunner(model, X, T, micro_batch)
    return Broker(model, X, T, workers=workers, micro_batch=micro_batch, backend=backend,
                  trace=False, **STRATEGIES[strategy])


def run_to_target(runner, data, target, *, batch, lr, eval_every=200, max_epochs=10, seed=0):
    """Train ``runner`` until the test accuracy reaches ``target`` or ``max_epochs`` pass.

    Parameters
    ----------
    runner : SequentialRunner or Broker
        Its model is trained in place; it is entered (workers started) before the clock.
    data : TrainingData
        ``X``, ``T`` (what the runner holds), ``X_test``, ``y_test``.
    batch : int
        Samples per step (N b for the engine): chunks are whole steps.
    lr : callable
        ``lr(samples_done)`` (:func:`lr_schedule`).

    Returns
    -------
    dict
        ``history`` (``samples``, ``steps``, ``seconds``, ``accuracy`` at every
        evaluation), ``crossing`` (:func:`~pdsgd.study.batch_size.crossing`,
        or None), ``diverged``, ``startup_seconds`` and ``noise`` (the noise
        scale at the crossing, or None).
    """
    model, n = runner.model, len(data.X)
    chunk = max(1, math.ceil(eval_every / batch)) * batch
    history = {"samples": [0], "steps": [0], "seconds": [0.0],
               "accuracy": [model.accuracy(data.X_test, data.y_test)]}
    out = {"history": history, "diverged": False, "noise": None, "crossing": None}
    started = time.perf_counter()
    with runner:
        out["startup_seconds"] = time.perf_counter() - started
        seconds = 0.0
        for epoch in range(max_epochs):
            order = epoch_order(n, seed, epoch)
            for start in range(0, n, chunk):
                part = order[start:start + chunk]
                rate = lr(history["samples"][-1])
                t0 = time.perf_counter()
                runner.run_epoch(part, rate)
                seconds += time.perf_counter() - t0
                if not np.all(np.isfinite(model.params)):
                    out["diverged"] = True
                    return out
                history["samples"].append(history["samples"][-1] + len(part))
                history["steps"].append(history["steps"][-1] + math.ceil(len(part) / batch))
                history["seconds"].append(seconds)
                history["accuracy"].append(model.accuracy(data.X_test, data.y_test))
                if history["accuracy"][-1] >= target:
                    out["crossing"] = crossing(history, target)
                    out["noise"] = noise_scale(model, data.X, data.T)
                    return out
    return out


def replay_to(runner, data, samples, *, batch, lr, eval_every=200, seed=0):
    """Train ``runner`` without stopping to evaluate until it has seen ``samples`` samples.

    The same steps and rates as :func:`run_to_target` with the same ``eval_every``
    (so the same weights, step for step), but a new call only where the rate
    changes (the warm-up) or an epoch ends: for a run whose crossing of the
    target is already known (``samples``, from an evaluated run of the same
    arithmetic), the time to it without the pauses that evaluating costs the
    engine (a pause wakes sleeping worker processes twice: about 1 ms here).

    Returns
    -------
    dict
        ``crossing`` (``samples`` as given, ``steps`` and ``seconds``: the
        steps trained, up to the one in which ``samples`` falls, and their
        training time), ``accuracy``
        (the test accuracy after them, evaluated once, outside the clock),
        ``diverged`` and ``startup_seconds``.
    """
    model, n = runner.model, len(data.X)
    chunk = max(1, math.ceil(eval_every / batch)) * batch
    seconds, done, seen, epoch = 0.0, 0, 0, 0  # steps and samples trained
    started = time.perf_counter()
    with runner:
        startup = time.perf_counter() - started
        while seen < samples:
            order, start = epoch_order(n, seed, epoch), 0
            while start < n and seen < samples:
                rate, end = lr(seen), start + chunk
                while end < n and lr(seen + end - start) == rate:
                    end += chunk  # the next chunk has the same rate: no reason to stop
                # Whole steps, up to the one in which the crossing falls.
                last = start + math.ceil((samples - seen) / batch) * batch
                part = order[start:min(end, n, last)]
                t0 = time.perf_counter()
                runner.run_epoch(part, rate)
                seconds += time.perf_counter() - t0
                done += math.ceil(len(part) / batch)
                seen += len(part)
                start += len(part)
            epoch += 1
    finite = bool(np.all(np.isfinite(model.params)))
    timed = {"samples": float(samples), "steps": float(done), "seconds": seconds}
    return {"crossing": timed if finite else None,
            "accuracy": model.accuracy(data.X_test, data.y_test) if finite else None,
            "diverged": not finite, "startup_seconds": startup, "noise": None}


def measure(data, target, *, batch, rule, workers=1, strategy=None, backend="processes",
            eval_every=200, max_epochs=10, seed=0, hidden=(200,), replay=None):
    """One run to ``target`` from the seed's initial weights: :func:`run_to_target`'s dict,
    with the configuration (``batch`` is N b; the engine's micro-batch is ``batch / N``).

    ``replay`` (samples to the target, known from an evaluated run of batch
    ``batch`` and ``rule``) times the run with :func:`replay_to` instead.
    """
    sizes = (data.X.shape[1], *hidden, data.T.shape[1])
    model = MLP(sizes, dtype=data.X.dtype.name, seed=seed)
    runner = make_runner(model, data.X, data.T, workers, batch // workers, strategy, backend)
    if replay is None:
        out = run_to_target(runner, data, target, batch=batch, lr=lr_schedule(rule, batch),
                            eval_every=eval_every, max_epochs=max_epochs, seed=seed)
    else:
        out = replay_to(runner, data, replay, batch=batch, lr=lr_schedule(rule, batch),
                        eval_every=eval_every, seed=seed)
    return {"batch": batch, "rule": rule, "workers": workers, "strategy": strategy,
            "micro_batch": batch // workers, "target": target, **out}
