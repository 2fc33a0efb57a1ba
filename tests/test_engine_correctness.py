"""BSP with N workers and micro-batch b is minibatch SGD with batch N*b, on every backend."""

import numpy as np
import pytest
from engine_helpers import problem, reference, shm_segments, worker_children

from pdsgd.engine.broker import Broker
from pdsgd.engine.shuffle import epoch_order
from pdsgd.mlp import MLP


def bsp(sizes, X, T, workers, micro_batch, lr=0.5, epochs=1, seed=3, **options):
    model = MLP(sizes, seed=seed)
    with Broker(model, X, T, workers=workers, micro_batch=micro_batch, **options) as broker:
        for epoch in range(epochs):
            broker.run_epoch(epoch_order(len(X), 0, epoch), lr)
    return model.params


@pytest.mark.parametrize("sizes", [(6, 5, 3), (6, 8, 4, 3)])
@pytest.mark.parametrize("workers,micro_batch", [(1, 1), (2, 1), (3, 1), (2, 4), (4, 3)])
def test_bsp_equals_sequential_minibatch_sgd(sizes, workers, micro_batch):
    X, T = problem(n=37)  # 37 samples: most settings end with a partial iteration
    expected = reference(sizes, X, T, workers * micro_batch, epochs=2)
    got = bsp(sizes, X, T, workers, micro_batch, epochs=2, backend="serial", span=5)
    assert not np.array_equal(expected, MLP(sizes, seed=3).params)  # it did train
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


def test_reference_differs_for_a_different_batch():
    # The comparison above can fail: batch 2 and batch 3 give different weights.
    X, T = problem()
    assert not np.allclose(reference((6, 5, 3), X, T, 2), reference((6, 5, 3), X, T, 3))


def test_backends_and_aggregations_are_bit_identical():
    X, T = problem(n=41)
    before_shm = shm_segments()
    sizes, n, b = (6, 7, 3), 3, 2
    runs = {(backend, aggregate): bsp(sizes, X, T, n, b, epochs=2, backend=backend,
                                      aggregate=aggregate, span=4)
            for backend in ("serial", "threads", "processes")
            for aggregate in ("central", "replicated")}
    runs["rerun"] = bsp(sizes, X, T, n, b, epochs=2, backend="serial", span=9)
    first = runs[("serial", "central")]
    for key, params in runs.items():
        assert np.array_equal(params, first), key
    np.testing.assert_allclose(first, reference(sizes, X, T, n * b, epochs=2), rtol=1e-12)
    assert shm_segments() <= before_shm
    assert worker_children() == []


def test_gradients_give_the_same_weights_as_factors():
    X, T = problem(n=30)
    factors = bsp((6, 5, 3), X, T, 3, 2, backend="threads", send="factors")
    gradients = bsp((6, 5, 3), X, T, 3, 2, backend="threads", send="gradients")
    serial = bsp((6, 5, 3), X, T, 3, 2, backend="serial", send="gradients")
    assert not np.array_equal(factors, MLP((6, 5, 3), seed=3).params)
    np.testing.assert_allclose(gradients, factors, rtol=1e-12, atol=1e-14)
    assert np.array_equal(gradients, serial)


def test_bad_engine_options_raise_one_line_errors():
    from pdsgd.errors import PdsgdError

    X, T = problem()
    model = MLP((6, 5, 3))
    for options, match in [({"backend": "gpu"}, "backend='gpu' is unknown"),
                           ({"aggregate": "mean"}, "aggregate='mean'"),
                           ({"send": "weights"}, "send='weights'")]:
        with pytest.raises(PdsgdError, match=match) as err:
            Broker(model, X, T, workers=2, **options)
        assert "\n" not in str(err.value), f"not one line: {err.value!r}"
    with pytest.raises(PdsgdError, match="float32") as err:
        Broker(MLP((6, 5, 3), dtype="float32"), X, T, workers=2)
    assert "\n" not in str(err.value), f"not one line: {err.value!r}"


def test_train_uses_the_broker_for_several_workers():
    from pdsgd.data.datasets import load_dataset
    from pdsgd.train import train

    data = load_dataset("synthetic", train_size=60, test_size=20, synthetic_features=8,
                        n_classes=3)
    kwargs = dict(hidden=(5,), epochs=2, lr=0.5, micro_batch=2)
    parallel = train(data, workers=3, backend="threads", **kwargs)
    sequential = train(data, workers=1, **{**kwargs, "micro_batch": 6})
    np.testing.assert_allclose(parallel.model.params, sequential.model.params, rtol=1e-12)
    assert parallel.trace is not None and len(parallel.trace) > 0
    assert parallel.config["workers"] == 3 and len(parallel.history["loss"]) == 2


def test_default_aggregation_is_replicated_past_the_cores_only_while_hosted(monkeypatch):
    from pdsgd.engine.backends import processes
    from pdsgd.spec import EngineSpec

    def default_aggregate(backend, workers, micro_batch=1, algorithm="bsp", hosting="cores"):
        return EngineSpec(workers=workers, micro_batch=micro_batch, backend=backend,
                          algorithm=algorithm, hosting=hosting).aggregate

    monkeypatch.setattr(processes, "usable_cores", lambda: 2)
    assert default_aggregate("processes", 2) == "replicated"
    assert default_aggregate("processes", 2, micro_batch=16) == "sharded"
    assert default_aggregate("processes", 2, 16, algorithm="average") == "replicated"
    # Past the cores: one replica per process when hosted, the broker's update when
    # every worker has a process (each extra replica would add a whole update).
    assert default_aggregate("processes", 3, micro_batch=16) == "replicated"
    assert default_aggregate("processes", 3) == "replicated"
    assert default_aggregate("processes", 3, micro_batch=16, hosting="workers") == "central"
    assert default_aggregate("processes", 3, hosting="workers") == "central"
    assert default_aggregate("threads", 2) == "central"
    assert default_aggregate("dask", 8) == "central"
