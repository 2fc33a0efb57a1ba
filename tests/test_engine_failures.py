"""Nothing hangs, leaks or lingers: dead workers, failing workers, Ctrl-C."""

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import psutil
import pytest
from engine_helpers import (
    interrupt_a_cli_run,
    kill_a_worker,
    problem,
    shm_segments,
    worker_children,
)

from pdsgd.engine.backends.base import WorkerError
from pdsgd.engine.backends.failures import DeathOrder
from pdsgd.engine.barrier import BarrierTimeout, BrokenBarrierError, CyclicBarrier
from pdsgd.engine.broker import Broker
from pdsgd.engine.shuffle import epoch_order
from pdsgd.mlp import MLP


def _barrier_arrays(parties):
    return (np.zeros(parties, np.int64), np.zeros(parties, np.int64), np.zeros(4, np.int64),
            [threading.Semaphore(0) for _ in range(parties)])


@pytest.mark.parametrize("spin", [0.0, 0.001])
def test_cyclic_barrier_keeps_parties_in_step(spin):
    arrive, sleeping, flags, sems = _barrier_arrays(3)
    log, errors = [], []

    def party(p):
        barrier = CyclicBarrier(arrive, sleeping, flags, sems, p, spin=spin, timeout=10)
        try:
            for g in range(200):
                log.append(g)
                barrier.wait()
                # Everyone has logged generation g before anyone logs g + 1.
                assert log.count(g) == 3
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=party, args=(p,)) for p in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == [] and len(log) == 600


def test_cyclic_barrier_abort_and_timeout_wake_waiters():
    arrive, sleeping, flags, sems = _barrier_arrays(2)
    waiter = CyclicBarrier(arrive, sleeping, flags, sems, 0)
    other = CyclicBarrier(arrive, sleeping, flags, sems, 1)
    raised = []
    thread = threading.Thread(target=lambda: raised.append(_raises(waiter.wait)))
    thread.start()
    time.sleep(0.05)
    other.abort()
    thread.join(5)
    assert raised and isinstance(raised[0], BrokenBarrierError) and other.broken

    arrive, sleeping, flags, sems = _barrier_arrays(2)
    alone = CyclicBarrier(arrive, sleeping, flags, sems, 0)
    with pytest.raises(BarrierTimeout, match=r"parties \[1\]"):
        alone.wait(timeout=0.1)
    assert alone.broken


def _raises(fn):
    try:
        fn()
    except BaseException as error:
        return error
    return None


def test_failing_worker_thread_is_named(monkeypatch):
    from pdsgd.engine import worker as worker_module

    compute = worker_module.Worker.compute

    def flaky(self, slots, indices, n_rows, lr=None):
        if self.index == 1:
            raise ValueError("boom")
        return compute(self, slots, indices, n_rows, lr)

    monkeypatch.setattr(worker_module.Worker, "compute", flaky)
    X, T = problem()
    with pytest.raises(WorkerError, match="worker 1 failed: ValueError: boom"):
        with Broker(MLP((6, 5, 3)), X, T, workers=2, backend="threads") as broker:
            broker.run_epoch(np.arange(len(X)), 0.1)


@pytest.mark.parametrize("aggregate", ["replicated", "central"])
def test_killed_worker_process_is_named_and_cleaned_up(aggregate):
    before_shm = shm_segments()
    run = kill_a_worker(1, aggregate=aggregate)
    assert run.seconds_after_kill < 10
    assert f"worker 1 (pid {run.pid}) died" in run.message
    assert run.segments_during - before_shm  # the run's block was there, visible to the check
    assert shm_segments() <= before_shm
    assert worker_children() == []


def test_sigint_stops_a_cli_run_cleanly(tmp_path):
    interrupt_a_cli_run(tmp_path, "--backend", "processes")


@pytest.mark.parametrize("aggregate", ["replicated", "central"])
def test_a_stopped_worker_is_named_alive_at_about_the_timeout(aggregate):
    X, T = problem(n=400, n_in=30)
    timeout, stopped, errors = 2.0, [], []

    def stop_worker_1(broker):
        pids = broker.backend.block["pids"]
        while pids[1] == 0 and not broker.backend.closed:
            time.sleep(0.01)
        time.sleep(0.3)
        stopped.append((int(pids[1]), time.monotonic()))
        os.kill(stopped[0][0], signal.SIGSTOP)  # alive, but it will never arrive

    with pytest.raises(WorkerError) as info:
        with Broker(MLP((30, 20, 3)), X, T, workers=2, backend="processes", aggregate=aggregate,
                    span=50, timeout=timeout) as broker:
            threading.Thread(target=stop_worker_1, args=(broker,), daemon=True).start()
            for epoch in range(10_000):
                broker.run_epoch(epoch_order(len(X), 0, epoch), 0.1)
    pid, since = stopped[0]
    elapsed = time.monotonic() - since
    assert f"worker 1 (pid {pid}) did not reach the barrier within 2 s" in str(info.value)
    assert "died" not in str(info.value) and not errors
    assert timeout - 0.1 < elapsed < timeout + 2.0, elapsed  # about the timeout, not twice it
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert worker_children() == []


