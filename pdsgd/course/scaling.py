"""Notebook 03's measurements: the seed's experiment in small, timed with repeats, or read
from what ``make reproduce`` already measured on this machine; and the two ways to split
the work (data and tensor parallelism) run side by side from a training panel.

A single timing on a shared laptop can be spoiled by anything else running:
four runs of one cell once gave speedups of 0.40 to 1.25 at N = 2. So every
cell is run ``repeats`` times, the repeats *interleaved* (round r runs every
N once, then round r + 1), and the tables show the median and the spread.
:func:`pdsgd.study.experiment.run_grid` runs cells in that order.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from pdsgd.course.lessons import crossing_line, pick
from pdsgd.machine import machine_key, usable_cores
from pdsgd.spec import TENSOR
from pdsgd.study import ceiling
from pdsgd.study.analysis import hardware_baseline_row, predict, speedup_table
from pdsgd.study.costmodel import bytes_moved
from pdsgd.study.experiment import Cell, dataset_id, select, summarize

#: Where ``make reproduce`` caches its cells, seen from the notebooks' folder.
REPRODUCE_CACHE = Path("..") / "results" / ".cache"


def cells(train_size, workers, *, repeats, epochs=1, backend="processes", micro_batch=1,
          sequential=True):
    """The grid, ``repeats`` rounds in turn: the sequential run at b (the seed's S's
    baseline, unless ``sequential`` is False) and, per N, the engine with N workers of
    micro-batch b beside sequential minibatch SGD at batch N b (the hardware speedup's
    baseline: the same arithmetic on one core)."""
    out = []
    for r in range(repeats):
        if sequential:
            out.append(Cell(train_size=train_size, workers=1, backend=None,
                            micro_batch=micro_batch, epochs=epochs, repeat=r))
        for n in workers:
            if n > 1:
                out.append(Cell(train_size=train_size, workers=1, backend=None,
                                micro_batch=n * micro_batch, epochs=epochs, repeat=r))
            out.append(Cell(train_size=train_size, workers=n, backend=backend,
                            micro_batch=micro_batch, epochs=epochs, repeat=r))
    return out


def cached_records(data, cache_dir=REPRODUCE_CACHE, train_size=None, backend="processes"):
    """The timing cells ``make reproduce`` measured on this machine, or None if there are none.

    Reads the cell records in ``cache_dir`` (nothing is trained) and keeps
    those of the seed's setting (the engine on ``backend`` at b = 1, the fixed
    rate) on ``data``, with the sequential runs at batch 1 (the seed's S's
    baseline) and at each engine cell's N (the hardware speedup's), measured on
    a machine like this one. Of their training sizes it keeps ``train_size`` if
    it is there, else the largest.

    Returns
    -------
    list of dict or None
        Records as :func:`pdsgd.study.experiment.run_grid` returns them.
    """
    here, wanted = machine_key(), dataset_id(data)
    found = []
    for path in sorted(Path(cache_dir).glob("*.json")):
        try:
            record = json.loads(path.read_text())
            cell = record["cell"]
        except (OSError, ValueError, KeyError):
            continue
        machine = record.get("machine", {})
        sequential = cell.get("backend") is None
        if (record.get("data") != wanted or (cell.get("micro_batch") != 1 and not sequential)
                or cell.get("lr_rule") != "fixed" or cell.get("backend") not in (None, backend)
                or cell.get("keep_trace") or cell.get("strategy", "data") != "data"
                or machine.get("cpu") != here["cpu"]
                or any(machine.get(k, v) != v for k, v in here.items())):
            continue
        found.append({**record, "cached": True})
    sizes = {r["cell"]["train_size"] for r in found
             if r["cell"]["backend"] == backend}
    if not sizes:
        return None
    size = train_size if train_size in sizes else max(sizes)
    found = [r for r in found if r["cell"]["train_size"] == size]
    # The timing cells' epochs (the most common among the engine's: its repeats), not those
    # of an accuracy run of the same P, which trains longer and is no timing of this grid.
    engine_epochs = [r["cell"]["epochs"] for r in found if r["cell"]["backend"] == backend]
    epochs = max(set(engine_epochs), key=engine_epochs.count)
    found = [r for r in found if r["cell"]["epochs"] == epochs]
    # The sequential runs that are a baseline here: batch 1, and N b = N of an engine cell.
    batches = {1} | {r["cell"]["workers"] for r in found if r["cell"]["backend"] == backend}
    return [r for r in found if r["cell"]["backend"] or r["cell"]["micro_batch"] in batches]


def speedups(records, backend="processes"):
    """Per run: median training time and its spread, and both speedups, as a table.

    The seed's S is T_seq(b) / T(N), against the sequential run at the same
    micro-batch b; the hardware speedup is T_seq(N b) / T(N), against
    sequential minibatch SGD at batch N b (the same arithmetic on one core), and
    the efficiency is it over N. Ranges divide the median baseline by the
    slowest and the fastest repeat of T(N). The sequential rows are the
    baselines, each named.
    """
    rows = summarize(records)
    table = {(r["train_size"], r["workers"], r["micro_batch"]): r
             for r in speedup_table(rows, backend)}
    b = min((r["micro_batch"] for r in rows if r["backend"]), default=1)
    out = []
    for r in sorted(rows, key=lambda r: (r["backend"] is not None, r["workers"],
                                         r["micro_batch"])):
        s = table.get((r["train_size"], r["workers"], r["micro_batch"])) if r["backend"] else {}
        if r["backend"] is None:
            n = r["micro_batch"] // b
            role = ("baseline of S" if r["micro_batch"] == b else
                    f"baseline of the hardware speedup at N = {n}")
        out.append({"N": r["workers"], "backend": r["backend"] or "sequential",
                    "batch (N b)": r["workers"] * r["micro_batch"],
                    "baseline of": "" if r["backend"] else role,
                    "repeats": r["repeats"], "median time (s)": r["seconds"],
                    "fastest (s)": r["seconds_min"], "slowest (s)": r["seconds_max"],
                    "S (against sequential at b)": s.get("speedup", np.nan),
                    "S range": _range(s, "speedup"),
                    "hardware speedup (against sequential at N b)":
                        s.get("hardware_speedup", np.nan),
                    "hardware speedup range": _range(s, "hardware_speedup"),
                    "efficiency (hardware speedup / N)": s.get("efficiency", np.nan)
                    if "hardware_speedup" in s else np.nan,
                    "test accuracy": r["test_accuracy"]})
    return pd.DataFrame(out).round(3)


def _range(row, key):
    return f"{row[key + '_lo']:.2f} to {row[key + '_hi']:.2f}" if key in row else ""


def two_speedups_in_words(rows, backend="processes"):
    """Per parallel N, the engine's time beside both baselines' and the two speedups they
    give, each named for its baseline, in lines built from the measured medians.

    ``rows`` are :func:`pdsgd.study.experiment.summarize`'s. Where the hardware
    speedup passes its ideal N, the line says so and gives the repeats' range,
    the measurement to read it against.
    """
    lines = []
    for t in speedup_table(rows, backend):
        if t["workers"] < 2:
            continue
        n, b, p = t["workers"], t["micro_batch"], t["train_size"]
        engine = select(rows, backend=backend, workers=n, micro_batch=b, train_size=p)[0]
        at_b = select(rows, backend=None, workers=1, micro_batch=b, train_size=p)[0]
        text = (f"N = {n}, b = {b}: the engine {engine['seconds']:.4f} s; the sequential run "
                f"at b = {b} {at_b['seconds']:.4f} s, so the seed's S = {t['speedup']:.2f}")
        same = hardware_baseline_row(rows, engine)
        if same is not None:
            text += (f"; sequential minibatch SGD at batch N b = {n * b} "
                     f"{same['seconds']:.4f} s, so the hardware speedup = "
                     f"{t['hardware_speedup']:.2f} (ideal {n})")
            if t["speedup"] > n:
                text += (f"; S is above N because sequential minibatch SGD at batch {n * b} "
                         f"ran {at_b['seconds'] / same['seconds']:.2f}x as fast as at b = {b} "
                         "on one core: the larger batch's gain, not the cores'")
            if t["hardware_speedup"] > n:
                text += (f", above its ideal: its repeats ranged "
                         f"{t['hardware_speedup_lo']:.2f} to {t['hardware_speedup_hi']:.2f}"
                         + (": it passed N in every repeat, which is not the spread, and "
                            "nothing this notebook measured explains it (measure again, on a "
                            "quieter machine)" if t["hardware_speedup_lo"] > n else
                            ": N lies within the spread of the repeats"))
        lines.append(text)
    return "\n".join(lines)


def cost_model_table(model, speedup_rows, train_size):
    """The cost model's predictions of both speedups beside those measured, per N.

    ``speedup_rows`` are :func:`pdsgd.study.analysis.speedup_table`'s (one curve);
    the predictions are :func:`pdsgd.study.analysis.predict`'s, empty where the
    sequential rate at batch N b was not measured.
    """
    b = min((r["micro_batch"] for r in speedup_rows), default=1)
    names = {"workers": "N", "many_cores": "S predicted, a core each",
             "this_machine": f"S predicted, {model.cores} cores", "measured": "S measured",
             "hardware_many_cores": "hardware speedup predicted, a core each",
             "hardware_this_machine": f"hardware speedup predicted, {model.cores} cores",
             "hardware_measured": "hardware speedup measured"}
    rows = predict(model, speedup_rows, ("data", b), train_size)
    return pd.DataFrame(rows).rename(columns=names)[list(names.values())].set_index(
        "N").astype(float).round(2)


def iteration_budget(records):
    """Per N: where one iteration's time went, mean microseconds per iteration.

    ``its samples, sequentially`` is what the sequential program takes for the
    N b samples of one iteration (N of its steps); ``one iteration`` is the
    median training time divided by the iterations;
    ``compute``, ``barrier wait`` and ``aggregate`` are one worker's means from
    the trace; ``rest`` is what is left of the iteration. With ``central``
    aggregation the broker applies the update while the workers wait, so the
    wait already holds the aggregation, and the rest is counted without it.
    For the sequential program an iteration is one step: compute and update.
    """
    aggregation = {(r["cell"]["workers"], r["cell"]["backend"]): r["config"].get("aggregate")
                   for r in records}
    rows = summarize(records)
    step = {r["micro_batch"]: r["seconds"] / r["iterations"] for r in rows if r["backend"] is None}
    b = min((r["micro_batch"] for r in rows if r["backend"]), default=1)
    # The sequential run at the engine's b only: the others are baselines at batch N b.
    rows = [r for r in rows if r["backend"] or r["micro_batch"] == b]
    out = []
    for r in sorted(rows, key=lambda r: (r["backend"] is not None, r["workers"])):
        per_iteration = r["seconds"] / r["iterations"]
        mode = aggregation[(r["workers"], r["backend"])]
        phases = r["phases"] or {"compute": per_iteration, "wait": 0.0, "aggregate": 0.0}
        inside_wait = mode == "central"
        rest = per_iteration - phases["compute"] - phases["wait"] - \
            (0.0 if inside_wait else phases["aggregate"])
        sequential = step.get(r["micro_batch"], float("nan")) * r["workers"]
        out.append({"N": r["workers"], "backend": r["backend"] or "sequential",
                    "aggregation": mode or "",
                    "its samples, sequentially (us)": sequential * 1e6,
                    "one iteration (us)": per_iteration * 1e6,
                    "compute (us)": phases["compute"] * 1e6,
                    "barrier wait (us)": phases["wait"] * 1e6,
                    "aggregate (us)": phases["aggregate"] * 1e6,
                    "rest (us)": rest * 1e6})
    return pd.DataFrame(out).round(1)


def compare_splits(panel, repeats=1):
    """Run a training panel once per value of its ``parallel`` drop-down, ``repeats`` times
    in turn, as a student flipping it would; print what crossed between the workers.

    The panel's other controls stay as they are (N, b, P, backend...). Both
    splits compute the same minibatch SGD with batch N b, so they should reach
    the same accuracy; their times differ.

    Returns
    -------
    pandas.DataFrame
        One row per split: test accuracy, median training time and its range over
        the repeats, numbers and bytes crossing between the workers per iteration
        and barrier crossings per iteration (:func:`pdsgd.study.costmodel.bytes_moved`).
    """
    runs = {split: [] for split in panel.parallel.options}
    for _ in range(repeats):
        for split, done in runs.items():
            panel.parallel.value = split
            result = panel.run()
            if result is None:
                raise RuntimeError(f"parallel = {split}: {panel.error or 'the run was stopped'}")
            done.append(result)
    rows = []
    for split, results in runs.items():
        seconds = [r.train_seconds for r in results]
        moved = bytes_moved(results[0].config)
        print(crossing_line(results[0].config))
        rows.append({"parallel": split, "test accuracy": results[0].test_accuracy,
                     "training time (s)": float(np.median(seconds)),
                     "fastest (s)": min(seconds), "slowest (s)": max(seconds),
                     "numbers per iteration": moved["numbers"],
                     "bytes per iteration": moved["bytes"],
                     "barrier crossings per iteration": moved["crossings"]})
    return pd.DataFrame(rows).set_index("parallel")


def splits_in_words(table):
    """What :func:`compare_splits` measured, in sentences built from its numbers."""
    data, tensor = table.loc["data"], table.loc[TENSOR]
    gap = abs(data["test accuracy"] - tensor["test accuracy"])
    same = (f"the same test accuracy, {data['test accuracy']:.4f}, as two runs of one "
            "minibatch SGD should" if gap < 5e-5 else
            f"test accuracies {data['test accuracy']:.4f} and {tensor['test accuracy']:.4f}, "
            "which differ, though both runs compute one minibatch SGD: look for what else "
            "differs between them (the panel's other controls)")
    ratio = data["training time (s)"] / tensor["training time (s)"]
    faster = (f"tensor parallelism trained {ratio:.2f}x as fast as data parallelism"
              if ratio >= 1 else
              f"data parallelism trained {1 / ratio:.2f}x as fast as tensor parallelism")
    fewer = data["numbers per iteration"] / tensor["numbers per iteration"]
    return (f"Both reached {same}. Median training time: data "
            f"{data['training time (s)']:.2f} s, tensor {tensor['training time (s)']:.2f} s: "
            f"{faster}. Per iteration, data parallelism moved "
            f"{int(data['numbers per iteration']):,} numbers between the workers and tensor "
            f"parallelism {int(tensor['numbers per iteration']):,}, "
            + (f"{fewer:.0f}x fewer." if fewer >= 1 else f"{1 / fewer:.0f}x more."))


def machine_ceiling(train_size, repeats):
    """The machine's ceiling at b = 1 (:func:`pdsgd.study.ceiling.measure`), at the notebook's P.

    One copy of the sequential path per usable core, timed at once against one
    alone, ``repeats`` rounds in turn; None on a machine with one usable core.
    """
    if usable_cores() < 2:
        return None
    return ceiling.measure("mnist-5k", train_size, micro_batches=(1,), repeats=repeats,
                           min_seconds=pick(0.3, 0.05))


def ceiling_in_words(top, speedups):
    """The engine's speedup at N = cores beside the machine's ceiling, in sentences.

    ``top`` is :func:`machine_ceiling`'s result, ``speedups`` the rows of
    :func:`pdsgd.study.analysis.speedup_table`.
    """
    if top is None:
        return "One usable core: there is no ceiling to measure, and nothing to run in parallel."
    k, row = top["copies"], top["rows"][0]
    lo, hi = row["ceiling_range"]
    lost = k - row["ceiling"]
    text = (f"{k} copies of the sequential program at once ran {row['ceiling']:.2f}x as fast "
            f"as one alone ({lo:.2f}x-{hi:.2f}x over {top['repeats']} rounds), where {k}.00x "
            + (f"would be perfect: the machine itself lost {lost:.2f}." if lost > 0 else
               f"would be perfect: the machine lost nothing this time (above {k}.00x is the "
               "rounds' noise)."))
    at_k = [r for r in speedups if r["workers"] == k and r["micro_batch"] == 1]
    if at_k and all("hardware_speedup" in r for r in at_k):
        # Against the same arithmetic: the copies' gain is the cores', not a larger batch's.
        engine = float(np.median([r["hardware_speedup"] for r in at_k]))
        seed = float(np.median([r["speedup"] for r in at_k]))
        lost = row["ceiling"] - engine
        text += (f" The engine with N = {k} reached a hardware speedup of {engine:.2f}x "
                 f"(against sequential minibatch SGD at batch {k}; the seed's S, against the "
                 f"sequential run at b = 1, was {seed:.2f}x): working together "
                 + (f"cost it another {lost:.2f}." if lost > 0 else
                    f"cost it nothing more; it beat the copies by {-lost:.2f}."))
    elif at_k:
        engine = float(np.median([r["speedup"] for r in at_k]))
        lost = row["ceiling"] - engine
        text += (f" The engine with N = {k} reached the seed's S of {engine:.2f}x (against the "
                 "sequential run at b = 1; no run at batch N b here, so no hardware speedup): "
                 "working together "
                 + (f"cost it another {lost:.2f}." if lost > 0 else
                    f"cost it nothing more; it beat the copies by {-lost:.2f}."))
    return text
