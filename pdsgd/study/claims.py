"""The seed's three claims, judged curve by curve against a study's measured speedups.

A *curve* is the speedup against N of one strategy at one micro-batch b, per
training size P (:func:`families` lists them, the seed's own, b = 1, first).
The claims are about workers and threads, not about batch size, so they are
judged on the **hardware speedup** (against sequential minibatch SGD at batch
N b, the same arithmetic), with the seed's S (against the sequential run at b)
given beside; a study without the hardware baselines is judged on S.
Each claim gets a verdict per curve ("agrees", "disagrees" or "cannot tell",
with the numbers), so the report can say which curve supports or contradicts
which claim, and a machine that cannot test a claim says why. Nothing here
measures or renders: :mod:`pdsgd.study.report` writes it out.
"""

from __future__ import annotations

from pdsgd.study.costmodel import fit_linear, fit_log, format_fit

# The seed's claims, quoted closely enough to be recognised.
CLAIMS = {
    "log": "Speedup grows roughly logarithmically with the number of workers N.",
    "threads": "Beyond the number of hardware threads (16 on the seed's machine), more "
               "workers bring no large gains.",
    "large_p": "That plateau is weaker for large training sets, P > 10,000.",
}
GAIN = 1.10  # "a large gain": at least 10 % more speedup than at the number of threads
GOOD_FIT = 0.8  # R^2 from which a formula "describes" a curve


def families(table):
    """The curves' ``(strategy, micro_batch)`` pairs: the seed's (data, smallest b) first."""
    fams = {(r.get("strategy", "data"), r.get("micro_batch", 1)) for r in table}
    return sorted(fams, key=lambda f: (f[0] != "data", f[0], f[1]))


def curve_label(strategy, micro_batch):
    """``"b = 16"`` for the seed's data parallelism, ``"tensor, b = 1"`` for another strategy."""
    return f"b = {micro_batch}" if strategy == "data" else f"{strategy}, b = {micro_batch}"


def curves(table, family=None, key="speedup"):
    """``{P: [(N, S, S_lo, S_hi), ...]}`` of one family (default: the first), sorted by N.

    ``key`` names the speedup: ``"speedup"`` (the seed's S) or ``"hardware_speedup"``.
    """
    family = family or families(table)[0]
    out = {}
    for r in sorted(table, key=lambda r: (r["train_size"], r["workers"])):
        if (r.get("strategy", "data"), r.get("micro_batch", 1)) == family:
            out.setdefault(r["train_size"], []).append(
                (r["workers"], r[key], r[f"{key}_lo"], r[f"{key}_hi"]))
    return out


def judged_on(table):
    """The speedup the claims are judged on: the hardware speedup where every row has it."""
    if table and all("hardware_speedup" in r for r in table):
        return "hardware_speedup"
    return "speedup"


def _beside(cs):
    """The seed's S of a curve, in brief: ``P = 4,000: 1.52 at N = 2, 1.10 at N = 4``."""
    return "; ".join(f"P = {p:,}: " + ", ".join(f"{s:.2f} at N = {n}" for n, s, _, _ in pts)
                     for p, pts in cs.items())


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


def _judge_log(cs, threads):
    within = {p: [c for c in curve if c[0] <= threads] for p, curve in cs.items()}
    n_points = max((len({c[0] for c in pts}) for pts in within.values()), default=0)
    if n_points < 3:
        evidence = (f"With {threads} hardware threads only N <= {threads} run in parallel: "
                    f"{n_points} distinct N, too few to tell a logarithm from a line or from "
                    "Amdahl's curve; it takes a machine with at least 4 cores (N = 1, 2, 4 "
                    "with a core each).")
        falls = [p for p, curve in cs.items()
                 if (v := _plateau(curve, threads)) and v[1] < v[0]]
        if falls:
            evidence += (" Beyond the threads the speedup falls (P = "
                         + ", ".join(f"{p:,}" for p in falls) + "), which a logarithm would not.")
        return "cannot tell", evidence
    fits, agree = [], True
    for p, pts in within.items():
        n, s = [c[0] for c in pts], [c[1] for c in pts]
        log, line = fit_log(n, s), fit_linear(n, s)
        if log is None:
            continue
        k, r2 = log
        better_line = line is not None and line[1] > r2
        agree &= k > 0 and r2 == r2 and r2 >= GOOD_FIT and not better_line
        fits.append(f"P = {p:,}: {format_fit(k, r2)}"
                    + (f", a line fits better ({format_fit(line[0], line[1], '(N - 1)')})"
                       if better_line else ""))
    evidence = (f"Fitted over N <= {threads} (a core each): " + "; ".join(fits) + ". A "
                f"logarithm describes a curve when R^2 >= {GOOD_FIT} and a line does not "
                "fit better.")
    return ("agrees" if agree and fits else "disagrees"), evidence


