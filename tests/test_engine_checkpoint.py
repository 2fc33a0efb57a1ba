"""Checkpoints are atomic and resuming gives the uninterrupted run's weights, bit for bit."""

import numpy as np
import pytest
from engine_helpers import Crash, crash_after_saves

from pdsgd.checkpoint import load_checkpoint
from pdsgd.data.datasets import load_dataset
from pdsgd.errors import PdsgdError
from pdsgd.train import train


@pytest.fixture(scope="module")
def data():
    return load_dataset("synthetic", train_size=50, test_size=10, synthetic_features=8,
                        n_classes=3)


KW = dict(hidden=(5,), epochs=3, lr=0.5, workers=2, micro_batch=2)


@pytest.mark.parametrize("backend", ["serial", "processes"])
def test_resume_gives_the_same_final_weights(data, tmp_path, monkeypatch, backend):
    path = tmp_path / "ck.npz"
    whole = train(data, backend=backend, checkpoint=tmp_path / "whole.npz",
                  checkpoint_every=4, **KW)
    crash_after_saves(monkeypatch, 5)  # 13 iterations per epoch: saves at 4, 8, 12, end, 4
    with pytest.raises(Crash):
        train(data, backend=backend, checkpoint=path, checkpoint_every=4, **KW)
    state = load_checkpoint(path)
    assert (state.epoch, state.iteration) == (1, 4) and len(state.history["epoch"]) == 1
    monkeypatch.undo()
    resumed = train(data, backend="threads", resume=path, **KW)
    assert np.array_equal(resumed.model.params, whole.model.params)
    for key in ("loss", "train_accuracy", "test_accuracy"):
        assert resumed.history[key] == whole.history[key]


def test_resume_from_the_sequential_runner(data, tmp_path):
    kw = {**KW, "workers": 1, "micro_batch": 3}
    whole = train(data, **kw)
    train(data, **{**kw, "epochs": 1}, checkpoint=tmp_path / "c.npz", checkpoint_every=5)
    resumed = train(data, **kw, resume=tmp_path / "c.npz")
    assert np.array_equal(resumed.model.params, whole.model.params)


def test_resume_refuses_other_settings_and_missing_files(data, tmp_path):
    path = tmp_path / "c.npz"
    train(data, backend="serial", checkpoint=path, **{**KW, "epochs": 1})
    with pytest.raises(PdsgdError, match="micro_batch: 2 there, 3 here"):
        train(data, backend="serial", resume=path, **{**KW, "micro_batch": 3})
    with pytest.raises(PdsgdError, match="already finished 1 epochs"):
        train(data, backend="serial", resume=path, **{**KW, "epochs": 1})
    with pytest.raises(PdsgdError, match="no such checkpoint"):
        train(data, resume=tmp_path / "nope.npz", **KW)
    with pytest.raises(PdsgdError, match="checkpoint=PATH"):
        train(data, checkpoint_every=3, **KW)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz"]  # no temporary left


def test_cli_checkpoint_and_resume(tmp_path, capsys):
    from pdsgd.cli import main

    args = ["train", "--dataset", "synthetic", "--train-size", "40", "--hidden", "4",
            "--workers", "2", "--backend", "serial", "--aggregate", "central", "--send",
            "gradients", "--quiet", "--epochs", "1", "--checkpoint-every", "5",
            "--out", str(tmp_path / "a")]
    assert main(args) == 0
    assert (tmp_path / "a" / "checkpoint.npz").is_file()
    more = [*args[:-1], str(tmp_path / "b"), "--epochs", "2", "--resume",
            str(tmp_path / "a" / "checkpoint.npz")]
    assert main(more) == 0
    assert "2 epochs" in capsys.readouterr().out
    assert main([*args, "--resume", str(tmp_path / "missing.npz")]) == 2
    assert "no such checkpoint" in capsys.readouterr().err


def test_a_data_parallel_checkpoint_does_not_resume_under_tensor_parallelism(data, tmp_path):
    # The two split the same minibatch SGD differently: its sums round differently (about
    # 5e-16 apart), and a resumed run must equal the uninterrupted one bit for bit.
    ck = tmp_path / "c.npz"
    train(data, backend="serial", checkpoint=ck, **{**KW, "epochs": 1})
    with pytest.raises(PdsgdError, match="parallel: 'data' there, 'tensor' here"):
        train(data, backend="serial", parallel="tensor", resume=ck, **KW)


SYNCS = [{"sync": "ssp", "staleness": 2}, {"sync": "async"}]


@pytest.mark.parametrize("sync", SYNCS, ids=["ssp", "async"])
@pytest.mark.parametrize("span", [512, 6])
def test_checkpoints_do_not_change_the_weights_of_the_ssp_and_async_simulation(
        data, tmp_path, sync, span):
    # Checkpoints cut spans (every 4 iterations here, 13 per epoch); the serial
    # simulation must play its schedule across the cuts as if they were not there.
    kw = {**KW, **sync, "backend": "serial", "micro_batch": 1, "span": span,
          "straggler": 1, "straggler_factor": 2.0}
    whole = train(data, **kw)
    cut = train(data, **kw, checkpoint=tmp_path / "c.npz", checkpoint_every=4)
    assert np.array_equal(cut.model.params, whole.model.params)


@pytest.mark.parametrize("sync", SYNCS, ids=["ssp", "async"])
def test_an_ssp_or_async_simulation_resumed_mid_window_equals_the_uninterrupted_run(
        data, tmp_path, monkeypatch, sync):
    kw = {**KW, **sync, "backend": "serial", "micro_batch": 1,
          "straggler": 1, "straggler_factor": 2.0}
    whole = train(data, **kw)
    path = tmp_path / "ck.npz"
    crash_after_saves(monkeypatch, 5)  # 25 iterations per epoch: saves at 7, 14, 21, end, 7
    with pytest.raises(Crash):
        train(data, **kw, checkpoint=path, checkpoint_every=7)
    monkeypatch.undo()
    state = load_checkpoint(path)
    assert (state.epoch, state.iteration) == (1, 7)
    assert "sync_position" in state.state  # gradients read but not yet landed went with it
    resumed = train(data, **kw, resume=path)
    assert np.array_equal(resumed.model.params, whole.model.params)
    assert resumed.history["loss"] == whole.history["loss"]
    # The windows are `span` long: another span would play another schedule.
    with pytest.raises(PdsgdError, match="resume with span=512"):
        train(data, **kw, span=6, resume=path)
    with np.load(path) as f:
        kept = {k: f[k] for k in f.files if k != "state_sync_inputs_0"}
    np.savez(tmp_path / "damaged.npz", **kept)
    with pytest.raises(PdsgdError, match="simulation state is damaged"):
        train(data, **kw, resume=tmp_path / "damaged.npz")
