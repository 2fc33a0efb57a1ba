"""``results/REPORT.md``: the study written out from its numbers (``results/study.json``).

Everything here is rendering, nothing is measured: the claims come judged from
:mod:`pdsgd.study.claims`, and every sentence that states a finding is built
from the numbers it states, so a report never says more than its run measured.
"""

from __future__ import annotations

from pdsgd.files import atomic_path
from pdsgd.study.claims import claims_prose, curve_label, curves, families
from pdsgd.study.costmodel import format_fit
from pdsgd.study.markdown import and_list, table
from pdsgd.study.network_report import network_section
from pdsgd.study.speedups import (
    TWO_SPEEDUPS,
    hardware_baselines,
    hardware_sentences,
    measure_note,
    to_target_section,
)
from pdsgd.study.splits import strategy_models_rows, sweep_section, traffic_rows
from pdsgd.study.sync_report import sync_section

AGGREGATIONS = {
    "replicated": "every worker applies the whole summed update to its own copy of the "
                  "weights (one barrier crossing per iteration)",
    "central": "the broker's Results Aggregator applies it once, to the shared weights, while "
               "the workers wait (two crossings per iteration)",
    "sharded": "each worker applies the summed update to its share of the weights' rows (two "
               "crossings per iteration)",
}


def machine_summary(facts):
    """``"Intel(R) Xeon(R) ..., 2 usable cores (of 2)"``: the machine in one phrase."""
    return (f"{facts.get('cpu', '?')}, {facts.get('usable_cores', '?')} usable cores "
            f"(of {facts.get('logical_cores', '?')})")


def grid_summary(study):
    """The grid of a study in one phrase: dataset, P, N, b, epochs, repeats."""
    t = study["timing"]
    sizes = sorted({r["train_size"] for r in t})
    workers = sorted({r["workers"] for r in t if r["backend"]})
    return (f"{study['dataset']['name']}; P = {', '.join(f'{p:,}' for p in sizes)}; "
            f"N = {', '.join(map(str, workers))}; b = {', '.join(map(str, study['micro_batches']))}"
            f"; {study['epochs']['timing']} epoch(s) x {study['repeats']} repeats")


def claim_summary(study, claim):
    """``"b = 1: **agrees**; b = 16: cannot tell"``: one claim's verdicts in a study."""
    return "; ".join(f"{c['curve']}: **{c['verdict']}**" if c["verdict"] != "cannot tell"
                     else f"{c['curve']}: cannot tell"
                     for c in study["claims"] if c["claim"] == claim)


def _machine(facts):
    lines = [f"- {k}: {v}" for k, v in facts.items() if not isinstance(v, (list, dict))]
    for pool in facts.get("blas", []):
        lines.append(f"- BLAS: {pool.get('library')} {pool.get('version')} "
                     f"({pool.get('api')}, {pool.get('threads')} threads by default, "
                     f"{pool.get('architecture')})")
    return "\n".join(lines)


def where_speedup_appears(study):
    """One sentence per curve: how its speedup moves with N at the largest P, and its best."""
    threads = study["machine"].get("hardware_threads") or 1
    out = []
    for fam in families(study["speedup"]):
        cs = curves(study["speedup"], fam)
        p = max(cs)
        pts = cs[p]
        seq = ", ".join(f"{s:.2f} at N = {n}" for n, s, _, _ in pts)
        best = max(((q, c) for q, curve in cs.items() for c in curve), key=lambda x: x[1][1])
        beats = [(q, c) for q, curve in cs.items() for c in curve if c[2] > 1]
        within = [c for c in pts if c[0] <= threads]
        rises = len(within) > 1 and within[-1][2] > within[0][3]
        text = (f"**{curve_label(*fam)}**, P = {p:,}: S = {seq}. Up to the {threads} threads "
                f"the curve {'rises' if rises else 'does not rise beyond the spread'}; its best "
                f"is S = {best[1][1]:.2f} (N = {best[1][0]}, P = {best[0]:,}), and ")
        if beats:
            text += (f"{len(beats)} of its {sum(map(len, cs.values()))} points "
                     f"{'beats' if len(beats) == 1 else 'beat'} the sequential run at the "
                     "same b in every repeat.")
        else:
            text += "no point beats the sequential run at the same b in every repeat."
        out.append(text)
    return out


def _spread(row):
    lo, hi = row.get("per_sample_min"), row.get("per_sample_max")
    return f"{lo:.0f}-{hi:.0f} over the repeats" if lo is not None else "one run"


