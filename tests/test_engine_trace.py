"""The trace: who computed, waited and aggregated when; and its timeline plot."""

import matplotlib
import numpy as np
import pytest
from engine_helpers import problem

from pdsgd.engine.broker import Broker
from pdsgd.engine.trace import AGGREGATE, AGGREGATOR, COMPUTE, WAIT, plot_timeline, summarize
from pdsgd.mlp import MLP

matplotlib.use("Agg")


def _trace(backend, aggregate, workers=2, n=20, **kw):
    X, T = problem(n=n)
    with Broker(MLP((6, 5, 3)), X, T, workers=workers, backend=backend, aggregate=aggregate,
                span=4, **kw) as broker:
        broker.run_epoch(np.arange(n), 0.1)
        broker.run_epoch(np.arange(n), 0.1)
        return broker.trace


@pytest.mark.parametrize("backend,aggregate", [("serial", "central"), ("threads", "central"),
                                               ("processes", "replicated"),
                                               ("processes", "central")])
def test_trace_has_every_phase_of_every_iteration(backend, aggregate):
    trace = _trace(backend, aggregate)
    iterations = 20  # two epochs of 10
    assert np.all(trace["start"] <= trace["end"]) and np.all(trace["start"] >= 0)
    for worker in (0, 1):
        rows = trace[trace["worker"] == worker]
        for phase in (COMPUTE,) + ((WAIT,) if backend != "serial" else ()):
            assert sorted(rows["iteration"][rows["phase"] == phase]) == list(range(iterations))
    agg = trace[trace["phase"] == AGGREGATE]
    if aggregate == "replicated":
        assert set(agg["worker"]) == {0, 1} and len(agg) == 2 * iterations
    else:
        assert set(agg["worker"]) == {AGGREGATOR} and len(agg) == iterations
        # BSP: the aggregator of iteration t starts after both workers computed t.
        comp = trace[trace["phase"] == COMPUTE]
        for row in agg[:5]:
            done = comp["end"][comp["iteration"] == row["iteration"]]
            assert row["start"] >= done.max()
    assert set(summarize(trace)) >= {0, 1}


def test_no_trace_when_turned_off():
    assert len(_trace("threads", "central", trace=False)) == 0


def test_plot_timeline_draws_one_row_per_worker_and_the_aggregator():
    ax = plot_timeline(_trace("serial", "central", workers=3))
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["worker 0", "worker 1", "worker 2", "aggregator"]
    assert len(ax.patches) > 0 and ax.get_legend() is not None
    ax = plot_timeline(_trace("serial", "central"), start=0.0, end=1e-3)
    assert ax.get_xlim() == (0.0, 1.0)  # in milliseconds since the window's start


@pytest.mark.parametrize("parallel", ["data", "tensor"])
def test_a_straggler_makes_the_others_wait_without_changing_the_weights(parallel):
    X, T = problem(n=12)
    params, waits = {}, {}
    for delay in (0.0, 0.02):
        model = MLP((6, 5, 3))
        with Broker(model, X, T, workers=2, backend="threads", parallel=parallel,
                    straggler=1, straggler_delay=delay) as broker:
            broker.run_epoch(np.arange(12), 0.1)
            waits[delay] = summarize(broker.trace)[0]["barrier wait"]
        params[delay] = model.params
    assert np.array_equal(params[0.0], params[0.02])
    assert waits[0.02] > 6 * 0.02 * 0.9  # worker 0 waited for worker 1 every iteration


def test_a_workers_iterations_never_overlap_whoever_computed_its_blocks():
    from pdsgd.engine.trace import from_times, in_turn, summarize

    times = np.zeros((2, 2, 3, 2))  # a worker and the aggregator, two iterations
    times[0, 0, 0] = 1.0, 2.0   # compute
    times[0, 0, 1] = 2.0, 5.0   # wait, ended by its host's crossing at 5
    times[0, 1, 0] = 4.5, 6.0   # the next block, on another host that crossed at 4.5
    times[0, 1, 1] = 6.0, 7.0
    turned = in_turn(times)
    np.testing.assert_array_equal(turned[0, 1, 0], [5.0, 6.0])  # starts where the last ended
    assert turned[0, 0, 2].tolist() == [0.0, 0.0]  # what was not recorded stays so
    np.testing.assert_array_equal(turned[0, 0], times[0, 0])
    spent = sum(summarize(from_times(times))[0].values())
    assert spent == pytest.approx(7.0 - 1.0)  # no more than the time that passed
