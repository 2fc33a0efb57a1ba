"""The two speedups of ``make reproduce``: the seed's S and the hardware speedup (batch N b).

A tiny synthetic profile on the serial backend: only counts, equalities and
wording are asserted, never a timing.
"""

import pytest

from pdsgd.study import slices
from pdsgd.study.profiles import build_cells, tiny_profile
from pdsgd.study.reproduce import reproduce
from pdsgd.study.speedups import above_ideal, seed_s_above_n


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    return out, reproduce(out, tiny_profile(strategies=("data", "tensor"), batch_sweep=(1, 2)),
                          progress=False, formats=("png",))


def test_every_engine_cell_has_its_hardware_baseline_in_the_same_repeat():
    cells = build_cells(tiny_profile(strategies=("data", "tensor"), batch_sweep=(1, 2)), 120)
    hardware = set(cells["hardware"])
    engine = [c for c in cells["timing"] + cells["sweep"] if c.backend is not None]
    assert engine
    for c in engine:
        base = [h for h in hardware if h.train_size == c.train_size and h.repeat == c.repeat
                and h.micro_batch == c.workers * c.micro_batch]
        assert len(base) == 1 and base[0].backend is None and base[0].workers == 1


def test_the_hardware_speedup_is_the_sequential_run_at_n_b_over_the_engine(study):
    _, s = study
    seq = {(r["train_size"], r["micro_batch"]): r["seconds"]
           for r in s["timing"] + s["hardware_baselines"] if r["backend"] is None}
    engine = {(r["train_size"], r["micro_batch"], r["workers"], r["strategy"]): r
              for r in s["timing"] if r["backend"]}
    assert s["speedup"]
    for r in s["speedup"]:
        t = engine[(r["train_size"], r["micro_batch"], r["workers"], r["strategy"])]["seconds"]
        n_b = r["workers"] * r["micro_batch"]
        assert r["hardware_speedup"] == pytest.approx(seq[(r["train_size"], n_b)] / t)
        assert r["speedup"] == pytest.approx(seq[(r["train_size"], r["micro_batch"])] / t)
        assert r["hardware_speedup_lo"] <= r["hardware_speedup"] <= r["hardware_speedup_hi"]
        assert r["efficiency"] == pytest.approx(r["hardware_speedup"] / r["workers"])
    for r in s["sweep"]:  # the sweep's too
        assert "hardware_speedup" in r
    assert {c["measure"] for c in s["claims"]} == {"hardware_speedup"}
    assert {c["measure"] for c in s["curves"]} == {"hardware_speedup"}
    assert all("The seed's S (against the sequential run at b" in c["evidence"]
               for c in s["claims"])


def test_the_report_names_both_speedups(study):
    out, s = study
    report = (out / "REPORT.md").read_text()
    assert "| S (seq b) | hardware speedup (seq N b) |" in report
    assert "**The hardware speedup** = T_seq(N b) / T(N)" in report
    assert "The hardware speedup's baselines" in report
    assert "| data: S (range) | tensor: S (range) | data: hardware speedup (range) |" in report
    # The tensor cells with N > 1 had their slices measured, kept beside the cells.
    assert {(m["workers"], m["batch"]) for m in s["slices"]} >= {(2, 2)}
    m = s["slices"][0]
    assert (f"N = {m['workers']}, batch {m['batch']}: {m['slice_us']:.0f} us against "
            f"{m['whole_us']:.0f} us") in report


def _row(hw, strategy="tensor"):
    return {"train_size": 4000, "workers": 2, "micro_batch": 1, "strategy": strategy,
            "speedup": hw * 1.4, "hardware_speedup": hw}


def test_a_hardware_speedup_above_n_is_explained_from_the_slice_measurement():
    slices = [{"workers": 2, "batch": 2, "whole_us": 300.0, "slice_us": 120.0,
               "whole_kb": 1270.0, "slice_kb": 636.0, "advantage": 1.25}]
    text = above_ideal({"speedup": [_row(2.3), _row(1.5)], "slices": slices})
    assert len(text) == 1
    assert "hardware speedup 2.30 > N" in text[0]
    assert "300 us on the whole network and 120 us on one worker's slice" in text[0]
    assert "1.25x less" in text[0] and "cache" in text[0]
    # Without a measurement the report says so rather than guess.
    (bare,) = above_ideal({"speedup": [_row(2.3, "data")], "slices": slices})
    assert "No per-slice measurement" in bare
    assert above_ideal({"speedup": [_row(1.9)]}) == []


def test_the_seeds_s_above_n_is_explained_by_the_two_measured_baselines():
    """S / hardware speedup = T_seq(b) / T_seq(N b): the larger batch's gain on one core."""
    (text,) = seed_s_above_n({"speedup": [_row(1.5), _row(1.2)]})  # S 2.10 and 1.68
    assert "the seed's S 2.10 > N" in text
    assert "batch N b = 2 was 1.40x as fast as at b = 1" in text
    assert "S = hardware speedup 1.50 x 1.40" in text
    assert seed_s_above_n({"speedup": [_row(1.2)]}) == []
    # Without the hardware baseline there is no measurement to explain it from: no sentence.
    assert seed_s_above_n({"speedup": [{**_row(1.5), "hardware_speedup": None}]}) == []


