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
# --- what a careless user still tried: refused in one line, before any work --------

def refused_before_work(monkeypatch, capsys, argv):
    """Run ``pdsgd train argv``: assert exit 2, one line, and that no data were loaded."""
    import pdsgd.cli

    def no_work(*args, **kwargs):
        raise AssertionError("the data were loaded: the run was not refused before its work")

    monkeypatch.setattr(pdsgd.cli, "load_dataset", no_work)
    assert main(["train", *QUICK, *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("pdsgd: error: "), err
    return err


def test_a_name_too_long_for_the_file_system_is_refused(tmp_path, monkeypatch, capsys):
    long = "x" * 300
    err = refused_before_work(monkeypatch, capsys, ["--out", str(tmp_path / long)])
    assert "--out" in err and "300 characters long" in err
    err = refused_before_work(monkeypatch, capsys, ["--out", str(tmp_path / "run"),
                                                    "--checkpoint", str(tmp_path / long),
                                                    "--checkpoint-every", "10"])
    assert "--checkpoint" in err and "300 characters long" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("link", ["dangling", "looping"])
def test_a_symbolic_link_to_nowhere_as_out_is_refused(tmp_path, monkeypatch, capsys, link):
    out = tmp_path / "out"
    out.symlink_to(tmp_path / "missing" if link == "dangling" else out)
    err = refused_before_work(monkeypatch, capsys, ["--out", str(out / "run")])
    assert f"{out} is a symbolic link that leads nowhere" in err


def test_a_learning_rate_no_network_can_take_is_refused(monkeypatch, capsys, tmp_path):
    for dtype in ("float64", "float32"):
        err = refused_before_work(monkeypatch, capsys, ["--out", str(tmp_path / "run"),
                                                        "--lr", "1e300", "--dtype", dtype])
        assert "--lr 1e+300 is too large" in err
    assert not (tmp_path / "run").exists()


def test_a_huge_output_layer_names_output_nodes(monkeypatch, capsys, tmp_path):
    err = refused_before_work(monkeypatch, capsys, ["--out", str(tmp_path / "run"),
                                                    "--output-nodes", str(10**18)])
    assert err.startswith(f"pdsgd: error: --output-nodes {10**18} makes a network of"), err


TRAIN = [sys.executable, "-m", "pdsgd", "train", *QUICK]


def test_a_reader_that_left_is_not_an_error(tmp_path):
    proc = subprocess.Popen([*TRAIN, "--out", str(tmp_path / "run")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # `pdsgd train ... | true`
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 0 and err == ""
    assert MLP.load(tmp_path / "run" / "model.npz").sizes == (784, 8, 10)


def test_a_full_stdout_is_one_line_and_the_model_is_kept(tmp_path):
    with open("/dev/full", "w") as full:
        done = subprocess.run([*TRAIN, "--out", str(tmp_path / "run")], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == ("pdsgd: error: could not write to stdout (No space left "
                                   f"on device); the model and metrics were saved in "
                                   f"{tmp_path / 'run'}")
    assert (tmp_path / "run" / "model.npz").is_file()
