"""Workers past the cores: one process per worker against hosted workers (the goroutine lesson).

Go runs the seed's N worker goroutines on a few threads: past the hardware
threads, more goroutines only take turns inside the threads that exist, and
the speedup levels off. Python has no goroutines; pdsgd's ``processes``
backend gets the same effect by *hosting* (``hosting="cores"``, the default):
one process per usable core, each running its share of the workers in turns
between barrier crossings. With ``hosting="workers"`` it starts one process
per worker, as a naive port of the seed would: past the cores the operating
system must switch between them at every crossing, and every switch costs
the incoming process its cache.

:func:`compare` measures both on the same runs, interleaved, and counts what
the switches cost: the worker processes' *involuntary* context switches (the
scheduler took the core away) and *voluntary* ones (the process slept at a
barrier), from ``getrusage(RUSAGE_CHILDREN)`` around each run (the run's
processes have ended and been waited for when :func:`pdsgd.train` returns).
"""

from __future__ import annotations

import resource
from statistics import median

from pdsgd.spec import HOSTINGS
from pdsgd.train import result as tr
from pdsgd.train import train

#: What a row holds besides its setting, in the order :func:`table_lines` prints it.
MEASURES = ("samples/s", "involuntary switches / iteration", "voluntary switches / iteration",
            "waiting")


def _switches():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_nivcsw, usage.ru_nvcsw


def measure(data, workers, hosting, **options):
    """One run of :func:`pdsgd.train` on the ``processes`` backend: a row of :func:`compare`.

    Returns ``(row, result)``: the row has ``N``, ``hosting``, the measures of
    :data:`MEASURES` (switches per iteration of the run) and the result its trace.
    """
    before = _switches()
    result = train(data, workers=workers, hosting=hosting, backend="processes", **options)
    after = _switches()
    iterations = max(1, tr.n_iterations(result.config["train_size"], workers,
                                        result.config["micro_batch"])
                     * len(result.history["epoch"]))
    row = {"N": workers, "hosting": hosting, "samples/s": result.samples_per_second,
           "involuntary switches / iteration": (after[0] - before[0]) / iterations,
           "voluntary switches / iteration": (after[1] - before[1]) / iterations,
           "waiting": tr.wait_share(result.trace)}
    return row, result


def compare(data, workers=(2, 4, 8, 16), repeats=3, hostings=HOSTINGS, progress=None,
            **options):
    """Every N with each hosting, ``repeats`` interleaved rounds; the median of each measure.

    Parameters
    ----------
    data : Dataset or str
        What :func:`pdsgd.train` trains on.
    workers : sequence of int
        The N to compare (past the cores is where they differ).
    repeats : int
        Rounds; within a round every (N, hosting) runs once, one after another,
        so that a change in the machine's load touches both hostings alike.
    hostings : sequence of str
        Values of ``hosting`` (:data:`pdsgd.spec.HOSTINGS`).
    progress : callable, optional
        Called with each run's row as it ends.
    **options
        More of :func:`pdsgd.train`'s keywords (``epochs``, ``train_size``,
        ``micro_batch``, ``parallel``...).

    Returns
    -------
    list of dict
        One row per (N, hosting), N first: ``N``, ``hosting``, ``runs`` and the
        medians of :data:`MEASURES`.
    """
    runs = {(n, h): [] for n in workers for h in hostings}
    for _ in range(repeats):
        for n in workers:
            for h in hostings:
                row, _ = measure(data, n, h, **options)
                runs[n, h].append(row)
                if progress is not None:
                    progress(row)
    return [{"N": n, "hosting": h, "runs": len(rows),
             **{m: median(r[m] for r in rows) for m in MEASURES}}
            for (n, h), rows in runs.items()]


def table_lines(rows):
    """The rows of :func:`compare` as aligned text, one line per row."""
    lines = [f"{'N':>4} {'hosting':>8} {'samples/s':>10} {'switches/it (invol.)':>21} "
             f"{'(vol.)':>7} {'waiting':>8}"]
    for r in rows:
        lines.append(f"{r['N']:>4} {r['hosting']:>8} {r['samples/s']:>10,.0f} "
                     f"{r['involuntary switches / iteration']:>21.2f} "
                     f"{r['voluntary switches / iteration']:>7.2f} {r['waiting']:>8.0%}")
    return lines
