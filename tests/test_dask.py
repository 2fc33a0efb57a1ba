"""The dask backend on a real LocalCluster (processes, 127.0.0.1): same weights as serial.

One cluster serves the module (starting one takes seconds); the runs reach it
through ``scheduler=`` like a user's would. Every test can fail: each compares
against the serial backend's weights, which differ from the initial ones.
"""

import http.server
import os
import socket
import subprocess
import sys
import threading
import time

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


def test_workers_gone_silent_mid_run_end_it_within_the_timeout():
    # SIGSTOP: their connections stay open and nothing answers, as behind a pulled
    # cable. The round in flight, the goodbye to the workers and the client's close
    # all share the round's budget: the run ends within --timeout of the stop (the
    # round began before it), and a second more for the bound on a busy machine.
    from distributed import Client

    from pdsgd.engine.backends.base import WorkerError
    from pdsgd.engine.backends.dask import local_cluster

    cluster = local_cluster(2)
    client = Client(cluster, set_as_default=False)
    workers = [psutil.Process(pid) for pid in client.run(os.getpid).values()]
    stopped = []

    def stop():
        for worker in workers:
            worker.suspend()
        stopped.append(time.monotonic())

    timer = threading.Timer(1.5, stop)
    try:
        timer.start()
        with pytest.raises(WorkerError, match="--timeout 3 s"):
            run("dask", epochs=100_000, n=24, scheduler=cluster.scheduler_address,
                timeout=3.0)
        took = time.monotonic() - stopped[0]
        assert took < 3 + 1, f"the run took {took:.1f} s to stop after its workers did"
    finally:
        timer.cancel()
        for worker in workers:
            worker.resume()
        client.close()
        cluster.close()


class FakeScheduler:
    """Something that is not a Dask scheduler, listening on 127.0.0.1 until closed."""

    def __init__(self, kind):
        self.kind, self.conns = kind, []
        if kind == "http":
            self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
            target, self.sock = self.server.serve_forever, self.server.socket
        else:
            self.sock = socket.create_server(("127.0.0.1", 0))
            target = self.answer
        self.address = f"tcp://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()

    def answer(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            self.conns.append(conn)
            if self.kind == "garbage":  # a frame count of 2**61, then noise
                conn.sendall(b"\xff" * 8 + bytes(range(256)) * 16)

    def close(self):
        if self.kind == "http":
            self.server.shutdown()
            self.server.server_close()
        else:
            self.sock.close()
        for conn in self.conns:
            conn.close()
        self.thread.join(5)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def closed_port():
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return sock.getsockname()[1]


@pytest.mark.parametrize("kind", ["http", "silent", "garbage", "tls refused"])
def test_whatever_listens_at_the_scheduler_address_costs_at_most_the_timeout(tmp_path, kind):
    fake = None if kind == "tls refused" else FakeScheduler(kind)
    address = f"tls://127.0.0.1:{closed_port()}" if fake is None else fake.address
    argv = [sys.executable, "-m", "pdsgd", "train", "--backend", "dask", "--workers", "2",
            "--timeout", "3", "--scheduler", address, "--dataset", "synthetic",
            "--train-size", "100", "--hidden", "4", "--quiet", "--out", str(tmp_path / "o")]
    if fake is None:  # a tls:// address needs the class's bundle before anything is tried
        from pdsgd.engine.security import make_bundle

        argv += ["--bundle", str(make_bundle(tmp_path / "class.pem"))]
    try:
        start = time.monotonic()
        proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
        parent = psutil.Process(proc.pid)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:  # pragma: no cover - the failure we test for
            proc.kill()
            pytest.fail(f"the run waited on {kind} past --timeout 3 (killed after 60 s)")
        seconds = time.monotonic() - start
    finally:
        if fake is not None:
            fake.close()
    assert proc.returncode == 2 and len(err.strip().splitlines()) == 1, err
    assert f"--scheduler {address}: cannot reach a Dask scheduler there within --timeout 3 s" \
        in err, err
    assert seconds < 3 + 20  # the timeout, and Python's start-up on a busy machine
    assert not parent.is_running() and not (tmp_path / "o").exists()
