"""Time to accuracy: the learning-rate rules, runs to a target, the study and its factors."""

import time

import pytest

from pdsgd.data.datasets import load_dataset
from pdsgd.study import to_target
from pdsgd.study.time_to_accuracy import ToTarget, analyse, run_study
from pdsgd.train.prepare import prepare_data


@pytest.fixture(scope="module")
def data():
    return prepare_data(load_dataset("synthetic", train_size=120, test_size=50,
                                     synthetic_features=20))


def test_the_learning_rate_rules():
    assert to_target.lr_schedule("fixed", 64)(0) == to_target.lr_schedule("fixed", 64)(1e9) == 0.1
    linear = to_target.lr_schedule("linear", 16, warmup=1000)
    assert linear(0) == pytest.approx(0.1 + 1.5 * 8 / 1000)  # half a step into the ramp
    assert 0.1 < linear(400) < linear(600) < 1.6
    assert linear(1000) == linear(5000) == pytest.approx(1.6)
    assert to_target.lr_schedule("sqrt", 16)(1e6) == pytest.approx(0.4)
    assert to_target.lr_schedule("linear/4", 16)(1e6) == pytest.approx(0.4)
    # Nothing to warm up to at B = 1, and never a warm-up downwards.
    assert to_target.lr_schedule("linear", 1)(0) == 0.1
    assert to_target.lr_schedule("linear/4", 2)(0) == pytest.approx(0.05)


def test_evaluations_are_not_counted_in_the_training_time(data, monkeypatch):
    from pdsgd.mlp import MLP

    slow = 0.02
    real = MLP.accuracy

    def slow_accuracy(self, X, y):
        time.sleep(slow)
        return real(self, X, y)

    monkeypatch.setattr(MLP, "accuracy", slow_accuracy)
    out = to_target.measure(data, 2.0, batch=4, rule="fixed", eval_every=8, max_epochs=1,
                            hidden=(8,))
    h = out["history"]
    assert out["crossing"] is None and not out["diverged"]  # 2.0 is never reached
    assert h["samples"][-1] == 120 and h["steps"][-1] == 30
    assert len(h["accuracy"]) == 16  # before training, then every 8 samples
    assert h["seconds"][-1] < 0.5 * slow * len(h["accuracy"])


@pytest.mark.parametrize("strategy", ["data", "tensor"])
def test_the_engine_crosses_where_the_sequential_run_at_n_b_does(data, strategy):
    seq = to_target.measure(data, 0.14, batch=4, rule="linear", eval_every=12, hidden=(8,))
    par = to_target.measure(data, 0.14, batch=4, rule="linear", workers=2, strategy=strategy,
                            backend="serial", eval_every=12, hidden=(8,))
    assert seq["crossing"] is not None
    assert par["micro_batch"] == 2
    # The same arithmetic, evaluated at the same samples: the same accuracies.
    assert par["history"]["accuracy"] == pytest.approx(seq["history"]["accuracy"], abs=1e-12)
    assert par["history"]["samples"] == seq["history"]["samples"]
    assert par["crossing"]["samples"] == pytest.approx(seq["crossing"]["samples"])
    assert par["noise"]["b_simple"] == pytest.approx(seq["noise"]["b_simple"], rel=1e-9)


GRID = ToTarget(target=0.14, batches=(1, 2, 4), workers=(1, 2), micro_batches=(1, 2),
                strategies=("data", "tensor"), backend="serial", repeats=2, eval_every=12,
                max_epochs=3)


