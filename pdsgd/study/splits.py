"""The report's sections on the two ways to split the work: data and tensor parallelism.

Rendering only, from the study's numbers (:mod:`pdsgd.study.analysis`): the
sweep over the micro-batch b that sets the strategies side by side at one N,
what each strategy moves between the workers per iteration, and a cost model
per strategy. Every sentence that states a finding is built from the numbers
it states; :func:`pdsgd.study.report.render` places the sections.
"""

from __future__ import annotations

from pdsgd.engine.strategies import TENSOR
from pdsgd.study.markdown import and_list, table

SPLITS = {
    "data": "splits the samples: each worker takes its own b samples and needs every weight "
            "for them, so the summed update of all N b samples is applied to every weight",
    TENSOR: "splits the network by its hidden units: every worker takes all N b samples on "
              "the units it owns, updates only those, and the workers exchange the partial "
              "sums of the activations",
}


def _speedup(row, key="speedup"):
    return f"{row[key]:.2f} ({row[f'{key}_lo']:.2f}-{row[f'{key}_hi']:.2f})"


def _kb(n_bytes):
    return f"{n_bytes / 1000:,.1f} kB" if n_bytes >= 1000 else f"{n_bytes:,.0f} B"


def where_each_wins(sweep):
    """One sentence per b of the sweep: which strategy was faster, and by how much.

    Judged on the hardware speedup (against sequential minibatch SGD at batch N b, the same
    arithmetic) where the rows have it, else on the seed's S. A strategy wins at b when its
    slowest repeat beats the other's fastest; when the ranges overlap the sentence says the
    difference is within the spread.
    """
    key = "hardware_speedup" if all("hardware_speedup" in r for r in sweep) else "speedup"
    by_b = {}
    for r in sweep:
        by_b.setdefault(r["micro_batch"], {})[r["strategy"]] = r
    out = []
    for b, rows in sorted(by_b.items()):
        if len(rows) < 2:
            continue
        ranked = sorted(rows.values(), key=lambda r: r[key], reverse=True)
        best, rest = ranked[0], ranked[1:]
        clear = all(best[f"{key}_lo"] > r[f"{key}_hi"] for r in rest)
        others = and_list(f"{r['strategy']} {r[key]:.2f}" for r in rest)
        what = "hardware speedup" if key != "speedup" else "S"
        text = (f"b = {b}: {best['strategy']} parallelism {best[key]:.2f} ({what}) against "
                f"{others}: ")
        text += ("it wins in every repeat" if clear else
                 "the repeats' ranges overlap, so neither wins beyond the spread")
        baseline = (f"sequential minibatch SGD at batch N b = {best['workers'] * b}"
                    if key != "speedup" else f"the sequential run at b = {b}")
        text += (f"; {best['strategy']} parallelism "
                 + ("beats" if best[f"{key}_lo"] > 1 else "does not beat")
                 + f" {baseline} in every repeat.")
        out.append(text)
    return out


def sweep_section(study):
    """``## Two ways to split the work`` (or ``## Speedup against b``, for one strategy):
    the sweep over b (figure, table, sentences)."""
    sweep = study.get("sweep") or []
    if not sweep:
        return []
    r0 = sweep[0]
    n, p = r0["workers"], r0["train_size"]
    strategies = sorted({r["strategy"] for r in sweep}, key=lambda s: (s != "data", s))
    moved = {(t["strategy"], t["micro_batch"]): t for t in study.get("traffic", [])
             if t["workers"] == n}
    cells = {(r["strategy"], r["micro_batch"]): r for r in sweep}
    bs = sorted({r["micro_batch"] for r in sweep})
    hw = all("hardware_speedup" in r for r in sweep)
    header = (["b"] + [f"{s}: S (range)" for s in strategies]
              + [f"{s}: hardware speedup (range)" for s in strategies if hw]
              + [f"{s}: bytes per iteration" for s in strategies])
    rows = [[b] + [_speedup(cells[(s, b)]) if (s, b) in cells else "" for s in strategies]
            + [_speedup(cells[(s, b)], "hardware_speedup") if (s, b) in cells else ""
               for s in strategies if hw]
            + [_kb(moved[(s, b)]["bytes"]) if (s, b) in moved else "" for s in strategies]
            for b in bs]
    # One strategy (``pdsgd reproduce --parallel tensor``): its sweep, with nothing beside it.
    both = len(strategies) > 1
    return [
        "## Two ways to split the work" if both else "## Speedup against b",
        "![speedup against b](speedup_vs_batch.png)",
        " ".join(f"**{s.capitalize()} parallelism** {SPLITS.get(s, '')}." for s in strategies)
        + (" Both run the seed's iteration, minibatch SGD with batch N b, so they learn the "
           "same weights; only the time differs." if both else
           " It runs the seed's iteration, minibatch SGD with batch N b.")
        + f" Here N = {n} and P = {p:,}, each b timed against the sequential run at the same "
          f"b (the seed's S)" + (" and at batch N b (the hardware speedup, the solid lines)"
                                 if hw else "")
        + " (median of the repeats, their range in brackets). The sentences below compare "
        + ("the hardware speedup." if hw else "the seed's S."),
        table(header, rows),
        "\n\n".join(where_each_wins(sweep)),
    ]


