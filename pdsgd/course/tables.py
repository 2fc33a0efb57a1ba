"""Tables that name their columns: a run's trace, and where an iteration's time went.

Each function returns a :class:`pandas.DataFrame`, which a notebook shows as
a table with headings (and a script prints as aligned text).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pdsgd.train import result as tr

US = 1e6  # seconds to microseconds
PHASES = ("compute", "barrier wait", "aggregate")


def party_name(worker):
    """``"worker 0"``, ..., or ``"aggregator"`` (the broker's Results Aggregator)."""
    return "aggregator" if worker == tr.AGGREGATOR else f"worker {worker}"


def trace_table(trace, count=6):
    """The first ``count`` rows of a trace, one interval per row, with named columns.

    Columns: ``party`` (which worker, or the aggregator), ``iteration``,
    ``phase`` (compute, barrier wait or aggregate), ``start (ms)`` and
    ``end (ms)`` (since the run started) and ``lasted (us)``.
    """
    rows = trace[:count]
    return pd.DataFrame({
        "party": [party_name(int(w)) for w in rows["worker"]],
        "iteration": rows["iteration"].astype(int),
        "phase": [tr.PHASES[int(p)] for p in rows["phase"]],
        "start (ms)": np.round(rows["start"] * 1e3, 3),
        "end (ms)": np.round(rows["end"] * 1e3, 3),
        "lasted (us)": np.round((rows["end"] - rows["start"]) * US, 1),
    })


def time_budget(result):
    """Where one iteration's time went, for each party, all of it.

    An iteration's time is the run's training time (evaluation excluded)
    divided by its iterations. Each party's share of it, from the trace:

    * ``compute``: its forward and backward pass (a worker);
    * ``barrier wait``: waiting at the barrier for the others (with the
      seed's ``central`` aggregation, also for the broker's update);
    * ``aggregate``: applying the summed update (the aggregator, or each
      worker to its replica);
    * ``rest``: everything else: the Python between those calls, reading the
      clock for the trace, and the broker's work between spans of iterations
      (handing out samples, publishing the weights, checking the replicas).
      With ``sharded`` aggregation the second barrier wait is not recorded
      and lands here too. For the aggregator, the rest is the time it waits
      for the workers' results.

    Parameters
    ----------
    result : TrainResult
        A run of the engine (it has a trace).

    Returns
    -------
    dict
        ``iteration`` (seconds) and ``parties``: ``{name: {phase: seconds}}``
        per iteration, the four phases of each party adding up to
        ``iteration``.
    """
    trace = result.trace
    iterations = len(np.unique(trace["iteration"]))
    per_iteration = result.train_seconds / iterations
    parties = {}
    for who, totals in sorted(tr.summarize(trace).items(), key=lambda kv: (kv[0] < 0, kv[0])):
        share = {phase: totals[phase] / iterations for phase in PHASES}
        share["rest"] = per_iteration - sum(share.values())
        parties[party_name(who)] = share
    return {"iteration": per_iteration, "parties": parties}


def budget_table(budget):
    """:func:`time_budget` as a table in microseconds, one row per party, with a total."""
    frame = pd.DataFrame(budget["parties"]).T * US
    frame["= one iteration"] = frame.sum(axis=1)
    frame.columns = [f"{c} (us)" for c in frame.columns]
    return frame.round(1)
