"""The study's time to accuracy: the best one-core configuration, and the engine against it.

Two stages, every run cached on disk like the study's cells (named by a hash of
what determines it, this machine included):

1. **The batch-size grid** (one run each): the sequential path at every batch B
   of :attr:`ToTarget.batches`, with every learning-rate rule of
   :data:`pdsgd.study.to_target.RULES`. Per B, the best rule (least training
   time to the target) gives the point of Shallue et al.'s curve (samples and
   steps to target against B) and the critical batch
   (:func:`pdsgd.study.batch_size.critical_batch`); the best B overall is the
   best one-core configuration (McSherry et al.'s COST baseline).
2. **The comparison** (``repeats`` rounds, interleaved): in every round the best
   sequential configuration, the sequential path at each N b of the engine's
   grid, and the engine at N workers of micro-batch b for each strategy, each at
   the best rule of its batch N b (the same arithmetic, the same rate); the
   engine also runs the best one-core batch B* split over N workers (b = B* / N).
   Each is timed to the crossing that stage 1 found for its batch and rule,
   without stopping to evaluate (:func:`pdsgd.study.to_target.replay_to`): the
   same arithmetic reaches the target at the same step, and a stop costs the
   engine (not the sequential path) two wake-ups of its worker processes.

Each engine configuration's time-to-accuracy speedup over the best sequential
one splits exactly into three factors:
``hardware`` (sequential at N b over the engine, both to the target), ``statistical``
(samples to target of the best B over those at N b) and ``batch throughput``
(one core's samples/s at N b over those at the best B).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from pdsgd import __version__
from pdsgd.engine.strategies import TENSOR
from pdsgd.files import write_json
from pdsgd.machine import machine_key
from pdsgd.study.batch_size import critical_batch
from pdsgd.study.to_target import RULES, TARGETS, measure, rule_lr

CACHE_VERSION = 1


@dataclass(frozen=True)
class ToTarget:
    """What the time-to-accuracy study runs (a profile's ``to_target``).

    ``target`` None takes :data:`pdsgd.study.to_target.TARGETS` of the dataset.
    ``eval_every`` is in samples (rounded up to whole steps); a run stops after
    ``max_epochs`` epochs without reaching the target.
    """

    target: float | None = None
    batches: tuple = (1, 2, 4, 8, 16, 32, 64)
    rules: tuple = tuple(RULES)
    workers: tuple = (1, 2, 4)
    micro_batches: tuple = (1, 16)
    strategies: tuple = ("data", TENSOR)
    backend: str = "processes"
    repeats: int = 2
    eval_every: int = 200
    max_epochs: int = 6


def target_of(grid, dataset):
    """The grid's target accuracy on ``dataset``."""
    return grid.target if grid.target is not None else TARGETS.get(dataset, 0.85)


def _cached(cache_dir, fields, run):
    blob = json.dumps({**fields, "version": CACHE_VERSION, "pdsgd": __version__,
                       "machine": machine_key()}, sort_keys=True, default=str)
    path = Path(cache_dir) / f"to-target-{hashlib.sha256(blob.encode()).hexdigest()[:16]}.json"
    try:
        return {**json.loads(path.read_text()), "cached": True}
    except (OSError, ValueError):
        record = {**run(), "fields": fields}
        write_json(path, record)
        return {**record, "cached": False}


def run_study(grid, data, cache_dir, *, hidden=(200,), progress=True):
    """Both stages (see the module docstring); every run cached. Returns the records.

    Returns
    -------
    dict
        ``target``, ``grid`` (stage 1, one record per B and rule) and
        ``rounds`` (stage 2: per repeat, the records in the order run).
    """
    target = target_of(grid, data.name)
    common = {"dataset": data.name, "train": len(data.X), "test": len(data.X_test),
              "target": target, "eval_every": grid.eval_every, "max_epochs": grid.max_epochs,
              "hidden": list(hidden)}
    bar = tqdm(desc="time to accuracy", unit="run", disable=not progress)

    def one(repeat=0, replay=None, **config):
        def run():
            with threadpool_limits(limits=1):  # one core: each worker has one BLAS thread too
                return measure(data, target, eval_every=grid.eval_every,
                               max_epochs=grid.max_epochs, hidden=hidden, replay=replay,
                               **config)
        fields = {**common, **config, "repeat": repeat}
        if replay is not None:
            fields["replay"] = replay
        record = _cached(cache_dir, fields, run)
        bar.update(1)
        return record

    with bar:
        runs = [one(batch=b, rule=r) for b in grid.batches for r in _rules(grid, b)]
        best = best_per_batch(runs)
        rounds = []
        # No batch reached the target: nothing to compare against (the report says so).
        for repeat in range(grid.repeats if best else 0):
            top = best_sequential(best)
            configs = engine_configs(grid, top["batch"])
            done = []
            for b in [top["batch"]] + sorted({n * m for n, m in configs} - {top["batch"]}):
                if b in best:
                    done.append(one(repeat=repeat, batch=b, rule=best[b]["rule"],
                                    replay=best[b]["crossing"]["samples"]))
            for s in grid.strategies:
                for n, m in configs:
                    if n * m in best:
                        done.append(one(repeat=repeat, batch=n * m, rule=best[n * m]["rule"],
                                        replay=best[n * m]["crossing"]["samples"],
                                        workers=n, strategy=s, backend=grid.backend))
            rounds.append(done)
    return {"target": target, "grid": runs, "rounds": rounds}


def engine_configs(grid, best_batch):
    """The engine's (N, b): the grid's, and the best one-core batch split over N workers.

    The split (b = B* / N where N divides the best batch B*) is the COST question put
    plainly: the best one-core configuration, the same batch and rate, on N workers.
    Its statistical and batch-throughput factors are 1, so its time-to-accuracy
    speedup is its hardware speedup.
    """
    grid_ones = [(n, m) for m in grid.micro_batches for n in grid.workers]
    split = [(n, best_batch // n) for n in grid.workers
             if n > 1 and best_batch % n == 0 and (n, best_batch // n) not in grid_ones]
    return grid_ones + split


def _rules(grid, batch):
    """The grid's rules at ``batch``, one per distinct rate (at B = 1 they all coincide)."""
    seen, out = set(), []
    for r in grid.rules:
        lr = rule_lr(r, batch)
        if lr not in seen:
            seen.add(lr)
            out.append(r)
    return out


def best_per_batch(runs):
    """``{B: the run of least time to target}`` among the sequential runs that reached it."""
    best = {}
    for r in runs:
        if r["crossing"] is None or r["strategy"] is not None:
            continue
        b = r["batch"]
        if b not in best or r["crossing"]["seconds"] < best[b]["crossing"]["seconds"]:
            best[b] = r
    return best


def best_sequential(best):
    """The best one-core configuration: the fastest to the target over every batch."""
    return min(best.values(), key=lambda r: r["crossing"]["seconds"])


def _median(records, axis):
    return float(np.median([r["crossing"][axis] for r in records]))


def analyse(study):
    """The numbers of the report: the curve, B_crit, the best configuration, the speedups.

    Returns
    -------
    dict
        ``target``; ``curve`` (per B: best rule and its rate, samples, steps,
        seconds, noise scale, and every rule's samples); ``critical``
        (:func:`~pdsgd.study.batch_size.critical_batch` of the curve, or None);
        ``noise`` (B_simple at the target of the best configuration, and its
        range over the curve's runs); ``best`` (batch, rule, lr, seconds,
        samples: medians of the comparison's rounds); ``engine`` (per strategy,
        N and b: seconds and samples to target, ``speedup`` over the best,
        its factors ``hardware``, ``statistical`` and ``throughput``, and
        ``splits_best``: N b is the grid's best one-core batch).
    """
    best = best_per_batch(study["grid"])
    curve = []
    for b in sorted({r["batch"] for r in study["grid"]}):
        rules = {r["rule"]: (r["crossing"]["samples"] if r["crossing"] else None)
                 for r in study["grid"] if r["batch"] == b}
        row = {"batch": b, "reached": b in best, "rules": rules}
        if b in best:
            r = best[b]
            row.update(rule=r["rule"], lr=rule_lr(r["rule"], b), **r["crossing"],
                       b_simple=r["noise"]["b_simple"] if r["noise"] else None)
        curve.append(row)
    every = {}  # each run counts once, as first met
    for r in study["grid"] + [r for rnd in study["rounds"] for r in rnd]:
        every.setdefault(json.dumps(r["fields"], sort_keys=True), r)
    out = {"target": study["target"], "curve": curve,
           "runs": {"total": len(every),
                    "trained": sum(not r["cached"] for r in every.values())},
           "critical": critical_batch([(c["batch"], c["samples"]) for c in curve
                                       if c["reached"]]),
           "best": None, "engine": []}
    noises = [c["b_simple"] for c in curve if c.get("b_simple")]
    if not best:
        return out
    grid_best = best_sequential(best)
    out["noise"] = {"b_simple": grid_best["noise"]["b_simple"], "batch": grid_best["batch"],
                    "min": float(min(noises)), "max": float(max(noises))}
    flat = [r for rnd in study["rounds"] for r in rnd if r["crossing"] is not None]
    seq = {}
    for r in flat:
        if r["strategy"] is None:
            seq.setdefault(r["batch"], []).append(r)
    if not seq:
        return out
    # The best one-core configuration: the least median time over the rounds, among the
    # grid's best and the sequential runs at every N b (each at its batch's best rule).
    b_top = min(seq, key=lambda b: _median(seq[b], "seconds"))
    top = seq[b_top][0]
    t_best, e_best = _median(seq[b_top], "seconds"), _median(seq[b_top], "samples")
    if best.get(b_top, {}).get("noise"):  # measured by the evaluated run at the crossing
        out["noise"].update(b_simple=best[b_top]["noise"]["b_simple"], batch=b_top)
    out["best"] = {"batch": b_top, "rule": top["rule"], "lr": rule_lr(top["rule"], b_top),
                   "seconds": t_best, "samples": e_best, "rounds": len(seq[b_top]),
                   "sequential": [{"batch": b, "seconds": _median(rs, "seconds"),
                                   "samples": _median(rs, "samples")}
                                  for b, rs in sorted(seq.items())]}
    groups = {}
    for r in flat:
        if r["strategy"] is not None:
            groups.setdefault((r["strategy"], r["workers"], r["micro_batch"]), []).append(r)
    for (s, n, m), recs in sorted(groups.items()):
        same = seq.get(n * m)
        t, e = _median(recs, "seconds"), _median(recs, "samples")
        row = {"strategy": s, "workers": n, "micro_batch": m, "batch": n * m,
               "rule": recs[0]["rule"], "lr": rule_lr(recs[0]["rule"], n * m), "seconds": t,
               "samples": e, "startup_seconds": float(np.median([r["startup_seconds"]
                                                                for r in recs])),
               "speedup": t_best / t, "splits_best": n > 1 and n * m == grid_best["batch"]}
        if same:
            t_same, e_same = _median(same, "seconds"), _median(same, "samples")
            row.update(hardware=t_same / t, statistical=e_best / e_same,
                       throughput=(e_same / t_same) / (e_best / t_best),
                       sequential_seconds=t_same)
        out["engine"].append(row)
    return out
