"""Data parallelism hosted on processes: more workers than cores, one process per core.

Each process computes worker blocks in turns (the next one from a shared
counter: work stealing), crosses the iteration barrier once and applies the
update once; the weights must stay bit for bit those of the serial backend.
"""

import os
import signal
import threading
import time
import warnings

import numpy as np
import pytest
from engine_helpers import kill_a_worker, problem, shm_segments, worker_children

from pdsgd.engine.backends import processes
from pdsgd.engine.backends.base import WorkerError
from pdsgd.engine.barrier import BarrierTimeout
from pdsgd.engine.broker import Broker
from pdsgd.engine.shm import SharedArrays
from pdsgd.engine.strategies.data_host import Turns, turn_fields
from pdsgd.engine.trace import COMPUTE
from pdsgd.mlp import MLP

SIZES = (6, 7, 3)
RUNS = [dict(aggregate="central"), dict(aggregate="replicated"), dict(aggregate="sharded"),
        dict(aggregate="replicated", send="gradients"),
        dict(aggregate="sharded", send="gradients"),
        dict(algorithm="average", aggregate="replicated", local_steps=2),
        dict(algorithm="average", aggregate="central")]


@pytest.fixture
def two_cores(monkeypatch):
    """Two usable cores, whatever this machine has."""
    monkeypatch.setattr(processes, "usable_cores", lambda: 2)


def train_on(backend, workers, options, epochs=1, hosting="cores"):
    """The final weights and the run's process layout."""
    X, T = problem(n=41)
    model = MLP(SIZES, seed=3)
    extra = {"hosting": hosting} if backend == "processes" else {}
    with Broker(model, X, T, workers=workers, micro_batch=2, backend=backend, span=4,
                **extra, **options) as broker:
        hosts = getattr(broker.backend, "hosts", None)
        processes_now = len(worker_children())
        for _ in range(epochs):
            broker.run_epoch(np.arange(len(X)), 0.5)
        trace = broker.trace
    return model.params, hosts, processes_now, trace


