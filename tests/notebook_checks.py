"""What the course's notebooks print to check themselves, checked.

A notebook that prints ``same weights as serial: False`` runs without an error, so
running it headless is not enough: :func:`verify` reads what a notebook printed and
returns every check that did not hold:

* every printed line ``...: True`` or ``...: False`` must say True, and the lines
  listed in :data:`TRUE_LINES` must be there;
* the numbers a notebook's text quotes or explains must agree with the arithmetic
  they come from (:data:`CHECKS`): a parameter count, the ratio of two printed
  numbers, BSP's weights against sequential minibatch SGD's, the same accuracy from
  two runs that compute the same thing. Printed numbers are rounded, so a derived
  number is compared within what the rounding allows.
"""

from __future__ import annotations

import math
import re

#: Lines a notebook must print ending in ``: True``.
TRUE_LINES = {
    "01_the_network": ["W1 is a view of the buffer", "gradient of W1 == outer(delta_1, x)"],
    "05_going_distributed": ["same weights as serial"],
}

NUMBER = r"[-+]?[\d,]*\.?\d+(?:e[-+]?\d+)?"


def _n(text):
    return float(text.replace(",", ""))


def _params(sizes):
    """Weights and biases of a dense network with layer ``sizes``."""
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def _ratio_range(num, den, half):
    """What ``num / den`` can be when both were printed rounded to +-``half``."""
    return (num - half) / (den + half), (num + half) / max(den - half, 1e-300)


class _Checker:
    """Collects the failures of one notebook's checks."""

    def __init__(self, printed):
        self.printed, self.failures = printed, []

    def all(self, pattern, least=1):
        """Every match of ``pattern`` (a line, ``NUM`` for a number); a failure if fewer
        than ``least``."""
        found = list(re.finditer(pattern.replace("NUM", f"({NUMBER})"), self.printed, re.M))
        if len(found) < least:
            self.failures.append(f"expected {least} line(s) matching {pattern!r}, "
                                 f"found {len(found)}")
        return found

    def one(self, pattern):
        found = self.all(pattern)
        return found[0] if found else None

    def expect(self, ok, what):
        if not ok:
            self.failures.append(what)


def _01_the_network(c):
    m = c.one(r"^parameters in the flat buffer: (\d+)$")
    if m:
        c.expect(int(m[1]) == _params((784, 200, 10)), f"{m[0]!r}: 784-200-10 holds "
                                                          f"{_params((784, 200, 10))}")
    layers = [m.groups() for m in c.all(r"^layer (\d): W \((\d+), (\d+)\), b \((\d+),\)$", 2)]
    c.expect(layers == [("1", "200", "784", "200"), ("2", "10", "200", "10")],
             f"layer shapes {layers}")
    for m in c.all(r"relative error NUM$", 3):
        # The text: "the relative error should be around 1e-8 or less".
        c.expect(_n(m[1]) < 1e-6, f"{m[0]!r}: backprop and finite differences disagree")
    m = c.one(r"^loss went from NUM to NUM$")
    if m:
        c.expect(_n(m[2]) < _n(m[1]), f"{m[0]!r}: the epoch did not lower the loss")
    m = c.one(r"^test accuracy after one epoch on \d+ samples: NUM \(guessing: 0\.100\)$")
    if m:
        c.expect(_n(m[1]) > 0.1, f"{m[0]!r}: no better than guessing")


