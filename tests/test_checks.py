"""The exercises' checks: a right answer is "correct", a wrong or missing one gets a hint."""

import pytest

from pdsgd.course import checks


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
