"""The report's words on the two speedups: the seed's S and the hardware speedup.

Rendering only, from the study's numbers (:mod:`pdsgd.study.analysis`); every
sentence that states a finding is built from the numbers it states, and a
hardware speedup above its ideal N is explained from a measurement
(``study["slices"]``: :func:`pdsgd.study.throughput.slice_timing`) or said to
have none.
"""

from __future__ import annotations

from pdsgd.study.claims import curve_label, curves, families
from pdsgd.study.markdown import table

TWO_SPEEDUPS = (
    "Two speedups, each named for its baseline. **The seed's S** = T_seq(b) / T(N): against "
    "the sequential run at the same micro-batch b, as the seed defined it. But N workers of "
    "micro-batch b compute minibatch SGD with batch N b, and on one core a larger batch alone "
    "is faster per sample, so S mixes a batch-size gain into the parallel one. **The hardware "
    "speedup** = T_seq(N b) / T(N): against sequential minibatch SGD at batch N b on one core, "
    "the same arithmetic (the same weights after every step), timed in the same interleaved "
    "repeats. Its ideal is N on N cores; the claims are judged on it.")


def measure_note(study):
    """What the claims are judged on, in a sentence."""
    if any(c.get("measure") == "hardware_speedup" for c in study["claims"]):
        return ("The claims are about workers and threads, not batch size, so each is judged "
                "on the **hardware speedup** (against sequential minibatch SGD at batch N b, "
                "the same arithmetic), with the seed's S (against the sequential run at b) "
                "beside it in the evidence.")
    return "Each curve's speedup is against the sequential run at the same b."


def hardware_sentences(study):
    """Per curve at its largest P: the hardware speedup beside S, and where it passes N, why."""
    out = []
    table = study["speedup"]
    if not any("hardware_speedup" in r for r in table):
        return out
    for fam in families(table):
        hw, seed = curves(table, fam, "hardware_speedup"), curves(table, fam)
        p = max(hw)
        text = (f"**{curve_label(*fam)}**, P = {p:,}, hardware speedup: "
                + ", ".join(f"{h:.2f} at N = {n} (S {s_:.2f})"
                            for (n, h, _, _), (_, s_, _, _) in zip(hw[p], seed[p], strict=True))
                + ".")
        out.append(text)
    out += above_ideal(study)
    return out


def above_ideal(study):
    """Where a hardware speedup passes N: the measured reason (one worker's slice against the
    whole network, per iteration, from ``study["slices"]``), or that none was measured."""
    passing = [r for r in study["speedup"]
               if r.get("hardware_speedup", 0) > r["workers"] and r["workers"] > 1]
    if not passing:
        return []
    slices = {(s["workers"], s["batch"]): s for s in study.get("slices") or []}
    out = []
    for r in passing:
        head = (f"{curve_label(r['strategy'], r['micro_batch'])}, N = {r['workers']}, "
                f"P = {r['train_size']:,}: hardware speedup {r['hardware_speedup']:.2f} > N. ")
        m = slices.get((r["workers"], r["workers"] * r["micro_batch"]))
        if r["strategy"] == "tensor" and m:
            out.append(head + (
                f"Measured: one SGD step at batch {m['batch']} took {m['whole_us']:.0f} us on "
                f"the whole network and {m['slice_us']:.0f} us on one worker's slice (1/"
                f"{m['workers']} of the hidden units, {m['slice_kb']:,.0f} kB of weights against "
                f"{m['whole_kb']:,.0f} kB), so N slices cost {m['advantage']:.2f}x less than "
                "the whole network on one core: " + (
                    "a worker's slice of the weights stays in its core's cache where the whole "
                    "network does not, and the N cores together do less work than one."
                    if m["advantage"] > 1 else
                    "the slices are not cheaper per unit, so the cause lies elsewhere "
                    "(the spread of the repeats).")))
        else:
            out.append(head + "No per-slice measurement explains it; read it against the "
                       "spread of the repeats.")
    return out


def hardware_baselines(s):
    """The table of the hardware speedup's baselines (sequential runs at batch N b)."""
    rows = s.get("hardware_baselines") or []
    if not rows:
        return []
    return ["The hardware speedup's baselines: sequential minibatch SGD at batch N b, one "
            "process, one BLAS thread (medians of the same interleaved repeats).",
            table(["P", "batch N b", "time (s)", "min-max (s)", "samples/s"],
                  [(f"{r['train_size']:,}", r["micro_batch"], f"{r['seconds']:.2f}",
                    f"{r['seconds_min']:.2f}-{r['seconds_max']:.2f}",
                    f"{r['samples_per_second']:,.0f}")
                   for r in sorted(rows, key=lambda r: (r["micro_batch"], r["train_size"]))])]