def _02_parallel_sgd(c):
    diff, top = c.one(r"^largest difference between the two models' parameters: NUM$"), \
        c.one(r"^largest parameter: NUM$")
    if diff and top:
        # The text: "at the level of floating-point rounding, many orders of magnitude below
        # the parameters": BSP with N workers is minibatch SGD with batch N.
        c.expect(_n(diff[1]) < 1e-12 and _n(diff[1]) < 1e-10 * _n(top[1]),
                 f"{diff[0]!r}: BSP and minibatch SGD differ beyond rounding")
    sizes = (784, 200, 10)
    factors = c.one(r"^factors\s*:\s+NUM floats per worker.* all 4 in\s+NUM us")
    gradients = c.one(r"^gradients:\s+NUM floats per worker.* all 4 in\s+NUM us")
    if factors and gradients:
        c.expect(_n(factors[1]) == sum(sizes[:-1]) + sum(sizes[1:]),
                 f"{factors[0][:40]!r}: a sample's factors are its layers' inputs and deltas")
        c.expect(_n(gradients[1]) == _params(sizes), f"{gradients[0][:40]!r}: a gradient "
                                                     "holds every parameter")
        m = c.one(r"^factors: NUM x fewer floats to send, and the aggregator is NUM x as fast$"
                  .replace(" x", "x"))
        if m:
            fewer = _n(gradients[1]) / _n(factors[1])
            c.expect(round(fewer) == _n(m[1]), f"{m[0]!r}: the floats give {fewer:.1f}x")
            lo, hi = _ratio_range(_n(gradients[2]), _n(factors[2]), 0.5)
            c.expect(lo - 0.05 <= _n(m[2]) <= hi + 0.05,
                     f"{m[0]!r}: the printed times give {lo:.2f}x to {hi:.2f}x")
    sends = {m[1]: m[2] for m in c.all(r"^send=(\w+)\s*: .*test accuracy NUM$", 2)}
    # Factors or whole gradients, the update is the same: so is the accuracy.
    c.expect(len(set(sends.values())) == 1, f"send=factors and send=gradients: {sends}")


def _splits_agree(c):
    # Data and tensor parallelism compute one minibatch SGD: the same accuracy.
    c.one(r"Both reached the same test accuracy, NUM, as two runs of one minibatch SGD should")


def _03_scaling(c):
    lines = c.all(r"^N = (\d+), b = (\d+): the engine NUM s; the sequential run at b = (\d+) "
                  r"NUM s, so the seed's S = NUM; sequential minibatch SGD at batch N b = "
                  r"(\d+) NUM s, so the hardware speedup = NUM \(ideal (\d+)\)")
    for m in lines:
        n, b, engine = int(m[1]), int(m[2]), _n(m[3])
        # S divides the sequential run at b, the hardware speedup the one at batch N b.
        c.expect(int(m[4]) == b and int(m[7]) == n * b and int(m[10]) == n,
                 f"{m[0][:60]!r}: the baselines are the sequential runs at b and N b")
        for seq, speedup, name in ((_n(m[5]), _n(m[6]), "S"), (_n(m[8]), _n(m[9]), "hardware")):
            lo, hi = _ratio_range(seq, engine, 0.00005)
            c.expect(lo - 0.005 <= speedup <= hi + 0.005,
                     f"{m[0][:60]!r}: {name} is its baseline's time over the engine's, "
                     f"{lo:.2f} to {hi:.2f}")
    m = c.one(r"^fitted to the hardware speedup: parallel fraction f = NUM; "
              r"Amdahl's limit 1/\(1-f\) = (\S+)$")
    if m:
        f, limit = _n(m[1]), m[2]
        lo, hi = (1 / (1 - x) if x < 1 else math.inf for x in (f - 0.005, f + 0.005))
        c.expect(limit == "inf" or lo - 0.05 <= float(limit) <= hi + 0.05,
                 f"{m[0]!r}: 1/(1-f) is {lo:.2f} to {hi:.2f}")
    terms = c.one(r"^per sample: sequential NUM us, compute NUM us, aggregate NUM us")
    m = c.one(r"^the seed's S that no number of workers exceeds \(sequential / aggregate\): NUM$")
    if terms and m:
        # The cost model's limit: the sequential path's time over the serial part's.
        lo, hi = _ratio_range(_n(terms[1]), _n(terms[3]), 0.5)
        c.expect(lo - 0.05 <= _n(m[1]) <= hi + 0.05,
                 f"{m[0]!r}: sequential / aggregate is {lo:.2f} to {hi:.2f}")
    rates = c.one(r"^sequential rates measured, per batch: batch 1: NUM us per sample")
    if terms and rates:
        # The model's T(1) is the sequential rate at batch 1: one measurement, one number.
        c.expect(terms[1] == rates[1], f"{rates[0][:60]!r}: batch 1's rate is the sequential "
                                       f"{terms[1]} us")
    _splits_agree(c)
    m = c.one(r"^N = (\d+) on (\d+) cores, hosting = (\w+): NUM samples/s, NUM involuntary")
    if m:  # the lesson's run is past the cores: four workers per core
        c.expect(int(m[1]) == 4 * int(m[2]), f"{m[0]!r}: not four workers per core")


