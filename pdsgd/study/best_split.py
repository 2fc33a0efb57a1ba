"""The best one-core batch split over N workers, against that one core, to a target accuracy.

The question the kit exists to answer, asked the COST way (McSherry et al.):
how much sooner does the engine reach a test accuracy than the best a single
core can do? :func:`one_core_grid` finds that best (the sequential path at
each batch and learning-rate rule, evaluated on the way); :func:`to_target_speedup`
times the engine against it, both trained again to their crossings without
evaluation stops, in interleaved rounds; :func:`run` does both for the best
batch split over each N (``pdsgd bench to-target``). Notebook 07 calls the
first two through :mod:`pdsgd.course.honest`.
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from pdsgd.spec import TENSOR
from pdsgd.study import time_to_accuracy
from pdsgd.study.to_target import TARGETS, measure, rule_lr
from pdsgd.train.prepare import prepare_data


def one_core_grid(data, target, batches=(1, 4, 16, 64), rules=("fixed", "linear", "sqrt"),
                  eval_every=200, max_epochs=6, hidden=(200,)):
    """The sequential path to ``target`` at every batch and rule: the curve and the best.

    Returns
    -------
    dict
        :func:`pdsgd.study.time_to_accuracy.analyse`'s ``target``, ``curve``,
        ``critical`` and ``noise``, and ``best``: the fastest run to the target
        (``batch``, ``rule``, ``lr``, ``seconds``, ``samples``), or None.
    """
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


def to_target_speedup(data, target, grid, *, workers=2, micro_batch=1, rule="linear",
                      strategy=TENSOR, hidden=(200,), repeats=1):
    """The engine's time to ``target`` against the best one-core run's, run again beside it.

    ``grid`` is :func:`one_core_grid`'s result (its ``best``, evaluation spacing
    and epochs). The step at which batch N b with ``rule`` crosses the target
    comes from an evaluated sequential run (the engine's arithmetic is the
    same); the engine and the best one-core configuration are then timed to
    their crossings without stopping to evaluate
    (:func:`pdsgd.study.to_target.replay_to`), as ``make reproduce`` times them,
    in ``repeats`` interleaved rounds.

    Returns
    -------
    dict
        ``time_to_accuracy`` (the median of the rounds' ratios, best one-core
        time over the engine's; None when batch N b did not reach the target),
        ``range`` (the rounds' lowest and highest ratio), ``engine_seconds``,
        ``best_seconds`` (medians), ``samples``, ``best_samples``,
        ``startup_seconds`` (the engine's workers starting, not counted) and
        ``repeats``.
    """
    best = grid["best"]
    kw = dict(eval_every=grid["eval_every"], max_epochs=grid["max_epochs"], hidden=hidden)
    rounds = []
    with threadpool_limits(limits=1):
        where = measure(data, target, batch=workers * micro_batch, rule=rule, **kw)["crossing"]
        for _ in range(repeats if where is not None else 0):
            par = measure(data, target, batch=workers * micro_batch, rule=rule,
                          workers=workers, strategy=strategy, replay=where["samples"], **kw)
            seq = measure(data, target, batch=best["batch"], rule=best["rule"],
                          replay=best["samples"], **kw)
            rounds.append((seq["crossing"], par["crossing"], par["startup_seconds"]))
    reached = bool(rounds) and all(par is not None for _, par, _ in rounds)
    t_best = [seq["seconds"] if seq else np.nan for seq, _, _ in rounds]
    t_par = [par["seconds"] for _, par, _ in rounds] if reached else []
    ratios = [b / p for b, p in zip(t_best, t_par)]
    return {"time_to_accuracy": float(np.median(ratios)) if reached else None,
            "range": (min(ratios), max(ratios)) if reached else None,
            "engine_seconds": float(np.median(t_par)) if reached else None,
            "best_seconds": float(np.median(t_best)) if rounds else np.nan,
            "samples": where["samples"] if reached else None,
            "best_samples": best["samples"],
            "startup_seconds": float(np.median([r[2] for r in rounds])) if rounds else None,
            "repeats": len(rounds)}


def run(dataset="mnist-5k", train_size=4000, target=None, workers=(2,), strategies=(TENSOR,),
        repeats=5, batches=(1, 4, 16, 64), rules=("fixed", "linear", "sqrt"), eval_every=250,
        max_epochs=7, progress=None):
    """The best one-core configuration, then the engine with its batch split over each N.

    ``target`` None takes the dataset's (:data:`pdsgd.study.to_target.TARGETS`).
    An N that does not divide the best batch is left out (its row says so).
    ``progress(row)`` is called with each row as it is measured.

    Returns
    -------
    dict
        ``dataset``, ``train_size``, ``target``, ``repeats``, ``best`` (see
        :func:`one_core_grid`; None when no batch reached the target) and
        ``rows``: per N and strategy, :func:`to_target_speedup`'s dict with
        ``workers``, ``micro_batch`` and ``strategy``.
    """
    data = prepare_data(dataset, train_size=train_size)
    target = TARGETS.get(dataset, 0.85) if target is None else target
    grid = one_core_grid(data, target, batches, rules, eval_every, max_epochs)
    best, rows = grid["best"], []
    for n in workers if best is not None else ():
        for strategy in strategies:
            row = {"workers": n, "strategy": strategy, "micro_batch": None}
            if best["batch"] % n == 0:
                row.update(to_target_speedup(data, target, grid, workers=n,
                                             micro_batch=best["batch"] // n, rule=best["rule"],
                                             strategy=strategy, repeats=repeats),
                           micro_batch=best["batch"] // n)
            rows.append(row)
            if progress is not None:
                progress(row)
    return {"dataset": dataset, "train_size": len(data.X), "target": target,
            "repeats": repeats, "best": best, "rows": rows}
