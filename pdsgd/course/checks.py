"""The exercises' checks: a student's answer is "correct", or a hint says where to look.

Every exercise of the course (``"01.1"``: notebook 01, exercise 1) has a check
here. In a notebook, ``checks.check("01.1", answer)`` prints the verdict and
returns True or False; ``checks.grade("01.1", answer)`` raises an
``AssertionError`` carrying the hint instead, which is what the graded cells
of the nbgrader version call (:mod:`pdsgd.course.assignments`). An unanswered
exercise (``None``) gets the hint too, never a traceback of its own.

Where the answer is a count or a size, the check recomputes it from the
exercise's terms, independently of the function the notebook used; where it
is a measurement, it checks that the run asked for was made; where it is a
conclusion, it compares it with the one the numbers support.
"""

from __future__ import annotations

import math

#: The seed's network: what notebook 01's parameter counts start from.
INPUTS, OUTPUTS = 784, 10
#: Exercise 05.3's scheduler, as `dask scheduler` starts it by default.
SCHEDULER = "tcp://127.0.0.1:8786"


def _layers(sizes):
    return list(zip(sizes[:-1], sizes[1:], strict=False))


def _parameters(hidden):
    sizes = (INPUTS, *hidden, OUTPUTS)
    return sum(n_in * n_out + n_out for n_in, n_out in _layers(sizes))


def _iterations(samples, batch):
    return math.ceil(samples / batch)


def _no_answer(answer):
    return None if answer is not None else "no answer yet: set the answer variable above"


def _all_samples(result):
    from pdsgd.course import lessons

    wanted_size, wanted_epochs = lessons.pick(4000, 300), lessons.pick(5, 1)
    c = getattr(result, "config", {})
    if c.get("train_size") != wanted_size:
        return (f"the run used {c.get('train_size')} samples: pass train_size=all_samples "
                f"({wanted_size} here) to pdsgd.train and give its result")
    if c.get("epochs") != wanted_epochs:
        return f"train for {wanted_epochs} epochs (epochs=...), not {c.get('epochs')}"
    return None


def _parameter_counts(answer):
    for hidden in ((50,), (200, 100)):
        want, got = _parameters(hidden), answer.get(hidden)
        if got != want:
            return (f"hidden {hidden}: {got} parameters? Count each layer's weights "
                    "(inputs x outputs) and its biases (one per output), from 784 inputs to "
                    "10 outputs (or read r.model.params.size)")
    return None


def _rates(answer):
    if answer.get("ten epochs") == 1.0:
        return ("over ten epochs a rate of 1.0 keeps the loss jumping: one sample's step "
                "undoes the last; look at how the curve ends, not how it starts")
    if answer.get("one epoch") == 0.01:
        return ("after one epoch at lr 0.01 the loss is still high: with little time, a "
                "larger step gets further")
    if answer.get("one epoch") not in (1.0, 0.1) or answer.get("ten epochs") not in (0.1,):
        return 'give {"one epoch": rate, "ten epochs": rate}, rates from 1.0, 0.1 and 0.01'
    return None


def _linear_rate(answer):
    want = 0.1 * 8  # Goyal et al.: the rate grows with the batch, N * b = 8
    if not math.isclose(answer, want):
        return ("the linear rule multiplies the base rate 0.1 by the batch the step "
                "averages, N * b; print r.config['step_lr']")
    return None


def _one_worker(answer):
    if not abs(answer) < 1e-9:
        return ("compare r.model.params with the sequential run's (np.abs(a - b).max()): "
                "one worker has nothing to average, so it should be rounding only")
    return None


def _break_even(answer):
    sizes = (INPUTS, 1000, OUTPUTS)
    gradient = _parameters(sizes[1:-1])
    factors = sum(n_in + n_out for n_in, n_out in _layers(sizes))
    if abs(answer - gradient / factors) > 1:
        return ("a gradient sends every parameter; one set of factors sends each layer's "
                "input and delta vectors (n_in + n_out): b sets cost b times that")
    return None


def _crossings(answer, train_size):
    for b in (1, 16):
        want = _iterations(train_size, 2 * b)
        if answer.get(b) != want:
            return (f"b = {b}: {answer.get(b)}? One crossing per iteration, and an iteration "
                    f"of N = 2 workers takes 2 * b of the P = {train_size} samples")
    return None


def _budget_columns(answer):
    if "wait" not in str(answer).lower():
        return ("with more workers than cores, which part of an iteration is spent "
                "doing nothing? Name that column")
    return None