def _04_the_barrier(c):
    m = c.one(r"^one iteration: NUM us; worker 0 computed for (\d+)% of it and waited for (\d+)%$")
    if m:
        c.expect(int(m[2]) + int(m[3]) <= 101, f"{m[0]!r}: more than the whole iteration")
    m = c.one(r"^one worker's forward and backward pass \(median\):\s+NUM us$")
    for cross in c.all(r"^a crossing of .*:\s+NUM us = NUM x the pass$", 2):
        if m:
            lo, hi = _ratio_range(_n(cross[1]), _n(m[1]), 0.05)
            c.expect(lo - 0.005 <= _n(cross[2]) <= hi + 0.005,
                     f"{cross[0]!r}: the printed times give {lo:.3f} to {hi:.3f}")
    # The wait (from the time budget) is the crossing plus waiting for the other worker
    # (both from the trace): the parts add up, to the printed rounding and 1%.
    wait = c.one(r"^worker 0's barrier wait per iteration \(time budget\):\s+NUM us$")
    crossing = c.one(r"^  the crossing \(the last arrival's wait, mean\):\s+NUM us$")
    behind = c.one(r"^  waiting for the other worker to arrive:\s+NUM us$")
    if wait and crossing and behind:
        total = _n(crossing[1]) + _n(behind[1])
        c.expect(abs(total - _n(wait[1])) <= 0.01 * _n(wait[1]) + 0.15,
                 f"the crossing and the waiting add up to {total:.1f} us, not {wait[1]} us")
        c.expect(_n(crossing[1]) <= _n(wait[1]), f"{crossing[0]!r}: more than the wait")
    long = c.one(r"^(\d+) of (\d+) iterations had worker 0 wait over 1 ms; they hold "
                 r"(\d+)% of its wait$")
    if long:
        c.expect(int(long[1]) <= int(long[2]) and int(long[3]) <= 100, f"{long[0]!r}")


def _05_going_distributed(c):
    m = c.one(r"^a BSP round on Dask: NUM ms; its computation alone: NUM ms; the rest, "
              r"(\d+)% of the round")
    if m:
        lo, hi = (100 * (1 - (_n(m[2]) + d) / (_n(m[1]) - d)) for d in (0.05, -0.05))
        c.expect(lo - 0.5 <= int(m[3]) <= hi + 0.5, f"{m[0]!r}: the rest is {lo:.1f}% to "
                                                      f"{hi:.1f}%")


def _06_without_the_barrier(c):
    same = c.all(r"^(\w[\w =]*\S)\s*: the same seed twice gives (the same|different) weights$",
                 3)
    bsp = [m[2] for m in same if m[1] == "bsp"]
    # The barrier makes a run reproducible from its seed; the text says so.
    c.expect(bsp == ["the same"], f"bsp: the same seed twice gave {bsp}")
    bsp_run = c.one(r"^BSP with a straggler: .*test accuracy NUM$")
    s0 = c.one(r"^s =  0: .*test accuracy NUM$")
    if bsp_run and s0:
        # SSP with s = 0 waits as BSP does: the same arithmetic, the same accuracy.
        c.expect(s0[1] == bsp_run[1], f"SSP s = 0 reached {s0[1]}, BSP {bsp_run[1]}")


def _01_solutions(c):
    m = c.one(r"^test accuracy NUM against Rashid's 0\.9712: NUM to go$")
    if m:
        c.expect(abs(0.9712 - _n(m[1]) - _n(m[2])) < 1e-9, f"{m[0]!r}: the gap is wrong")
    for m in c.all(r"^hidden \(([\d, ]+)\)\s*:\s+NUM parameters", 3):
        sizes = (784, *(int(h) for h in m[1].split(",") if h.strip()), 10)
        c.expect(_n(m[2]) == _params(sizes), f"{m[0]!r}: {sizes} holds {_params(sizes)}")
    starts = {m[1] for m in c.all(r"^lr\s+\S+: loss NUM ->", 3)}
    # The same seed, the same initial network: every rate starts from the same loss.
    c.expect(len(starts) == 1, f"the learning rates start from losses {starts}")


