"""Tensor parallelism in a whole run: train(), checkpoints, the trace, failures, interrupts."""

import numpy as np
import pytest
from engine_helpers import (
    Crash,
    crash_after_saves,
    interrupt_a_cli_run,
    kill_a_worker,
    problem,
    shm_segments,
    worker_children,
)

from pdsgd.checkpoint import load_checkpoint
from pdsgd.data.datasets import load_dataset
from pdsgd.engine import tensor_worker
from pdsgd.engine.backends import processes
from pdsgd.engine.backends.base import WorkerError
from pdsgd.engine.broker import Broker
from pdsgd.engine.trace import AGGREGATE, COMPUTE, WAIT
from pdsgd.mlp import MLP
from pdsgd.train import train

KW = dict(hidden=(5,), epochs=3, lr=0.5, workers=2, micro_batch=2, parallel="tensor")


@pytest.fixture(scope="module")
def data():
    return load_dataset("synthetic", train_size=50, test_size=10, synthetic_features=8,
                        n_classes=3)


def test_train_with_tensor_parallelism_is_minibatch_sgd(data):
    parallel = train(data, backend="processes", **KW)
    sequential = train(data, **{**KW, "workers": 1, "micro_batch": 4, "parallel": "data"})
    np.testing.assert_allclose(parallel.model.params, sequential.model.params, rtol=1e-12)
    assert parallel.config["parallel"] == "tensor" and parallel.config["aggregate"] is None
    assert "N=2 b=2 tensor-parallel 3 epochs" in parallel.summary()
    assert "tensor" not in sequential.summary()
    assert parallel.test_accuracy == sequential.test_accuracy
    assert len(parallel.trace) > 0 and len(parallel.history["seconds"]) == 3



@pytest.mark.parametrize("backend", ["serial", "processes"])
def test_resume_gives_the_same_final_weights(data, tmp_path, monkeypatch, backend):
    whole = train(data, backend=backend, **KW)
    path = tmp_path / "ck.npz"
    crash_after_saves(monkeypatch, 5)  # 13 iterations per epoch: saves at 4, 8, 12, end, 4
    with pytest.raises(Crash):
        train(data, backend=backend, checkpoint=path, checkpoint_every=4, **KW)
    state = load_checkpoint(path)
    assert (state.epoch, state.iteration) == (1, 4) and state.config["parallel"] == "tensor"
    monkeypatch.undo()
    resumed = train(data, backend="threads", resume=path, **KW)
    assert np.array_equal(resumed.model.params, whole.model.params)
    assert resumed.history["loss"] == whole.history["loss"]


@pytest.mark.parametrize("backend", ["serial", "processes"])
def test_trace_has_every_phase_of_every_iteration(backend):
    X, T = problem(n=20)
    with Broker(MLP((6, 5, 3)), X, T, workers=2, backend=backend, parallel="tensor",
                span=4) as broker:
        broker.run_epoch(np.arange(20), 0.1)
        broker.run_epoch(np.arange(20), 0.1)
        trace = broker.trace
    assert np.all(trace["start"] <= trace["end"]) and np.all(trace["start"] >= 0)
    phases = (COMPUTE, AGGREGATE) if backend == "serial" else (COMPUTE, WAIT, AGGREGATE)
    for worker in (0, 1):
        rows = trace[trace["worker"] == worker]
        for phase in phases:
            assert sorted(rows["iteration"][rows["phase"] == phase]) == list(range(20))
    assert set(trace["worker"]) == {0, 1}  # no broker in the iterations
    if backend == "processes":  # per worker: compute, then the wait, then its update
        rows = trace[trace["worker"] == 0]
        for k in range(20):
            c, w, a = (rows[(rows["iteration"] == k) & (rows["phase"] == p)][0]
                       for p in (COMPUTE, WAIT, AGGREGATE))
            assert c["end"] == w["start"] and w["end"] == a["start"]


def test_failing_worker_thread_is_named(monkeypatch):
    iteration = tensor_worker.TensorWorker.iteration

    def flaky(self, *args):
        if self.index == 1:
            raise ValueError("boom")
        return iteration(self, *args)

    monkeypatch.setattr(tensor_worker.TensorWorker, "iteration", flaky)
    X, T = problem()
    with pytest.raises(WorkerError, match="worker 1 failed: ValueError: boom"):
        with Broker(MLP((6, 5, 3)), X, T, workers=2, backend="threads",
                    parallel="tensor") as broker:
            broker.run_epoch(np.arange(len(X)), 0.1)


def test_killed_worker_process_is_named_and_cleaned_up():
    before = shm_segments()
    run = kill_a_worker(1, parallel="tensor")
    assert f"worker 1 (pid {run.pid}) died" in run.message
    assert shm_segments() <= before
    assert worker_children() == []


def test_more_workers_than_cores_share_one_process_per_core(monkeypatch):
    # Two cores, whatever this machine has: N = 5 runs in 2 processes (2 + 3 workers).
    monkeypatch.setattr(processes, "usable_cores", lambda: 2)
    X, T = problem(n=41)
    model = MLP((6, 7, 4, 3), seed=3)
    serial = MLP((6, 7, 4, 3), seed=3)
    for m, backend in ((model, "processes"), (serial, "serial")):
        with Broker(m, X, T, workers=5, micro_batch=2, backend=backend, parallel="tensor",
                    span=4) as broker:
            if backend == "processes":
                assert broker.backend.hosts == [(0, 1), (2, 3, 4)]
                assert len(worker_children()) == 2 + 1  # and the janitor
                assert len(set(broker.backend.block["pids"])) == 2
            for _ in range(2):
                broker.run_epoch(np.arange(len(X)), 0.5)
            assert set(broker.trace["worker"]) == set(range(5))
    assert np.array_equal(model.params, serial.params)
    assert worker_children() == []


def test_more_workers_than_cores_trace_each_worker_in_its_turn(monkeypatch):
    monkeypatch.setattr(processes, "usable_cores", lambda: 1)
    X, T = problem(n=40)
    with Broker(MLP((6, 5, 3)), X, T, workers=2, backend="processes", parallel="tensor",
                span=50) as broker:
        broker.run_epoch(np.arange(len(X)), 0.1)
        trace = broker.trace
    assert set(trace["worker"]) == {0, 1}
    for k in range(20):
        rows = trace[trace["iteration"] == k]
        c0, c1 = (rows[(rows["worker"] == w) & (rows["phase"] == COMPUTE)][0] for w in (0, 1))
        a0, a1 = (rows[(rows["worker"] == w) & (rows["phase"] == AGGREGATE)][0] for w in (0, 1))
        # one process: worker 1 computes after worker 0, and updates after it
        assert c0["end"] <= c1["start"] and a0["end"] <= a1["start"]
        w0 = rows[(rows["worker"] == 0) & (rows["phase"] == WAIT)][0]
        assert w0["start"] == c0["end"] and w0["end"] == a0["start"] >= c1["end"]


def test_a_killed_process_that_runs_several_workers_names_them(monkeypatch):
    monkeypatch.setattr(processes, "usable_cores", lambda: 2)
    before = shm_segments()
    run = kill_a_worker(3, parallel="tensor", workers=4)
    assert f"workers 2-3 (pid {run.pid}) died" in run.message
    assert shm_segments() <= before
    assert worker_children() == []


def test_sigint_stops_a_tensor_parallel_cli_run_cleanly(tmp_path):
    interrupt_a_cli_run(tmp_path, "--parallel", "tensor")
