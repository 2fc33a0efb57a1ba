"""The full profile's grid runner, shrunk, on real Fashion-MNIST (Debian's dataset-fashion-mnist).

This is ``make reference`` in miniature: the ``full`` profile with its dataset,
backend and both micro-batches, but two small P, N = 2 only, one repeat and
one epoch, written as a kept reference run (about 25 s on 2 cores). Without the package it skips,
except in CI (``CI=true``), where `.ci/run` installs it and a skip would hide
that it did not.
"""

import json
from dataclasses import replace

import pytest
from data_helpers import needs_fashion_mnist

from pdsgd.study.grid import customize
from pdsgd.study.profiles import PROFILES, build_cells
from pdsgd.study.reproduce import reproduce

pytestmark = [pytest.mark.slow, needs_fashion_mnist]


def test_the_full_profile_shrunk_on_fashion_mnist(tmp_path):
    full = PROFILES["full"]
    profile = customize(full, dataset="fashion-mnist", train_sizes=(300, 600), workers=(2,),
                        repeats=1, epochs=1)
    # The live network lab takes minutes as root; tests/test_network.py measures it.
    profile = replace(profile, network_live=False)
    assert (profile.backend, profile.micro_batches, profile.accuracy_backend) == (
        full.backend, full.micro_batches, full.accuracy_backend)
    study = reproduce(tmp_path, profile, progress=False, reference=True, formats=("png",))
    run = tmp_path / "reference" / "full-fashion-mnist"
    assert json.loads((run / "study.json").read_text())["dataset"] == {
        "name": "fashion-mnist", "train": 60_000, "test": 10_000, "features": 784}
    assert study["cells"]["total"] == len(set(
        c for part in build_cells(profile, 60_000).values() for c in part))
    engine = {(r["strategy"], r["train_size"], r["workers"], r["micro_batch"], r["aggregate"])
              for r in study["timing"] if r["backend"] == "processes"}
    # Data parallelism at both b, tensor parallelism at b = 1 (both P: under its 10,000).
    assert {(s, p, n, b) for s, p, n, b, _ in engine} == {
        (s, p, 2, b) for p in (300, 600) for s, b in (("data", 1), ("data", 16), ("tensor", 1))}
    # The aggregation each data-parallel cell ran is recorded; tensor cells have none.
    assert all(bool(agg) == (s == "data") for s, *_, agg in engine)
    assert {c["curve"] for c in study["claims"]} == {"b = 1", "b = 16", "tensor, b = 1"}
    assert {(r["strategy"], r["micro_batch"], r["train_size"]) for r in study["sweep"]} == {
        (s, b, 600) for s in ("data", "tensor") for b in (1, 4, 16)}
    assert study["command"] == ("pdsgd reproduce --profile full --dataset fashion-mnist "
                                "--train-sizes 300,600 --workers 2 --repeats 1 --epochs 1 "
                                "--reference full-fashion-mnist")
    report = (run / "REPORT.md").read_text()
    assert "Dataset **fashion-mnist**" in report and "speedup.png" in report
    index = (tmp_path / "reference" / "README.md").read_text()
    assert "[full-fashion-mnist](full-fashion-mnist/REPORT.md)" in index
    # The hardware speedup: a baseline at batch N b for every engine cell, both speedups in
    # the tables, the claims judged on it (the index says so), the cost model predicting it.
    assert all(r.get("hardware_speedup") for r in study["speedup"] + study["sweep"])
    assert {c["measure"] for c in study["claims"]} == {"hardware_speedup"}
    assert "| judged on | the hardware speedup (against sequential minibatch SGD at batch N b) |" \
        in index
    assert "| S (seq b) | hardware speedup (seq N b) |" in report
    at_2 = next(p for p in study["cost_predictions"] if p["workers"] == 2)
    assert at_2["hardware_many_cores"] and at_2["hardware_measured"] == pytest.approx(
        next(r["hardware_speedup"] for r in study["speedup"] if (
            r["strategy"], r["micro_batch"], r["train_size"], r["workers"]) == ("data", 1, 600, 2)))
    assert "| hardware speedup predicted, a core each |" in report
    # Time to accuracy at the dataset's target, against the best one-core configuration.
    assert study["to_target"]["target"] == 0.85 and "## Time to accuracy" in report
