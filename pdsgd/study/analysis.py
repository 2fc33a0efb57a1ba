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
from pdsgd.study.claims import assess_claims, families, judged_on
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
    hardware = summarize(parts.get("hardware") or [])
    table = speedup_table(timing, profile.backend, hardware)
    seed_family = families(table)[0] if table else ("data", min(profile.micro_batches))
    seed_rows = [r for r in timing if r["micro_batch"] == seed_family[1]
                 and (r["backend"] is None or r["strategy"] == seed_family[0])]
    accuracy = summarize(parts["accuracy"])
    for r in accuracy:
        r["step_lr"] = (parts["accuracy"][0]["settings"]["lr"]
                        * (r["workers"] * r["micro_batch"] if r["lr_rule"] == "linear" else 1))
        r["elapsed"], r["time_from"] = _elapsed(r, timing, profile)
    baselines = sequential_baselines(timing, hardware)
    model = fit_cost_model(seed_rows, cores, baselines=baselines)
    p_max = max(r["train_size"] for r in timing)
    predictions = predict(model, table, seed_family, p_max) if model else []
    sweep = sweep_table(summarize(parts.get("sweep") or []), profile.backend, hardware)
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
        # The hardware speedup's baselines: sequential minibatch SGD at batch N b.
        "hardware_baselines": [{k: v for k, v in r.items() if k != "history"}
                               for r in hardware],
        "speedup": table, "curves": curve_fits(table, cores), "accuracy": accuracy,
        "breakdown": breakdown(seed_rows, p_max, cores),
        "cost_model": model.as_dict() if model else None, "cost_predictions": predictions,
        "cost_models": strategy_models(timing, table, cores, p_max, baselines),
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


def speedup_table(rows, backend, baselines=()):
    """Both speedups and the efficiency of every ``backend`` row, each against its baseline.

    ``speedup`` is the seed's S: against the sequential run at the same P and
    micro-batch b (at b = 1 the seed's one-sample SGD, at b = 16 minibatch SGD
    with batch 16 in one process). ``hardware_speedup`` is against the
    sequential run at batch N b (:func:`hardware_baseline_row`, looked up in
    ``rows`` and ``baselines``), the same arithmetic as the engine's, and
    ``efficiency`` is it over N (S / N where that run is missing). Ranges: the
    median baseline over the row's slowest and fastest repeat.
    """
    baselines = list(rows) + list(baselines)
    table = []
    for seq in select(rows, backend=None, workers=1):
        t1, b = seq["seconds"], seq.get("micro_batch", 1)
        seq["speedup"], seq["efficiency"] = 1.0, 1.0
        for r in select(rows, backend=backend, train_size=seq["train_size"], micro_batch=b):
            r["speedup"] = t1 / r["seconds"]
            row = {"train_size": r["train_size"], "workers": r["workers"],
                   "micro_batch": b, "strategy": r.get("strategy", "data"),
                   "aggregate": r.get("aggregate"),
                   "speedup": r["speedup"], "speedup_lo": t1 / r["seconds_max"],
                   "speedup_hi": t1 / r["seconds_min"]}
            same = hardware_baseline_row(baselines, r)
            if same is not None:
                th = same["seconds"]
                r["hardware_speedup"] = th / r["seconds"]
                row.update(hardware_speedup=r["hardware_speedup"],
                           hardware_speedup_lo=th / r["seconds_max"],
                           hardware_speedup_hi=th / r["seconds_min"])
            r["efficiency"] = r.get("hardware_speedup", r["speedup"]) / r["workers"]
            row["efficiency"] = r["efficiency"]
            table.append(row)
    return table


def hardware_baseline_row(rows, row):
    """The sequential row at batch N b and the same P and epochs as ``row``, or None."""
    found = select(rows, backend=None, workers=1, train_size=row["train_size"],
                   epochs=row["epochs"], micro_batch=row["workers"] * row["micro_batch"])
    return found[0] if found else None


def sweep_table(rows, backend, baselines=()):
    """The sweep over b: each strategy's speedup at the sweep's one N and P, per b.

    Returns
    -------
    list of dict
        Rows of :func:`speedup_table` (``strategy``, ``micro_batch``, ``workers``,
        ``train_size``, ``speedup`` and its range), sorted by strategy and b.
    """
    table = [r for r in speedup_table(rows, backend, baselines) if r["workers"] > 1]
    return sorted(table, key=lambda r: (r["strategy"] != "data", r["strategy"],
                                        r["micro_batch"]))


