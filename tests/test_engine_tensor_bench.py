"""``pdsgd bench scaling`` times tensor parallelism beside data parallelism, interleaved."""

import json

import numpy as np
import pytest
from engine_helpers import problem, reference

from pdsgd.bench.scaling import format_table
from pdsgd.cli import main
from pdsgd.engine.broker import Broker
from pdsgd.engine.shuffle import epoch_order
from pdsgd.errors import PdsgdError
from pdsgd.machine import usable_cores
from pdsgd.mlp import MLP
from pdsgd.study.throughput import hardware_baseline, parse_engine, run


def test_engines_name_their_split():
    assert parse_engine("processes:tensor") == ("processes", "tensor", None)
    assert parse_engine("threads:replicated") == ("threads", "data", "replicated")
    for bad in ("processes", ":tensor", "serial:"):
        with pytest.raises(PdsgdError, match="BACKEND:AGGREGATE or BACKEND:tensor"):
            parse_engine(bad)


def test_a_small_grid_has_a_split_column_and_interleaved_baselines():
    lines = []
    result = run(samples=64, repeats=2, workers=(1, 2), micro_batches=(1, 4),
                 engines=("serial:tensor", "serial:central"), progress=lines.append,
                 min_seconds=0.02, on_row=lines.append)
    rows = result["rows"]
    assert len(rows) == 8 and len(lines) == 2 + 8
    assert {(r["parallel"], r["aggregate"]) for r in rows} == {("tensor", None),
                                                               ("data", "central")}
    for r in rows:
        lo, hi = r["speedup_range"]
        assert r["samples_per_s"] > 0 and r["sequential_per_s"] > 0 and lo <= r["speedup"] <= hi
        assert r["passes"] > 1  # a pass over 64 samples is far shorter than 0.02 s
        lo, hi = r["hardware_speedup_range"]
        assert r["hardware_per_s"] > 0 and lo <= r["hardware_speedup"] <= hi
    table = format_table(json.loads(json.dumps(result)))  # as read back from --json
    assert "split" in table and "tensor  -" in table and "data    central" in table
    assert "timings of at least 0.02 s" in table
    assert "S(seq b)" in table and "hw(seq Nb)" in table
    assert "against sequential minibatch SGD at batch N b" in table
    # The ceiling: copies of the sequential path at once, timed in the same repeats.
    copies = min(2, usable_cores())
    for r in rows:
        if r["workers"] == 1 or copies == 1:
            assert "ceiling" not in r
        else:
            lo, hi = r["ceiling_range"]
            assert r["copies"] == copies and 0 < lo <= r["ceiling"] <= hi
            assert r["of_ceiling"] > 0
    assert ("ceiling: min(N, cores) copies" in table) == (copies > 1)


def test_the_ceiling_can_be_left_out():
    result = run(samples=32, repeats=1, workers=(2,), micro_batches=(1,),
                 engines=("serial:tensor",), progress=lambda line: None, min_seconds=0.01,
                 with_ceiling=False)
    assert "ceiling" not in result["rows"][0]
    assert "ceiling:" not in format_table(result)


def test_a_bad_engine_is_refused_in_one_line_before_anything_runs(capsys):
    assert main(["bench", "scaling", "--engines", "processes"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--engines processes: write BACKEND:AGGREGATE or BACKEND:tensor" in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("parallel", ["data", "tensor"])
@pytest.mark.parametrize(("workers", "b"), [(1, 1), (2, 1), (2, 3), (3, 2)])
def test_the_hardware_baseline_is_minibatch_sgd_at_n_b(parallel, workers, b):
    """The hardware speedup's baseline does the engine's arithmetic: batch N b, one process."""
    sizes = (6, 5, 3)
    X, T = problem()
    order = epoch_order(len(X), 0, 0)
    runner = hardware_baseline(MLP(sizes, seed=3), X, T, workers, b)
    assert runner.micro_batch == workers * b
    runner.run_epoch(order, 0.5)
    # An independent call: minibatch SGD at batch N b, step by step.
    direct = MLP(sizes, seed=3)
    for t in range(0, len(X), workers * b):
        idx = order[t:t + workers * b]
        direct.sgd_step(X[idx], T[idx], 0.5)
    np.testing.assert_allclose(runner.model.params, direct.params, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(runner.model.params, reference(sizes, X, T, workers * b),
                               rtol=1e-12, atol=1e-14)
    # And the engine at N workers of micro-batch b learns the same weights.
    engine = MLP(sizes, seed=3)
    with Broker(engine, X, T, workers=workers, micro_batch=b, backend="serial",
                parallel=parallel) as broker:
        broker.run_epoch(order, 0.5)
    np.testing.assert_allclose(engine.params, runner.model.params, rtol=1e-12, atol=1e-14)