def test_slice_timing_measures_the_slice_and_the_whole(tmp_path, monkeypatch):
    m = slices.slice_timing((20, 8, 3), 2, 4, repeats=2, steps=5)
    assert m["whole_us"] > 0 and m["slice_us"] > 0
    assert m["advantage"] == pytest.approx(m["whole_us"] / (2 * m["slice_us"]))
    assert m["slice_kb"] < m["whole_kb"]
    calls = []
    real = slices.slice_timing
    monkeypatch.setattr(slices, "slice_timing",
                        lambda *a, **k: calls.append(a) or real(*a, repeats=1, steps=2))
    path = tmp_path / "slices.json"
    first = slices.cached_slices([(2, 2), (2, 4)], (20, 8, 3), path)
    again = slices.cached_slices([(2, 4), (2, 2)], (20, 8, 3), path)
    assert len(calls) == 2 and [r["batch"] for r in again] == [4, 2]
    assert again[1] == first[0]
    slices.cached_slices([(2, 2)], (20, 6, 3), path)  # other sizes: measured again
    assert len(calls) == 3


TO_TARGET = {
    "target": 0.88,
    "curve": [{"batch": b, "reached": e is not None, "rules": {"fixed": e, "linear": e},
               **({"rule": "linear", "lr": 0.1 * b, "samples": e, "steps": e / b,
                   "seconds": e * 1e-5, "b_simple": 100.0} if e else {})}
              for b, e in ((1, 8000.0), (4, 8500.0), (16, 12000.0), (64, None))],
    "critical": {"b_crit": 20.0, "e_min": 7800.0, "s_min": 390.0},
    "noise": {"b_simple": 150.0, "batch": 4, "min": 100.0, "max": 200.0},
    "best": {"batch": 4, "rule": "linear", "lr": 0.4, "seconds": 0.5, "samples": 8500.0},
    "engine": [{"strategy": s, "workers": 2, "micro_batch": 1, "speedup": v, "hardware": h}
               for s, v, h in (("data", 0.6, 1.1), ("tensor", 0.9, 1.6))],
}


def test_the_batch_size_figure_draws_the_curve_it_is_given():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from pdsgd import plots

    fig = plots.plot_batch_size(TO_TARGET)
    FigureCanvasAgg(fig).draw()
    by_samples, by_steps = fig.axes[:2]
    best = [ln for ln in by_samples.get_lines() if ln.get_label() == "best rule per B"][0]
    assert list(best.get_xdata()) == [1, 4, 16] and list(best.get_ydata()) == [8000, 8500, 12000]
    steps = [ln for ln in by_steps.get_lines() if ln.get_label() == "best rule per B"][0]
    assert list(steps.get_ydata()) == [8000, 8500 / 4, 12000 / 16]
    labels = [t.get_text() for ax in fig.axes for t in ax.get_xticklabels() + ax.get_yticklabels()]
    assert not any(m in t for t in labels for m in ("$", "^", "e-0", "e+0"))
    assert any("B_crit = 20" in t.get_text() for t in fig.legends[0].get_texts()) if fig.legends \
        else any("B_crit = 20" in ln.get_label() for ln in by_samples.get_lines())

    bars = plots.plot_time_to_accuracy(TO_TARGET)
    heights = [p.get_height() for p in bars.axes[0].patches]
    assert heights == [0.6, 0.9, 1.1, 1.6]


def test_the_time_to_accuracy_grid_follows_the_grid_set_by_the_user():
    from pdsgd.study.grid import customize
    from pdsgd.study.profiles import PROFILES
    from pdsgd.study.reproduce import to_target_grid

    grid, p = to_target_grid(PROFILES["quick"], 4000)
    assert p == 4000 and grid.workers == (1, 2, 4) and grid.micro_batches == (1, 16)
    shrunk = customize(PROFILES["full"], dataset="fashion-mnist", train_sizes=(300, 600),
                       workers=(2,), repeats=1, backend="threads", parallel=("tensor",))
    grid, p = to_target_grid(shrunk, 60_000)
    assert p == 600 and grid.workers == (2,) and grid.repeats == 1
    assert grid.backend == "threads" and grid.strategies == ("tensor",)


def test_where_each_split_wins_is_judged_on_the_hardware_speedup():
    from pdsgd.study.splits import where_each_wins

    def row(strategy, s, hw):
        return {"strategy": strategy, "micro_batch": 4, "workers": 2, "speedup": s,
                "speedup_lo": s - 0.1, "speedup_hi": s + 0.1, "hardware_speedup": hw,
                "hardware_speedup_lo": hw - 0.05, "hardware_speedup_hi": hw + 0.05}

    # S and the hardware speedup disagree on purpose: the sentence follows the hardware one.
    rows = [row("data", 1.2, 1.3), row("tensor", 1.6, 0.9)]
    (text,) = where_each_wins(rows)
    assert text == ("b = 4: data parallelism 1.30 (hardware speedup) against tensor 0.90: it "
                    "wins in every repeat; data parallelism beats sequential minibatch SGD at "
                    "batch N b = 8 in every repeat.")
    for r in rows:  # a study without the hardware baseline: the seed's S, against b
        del r["hardware_speedup"]
    (text,) = where_each_wins(rows)
    assert text.startswith("b = 4: tensor parallelism 1.60 (S) against data 1.20: it wins")
    assert text.endswith("beats the sequential run at b = 4 in every repeat.")
