"""SSP and async SGD: their semantics, the serial oracle, the staleness records, the options."""

import numpy as np
import pytest
from engine_helpers import problem, reference

from pdsgd.cli import build_parser, engine_options, main
from pdsgd.engine.broker import Broker
from pdsgd.engine.shuffle import epoch_order
from pdsgd.engine.strategies.schedule import simulate
from pdsgd.engine.sync import UPDATE_DTYPE, histogram, iteration_lag, ssp_violations, staleness
from pdsgd.errors import OptionError
from pdsgd.mlp import MLP
from pdsgd.spec import EngineSpec


def run(sizes, X, T, workers, micro_batch, lr=0.5, epochs=2, seed=3, **options):
    """Train with the Broker; return the weights and the applied-gradient records."""
    model = MLP(sizes, seed=seed)
    with Broker(model, X, T, workers=workers, micro_batch=micro_batch, **options) as broker:
        for epoch in range(epochs):
            broker.run_epoch(epoch_order(len(X), 0, epoch), lr)
    return model.params, broker.updates


@pytest.mark.parametrize("backend", ["serial", "threads", "processes"])
@pytest.mark.parametrize("sizes,workers,micro_batch", [((6, 5, 3), 2, 1), ((6, 5, 3), 3, 2),
                                                        ((6, 8, 4, 3), 4, 3)])
