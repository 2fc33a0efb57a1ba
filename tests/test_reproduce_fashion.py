"""The full profile's grid runner, shrunk, on real Fashion-MNIST (Debian's dataset-fashion-mnist).

This is ``make reference`` in miniature: the ``full`` profile with its dataset,
backend and both micro-batches, but two small P, N = 2 only, one repeat and
one epoch, written as a kept reference run (about 25 s on 2 cores). Without the package it skips,
except in CI (``CI=true``), where `.ci/run` installs it and a skip would hide
that it did not.
"""

import json

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
    assert "[full-fashion-mnist](full-fashion-mnist/REPORT.md)" in (
        tmp_path / "reference" / "README.md").read_text()
