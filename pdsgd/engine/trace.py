"""A run's timeline: who computed, who waited, when the aggregator ran.

A trace is a NumPy structured array with one row per interval. Rows are
recorded into a preallocated array (a few stores per iteration), so recording
costs far less than the work it describes.
"""

from __future__ import annotations

import numpy as np

COMPUTE, WAIT, AGGREGATE = 0, 1, 2
PHASES = {COMPUTE: "compute", WAIT: "barrier wait", AGGREGATE: "aggregate"}
AGGREGATOR = -1  # the worker id used for rows recorded by the broker's aggregator

TRACE_DTYPE = np.dtype([
    ("worker", np.int16),     # worker id, or AGGREGATOR
    ("iteration", np.int64),  # global iteration number since the run started
    ("phase", np.uint8),      # COMPUTE, WAIT or AGGREGATE
    ("start", np.float64),    # seconds since the run started
    ("end", np.float64),
])


def empty_trace(n=0):
    """An empty trace array with room for ``n`` rows."""
    return np.zeros(n, dtype=TRACE_DTYPE)


def summarize(trace):
    """Total seconds spent in each phase, per worker.

    Returns
    -------
    dict
        ``{worker: {"compute": s, "barrier wait": s, "aggregate": s}}``.
    """
    out = {}
    for w in np.unique(trace["worker"]):
        rows = trace[trace["worker"] == w]
        out[int(w)] = {name: float(np.sum(rows["end"][rows["phase"] == p]
                                          - rows["start"][rows["phase"] == p]))
                       for p, name in PHASES.items()}
    return out


def wait_share(trace):
    """Of the workers' recorded time (computing and waiting), the share spent waiting.

    The red of the timeline against its blue, over the whole run and every worker.
    """
    totals = summarize(trace)
    workers = [w for w in totals if w != AGGREGATOR]
    compute = sum(totals[w]["compute"] for w in workers)
    wait = sum(totals[w]["barrier wait"] for w in workers)
    return wait / (compute + wait) if compute + wait > 0 else float("nan")


def in_turn(times):
    """``times`` with each party's iterations one after another, never overlapping.

    With work stealing a worker's blocks of two iterations may be computed by
    two hosts, and each host clocks its own crossing: the second host can
    start the next block a few microseconds before the first one recorded the
    end of its wait. Each recorded phase is moved to start no earlier than the
    party's previous iteration ended, so that a party's phases add up to no
    more than the time that passed (what the time budget of a run reads).
    Without stealing nothing moves. Returns a new array.
    """
    recorded = times[..., 1] > 0
    ends = np.where(recorded, times[..., 1], 0.0).max(axis=2)
    floor = np.zeros_like(ends)
    floor[:, 1:] = np.maximum.accumulate(ends, axis=1)[:, :-1]
    return np.where(recorded[..., None], np.maximum(times, floor[:, :, None, None]), times)


def from_times(times, first_iteration=0):
    """Trace rows from a ``(parties, iterations, 3, 2)`` array of start/end times.

    Party ``parties - 1`` is the aggregator; entries whose end is 0 were not
    recorded (for example no aggregate phase for workers in central mode).
    """
    times = in_turn(times)
    parties = times.shape[0]
    party, k, phase = np.nonzero(times[..., 1] > 0)
    rows = empty_trace(len(party))
    rows["worker"] = np.where(party == parties - 1, AGGREGATOR, party)
    rows["iteration"] = first_iteration + k
    rows["phase"] = phase
    rows["start"] = times[party, k, phase, 0]
    rows["end"] = times[party, k, phase, 1]
    return rows


COLORS = {COMPUTE: "tab:blue", WAIT: "tab:red", AGGREGATE: "tab:green"}


def plot_timeline(trace, ax=None, *, start=None, end=None):
    """Draw a trace as a timeline: one row per worker, plus one for the aggregator if it ran.

    Time runs from 0 at the window's start (``start``, or the first interval
    shown), in milliseconds (seconds for windows longer than 10 s). The
    aggregator's row appears only when the broker's aggregator recorded
    intervals (``central`` aggregation); with replicated or sharded
    aggregation the workers apply the update themselves (their green bars).

    Parameters
    ----------
    trace : ndarray
        :data:`TRACE_DTYPE` rows, as in ``TrainResult.trace``.
    ax : matplotlib Axes, optional
        Where to draw; a new figure is made if None.
    start, end : float, optional
        Show only this window of the run, in seconds since the run started (a
        few iterations are easier to read than thousands).

    Returns
    -------
    matplotlib Axes
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    if ax is None:
        _, ax = plt.subplots(figsize=(10, 3), layout="constrained")
    rows = trace
    if start is not None:
        rows = rows[rows["end"] >= start]
    if end is not None:
        rows = rows[rows["start"] <= end]
    origin = start if start is not None else (float(rows["start"].min()) if len(rows) else 0.0)
    span = (end if end is not None else (float(rows["end"].max()) if len(rows) else 0.0)) - origin
    scale, unit = (1e3, "milliseconds") if span <= 10 else (1.0, "seconds")
    workers = sorted(int(w) for w in np.unique(rows["worker"]) if w != AGGREGATOR)
    lanes = {w: i for i, w in enumerate(workers)}
    names = [f"worker {w}" for w in workers]
    if np.any(rows["worker"] == AGGREGATOR):
        lanes[AGGREGATOR] = len(workers)
        names.append("aggregator")
    for phase, color in COLORS.items():
        sel = rows[rows["phase"] == phase]
        if len(sel) == 0:
            continue
        y = np.array([lanes[int(w)] for w in sel["worker"]])
        ax.barh(y, (sel["end"] - sel["start"]) * scale, left=(sel["start"] - origin) * scale,
                height=0.8, color=color, linewidth=0)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel(f"{unit} since the window's start")
    ax.ticklabel_format(axis="x", style="plain", useOffset=False)
    if start is not None or end is not None:
        ax.set_xlim(0, span * scale)
    else:
        ax.set_xlim(left=0)
    # Beside the lanes, not over them: a legend inside would hide bars.
    ax.legend(handles=[Patch(color=c, label=PHASES[p]) for p, c in COLORS.items()],
              loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
              fontsize="small")
    return ax
