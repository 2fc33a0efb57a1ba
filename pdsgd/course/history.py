"""A panel's run history: one row per run, the settings that differ and what they gave.

Every panel (:class:`pdsgd.course.panel.Panel`) keeps a :class:`RunHistory`
and adds a row when a run finishes, or when it replays a kept result
(:mod:`pdsgd.course.demo`). :meth:`RunHistory.table` shows the settings that
differ between the rows (with N and the backend always), samples per second,
test accuracy and, where the history holds a sequential run of the same
problem (same P, b, network and epochs), the speedup against it: the seed's S,
measured in this session, one run each. :meth:`RunHistory.figure` sets the
rows side by side in one figure.
"""

from __future__ import annotations

import pandas as pd

from pdsgd import plots

#: (config key, column): the settings a row records, in the order the table shows them.
SETTINGS = (
    ("workers", "N"), ("micro_batch", "b"), ("train_size", "P"), ("hidden", "hidden"),
    ("epochs", "epochs"), ("parallel", "strategy"), ("algorithm", "algorithm"),
    ("aggregate", "aggregation"), ("sync", "sync"), ("staleness", "s"),
    ("straggler", "straggler"), ("straggler_delay", "delay s"),
    ("straggler_factor", "slow-down"), ("backend", "backend"), ("lr_rule", "lr rule"),
    ("lr", "lr"), ("dataset", "data"),
)
#: Columns shown even when every row agrees on them.
ALWAYS = ("N", "backend")
#: What a sequential run must share with a parallel one to be its baseline.
SAME_PROBLEM = ("b", "P", "hidden", "epochs", "data")


def _value(value):
    return tuple(value) if isinstance(value, list) else value


class RunHistory:
    """The runs of one panel, in order.

    Attributes
    ----------
    rows : list of dict
        One per run: its settings (columns of :data:`SETTINGS`), ``samples/s``,
        ``test accuracy``, ``train s`` and ``source`` ("live", or where a
        replayed result came from).
    """

    def __init__(self):
        self.rows = []

    def __len__(self):
        return len(self.rows)

    def add(self, result, source="live"):
        """Record a :class:`~pdsgd.train.TrainResult` (or a kept result's ``config`` and
        numbers, as a dict with ``config``, ``samples_per_second``, ``test_accuracy``
        and ``train_seconds``); return its row."""
        get = result.get if isinstance(result, dict) else lambda k: getattr(result, k)
        config = get("config")
        row = {column: _value(config.get(key)) for key, column in SETTINGS}
        row.update({"samples/s": get("samples_per_second"),
                    "test accuracy": get("test_accuracy"),
                    "train s": get("train_seconds"), "source": source})
        self.rows.append(row)
        return row

    def clear(self):
        """Forget every run."""
        self.rows.clear()

    def varying(self):
        """The setting columns whose values differ between the rows (N and backend always)."""
        return [column for _, column in SETTINGS
                if column in ALWAYS or len({repr(r[column]) for r in self.rows}) > 1]

    def speedup(self, row):
        """``row``'s samples/s over that of the latest sequential run of the same problem
        in this history (N = 1, same P, b, network, epochs, data), or None."""
        if row["N"] == 1:
            return None
        for base in reversed(self.rows):
            if base["N"] == 1 and all(base[k] == row[k] for k in SAME_PROBLEM):
                return row["samples/s"] / base["samples/s"]
        return None

    def table(self):
        """The runs as a table: run number, the settings that differ, the results."""
        columns = self.varying()
        frame = pd.DataFrame([{**{c: r[c] for c in columns},
                               "samples/s": r["samples/s"],
                               "S vs N = 1": self.speedup(r),
                               "test accuracy": r["test accuracy"],
                               "source": r["source"]} for r in self.rows],
                             index=pd.RangeIndex(1, len(self.rows) + 1, name="run"))
        if frame["S vs N = 1"].isna().all():
            frame = frame.drop(columns="S vs N = 1")
        if (frame["source"] == "live").all():
            frame = frame.drop(columns="source")
        return frame.round({"samples/s": 0, "S vs N = 1": 2, "test accuracy": 4})

    def labels(self):
        """One short label per row: its number and the settings that differ."""
        columns = self.varying()
        return [f"{i}: " + ", ".join(f"{c} {r[c]}" if c != "backend" else str(r[c])
                                     for c in columns if r[c] is not None)
                for i, r in enumerate(self.rows, 1)]

    def figure(self, title=None):
        """Every run side by side: samples per second and test accuracy."""
        kept = sorted({r["source"] for r in self.rows if r["source"] != "live"})
        if kept:
            title = f"{title or 'runs'}; replayed from {', '.join(kept)}"
        return plots.plot_run_history(self.labels(), [r["samples/s"] for r in self.rows],
                                      [r["test accuracy"] for r in self.rows],
                                      replayed=[r["source"] != "live" for r in self.rows],
                                      title=title)
