"""BSP against parameter averaging on a Dask cluster: accuracy per second and per round.

What notebook 05 measures. Each run trains the same network on the same data
and records, after every epoch, the test accuracy, the training time so far
and the number of *communication rounds* so far (one round = the weights go out
to the N workers and N results come back). BSP needs one round per iteration
of ``N * b`` samples; parameter averaging one per ``N * K * b`` samples.
"""

from __future__ import annotations

from itertools import accumulate

from pdsgd.engine.shuffle import n_iterations
from pdsgd.train import train


def rounds_per_epoch(train_size, workers, micro_batch, local_steps=1):
    """Communication rounds in one epoch (a BSP iteration is a round with K = 1)."""
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
