"""The command line: a working run, and one-line errors with exit code 2 for bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest

from pdsgd.cli import main
from pdsgd.mlp import MLP

QUICK = ["--dataset", "synthetic", "--train-size", "200", "--hidden", "8", "--epochs", "1",
         "--quiet"]


def test_train_writes_model_metrics_and_a_summary(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *QUICK, "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "model.npz"]
    model = MLP.load(out / "model.npz")
    assert model.sizes == (784, 8, 10)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["epochs"] == 1 and len(metrics["history"]["loss"]) == 1
    assert "test accuracy" in capsys.readouterr().out


@pytest.mark.parametrize("args,message", [
    (["--hidden", "0"], "--hidden"),
    (["--hidden", "200,-5"], "--hidden"),
    (["--workers", "0"], "--workers"),
    (["--epochs", "-1"], "--epochs"),
    (["--lr", "0"], "--lr"),
    (["--input-nodes", "100"], "--input-nodes 100 does not match"),
    (["--dataset", "mnist-5k", "--output-nodes", "3"], "label"),
    (["--dataset", "mnist-5k", "--train-size", "4001"], "--train-size 4001"),
    (["--dataset", "cifar"], "--dataset"),
])
def test_bad_arguments_give_one_line_exit_2_and_write_nothing(tmp_path, capsys, args, message):
    out = tmp_path / "run"
    argv = ["train", *QUICK, "--out", str(out), *args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not out.exists()


def test_unwritable_out_is_refused_before_training(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert main(["train", *QUICK, "--out", str(blocker / "run")]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "writable" in err and len(err.strip().splitlines()) == 1


def test_python_dash_m_and_help():
    done = subprocess.run([sys.executable, "-m", "pdsgd", "train", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for flag in ("--input-nodes", "--hidden", "--output-nodes", "--workers", "--train-size",
                 "--data", "--out", "--dataset", "--epochs", "--lr", "--seed", "--dtype"):
        assert flag in done.stdout
    bad = subprocess.run([sys.executable, "-m", "pdsgd", "train", "--workers", "x"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_bench_sequential_prints_pdsgd_beside_the_naive_loop(capsys):
    assert main(["bench", "sequential", "--samples", "30", "--repeats", "1"]) == 0
    table = capsys.readouterr().out
    assert "naive NumPy loop" in table and "pdsgd step_one" in table


def test_naive_loop_computes_the_same_step_as_the_network():
    from pdsgd.study.sequential_paths import naive_step

    rng = np.random.default_rng(0)
    model = MLP((12, 7, 3), seed=1)
    for b in model.biases:
        b[:] = rng.normal(size=b.shape)
    ws, bs = [w.copy() for w in model.weights], [b.copy() for b in model.biases]
    x, t = rng.random(12), rng.random(3)
    naive_step(ws, bs, x, t, 0.2)
    model.step_one(x, t, 0.2)
    for w, w_naive in zip(model.weights, ws):
        assert np.allclose(w, w_naive, rtol=1e-12, atol=1e-14)


def test_the_benchmarks_share_one_wording_of_their_common_options():
    import argparse

    from pdsgd.bench import dask, neighbours, sequential, sync
    from pdsgd.bench.common import SHARED

    helps = {}
    for module in (dask, neighbours, sequential, sync):
        sub = argparse.ArgumentParser().add_subparsers()
        module.add_parser(sub)
        (parser,) = sub.choices.values()
        for action in parser._actions:
            name = action.dest
            if name in SHARED:
                helps.setdefault(name, set()).add(action.help.split(" (default")[0]
                                                  .removesuffix(", comma-separated"))
    assert {"dataset", "samples", "repeats", "micro_batch"} <= set(helps)
    assert all(len(texts) == 1 for texts in helps.values()), helps