def strategy_models(timing, table, cores, train_size, baselines=()):
    """A cost model per strategy, fitted on its curve at its smallest b, with predictions.

    ``baselines``: sequential rows at other batches (:func:`sequential_baselines`), from
    which each model reads the hardware speedup's baseline.

    Returns
    -------
    list of dict
        Per strategy: ``strategy``, ``micro_batch``, ``model`` (the
        :class:`~pdsgd.study.costmodel.CostModel`'s terms) and ``predictions``
        (:func:`predict`: both speedups, predicted and measured, at P =
        ``train_size``), the seed's data parallelism first.
    """
    out = []
    for strategy, b in families(table):
        if any(m["strategy"] == strategy for m in out):
            continue  # the strategy's smallest b comes first
        rows = [r for r in timing if r["micro_batch"] == b
                and (r["backend"] is None or r["strategy"] == strategy)]
        model = fit_cost_model(rows, cores, strategy=strategy, baselines=baselines)
        if model is None:
            continue
        out.append({"strategy": strategy, "micro_batch": b, "model": model.as_dict(),
                    "predictions": predict(model, table, (strategy, b), train_size)})
    return out


def sequential_baselines(timing, hardware):
    """The sequential rows of the timing grid and the hardware speedup's baselines (batch
    N b), each (P, batch, epochs) once: the rates the cost model reads the hardware
    speedup's baseline from."""
    seen = {}
    for r in list(timing) + list(hardware):
        if r["backend"] is None:
            seen.setdefault((r["train_size"], r["micro_batch"], r["epochs"]), r)
    return list(seen.values())


def predict(model, table, family, train_size):
    """The cost model's predictions of both speedups beside the measured ones, per N.

    Returns
    -------
    list of dict
        Per N: ``many_cores`` and ``this_machine`` (the seed's S predicted with a
        core per worker and on the measuring machine), ``measured`` (S); and
        ``hardware_many_cores``, ``hardware_this_machine`` (None where the
        sequential rate at N b was not measured, :meth:`CostModel.hardware_speedup`)
        and ``hardware_measured``, for the curve ``family`` = (strategy, b) at P =
        ``train_size``.
    """
    strategy, b = family
    rows = {r["workers"]: r for r in table if r["train_size"] == train_size
            and (r["strategy"], r["micro_batch"]) == (strategy, b)}
    return [{"workers": n, "many_cores": model.speedup(n, train_size, b, cores=n),
             "this_machine": model.speedup(n, train_size, b),
             "measured": rows[n]["speedup"] if n in rows else None,
             "hardware_many_cores": model.hardware_speedup(n, train_size, b, cores=n),
             "hardware_this_machine": model.hardware_speedup(n, train_size, b),
             "hardware_measured": rows[n].get("hardware_speedup") if n in rows else None}
            for n in sorted(set(PREDICT_WORKERS) | set(rows))]


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

    Fitted to the speedup the claims are judged on (:func:`~pdsgd.study.claims.judged_on`:
    the hardware speedup where the study has it), named in each row's ``measure``.

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
    measure = judged_on(table)
    for (strategy, b, p), rs in sorted(groups.items()):
        pts = [(r["workers"], r[measure]) for r in rs]
        # Amdahl's premise is a processor per worker: fit where that holds.
        within = [(n, s) for n, s in pts if n <= cores] if cores > 1 else pts
        log = fit_log(*zip(*pts, strict=True))
        out.append({"strategy": strategy, "micro_batch": b, "train_size": p, "measure": measure,
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
        preds = study["cost_predictions"]
        measured = [(p["workers"], p["measured"]) for p in preds if p["measured"]]
        hardware = [(p["workers"], p["hardware_measured"]) for p in preds
                    if p.get("hardware_measured")]
        p_max = max(r["train_size"] for r in study["timing"])
        b = families(study["speedup"])[0][1]  # the seed's curve, which the model was fitted on
        figs["cost_model"] = plots.plot_cost_model(model, measured, train_size=p_max,
                                                   micro_batch=b, measured_hardware=hardware)
    if study.get("sweep"):
        figs["speedup_vs_batch"] = plots.plot_speedup_vs_batch(study["sweep"])
    figs.update(draw_sync_figures(study))
    tt = study.get("to_target")
    if tt and tt["curve"]:
        figs["batch_size"] = plots.plot_batch_size(tt)
    if tt and tt["engine"]:
        figs["time_to_accuracy"] = plots.plot_time_to_accuracy(tt)
    written = []
    for name, fig in figs.items():
        written += [p.name for p in plots.save_figure(fig, out / name, formats=formats)]
    return written
