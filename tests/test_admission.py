"""Sizes that decide memory and process count are checked before anything starts.

Each refused command answers in one line, exit code 2, within seconds, having
started no process and allocated no shared memory.
"""

import time

import pytest
from engine_helpers import shm_segments, worker_children

from pdsgd.cli import main
from pdsgd.engine import admission
from pdsgd.errors import OptionError, PdsgdError
from pdsgd.machine import usable_cores
from pdsgd.spec import MAX_WORKERS_PER_CORE, EngineSpec
from pdsgd.train import train

QUICK = ["train", "--dataset", "synthetic", "--train-size", "1000", "--hidden", "8",
         "--epochs", "1", "--quiet"]


def refused(argv, tmp_path, capsys):
    """Run ``pdsgd train`` with ``argv``; return its one-line error and how long it took."""
    before = shm_segments()
    start = time.monotonic()
    assert main([*QUICK, "--out", str(tmp_path / "run"), *argv]) == 2
    seconds = time.monotonic() - start
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert worker_children() == [] and shm_segments() <= before
    assert not (tmp_path / "run").exists()
    return err[0], seconds


@pytest.mark.parametrize("argv,message", [
    (["--workers", "100000"], "--workers 100000 is more than this machine can run"),
    (["--workers", "5000"], "--workers 5000 is more than this machine can run"),
    (["--micro-batch", "100000", "--workers", "2"],
     "--micro-batch 100000 is too large: an iteration of 2 workers x 100000 samples takes "
     "200,000 samples, more than the 1,000 of the training set"),
    (["--algorithm", "average", "--local-steps", "1000000000", "--workers", "2"],
     "--local-steps 1000000000 is too large: more local steps per round than the 1,000 "
     "samples of the training set"),
    (["--workers", "2000", "--backend", "serial"], "--workers 2000 is too large"),
    (["--backend", "dask", "--workers", "64"], "--workers 64 is more than this machine"),
    (["--backend", "dask", "--workers", "2", "--scheduler", "garbage"],
     "--scheduler garbage is not a Dask scheduler's address"),
    (["--hidden", "1000000000"],
     "--hidden 1000000000 makes a network of 795,000,000,010 parameters"),
    (["--timeout", "1e300"], "--timeout 1e+300 must be at most"),
    (["--seed", "-1"], "argument --seed: expected an integer >= 0, got -1"),
])
def test_sizes_that_cannot_work_are_refused_at_once(tmp_path, capsys, argv, message):
    err, seconds = refused(argv, tmp_path, capsys)
    assert message in err
    assert seconds < 10


def test_the_cap_on_workers_is_per_core():
    cores = usable_cores()
    EngineSpec(workers=MAX_WORKERS_PER_CORE * cores, backend="threads")
    with pytest.raises(OptionError, match=f"at most {MAX_WORKERS_PER_CORE} per core"):
        EngineSpec(workers=MAX_WORKERS_PER_CORE * cores + 1, backend="threads")
    # No cap where the workers are not on this machine, or not processes at all.
    EngineSpec(workers=10_000, backend="dask", scheduler="tcp://127.0.0.1:8786")
    EngineSpec(workers=10_000, backend="serial")


def test_many_workers_per_core_get_a_one_line_warning(tmp_path, capsys):
    n = admission.WARN_WORKERS_PER_CORE * usable_cores() + 1
    assert main([*QUICK, "--out", str(tmp_path / "run"), "--workers", str(n),
                 "--backend", "threads"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"pdsgd: warning: {n} workers on {usable_cores()} cores: they take turns, "
                   "and each one only adds waiting; fewer workers will be faster"]


def test_a_block_larger_than_free_memory_or_dev_shm_is_refused(monkeypatch):
    kw = dict(hidden=(8,), epochs=1, workers=2, backend="processes", train_size=500)
    monkeypatch.setattr(admission, "free_shared_memory", lambda: 1000)
    with pytest.raises(PdsgdError, match=r"needs .* of shared memory but /dev/shm has 1,000 "):
        train("synthetic", **kw)
    monkeypatch.undo()
    # Enough for the network, not for the block of data.
    monkeypatch.setattr(admission, "free_memory", lambda: 4 * 2**20)
    with pytest.raises(OptionError, match="needs about .* this machine has 4.0 MiB free"):
        train("synthetic", **{**kw, "train_size": 2000})
    assert worker_children() == [] and shm_segments() == set()


def test_an_unreachable_scheduler_fails_at_once(tmp_path, capsys):
    err, seconds = refused(["--backend", "dask", "--workers", "2", "--micro-batch", "8",
                            "--scheduler", "tcp://127.0.0.1:1"], tmp_path, capsys)
    assert "--scheduler tcp://127.0.0.1:1: cannot reach a Dask scheduler there" in err
    assert seconds < 10  # not the minute it took


@pytest.mark.slow
def test_a_local_cluster_not_ready_within_the_timeout_is_a_one_line_error(tmp_path, capsys):
    err, seconds = refused(["--backend", "dask", "--workers", "2", "--micro-batch", "8",
                            "--timeout", "0.05"], tmp_path, capsys)
    assert err.startswith("pdsgd: error: the local Dask cluster started 0 workers, fewer "
                          "than the 2 asked for, within --timeout 0.05 s")
    assert seconds < 15


@pytest.mark.parametrize("argv", [
    ["--hidden", "200,,10"], ["--hidden", ""], ["--hidden", "200,0"], ["--lr", "inf"],
    ["--lr", "nan"], ["--lr", "-0.1"], ["--seed", "-1"], ["--seed", "1.5"],
    ["--timeout", "0"], ["--timeout", "nan"], ["--timeout", "-1"], ["--epochs", "0"],
    ["--train-size", "0"], ["--workers", "-2"], ["--micro-batch", "0"],
    ["--checkpoint-every", "0"], ["--local-steps", "0"], ["--input-nodes", "0"],
    ["--output-nodes", "1.5"],
])
def test_every_numeric_flag_refuses_values_it_cannot_use(tmp_path, capsys, argv):
    err, _ = refused(argv, tmp_path, capsys)
    assert argv[0] in err
