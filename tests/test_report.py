"""The report sets the seed's claims beside the measurements, and says when it cannot tell."""

from pdsgd.study.report import assess_claims


def _study(curves, threads=2):
    table = [{"train_size": p, "workers": n, "speedup": s, "speedup_lo": s * 0.98,
              "speedup_hi": s * 1.02, "efficiency": s / n}
             for p, points in curves.items() for n, s in points]
    return {"machine": {"hardware_threads": threads}, "speedup": table,
            "log_fit": {p: [0.5, 0.9] for p in curves}}


def _verdicts(study):
    return [c["verdict"] for c in assess_claims(study)]


def test_two_cores_cannot_tell_a_logarithm_and_small_p_cannot_test_the_plateau():
    study = _study({1000: [(1, 0.8), (2, 1.5), (4, 1.2), (8, 0.9)]})
    log, threads, large_p = _verdicts(study)
    assert log == "cannot tell"
    assert threads == "agrees"  # nothing beyond 2 workers beats N = 2
    assert large_p == "cannot tell"
    assert "falls" in assess_claims(study)[0]["evidence"]


def test_a_large_gain_beyond_the_threads_disagrees():
    assert _verdicts(_study({1000: [(1, 0.9), (2, 1.2), (4, 2.0)]}))[1] == "disagrees"


def test_a_weaker_plateau_for_large_p_agrees():
    study = _study({1000: [(1, 1), (2, 1.8), (4, 1.6)], 60_000: [(1, 1), (2, 1.8), (4, 1.9)]})
    assert _verdicts(study)[2] == "agrees"


def test_enough_cores_to_test_the_logarithm():
    study = _study({1000: [(1, 1), (2, 1.5), (4, 2.0), (8, 2.5)]}, threads=16)
    assert _verdicts(study)[0] == "agrees"
    assert _verdicts(study)[1] == "cannot tell"  # no N beyond 16 threads