def _better_fit(answer, workers, speedups):
    from pdsgd.study import costmodel

    f = costmodel.fit_amdahl(workers, speedups)
    r2_amdahl = costmodel.r_squared(speedups,
                                    [costmodel.amdahl_speedup(n, f) for n in workers])
    r2_log = costmodel.fit_log(workers, speedups)[1]
    want = "amdahl" if r2_amdahl >= r2_log else "log"
    if str(answer).lower() != want:
        return (f"compare the two R^2 for your speedups (Amdahl {r2_amdahl:.2f}, "
                f"log {r2_log:.2f}): the higher one describes them better")
    return None


def _delay_alone(answer, result):
    import numpy as np

    iterations = len(np.unique(result.trace["iteration"]))
    want = iterations * result.config["straggler_delay"]
    if not math.isclose(answer, want, rel_tol=0.01):
        return ("the straggler sleeps its extra time once per iteration: count the "
                "iterations of the run (its trace) and multiply")
    return None


def _replicated(answer):
    if answer != 1:
        return ("count one worker's barrier waits in one iteration of the trace: with "
                "replicas, no aggregator publishes between two waits")
    return None


def _waits_grow(answer):
    if str(answer).lower() not in ("grow", "grows"):
        return ("with three workers on two cores one of them is always off its core: can "
                "the other two cross the barrier before it runs? Answer 'grow' or 'shrink'")
    return None


def _rounds_k1(answer, train_size):
    want = _iterations(train_size, 2 * 10)
    if answer != want:
        return (f"with K = 1 each round is one BSP iteration: N = 2 workers of b = 10 "
                f"samples each, over P = {train_size}")
    return None


def _rounds(answer):
    for K in (10, 25, 50, 100):
        want = _iterations(1000, 2 * 10 * K)  # a partial round still counts as one
        if answer.get(K) != want:
            return (f"K = {K}: {answer.get(K)}? A round is K local steps of b = 10 samples on "
                    "each of N = 2 workers; an epoch cannot hold less than one round")
    return None


def _scheduler(answer):
    if str(answer).strip() != SCHEDULER:
        return ("the address `dask scheduler` prints: tcp://, this machine, and its "
                "default port")
    return None


def _barrier_buys(answer):
    if answer is not False:
        return ("without a straggler every worker reaches the barrier at about the same "
                "time: look at BSP's samples/s against SSP's and async's")
    return None


def _staleness_grows(answer):
    if str(answer).lower() not in ("grows", "larger", "up"):
        return ("with four workers on two cores, how many other updates land between a "
                "worker's read and its write? Answer 'grows' or 'shrinks'")
    return None


def _batch_gain(answer, runs):
    for b in (1, 16):
        run = runs.get(b) or {}
        if (run.get("workers"), run.get("micro_batch")) != (2, b):
            return (f"time N = 2 at b = {b}: runs[{b}] = honest.speedups(data, workers=2, "
                    f"micro_batch={b}), for b = 1 and 16, and pass runs")
    # S / hardware is one core's samples/s at N b over those at b: what the batch alone buys.
    gap_1, gap_16 = (runs[b]["S"] / runs[b]["hardware"] for b in (1, 16))
    want = "closer" if gap_16 < gap_1 else "apart"
    if str(answer).lower() != want:
        return (f"S / hardware is {gap_1:.2f} at b = 1 and {gap_16:.2f} at b = 16 in your runs: "
                "do the two speedups come 'closer' or move 'apart'? The ratio is one core's "
                "samples/s at N b over those at b")
    return None


def _fixed_reaches(answer, grid, train_size):
    import numpy as np

    if not isinstance(answer, (bool, np.bool_)):
        return "answer True (the engine reaches the target) or False"
    fixed = {c["batch"]: c["rules"]["fixed"] for c in grid["curve"] if "fixed" in c["rules"]}
    budget = grid["max_epochs"] * train_size
    b = 64 if 64 in fixed else max(k for k in fixed if k < 64)
    # At a fixed rate a step of B samples moves as far as one of b did: about as many steps
    # to the target, each of B samples; samples to the target never fall as B grows.
    want = bool(fixed[b] is not None and fixed[b] * 64 / b <= budget)
    if bool(answer) != want:
        return (f"N = 4 workers of b = 16 compute the sequential run at B = 64 with the same "
                f"rate 0.1: read the fixed rule's samples at B = {b} in the grid, scale them "
                f"to batch 64 (as many steps, of 64 samples each) and compare with the "
                f"{grid['max_epochs']} epochs of P = {train_size} samples the run may use")
    return None


def _halving_workers(answer, grid):
    estimates = [e for e in ((grid.get("critical") or {}).get("b_crit"),
                             (grid.get("noise") or {}).get("b_simple")) if e]
    if not estimates:
        return ("this grid gave neither a critical batch nor a noise scale: run the "
                "one-core grid again (more batches) before answering")
    # steps(N) = S_min (1 + B_crit / N): doubling N divides them by nearly 2 while N is
    # well below B_crit, by 4/3 at N = B_crit; nearly half holds up to about B_crit / 2.
    if not any(e / 4 <= answer <= max(e, 1) for e in estimates):
        return ("with micro-batch 1 the batch is N: steps(N) = S_min (1 + B_crit / N), so "
                "a doubling of N nearly halves the steps while N is well below B_crit (or "
                "B_simple, its estimate) and divides them by only 4/3 at N = B_crit")
    return None


