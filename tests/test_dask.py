"""The dask backend on a real LocalCluster (processes, 127.0.0.1): same weights as serial.

One cluster serves the module (starting one takes seconds); the runs reach it
through ``scheduler=`` like a user's would. Every test can fail: each compares
against the serial backend's weights, which differ from the initial ones.
"""

import os
import threading

import distributed  # noqa: F401  (a required dependency: its absence fails, never skips)
import numpy as np
import psutil
import pytest
from engine_helpers import problem, worker_children

from pdsgd.engine.broker import Broker
from pdsgd.engine.shuffle import epoch_order
from pdsgd.mlp import MLP
from pdsgd.spec import EngineSpec

SIZES = (6, 7, 3)


def listening_ports():
    """TCP ports this process listens on (the scheduler and nannies live in it)."""
    return {c.laddr.port for c in psutil.Process().net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN}


@pytest.fixture(scope="module")
def cluster():
    from distributed import Client

    from pdsgd.engine.backends.dask import local_cluster

    children, ports = worker_children(), listening_ports()
    cluster = local_cluster(2)
    client = Client(cluster, set_as_default=False)
    try:
        yield cluster, client
    finally:
        client.close()
        cluster.close()
    new = [p for p in worker_children() if p.pid not in {q.pid for q in children}]
    assert psutil.wait_procs(new, timeout=10)[1] == []
    assert listening_ports() <= ports


def run(backend, workers=2, micro_batch=2, epochs=2, n=41, **options):
    X, T = problem(n=n)
    model = MLP(SIZES, seed=3)
    with Broker(model, X, T, workers=workers, micro_batch=micro_batch, backend=backend,
                span=4, **options) as broker:
        for epoch in range(epochs):
            broker.run_epoch(epoch_order(len(X), 0, epoch), 0.5)
    return model.params, broker.trace


@pytest.mark.parametrize("options", [{}, {"send": "gradients"},
                                     {"algorithm": "average", "local_steps": 3}])
def test_dask_gives_the_serial_weights(cluster, options):
    address = cluster[0].scheduler_address
    expected, _ = run("serial", **options)
    got, trace = run("dask", scheduler=address, **options)
    assert not np.array_equal(expected, MLP(SIZES, seed=3).params)
    assert np.array_equal(got, expected)
    assert trace.size > 0


def test_averaging_with_one_local_step_on_dask_is_bsp(cluster):
    address = cluster[0].scheduler_address
    bsp, _ = run("serial")
    got, _ = run("dask", scheduler=address, algorithm="average", local_steps=1)
    np.testing.assert_allclose(got, bsp, rtol=1e-12, atol=1e-14)


def test_tasks_run_on_distinct_dask_workers(cluster):
    from pdsgd.engine.backends.dask import DaskBackend

    X, T = problem()
    model = MLP(SIZES)
    spec = EngineSpec.for_model(model, workers=2, backend="dask",
                                scheduler=cluster[0].scheduler_address)
    backend = DaskBackend(model, X, T, spec)
    backend.start(0.0)
    try:
        assert len(set(backend.addresses)) == 2
    finally:
        backend.close()


def test_too_few_workers_is_a_clear_error(cluster):
    from pdsgd.engine.backends.base import WorkerError

    with pytest.raises(WorkerError, match="fewer than the 3"):
        run("dask", workers=3, scheduler=cluster[0].scheduler_address, timeout=1.0)


def test_train_starts_and_closes_its_own_cluster():
    from pdsgd.data.datasets import load_dataset
    from pdsgd.train import train

    before, ports = worker_children(), listening_ports()
    data = load_dataset("synthetic", train_size=40, test_size=10, synthetic_features=6,
                        n_classes=3)
    kw = dict(hidden=(5,), epochs=1, lr=0.5, workers=2, micro_batch=4)
    result = train(data, backend="dask", **kw)
    assert np.array_equal(result.model.params, train(data, backend="serial", **kw).model.params)
    new = [p for p in worker_children() if p.pid not in {q.pid for q in before}]
    assert psutil.wait_procs(new, timeout=10)[1] == []
    assert listening_ports() <= ports


def test_a_killed_worker_costs_time_not_weights(cluster):
    # Worker 1 sleeps 0.1 s every round, so a kill after 0.6 s lands mid-run
    # (most likely mid-task); the nanny restarts the process, the lost task
    # runs again and the weights are those of an undisturbed run.
    cluster_, client = cluster
    pids = client.run(os.getpid)
    expected, _ = run("serial", epochs=1, n=24)
    victim = psutil.Process(pids[sorted(pids)[1]])
    timer = threading.Timer(0.6, victim.kill)
    timer.start()
    try:
        got, _ = run("dask", epochs=1, n=24, scheduler=cluster_.scheduler_address,
                     straggler=1, straggler_delay=0.1, timeout=30.0)
    finally:
        timer.cancel()
    assert not victim.is_running()
    assert np.array_equal(got, expected)
    client.wait_for_workers(2, timeout=30)  # the nanny brought it back for the next test