def _02_solutions(c):
    for m in c.all(r"^workers=1, K = +\d+: largest difference from sequential SGD NUM$", 3):
        # One worker averaging with itself is plain SGD: the differences are rounding.
        c.expect(_n(m[1]) < 1e-12, f"{m[0]!r}: more than rounding")
    for m in c.all(r"^N = (\d+), lr rule linear \(lr NUM\)", 1):
        c.expect(abs(_n(m[2]) - 0.1 * int(m[1])) < 1e-9, f"{m[0]!r}: the linear rule is "
                                                         "0.1 x N")
    for m in c.all(r"^\(([\d, ]+)\): factors NUM floats, gradient NUM \((\d+)x\).*"
                   r"break-even micro-batch b = (\d+)$", 2):
        sizes = tuple(int(v) for v in m[1].split(","))
        f, g = _n(m[2]), _n(m[3])
        c.expect(f == sum(sizes[:-1]) + sum(sizes[1:]) and g == _params(sizes),
                 f"{m[0][:40]!r}: floats of {sizes}")
        c.expect(int(m[4]) == int(m[5]) == round(g / f), f"{m[0][:40]!r}: g / f is {g / f:.1f}")


def _03_solutions(c):
    for m in c.all(r"^b = +(\d+), N = (\d+): the seed's S NUM \(NUM to NUM\) against "
                   r"sequential at b = (\d+); hardware speedup NUM \(NUM to NUM\) against "
                   r"sequential at batch (\d+)", 2):
        c.expect(_n(m[4]) <= _n(m[3]) <= _n(m[5]) and _n(m[8]) <= _n(m[7]) <= _n(m[9]),
                 f"{m[0][:60]!r}: a median is outside its range")
        # Each speedup names its baseline: the sequential run at b, and at batch N b.
        c.expect(m[6] == m[1] and int(m[10]) == int(m[1]) * int(m[2]),
                 f"{m[0][:60]!r}: the baselines are the sequential runs at b and N b")


def _04_solutions(c):
    runs = c.all(r"^N = (\d+): (\d+) iterations, NUM s; the delay alone is NUM s", 2)
    # Every worker's iterations: P / N, the same P for every N.
    c.expect(len({int(m[1]) * int(m[2]) for m in runs}) == 1,
             f"iterations x N differ: {[m[0] for m in runs]}")
    for m in runs:
        c.expect(_n(m[3]) >= _n(m[4]) - 0.01, f"{m[0]!r}: faster than the delay alone")
    m = c.one(r"^barrier waits per worker per iteration: (\d+)$")
    if m:
        # The text: "One crossing per iteration" with replicated aggregation.
        c.expect(m[1] == "1", f"{m[0]!r}: replicated aggregation crosses once")
    m = c.one(r"^parties in the trace: (.*)$")
    if m:
        # The text: "the aggregator has no row at all".
        c.expect(m[1] == "['worker 0', 'worker 1']", f"{m[0]!r}")


def _05_solutions(c):
    rounds = {int(m[1]): int(m[2]) for m in c.all(r"^K = +(\d+): (\d+) rounds per epoch$", 4)}
    # The text: a round takes N x K x b samples, at K = 50 "2 x 50 x 10 = 1,000", the
    # whole epoch; K = 100 gives the same run.
    c.expect(rounds == {k: math.ceil(1000 / (2 * 10 * k)) for k in (10, 25, 50, 100)},
             f"rounds per epoch {rounds}")
    bsp = c.one(r"^BSP\s+accuracy NUM after\s+(\d+) rounds")
    one = c.one(r"^averaging, K=1\s+accuracy NUM after\s+(\d+) rounds")
    if bsp and one:
        # Averaging after every step is the seed's algorithm again.
        c.expect(bsp.groups()[:2] == one.groups()[:2], f"{bsp[0]!r} against {one[0]!r}")


def _06_solutions(c):
    m = c.one(r"^bsp\s*: .*staleness mean NUM \(max (\d+)\)")
    if m:
        c.expect(_n(m[1]) == 0 and m[2] == "0", f"{m[0]!r}: BSP's gradients are never stale")
    for m in c.all(r"^N = \d+: async staleness mean NUM, max (\d+);", 2):
        c.expect(_n(m[1]) <= int(m[2]), f"{m[0]!r}: a mean above its maximum")