def test_the_study_splits_every_speedup_into_its_three_factors(data, tmp_path):
    runs = run_study(GRID, data, tmp_path, hidden=(8,), progress=False)
    out = analyse(runs)
    # The comparison times every run to its batch's known crossing, without stopping.
    grid_samples = {r["batch"]: r["crossing"]["samples"] for r in runs["grid"]
                    if r["crossing"] and r["rule"] == next(c["rule"] for c in out["curve"]
                                                           if c["batch"] == r["batch"])}
    for r in (r for rnd in runs["rounds"] for r in rnd):
        assert r["fields"]["replay"] == r["crossing"]["samples"] == grid_samples[r["batch"]]
    assert out["target"] == 0.14 and out["best"] is not None
    assert {c["batch"] for c in out["curve"]} == {1, 2, 4}
    fastest = min(r["seconds"] for r in out["best"]["sequential"])
    assert out["best"]["seconds"] == fastest
    # The grid's (N, b), and the best one-core batch split over N workers.
    b_star = out["best"]["batch"]
    allowed = {(n, m) for n in (1, 2) for m in (1, 2)}
    if b_star % 2 == 0:
        allowed.add((2, b_star // 2))
    configs = {(r["strategy"], r["workers"], r["micro_batch"]) for r in out["engine"]}
    assert configs <= {(s, n, m) for s in ("data", "tensor") for n, m in allowed}
    assert out["engine"]
    for r in out["engine"]:
        assert r["speedup"] == pytest.approx(out["best"]["seconds"] / r["seconds"])
        assert r["hardware"] * r["statistical"] * r["throughput"] == pytest.approx(r["speedup"])
        assert r["rule"] == next(c["rule"] for c in out["curve"] if c["batch"] == r["batch"])
    assert out["runs"]["trained"] == out["runs"]["total"]
    # A second study reads every run back and finds the same numbers.
    again = analyse(run_study(GRID, data, tmp_path, hidden=(8,), progress=False))
    assert again["runs"]["trained"] == 0
    assert again["engine"] == out["engine"] and again["curve"] == out["curve"]


def test_the_engine_also_runs_the_best_one_core_batch_split_over_its_workers():
    from pdsgd.study.time_to_accuracy import engine_configs

    grid = ToTarget(workers=(1, 2, 4), micro_batches=(1, 16))
    own = [(1, 1), (2, 1), (4, 1), (1, 16), (2, 16), (4, 16)]
    assert engine_configs(grid, 16) == own + [(2, 8), (4, 4)]
    assert engine_configs(grid, 32) == own + [(4, 8)]  # 2 x 16 is the grid's own
    assert engine_configs(grid, 6) == own + [(2, 3)]  # 4 does not divide 6
    assert engine_configs(grid, 1) == own  # nothing to split


def test_the_goal_sentence_names_the_better_strategy_and_the_split_best_batch():
    from pdsgd.study.speedups import goal_sentence

    def row(strategy, b, speedup, hardware, split=False):
        return {"strategy": strategy, "workers": 2, "micro_batch": b, "speedup": speedup,
                "hardware": hardware, "splits_best": split}

    tt = {"engine": [row("data", 1, 0.3, 0.5), row("tensor", 1, 0.7, 1.3),
                     row("data", 8, 1.1, 1.1, True), row("tensor", 8, 1.25, 1.25, True)]}
    text = goal_sentence(tt)[0]
    assert "At N = 2, b = 1, the better strategy is **tensor**: it reaches the target 0.70x" in text
    assert ("At N = 2, b = 8 (the best one-core batch, 16, split in two), the better strategy "
            "is **tensor**: it reaches the target 1.25x") in text


@pytest.mark.parametrize("rule", ["fixed", "linear"])
@pytest.mark.parametrize("workers, strategy", [(1, None), (2, "tensor"), (2, "data")])
@pytest.mark.parametrize("batch, k, steps", [
    (4, 13, 39),  # an evaluation in the second epoch (120 samples an epoch, 12 a chunk)
    (16, 17, 17),  # in the third: each epoch ends in a short step of 8, two of them before
])
def test_a_replay_trains_the_same_steps_to_the_crossing_without_stopping(
        data, rule, workers, strategy, batch, k, steps, monkeypatch):
    from pdsgd.engine.sequential import SequentialRunner
    from pdsgd.mlp import MLP

    seen = to_target.measure(data, 2.0, batch=batch, rule=rule, eval_every=12, max_epochs=3,
                             hidden=(8,))["history"]
    calls, evaluations = [], []
    real_epoch, real_accuracy = SequentialRunner.run_epoch, MLP.accuracy
    monkeypatch.setattr(SequentialRunner, "run_epoch",
                        lambda self, part, lr, **kw: calls.append(len(part))
                        or real_epoch(self, part, lr, **kw))
    monkeypatch.setattr(MLP, "accuracy",
                        lambda self, X, y: evaluations.append(1) or real_accuracy(self, X, y))
    out = to_target.measure(data, 2.0, batch=batch, rule=rule, workers=workers,
                            strategy=strategy, backend="serial", eval_every=12, hidden=(8,),
                            replay=seen["samples"][k])
    # The same arithmetic to the same step: the accuracy the evaluated run saw there.
    assert out["accuracy"] == pytest.approx(seen["accuracy"][k], abs=1e-12)
    assert out["crossing"]["steps"] == seen["steps"][k] == steps
    assert out["crossing"]["samples"] == seen["samples"][k]
    assert len(evaluations) == 1  # once, after the clock stopped
    if strategy is None:  # stops only where an epoch ends or the warm-up changes the rate
        assert sum(calls) == seen["samples"][k]
        if rule == "fixed":
            assert calls == [120] * (len(calls) - 1) + [calls[-1]]
        else:  # the rate changes at every chunk of the warm-up (2,000 samples)
            assert len(calls) == k
