"""Nothing is lost and nothing half written: full disks, damaged checkpoints, divergence.

A full disk is simulated (the real one is never filled): the function that
writes every file's bytes raises ``ENOSPC`` after writing half of them.
"""

import errno
import json
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from pdsgd import checkpoint as checkpoint_module
from pdsgd import files
from pdsgd.cli import main
from pdsgd.data.datasets import Dataset, load_dataset
from pdsgd.errors import OptionError, PdsgdError
from pdsgd.train import train

QUICK = ["train", "--dataset", "synthetic", "--train-size", "300", "--hidden", "8",
         "--epochs", "2", "--quiet"]


def fill_disk(monkeypatch, full=lambda path: True):
    """Make writes of the files for which ``full(path)`` fail with ENOSPC halfway."""
    real = files.write_bytes

    def write_bytes(path, data):
        if not full(Path(path)):
            return real(path, data)
        with open(path, "wb") as fh:
            fh.write(data[:len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(files, "write_bytes", write_bytes)
    monkeypatch.setattr(checkpoint_module, "write_bytes", write_bytes)


def one_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_a_full_disk_at_the_end_leaves_no_folder_and_says_where(tmp_path, capsys,
                                                                monkeypatch):
    out = tmp_path / "a" / "run"
    fill_disk(monkeypatch)
    assert main([*QUICK, "--out", str(out)]) == 2
    assert one_line(capsys) == (
        f"pdsgd: error: could not write the model and metrics into {out} (No space left on "
        "device); nothing was written there, and the trained model is only in memory")
    assert list(tmp_path.iterdir()) == []  # no run folder, no parent, no temporary file


def test_the_model_and_its_metrics_appear_together_or_not_at_all(tmp_path, monkeypatch):
    result = train("synthetic", train_size=300, hidden=(8,), epochs=1)
    fill_disk(monkeypatch, lambda path: "metrics" in path.name)
    with pytest.raises(PdsgdError, match="could not write the model and metrics"):
        result.save(tmp_path / "run")
    assert list(tmp_path.iterdir()) == []  # model.npz was written, then taken back
    monkeypatch.undo()
    before = result.model.params.copy()
    result.save(tmp_path / "run")  # the result still holds the trained model
    assert np.array_equal(np.load(tmp_path / "run" / "model.npz")["params"], before)


def test_a_checkpoint_on_a_full_disk_warns_keeps_the_last_good_one_and_trains_on(
        tmp_path, capsys, monkeypatch):
    ck = tmp_path / "ck.npz"
    assert main([*QUICK, "--epochs", "1", "--out", str(tmp_path / "one"),
                 "--checkpoint", str(ck), "--checkpoint-every", "50"]) == 0
    good = ck.read_bytes()
    capsys.readouterr()
    fill_disk(monkeypatch, lambda path: path.name.startswith(".ck.npz"))
    assert main([*QUICK, "--out", str(tmp_path / "two"), "--checkpoint", str(ck),
                 "--checkpoint-every", "50", "--force"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"pdsgd: warning: could not write the checkpoint {ck} (No space left on "
                   "device); the last one written is kept and training goes on"]
    assert ck.read_bytes() == good
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["metrics.json",
                                                                     "model.npz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.npz", "one", "two"]


def test_too_little_free_space_is_refused_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(files.shutil, "disk_usage", lambda path: SimpleNamespace(free=1000))
    start = time.monotonic()
    assert main([*QUICK, "--epochs", "1000", "--out", str(tmp_path / "run")]) == 2
    assert time.monotonic() - start < 10  # 1000 epochs were not trained first
    err = one_line(capsys)
    assert err.startswith(f"pdsgd: error: --out {tmp_path / 'run'}: the run will write about")
    assert err.endswith("but only 0.0 MiB are free; free some space or choose another --out")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ damaged checkpoints
@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ck") / "ck.npz"
    train("synthetic", train_size=300, hidden=(8,), epochs=1, checkpoint=path,
          checkpoint_every=50)
    return path.read_bytes()


def _rewrite(path, **changes):
    """Rewrite checkpoint ``path`` with some arrays replaced (None: removed) or meta changed."""
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["meta"]))
    for key, value in changes.items():
        if key in meta:
            meta[key] = value
        elif value is None:
            del arrays[key]
        else:
            arrays[key] = value
    arrays["meta"] = np.array(json.dumps(meta))
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def _nan_params(path):
    with np.load(path) as f:
        return f["params"] * np.nan


DAMAGE = {
    "cut in half": lambda p: p.write_bytes(p.read_bytes()[:len(p.read_bytes()) // 2]),
    "empty": lambda p: p.write_bytes(b""),
    "not a zip": lambda p: p.write_bytes(b"hello" * 100),
    "no params": lambda p: _rewrite(p, params=None),
    "no meta": lambda p: _drop_meta(p),
    "nan weights": lambda p: _rewrite(p, params=_nan_params(p)),
    "iteration 10**9": lambda p: _rewrite(p, iteration=10**9),
    "iteration -5": lambda p: _rewrite(p, iteration=-5),
    "epoch -1": lambda p: _rewrite(p, epoch=-1),
    "history too short": lambda p: _rewrite(p, history={"epoch": [], "loss": [],
                                                        "train_accuracy": [],
                                                        "test_accuracy": [], "seconds": []}),
    "history with nan": lambda p: _rewrite(p, history={"epoch": [1], "loss": ["nan"],
                                                       "train_accuracy": [0.5],
                                                       "test_accuracy": [0.5],
                                                       "seconds": [1.0]}),
}


def _drop_meta(path):
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files if k != "meta"}
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_checkpoint_is_refused_in_one_line_and_left_alone(
        tmp_path, capsys, good_checkpoint, damage):
    ck = tmp_path / "ck.npz"
    ck.write_bytes(good_checkpoint)
    DAMAGE[damage](ck)
    damaged = ck.read_bytes()
    out = tmp_path / "run"
    assert main([*QUICK, "--out", str(out), "--resume", str(ck), "--checkpoint", str(ck),
                 "--checkpoint-every", "50"]) == 2
    err = one_line(capsys)
    assert err.startswith(("pdsgd: error: --resume", "pdsgd: error: cannot resume")), err
    assert ck.read_bytes() == damaged and not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.npz"]


def test_the_good_checkpoint_resumes(tmp_path, capsys, good_checkpoint):
    ck = tmp_path / "ck.npz"
    ck.write_bytes(good_checkpoint)
    assert main([*QUICK, "--out", str(tmp_path / "run"), "--resume", str(ck)]) == 0


def test_resuming_with_another_scaling_is_refused(tmp_path, capsys, good_checkpoint):
    ck = tmp_path / "ck.npz"
    ck.write_bytes(good_checkpoint)
    assert main([*QUICK, "--out", str(tmp_path / "run"), "--resume", str(ck),
                 "--scaling", "zscore"]) == 2
    assert "scaling: 'rashid' there, 'zscore' here" in one_line(capsys)


def test_a_checkpoint_is_checked_before_it_replaces_the_last(tmp_path, monkeypatch):
    ck = tmp_path / "ck.npz"
    train("synthetic", train_size=300, hidden=(8,), epochs=1, checkpoint=ck)
    good = ck.read_bytes()
    real = files.write_bytes
    # A write that "succeeds" but leaves a damaged file behind (a failing disk).
    monkeypatch.setattr(checkpoint_module, "write_bytes",
                        lambda path, data: real(path, data[:-100]))
    with pytest.raises(PdsgdError, match="not a whole pdsgd checkpoint"):
        checkpoint_module.save_checkpoint(ck, train("synthetic", train_size=300, hidden=(8,),
                                                    epochs=1).model,
                                          epoch=1, iteration=0, history={}, config={})
    assert ck.read_bytes() == good and sorted(p.name for p in tmp_path.iterdir()) == ["ck.npz"]
    assert zipfile.is_zipfile(ck)


# ------------------------------------------------------------------ divergence
def _poisoned():
    data = load_dataset("synthetic", train_size=300, test_size=50, synthetic_features=8,
                        n_classes=3)
    X = data.X_train.copy()
    X[:, 3] = np.inf  # an input the network cannot take: its first step makes the weights nan
    return Dataset(data.name, X, data.y_train, data.X_test, data.y_test, data.n_classes,
                   data.scaling)


@pytest.mark.parametrize("backend", [None, "processes"])
def test_a_nan_loss_stops_the_run_in_one_line_and_writes_nothing(tmp_path, backend):
    ck = tmp_path / "ck.npz"
    workers = 1 if backend is None else 2
    with pytest.raises(OptionError) as info:
        train(_poisoned(), hidden=(4,), epochs=3, lr=0.25, checkpoint=ck, workers=workers,
              backend=backend)
    assert info.value.for_cli().startswith("--lr 0.25 gave a loss of nan in epoch 1: training "
                                           "diverged and was stopped")
    assert "\n" not in str(info.value)
    assert not ck.exists()


def test_mid_epoch_checkpoints_never_hold_nan_weights(tmp_path):
    ck = tmp_path / "ck.npz"
    with pytest.raises(OptionError, match="gave weights that are not finite in epoch 1"):
        train(_poisoned(), hidden=(4,), epochs=3, lr=0.25, checkpoint=ck, checkpoint_every=20)
    assert not ck.exists()


def test_an_earlier_run_in_out_is_replaced_only_with_force_or_resume(tmp_path, capsys):
    out = tmp_path / "run"
    first = [*QUICK, "--out", str(out), "--checkpoint-every", "100"]
    assert main(first) == 0
    kept = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(kept) == ["checkpoint.npz", "metrics.json", "model.npz"]
    capsys.readouterr()
    for again in (first, [*QUICK, "--out", str(out)], [*QUICK, "--out", str(out), "--seed", "1"]):
        assert main(again) == 2
        err = one_line(capsys)
        assert "earlier run's" in err and "--force" in err and str(out) in err, err
        assert {p.name: p.read_bytes() for p in out.iterdir()} == kept
    assert main([*first[:-2], "--epochs", "3", "--checkpoint-every", "100",
                 "--resume", str(out / "checkpoint.npz")]) == 0
    assert json.loads((out / "metrics.json").read_text())["config"]["epochs"] == 3
    assert main([*QUICK, "--out", str(out), "--force"]) == 0
    assert json.loads((out / "metrics.json").read_text())["config"]["epochs"] == 2


def test_a_checkpoint_elsewhere_is_not_replaced_without_force(tmp_path, capsys):
    ck = tmp_path / "keep.npz"
    assert main([*QUICK, "--out", str(tmp_path / "a"), "--checkpoint", str(ck),
                 "--checkpoint-every", "100"]) == 0
    good = ck.read_bytes()
    capsys.readouterr()
    assert main([*QUICK, "--out", str(tmp_path / "b"), "--checkpoint", str(ck),
                 "--checkpoint-every", "100", "--seed", "3"]) == 2
    assert str(ck) in one_line(capsys) and ck.read_bytes() == good
    assert not (tmp_path / "b").exists()


KILLED_IN_MID_WRITE = """
import os, signal, sys
from pdsgd.files import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    with open(tmp, "wb") as fh:
        fh.write(b"half a checkpoint")
        fh.flush()
        os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_write_killed_halfway_leaves_a_file_that_the_next_run_removes(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*QUICK, "--out", str(out), "--checkpoint-every", "100"]) == 0
    ck = out / "checkpoint.npz"
    for target in (ck, out / "model.npz"):
        done = subprocess.run([sys.executable, "-c", KILLED_IN_MID_WRITE, str(target)],
                              timeout=60)
        assert done.returncode == -signal.SIGKILL
    stranded = sorted(p.name for p in out.glob(".*.part"))
    assert len(stranded) == 2, stranded
    with files.atomic_path(ck) as busy:  # the next write removes the killed one's file,
        busy.write_bytes(ck.read_bytes())
        files.remove_stranded(ck)  # and a writer at work keeps its own
        left = sorted(p.name for p in out.glob(".*.part"))
        assert left == sorted([busy.name, stranded[1]]) and stranded[0] not in left
    assert main([*QUICK, "--out", str(out), "--epochs", "3", "--checkpoint-every", "100",
                 "--resume", str(ck)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.npz", "metrics.json",
                                                     "model.npz"]