def _07_honest_speedup(c):
    seconds = {}
    p = c.one(r"^P = NUM training samples")
    for m in c.all(r"^B = +(\d+): best rule \w+ +\(lr NUM\): +NUM samples, +NUM steps, NUM s$", 2):
        b, samples, steps = int(m[1]), _n(m[3]), _n(m[4])
        seconds[b] = _n(m[5])
        # A step takes B samples, the last of an epoch fewer: samples / B steps, plus at
        # most one short step per epoch begun (both interpolated, printed rounded).
        epochs = samples / _n(p[1]) + 1 if p else 1
        c.expect(samples / b - 1 <= steps <= samples / b + epochs + 1,
                 f"{m[0]!r}: {steps:,.0f} steps of {b}")
    best = c.one(r"^best one-core configuration: B = (\d+), rule \w+ \(lr NUM\), NUM s")
    if best and seconds:
        # The best configuration is the one that reached the target soonest (as printed).
        c.expect(seconds.get(int(best[1]), math.inf) <= min(seconds.values()) + 0.01,
                 f"{best[0]!r}: the printed times are {seconds}")
    m = c.one(r"time-to-accuracy speedup \(against the best one-core run, B = \d+, \w+\): "
              r"NUMx \(NUM s against NUM s")
    if m:
        lo, hi = _ratio_range(_n(m[3]), _n(m[2]), 0.005)
        c.expect(lo - 0.005 <= _n(m[1]) <= hi + 0.005,
                 f"{m[0]!r}: the best run's time over the engine's is {lo:.2f} to {hi:.2f}")


def _07_solutions(c):
    crit = c.one(r"^B_crit = (\d+): steps to target at B = N")
    steps = {int(m[1]): _n(m[2]) for m in c.all(r"^  N = +(\d+): +NUM steps$", 3)}
    if crit and 1 in steps:
        b = int(crit[1])
        # McCandlish et al.: steps(N) = S_min (1 + B_crit / N), so steps(1) / steps(N) is
        # (1 + B_crit) / (1 + B_crit / N); B_crit is printed rounded to a whole batch.
        for n, value in steps.items():
            lo = (1 + b - 0.5) / (1 + (b - 0.5) / n)
            hi = (1 + b + 0.5) / (1 + (b + 0.5) / n)
            ratio = steps[1] / value
            c.expect(min(lo, hi) * 0.999 <= ratio <= max(lo, hi) * 1.001,
                     f"N = {n}: steps(1) / steps(N) = {ratio:.3f}, not (1 + B) / (1 + B / N)")


CHECKS = {
    "01_the_network": _01_the_network,
    "02_parallel_sgd": _02_parallel_sgd,
    "03_scaling": _03_scaling,
    "04_the_barrier": _04_the_barrier,
    "05_going_distributed": _05_going_distributed,
    "06_without_the_barrier": _06_without_the_barrier,
    "07_honest_speedup": _07_honest_speedup,
    "solutions/01_the_network_solutions": _01_solutions,
    "solutions/02_parallel_sgd_solutions": _02_solutions,
    "solutions/03_scaling_solutions": _03_solutions,
    "solutions/04_the_barrier_solutions": _04_solutions,
    "solutions/05_going_distributed_solutions": _05_solutions,
    "solutions/06_without_the_barrier_solutions": _06_solutions,
    "solutions/07_honest_speedup_solutions": _07_solutions,
}


def verify(name, printed):
    """Every check of notebook ``name`` (as in tests/test_notebooks.py) that ``printed``,
    the text its cells printed, fails; empty when all hold."""
    c = _Checker(printed)
    for line in printed.splitlines():
        m = re.match(r"^(.*\S): (True|False)$", line.strip())
        if m and m[2] != "True":
            c.failures.append(f"it printed {line.strip()!r}")
    for label in TRUE_LINES.get(name, ()):
        c.expect(f"{label}: True" in printed.splitlines(), f"no line {label + ': True'!r}")
    CHECKS.get(name, lambda c: None)(c)  # a notebook without checks: test_notebooks flags it
    return c.failures