#: exercise -> the function that returns None (correct) or a hint.
CHECKS = {
    "01.1": _all_samples, "01.2": _parameter_counts, "01.3": _rates,
    "02.1": _linear_rate, "02.2": _one_worker, "02.3": _break_even,
    "03.1": _crossings, "03.2": _budget_columns, "03.3": _better_fit,
    "04.1": _delay_alone, "04.2": _replicated, "04.3": _waits_grow,
    "05.1": _rounds_k1, "05.2": _rounds, "05.3": _scheduler,
    "06.1": _barrier_buys, "06.2": _staleness_grows,
    "07.1": _batch_gain, "07.2": _fixed_reaches, "07.3": _halving_workers,
}


#: exercise -> the form of its answer (what the answer cell of the graded version says).
FORMS = {
    "01.1": 'the result of pdsgd.train on all the samples, 5 epochs',
    "01.2": '{hidden: number of parameters} for (50,) and (200, 100)',
    "01.3": '{"one epoch": rate, "ten epochs": rate}, rates from 1.0, 0.1, 0.01',
    "02.1": 'the learning rate of one step at N = 8 with the linear rule',
    "02.2": 'the largest difference from sequential SGD with workers=1',
    "02.3": 'the micro-batch b at which factors cost a whole gradient, (784, 1000, 10)',
    "03.1": '{b: barrier crossings in one epoch} at N = 2, for b = 1 and 16'
            ' (call: checks.check("03.1", answer, P))',
    "03.2": 'the name of the time-budget column that grows most from N = 2 to N = 4',
    "03.3": '"amdahl" or "log": which describes your speedups better'
            ' (call: checks.check("03.3", answer, n, s))',
    "04.1": 'the seconds the straggler\'s delay alone adds to the last run'
            ' (call: checks.check("04.1", answer, result))',
    "04.2": 'barrier crossings per worker per iteration with replicas',
    "04.3": '"grow" or "shrink": the waits when a worker has no core (N = 3 on 2 cores)',
    "05.1": 'communication rounds in one epoch with K = 1 (N = 2, b = 10, P)'
            ' (call: checks.check("05.1", answer, P))',
    "05.2": '{K: rounds per epoch} for K = 10, 25, 50, 100 (P = 1000, N = 2, b = 10)',
    "05.3": 'the address to pass as scheduler=',
    "06.1": ('True or False: without a straggler, on threads, dropping the barrier makes '
             'the run faster'),
    "06.2": '"grows" or "shrinks": async staleness with 4 workers against 2',
    "07.1": '"closer" or "apart": S and the hardware speedup at b = 16 against b = 1, N = 2'
            ' (call: checks.check("07.1", answer, runs), runs = {b: honest.speedups(...)})',
    "07.2": 'True or False: the engine reaches the target with rule "fixed" at N = 4, b = 16'
            ' (call: checks.check("07.2", answer, grid, P))',
    "07.3": 'the number of workers of micro-batch 1 up to which each doubling nearly halves'
            ' the steps to the target (call: checks.check("07.3", answer, grid))',
}


def ask(exercise):
    """Print what the answer to ``exercise`` (``"01.1"``) should be, and how to check it."""
    print(f"exercise {exercise}: answer with {FORMS[exercise]}")


def hint(exercise, answer, *context, **named):
    """None when ``answer`` to ``exercise`` (``"01.1"``) is correct, else the hint to show.

    ``context`` and ``named`` are what a check needs besides the answer
    (P, the run, the speedups), as the exercise's cell passes them.
    """
    try:
        check_one = CHECKS[exercise]
    except KeyError:
        raise KeyError(f"no exercise {exercise!r}: choose from {', '.join(CHECKS)}") from None
    missing = _no_answer(answer)
    if missing:
        return missing
    try:
        return check_one(answer, *context, **named)
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        return f"this answer has not the expected form ({error}): see the exercise's cell"


def check(exercise, answer, *context, **named):
    """Print "correct" or a hint for ``answer`` to ``exercise``; return True if correct."""
    problem = hint(exercise, answer, *context, **named)
    print(f"exercise {exercise}: " + ("correct" if problem is None else f"not yet: {problem}"))
    return problem is None


def grade(exercise, answer, *context, **named):
    """What a graded cell runs: nothing when correct, else an AssertionError with the hint."""
    problem = hint(exercise, answer, *context, **named)
    assert problem is None, f"exercise {exercise}: {problem}"
