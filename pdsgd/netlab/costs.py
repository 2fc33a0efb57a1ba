"""BSP and parameter averaging over real links, measured beside the cost model's prediction.

For each profile of :data:`pdsgd.netlab.lab.PROFILES` asked for, one run
builds a lab (:class:`~pdsgd.netlab.lab.Lab`: a teacher's host and ``hosts``
student hosts as network namespaces, TLS with a fresh bundle), measures on
the teacher's host (:mod:`pdsgd.netlab.measure`) BSP and parameter averaging
with each K (N = ``hosts`` workers, b = 1, 784-200-10), and removes it.

The prediction, per round, is the cost model's (:mod:`pdsgd.engine.traffic`)::

    seconds per round = the same round on the "bare" lab (no limit, measured here)
                      + bytes per round / bandwidth
                      + crossings * round trip

where a round trip between two hosts crosses both hosts' links each way (4
times the profile's delay: the teacher's link is delayed as the students'
are).

and samples per second follow from the samples a round carries (N b K). The
"bare" lab is always measured first: it is the baseline of every prediction.
Needs root (network namespaces); elsewhere it says why in one line.
``pdsgd bench network`` is its command line; notebook 05 shows a kept run.
"""

from __future__ import annotations

import json
from pathlib import Path

from pdsgd.engine.traffic import traffic
from pdsgd.errors import PdsgdError
from pdsgd.mlp import param_count
from pdsgd.netlab import hosts
from pdsgd.netlab.lab import PROFILES, SIZES, Lab
from pdsgd.netlab.measure import configurations
from pdsgd.spec import EngineSpec

BASE = "bare"
#: The run kept with the course (notebook 05 and docs/cluster.md show it).
KEPT = Path(__file__).resolve().parents[2] / "notebooks" / "figures" / "network.json"


def crossing_cost(algorithm, local_steps, workers, profile, copies=False, itemsize=8):
    """What the cost model adds to a round on ``profile``: ``(bytes, seconds)``.

    With ``copies=True`` the new weights are counted once per worker, as the
    Dask backend sends them (one scatter each), instead of once (a broadcast).
    """
    spec = EngineSpec(hidden=SIZES[1:-1], n_inputs=SIZES[0], n_outputs=SIZES[-1],
                      workers=workers, algorithm=algorithm, local_steps=local_steps,
                      backend="dask", scheduler="tcp://127.0.0.1:8786")
    moved = traffic(spec)
    size = moved.bytes(itemsize)
    if copies:
        size += (workers - 1) * param_count(SIZES, spec.bias) * itemsize
    seconds = 0.0
    if profile.mbit is not None:
        seconds += size * 8 / (profile.mbit * 1e6)
    seconds += moved.crossings * profile.round_trip
    return size, seconds


def run(profiles=("lan", "wifi", "wan"), students=3, seconds=3.0, local_steps=(10, 100),
        target=0.8):
    """Measure every profile (``bare`` first); a JSON-ready dict (see :func:`format_table`)."""
    unknown = [p for p in profiles if p not in PROFILES]
    if unknown:
        raise PdsgdError(f"no network profile {unknown[0]!r}; choose from {', '.join(PROFILES)}")
    why = hosts.unavailable()
    if why is not None:
        raise PdsgdError(why)
    names = [BASE] + [p for p in profiles if p != BASE]
    curves = accuracy_curves(students, local_steps, target)
    rows = [{**row, "profile": name} for name in names
            for row in _measure(name, students, seconds, local_steps)]
    return predict({"hosts": students, "micro_batch": 1, "sizes": list(SIZES),
                    "profiles": {n: vars(PROFILES[n]) for n in names}, "rows": rows,
                    **curves})


def accuracy_curves(students, local_steps, target=0.8, train_size=2000, epochs=5):
    """Test accuracy after each epoch of every configuration; the samples each needs to ``target``.

    The arithmetic does not depend on the link (every backend gives the serial
    backend's weights), so the curves are computed once, here, with ``serial``:
    the samples a configuration needs to reach the target, divided by its
    samples per second on a link, is its time to that accuracy there.
    """
    from pdsgd.data.datasets import load_dataset
    from pdsgd.train import train

    data = load_dataset("mnist-5k", train_size=train_size)
    curves = {}
    for name, algorithm, k in configurations(local_steps):
        result = train(data, hidden=SIZES[1:-1], epochs=epochs, lr=0.1, workers=students,
                       micro_batch=1, backend="serial", algorithm=algorithm, local_steps=k,
                       trace=False)
        curves[name] = [float(a) for a in result.history["test_accuracy"]]
    # Counted in whole epochs (the accuracy is measured after each); None: not reached.
    needed = {name: next((train_size * (i + 1) for i, a in enumerate(c) if a >= target), None)
              for name, c in curves.items()}
    return {"accuracy": {"train_size": train_size, "curves": curves, "target": target,
                         "samples_to_target": needed}}


