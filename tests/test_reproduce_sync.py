"""``make reproduce``'s synchronization section: its cells, its numbers, its prose and figures."""

import hashlib
import json
from dataclasses import asdict, replace

import pytest

from pdsgd import __version__
from pdsgd.data.datasets import load_dataset
from pdsgd.machine import machine_key
from pdsgd.study import experiment
from pdsgd.study.experiment import CACHE_VERSION, SEED_SETTINGS, STRATEGIES, Cell, cell_key
from pdsgd.study.profiles import PROFILES, build_cells, tiny_profile
from pdsgd.study.reproduce import reproduce
from pdsgd.study.sync_report import SyncGrid, group_findings, name, sync_cells, target_sentence
from pdsgd.study.sync_sweep import SETTINGS
from pdsgd.train import train

GRID = SyncGrid(settings=("ssp:1", "async", "hogwild"), train_size=60)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("sync")
    calls = []

    def counted(*args, **kwargs):
        calls.append(kwargs)
        return experiment.train(*args, **kwargs)

    first = reproduce(out, tiny_profile(backend="threads", sync=GRID), progress=False,
                      train_fn=counted, formats=("png",))
    report = (out / "REPORT.md").read_text()
    return first, report, out, calls


def test_the_grid_is_measured_in_interleaved_rounds_with_its_options(study):
    first, _, _, calls = study
    rows = first["sync"]["rows"]
    assert [(r["setting"], r["straggler_factor"]) for r in rows] == [
        (s, f) for f in (1.0, 2.0) for s in ("bsp", "ssp:1", "async", "hogwild")]
    for r in rows:
        assert len(r["rates"]) == 2 and r["samples_per_s"] > 0 and 0 <= r["test_accuracy"] <= 1
        # One gradient per sample (b = 1) in each of the two rounds.
        assert sum(r["staleness"]["count"]) == 2 * 60
    bsp = [r for r in rows if r["setting"] == "bsp"]
    assert all(r["staleness_max"] == 0 and r["vs_bsp"] == 1.0 for r in bsp)
    # What each setting asked the engine for: its sync option, and a straggler when slowed.
    sync_calls = [c for c in calls if c.get("sync") or c.get("straggler_factor")]
    assert {(c.get("sync", "bsp"), c.get("staleness"), c.get("straggler"),
             c.get("straggler_factor")) for c in sync_calls} == {
        ("ssp", 1, None, None), ("async", None, None, None), ("hogwild", None, None, None),
        ("bsp", None, 1, 2.0), ("ssp", 1, 1, 2.0), ("async", None, 1, 2.0),
        ("hogwild", None, 1, 2.0)}


#: How far a sync cell's samples/s may stray from the sequential run's of the same study
#: before it is taken for a wrong number: N workers are at most N times as fast (x 10 for
#: a shared machine), and on this 20-8-10 network the engine's barrier costs far more than
#: a sample's arithmetic, so a run may be two orders of magnitude slower; a wrong unit
#: (milliseconds for seconds) is three.
FASTER, SLOWER = 10, 1000


