"""Controlling a run: Goyal et al.'s gradual warm-up, and stopping a run from another thread."""

import threading

import numpy as np
import pytest
from engine_helpers import shm_segments, worker_children

from pdsgd import PdsgdError, load_dataset, train
from pdsgd.checkpoint import load_checkpoint
from pdsgd.cli import main
from pdsgd.engine.sequential import SequentialRunner
from pdsgd.engine.shuffle import epoch_order
from pdsgd.mlp import MLP
from pdsgd.train import TrainingStopped, epoch_lr


@pytest.fixture(scope="module")
def small():
    return load_dataset("synthetic", train_size=120, test_size=40, seed=5)


def _by_hand(data, batch, rates, hidden=(8,)):
    """Sequential minibatch SGD, one given rate per epoch: the warm-up's independent oracle."""
    X, T = data.X_train, data.targets(data.y_train)
    model = MLP((X.shape[1], *hidden, 10), seed=0)
    for epoch, lr in enumerate(rates):
        SequentialRunner(model, X, T, batch).run_epoch(epoch_order(len(X), 0, epoch), lr)
    return model.params


def test_warmup_ramps_the_linear_rate_halfway_through_each_epoch():
    config = dict(lr=0.1, step_lr=1.6, warmup_epochs=3)
    rates = [epoch_lr(config, e) for e in range(5)]
    # Goyal et al.'s ramp from lr to 16 lr, read at the middle of epochs 0, 1, 2; then 16 lr.
    assert rates == pytest.approx([0.1 + 1.5 * 0.5 / 3, 0.1 + 1.5 * 1.5 / 3,
                                   0.1 + 1.5 * 2.5 / 3, 1.6, 1.6])
    assert epoch_lr(dict(lr=0.1, step_lr=0.4), 0) == 0.4  # no warm-up recorded: none


@pytest.mark.parametrize("engine", [dict(workers=1, micro_batch=4),
                                    dict(workers=2, micro_batch=2, backend="serial")])
def test_warmup_trains_each_epoch_at_its_rate(small, engine):
    result = train(small, hidden=(8,), epochs=3, lr=0.05, lr_rule="linear", warmup_epochs=2,
                   **engine)
    rates = [0.05 + 0.15 * 0.25, 0.05 + 0.15 * 0.75, 0.2]  # to 4 x 0.05 over two epochs
    expected = _by_hand(small, 4, rates)
    np.testing.assert_allclose(result.model.params, expected, rtol=1e-12, atol=1e-15)
    assert result.config["warmup_epochs"] == 2 and result.config["step_lr"] == pytest.approx(0.2)


@pytest.mark.parametrize("kwargs,match", [
    (dict(warmup_epochs=1), "warmup_epochs=1 applies to lr_rule=linear only"),
    (dict(warmup_epochs=-1, lr_rule="linear"), "warmup_epochs=-1 must be a whole number"),
    (dict(warmup_epochs=1.5, lr_rule="linear"), "warmup_epochs=1.5 must be a whole number"),
])
def test_bad_warmup_is_refused_in_one_line(small, kwargs, match):
    with pytest.raises(PdsgdError, match=match) as err:
        train(small, hidden=(4,), epochs=1, **kwargs)
    assert "\n" not in str(err.value), f"not one line: {err.value!r}"


