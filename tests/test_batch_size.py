"""The crossing of a target, the gradient noise scale and the critical batch size."""

import numpy as np
import pytest
from engine_helpers import problem

from pdsgd.mlp import MLP
from pdsgd.study.batch_size import critical_batch, crossing, noise_scale


def test_the_crossing_of_a_synthetic_history_is_found_exactly():
    history = {"samples": [0, 100, 200, 300, 400], "steps": [0, 10, 20, 30, 40],
               "seconds": [0.0, 1.0, 2.0, 4.0, 8.0],
               "accuracy": [0.1, 0.5, 0.7, 0.9, 0.95]}
    # 0.8 lies halfway between the evaluations at 200 and 300 samples.
    assert crossing(history, 0.8) == pytest.approx({"samples": 250.0, "steps": 25.0,
                                                    "seconds": 3.0}, abs=1e-12)
    # A quarter of the way from 0.5 to 0.7.
    got = crossing(history, 0.55)
    assert got["samples"] == pytest.approx(125.0, abs=1e-12)
    assert got["seconds"] == pytest.approx(1.25, abs=1e-12)
    assert crossing(history, 0.9) == {"samples": 300.0, "steps": 30.0, "seconds": 4.0}
    assert crossing(history, 0.05)["samples"] == 0.0  # reached before any step
    assert crossing(history, 0.96) is None


def test_the_crossing_is_the_first_one_even_when_accuracy_falls_back():
    history = {"samples": [0, 10, 20, 30], "accuracy": [0.0, 1.0, 0.2, 1.0]}
    assert crossing(history, 0.5) == {"samples": 5.0}


def _direct(model, X, T):
    """B_simple from per-sample gradients computed one sample at a time."""
    g = np.array([model.gradient(X[i:i + 1], T[i:i + 1]) for i in range(len(X))])
    mean = g.mean(axis=0)
    trace = np.sum((g - mean) ** 2) / (len(X) - 1)
    return trace / (mean @ mean), trace, mean @ mean


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("sizes", [(6, 5, 3), (6, 7, 4, 3)])
def test_the_noise_scale_matches_per_sample_gradients(sizes, bias):
    X, T = problem(n=23, n_in=sizes[0], n_out=sizes[-1])
    model = MLP(sizes, bias=bias, seed=4)
    got = noise_scale(model, X, T)
    b, trace, g2 = _direct(model, X, T)
    assert got["b_simple"] == pytest.approx(b, rel=1e-10)
    assert got["trace_sigma"] == pytest.approx(trace, rel=1e-10)
    assert got["g_norm2"] == pytest.approx(g2, rel=1e-10)
    assert got["samples"] == 23


def test_the_critical_batch_is_recovered_from_the_model_it_fits():
    e_min, b_crit = 1000.0, 24.0
    points = [(b, e_min * (1 + b / b_crit)) for b in (1, 2, 4, 8, 16, 32, 64)]
    fit = critical_batch(points)
    assert fit["b_crit"] == pytest.approx(b_crit)
    assert fit["e_min"] == pytest.approx(e_min)
    assert fit["s_min"] == pytest.approx(e_min / b_crit)
    assert critical_batch([(4, 100.0)]) is None
    assert critical_batch([(1, 100.0), (2, 90.0)]) is None  # no cost of a bigger batch
    assert critical_batch([(1, 100.0), (2, None), (4, 110.0)])["b_crit"] > 0
