"""The report's words on the two speedups: the seed's S and the hardware speedup.

Rendering only, from the study's numbers (:mod:`pdsgd.study.analysis`); every
sentence that states a finding is built from the numbers it states, and a
hardware speedup above its ideal N is explained from a measurement
(``study["slices"]``: :func:`pdsgd.study.slices.slice_timing`) or said to
have none.
"""

from __future__ import annotations

from pdsgd.engine.strategies import TENSOR
from pdsgd.study.claims import curve_label, curves, families
from pdsgd.study.markdown import table
from pdsgd.study.to_target import WARMUP_SAMPLES

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
    out += slice_sentences(study)
    out += above_ideal(study)
    out += seed_s_above_n(study)
    return out


def seed_s_above_n(study):
    """Where the seed's S passes N (drawn dotted beside the hardware speedup's ideal line):
    why, from the two baselines measured in the same repeats. S over the hardware speedup is
    T_seq(b) / T_seq(N b), one core's own gain from the larger batch."""
    passing = [r for r in study["speedup"] if r["workers"] > 1 and r["speedup"] > r["workers"]
               and r.get("hardware_speedup")]
    out = []
    for r in passing:
        gain = r["speedup"] / r["hardware_speedup"]
        n, b = r["workers"], r["micro_batch"]
        out.append(f"{curve_label(r['strategy'], b)}, N = {n}, P = {r['train_size']:,}: the "
                   f"seed's S {r['speedup']:.2f} > N. Measured in the same repeats, the "
                   f"sequential run at batch N b = {n * b} was {gain:.2f}x as fast as at b = "
                   f"{b} (one core, the same samples), so S = hardware speedup "
                   f"{r['hardware_speedup']:.2f} x {gain:.2f}: the part above the hardware "
                   "speedup is the larger batch's, not the cores'.")
    return out


def slice_sentences(study):
    """What one tensor-parallel worker's slice costs against the whole network, measured."""
    rows = study.get("slices") or []
    if not rows:
        return []
    return ["One tensor-parallel worker's share, measured on one core (one SGD step at batch "
            "N b on 1/N of the hidden units, against the whole network at the same batch): "
            + "; ".join(f"N = {m['workers']}, batch {m['batch']}: {m['slice_us']:.0f} us "
                        f"against {m['whole_us']:.0f} us, so N slices cost "
                        f"{1 / m['advantage']:.2f}x the whole" for m in rows)
            + ". Below 1x, splitting the units alone makes the work cheaper (a slice of the "
              "weights fits a cache the whole does not); that is how a hardware speedup "
              "can pass N."]


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
        if r["strategy"] == TENSOR and m:
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


def _rate(x):
    return f"{x:.2f}x"


def to_target_section(study):
    """``## Time to accuracy`` and ``## What a bigger batch costs``, from ``study["to_target"]``."""
    tt = study.get("to_target")
    if not tt:
        return []
    name = study["dataset"]["name"]
    head = [
        "## Time to accuracy",
        f"Target: **{tt['target']:.0%} test accuracy on {name}** "
        f"({_why_target(tt, study)}). Where it is crossed: the sequential run at each batch "
        "and rule stops every few hundred samples to evaluate the test accuracy, outside the "
        "clock, and the crossing is interpolated between two evaluations. How long it takes: "
        "the table below times each configuration again to the step its batch and rule "
        "crossed (the engine computes the same arithmetic, so it crosses at the same step) "
        "without stopping to evaluate, where a stop would cost the engine about a "
        "millisecond of waking its worker processes; it stops only where the warm-up "
        "changes the rate. The engine's worker start-up is timed apart, as in the "
        "seed's T(N). One core per sequential run (one BLAS thread). Learning-rate rules: "
        "`fixed` 0.1 (the seed's), `linear` 0.1 B, `linear/2` 0.05 B, `linear/4` 0.025 B, "
        "`sqrt` 0.1 sqrt(B), all but the first warmed up linearly from 0.1 over the first "
        f"{WARMUP_SAMPLES:,} samples; per B the best of the five (least time to target) is "
        "the batch's rate, and the engine at N workers of micro-batch b runs at the best "
        "rate of batch N b.",
    ]
    best = tt.get("best")
    if best is None:
        return head + ["No sequential configuration reached the target: nothing to compare."]
    head.append(
        f"**The best one-core configuration** (the baseline of every time-to-accuracy "
        f"speedup, McSherry et al.'s COST): batch B = {best['batch']}, rule "
        f"`{_rule_of(tt, best['batch'])}` (lr {best['lr']:g}): {best['seconds']:.2f} s and "
        f"{best['samples']:,.0f} samples to the target (median of {best['rounds']} rounds).")
    head.append(table(
        ["strategy", "N", "b", "lr", "seconds to target", "samples", "start-up (s)",
         "time-to-accuracy speedup", "= hardware", "x statistical", "x batch throughput"],
        [(r["strategy"], r["workers"], r["micro_batch"], f"{r['lr']:g}", f"{r['seconds']:.2f}",
          f"{r['samples']:,.0f}", f"{r['startup_seconds']:.2f}", _rate(r["speedup"]),
          _rate(r["hardware"]) if "hardware" in r else "",
          f"{r['statistical']:.2f}" if "statistical" in r else "",
          f"{r['throughput']:.2f}" if "throughput" in r else "") for r in tt["engine"]]))
    head.append(
        "The time-to-accuracy speedup is the best one-core time over the engine's. It splits "
        "exactly into three factors: the **hardware** speedup at the target (the sequential "
        "run at batch N b, same rate, over the engine: the same arithmetic), the "
        "**statistical** efficiency (samples to target at the best B over those at N b: below "
        "1 once the batch costs samples) and the **batch throughput** (one core's samples/s at "
        "N b over those at the best B).")
    head += goal_sentence(tt)
    return head + batch_cost_section(tt)


