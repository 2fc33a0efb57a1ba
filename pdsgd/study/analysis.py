"""From cached cell records to the study: tables, fits, figures (for :mod:`.reproduce`).

Nothing here trains. :func:`analyse` turns records into the numbers of
``study.json`` (speedups, Amdahl and logarithmic fits, the cost model, the
claims), :func:`draw_figures` draws them, :func:`save_seed_defaults` writes the
seed's default run. Figures are drawn only from those numbers, so a second run
that reads every cell from the cache draws the very same figures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pdsgd import plots
from pdsgd.mlp import MLP
from pdsgd.study.costmodel import CostModel, fit_amdahl, fit_cost_model, fit_log
from pdsgd.study.experiment import dataset_id, select, summarize
from pdsgd.study.report import assess_claims
from pdsgd.train import TrainResult

PREDICT_WORKERS = (1, 2, 4, 8, 16, 32, 64)


def analyse(profile, data, parts, notice, machine):
    """The study's numbers from the records of each part (timing, accuracy, timeline)."""

    cores = machine.get("hardware_threads") or 1
    timing = summarize(parts["timing"])
    table = speedup_table(timing, profile.backend)
    amdahl, log_fit = {}, {}
    for p in sorted({r["train_size"] for r in table}):
        pts = [(r["workers"], r["speedup"]) for r in table if r["train_size"] == p]
        # Amdahl's premise is a processor per worker: fit where that holds.
        fit_pts = [(n, s) for n, s in pts if n <= cores] if cores > 1 else pts
        amdahl[p] = fit_amdahl(*zip(*fit_pts, strict=True)) if fit_pts else None
        log_fit[p] = fit_log(*zip(*pts, strict=True))
        log_fit[p] = list(log_fit[p]) if log_fit[p] else [None, None]
    accuracy = summarize(parts["accuracy"])
    for r in accuracy:
        r["step_lr"] = (parts["accuracy"][0]["settings"]["lr"]
                        * (r["workers"] * r["micro_batch"] if r["lr_rule"] == "linear" else 1))
        r["elapsed"], r["time_from"] = _elapsed(r, timing, profile)
    model = fit_cost_model(timing, cores)
    predictions = []
    if model:
        p_max = max(r["train_size"] for r in timing)
        measured = {r["workers"]: r["speedup"] for r in table if r["train_size"] == p_max}
        predictions = [{"workers": n, "many_cores": model.speedup(n, p_max, cores=n),
                        "this_machine": model.speedup(n, p_max), "measured": measured.get(n)}
                       for n in sorted(set(PREDICT_WORKERS) | set(measured))]
    tl = summarize(parts["timeline"])[0]
    study = {
        "profile": profile.name, "dataset": dataset_id(data), "notice": notice,
        "profile_notes": list(profile.notes), "backend": profile.backend,
        "settings": parts["timing"][0]["settings"],
        "sizes": "-".join(map(str, parts["timing"][0]["config"]["sizes"])),
        "epochs": {"timing": profile.timing_epochs, "accuracy": accuracy[0]["epochs"]},
        "repeats": profile.repeats, "machine": machine,
        "timing": [{k: v for k, v in r.items() if k != "history"} for r in timing],
        "speedup": table, "amdahl": amdahl, "log_fit": log_fit, "accuracy": accuracy,
        "cost_model": model.as_dict() if model else None, "cost_predictions": predictions,
        "timeline_cell": {k: v for k, v in tl.items() if k != "history"},
        "timeline_note": _timeline_note(tl),
    }

    study["claims"] = assess_claims(study)
    return study


def speedup_table(rows, backend):
    """Speedup and efficiency of every ``backend`` row against the sequential row of its P."""
    table = []
    for seq in select(rows, backend=None, workers=1):
        t1 = seq["seconds"]
        seq["speedup"], seq["efficiency"] = 1.0, 1.0
        for r in select(rows, backend=backend, train_size=seq["train_size"]):
            r["speedup"] = t1 / r["seconds"]
            r["efficiency"] = r["speedup"] / r["workers"]
            table.append({"train_size": r["train_size"], "workers": r["workers"],
                          "speedup": r["speedup"], "speedup_lo": t1 / r["seconds_max"],
                          "speedup_hi": t1 / r["seconds_min"], "efficiency": r["efficiency"]})
    return table


def _elapsed(row, timing, profile):
    """Training seconds after each epoch of an accuracy row, and which backend they timed.

    An accuracy row run on another backend than the timings (the quick profile
    learns on the serial one) is put at the timed backend's median epoch time.
    """
    own = np.cumsum(row["history"]["seconds"]).tolist()
    if row["backend"] in (None, profile.backend):
        return own, row["backend"] or "sequential"
    timed = select(timing, backend=profile.backend, workers=row["workers"],
                   train_size=row["train_size"], micro_batch=row["micro_batch"])
    if not timed:
        return own, row["backend"]
    per_epoch = timed[0]["seconds"] / timed[0]["epochs"]
    return [per_epoch * (k + 1) for k in range(len(own))], profile.backend


def _timeline_note(row):
    ph = row.get("phases")
    head = (f"P = {row['train_size']:,}, N = {row['workers']}, backend `{row['backend']}`, "
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
    figs = {
        "time_vs_workers": plots.plot_time_vs_workers(study["timing"], cores),
        "speedup": plots.plot_speedup(study["speedup"], study["amdahl"], cores),
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
                         f"backend {c['backend']} (a window of iterations)")
    if study["cost_model"]:
        model = CostModel(**study["cost_model"])
        measured = [(p["workers"], p["measured"]) for p in study["cost_predictions"]
                    if p["measured"]]
        p_max = max(r["train_size"] for r in study["timing"])
        figs["cost_model"] = plots.plot_cost_model(model, measured, train_size=p_max)
    written = []
    for name, fig in figs.items():
        written += [p.name for p in plots.save_figure(fig, out / name, formats=formats)]
    return written