def explain_breakdown(rows, threads):
    """Why the time per sample moves with N, in sentences built from the trace's numbers."""
    if not rows:
        return []
    out = []
    by_agg = {}
    for r in rows:
        by_agg.setdefault(r["aggregate"], []).append(r["workers"])
    if len(by_agg) > 1:
        out.append("The engine's default aggregation changes with N "
                   "(`ProcessesBackend.default_aggregate`, on the `processes` backend): "
                   + "; ".join(f"N = {and_list(ns)}: `{a}`, {AGGREGATIONS.get(a, a)}"
                               for a, ns in by_agg.items()) + ".")
    beyond = [r for r in rows if r["workers"] > threads]
    slowest = beyond[0] if beyond else None
    faster = [r for r in beyond[1:] if r["per_sample"] < slowest["per_sample"]]
    if slowest and faster:
        last = min(faster, key=lambda r: r["per_sample"])
        same = {r["aggregate"] for r in [slowest, *faster]} == {slowest["aggregate"]}
        n1, nl = slowest["workers"], last["workers"]
        d_update = slowest["update_per_sample"] - last["update_per_sample"]
        d_rest = slowest["rest_per_sample"] - last["rest_per_sample"]
        others = [f"{r['per_sample']:.0f} ({_spread(r)})" for r in faster]
        out.append(
            f"N = {n1} is slower than N = {and_list(r['workers'] for r in faster)}: "
            f"{slowest['per_sample']:.0f} us per sample ({_spread(slowest)}) against "
            f"{and_list(others)}. "
            + (f"All of them run `{slowest['aggregate']}` aggregation on the same {threads} "
               "cores, so the difference lies in how an iteration's time is shared among its N "
               "samples. " if same else "Their aggregations differ. ")
            + f"Applying the update took {slowest['update']:.0f} us per iteration at N = {n1} "
            f"and {last['update']:.0f} us at N = {nl}: {last['update'] / slowest['update']:.1f}x "
            f"the time for {nl / n1:.0f}x the samples (the N samples' factors are applied "
            "together, as one matrix product that reads and writes every weight once per "
            f"iteration), so per sample it fell from {slowest['update_per_sample']:.1f} to "
            f"{last['update_per_sample']:.1f} us. The rest of the iteration (the workers "
            f"computing in turns on the {threads} cores, the barrier crossings, the hand-offs "
            f"between processes) cost {slowest['rest_per_sample']:.1f} us per sample at N = "
            f"{n1} and {last['rest_per_sample']:.1f} us at N = {nl}. "
            + ("The shared update is what makes the larger N faster." if d_update > abs(d_rest)
               else "Most of the difference lies in the rest of the iteration."
               if d_rest > abs(d_update) else "Both parts contribute about equally."))
    at = [r for r in rows if r["workers"] <= threads]
    if at and slowest:
        best = min(at, key=lambda r: r["per_sample"])
        out.append(f"With a core per worker, N = {best['workers']} (`{best['aggregate']}`) took "
                   f"{best['per_sample']:.0f} us per sample; past the {threads} cores, N = "
                   f"{slowest['workers']} took {slowest['per_sample']:.0f} us.")
    return out


def _header(s):
    ep, bs = s["epochs"], and_list(s["micro_batches"])
    return [
        "# Parallel SGD: the seed's experiment, reproduced",
        f"Generated by `{s.get('command') or 'pdsgd reproduce --profile ' + s['profile']}`, "
        f"measured on {s.get('finished', '?')} on {machine_summary(s['machine'])}. Dataset "
        f"**{s['dataset']['name']}** ({s['dataset']['train']:,} training and "
        f"{s['dataset']['test']:,} test samples). Network {s['sizes']}, learning rate "
        f"{s['settings']['lr']}, micro-batches b = {bs} (samples per worker per iteration; "
        f"b = 1 is the seed's BSP), strategies: {', '.join(s['strategies'])}; backend "
        f"`{s['backend']}`. "
        f"Timings: {ep['timing']} epoch(s) per cell, median of {s['repeats']} repeats "
        f"(spread: min to max); accuracy: {ep['accuracy']} epochs.",
    ]