def _rule_of(tt, batch):
    for c in tt["curve"]:
        if c["batch"] == batch and c["reached"]:
            return c["rule"]
    return "?"


def _why_target(tt, study):
    seed = next((c for c in tt["curve"] if c["batch"] == 1 and c["reached"]), None)
    if seed is None:
        return "the seed's batch 1 did not reach it within the run's epochs"
    return (f"the seed's batch 1 at lr 0.1 reaches it after {seed['samples']:,.0f} samples, "
            f"{seed['samples'] / study['dataset']['train']:.1f} epochs; high enough that "
            "batches differ, low enough that most reach it")


def goal_sentence(tt):
    """At N = 2, the better strategy's time-to-accuracy speedup, per b."""
    out = []
    for b in sorted({r["micro_batch"] for r in tt["engine"]}):
        rows = [r for r in tt["engine"] if r["workers"] == 2 and r["micro_batch"] == b]
        if not rows:
            continue
        top = max(rows, key=lambda r: r["speedup"])
        split = (f" (the best one-core batch, {2 * b}, split in two)"
                 if top.get("splits_best") else "")
        out.append(f"At N = 2, b = {b}{split}, the better strategy is **{top['strategy']}**: it "
                   f"reaches the target {top['speedup']:.2f}x as fast as the best one-core "
                   "configuration (" + ", ".join(
                       f"{r['strategy']} {r['speedup']:.2f}x, hardware "
                       f"{r.get('hardware', float('nan')):.2f}x" for r in rows) + ").")
    return ["\n\n".join(out)] if out else []


def batch_cost_section(tt):
    """``## What a bigger batch costs``: Shallue et al.'s curve, B_crit and the noise scale."""
    crit, noise = tt.get("critical"), tt.get("noise")
    rules = sorted({r for c in tt["curve"] for r in c["rules"]})
    rows = [(c["batch"], c.get("rule", "none reached"), f"{c['lr']:g}" if c["reached"] else "",
             f"{c['samples']:,.0f}" if c["reached"] else "",
             f"{c['steps']:,.0f}" if c["reached"] else "",
             f"{c['seconds']:.2f}" if c["reached"] else "",
             f"{c['b_simple']:.0f}" if c.get("b_simple") else "")
            + tuple(f"{c['rules'][r]:,.0f}" if c["rules"].get(r) is not None else "-"
                    for r in rules) for c in tt["curve"]]
    text = ["## What a bigger batch costs",
            "![samples and steps to target against batch size](batch_size.png)",
            "Shallue et al. (2019): steps to a target against batch size fall as 1/B while "
            "the batch is small (perfect scaling: the samples to target stay flat), then "
            "less and less (diminishing returns: each doubling of B costs samples), then not "
            "at all. With N workers of micro-batch b the batch is N b: past the critical "
            "batch, more workers buy time per step but not time to accuracy. One sequential "
            "run per B and rule (samples to target do not depend on the machine).",
            table(["B", "best rule", "lr", "samples", "steps", "seconds", "B_simple there"]
                  + [f"samples, {r}" for r in rules], rows)]
    if crit:
        text.append(f"Fitted to the best rule's samples, McCandlish et al.'s E(B) = E_min (1 + "
                    f"B / B_crit) gives **B_crit = {crit['b_crit']:.0f}** (E_min = "
                    f"{crit['e_min']:,.0f} samples, S_min = {crit['s_min']:,.0f} steps).")
    else:
        text.append("McCandlish et al.'s E(B) = E_min (1 + B / B_crit) did not fit the "
                    "measured samples (a line through them needs a positive intercept and "
                    "slope): no critical batch size from the curve.")
    if noise:
        text.append(f"The gradient noise scale B_simple = tr(Sigma) / |G|^2, from the "
                    f"per-sample gradients of the whole training set at the moment the best "
                    f"configuration reached the target: **{noise['b_simple']:.0f}** (over "
                    f"every batch's best run at its crossing: {noise['min']:.0f} to "
                    f"{noise['max']:.0f}). McCandlish et al. find B_simple the right order of "
                    "magnitude for the critical batch, not its value (it leaves out the "
                    "curvature).")
    return text
