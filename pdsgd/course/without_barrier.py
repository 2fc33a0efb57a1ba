"""What notebook 6 measures: runs without the barrier (SSP, async, Hogwild!), side by side.

A run's row (its setting, samples/s, how much of the workers' time went to
waiting, how stale its gradients were, its test accuracy), a table of the
rows a panel collected, and the sweep over every setting with a straggler:
``pdsgd bench sync`` itself (:func:`pdsgd.study.sync_sweep.run`), so the notebook
and the benchmark measure the same thing the same way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pdsgd.course.lessons import defaults
from pdsgd.spec import SYNCS
from pdsgd.study import sync_sweep
from pdsgd.train import result as tr
from pdsgd.train import train

#: The panel's ``sync`` choices: the engine's own (BSP first, the seed's).
SYNC_CHOICES = tuple(SYNCS)


def setting_label(config):
    """``"bsp"``, ``"ssp s=4"``, ``"async"``, ``"hogwild"``: a run's setting, from its config."""
    sync = config.get("sync", "bsp")
    return f"ssp s={config['staleness']}" if sync == "ssp" else sync


#: Of the workers' recorded time, the share spent waiting (the red of the timeline).
wait_share = tr.wait_share


def run_row(result):
    """One run, as a row of :func:`runs_table`: its settings (sync, N, P, backend, the
    straggler's extra ms per iteration), then what it measured."""
    stale, c = result.staleness, result.config
    delay = 1e3 * c.get("straggler_delay", 0.0) if c.get("straggler") is not None else 0.0
    return {"sync": setting_label(c), "N": c["workers"], "P": c["train_size"],
            "backend": c["backend"], "delay ms": delay, "samples/s": result.samples_per_second,
            "waiting": wait_share(result.trace),
            "staleness mean": float(np.mean(stale)) if len(stale) else 0.0,
            "staleness max": int(np.max(stale)) if len(stale) else 0,
            "test accuracy": result.test_accuracy}


def run_line(label, row):
    """One run (a :func:`run_row`) in one printed line, after ``label``."""
    return (f"{label}: {row['samples/s']:8,.0f} samples/s, waiting {row['waiting']:4.0%}, "
            f"staleness mean {row['staleness mean']:.2f} (max {row['staleness max']}), "
            f"test accuracy {row['test accuracy']:.4f}")


def runs_table(rows):
    """The runs a panel made so far, one row each (numbered from 1)."""
    frame = pd.DataFrame(rows, index=pd.RangeIndex(1, len(rows) + 1, name="run"))
    return frame.round({"delay ms": 1, "samples/s": 0, "waiting": 2, "staleness mean": 2,
                        "test accuracy": 4})


def sweep(data, *, workers=2, factor=2.0, train_size=None, epochs=1, repeats=None,
          settings=sync_sweep.SETTINGS, backend="threads"):
    """Every setting with worker N-1 ``factor`` times slower: :func:`pdsgd.study.sync_sweep.run`.

    Threads by default: they start in no time, so a cell of the notebook
    stays short; ``backend="processes"`` measures what ``pdsgd bench sync`` does.
    ``repeats`` (interleaved rounds) defaults to the course's.

    Returns
    -------
    dict
        What :func:`pdsgd.study.sync_sweep.run` returns; ``by_setting(result)`` indexes its rows.
    """
    return sync_sweep.run(data, epochs=epochs, repeats=repeats or defaults()["repeats"],
                     workers=(workers,), micro_batches=(1,), factors=(factor,),
                     settings=settings, backend=backend, train_size=train_size, progress=None)


def by_setting(result):
    """``{setting: row}`` of a :func:`sweep` (one N, b and straggler)."""
    return {r["setting"]: r for r in result["rows"]}


def sweep_table(result):
    """A :func:`sweep` as a table: rate and accuracy against BSP's, staleness."""
    frame = pd.DataFrame([{
        "setting": r["setting"], "samples/s": r["samples_per_s"], "vs BSP": r["vs_bsp"],
        "test accuracy": r["test_accuracy"], "vs BSP (points)": r["accuracy_vs_bsp"],
        "staleness mean": r["staleness_mean"], "staleness max": r["staleness_max"]}
        for r in result["rows"]]).set_index("setting")
    return frame.round({"samples/s": 0, "vs BSP": 2, "test accuracy": 4, "vs BSP (points)": 1,
                        "staleness mean": 2})


def reproducible(data, **options):
    """Train twice with the same seed and options: True if both runs end with the same weights.

    BSP computes the same weights whatever the timing; without the barrier the
    order in which gradients land depends on the timing, and so do the weights.
    """
    first, second = (train(data, **options).model.params for _ in range(2))
    return bool(np.array_equal(first, second))
