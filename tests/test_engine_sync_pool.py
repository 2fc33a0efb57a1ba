"""SSP and async on threads and processes: held to the serial oracle, bounded, clean on failure."""


import numpy as np
import pytest
from engine_helpers import (
    interrupt_a_cli_run,
    kill_a_worker,
    problem,
    shm_segments,
    worker_children,
)

from pdsgd.engine.backends.base import WorkerError
from pdsgd.engine.broker import Broker
from pdsgd.engine.shuffle import epoch_order
from pdsgd.engine.strategies.schedule import Replay
from pdsgd.engine.sync import iteration_lag, ssp_violations, staleness
from pdsgd.mlp import MLP

SIZES = (30, 20, 3)


def run(X, T, epochs=2, replay=None, **options):
    """Train; with ``replay``, on the serial backend following those records."""
    model = MLP(SIZES, seed=3)
    with Broker(model, X, T, **options) as broker:
        if replay is not None:
            broker.backend.runner.schedule = Replay(replay)
        for epoch in range(epochs):
            broker.run_epoch(epoch_order(len(X), 0, epoch), 0.5)
    return model.params, broker.updates


@pytest.mark.parametrize("backend", ["threads", "processes"])
@pytest.mark.parametrize("sync", [dict(sync="ssp", staleness=1), dict(sync="ssp", staleness=3),
                                  dict(sync="async")])
def test_parallel_runs_keep_the_bound_and_replay_exactly_on_the_oracle(backend, sync):
    before = shm_segments()
    X, T = problem(n=200, n_in=30)
    # Worker 1 computes 4 times slower: the others run ahead until the bound stops them.
    options = dict(workers=3, micro_batch=2, span=30, straggler=1, straggler_factor=4.0,
                   **sync)
    params, updates = run(X, T, backend=backend, **options)
    assert len(updates) == 2 * 100 and np.all(staleness(updates) >= 0)
    assert sorted(zip(updates["iteration"], updates["block"])) == \
        [(t, p) for t in range(2 * 34) for p in range(3) if (t % 34) * 6 + p * 2 < 200]
    bound = sync.get("staleness")
    if bound is not None:  # checked on every update
        assert not ssp_violations(updates, bound).any()
        assert iteration_lag(updates).max() == bound  # somebody had to wait at the bound
    else:
        assert ssp_violations(updates, 1).any()  # nothing held it back
    # The serial oracle, fed the same schedule, computes the very same weights.
    replayed, again = run(X, T, backend="serial", replay=updates, **options)
    assert np.array_equal(replayed, params)
    assert np.array_equal(again, updates)
    assert shm_segments() <= before and worker_children() == []


def test_a_failing_worker_thread_is_named(monkeypatch):
    from pdsgd.engine import worker as worker_module

    compute, calls = worker_module.Worker.compute, []

    def flaky(self, slots, indices, n_rows, lr=None):
        calls.append(self.index)
        if self.index == 1 and calls.count(1) > 3:
            raise ValueError("boom")
        return compute(self, slots, indices, n_rows, lr)

    monkeypatch.setattr(worker_module.Worker, "compute", flaky)
    X, T = problem(n=200, n_in=30)
    with pytest.raises(WorkerError, match="worker 1 failed: ValueError: boom"):
        run(X, T, workers=2, backend="threads", sync="ssp", staleness=2)


@pytest.mark.parametrize("sync", [dict(sync="ssp", staleness=2), dict(sync="async")])
def test_a_killed_worker_process_is_named_and_everything_released(sync):
    before = shm_segments()
    run = kill_a_worker(1, sizes=SIZES, **sync)
    assert f"worker 1 (pid {run.pid}) died" in run.message and "\n" not in run.message
    assert shm_segments() <= before and worker_children() == []


@pytest.mark.parametrize("sync", [["--sync", "ssp", "--staleness", "3"], ["--sync", "hogwild"]])
def test_sigint_stops_a_run_without_the_barrier_cleanly(tmp_path, sync):
    interrupt_a_cli_run(tmp_path, "--backend", "processes", *sync)
