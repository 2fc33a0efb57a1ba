"""Demo mode for the projector: kept results instead of live runs, and a presentation style.

Live timings on a shared laptop swing between runs; in front of a class a
panel can show kept, known-good numbers instead. ``panel.replay_from()``
switches a panel to them: its Run button then looks up the kept run with the
panel's settings (N, b, the split, sync) in a ``study.json`` of ``make
reproduce`` (``results/study.json``) or of a kept reference run
(``results/reference/NAME/study.json``), adds it to the panel's run history as
a replayed row, and every figure and status line says that it was replayed, and
from where. :func:`present` switches the figures to large fonts and thick
lines, once per notebook.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib as mpl

from pdsgd.errors import PdsgdError

#: Where ``make reproduce`` writes (its ``study.json``) and keeps reference runs.
RESULTS = Path(__file__).resolve().parents[2] / "results"
#: The presentation style: what :func:`present` sets on matplotlib.
PRESENTATION = {"font.size": 16, "axes.titlesize": 18, "axes.labelsize": 16,
                "xtick.labelsize": 14, "ytick.labelsize": 14, "legend.fontsize": 14,
                "lines.linewidth": 3.0, "lines.markersize": 9, "axes.linewidth": 1.5,
                "patch.linewidth": 1.5}
_saved = {}


def present(on=True):
    """Large fonts and thick lines in every figure drawn from now on (``on=False``: back).

    Call it once, near the top of a notebook, before a class.
    """
    if on:
        _saved.update({k: v for k, v in mpl.rcParams.items()
                       if k in PRESENTATION and k not in _saved})
        mpl.rcParams.update(PRESENTATION)
    else:
        mpl.rcParams.update(_saved)
        _saved.clear()
    return on


def study_path(source=None):
    """The ``study.json`` to replay: ``source`` (a file or a folder that holds one), else
    ``results/study.json`` of ``make reproduce``, else the first kept reference run."""
    if source is not None:
        path = Path(source)
        path = path / "study.json" if path.is_dir() else path
        if not path.is_file():
            raise PdsgdError(f"no kept results at {source}: give a study.json of `make "
                             "reproduce`, or a folder under results/reference/")
        return path
    for path in [RESULTS / "study.json", *sorted(RESULTS.glob("reference/*/study.json"))]:
        if path.is_file():
            return path
    raise PdsgdError("no kept results to replay: run `make reproduce` (results/study.json) "
                     "or keep a reference run (`make reference`)")


def label(path):
    """A kept study as the figures name it: its folder, relative to the checkout."""
    try:
        return str(path.parent.relative_to(RESULTS.parent))
    except ValueError:
        return str(path.parent)


@dataclass
class KeptRun:
    """A kept run as the panels show it: what :class:`~pdsgd.train.TrainResult` has of it."""

    config: dict
    samples_per_second: float
    test_accuracy: float
    train_seconds: float
    source: str
    history: dict = field(default_factory=dict)

    def summary(self):
        """The status line of a replayed run: what it was, and that it was kept, not run now."""
        c = self.config
        return (f"replayed from {self.source} (kept, not trained now): {c['dataset']} "
                f"N={c['workers']} b={c['micro_batch']} {c['parallel']} {c['sync']}, "
                f"P = {c['train_size']:,}, {c['epochs']} epochs: {self.samples_per_second:,.0f} "
                f"samples/s (median of {c['repeats']}), test accuracy {self.test_accuracy:.4f}")


def kept_run(options, source=None):
    """The kept run with the settings of ``options`` (a panel's :func:`pdsgd.train` keywords).

    Matches N, b, the split (``parallel``) and ``sync``; of the kept training set sizes,
    the one nearest the panel's P.
    """
    path = study_path(source)
    study = json.loads(path.read_text())
    wanted = {"workers": options.get("workers", 1),
              "micro_batch": options.get("micro_batch") or 1,
              "strategy": options.get("parallel") or "data", "sync": options.get("sync") or "bsp"}
    records = [r for r in study.get("timing", [])
               if all(r.get(k) == v for k, v in wanted.items())
               and (r.get("straggler_factor") or 1.0) == 1.0
               and options.get("aggregate") in (None, r.get("aggregate"))]
    if not records:
        kept = sorted({r["workers"] for r in study.get("timing", [])
                       if r.get("micro_batch") == wanted["micro_batch"]})
        raise PdsgdError(f"no kept run with N = {wanted['workers']}, b = "
                         f"{wanted['micro_batch']}, {wanted['strategy']}, {wanted['sync']} in "
                         f"{label(path)}: it kept N = {', '.join(map(str, kept)) or 'none'} "
                         "at that b")
    size = options.get("train_size") or 0
    r = min(records, key=lambda r: (abs(r["train_size"] - size), r["train_size"]))
    config = {"dataset": study.get("dataset", {}).get("name", "?"), "workers": r["workers"],
              "micro_batch": r["micro_batch"], "train_size": r["train_size"],
              "epochs": r["epochs"], "parallel": r["strategy"], "sync": r["sync"],
              "aggregate": r.get("aggregate"), "lr_rule": r.get("lr_rule"),
              "backend": r.get("backend") or ("sequential" if r["workers"] == 1
                                              else study.get("backend")),
              "hidden": study.get("settings", {}).get("hidden"),
              "lr": study.get("settings", {}).get("lr"), "repeats": r.get("repeats"),
              "finished": study.get("finished")}
    return KeptRun(config, r["samples_per_second"], r["test_accuracy"], r["seconds"],
                   label(path))