@pytest.mark.parametrize(("sync", "stopped_worker"), [("ssp", 0), ("async", 1), ("ssp", 1)])
def test_a_stopped_worker_under_ssp_or_async_is_named_not_the_one_waiting(sync, stopped_worker):
    # Without a barrier the healthy worker is the one whose wait runs out: the
    # run must still name the silent one, with its pid, at about the timeout.
    X, T = problem(n=400, n_in=30)
    timeout, stopped = 2.0, []

    def stop(broker):
        pids = broker.backend.block["pids"]
        while pids[stopped_worker] == 0 and not broker.backend.closed:
            time.sleep(0.01)
        time.sleep(0.3)
        stopped.append((int(pids[stopped_worker]), time.monotonic()))
        os.kill(stopped[0][0], signal.SIGSTOP)

    options = {"staleness": 1} if sync == "ssp" else {}
    with pytest.raises(WorkerError) as info:
        with Broker(MLP((30, 20, 3)), X, T, workers=2, backend="processes", sync=sync,
                    span=50, timeout=timeout, **options) as broker:
            threading.Thread(target=stop, args=(broker,), daemon=True).start()
            for epoch in range(10_000):
                broker.run_epoch(epoch_order(len(X), 0, epoch), 0.1)
    pid, since = stopped[0]
    elapsed = time.monotonic() - since
    assert str(info.value).startswith(f"worker {stopped_worker} (pid {pid}) did not reach"), \
        str(info.value)
    assert timeout - 0.1 < elapsed < timeout + 1.5, elapsed
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert worker_children() == []


def test_a_tiny_timeout_on_threads_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    from pdsgd.cli import main
    from pdsgd.spec import EngineSpec

    # Worker 1 sleeps before each pass so that worker 0 must wait: with threads that
    # take turns at the GIL, a wait could otherwise find the other party already there.
    monkeypatch.setattr(EngineSpec, "delay", lambda self, index: 0.02 * (index == 1))
    argv = ["train", "--dataset", "synthetic", "--train-size", "200", "--hidden", "8",
            "--epochs", "1", "--quiet", "--workers", "2", "--backend", "threads",
            "--timeout", "1e-9", "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("pdsgd: error: a worker did not reach the barrier within --timeout 1e-09 s; "
                   "the run was stopped")
    assert not (tmp_path / "run").exists()


def test_a_worker_late_at_the_end_of_a_span_is_found_after_the_timeout(monkeypatch):
    from pdsgd.engine.backends import failures

    watch = failures.LateWatch(workers=3, timeout=2.0)
    watch.active = True
    now = [100.0]
    monkeypatch.setattr(failures.time, "monotonic", lambda: now[0])
    arrive = [5, 4, 5, 5]  # generation 5: worker 1 is not there (party 3 is the broker)
    assert watch.late(arrive, 5) == -1  # the clock starts when the first worker arrived
    now[0] += 1.9
    assert watch.late(arrive, 5) == -1
    now[0] += 0.2
    assert watch.late(arrive, 5) == 1
    arrive[1] = 5
    assert watch.late(arrive, 5) == -1 and watch.since is None
    watch.active = False  # while the workers start, nobody is late
    arrive[1] = 4
    now[0] += 10
    assert watch.late(arrive, 5) == -1


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs pidfds (Linux)")
def test_the_death_order_sees_which_process_ended_first():
    # loky ends the other processes moments after the first dies: only a
    # watcher that wakes at the first end can tell them apart.
    sleepers = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
                for _ in range(3)]
    deaths = DeathOrder()
    try:
        deaths.watch(p.pid for p in sleepers)
        assert deaths.first == frozenset()
        sleepers[1].kill()
        sleepers[1].wait()
        time.sleep(0.2)
        for p in sleepers:
            p.kill()
    finally:
        for p in sleepers:
            p.kill()
            p.wait()
        deaths.close()
    assert deaths.first == {sleepers[1].pid}
    deaths.close()  # twice: harmless