def predict(result):
    """Set the predictions of every measured row of ``result`` (in place); return it."""
    n = result["hosts"]
    base = {row["name"]: row["seconds_per_round"] for row in result["rows"]
            if row["profile"] == BASE}
    for row in result["rows"]:
        profile, samples = PROFILES[row["profile"]], n * row["local_steps"]
        for key, copies in (("predicted", False), ("copied", True)):
            size, extra = crossing_cost(row["algorithm"], row["local_steps"], n, profile,
                                        copies=copies)
            row[f"{key}_bytes_per_round"] = size
            row[f"{key}_seconds_per_round"] = base[row["name"]] + extra
            row[f"{key}_samples_per_second"] = samples / (base[row["name"]] + extra)
        needed = result.get("accuracy", {}).get("samples_to_target", {}).get(row["name"])
        if needed is not None:
            row["seconds_to_target"] = needed / row["samples_per_second"]
    return result


def _measure(profile, students, seconds, local_steps):
    with Lab(students, profile) as lab:
        done = lab.run(["pdsgd.netlab.measure", lab.scheduler, str(lab.bundle),
                        str(students), str(seconds), *map(str, local_steps)])
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit {done.returncode}"]
        raise PdsgdError(f"the measurement on the {profile!r} lab failed: {lines[-1]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(r):
    """The result as text: measured beside predicted, per profile and configuration."""
    lines = [f"{r['hosts']} student hosts, one worker each, teacher's host runs the scheduler "
             f"and the broker; {'-'.join(map(str, r['sizes']))}, b = {r['micro_batch']}",
             f"{'profile':<6} {'link':<22} {'run':<14} {'MB/round':>8} {'s/round':>8} "
             f"{'samples/s':>10} {'predicted':>10} {'meas/pred':>9} {'N copies':>9} "
             f"{'to target':>9}"]
    for row in r["rows"]:
        p = r["profiles"][row["profile"]]
        link = "no limit" if p["mbit"] is None else f"{p['mbit']:g} Mbit/s"
        if p["delay"]:
            link += f" + {1e3 * p['delay']:g} ms/end"
        lines.append(f"{row['profile']:<6} {link:<22} {row['name']:<14} "
                     f"{row['predicted_bytes_per_round'] / 1e6:8.2f} "
                     f"{row['seconds_per_round']:8.3f} "
                     f"{row['samples_per_second']:10,.1f} "
                     f"{row['predicted_samples_per_second']:10,.1f} "
                     f"{row['samples_per_second'] / row['predicted_samples_per_second']:8.2f}x "
                     f"{row['copied_samples_per_second']:9,.1f} "
                     f"{_duration(row.get('seconds_to_target'))}")
    lines += ["predicted = the bare lab's round + MB/round (engine.traffic) / bandwidth + "
              "crossings x round trip (4 x the delay: both ends' links, both ways);",
              "N copies = the same with the weights sent once per worker, as the Dask backend "
              "sends them"]
    acc = r.get("accuracy")
    if acc:
        lines.append(f"to target = time to test accuracy {acc['target']:g} (measured after "
                     f"each epoch of {acc['train_size']:,} samples, serial backend): "
                     + ", ".join(f"{name} needs {n:,} samples" if n else f"{name} never"
                                 for name, n in acc["samples_to_target"].items()))
    return "\n".join(lines)


def _duration(seconds):
    if seconds is None:
        return f"{'':>9}"
    if seconds >= 3600:
        return f"{seconds / 3600:8.1f}h"
    return f"{seconds / 60:8.1f}m" if seconds >= 120 else f"{seconds:8.1f}s"


def load(path):
    """A kept result (the JSON ``--json`` wrote)."""
    with open(path) as f:
        return json.load(f)
