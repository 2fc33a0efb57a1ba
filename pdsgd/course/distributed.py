"""BSP against parameter averaging on a Dask cluster: accuracy per second and per round.

What notebook 05 measures. Each run trains the same network on the same data
and records, after every epoch, the test accuracy, the training time so far
and the number of *communication rounds* so far (one round = the weights go out
to the N workers and N results come back). BSP needs one round per iteration
of ``N * b`` samples; parameter averaging one per ``N * K * b`` samples.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from contextlib import contextmanager
from itertools import accumulate
from pathlib import Path

from pdsgd.errors import PdsgdError
from pdsgd.train import train
from pdsgd.train.result import n_iterations


def rounds_per_epoch(train_size, workers, micro_batch, local_steps=1):
    """Communication rounds in one epoch (a BSP iteration is a round with K = 1).

    Each round takes ``N * b * K`` samples; the last one may be partial.
    """
    return n_iterations(train_size, workers, micro_batch * local_steps)


def compare(data, *, scheduler, workers=2, micro_batch=10, local_steps=(10, 50), epochs=2,
            lr=0.5, train_size=None, hidden=(200,), seed=0):
    """Train with BSP and with parameter averaging for each K, on the Dask scheduler given.

    Parameters
    ----------
    data : Dataset or str
    scheduler : str
        A Dask scheduler's address (for example a LocalCluster's).
    workers, micro_batch : int
        N and b, the same for every run.
    local_steps : sequence of int
        The values of K to try with ``algorithm="average"``.
    epochs, lr, train_size, hidden, seed
        As for :func:`pdsgd.train`.

    Returns
    -------
    list of dict
        One per run: ``label``, ``algorithm``, ``local_steps``, and per epoch
        ``accuracy`` (test), ``seconds`` and ``rounds`` (both cumulative).
    """
    runs = [("bsp", 1)] + [("average", k) for k in local_steps]
    rows = []
    for algorithm, k in runs:
        result = train(data, hidden=hidden, epochs=epochs, lr=lr, workers=workers,
                       micro_batch=micro_batch, backend="dask", scheduler=scheduler,
                       algorithm=algorithm, local_steps=k, train_size=train_size, seed=seed,
                       trace=False)
        per_epoch = rounds_per_epoch(result.config["train_size"], workers, micro_batch, k)
        label = "BSP" if algorithm == "bsp" else f"averaging, K={k}"
        rows.append(dict(label=label, algorithm=algorithm, local_steps=k,
                         accuracy=list(result.history["test_accuracy"]),
                         seconds=list(accumulate(result.history["seconds"])),
                         rounds=[per_epoch * (e + 1) for e in range(epochs)]))
    return rows


def summary(rows):
    """One line per run: final accuracy, rounds and seconds."""
    return "\n".join(f"{r['label']:<18} accuracy {r['accuracy'][-1]:.3f} after "
                     f"{r['rounds'][-1]:>5} rounds, {r['seconds'][-1]:6.2f} s" for r in rows)


def dask_command():
    """How to run this environment's ``dask`` command (what a terminal of ``make lab`` finds)."""
    script = Path(sys.executable).with_name("dask")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dask"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def command_line_cluster(workers=2, timeout=60.0):
    """``dask scheduler`` and ``workers`` x ``dask worker``, started as commands, on 127.0.0.1.

    What notebook 5's last exercise has a student type in terminals, done
    for them: the scheduler on a free port, each worker single-threaded
    with one BLAS thread. Yields the scheduler's address; stops every
    process on the way out, however the block ends.
    """
    from distributed import Client

    address = f"tcp://127.0.0.1:{_free_port()}"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    procs = []
    try:
        try:
            procs.append(subprocess.Popen(
                [*dask_command(), "scheduler", "--host", "127.0.0.1", "--port",
                 address.rsplit(":", 1)[1], "--no-dashboard"], **quiet))
            procs += [subprocess.Popen([*dask_command(), "worker", address, "--nthreads", "1",
                                        "--host", "127.0.0.1", "--no-dashboard"], **quiet)
                      for _ in range(workers)]
            with Client(address, timeout=timeout) as client:
                client.wait_for_workers(workers, timeout=timeout)
        except OSError as error:
            raise PdsgdError(f"could not start a Dask cluster with {dask_command()[0]}: "
                             f"{error}") from None
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