def test_cli_warmup_flag_reaches_train_and_is_named_when_wrong(tmp_path, capsys):
    quick = ["train", "--dataset", "synthetic", "--train-size", "100", "--hidden", "8",
             "--epochs", "2", "--quiet", "--micro-batch", "4"]
    assert main([*quick, "--out", str(tmp_path / "bad"), "--warmup-epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "--warmup-epochs 1 applies to --lr-rule linear only" in err
    assert err.count("\n") == 1, f"not one line of stderr: {err!r}"
    assert not (tmp_path / "bad").exists()
    assert main([*quick, "--out", str(tmp_path / "ok"), "--lr-rule", "linear",
                 "--warmup-epochs", "1"]) == 0
    metrics = (tmp_path / "ok" / "metrics.json").read_text()
    assert '"warmup_epochs": 1' in metrics


def test_resume_compares_the_warmup(small, tmp_path):
    ckpt = tmp_path / "run.npz"
    settings = dict(hidden=(8,), epochs=3, micro_batch=4, lr_rule="linear", lr=0.05)
    full = train(small, warmup_epochs=2, **settings)
    first = train(small, warmup_epochs=2, checkpoint=ckpt, **{**settings, "epochs": 1})
    assert first.history["epoch"] == [1]
    with pytest.raises(PdsgdError, match="warmup_epochs: 2 there, 1 here"):
        train(small, warmup_epochs=1, resume=ckpt, **settings)
    resumed = train(small, warmup_epochs=2, resume=ckpt, **settings)
    assert np.array_equal(resumed.model.params, full.model.params)


class _StopAfter:
    """A ``stop`` callable that turns true after ``n`` checks (counting them)."""

    def __init__(self, n):
        self.n, self.calls = n, 0

    def __call__(self):
        self.calls += 1
        return self.calls > self.n


def test_stop_on_the_sequential_path_ends_within_an_epoch(small):
    stop = _StopAfter(200)  # checked after every step: the 201st check is inside epoch 2
    with pytest.raises(TrainingStopped, match="stopped after epoch 1 of 4") as info:
        train(small, hidden=(8,), epochs=4, stop=stop)
    assert stop.calls == 201
    assert info.value.epochs_done == 1 and info.value.result.history["epoch"] == [1]


def test_a_set_event_stops_before_anything_starts(small):
    stop = threading.Event()
    stop.set()
    with pytest.raises(TrainingStopped) as info:
        train(small, hidden=(8,), epochs=2, workers=2, backend="processes", stop=stop)
    assert info.value.epochs_done == 0
    assert worker_children() == [] and shm_segments() == set()


def test_stop_saves_the_position_and_resume_finishes_the_same_run(small, tmp_path):
    ckpt = tmp_path / "stopped.npz"
    settings = dict(hidden=(8,), epochs=2, workers=2, backend="serial", span=5)
    full = train(small, **settings)
    with pytest.raises(TrainingStopped):
        # Checked before the workers start, before epoch 1, then after each span: the
        # fourth check, after the second span, stops the run.
        train(small, checkpoint=ckpt, stop=_StopAfter(3), **settings)
    state = load_checkpoint(ckpt)
    assert (state.epoch, state.iteration) == (0, 10)  # two spans of 5 iterations
    resumed = train(small, resume=ckpt, **settings)
    assert np.array_equal(resumed.model.params, full.model.params)


def test_stopping_the_processes_backend_from_another_thread_releases_everything(small):
    stop, first_epoch, outcome = threading.Event(), threading.Event(), []

    def run():  # the run in a thread of its own, as a notebook panel starts it
        try:
            train(small, hidden=(8,), epochs=200, workers=2, backend="processes", span=4,
                  on_epoch=lambda epoch, history: first_epoch.set(), stop=stop)
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    assert first_epoch.wait(60)
    stop.set()
    thread.join(30)
    assert not thread.is_alive()
    (error,) = outcome
    assert isinstance(error, TrainingStopped), error
    assert 1 <= error.epochs_done < 200 and len(error.result.trace) > 0
    assert worker_children() == [] and shm_segments() == set()


def test_a_stop_that_is_not_callable_is_refused(small):
    with pytest.raises(PdsgdError, match="stop=.* must be a threading.Event or a callable"):
        train(small, hidden=(4,), epochs=1, stop="now")


@pytest.mark.parametrize("engine", [{}, {"workers": 2, "backend": "serial", "span": 1}])
def test_a_stop_inside_the_first_epoch_reports_the_time_trained(small, engine):
    # A Stop pressed seconds into the first epoch used to read "0.00 s training":
    # only finished epochs were counted.
    ticks = iter(range(10**6))
    with pytest.raises(TrainingStopped) as info:
        train(small, hidden=(8,), epochs=3, stop=lambda: next(ticks) > 20,
              on_step=lambda model, samples: threading.Event().wait(0.005), **engine)
    stopped = info.value
    assert stopped.epochs_done == 0 and stopped.result.train_seconds == 0
    assert stopped.train_seconds >= 20 * 0.005  # the twenty waited steps, at least


def test_the_progress_bar_rate_is_the_summarys_rate_not_counting_start_up_or_evaluation():
    import io
    import re
    import time

    from tqdm import tqdm

    data = load_dataset("synthetic", train_size=1500, test_size=40, seed=5)
    shown = io.StringIO()
    # A slow evaluation (the on_epoch callback runs with it, off the training clock): a bar
    # that counted it would show a third of the rate or less.
    result = train(data, hidden=(16,), epochs=3, progress=lambda **kw: tqdm(file=shown, **kw),
                   on_epoch=lambda *_: time.sleep(0.3))
    rates = [float(r) for r in re.findall(r"([\d.]+)sample/s", shown.getvalue())]
    assert rates, shown.getvalue()
    assert 1 / 1.25 < rates[-1] / result.samples_per_second < 1.25, (
        rates[-1], result.samples_per_second)