@pytest.mark.parametrize("options", RUNS, ids=lambda o: "-".join(map(str, o.values())))
def test_hosted_data_parallelism_is_serial_bit_for_bit(two_cores, options):
    for n in (3, 5, 8):
        serial, *_ = train_on("serial", n, options)
        hosted, hosts, children, trace = train_on("processes", n, options)
        assert hosts == [tuple(range(n // 2)), tuple(range(n // 2, n))]
        assert children == 2 + 1  # two processes, and the janitor
        assert np.array_equal(hosted, serial), (n, options)
        # one compute row per worker and iteration
        computed = trace[trace["phase"] == COMPUTE]
        assert set(computed["worker"]) == set(range(n))
        assert len(computed) == n * len(set(computed["iteration"]))
    assert worker_children() == []


def test_one_process_per_worker_is_still_there_and_agrees(two_cores):
    options = dict(aggregate="replicated")
    serial, *_ = train_on("serial", 3, options)
    one_each, hosts, children, _ = train_on("processes", 3, options, hosting="workers")
    assert hosts == [(0,), (1,), (2,)] and children == 3 + 1
    assert np.array_equal(one_each, serial)


def test_turns_hand_out_every_block_once_to_whoever_asks():
    spec = type("Spec", (), {"span": 3, "workers": 3})()
    block = SharedArrays({**turn_fields(spec), "flags": ((4,), np.int64)}, shared=False)
    lock, taken = threading.Lock(), [[], [], []]

    def host(h):
        turns = Turns(block, lock, own=[h], total=50, party=h)
        for k in range(3):
            taken[h].extend((k, i) for i in turns.take(k, 0))

    threads = [threading.Thread(target=host, args=(h,)) for h in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = sorted(sum(taken, []))
    assert everything == [(k, i) for k in range(3) for i in range(50)]
    # without a lock a host takes the blocks of its own workers only
    assert list(Turns(block, None, own=[4, 5], total=8).take(0, 0)) == [4, 5]


def _turns_of_two(timeout):
    # Four workers on two hosts: the arrays have a word per worker, the parties are two.
    spec = type("Spec", (), {"span": 2, "workers": 4})()
    block = SharedArrays({**turn_fields(spec), "flags": ((4,), np.int64)}, shared=False)
    block["turn_beat"][1] = 1.0  # party 1's last sign of life, long ago
    lock = threading.Lock()
    return block, lock, Turns(block, lock, own=[0, 1], total=4, party=0, parties=2,
                              timeout=timeout)


@pytest.mark.parametrize("where", ["the lock", "between blocks"])
def test_a_host_stopped_without_a_block_is_named_by_its_silence(where):
    # Party 1 stopped (SIGSTOP) inside the lock on the counters, or after it
    # finished a block: it holds no block, and party 0 must neither wait for
    # good nor name itself.
    block, lock, turns = _turns_of_two(timeout=0.3)
    if where == "the lock":
        lock.acquire()
        work = lambda: list(turns.take(0, 0))  # noqa: E731
    else:
        block["turns"][0, 2] = 3  # three of the iteration's four blocks are done
        work = lambda: turns.wait(0, 0)  # noqa: E731
    raised = []

    def host_0():
        try:
            work()
        except BarrierTimeout as error:
            raised.append(error)

    thread = threading.Thread(target=host_0, daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive() and raised, "party 0 waited for good"
    assert block["flags"][0] == 1 and block["flags"][1] == 1 + 1  # party 1 named


def test_a_slow_block_does_not_hold_up_the_blocks_after_it(two_cores):
    # Worker 0 sleeps 30 ms per iteration. Its process owns workers 0 and 1,
    # but the other process, free, takes block 1 while block 0 sleeps: block 1
    # is done first. (Fixed owners: block 1 would start after block 0.)
    X, T = problem(n=40)
    with Broker(MLP(SIZES, seed=3), X, T, workers=4, micro_batch=2, backend="processes",
                straggler=0, straggler_delay=0.03, span=5) as broker:
        broker.run_epoch(np.arange(len(X)), 0.5)
        trace = broker.trace
    computed = trace[trace["phase"] == COMPUTE]
    for k in range(5):
        rows = computed[computed["iteration"] == k]
        end = {int(r["worker"]): r["end"] for r in rows}
        assert end[1] < end[0], k


def test_many_hosted_workers_get_no_warning_about_taking_turns():
    X, T = problem(n=200)
    many = 4 * processes.usable_cores() + 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Broker(MLP(SIZES), X, T, workers=many, backend="processes")  # not started
    with pytest.warns(UserWarning, match="take turns"):
        Broker(MLP(SIZES), X, T, workers=many, backend="processes", hosting="workers")


@pytest.mark.parametrize("aggregate", ["replicated", "sharded"])
def test_a_killed_or_stopped_host_is_named_with_its_workers(two_cores, aggregate):
    # Sharded ends an iteration by its counters, not at the barrier: the
    # process left running goes on alone until the span's end, or until the
    # block the stopped one holds times out; either way the stopped one is named.
    before = shm_segments()
    run = kill_a_worker(3, workers=4, aggregate=aggregate)
    assert f"workers 2-3 (pid {run.pid}) died" in run.message
    X, T = problem(n=400, n_in=30)
    stopped = []

    def stop_worker_3(broker):
        pids = broker.backend.block["pids"]
        while pids[3] == 0 and not broker.backend.closed:
            time.sleep(0.01)
        time.sleep(0.3)
        stopped.append((int(pids[3]), time.monotonic()))
        os.kill(stopped[0][0], signal.SIGSTOP)

    with pytest.raises(WorkerError) as info:
        with Broker(MLP((30, 20, 3)), X, T, workers=4, backend="processes",
                    aggregate=aggregate, span=50, timeout=2.0) as broker:
            threading.Thread(target=stop_worker_3, args=(broker,), daemon=True).start()
            for epoch in range(10_000):
                broker.run_epoch(np.arange(len(X)), 0.1)
                assert not stopped or time.monotonic() - stopped[0][1] < 30, epoch
    pid = stopped[0][0]
    assert f"workers 2-3 (pid {pid}) did not reach the barrier within 2 s" in str(info.value)
    assert shm_segments() <= before
    assert worker_children() == []
