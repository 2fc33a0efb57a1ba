"""Notebook 07's measurements: three speedups of one configuration, and the batch-size curve.

The notebook picks N, b, a learning-rate rule and a split; these functions
measure, and the notebook prints and draws what they return:

- :func:`one_core_grid`: the sequential path to a target accuracy over a grid of
  batches and rules (:mod:`pdsgd.study.to_target`), summarised as
  :func:`pdsgd.study.time_to_accuracy.analyse` does for ``make reproduce``
  (Shallue et al.'s curve, the critical batch, the noise scale, the best one-core
  configuration);
- :func:`speedups`: the seed's S and the hardware speedup, from
  :func:`pdsgd.study.throughput.engine_cell` (the same interleaved repeats);
- :func:`to_target_speedup`: the time-to-accuracy speedup over the best one-core
  configuration.
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from pdsgd.course.lessons import pick
from pdsgd.spec import TENSOR
from pdsgd.study import time_to_accuracy
from pdsgd.study.throughput import engine_cell
from pdsgd.study.to_target import measure, rule_lr
from pdsgd.train.prepare import prepare_data


def course_data(name="mnist-5k"):
    """The notebook's data (P samples, :func:`pdsgd.course.lessons.pick`'s sizes) and target.

    Returns
    -------
    data : TrainingData
    target : float
        A test accuracy the seed's batch 1 reaches within a few epochs at this P.
    """
    return (prepare_data(name, train_size=pick(2000, 600)), pick(0.85, 0.7))


def one_core_grid(data, target, batches=None, rules=("fixed", "linear", "sqrt"),
                  eval_every=None, max_epochs=None, hidden=(200,)):
    """The sequential path to ``target`` at every batch and rule: the curve and the best.

    Returns
    -------
    dict
        :func:`pdsgd.study.time_to_accuracy.analyse`'s ``target``, ``curve``,
        ``critical`` and ``noise``, and ``best``: the fastest run to the target
        (``batch``, ``rule``, ``lr``, ``seconds``, ``samples``), or None.
    """
    batches = batches or pick((1, 4, 16, 64), (1, 4, 16))
    eval_every = eval_every or pick(200, 100)
    max_epochs = max_epochs or pick(6, 6)
    runs = []
    with threadpool_limits(limits=1):
        for b in batches:
            seen = set()
            for rule in rules:
                if rule_lr(rule, b) in seen:
                    continue  # the same rate as a rule already run (all of them at b = 1)
                seen.add(rule_lr(rule, b))
                runs.append({**measure(data, target, batch=b, rule=rule, eval_every=eval_every,
                                       max_epochs=max_epochs, hidden=hidden), "cached": False,
                             "fields": {"batch": b, "rule": rule}})
    out = time_to_accuracy.analyse({"target": target, "grid": runs, "rounds": []})
    best = time_to_accuracy.best_per_batch(runs)
    top = time_to_accuracy.best_sequential(best) if best else None
    out["best"] = None if top is None else {
        "batch": top["batch"], "rule": top["rule"], "lr": rule_lr(top["rule"], top["batch"]),
        "seconds": top["crossing"]["seconds"], "samples": top["crossing"]["samples"]}
    out["eval_every"], out["max_epochs"] = eval_every, max_epochs
    return out


def speedups(data, *, workers=2, micro_batch=1, strategy=TENSOR, repeats=None,
             min_seconds=None, hidden=(200,)):
    """The seed's S and the hardware speedup of one choice, from one interleaved timing.

    The engine against the sequential path at b and at N b (passes over the
    samples lasting ``min_seconds``, medians of the per-repeat ratios):
    :func:`pdsgd.study.throughput.engine_cell`, what ``pdsgd bench scaling`` runs.

    Returns
    -------
    dict
        ``S`` and ``hardware``, with the samples/s of the engine and both baselines,
        and the ``workers`` and ``micro_batch`` timed.
    """
    sizes = (data.X.shape[1], *hidden, data.T.shape[1])
    engine = "processes:tensor" if strategy == TENSOR else "processes:replicated"
    with threadpool_limits(limits=1):
        cell = engine_cell(data.X, data.T, engine, workers, micro_batch,
                           repeats or pick(3, 2), sizes, min_seconds=min_seconds or pick(0.2, 0.05))
    return {"S": cell["speedup"], "hardware": cell["hardware_speedup"],
            "engine_per_s": cell["samples_per_s"], "sequential_per_s": cell["sequential_per_s"],
            "hardware_per_s": cell["hardware_per_s"], "workers": workers,
            "micro_batch": micro_batch}


def to_target_speedup(data, target, grid, *, workers=2, micro_batch=1, rule="linear",
                      strategy=TENSOR, hidden=(200,)):
    """The engine's time to ``target`` against the best one-core run's, run again beside it.

    ``grid`` is :func:`one_core_grid`'s result (its ``best``, evaluation spacing
    and epochs). The step at which batch N b with ``rule`` crosses the target
    comes from an evaluated sequential run (the engine's arithmetic is the
    same); the engine and the best one-core configuration are then timed to
    their crossings without stopping to evaluate
    (:func:`pdsgd.study.to_target.replay_to`), as ``make reproduce`` times them.
    Returns ``time_to_accuracy`` (None when batch N b did not reach the target),
    ``engine_seconds``, ``best_seconds``, ``samples``, ``best_samples`` and
    ``startup_seconds`` (the engine's workers starting, not counted).
    """
    best = grid["best"]
    kw = dict(eval_every=grid["eval_every"], max_epochs=grid["max_epochs"], hidden=hidden)
    with threadpool_limits(limits=1):
        where = measure(data, target, batch=workers * micro_batch, rule=rule, **kw)["crossing"]
        par = seq = {"crossing": None, "startup_seconds": None}
        if where is not None:
            par = measure(data, target, batch=workers * micro_batch, rule=rule,
                          workers=workers, strategy=strategy, replay=where["samples"], **kw)
            seq = measure(data, target, batch=best["batch"], rule=best["rule"],
                          replay=best["samples"], **kw)
    t_best = seq["crossing"]["seconds"] if seq["crossing"] else np.nan
    t_par = par["crossing"]["seconds"] if par["crossing"] else None
    return {"time_to_accuracy": None if t_par is None else t_best / t_par,
            "engine_seconds": t_par, "best_seconds": t_best,
            "samples": par["crossing"]["samples"] if par["crossing"] else None,
            "best_samples": seq["crossing"]["samples"] if seq["crossing"] else None,
            "startup_seconds": par["startup_seconds"]}


def summary(fast, to_target, *, workers, micro_batch, rule, strategy, best):
    """The three numbers (:func:`speedups`, :func:`to_target_speedup`), each named for its
    baseline, in a few lines."""
    numbers = {**fast, **to_target}
    tta = numbers["time_to_accuracy"]
    lines = [f"{strategy} parallelism, N = {workers}, b = {micro_batch}, rule {rule} "
             f"(batch N b = {workers * micro_batch}):",
             f"  the seed's S (against sequential at b = {micro_batch}):      "
             f"{numbers['S']:.2f}x",
             f"  hardware speedup (against sequential at N b = {workers * micro_batch}): "
             f"{numbers['hardware']:.2f}x",
             f"  time-to-accuracy speedup (against the best one-core run, B = "
             f"{best['batch']}, {best['rule']}): "
             + (f"{tta:.2f}x ({numbers['engine_seconds']:.2f} s against "
                f"{numbers['best_seconds']:.2f} s, {numbers['samples']:,.0f} samples against "
                f"{numbers['best_samples']:,.0f})" if tta is not None else
                "the engine did not reach the target with this rule")]
    return "\n".join(lines)