def traffic_rows(study):
    """The table of what crosses between the workers per iteration, as Markdown."""
    rows = study.get("traffic") or []
    if not rows:
        return []
    return [
        "**What crosses between the workers per iteration** (`pdsgd.engine.traffic`): the "
        "numbers one worker writes for another to read, each counted once, in bytes of the "
        "run's dtype. On this machine they travel between the cores' caches; between "
        "machines they would travel over the network, at `bytes / bandwidth` per iteration.",
        table(["strategy", "b", "N", "aggregation", "numbers", "bytes", "bytes per sample",
               "crossings", "what"],
              [(t["strategy"], t["micro_batch"], t["workers"], t["aggregate"] or "",
                f"{t['numbers']:,}", _kb(t["bytes"]), _kb(t["bytes_per_sample"]),
                t["crossings"], t["what"]) for t in rows])]


def strategy_models_rows(study):
    """Each strategy's fitted cost model and its predictions, side by side, as Markdown."""
    models = study.get("cost_models") or []
    if len(models) < 2:
        return []
    us = 1e6
    terms = table(["strategy", "b", "sequential", "compute", "update", "sync (+ x log2 N)",
                   "limit of S"],
                  [(m["strategy"], m["micro_batch"], f"{m['model']['sequential'] * us:.1f}",
                    f"{m['model']['compute'] * us:.1f}", f"{m['model']['aggregate'] * us:.1f}",
                    f"{m['model']['sync0'] * us:.1f} + {m['model']['sync1'] * us:.1f}",
                    _limit(m["model"])) for m in models])
    ns = sorted({p["workers"] for m in models for p in m["predictions"]})
    pred = {(m["strategy"], p["workers"]): p for m in models for p in m["predictions"]}
    columns = [("many_cores", "S predicted, a core each"), ("measured", "S measured"),
               ("hardware_many_cores", "hardware speedup predicted, a core each"),
               ("hardware_measured", "hardware speedup measured")]
    header = ["N"] + [f"{m['strategy']}: {name}" for key, name in columns for m in models]
    rows = [[n] + [_value(pred.get((m["strategy"], n), {}).get(key))
                   for key, _ in columns for m in models] for n in ns]
    return [
        "**A cost model per strategy**, each fitted on its own curve (microseconds: per "
        "sample, sequential, compute and update; per iteration, synchronisation). With data "
        "parallelism the update of all N b samples is applied whole, the serial part that "
        "caps the seed's S at sequential / update; with tensor parallelism each worker "
        "updates only its own units, in parallel, so nothing but the synchronisation stays "
        "serial (no limit from the update). The seed's S is against the sequential run at "
        "b; the hardware speedup against sequential minibatch SGD at batch N b, read from "
        "the measured sequential rates (empty past the largest measured batch).",
        terms, table(header, rows)]


def _value(x):
    return f"{x:.2f}" if x else ""


def _limit(model):
    if model.get("strategy") == TENSOR or model["aggregate"] <= 0:
        return "none from the update"
    return f"{model['sequential'] / model['aggregate']:.1f}"
