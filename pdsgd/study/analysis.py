"""From cached cell records to the study: tables, fits, figures (for :mod:`.reproduce`).

Nothing here trains. :func:`analyse` turns records into the numbers of
``study.json`` (speedups per curve, Amdahl and logarithmic fits, where each
N's time goes, the cost model per strategy and what each strategy moves between
the workers, the sweep over b that sets the strategies side by side, the
claims), :func:`draw_figures` draws them,
:func:`save_seed_defaults` writes the seed's default run. Figures are drawn only
from those numbers, so a second run that reads every cell from the cache draws
the very same figures.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from pdsgd import plots
from pdsgd.mlp import MLP
from pdsgd.study.claims import assess_claims, families
from pdsgd.study.costmodel import CostModel, bytes_moved, fit_amdahl, fit_cost_model, fit_log
from pdsgd.study.experiment import dataset_id, select, summarize
from pdsgd.study.profiles import resolve
from pdsgd.study.sync_report import analyse_sync, draw_sync_figures
from pdsgd.train import TrainResult

PREDICT_WORKERS = (1, 2, 4, 8, 16, 32, 64)


def analyse(profile, data, parts, notice, machine):
    """The study's numbers from the records of each part (timing, accuracy, timeline)."""

    cores = machine.get("hardware_threads") or 1
    timing = summarize(parts["timing"])
    table = speedup_table(timing, profile.backend)
    seed_family = families(table)[0] if table else ("data", min(profile.micro_batches))
    seed_rows = [r for r in timing if r["micro_batch"] == seed_family[1]
                 and (r["backend"] is None or r["strategy"] == seed_family[0])]
    accuracy = summarize(parts["accuracy"])
    for r in accuracy:
        r["step_lr"] = (parts["accuracy"][0]["settings"]["lr"]
                        * (r["workers"] * r["micro_batch"] if r["lr_rule"] == "linear" else 1))
        r["elapsed"], r["time_from"] = _elapsed(r, timing, profile)
    model = fit_cost_model(seed_rows, cores)
    p_max = max(r["train_size"] for r in timing)
    predictions = []
    if model:
        measured = {r["workers"]: r["speedup"] for r in table if r["train_size"] == p_max
                    and (r["strategy"], r["micro_batch"]) == seed_family}
        predictions = [{"workers": n, "many_cores": model.speedup(n, p_max, seed_family[1],
                                                                   cores=n),
                        "this_machine": model.speedup(n, p_max, seed_family[1]),
                        "measured": measured.get(n)}
                       for n in sorted(set(PREDICT_WORKERS) | set(measured))]
    sweep = sweep_table(summarize(parts.get("sweep") or []), profile.backend)
    tl = summarize(parts["timeline"])[0]
    study = {
        "profile": profile.name, "dataset": dataset_id(data), "notice": notice,
        "profile_notes": list(profile.notes) + list(resolve(profile, len(data.X_train))[2]),
        "backend": profile.backend, "micro_batches": list(profile.micro_batches),
        "strategies": list(profile.strategies),
        "settings": parts["timing"][0]["settings"],
        "sizes": "-".join(map(str, parts["timing"][0]["config"]["sizes"])),
        "epochs": {"timing": profile.timing_epochs, "accuracy": accuracy[0]["epochs"]},
        "repeats": profile.repeats, "machine": machine,
        "timing": [{k: v for k, v in r.items() if k != "history"} for r in timing],
        "speedup": table, "curves": curve_fits(table, cores), "accuracy": accuracy,
        "breakdown": breakdown(seed_rows, p_max, cores),
        "cost_model": model.as_dict() if model else None, "cost_predictions": predictions,
        "cost_models": strategy_models(timing, table, cores, p_max),
        "traffic": traffic_table(parts["timing"] + (parts.get("sweep") or [])),
        "sweep": sweep,
        "timeline_cell": {k: v for k, v in tl.items() if k != "history"},
        "timeline_note": _timeline_note(tl),
        # When the last cell was measured (from the records: a rerun from the cache keeps it).
        "finished": max(r["finished"] for part in parts.values() for r in part)[:10],
        "sync": analyse_sync(parts.get("sync")),
    }
    study["claims"] = assess_claims(study)
    return study


def speedup_table(rows, backend):
    """Speedup and efficiency of every ``backend`` row against the sequential row of its P and b.

    The sequential run at the same micro-batch b is each curve's T(1): at b = 1
    the seed's one-sample SGD, at b = 16 minibatch SGD with batch 16 in one process.
    """
    table = []
    for seq in select(rows, backend=None, workers=1):
        t1, b = seq["seconds"], seq.get("micro_batch", 1)
        seq["speedup"], seq["efficiency"] = 1.0, 1.0
        for r in select(rows, backend=backend, train_size=seq["train_size"], micro_batch=b):
            r["speedup"] = t1 / r["seconds"]
            r["efficiency"] = r["speedup"] / r["workers"]
            table.append({"train_size": r["train_size"], "workers": r["workers"],
                          "micro_batch": b, "strategy": r.get("strategy", "data"),
                          "aggregate": r.get("aggregate"),
                          "speedup": r["speedup"], "speedup_lo": t1 / r["seconds_max"],
                          "speedup_hi": t1 / r["seconds_min"], "efficiency": r["efficiency"]})
    return table


