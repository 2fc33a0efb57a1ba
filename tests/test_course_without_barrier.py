"""Notebook 6's tools: the straggler panel's sync choice and staleness slider, driven as a
student would, and the helpers of :mod:`pdsgd.course.without_barrier`."""

import numpy as np
import pytest

from pdsgd import load_dataset
from pdsgd.course import widgets, without_barrier
from pdsgd.engine import trace as tr
from pdsgd.engine.strategies import SYNCS


@pytest.fixture(scope="module")
def data():
    return load_dataset("synthetic", train_size=400, test_size=100, seed=3)


def test_the_sync_choices_are_the_engines_and_the_slider_is_active_for_ssp_only():
    panel = widgets.StragglerPanel("synthetic")
    assert panel.sync.options == tuple(SYNCS) and panel.sync.value == "bsp"
    assert panel.staleness.disabled and "staleness" not in panel.options()
    panel.sync.value = "ssp"
    assert not panel.staleness.disabled
    panel.staleness.value = 7
    assert panel.options()["sync"] == "ssp" and panel.options()["staleness"] == 7
    for other in ("async", "hogwild", "bsp"):
        panel.sync.value = other
        assert panel.staleness.disabled and "staleness" not in panel.options()
    # Set at creation, in any order: the slider follows the choice.
    assert not widgets.StragglerPanel("synthetic", sync="ssp", staleness=2).staleness.disabled


def test_a_refusal_names_the_panels_controls(data):
    panel = widgets.StragglerPanel(data, train_size=100, sync="async", backend="threads")
    panel.staleness.disabled = False  # as a front end that ignored the disabled slider would
    panel.staleness.value = 4
    assert panel.run() is None
    assert panel.error == "staleness s = 4 applies to sync = ssp only"
    assert "refused" in panel.status.value and not panel.run_button.disabled
    assert panel.runs == []


def test_each_run_adds_a_row_and_a_histogram(data):
    panel = widgets.StragglerPanel(data, train_size=100, delay_ms=1.0, backend="threads",
                                   window=4)
    results = []
    for choice, s in (("bsp", None), ("ssp", 2), ("async", None), ("ssp", 2)):
        panel.sync.value = choice
        if s is not None:
            panel.staleness.value = s
        panel.run()
        assert panel.error is None, panel.error
        results.append(panel.result)
        # The timeline, each worker's totals, the staleness histograms of the runs so far.
        assert len(panel.figures) == 3
    assert [r["sync"] for r in panel.runs] == ["bsp", "ssp s=2", "async", "ssp s=2"]
    assert list(panel.histograms) == ["bsp", "async", "ssp s=2"]  # the latest last
    shown = [ax for ax in panel.figures[2].axes if ax.get_visible()]  # one panel a setting
    assert [ax.get_title().split(":")[0] for ax in shown] == ["bsp", "async", "ssp s=2"]
    bsp, ssp = panel.runs[0], panel.runs[1]
    assert bsp["staleness max"] == 0 and bsp["staleness mean"] == 0
    # Every setting that tells two runs apart is a column: N, P, backend, the straggler's delay.
    assert (bsp["N"], bsp["P"], bsp["backend"], bsp["delay ms"]) == (2, 100, "threads", 1.0)
    assert all(0 <= r["waiting"] <= 1 and r["samples/s"] > 0 for r in panel.runs)
    for r, result in zip(panel.runs, results, strict=True):
        # Waiting: the workers' barrier waits over their waits and computing, from the
        # run's own trace.
        t = result.trace
        party = t["worker"] != tr.AGGREGATOR
        seconds = t["end"] - t["start"]
        wait = seconds[party & (t["phase"] == tr.WAIT)].sum()
        compute = seconds[party & (t["phase"] == tr.COMPUTE)].sum()
        assert r["waiting"] == pytest.approx(wait / (wait + compute), rel=1e-9)
        if r["sync"] == "bsp":
            # Every one of BSP's P / (N b) iterations waits at the barrier for the
            # straggler, at least delay_ms longer each: the run cannot beat that (one
            # iteration of slack for where the clock starts).
            config = result.config
            its = -(-100 // (config["workers"] * config["micro_batch"]))
            assert r["samples/s"] <= 100 / ((its - 1) * 1e-3), (r["samples/s"], its)
    table = panel.messages.outputs[1]["data"]["text/html"]
    assert "ssp s=2" in table and "staleness max" in table and ssp["sync"] in table
    assert all(f"<th>{column}</th>" in table for column in ("N", "P", "backend", "delay ms"))
    assert "Where one iteration's time went" in "".join(
        o.get("text", "") for o in panel.messages.outputs)


def test_wait_share_is_the_red_against_the_blue():
    rows = np.zeros(4, tr.TRACE_DTYPE)
    rows["worker"] = [0, 0, 1, tr.AGGREGATOR]
    rows["phase"] = [tr.COMPUTE, tr.WAIT, tr.COMPUTE, tr.AGGREGATE]
    rows["end"] = [1.0, 3.0, 2.0, 5.0]  # durations 1, 3, 2 and 5 (the aggregator's: left out)
    assert without_barrier.wait_share(rows) == pytest.approx(3 / 6)
    assert without_barrier.setting_label({"sync": "ssp", "staleness": 3}) == "ssp s=3"
    assert without_barrier.setting_label({}) == "bsp"


def test_bsp_and_the_serial_simulation_are_reproducible_from_their_seed(data):
    assert without_barrier.reproducible(data, workers=2, backend="threads", train_size=100,
                                        epochs=1)
    assert without_barrier.reproducible(data, workers=2, backend="serial", train_size=100,
                                        epochs=1, sync="async", straggler=1,
                                        straggler_factor=2.0)


def test_the_sweep_is_bench_sync_on_loaded_data(data):
    result = without_barrier.sweep(data, train_size=60, repeats=2, settings=("ssp:1", "async"))
    rows = without_barrier.by_setting(result)
    assert list(rows) == ["bsp", "ssp:1", "async"] and result["train_size"] == 60
    assert all(r["straggler_factor"] == 2.0 and len(r["rates"]) == 2 for r in rows.values())
    assert sum(rows["async"]["staleness"]["count"]) == 2 * 60
    table = without_barrier.sweep_table(result)
    assert list(table.index) == ["bsp", "ssp:1", "async"] and table.loc["bsp", "vs BSP"] == 1
