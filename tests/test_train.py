"""The training API and the sequential trainer (N = 1)."""

import numpy as np
import pytest

from pdsgd import MLP, PdsgdError, load_dataset, train
from pdsgd.engine.sequential import SequentialRunner
from pdsgd.engine.shuffle import assignment, epoch_order, n_iterations


@pytest.fixture(scope="module")
def small():
    return load_dataset("synthetic", train_size=300, test_size=100)


def test_seed_defaults_reach_089_on_mnist_5k():
    # The foundation's correctness bar: 784-200-10, 5 epochs, lr 0.1, one sample at a time.
    result = train("mnist-5k")
    assert result.config["sizes"] == [784, 200, 10] and result.config["epochs"] == 5
    assert len(result.history["test_accuracy"]) == 5
    assert result.test_accuracy >= 0.89
    assert result.history["loss"][-1] < result.history["loss"][0]


def test_same_seed_same_weights_other_seed_other_weights(small):
    a = train(small, hidden=(16,), epochs=2, seed=3)
    b = train(small, hidden=(16,), epochs=2, seed=3)
    c = train(small, hidden=(16,), epochs=2, seed=4)
    assert np.array_equal(a.model.params, b.model.params)
    assert not np.array_equal(a.model.params, c.model.params)


def test_sequential_runner_is_minibatch_sgd_over_the_epoch_order(small):
    X = small.X_train
    T = small.targets(small.y_train)
    model = MLP((X.shape[1], 12, 10), seed=1)
    reference = model.copy()
    order = epoch_order(len(X), seed=0, epoch=0)
    with SequentialRunner(model, X, T, micro_batch=7) as runner:
        runner.run_epoch(order, 0.3)
    for t in range(n_iterations(len(X), 1, 7)):
        idx = assignment(order, t, 1, 7)[0]
        reference.sgd_step(X[idx], T[idx], 0.3)
    assert np.array_equal(model.params, reference.params)


def test_epoch_orders_are_permutations_fixed_by_seed_and_epoch():
    a = epoch_order(50, 1, 0)
    assert sorted(a) == list(range(50))
    assert np.array_equal(a, epoch_order(50, 1, 0))
    assert not np.array_equal(a, epoch_order(50, 1, 1))
    blocks = assignment(a, 4, workers=3, micro_batch=4)  # the last, partial iteration
    assert [len(b) for b in blocks] == [2, 0, 0]


def test_history_and_result_fields(small):
    seen = []
    result = train(small, hidden=(8, 6), epochs=3, lr=0.5, bias=False,
                   on_epoch=lambda e, h: seen.append(e))
    assert seen == [1, 2, 3]
    assert result.model.sizes == (784, 8, 6, 10) and result.model.bias is False
    assert set(result.history) == {"epoch", "loss", "train_accuracy", "test_accuracy", "seconds"}
    assert all(s > 0 for s in result.history["seconds"])
    assert result.samples_per_second > 0 and "test accuracy" in result.summary()


def test_linear_lr_rule_scales_by_batch(small):
    result = train(small, hidden=(8,), epochs=1, micro_batch=4, lr=0.1, lr_rule="linear")
    assert result.config["step_lr"] == pytest.approx(0.4)


@pytest.mark.parametrize("kwargs,match", [
    (dict(train_size=301), "more than"),
    (dict(epochs=0), "epochs=0 must be a positive integer"),
    (dict(lr=-1.0), "lr=-1.0 must be a positive number"),
    (dict(input_nodes=100), "input_nodes=100 does not match"),
    (dict(output_nodes=3), "output_nodes=3 does not match"),
    (dict(lr_rule="sqrt"), "lr_rule='sqrt' is unknown"),
])
def test_bad_arguments_raise_one_line_errors(small, kwargs, match):
    with pytest.raises(PdsgdError, match=match) as info:
        train(small, hidden=(4,), epochs=kwargs.pop("epochs", 1), **kwargs)
    assert "\n" not in str(info.value)


def test_float32_training_runs_in_float32(small):
    result = train(small, hidden=(8,), epochs=1, dtype="float32")
    assert result.model.params.dtype == np.float32


@pytest.mark.parametrize("engine", [{}, {"workers": 2, "backend": "serial", "span": 3}])
def test_on_step_sees_the_model_as_it_trains(small, engine):
    seen = []
    result = train(small, hidden=(20,), epochs=2, train_size=40, micro_batch=2,
                   on_step=lambda model, samples: seen.append((samples, model.params.sum())),
                   **engine)
    samples = [s for s, _ in seen]
    assert samples[0] == 0 and samples[-1] == 2 * 40  # from the start to the last step
    assert samples == sorted(samples) and len(set(samples)) == len(samples)
    assert seen[0][1] != seen[-1][1] == result.model.params.sum()  # the live model, trained
    if engine:  # once per span of 3 iterations of N * b = 4 samples, and at each epoch's end
        assert samples[1:4] == [12, 24, 36] and 40 in samples
