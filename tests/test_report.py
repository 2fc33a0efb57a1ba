"""The report sets the seed's claims beside the measurements, curve by curve, says when it
cannot tell, and prints its formulas and explanations from the numbers it has."""

import numpy as np

from pdsgd.study.claims import assess_claims, claims_prose
from pdsgd.study.costmodel import fit_log, format_fit
from pdsgd.study.report import explain_breakdown, where_speedup_appears


def _table(curves, b=1, strategy="data"):
    return [{"train_size": p, "workers": n, "speedup": s, "speedup_lo": s * 0.98,
             "speedup_hi": s * 1.02, "efficiency": s / n, "micro_batch": b,
             "strategy": strategy}
            for p, points in curves.items() for n, s in points]


def _study(curves, threads=2, **more):
    table = _table(curves) + [r for t in more.values() for r in t]
    return {"machine": {"hardware_threads": threads}, "speedup": table}


def _verdicts(study, curve="b = 1"):
    return [c["verdict"] for c in assess_claims(study) if c["curve"] == curve]


def test_two_cores_cannot_tell_a_logarithm_and_small_p_cannot_test_the_plateau():
    study = _study({1000: [(1, 0.8), (2, 1.5), (4, 1.2), (8, 0.9)]})
    log, threads, large_p = _verdicts(study)
    assert log == "cannot tell"
    assert threads == "agrees"  # nothing beyond 2 workers beats N = 2
    assert large_p == "cannot tell"
    first = assess_claims(study)[0]
    assert "falls" in first["evidence"] and "at least 4 cores" in first["evidence"]


def test_a_large_gain_beyond_the_threads_disagrees():
    assert _verdicts(_study({1000: [(1, 0.9), (2, 1.2), (4, 2.0)]}))[1] == "disagrees"


def test_a_weaker_plateau_for_large_p_agrees():
    study = _study({1000: [(1, 1), (2, 1.8), (4, 1.6)], 60_000: [(1, 1), (2, 1.8), (4, 1.9)]})
    assert _verdicts(study)[2] == "agrees"


def test_enough_cores_to_test_the_logarithm():
    n = np.array([1, 2, 4, 8, 16])
    study = _study({1000: list(zip(n, 1 + 0.7 * np.log2(n) + [0, .05, -.05, .05, 0],
                                   strict=True))}, threads=16)
    assert _verdicts(study)[0] == "agrees"
    assert _verdicts(study)[1] == "cannot tell"  # no N beyond 16 threads
    assert "S = 1 + 0.70 log2 N (R^2 1.00)" in assess_claims(study)[0]["evidence"]


def test_a_straight_line_is_not_a_logarithm():
    study = _study({1000: [(n, float(n)) for n in (1, 2, 4, 8, 16)]}, threads=16)
    assert _verdicts(study)[0] == "disagrees"
    assert "a line fits better" in assess_claims(study)[0]["evidence"]


def test_each_micro_batch_is_its_own_curve_with_its_own_verdict():
    flat = {1000: [(1, 0.6), (2, 0.9), (4, 0.5)]}
    rising = _table({1000: [(1, 0.9), (2, 1.3), (4, 2.2)]}, b=16)
    study = _study(flat, b16=rising)
    claims = assess_claims(study)
    assert [c["curve"] for c in claims if c["key"] == "threads"] == ["b = 1", "b = 16"]
    assert [c["first"] for c in claims if c["key"] == "threads"] == [True, False]
    assert _verdicts(study, "b = 1")[1] == "agrees"
    assert _verdicts(study, "b = 16")[1] == "disagrees"
    prose = claims_prose(claims)
    assert 'supported by the curve "b = 1"' in prose[1]
    assert 'contradicted by the curve "b = 16"' in prose[1]
    assert 'the curves "b = 1" and "b = 16"' in prose[0]  # neither can tell with 3 N
    # A new strategy is one more curve, named after it.
    tensor = _table({1000: [(1, 1.0), (2, 1.7)]}, strategy="tensor")
    labels = {c["curve"] for c in assess_claims(_study(flat, t=tensor))}
    assert labels == {"b = 1", "tensor, b = 1"}


def test_fits_print_their_sign_and_a_negative_r2_prints_no_fit():
    assert format_fit(-0.05, 0.91) == "S = 1 - 0.05 log2 N (R^2 0.91)"
    assert format_fit(0.30, 0.5) == "S = 1 + 0.30 log2 N (R^2 0.50)"
    assert format_fit(-0.17, -0.62) == "no fit (R^2 -0.62)"
    k, r2 = fit_log([1, 2, 4, 8], [0.54, 0.99, 0.48, 0.54])  # measured: the quick profile
    assert r2 < 0 and format_fit(k, r2).startswith("no fit")
    text = " ".join(c["evidence"] for c in assess_claims(
        _study({1000: [(1, 0.54), (2, 0.99), (4, 0.48), (8, 0.54)]}, threads=8)))
    assert "+ -" not in text and "no fit" in text


def _row(n, per_sample, update, aggregate, threads=2):
    iteration = per_sample * n
    return {"workers": n, "aggregate": aggregate, "iteration": iteration,
            "per_sample": per_sample, "per_sample_min": per_sample * 0.95,
            "per_sample_max": per_sample * 1.1, "compute": 90.0, "wait": 400.0, "update": update,
            "update_per_sample": update / n, "rest_per_sample": (iteration - update) / n,
            "rounds": -(-n // threads)}


def test_the_breakdown_explains_n4_against_larger_n_from_its_numbers():
    rows = [_row(1, 100, 50, "replicated"), _row(2, 55, 52, "replicated"),
            _row(4, 133, 140, "central"), _row(8, 111, 163, "central"),
            _row(16, 100, 180, "central")]
    text = " ".join(explain_breakdown(rows, threads=2))
    assert "N = 1 and 2: `replicated`" in text and "N = 4, 8 and 16: `central`" in text
    assert ("N = 4 is slower than N = 8 and 16: 133 us per sample (126-146 over the repeats) "
            "against 111 (105-122 over the repeats) and 100 (95-110 over the repeats)") in text
    assert "140 us per iteration at N = 4 and 180 us at N = 16: 1.3x the time for 4x" in text
    assert "fell from 35.0 to 11.2 us" in text  # the update per sample
    assert "The shared update is what makes the larger N faster." in text
    # When the larger N are not faster, the report does not claim they are.
    slower = [_row(2, 55, 52, "replicated"), _row(4, 133, 140, "central"),
              _row(8, 150, 163, "central")]
    assert "is slower than" not in " ".join(explain_breakdown(slower, threads=2))


def test_where_speedup_appears_says_which_curve_rises():
    study = _study({4000: [(1, 0.6), (2, 0.9), (4, 0.5)]},
                   b16=_table({4000: [(1, 0.9), (2, 1.5), (4, 1.1)]}, b=16))
    b1, b16 = where_speedup_appears(study)
    assert b1.startswith("**b = 1**") and b16.startswith("**b = 16**")
    assert "the curve rises" in b16 and "best is S = 1.50 (N = 2, P = 4,000)" in b16
    assert "no point beats the sequential run" in b1