def sweep_table(rows, backend):
    """The sweep over b: each strategy's speedup at the sweep's one N and P, per b.

    Returns
    -------
    list of dict
        Rows of :func:`speedup_table` (``strategy``, ``micro_batch``, ``workers``,
        ``train_size``, ``speedup`` and its range), sorted by strategy and b.
    """
    table = [r for r in speedup_table(rows, backend) if r["workers"] > 1]
    return sorted(table, key=lambda r: (r["strategy"] != "data", r["strategy"],
                                        r["micro_batch"]))


def strategy_models(timing, table, cores, train_size):
    """A cost model per strategy, fitted on its curve at its smallest b, with predictions.

    Returns
    -------
    list of dict
        Per strategy: ``strategy``, ``micro_batch``, ``model`` (the
        :class:`~pdsgd.study.costmodel.CostModel`'s terms) and ``predictions``
        (``workers``, ``many_cores``, ``this_machine``, ``measured`` at P =
        ``train_size``), the seed's data parallelism first.
    """
    out = []
    for strategy, b in families(table):
        if any(m["strategy"] == strategy for m in out):
            continue  # the strategy's smallest b comes first
        rows = [r for r in timing if r["micro_batch"] == b
                and (r["backend"] is None or r["strategy"] == strategy)]
        model = fit_cost_model(rows, cores, strategy=strategy)
        if model is None:
            continue
        measured = {r["workers"]: r["speedup"] for r in table if r["train_size"] == train_size
                    and (r["strategy"], r["micro_batch"]) == (strategy, b)}
        out.append({"strategy": strategy, "micro_batch": b, "model": model.as_dict(),
                    "predictions": [
                        {"workers": n, "many_cores": model.speedup(n, train_size, b, cores=n),
                         "this_machine": model.speedup(n, train_size, b),
                         "measured": measured.get(n)}
                        for n in sorted(set(PREDICT_WORKERS) | set(measured))]})
    return out


def traffic_table(records):
    """What crosses between the workers per iteration, per strategy, b, N and aggregation.

    From each engine cell's configuration (:func:`pdsgd.study.costmodel.bytes_moved`);
    one row per distinct configuration with more than one worker.
    """
    rows = {}
    for rec in records:
        c, cell = rec["config"], rec["cell"]
        if cell["backend"] is None or cell["workers"] < 2:
            continue
        key = (cell["strategy"] != "data", cell["strategy"], cell["micro_batch"],
               cell["workers"], c.get("aggregate") or "")
        rows[key] = {"strategy": cell["strategy"], "micro_batch": cell["micro_batch"],
                     "workers": cell["workers"], "aggregate": c.get("aggregate"),
                     **bytes_moved(c)}
    return [rows[k] for k in sorted(rows)]


def curve_fits(table, cores):
    """Amdahl's parallel fraction (over N <= cores) and the log fit (over all N), per curve.

    Returns
    -------
    list of dict
        ``strategy``, ``micro_batch``, ``train_size``, ``amdahl`` (f or None)
        and ``log`` (``[k, R^2]`` of ``S = 1 + k log2 N``, or None).
    """
    groups = {}
    for r in table:
        groups.setdefault((r["strategy"], r["micro_batch"], r["train_size"]), []).append(r)
    out = []
    for (strategy, b, p), rs in sorted(groups.items()):
        pts = [(r["workers"], r["speedup"]) for r in rs]
        # Amdahl's premise is a processor per worker: fit where that holds.
        within = [(n, s) for n, s in pts if n <= cores] if cores > 1 else pts
        log = fit_log(*zip(*pts, strict=True))
        out.append({"strategy": strategy, "micro_batch": b, "train_size": p,
                    "amdahl": fit_amdahl(*zip(*within, strict=True)) if within else None,
                    "log": list(log) if log else None})
    return out


def breakdown(rows, train_size, cores):
    """Where one iteration's time goes, N by N, from the engine's trace (one curve, one P).

    Returns
    -------
    list of dict
        Per N: ``aggregate`` (the aggregation the engine ran), and in
        microseconds: ``iteration`` (training time / iterations), ``per_sample``,
        ``compute`` and ``wait`` (one worker, per iteration), ``update`` (applying
        the iteration's update), ``update_per_sample``, ``rest_per_sample``
        (everything but the update: compute, barrier crossings, hand-offs, and
        waiting for a core when N exceeds ``cores``), and ``rounds``: how many
        turns N workers take on the cores.
    """
    us = 1e6
    out = []
    for r in select(rows, train_size=train_size):
        ph = r.get("phases")
        if r["backend"] is None or not ph:
            continue
        samples = r["workers"] * r["micro_batch"]
        iteration = r["seconds"] / r["iterations"] * us
        update = ph["aggregate"] * us
        out.append({"workers": r["workers"], "aggregate": r.get("aggregate"),
                    "iteration": iteration, "per_sample": iteration / samples,
                    "per_sample_min": r["seconds_min"] / r["iterations"] * us / samples,
                    "per_sample_max": r["seconds_max"] / r["iterations"] * us / samples,
                    "compute": ph["compute"] * us, "wait": ph["wait"] * us, "update": update,
                    "update_per_sample": update / samples,
                    "rest_per_sample": (iteration - update) / samples,
                    "rounds": math.ceil(r["workers"] / cores)})
    return out