def render(study):
    """The report as Markdown."""
    s = study
    parts = _header(s)
    if s.get("notice"):
        parts.append(f"> **Note.** {s['notice']}")
    if s.get("profile_notes"):
        parts.append("\n".join(f"- {n}" for n in s["profile_notes"]))
    parts.append(f"Cells: {s['cells']['total']} ({s['cells']['trained']} trained in this run, "
                 f"{s['cells']['cached']} read from the cache).")
    parts += ["## The seed's claims against this machine",
              f"Answered on {machine_summary(s['machine'])} "
              f"({s['machine'].get('hardware_threads')} hardware threads). Each curve is one "
              "micro-batch b and one strategy (\"b = 1\": the seed's data parallelism; "
              "\"tensor, b = 1\": tensor parallelism); b = 1 is the seed's own setting. "
              + measure_note(s),
              table(["the seed says", "curve", "here", "evidence"],
                     [(c["claim"] if c["first"] else "", c["curve"], f"**{c['verdict']}**",
                       c["evidence"]) for c in s["claims"]]),
              "\n\n".join(claims_prose(s["claims"])),
              "Timings come from a shared machine: other programs' load shows up as spread "
              "between repeats, which is why medians are plotted and min-max bars drawn."]
    parts += ["## Where speedup appears", TWO_SPEEDUPS,
              "\n\n".join(where_speedup_appears(s) + hardware_sentences(s))]
    parts += to_target_section(s)
    parts += sweep_section(s)
    parts += ["## Execution time and speedup",
              "![time](time_vs_workers.png)\n![speedup](speedup.png)\n"
              "![efficiency](efficiency.png)",
              "T(1) is the sequential run (one process, no engine) at the same b, the seed's "
              "baseline (S); the hardware speedup's baseline is the sequential run at batch "
              "N b (table below). The engine's own N = 1 row shows what the machinery costs. "
              "Efficiency is the hardware speedup over N. Amdahl's law is fitted, per curve, "
              "to the points with N <= cores, where its premise (a processor per worker) "
              "holds, on the hardware speedup.",
              table(["P", "b", "strategy", "N", "aggregation", "time (s)", "min-max (s)",
                      "repeats", "samples/s", "S (seq b)", "hardware speedup (seq N b)",
                      "efficiency"],
                     [(f"{r['train_size']:,}", r["micro_batch"],
                       r["strategy"] if r["backend"] else "", r["workers"] if r["backend"]
                       else "1 (seq)", r.get("aggregate") or "", f"{r['seconds']:.2f}",
                       f"{r['seconds_min']:.2f}-{r['seconds_max']:.2f}", r["repeats"],
                       f"{r['samples_per_second']:,.0f}",
                       f"{r['speedup']:.2f}" if r.get("speedup") else "",
                       f"{r['hardware_speedup']:.2f}" if r.get("hardware_speedup") else "",
                       f"{r['efficiency']:.2f}" if r.get("efficiency") else "")
                      for r in sorted(s["timing"], key=lambda r: (
                          r["micro_batch"], r["backend"] is not None, r["strategy"],
                          r["train_size"], r["workers"]))]),
              table(["P", "curve", "Amdahl parallel fraction f (N <= cores)",
                      "log fit over all N"],
                     [(f"{c['train_size']:,}", curve_label(c["strategy"], c["micro_batch"]),
                       f"{c['amdahl']:.3f}" if c["amdahl"] is not None else "",
                       format_fit(*c["log"]) if c["log"] else "")
                      for c in s["curves"]])]
    parts += hardware_baselines(s)
    parts += _breakdown_section(s)
    parts += ["## Accuracy: the seed's fixed learning rate, and one scaled with N",
              "![accuracy](accuracy_vs_workers.png)\n![accuracy over time](accuracy_vs_time.png)",
              "BSP with N workers is minibatch SGD with batch N b: with the seed's fixed rate, "
              "each step averages N b gradients and moves as far as one, so an epoch makes N "
              "times fewer steps. The linear rule (Goyal et al. 2017) scales the rate by N b.",
              table(["N", "b", "lr rule", "step lr", "test accuracy", "learnt on",
                      "time (s)", "time of"],
                     [(r["workers"], r["micro_batch"], r["lr_rule"], f"{r['step_lr']:g}",
                       f"{r['test_accuracy']:.4f}", r["backend"] or "sequential",
                       f"{r['elapsed'][-1]:.2f}", r["time_from"])
                      for r in s["accuracy"]])]
    parts += ["## One run's timeline", "![timeline](timeline.png)", s["timeline_note"]]
    parts += _cost_model_section(s)
    parts += network_section(s)
    parts += sync_section(s)
    parts += ["## The seed's defaults", "`seed_defaults/`: " + s["seed_defaults"],
              "## Machine", _machine(s["machine"])]
    return "\n\n".join(parts) + "\n"


