"""``pdsgd bench to-target``: the best one-core batch split over N, against that one core."""

import json

import pytest

from pdsgd.cli import main


def test_the_best_one_core_batch_is_split_over_the_workers_and_timed_beside_it(capsys,
                                                                                 tmp_path):
    out = tmp_path / "tt.json"
    code = main(["bench", "to-target", "--dataset", "synthetic", "--train-size", "300",
                 "--target", "0.6", "--batches", "2,4", "--rules", "fixed,linear",
                 "--workers", "2,3", "--repeats", "2", "--json", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    best = result["best"]
    assert best["batch"] in (2, 4)
    rows = {(r["workers"], r["strategy"]): r for r in result["rows"]}
    assert set(rows) == {(n, s) for n in (2, 3) for s in ("tensor", "data")}
    for s in ("tensor", "data"):
        r = rows[2, s]
        # The same batch and rule as the best one-core run: the same arithmetic, so the
        # same crossing of the target, and a speedup that is the rounds' median.
        assert r["micro_batch"] * 2 == best["batch"]
        assert r["samples"] == best["samples"] and r["repeats"] == 2
        lo, hi = r["range"]
        assert lo <= r["time_to_accuracy"] <= hi
        assert rows[3, s]["micro_batch"] is None  # 3 does not divide 2 or 4
    text = capsys.readouterr().out
    assert f"Best one-core configuration: batch {best['batch']}, rule {best['rule']}" in text
    assert "N does not divide the best batch: not run" in text


@pytest.mark.parametrize("flag,value", [("--target", "1.5"), ("--strategies", "pipeline"),
                                        ("--rules", "cubic")])
def test_bad_options_are_one_line(capsys, flag, value):
    assert main(["bench", "to-target", flag, value]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and flag in err, err
