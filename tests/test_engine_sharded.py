"""``--aggregate sharded``: each worker applies its share of the rows; still minibatch SGD N*b."""

import numpy as np
import pytest
from engine_helpers import problem, reference, shm_segments, worker_children
from test_engine_correctness import bsp

from pdsgd.engine.broker import Broker
from pdsgd.errors import PdsgdError
from pdsgd.mlp import MLP


@pytest.mark.parametrize("sizes", [(6, 5, 3), (6, 8, 4, 3)])
@pytest.mark.parametrize("workers,micro_batch", [(1, 1), (2, 1), (3, 2), (4, 3), (5, 1)])
def test_sharded_equals_sequential_minibatch_sgd(sizes, workers, micro_batch):
    # N = 4 and 5 with a 3-unit layer: some workers own no rows of it.
    X, T = problem(n=37)
    expected = reference(sizes, X, T, workers * micro_batch, epochs=2)
    got = bsp(sizes, X, T, workers, micro_batch, epochs=2, backend="serial",
              aggregate="sharded", span=5)
    assert not np.array_equal(expected, MLP(sizes, seed=3).params)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


def test_row_shares_add_up_to_the_whole_update():
    X, T = problem(n=8)
    whole, parts = MLP((6, 5, 3), seed=2), MLP((6, 5, 3), seed=2)
    deltas, inputs = whole.factors(X, T)
    whole.apply_factors(deltas, inputs, -0.1)
    for part in range(7):  # more shares than any layer has rows
        parts.apply_factors(deltas, inputs, -0.1, part, 7)
    np.testing.assert_allclose(parts.params, whole.params, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("workers,micro_batch", [(2, 1), (3, 2), (4, 1)])
def test_sharded_is_bit_identical_across_backends(workers, micro_batch):
    X, T = problem(n=41)
    before_shm = shm_segments()
    sizes = (6, 7, 3)  # N = 4: worker 0 owns no row of the 3-unit layer
    runs = {backend: bsp(sizes, X, T, workers, micro_batch, epochs=2, backend=backend,
                         aggregate="sharded", span=4)
            for backend in ("serial", "threads", "processes")}
    for backend, params in runs.items():
        assert np.array_equal(params, runs["serial"]), backend
    np.testing.assert_allclose(runs["serial"], reference(sizes, X, T, workers * micro_batch,
                                                         epochs=2), rtol=1e-12)
    assert shm_segments() <= before_shm
    assert worker_children() == []


def test_sharded_gradients_agree_with_factors():
    X, T = problem(n=30)
    factors = bsp((6, 5, 3), X, T, 3, 2, backend="threads", aggregate="sharded")
    gradients = bsp((6, 5, 3), X, T, 3, 2, backend="threads", aggregate="sharded",
                    send="gradients")
    serial = bsp((6, 5, 3), X, T, 3, 2, backend="serial", aggregate="sharded",
                 send="gradients")
    np.testing.assert_allclose(gradients, factors, rtol=1e-12, atol=1e-14)
    assert np.array_equal(gradients, serial)


def test_sharded_refuses_parameter_averaging():
    X, T = problem()
    with pytest.raises(PdsgdError, match="sharded"):
        Broker(MLP((6, 5, 3)), X, T, workers=2, aggregate="sharded", algorithm="average")
