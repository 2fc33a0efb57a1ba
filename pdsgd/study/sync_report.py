"""The study's synchronization section: BSP, SSP, async and Hogwild!, with and without a straggler.

The seed's engine waits at a barrier every iteration (BSP). This part of
``make reproduce`` measures what dropping the barrier buys and costs: for each
setting of ``pdsgd bench sync`` (BSP; SSP with s = 1, 4, 16, Ho et al. 2013;
async, Dean et al. 2012; Hogwild!, Recht et al. 2011), N workers and
micro-batch b, with worker N-1 at full speed and made 2x slower, it records
the training samples/s, the test accuracy after the same samples, and how
stale the applied gradients were. Each run is a :class:`~pdsgd.study.experiment.Cell`
of the study's grid: cached, and repeated in interleaved rounds like every
other cell. The rows are those of ``pdsgd bench sync``
(:func:`pdsgd.study.sync_sweep.summarize_cell`), so both speak of the same numbers.

* :class:`SyncGrid` and :func:`sync_cells`: what a profile measures;
* :func:`analyse_sync`: the rows of ``study.json`` from the cells' records;
* :func:`sync_section`: the report's section, every finding built from those rows;
* :func:`plot_sync_grid` and :func:`plot_sync_staleness`: its two figures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from pdsgd import plots
from pdsgd.engine import strategies
from pdsgd.study.experiment import Cell
from pdsgd.study.markdown import and_list, table
from pdsgd.study.sync_sweep import SETTINGS, summarize_cell

#: Backends that run every setting (Hogwild! needs workers that share memory).
SYNC_BACKENDS = strategies.get("hogwild").backends
NAMES = {"bsp": "BSP", "async": "async", "hogwild": "Hogwild!"}


@dataclass(frozen=True)
class SyncGrid:
    """The synchronization cells of a profile.

    Attributes
    ----------
    settings : tuple of str
        Settings of ``pdsgd bench sync``: ``"bsp"``, ``"ssp:S"``, ``"async"``,
        ``"hogwild"`` (BSP, the baseline, is always measured).
    workers, micro_batches : tuple of int
        N and b.
    factors : tuple of float
        How many times slower worker N-1 computes (1: no straggler).
    train_size : int, optional
        P of every cell (at most the data's); None: the largest P of the timing grid.
    epochs : int
        Every cell trains on the same ``epochs * P`` samples.
    repeats : int, optional
        Interleaved rounds; None: the profile's repeats.
    """

    settings: tuple = SETTINGS
    workers: tuple = (2,)
    micro_batches: tuple = (1,)
    factors: tuple = (1.0, 2.0)
    train_size: int | None = None
    epochs: int = 1
    repeats: int | None = None


def sync_cells(grid, sizes, n_train, backend, repeats):
    """The grid's cells, round by round (``run_grid`` runs them interleaved).

    Empty without a grid, or on a backend that cannot run Hogwild!
    (``serial``, ``dask``): the section then says so.
    """
    if grid is None or backend not in SYNC_BACKENDS:
        return []
    p = min(grid.train_size or max(sizes), n_train)
    settings = tuple(dict.fromkeys(("bsp", *grid.settings)))
    return [Cell(train_size=p, workers=n, backend=backend, micro_batch=b, epochs=grid.epochs,
                 repeat=r, sync=s, straggler_factor=float(f))
            for r in range(grid.repeats or repeats) for n in grid.workers
            for b in grid.micro_batches for f in grid.factors for s in settings]


def _run(record):
    """``(samples/s, test accuracy, staleness counts)`` of one record, as bench sync measures."""
    c = record["cell"]
    rate = c["train_size"] * c["epochs"] / record["seconds"]
    counts = (record.get("staleness") or {"count": []})["count"]
    return rate, record["test_accuracy"], counts


def _wait_share(phases):
    """Of a worker's recorded time (computing and waiting), the share spent waiting."""
    if not phases or phases["compute"] + phases["wait"] <= 0:
        return None
    return phases["wait"] / (phases["compute"] + phases["wait"])


def analyse_sync(records):
    """The section's numbers from the records of :func:`sync_cells` (None without any).

    Returns
    -------
    dict or None
        ``train_size``, ``epochs``, ``repeats``, ``backend`` and ``rows``: one per
        N, b, straggler factor and setting, as :func:`pdsgd.study.sync_sweep.summarize_cell`
        returns it, plus ``bsp_rates`` (BSP's rate in the same rounds), ``wait_share``
        (median over the repeats of :func:`_wait_share`) and ``beats_bsp`` (faster
        than BSP in every round).
    """
    if not records:
        return None
    runs, waits = {}, {}
    for rec in sorted(records, key=lambda r: r["cell"]["repeat"]):
        c = rec["cell"]
        key = (c["workers"], c["micro_batch"], c["straggler_factor"], c["sync"])
        runs.setdefault(key, []).append(_run(rec))
        waits.setdefault(key, []).append(_wait_share(rec.get("phases")))
    rows = []
    for key, cell_runs in runs.items():
        bsp = runs[key[:3] + ("bsp",)]
        row = summarize_cell(key, cell_runs, bsp)
        shares = [w for w in waits[key] if w is not None]
        row.update(bsp_rates=[r for r, _, _ in bsp],
                   wait_share=float(np.median(shares)) if shares else None,
                   beats_bsp=all(a > b for a, (b, _, _) in zip(row["rates"], bsp, strict=True)))
        rows.append(row)
    first = records[0]["cell"]
    return {"train_size": first["train_size"], "epochs": first["epochs"],
            "repeats": max(len(r) for r in runs.values()), "backend": first["backend"],
            "rows": rows}


def name(setting):
    """``"ssp:4"`` -> ``"SSP s = 4"``; ``"hogwild"`` -> ``"Hogwild!"``."""
    sync, _, bound = setting.partition(":")
    return f"SSP s = {bound}" if bound else NAMES.get(sync, sync)


def groups(rows):
    """``{(N, b, factor): rows}``, in the order measured."""
    out = {}
    for r in rows:
        out.setdefault((r["workers"], r["micro_batch"], r["straggler_factor"]), []).append(r)
    return out


def _straggler(factor):
    return f"worker N-1 {factor:g}x slower" if factor != 1 else "no straggler"


def group_findings(key, rows, clean=None):
    """Sentences on one group (N, b, straggler), every number taken from ``rows``.

    ``clean`` are the rows of the same N and b without a straggler (for what
    the straggler did to BSP).
    """
    n, b, factor = key
    by = {r["setting"]: r for r in rows}
    bsp = by["bsp"]
    out = [f"**N = {n}, b = {b}, {_straggler(factor)}.** BSP ran "
           f"{bsp['samples_per_s']:,.0f} samples/s (rounds: "
           f"{min(bsp['rates']):,.0f}-{max(bsp['rates']):,.0f})"]
    if clean and factor != 1:
        base = {r["setting"]: r for r in clean}["bsp"]
        out[-1] += (f", {bsp['samples_per_s'] / base['samples_per_s']:.2f}x its rate without "
                    "the straggler")
    out[-1] += "."
    others = [r for r in rows if r["setting"] != "bsp"]
    if others:
        best = max(others, key=lambda r: r["vs_bsp"])
        ahead = [name(r["setting"]) for r in others if r["beats_bsp"]]
        out.append(f"The fastest setting was {name(best['setting'])}, {best['vs_bsp']:.2f}x "
                   "BSP's samples/s (median of the rounds' ratios); "
                   + (f"faster than BSP in every round: {and_list(ahead)}."
                      if ahead else "none was faster than BSP in every round."))
        out.append(_accuracy_sentence(rows, bsp))
    ssp = sorted((r for r in rows if r["sync"] == "ssp"), key=lambda r: r["staleness_bound"])
    if ssp:
        out.append("Staleness (updates applied between a gradient's read and its own): "
                   + "; ".join(f"{name(r['setting'])}: mean {r['staleness_mean']:.2f}, "
                               f"max {r['staleness_max']}" for r in ssp + [
                                   r for r in rows if r["sync"] in ("async", "hogwild")])
                   + ".")
    waits = [r for r in rows if r.get("wait_share") is not None]
    if len(waits) > 1:
        out.append("Share of a worker's time spent waiting (the timeline's red): "
                   + ", ".join(f"{name(r['setting'])} {r['wait_share']:.0%}" for r in waits)
                   + ".")
    return " ".join(out)


def _accuracy_sentence(rows, bsp):
    acc = sorted(rows, key=lambda r: r["test_accuracy"])
    lo, hi = acc[0], acc[-1]
    if lo["test_accuracy"] == hi["test_accuracy"]:
        return (f"After the same samples, every setting reached the same test accuracy, "
                f"{lo['test_accuracy']:.4f}.")
    return (f"After the same samples, test accuracy ran from {lo['test_accuracy']:.4f} "
            f"({name(lo['setting'])}) to {hi['test_accuracy']:.4f} ({name(hi['setting'])}); "
            f"BSP's was {bsp['test_accuracy']:.4f}.")


def ratio_note(rows, tolerance=0.1):
    """Which column is which: a median of rates beside a median of same-round ratios.

    The two need not divide to each other: when the machine's speed swings
    from round to round, a setting can be faster than BSP in most rounds yet
    have a lower median rate. The sentence names the row where they differ
    most (beyond ``tolerance``, relative), with both numbers.
    """
    text = ("Which is which: *samples/s* is the median of a setting's rates over the rounds; "
            "*vs BSP* is the median over the rounds of its rate divided by BSP's rate in the "
            "same round. Both settings of a round meet the same load from the rest of the "
            "machine, so the same-round ratio is the comparison to read; the ratio of the two "
            "medians can differ from it when the rounds' speeds swing.")
    bsp = {(r["workers"], r["micro_batch"], r["straggler_factor"]): r["samples_per_s"]
           for r in rows if r["setting"] == "bsp"}
    pairs = [(r, r["samples_per_s"] / bsp[key]) for r in rows if r["setting"] != "bsp"
             and (key := (r["workers"], r["micro_batch"], r["straggler_factor"])) in bsp]
    apart = [(r, q) for r, q in pairs if abs(np.log(q / r["vs_bsp"])) > np.log1p(tolerance)]
    if not apart:
        return text + (f" Here the two agree within {tolerance:.0%} in every row."
                       if pairs else "")
    r, q = max(apart, key=lambda rq: abs(np.log(rq[1] / rq[0]["vs_bsp"])))
    return text + (f" They differ most for {name(r['setting'])} at N = {r['workers']}, "
                   f"b = {r['micro_batch']}, {_straggler(r['straggler_factor'])}: its median "
                   f"rate is {q:.2f}x BSP's median rate, its median same-round ratio "
                   f"{r['vs_bsp']:.2f}x.")


def target_sentence(rows):
    """SSP s = 4 against BSP with a straggler at the smallest N and b: rate and accuracy."""
    pick = [r for r in rows if r["setting"] == "ssp:4" and r["straggler_factor"] != 1]
    if not pick:
        return None
    r = min(pick, key=lambda r: (r["workers"], r["micro_batch"]))
    # Judged on the numbers as printed, so that the verdict never contradicts them.
    fast, close = round(r["vs_bsp"], 2) >= 1.3, abs(round(r["accuracy_vs_bsp"], 1)) <= 1.0
    return (f"With N = {r['workers']}, b = {r['micro_batch']} and a "
            f"{r['straggler_factor']:g}x straggler, SSP s = 4 ran {r['vs_bsp']:.2f}x BSP's "
            f"samples/s at {r['accuracy_vs_bsp']:+.1f} points of test accuracy: "
            + ("at least 1.3x the rate within 1 point of the accuracy, the trade SSP promises."
               if fast and close else
               f"{'at least' if fast else 'less than'} 1.3x the rate, "
               f"{'within' if close else 'more than'} 1 point of the accuracy."))


def sync_section(study):
    """The report's section on synchronization (Markdown parts; empty without the cells)."""
    s = study.get("sync")
    if s is None:
        return []
    rows = s["rows"]
    head = ["## Without the barrier: SSP, async and Hogwild!",
            "![sync trade-off](sync_tradeoff.png)\n![staleness](sync_staleness.png)",
            "BSP waits at the barrier every iteration; SSP (Ho et al. 2013) lets a worker run "
            "up to s iterations ahead of the slowest; async (Dean et al. 2012) applies every "
            "gradient as it arrives, however stale; Hogwild! (Recht et al. 2011) lets every "
            "worker write its own update into the shared weights, with no lock. "
            f"Every cell trains P = {s['train_size']:,} samples for {s['epochs']} epoch(s) on "
            f"`{s['backend']}`, median of {s['repeats']} interleaved rounds (BSP's rate in "
            "the same round is the baseline of each ratio); the straggler, when there is "
            "one, is worker N-1, slowed by that factor. Without the barrier the guarantees "
            "go: the weights no longer match sequential minibatch SGD, and a run is no "
            "longer reproducible from its seed; SSP keeps a bound on how stale a gradient "
            "may be, async and Hogwild! keep none.",
            table(["N", "b", "straggler", "setting", "samples/s (median)", "rounds (min-max)",
                   "vs BSP (median same-round ratio)", "test accuracy", "vs BSP (points)",
                   "staleness mean", "max", "waiting"],
                  [(r["workers"], r["micro_batch"],
                    f"{r['straggler_factor']:g}x" if r["straggler_factor"] != 1 else "-",
                    name(r["setting"]), f"{r['samples_per_s']:,.0f}",
                    f"{min(r['rates']):,.0f}-{max(r['rates']):,.0f}", f"{r['vs_bsp']:.2f}x",
                    f"{r['test_accuracy']:.4f}", f"{r['accuracy_vs_bsp']:+.1f}",
                    f"{r['staleness_mean']:.2f}", r["staleness_max"],
                    f"{r['wait_share']:.0%}" if r.get("wait_share") is not None else "")
                   for r in rows]),
            ratio_note(rows)]
    by_group = groups(rows)
    prose = [group_findings(key, g, by_group.get(key[:2] + (1.0,)))
             for key, g in by_group.items()]
    target = target_sentence(rows)
    return head + prose + ([target] if target else [])


def plot_sync_grid(rows):
    """Samples/s against test accuracy, one panel per N, b (rows) and straggler (columns)."""
    by_group = groups(rows)
    pairs = list(dict.fromkeys(k[:2] for k in by_group))
    factors = list(dict.fromkeys(k[2] for k in by_group))
    fig = Figure(figsize=(5.5 * len(factors), 3.8 * len(pairs)), layout="constrained")
    for i, (n, b) in enumerate(pairs):
        for j, f in enumerate(factors):
            ax = fig.add_subplot(len(pairs), len(factors), i * len(factors) + j + 1)
            group = by_group.get((n, b, f), [])
            if group:
                plots.plot_sync_tradeoff(group, ax=ax)
            ax.set_title(f"N = {n}, b = {b}, {_straggler(f)}", fontsize="medium")
    plots.tidy(fig)
    return fig


def plot_sync_staleness(rows):
    """Staleness histograms of every setting, at the smallest N and b with the slowest straggler."""
    key = min(groups(rows), key=lambda k: (k[0], k[1], -k[2]))
    hists = {name(r["setting"]): r["staleness"] for r in groups(rows)[key]
             if r["setting"] != "bsp" and sum(r["staleness"]["count"])}
    fig = plots.plot_staleness(hists)
    fig.suptitle(f"N = {key[0]}, b = {key[1]}, {_straggler(key[2])}", fontsize="medium")
    return fig


def draw_sync_figures(study):
    """``{file name: figure}`` of the section (none without its cells)."""
    s = study.get("sync")
    if not s:
        return {}
    return {"sync_tradeoff": plot_sync_grid(s["rows"]),
            "sync_staleness": plot_sync_staleness(s["rows"])}
