"""``results/REPORT.md``: the study written out from its numbers (``results/study.json``).

Everything here is rendering and judgement, nothing is measured: :func:`assess_claims`
sets the seed's three claims beside the measured speedups, and :func:`render`
turns the study into Markdown. A claim this machine cannot test says so, and why.
"""

from __future__ import annotations

from pdsgd.files import atomic_path

# The seed's claims, quoted closely enough to be recognised.
CLAIMS = {
    "log": "Speedup grows roughly logarithmically with the number of workers N.",
    "threads": "Beyond the number of hardware threads (16 on the seed's machine), more "
               "workers bring no large gains.",
    "large_p": "That plateau is weaker for large training sets, P > 10,000.",
}
GAIN = 1.10  # "a large gain": at least 10 % more speedup than at the number of threads


def _curves(table):
    """``{P: [(N, S, S_lo, S_hi), ...]}`` from a speedup table, sorted by N."""
    out = {}
    for r in sorted(table, key=lambda r: (r["train_size"], r["workers"])):
        out.setdefault(r["train_size"], []).append(
            (r["workers"], r["speedup"], r["speedup_lo"], r["speedup_hi"]))
    return out


def _plateau(curve, threads):
    """Speedup at the largest N <= threads against the best beyond, or None.

    Returns ``(at, best, n_best, large)``: ``large`` is whether the best one
    beyond is a large gain *beyond the noise*: its worst repeat beats the best
    repeat at the threads by :data:`GAIN`.
    """
    at = [c for c in curve if c[0] <= threads]
    beyond = [c for c in curve if c[0] > threads]
    if not at or not beyond:
        return None
    n_best, best, best_lo, _ = max(beyond, key=lambda c: c[1])
    _, s_at, _, at_hi = at[-1]
    return s_at, best, n_best, best_lo > GAIN * at_hi


def assess_claims(study):
    """The seed's claims, one by one, against this study's speedups.

    Returns
    -------
    list of dict
        ``claim``, ``verdict`` ("agrees", "disagrees" or "cannot tell") and
        ``evidence`` (a sentence with the numbers).
    """
    threads = study["machine"].get("hardware_threads") or 1
    curves = _curves(study["speedup"])
    out = []

    # 1. Logarithmic growth: only N <= threads can show parallel speedup at all.
    plateaus = {p: _plateau(c, threads) for p, c in curves.items()}
    plateaus = {p: v for p, v in plateaus.items() if v}
    n_points = max((len({c[0] for c in curve if c[0] <= threads}) for curve in curves.values()),
                   default=0)
    fits = study.get("log_fit", {})
    fit_text = "; ".join(f"P = {int(p):,}: S = 1 + {k:.2f} log2 N (R^2 {r2:.2f} over all N)"
                         for p, (k, r2) in fits.items() if k is not None)
    falls = [p for p, (at, best, _, _) in plateaus.items() if best < at]
    if n_points < 3:
        verdict = "cannot tell"
        evidence = (f"With {threads} hardware threads only N <= {threads} can run in parallel: "
                    f"{n_points} distinct N, too few to tell a logarithm from a line or from "
                    f"Amdahl's curve. {fit_text}.")
        if falls:
            evidence += (" Beyond the threads the speedup falls (P = "
                         + ", ".join(f"{p:,}" for p in falls) + "), which a logarithm would not.")
    else:
        good = [r2 for k, r2 in fits.values() if k is not None and r2 == r2]
        verdict = "agrees" if good and min(good) > 0.8 else "disagrees"
        evidence = fit_text + "."
    out.append({"claim": CLAIMS["log"], "verdict": verdict, "evidence": evidence})

    # 2. No large gains beyond the number of hardware threads.
    if not plateaus:
        out.append({"claim": CLAIMS["threads"], "verdict": "cannot tell",
                    "evidence": f"No measurement with N > {threads} threads."})
    else:
        verdict = "disagrees" if any(v[3] for v in plateaus.values()) else "agrees"
        evidence = "; ".join(f"P = {p:,}: S = {at:.2f} at N = {threads}, best beyond: "
                             f"{best:.2f} at N = {n}" for p, (at, best, n, _) in plateaus.items())
        evidence = (f"This machine has {threads} hardware threads. {evidence}. A large gain "
                    f"means at least {GAIN - 1:.0%} more speedup, beyond the spread of the "
                    "repeats.")
        best = max(c[1] for curve in curves.values() for c in curve)
        if best < 1:
            evidence += (f" But no N beat the sequential run here (best S = {best:.2f}): with "
                         "no gain to begin with, a plateau says little.")
        out.append({"claim": CLAIMS["threads"], "verdict": verdict, "evidence": evidence})

    # 3. The plateau is weaker for P > 10,000.
    large = {p: v[1] / v[0] for p, v in plateaus.items() if p > 10_000}
    small = {p: v[1] / v[0] for p, v in plateaus.items() if p <= 10_000}
    if not large or not small:
        biggest = max(curves, default=0)
        out.append({"claim": CLAIMS["large_p"], "verdict": "cannot tell",
                    "evidence": f"The largest training set measured is P = {biggest:,}; the "
                                "claim needs P above and below 10,000 (run `make reproduce "
                                "PROFILE=full` with full MNIST)."})
    else:
        weaker = min(large.values()) > max(small.values())
        ratio = ", ".join(f"P = {p:,}: {g:.2f}" for p, g in sorted({**small, **large}.items()))
        out.append({"claim": CLAIMS["large_p"], "verdict": "agrees" if weaker else "disagrees",
                    "evidence": f"Best speedup beyond the threads over speedup at the threads: "
                                f"{ratio}."})
    return out


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _machine(facts):
    keep = [(k, v) for k, v in facts.items() if not isinstance(v, (list, dict))]
    lines = [f"- {k}: {v}" for k, v in keep]
    for k, v in facts.items():
        if isinstance(v, (list, dict)):
            lines.append(f"- {k}: `{v}`")
    return "\n".join(lines)