def _elapsed(row, timing, profile):
    """Training seconds after each epoch of an accuracy row, and which backend they timed.

    An accuracy row run on another backend than the timings (the quick profile
    learns on the serial one) is put at the timed backend's median epoch time.
    """
    own = np.cumsum(row["history"]["seconds"]).tolist()
    if row["backend"] in (None, profile.backend):
        return own, row["backend"] or "sequential"
    timed = select(timing, backend=profile.backend, workers=row["workers"],
                   train_size=row["train_size"], micro_batch=row["micro_batch"],
                   strategy=row["strategy"])
    if not timed:
        return own, row["backend"]
    per_epoch = timed[0]["seconds"] / timed[0]["epochs"]
    return [per_epoch * (k + 1) for k in range(len(own))], profile.backend


def _timeline_note(row):
    ph = row.get("phases")
    head = (f"P = {row['train_size']:,}, N = {row['workers']}, b = {row['micro_batch']}, "
            f"backend `{row['backend']}`, aggregation `{row.get('aggregate')}`, "
            f"{row['epochs']} epoch(s), {row['seconds']:.2f} s.")
    if not ph:
        return head + " This run recorded no trace."
    us = 1e6
    return (head + f" Per iteration, averaged over the run: compute {ph['compute'] * us:.1f} us"
            f" per worker, barrier wait {ph['wait'] * us:.1f} us, aggregation "
            f"{ph['aggregate'] * us:.1f} us, over {int(ph['iterations']):,} iterations.")


def save_seed_defaults(record, cache_dir, dest):
    """Write the seed's default run (model, metrics, history figure) into ``dest``."""

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    model = MLP.load(Path(cache_dir) / record["files"]["model"])
    result = TrainResult(model=model, history=record["history"], config=record["config"])
    result.save(dest)
    plots.save_figure(plots.plot_history(result.history, title=result.summary().split(":")[0]),
                      dest / "history", formats=("png", "svg"))
    return f"{result.summary()}. Files: model.npz, metrics.json, history.png, history.svg."


def draw_figures(study, timeline_record, cache_dir, out, formats=("png", "svg")):
    """Draw every figure of the study into ``out`` (PNG and SVG); return their file names."""
    out, cores = Path(out), study["machine"].get("hardware_threads")
    acc = study["accuracy"]
    # With one worker both rules are the same run: start the linear line from it.
    acc_lines = acc + [{**r, "lr_rule": "linear"} for r in acc if r["workers"] == 1]
    amdahl = {(c["strategy"], c["micro_batch"], c["train_size"]): c["amdahl"]
              for c in study["curves"]}
    figs = {
        "time_vs_workers": plots.plot_time_vs_workers(study["timing"], cores),
        "speedup": plots.plot_speedup(study["speedup"], amdahl, cores),
        "efficiency": plots.plot_efficiency(study["speedup"], cores),
        "accuracy_vs_workers": plots.plot_accuracy_vs_workers(acc_lines),
        "accuracy_vs_time": plots.plot_accuracy_vs_time(acc),
    }
    trace_file = timeline_record.get("files", {}).get("trace")
    if trace_file:
        with np.load(Path(cache_dir) / trace_file, allow_pickle=False) as f:
            trace = f["trace"]
        c = timeline_record["cell"]
        figs["timeline"] = plots.plot_run_timeline(
            trace, title=f"One run's timeline: P = {c['train_size']:,}, N = {c['workers']}, "
                         f"b = {c['micro_batch']}, {c['backend']}, "
                         f"{timeline_record['config'].get('aggregate')} aggregation")
    if study["cost_model"]:
        model = CostModel(**study["cost_model"])
        measured = [(p["workers"], p["measured"]) for p in study["cost_predictions"]
                    if p["measured"]]
        p_max = max(r["train_size"] for r in study["timing"])
        figs["cost_model"] = plots.plot_cost_model(model, measured, train_size=p_max)
    if study.get("sweep"):
        figs["speedup_vs_batch"] = plots.plot_speedup_vs_batch(study["sweep"])
    figs.update(draw_sync_figures(study))
    written = []
    for name, fig in figs.items():
        written += [p.name for p in plots.save_figure(fig, out / name, formats=formats)]
    return written