def _breakdown_section(s):
    rows = s.get("breakdown") or []
    if not rows:
        return []
    p = max(r["train_size"] for r in s["timing"])
    head = ["## Where the time goes, N by N (from the trace)",
            f"The seed's curve ({curve_label(*families(s['speedup'])[0])}) at P = {p:,}, from "
            "the engine's trace: per iteration, one worker's compute and barrier wait, and the "
            "time to apply the iteration's update; per sample, the iteration split into that "
            "update and everything else. Microseconds, medians of the repeats.",
            table(["N", "aggregation", "turns on the cores", "iteration", "compute",
                    "barrier wait", "update", "per sample", "update per sample",
                    "rest per sample"],
                   [(r["workers"], r["aggregate"], r["rounds"], f"{r['iteration']:.0f}",
                     f"{r['compute']:.0f}", f"{r['wait']:.0f}", f"{r['update']:.0f}",
                     f"{r['per_sample']:.1f}", f"{r['update_per_sample']:.1f}",
                     f"{r['rest_per_sample']:.1f}") for r in rows])]
    threads = s["machine"].get("hardware_threads") or 1
    return head + explain_breakdown(rows, threads)


def _cost_model_section(s):
    parts = ["## A cost model, and machines larger than this one"]
    cm = s.get("cost_model")
    if not cm:
        return parts + ["No parallel measurements to fit (the engine was not available)."]
    us = 1e6
    return parts + [
        "![cost model](cost_model.png)",
        f"Fitted from {cm['source']} on the seed's curve "
        f"({curve_label(*families(s['speedup'])[0])}): per sample, sequential "
        f"{cm['sequential'] * us:.1f} us, worker compute {cm['compute'] * us:.1f} us, "
        f"aggregation {cm['aggregate'] * us:.1f} us; per iteration, synchronisation "
        f"{cm['sync0'] * us:.1f} us + {cm['sync1'] * us:.1f} us x log2 N. The aggregation is "
        "applied once per sample whatever N, so it is the serial part: no N makes the seed's "
        "S pass sequential / aggregate. The model assumes a core per worker; where this "
        "machine has fewer, measured and predicted part ways. " + _sync_caveat(s)
        + " " + _hardware_prediction_note(cm),
        table(["N", "S predicted, a core each", f"S predicted, {cm['cores']} cores",
               "S measured", "hardware speedup predicted, a core each",
               f"hardware speedup predicted, {cm['cores']} cores", "hardware speedup measured"],
              [(p["workers"], f"{p['many_cores']:.2f}", f"{p['this_machine']:.2f}",
                _num(p.get("measured")), _num(p.get("hardware_many_cores")),
                _num(p.get("hardware_this_machine")), _num(p.get("hardware_measured")))
               for p in s["cost_predictions"]]),
        *strategy_models_rows(s), *traffic_rows(s)]


def _num(x):
    return f"{x:.2f}" if x else ""


def _hardware_prediction_note(cm):
    """Where the hardware speedup's predictions come from, from the model's measured rates."""
    rates = cm.get("batch_seconds") or []
    if not rates:
        return ("No sequential rate at batch N b was measured, so the model predicts the "
                "seed's S (against the sequential run at b) alone.")
    us = 1e6
    return ("The hardware speedup (against sequential minibatch SGD at batch N b) is "
            "predicted from the sequential rates measured at each batch ("
            + ", ".join(f"batch {b}: {t * us:.1f} us" for b, t in rates)
            + " per sample), read at N b and interpolated on log2 of the batch between two "
            "measured batches; past the largest measured batch the model predicts nothing "
            "(an empty cell), since how far a larger batch keeps paying off on one core is "
            "the machine's, not the model's. Its ideal is N; the seed's S is predicted "
            "beside it.")


def _sync_caveat(study):
    """How much to trust the synchronisation term's growth with N."""
    threads = study["machine"].get("hardware_threads") or 1
    ns = sorted({r["workers"] for r in study["speedup"] if r["workers"] <= threads})
    if len(ns) <= 2:
        return (f"Its growth with N rests on N = {and_list(ns)} alone (the only N with a core "
                f"each on {threads} cores), so predictions for large N are a guess at the "
                "form, log2 N, not a measurement: read them as a shape.")
    return f"Its terms are fitted over N = {and_list(ns)}."


def write_report(path, study):
    """Write :func:`render`'s Markdown to ``path`` atomically; return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(render(study))
    return path
