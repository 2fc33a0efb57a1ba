"""Hogwild!: no oracle to match, so what still holds: it trains, it finishes, it stops cleanly."""


import numpy as np
import pytest
from engine_helpers import kill_a_worker, problem, shm_segments, worker_children

from pdsgd.engine.broker import Broker
from pdsgd.engine.shuffle import epoch_order
from pdsgd.engine.sync import staleness
from pdsgd.mlp import MLP
from pdsgd.train import train


@pytest.fixture(scope="module")
def bsp_accuracy():
    """BSP's test accuracy after two epochs of mnist-5k, N = 2, b = 1."""
    return train("mnist-5k", epochs=2, workers=2, backend="serial").test_accuracy


@pytest.mark.parametrize("backend", ["threads", "processes"])
def test_hogwild_trains_as_well_as_bsp_after_the_same_samples(backend, bsp_accuracy):
    result = train("mnist-5k", epochs=2, workers=2, backend=backend, sync="hogwild")
    assert bsp_accuracy > 0.8  # it is a comparison with something that learned
    assert abs(result.test_accuracy - bsp_accuracy) <= 0.02, (result.test_accuracy,
                                                              bsp_accuracy)
    assert len(result.updates) == 8000 and np.all(staleness(result.updates) >= 0)
    assert result.config["aggregate"] is None and "hogwild" in result.summary()


@pytest.mark.parametrize("backend", ["threads", "processes"])
def test_hogwild_runs_to_the_end_with_more_workers_than_cores(backend):
    before = shm_segments()
    X, T = problem(n=300, n_in=30)
    model = MLP((30, 20, 3), seed=3)
    with Broker(model, X, T, workers=4, micro_batch=3, backend=backend, sync="hogwild",
                span=7, straggler=2, straggler_factor=2.0) as broker:
        for epoch in range(3):
            broker.run_epoch(epoch_order(len(X), 0, epoch), 0.5)
    updates = broker.updates
    # Every block of every epoch was applied once, by some worker.
    assert len(updates) == 3 * 100
    assert len(set(zip(updates["iteration"].tolist(), updates["block"].tolist()))) == 300
    assert np.all(np.isfinite(model.params))
    assert not np.allclose(model.params, MLP((30, 20, 3), seed=3).params)
    trace = broker.trace
    assert set(np.unique(trace["worker"])) == {0, 1, 2, 3}
    assert shm_segments() <= before and worker_children() == []


def test_a_killed_hogwild_worker_is_named_and_everything_released():
    before = shm_segments()
    run = kill_a_worker(0, sync="hogwild")
    assert f"worker 0 (pid {run.pid}) died" in run.message
    assert shm_segments() <= before and worker_children() == []
