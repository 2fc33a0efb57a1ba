"""The exercises' checks: a right answer is "correct", a wrong or missing one gets a hint."""

import pytest

from pdsgd.course import checks


def _speedups(b, S, hardware):
    """What honest.speedups returns at N = 2, micro-batch b (the fields 07.1 reads)."""
    return {"workers": 2, "micro_batch": b, "S": S, "hardware": hardware}


#: Two timings of exercise 07.1: S / hardware falls from 1.8 / 1.1 to 1.3 / 1.2.
RUNS = {1: _speedups(1, 1.8, 1.1), 16: _speedups(16, 1.3, 1.2)}
#: A quick one-core grid (07.2, P = 600): the fixed rate runs out of epochs at B = 16.
GRID = {"max_epochs": 6, "critical": {"b_crit": 20.0, "s_min": 100.0},
        "noise": {"b_simple": 40.0},
        "curve": [{"batch": 1, "rules": {"fixed": 1500.0}},
                  {"batch": 4, "rules": {"fixed": 2000.0, "linear": 900.0, "sqrt": 1200.0}},
                  {"batch": 16, "rules": {"fixed": None, "linear": 1400.0, "sqrt": 1800.0}}]}


@pytest.mark.parametrize("exercise,right,wrong,context", [
    ("01.2", {(50,): 39_760, (200, 100): 178_110}, {(50,): 39_200, (200, 100): 178_110}, ()),
    ("01.3", {"one epoch": 1.0, "ten epochs": 0.1}, {"one epoch": 1.0, "ten epochs": 1.0}, ()),
    ("02.1", 0.8, 0.1, ()),
    ("02.2", 2e-16, 0.03, ()),
    ("02.3", 284.5, 10, ()),
    ("03.1", {1: 500, 16: 32}, {1: 1000, 16: 63}, (1000,)),
    ("03.2", "barrier wait", "compute", ()),
    ("04.2", 1, 2, ()),
    ("04.3", "grow", "shrink", ()),
    ("05.1", 50, 1000, (1000,)),
    ("05.2", {10: 5, 25: 2, 50: 1, 100: 1}, {10: 5, 25: 2, 50: 1, 100: 0}, ()),
    ("05.3", "tcp://127.0.0.1:8786", "127.0.0.1", ()),
    ("06.1", False, True, ()),
    ("06.2", "grows", "shrinks", ()),
    ("07.1", "closer", "apart", (RUNS,)),
    ("07.2", False, True, (GRID, 600)),
    ("07.3", 10, 100, (GRID,)),
])
def test_right_answers_pass_and_wrong_ones_get_a_hint(exercise, right, wrong, context,
                                                      capsys):
    assert checks.check(exercise, right, *context)
    assert capsys.readouterr().out == f"exercise {exercise}: correct\n"
    assert not checks.check(exercise, wrong, *context)
    assert "not yet: " in capsys.readouterr().out
    with pytest.raises(AssertionError, match=f"exercise {exercise}: "):
        checks.grade(exercise, wrong, *context)
    checks.grade(exercise, right, *context)


@pytest.mark.parametrize("exercise", sorted(checks.CHECKS))
def test_an_unanswered_exercise_gets_a_hint_not_a_traceback(exercise):
    assert checks.hint(exercise, None) == "no answer yet: set the answer variable above"


def test_an_answer_of_the_wrong_form_gets_a_hint():
    assert "expected form" in checks.hint("01.2", 5)
    with pytest.raises(KeyError, match="no exercise '09.1'"):
        checks.hint("09.1", 1)


def test_the_fit_check_follows_the_speedups():
    workers = [1, 2, 4, 8]
    amdahl = [1.0, 1.82, 3.08, 4.71]  # Amdahl's law with f = 0.1
    assert checks.hint("03.3", "amdahl", workers, amdahl) is None
    assert "R^2" in checks.hint("03.3", "log", workers, amdahl)


def test_run_checks_read_the_run():
    import pdsgd

    data = pdsgd.load_dataset("synthetic", train_size=100, test_size=20, seed=3)
    quick = pdsgd.train(data, train_size=40, epochs=1, hidden=(8,))
    assert "samples" in checks.hint("01.1", quick)
    straggled = pdsgd.train(data, workers=2, backend="threads", straggler=1,
                            straggler_delay=0.001, train_size=40, epochs=1, hidden=(8,))
    assert checks.hint("04.1", 20 * 0.001, straggled) is None
    assert checks.hint("04.1", 0.5, straggled) is not None


def test_the_batch_gain_check_follows_the_runs_and_asks_for_both():
    apart = {1: _speedups(1, 1.3, 1.2), 16: _speedups(16, 1.8, 1.1)}
    assert checks.hint("07.1", "apart", apart) is None
    assert "'closer' or move 'apart'" in checks.hint("07.1", "closer", apart)
    same = {1: RUNS[1], 16: RUNS[1]}  # b = 1 timed twice
    assert "time N = 2 at b = 16" in checks.hint("07.1", "closer", same)
    assert "time N = 2 at b = 1" in checks.hint("07.1", "closer", {16: RUNS[16]})


def test_the_fixed_rate_check_scales_the_grid_s_samples_to_batch_64():
    import numpy as np

    reached = {**GRID, "curve": GRID["curve"][:2] + [{"batch": 16, "rules": {"fixed": 800.0}}]}
    # 800 samples at B = 16: about 50 steps; at B = 64, 3,200 samples of the 3,600 allowed.
    assert checks.hint("07.2", True, reached, 600) is None
    assert checks.hint("07.2", np.bool_(True), reached, 600) is None
    assert "scale them" in checks.hint("07.2", False, reached, 600)
    assert checks.hint("07.2", False, reached, 500) is None  # 3,000 samples allowed
    at_64 = {**GRID, "curve": [*GRID["curve"], {"batch": 64, "rules": {"fixed": 3000.0}}]}
    assert checks.hint("07.2", True, at_64, 600) is None
    assert "True" in checks.hint("07.2", "no", GRID, 600)


def test_the_halving_check_reads_either_estimate():
    assert checks.hint("07.3", 5, GRID) is None  # B_crit / 4
    assert checks.hint("07.3", 40, GRID) is None  # B_simple
    assert "B_crit" in checks.hint("07.3", 4, GRID)
    only_noise = {**GRID, "critical": None}
    assert checks.hint("07.3", 5, only_noise) is not None
    assert checks.hint("07.3", 20, only_noise) is None
    assert checks.hint("07.3", 1, {**GRID, "critical": {"b_crit": 0.5}, "noise": None}) is None
    assert "neither" in checks.hint("07.3", 10, {"critical": None, "noise": None})
    assert "expected form" in checks.hint("07.3", "ten", GRID)