def test_ssp_with_bound_0_is_bsp(backend, sizes, workers, micro_batch):
    X, T = problem(n=37)  # a partial last iteration in every setting
    expected = reference(sizes, X, T, workers * micro_batch, epochs=2)
    bsp, _ = run(sizes, X, T, workers, micro_batch, backend="serial", span=5)
    ssp, updates = run(sizes, X, T, workers, micro_batch, backend=backend, span=5, sync="ssp",
                       staleness=0, straggler=workers - 1, straggler_factor=2.0)
    assert not np.array_equal(expected, MLP(sizes, seed=3).params)  # it did train
    np.testing.assert_allclose(ssp, expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ssp, bsp, rtol=1e-12, atol=1e-14)
    # One gradient per block of b samples, each read with every earlier iteration in.
    assert len(updates) == 2 * -(-37 // micro_batch)
    assert np.all(iteration_lag(updates) == 0) and not ssp_violations(updates, 0).any()


@pytest.mark.parametrize("backend", ["serial", "threads", "processes"])
@pytest.mark.parametrize("micro_batch", [1, 3])
def test_async_with_one_worker_is_sequential_sgd(backend, micro_batch):
    X, T = problem(n=37)
    got, updates = run((6, 5, 3), X, T, 1, micro_batch, backend=backend, sync="async", span=4)
    expected = reference((6, 5, 3), X, T, micro_batch, epochs=2)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
    assert np.all(staleness(updates) == 0)


def test_the_serial_simulation_is_deterministic_for_a_seed():
    from pdsgd.data.datasets import load_dataset
    from pdsgd.train import train

    data = load_dataset("synthetic", train_size=120, test_size=20, synthetic_features=8,
                        n_classes=3)
    kwargs = dict(hidden=(5,), epochs=2, lr=0.5, workers=3, backend="serial", sync="ssp",
                  staleness=2, straggler=0, straggler_factor=3.0, span=7)
    first, again = train(data, **kwargs), train(data, **kwargs)
    assert np.array_equal(first.model.params, again.model.params)
    assert np.array_equal(first.updates, again.updates)
    other = train(data, **{**kwargs, "seed": 1})
    assert not np.array_equal(np.sort(first.updates, order=["iteration", "block"])["read"],
                              np.sort(other.updates, order=["iteration", "block"])["read"])
    bsp = train(data, **{**kwargs, "sync": "bsp", "staleness": None})
    assert not np.allclose(first.model.params, bsp.model.params)  # stale gradients count
    # The straggler (worker 0, 3x slower) lands fewer gradients, each staler.
    counts = np.bincount(first.updates["worker"])
    assert counts[0] < counts[1] and counts[0] < counts[2]
    stale = staleness(first.updates)
    assert stale[first.updates["worker"] == 0].mean() > stale[first.updates["worker"] != 0].mean()
    assert first.staleness.tolist() == stale.tolist() and bsp.staleness.max() == 0


@pytest.mark.parametrize("bound", [0, 1, 3])
def test_simulated_schedules_keep_the_bound_and_async_does_not(bound):
    X, T = problem(n=90)
    _, ssp = run((6, 5, 3), X, T, 3, 1, backend="serial", sync="ssp", staleness=bound,
                 straggler=1, straggler_factor=4.0, span=11)
    assert not ssp_violations(ssp, bound).any()
    assert iteration_lag(ssp).max() == bound  # the fast workers did run ahead, up to s
    _, asynchronous = run((6, 5, 3), X, T, 3, 1, backend="serial", sync="async",
                          straggler=1, straggler_factor=4.0, span=11)
    assert ssp_violations(asynchronous, bound).any()


def test_simulate_on_a_clock_that_can_be_checked_by_hand():
    # Two workers, worker 1 three times slower, four blocks of iterations 0, 0, 1, 1.
    iterations = np.array([0, 0, 1, 1])
    durations = np.array([[1.0] * 4, [3.0] * 4])
    # async: worker 0 lands blocks 0, 2 and 3 at times 1, 2 and 3, worker 1 block 1 at
    # time 3 (a tie goes to the lower worker), computed from the weights of time 0.
    assert simulate(iterations, 2, None, durations).tolist() == [
        [0, 0, 0], [0, 2, 1], [0, 3, 2], [1, 1, 0]]
    # s = 0: BSP; each iteration's blocks are read at the same version.
    assert simulate(iterations, 2, 0, durations).tolist() == [
        [0, 0, 0], [1, 1, 0], [0, 2, 2], [1, 3, 2]]


def test_lag_and_violations_on_records_written_by_hand():
    # Three gradients of iteration 0, then one of iteration 2 read before one of 0 landed.
    rows = [(0, 0, 0, 0, 0), (1, 0, 1, 0, 1), (0, 2, 0, 2, 2), (2, 0, 2, 0, 3)]
    updates = np.array(rows, UPDATE_DTYPE)
    assert staleness(updates).tolist() == [0, 1, 0, 3]
    assert iteration_lag(updates).tolist() == [0, 0, 2, 0]
    assert ssp_violations(updates, 2).tolist() == [False] * 4
    assert ssp_violations(updates, 1).tolist() == [False, False, True, False]
    # Weights read for iteration 0 that already hold an iteration-1 update break s = 1.
    ahead = np.array([(0, 1, 0, 0, 0), (1, 0, 0, 1, 1)], UPDATE_DTYPE)
    assert ssp_violations(ahead, 1).tolist() == [False, True]
    assert histogram([0, 2, 2]) == {"staleness": [0, 1, 2], "count": [1, 0, 2]}


def test_a_resumed_simulation_ends_with_the_uninterrupted_weights(tmp_path):
    from pdsgd.data.datasets import load_dataset
    from pdsgd.train import train

    data = load_dataset("synthetic", train_size=60, test_size=20, synthetic_features=8,
                        n_classes=3)
    kwargs = dict(hidden=(5,), lr=0.5, workers=2, backend="serial", sync="async",
                  checkpoint_every=4)
    whole = train(data, epochs=2, checkpoint=tmp_path / "a.npz", **kwargs)
    train(data, epochs=1, checkpoint=tmp_path / "b.npz", **kwargs)
    resumed = train(data, epochs=2, checkpoint=tmp_path / "c.npz", resume=tmp_path / "b.npz",
                    **kwargs)
    assert np.array_equal(whole.model.params, resumed.model.params)


@pytest.mark.parametrize("options,message", [
    (dict(sync="ssp", workers=2), "sync='ssp' needs a bound: give staleness=S (0 is BSP)"),
    (dict(sync="async", staleness=3, workers=2), "staleness=3 applies to sync=ssp only"),
    (dict(sync="ssp", staleness=-1, workers=2), "staleness=-1 must be an integer >= 0"),
    (dict(sync="async", workers=2, backend="dask"), "sync='async' runs on backend=serial or "
                                                    "threads or processes only (not dask)"),
    (dict(sync="hogwild", workers=2, backend="serial"), "sync='hogwild' runs on "
                                                        "backend=threads or processes only"),
    (dict(sync="async", workers=2, algorithm="average"), "algorithm='average' applies to "
                                                         "sync=bsp only"),
    (dict(sync="async", workers=2, send="gradients"), "send='gradients' applies to sync=bsp"),
    (dict(sync="async", workers=2, aggregate="central"), "aggregate='central' applies to "
                                                         "sync=bsp only"),
    (dict(sync="hogwild", workers=2, aggregate="replicated"), "has no aggregation"),
    (dict(sync="barrier", workers=2), "sync='barrier' is unknown"),
    (dict(straggler_factor=2.0, workers=2), "straggler_factor=2.0 needs straggler="),
    (dict(straggler=0, straggler_factor=0.5, workers=2), "must be a number >= 1"),
])
def test_unsupported_combinations_are_refused_in_one_line(options, message):
    with pytest.raises(OptionError) as info:
        EngineSpec(**options)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_the_cli_flags_reach_the_spec_and_errors_read_as_flags(tmp_path, capsys):
    args = build_parser().parse_args(["train", "--workers", "2", "--sync", "ssp",
                                      "--staleness", "4"])
    spec = EngineSpec(**engine_options(args))
    assert (spec.sync, spec.staleness, spec.aggregate) == ("ssp", 4, "replicated")
    assert spec.strategy.bounded and EngineSpec(workers=2).sync == "bsp"
    assert EngineSpec(sync="async").backend == "processes"  # one async worker: the engine
    out = tmp_path / "run"
    argv = ["train", "--dataset", "synthetic", "--epochs", "1", "--quiet", "--out", str(out),
            "--workers", "2", "--sync", "async", "--backend", "dask"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "--sync async runs on --backend serial or threads or processes only" in err, err
    assert len(err.splitlines()) == 1 and not out.exists()
    argv[argv.index("dask")] = "serial"
    assert main(argv) == 0
    assert "async" in capsys.readouterr().out and (out / "metrics.json").exists()
