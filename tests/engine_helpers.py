"""Small problems and leak checks shared by the engine tests."""

from __future__ import annotations

import os

import numpy as np
import psutil

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
