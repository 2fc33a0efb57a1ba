"""Small problems and leak checks shared by the engine tests."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np
import psutil
import pytest

from pdsgd import checkpoint as checkpoint_module
from pdsgd.engine.backends.base import WorkerError
from pdsgd.engine.broker import Broker
from pdsgd.engine.sequential import SequentialRunner
from pdsgd.engine.shuffle import epoch_order
from pdsgd.mlp import MLP


def problem(n=37, n_in=6, n_out=3, seed=1):
    """Random inputs in [0, 1] and one-hot targets."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, n_in))
    T = np.eye(n_out)[rng.integers(0, n_out, n)]
    return X, T


def reference(sizes, X, T, batch, lr=0.5, epochs=1, seed=3):
    """Sequential minibatch SGD with batch ``batch``: the independent oracle."""
    model = MLP(sizes, seed=seed)
    for epoch in range(epochs):
        SequentialRunner(model, X, T, batch).run_epoch(epoch_order(len(X), 0, epoch), lr)
    return model.params


def shm_segments(pid=None):
    """Names in /dev/shm created by process ``pid`` (default: this one).

    Other programs on the machine may be using shared memory at the same time,
    so only the names that carry our pid count: pdsgd's blocks
    (``pdsgd_<pid>_...``) and loky's semaphores (``sem.loky-<pid>-...``).
    """
    pid = os.getpid() if pid is None else pid
    try:
        names = os.listdir("/dev/shm")
    except FileNotFoundError:
        return set()
    return {n for n in names if n.startswith((f"pdsgd_{pid}_", f"sem.loky-{pid}-"))}


def worker_children():
    """Child processes of this one other than Python's long-lived resource trackers."""
    out = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "resource_tracker" not in " ".join(child.cmdline()):
                out.append(child)
        except psutil.NoSuchProcess:
            pass
    return out


@dataclass
class KilledRun:
    """What :func:`kill_a_worker` saw: the run's error, the killed pid, timings, segments."""

    message: str
    pid: int
    seconds_after_kill: float
    segments_during: set


def kill_a_worker(index, sizes=(30, 20, 3), **options):
    """Train on ``processes`` until worker ``index`` is killed with SIGKILL 0.3 s into the run.

    Returns the :class:`KilledRun`; fails if the run does not end with a
    :class:`WorkerError`, or goes on for a minute after the kill.
    """
    X, T = problem(n=400, n_in=sizes[0], n_out=sizes[-1])
    killed, during = [], set()

    def kill(broker):
        pids = broker.backend.block["pids"]
        while pids[index] == 0 and not broker.backend.closed:
            time.sleep(0.01)
        time.sleep(0.3)
        during.update(shm_segments())
        killed.append((int(pids[index]), time.monotonic()))
        os.kill(killed[0][0], signal.SIGKILL)

    with pytest.raises(WorkerError) as info:
        with Broker(MLP(sizes), X, T, workers=options.pop("workers", 2), backend="processes",
                    span=50, **options) as broker:
            threading.Thread(target=kill, args=(broker,), daemon=True).start()
            for epoch in range(10_000):
                assert not killed or time.monotonic() - killed[0][1] < 60
                broker.run_epoch(epoch_order(len(X), 0, epoch), 0.1)
    pid, at = killed[0]
    return KilledRun(str(info.value), pid, time.monotonic() - at, during)


def interrupt_a_cli_run(out, *options, within=10.0):
    """SIGINT a long ``pdsgd train`` run (2 workers) once its workers run; return seconds to stop.

    Fails unless the run ends within ``within`` seconds with exit code 130 and
    "interrupted", leaving no process and nothing of its own in /dev/shm.
    """
    cmd = [sys.executable, "-m", "pdsgd", "train", "--dataset", "synthetic", "--train-size",
           "2000", "--hidden", "20", "--epochs", "1000", "--workers", "2", "--quiet",
           "--out", str(out), *options]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        workers = [p for p in parent.children(recursive=True)
                   if "resource_tracker" not in " ".join(cmdline(p))]
        if len(workers) >= 2 and any(n.startswith("pdsgd_") for n in shm_segments(proc.pid)):
            break  # the workers run and their block exists: training has started
        time.sleep(0.1)
    time.sleep(1.0)
    everyone = parent.children(recursive=True)
    assert proc.poll() is None, proc.stderr.read()
    proc.send_signal(signal.SIGINT)
    start = time.monotonic()
    try:
        proc.wait(timeout=within)
    except subprocess.TimeoutExpired:  # pragma: no cover - the failure we test for
        proc.kill()
        pytest.fail(f"the run did not stop within {within:g} s of SIGINT")
    seconds = time.monotonic() - start
    assert proc.returncode == 130 and "interrupted" in proc.stderr.read()
    _, alive = psutil.wait_procs(everyone, timeout=3)
    assert alive == [] and shm_segments(proc.pid) == set()
    return seconds


def cmdline(process):
    """``process``'s command line as a list, or [] once it has gone."""
    try:
        return process.cmdline()
    except psutil.Error:
        return []


class Crash(Exception):
    """A training run ended abruptly by :func:`crash_after_saves`."""


def crash_after_saves(monkeypatch, count=5):
    """Make the next run raise :class:`Crash` right after its ``count``-th checkpoint save.

    Returns the list the saved iterations are appended to, as they are written.
    """
    saves = []
    real = checkpoint_module.save_checkpoint

    def save_then_crash(*args, **kwargs):
        real(*args, **kwargs)
        saves.append(kwargs["iteration"])
        if len(saves) == count:
            raise Crash

    monkeypatch.setattr(importlib.import_module("pdsgd.train.epochs"), "save_checkpoint",
                        save_then_crash)
    return saves