def render(study):
    """The report as Markdown."""
    s, P = study, "P"
    ep = s["epochs"]
    parts = [
        "# Parallel SGD: the seed's experiment, reproduced",
        f"Generated by `make reproduce PROFILE={s['profile']}` (`pdsgd reproduce`). "
        f"Dataset **{s['dataset']['name']}** ({s['dataset']['train']:,} training and "
        f"{s['dataset']['test']:,} test samples). Network {s['sizes']}, learning rate "
        f"{s['settings']['lr']}, one sample per worker per iteration (the seed's BSP), "
        f"backend `{s['backend']}`. Timings: {ep['timing']} epoch(s) per cell, median of "
        f"{s['repeats']} repeats (spread: min to max); accuracy: {ep['accuracy']} epochs.",
    ]
    if s.get("notice"):
        parts.append(f"> **Note.** {s['notice']}")
    if s.get("profile_notes"):
        parts.append("\n".join(f"- {n}" for n in s["profile_notes"]))
    parts.append(f"Cells: {s['cells']['total']} ({s['cells']['trained']} trained in this run, "
                 f"{s['cells']['cached']} read from the cache).")
    parts += ["## The seed's claims against this machine",
              _table(["the seed says", "here", "evidence"],
                     [(c["claim"], f"**{c['verdict']}**", c["evidence"])
                      for c in s["claims"]]),
              "Timings come from a shared machine: other programs' load shows up as spread "
              "between repeats, which is why medians are plotted and min-max bars drawn."]
    parts += ["## Execution time and speedup",
              "![time](time_vs_workers.png)\n![speedup](speedup.png)\n"
              "![efficiency](efficiency.png)",
              "T(1) is the sequential reference (one process, no engine); the engine's own "
              "N = 1 row shows what the machinery costs. Amdahl's law is fitted, per P, to the "
              "points with N <= cores, where its premise (a processor per worker) holds.",
              _table([P, "N", "time (s)", "min-max (s)", "repeats", "samples/s", "speedup",
                      "efficiency"],
                     [(f"{r['train_size']:,}", r["workers"] if r["backend"] else "1 (seq)",
                       f"{r['seconds']:.2f}", f"{r['seconds_min']:.2f}-{r['seconds_max']:.2f}",
                       r["repeats"], f"{r['samples_per_second']:,.0f}",
                       f"{r['speedup']:.2f}" if r.get("speedup") else "",
                       f"{r['efficiency']:.2f}" if r.get("efficiency") else "")
                      for r in s["timing"]])]
    if s.get("amdahl"):
        parts.append(_table([P, "Amdahl parallel fraction f", "log fit S = 1 + k log2 N"],
                            [(f"{int(p):,}", f"{f:.3f}" if f is not None else "",
                              _fmt_log(s["log_fit"].get(p))) for p, f in s["amdahl"].items()]))
    parts += ["## Accuracy: the seed's fixed learning rate, and one scaled with N",
              "![accuracy](accuracy_vs_workers.png)\n![accuracy over time](accuracy_vs_time.png)",
              "BSP with N workers is minibatch SGD with batch N: with the seed's fixed rate, each "
              "step averages N gradients and moves as far as one, so an epoch makes N times "
              "fewer steps. The linear rule (Goyal et al. 2017) scales the rate by N.",
              _table(["N", "lr rule", "step lr", "test accuracy", "learnt on", "time (s)",
                      "time of"],
                     [(r["workers"], r["lr_rule"], f"{r['step_lr']:g}",
                       f"{r['test_accuracy']:.4f}", r["backend"] or "sequential",
                       f"{r['elapsed'][-1]:.2f}", r["time_from"])
                      for r in s["accuracy"]])]
    parts += ["## One run's timeline", "![timeline](timeline.png)", s["timeline_note"]]
    parts.append("## A cost model, and machines larger than this one")
    cm = s.get("cost_model")
    if cm:
        us = 1e6
        parts += ["![cost model](cost_model.png)",
                  f"Fitted from {cm['source']}: per sample, sequential {cm['sequential'] * us:.1f}"
                  f" us, worker compute {cm['compute'] * us:.1f} us, aggregation "
                  f"{cm['aggregate'] * us:.1f} us; per iteration, synchronisation "
                  f"{cm['sync0'] * us:.1f} + {cm['sync1'] * us:.1f} log2 N us. The "
                  "aggregation is applied once per sample whatever N, so it is the serial "
                  "part: no N beats sequential / aggregate. The model assumes a core per "
                  "worker; where this machine has fewer, measured and predicted part ways. "
                  + _sync_caveat(s),
                  _table(["N", "predicted, a core each", f"predicted, {cm['cores']} cores",
                          "measured"],
                         [(p["workers"], f"{p['many_cores']:.2f}", f"{p['this_machine']:.2f}",
                           f"{p['measured']:.2f}" if p.get("measured") else "")
                          for p in s["cost_predictions"]])]
    else:
        parts.append("No parallel measurements to fit (the engine was not available).")
    parts += ["## The seed's defaults", "`seed_defaults/`: " + s["seed_defaults"],
              "## Machine", _machine(s["machine"])]
    return "\n\n".join(parts) + "\n"


def _sync_caveat(study):
    """How much to trust the synchronisation term's growth with N."""
    threads = study["machine"].get("hardware_threads") or 1
    ns = sorted({r["workers"] for r in study["speedup"] if r["workers"] <= threads})
    if len(ns) <= 2:
        return (f"Its growth with N rests on N = {', '.join(map(str, ns))} alone (the only N "
                f"with a core each on {threads} cores), so predictions for large N are a "
                "guess at the form, log2 N, not a measurement: read them as a shape.")
    return f"Its terms are fitted over N = {', '.join(map(str, ns))}."


def _fmt_log(fit):
    return f"k = {fit[0]:.2f}, R^2 = {fit[1]:.2f}" if fit and fit[0] is not None else ""


def write_report(path, study):
    """Write :func:`render`'s Markdown to ``path`` atomically; return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(render(study))
    return path