def _judge_threads(cs, threads):
    plateaus = {p: v for p, c in cs.items() if (v := _plateau(c, threads))}
    if not plateaus:
        return "cannot tell", (f"No measurement with N > {threads}, the hardware threads of "
                               "this machine.")
    verdict = "disagrees" if any(v[3] for v in plateaus.values()) else "agrees"
    evidence = "; ".join(f"P = {p:,}: {at:.2f} at N = {threads}, best beyond: {best:.2f} "
                         f"at N = {n}" for p, (at, best, n, _) in plateaus.items())
    evidence = (f"This machine has {threads} hardware threads. {evidence}. A large gain means "
                f"at least {GAIN - 1:.0%} more speedup, beyond the spread of the repeats.")
    best = max(c[1] for curve in cs.values() for c in curve)
    if best < 1:
        evidence += (f" But no N beat the sequential run here (best {best:.2f}): with "
                     "no gain to begin with, a plateau says little.")
    return verdict, evidence


def _judge_large_p(cs, threads):
    plateaus = {p: v for p, c in cs.items() if (v := _plateau(c, threads))}
    large = {p: v[1] / v[0] for p, v in plateaus.items() if p > 10_000}
    small = {p: v[1] / v[0] for p, v in plateaus.items() if p <= 10_000}
    if not large or not small:
        return "cannot tell", (f"Measured P: {', '.join(f'{p:,}' for p in sorted(cs))}, "
                               f"N up to {max(c[0] for v in cs.values() for c in v)}; the claim "
                               f"needs P above and below 10,000, each with N above and at "
                               f"the {threads} threads (`make reproduce PROFILE=full`).")
    weaker = min(large.values()) > max(small.values())
    ratio = ", ".join(f"P = {p:,}: {g:.2f}" for p, g in sorted({**small, **large}.items()))
    return ("agrees" if weaker else "disagrees",
            f"Best speedup beyond the threads over speedup at the threads: {ratio}.")


JUDGES = {"log": _judge_log, "threads": _judge_threads, "large_p": _judge_large_p}


def assess_claims(study):
    """The seed's claims, curve by curve, against this study's speedups.

    Parameters
    ----------
    study : dict
        Holds ``speedup`` (rows with ``train_size``, ``workers``, ``speedup``,
        ``speedup_lo``, ``speedup_hi`` and, optionally, ``strategy`` and
        ``micro_batch``) and ``machine`` (``hardware_threads``).

    Returns
    -------
    list of dict
        One per claim and curve, the seed's curve first for each claim:
        ``key``, ``claim``, ``curve`` (its label), ``strategy``, ``micro_batch``,
        ``first``, ``verdict`` ("agrees", "disagrees" or "cannot tell") and
        ``evidence`` (a sentence with the numbers).
    """
    threads = study["machine"].get("hardware_threads") or 1
    table = study["speedup"]
    fams = families(table)
    measure = judged_on(table)
    out = []
    for key, text in CLAIMS.items():
        for i, fam in enumerate(fams):
            verdict, evidence = JUDGES[key](curves(table, fam, measure), threads)
            if measure == "hardware_speedup":
                evidence = (f"On the hardware speedup (against sequential minibatch SGD at "
                            f"batch N b). {evidence} The seed's S (against the sequential run "
                            f"at b = {fam[1]}), beside: {_beside(curves(table, fam))}.")
            out.append({"key": key, "claim": text, "curve": curve_label(*fam),
                        "strategy": fam[0], "micro_batch": fam[1], "first": i == 0,
                        "measure": measure, "verdict": verdict, "evidence": evidence})
    return out


def claims_prose(claims):
    """One sentence per claim: which curves support it, which contradict it, which cannot tell."""
    out = []
    for key, text in CLAIMS.items():
        mine = [c for c in claims if c["key"] == key]
        said = {v: [c["curve"] for c in mine if c["verdict"] == v]
                for v in ("agrees", "disagrees", "cannot tell")}
        bits = []
        if said["agrees"]:
            bits.append("supported by " + _curves_named(said["agrees"]))
        if said["disagrees"]:
            bits.append("contradicted by " + _curves_named(said["disagrees"]))
        if said["cannot tell"]:
            bits.append("not testable here with " + _curves_named(said["cannot tell"]))
        out.append(f"*{text}* On this machine: " + "; ".join(bits) + ".")
    return out


def _curves_named(labels):
    """``the curve "b = 1"``, or ``the curves "b = 1", "b = 16" and "tensor, b = 1"``."""
    quoted = [f'"{label}"' for label in labels]
    if len(quoted) == 1:
        return f"the curve {quoted[0]}"
    return f"the curves {', '.join(quoted[:-1])} and {quoted[-1]}"