def test_the_rows_are_the_records_numbers_and_bsp_learns_what_sequential_sgd_learns(study):
    first, _, out, _ = study
    records = [json.loads(p.read_text()) for p in (out / ".cache").glob("*.json")]
    timing = {(r["train_size"], r["workers"], r["micro_batch"], r["backend"]): r
              for r in first["timing"] if r["strategy"] == "data"}
    sequential = timing[(60, 1, 1, None)]
    data = load_dataset("synthetic", **tiny_profile().data_options)
    n_test = len(data.X_test)
    # BSP computes sequential minibatch SGD with batch N x b = 2, straggler or not.
    minibatch = train(data, epochs=1, micro_batch=2, train_size=60,
                      **{**SEED_SETTINGS, **tiny_profile().settings})
    for r in first["sync"]["rows"]:
        cell = dict(train_size=60, workers=r["workers"], micro_batch=r["micro_batch"],
                    straggler_factor=r["straggler_factor"], sync=r["setting"],
                    backend="threads", keep_trace=False)
        runs = sorted((rec for rec in records
                       if all(rec["cell"][k] == v for k, v in cell.items())),
                      key=lambda rec: rec["cell"]["repeat"])
        assert [rec["cell"]["repeat"] for rec in runs] == [0, 1]
        # Each round's rate is its record's samples over its record's seconds, in order.
        assert r["rates"] == pytest.approx([60 * rec["cell"]["epochs"] / rec["seconds"]
                                            for rec in runs], rel=1e-12)
        assert r["accuracies"] == [rec["test_accuracy"] for rec in runs]
        seq = sequential["samples_per_second"]
        assert all(seq / SLOWER < rate < FASTER * r["workers"] * seq for rate in r["rates"]), (
            r["setting"], r["rates"], seq)
        if r["setting"] == "bsp":
            for accuracy in r["accuracies"]:
                assert abs(accuracy - minibatch.test_accuracy) <= 1 / n_test
    # BSP without a straggler is a timing cell of the study: one measurement, one number.
    bsp = next(r for r in first["sync"]["rows"]
               if r["setting"] == "bsp" and r["straggler_factor"] == 1)
    same = timing[(60, 2, 1, "threads")]
    assert same["repeats"] == 2 and sorted(bsp["rates"]) == pytest.approx(
        [60 / same["seconds_max"], 60 / same["seconds_min"]], rel=1e-12)
    assert bsp["test_accuracy"] == same["test_accuracy"]


def test_the_report_section_states_the_measured_numbers(study):
    first, report, out, _ = study
    section = report.split("## Without the barrier")[1].split("\n## ")[0]
    assert "![sync trade-off](sync_tradeoff.png)" in section
    assert (out / "sync_tradeoff.png").stat().st_size > 10_000
    assert (out / "sync_staleness.png").stat().st_size > 10_000
    rows = first["sync"]["rows"]
    table = [line for line in section.splitlines() if line.startswith("| 2 | 1 |")]
    assert len(table) == len(rows)
    for line, r in zip(table, rows, strict=True):
        assert f"| {name(r['setting'])} | {r['samples_per_s']:,.0f} |" in line
        assert f"| {r['test_accuracy']:.4f} |" in line and f"{r['vs_bsp']:.2f}x" in line
    bsp = {r["straggler_factor"]: r for r in rows if r["setting"] == "bsp"}
    assert f"BSP ran {bsp[1.0]['samples_per_s']:,.0f} samples/s" in section
    slowdown = bsp[2.0]["samples_per_s"] / bsp[1.0]["samples_per_s"]
    assert f"{slowdown:.2f}x its rate without the straggler" in section
    assert "Ho et al. 2013" in section and "Recht et al. 2011" in section


def test_a_second_run_reads_every_cell_from_the_cache_and_says_the_same(study, tmp_path):
    first, report, out, _ = study
    calls = []

    def counted(*args, **kwargs):
        calls.append(1)
        return experiment.train(*args, **kwargs)

    again = reproduce(out, tiny_profile(backend="threads", sync=GRID), progress=False,
                      train_fn=counted, formats=("png",))
    assert calls == [] and again["sync"] == first["sync"]
    section = report.split("## Without the barrier")[1]
    assert section == (out / "REPORT.md").read_text().split("## Without the barrier")[1]


def test_bsp_cells_keep_the_keys_they_had_before_the_sync_fields():
    cell = Cell(train_size=100, workers=2, backend="processes")
    fields = {k: v for k, v in asdict(cell).items() if k not in ("sync", "straggler_factor")}
    blob = json.dumps({"cell": fields, "strategy": STRATEGIES["data"], "data": {"d": 1},
                       "settings": {"s": 1}, "cache_version": CACHE_VERSION,
                       "pdsgd": __version__, "machine": machine_key()},
                      sort_keys=True, default=str)
    assert cell_key(cell, {"d": 1}, {"s": 1}) == hashlib.sha256(blob.encode()).hexdigest()[:16]
    keys = {cell_key(c, {"d": 1}, {"s": 1}) for c in (
        cell, replace(cell, sync="ssp:4"), replace(cell, straggler_factor=2.0))}
    assert len(keys) == 3
    assert replace(cell, sync="ssp:4", straggler_factor=2.0).label() == (
        "P100-N2-processes-b1-ssp4-slow2x-fixed-e5-r0")


def test_the_profiles_grids_and_what_they_share_with_the_timing_cells():
    quick = build_cells(PROFILES["quick"], 4000)
    assert len(quick["sync"]) == len(SETTINGS) * 2 * PROFILES["quick"].repeats
    assert {c.train_size for c in quick["sync"]} == {4000}
    # BSP without a straggler at N = 2, b = 1 is a timing cell: measured once.
    shared = set(quick["sync"]) & set(quick["timing"])
    assert shared == {c for c in quick["sync"] if c.sync == "bsp" and c.straggler_factor == 1}
    full = build_cells(PROFILES["full"], 60_000)
    # N = 2, 4 x b = 1, 16 x two stragglers, in rounds of its own (the profile is near its budget).
    assert len(full["sync"]) == len(SETTINGS) * 2 * 2 * 2 * PROFILES["full"].sync.repeats
    assert {c.repeat for c in full["sync"]} == set(range(PROFILES["full"].sync.repeats))
    # Hogwild! needs workers that share memory: no sync cells on serial (the section says so
    # by its absence), nor without a grid.
    assert sync_cells(GRID, (60,), 60, "serial", 2) == []
    assert sync_cells(None, (60,), 60, "threads", 2) == []
    assert build_cells(tiny_profile(), 120)["sync"] == []


def _row(setting, rate, acc, beats, factor=2.0, bound=None, mean=0.0, top=0):
    return {"setting": setting, "sync": setting.split(":")[0], "staleness_bound": bound,
            "workers": 2, "micro_batch": 1, "straggler_factor": factor, "samples_per_s": rate,
            "rates": [rate * 0.9, rate * 1.1], "vs_bsp": rate / 1000, "test_accuracy": acc,
            "accuracy_vs_bsp": 100 * (acc - 0.8), "staleness_mean": mean, "staleness_max": top,
            "beats_bsp": beats, "wait_share": None}


def test_the_prose_follows_the_numbers_whichever_way_they_go():
    slower = [_row("bsp", 1000, 0.8, False), _row("ssp:4", 900, 0.79, False, bound=4,
                                                   mean=0.5, top=4)]
    text = group_findings((2, 1, 2.0), slower)
    assert "none was faster than BSP in every round" in text
    assert "The fastest setting was SSP s = 4, 0.90x" in text
    assert "from 0.7900 (SSP s = 4) to 0.8000 (BSP)" in text
    assert "SSP s = 4: mean 0.50, max 4" in text
    assert target_sentence(slower).endswith("less than 1.3x the rate, within 1 point of the "
                                            "accuracy.")
    faster = [_row("bsp", 1000, 0.8, False), _row("ssp:4", 1500, 0.8, True, bound=4)]
    text = group_findings((2, 1, 2.0), faster)
    assert "faster than BSP in every round: SSP s = 4." in text
    assert "every setting reached the same test accuracy, 0.8000" in text
    assert target_sentence(faster).endswith("the trade SSP promises.")
    assert target_sentence([_row("bsp", 1000, 0.8, False)]) is None


def test_the_report_says_which_ratio_is_which_and_names_where_they_part():
    from pdsgd.study.sync_report import ratio_note

    # SSP s = 1 beat BSP in the same rounds (a median 1.15x), though its median rate is lower:
    # the rounds' speeds swung. The note must give both numbers and say which is which.
    swung = [_row("bsp", 10219, 0.8, False), {**_row("ssp:1", 6008, 0.8, False, bound=1),
                                              "vs_bsp": 1.15}]
    text = ratio_note(swung)
    assert "median of a setting's rates" in text and "same round" in text
    assert text.endswith("They differ most for SSP s = 1 at N = 2, b = 1, worker N-1 2x "
                         "slower: its median rate is 0.59x BSP's median rate, its median "
                         "same-round ratio 1.15x.")
    steady = [_row("bsp", 1000, 0.8, False), _row("ssp:1", 1050, 0.8, True, bound=1)]
    assert ratio_note(steady).endswith("Here the two agree within 10% in every row.")
