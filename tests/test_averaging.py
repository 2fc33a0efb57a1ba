"""Parameter averaging (Algorithm 1): its schedule, K = 1 equals BSP, every backend agrees."""

import numpy as np
import pytest
from engine_helpers import problem, reference, shm_segments, worker_children

from pdsgd.engine.averaging import local_steps_of, samples_per_worker
from pdsgd.engine.broker import Broker
from pdsgd.engine.shuffle import epoch_order
from pdsgd.errors import PdsgdError
from pdsgd.mlp import MLP

SIZES = (6, 7, 3)


def average(X, T, workers, micro_batch, local_steps, epochs=2, algorithm="average",
            **options):
    model = MLP(SIZES, seed=3)
    with Broker(model, X, T, workers=workers, micro_batch=micro_batch, algorithm=algorithm,
                local_steps=local_steps, **options) as broker:
        for epoch in range(epochs):
            broker.run_epoch(epoch_order(len(X), 0, epoch), 0.5)
    return model.params


def test_worker_i_takes_block_k_times_n_plus_i():
    indices = np.arange(100, 112)  # N=2, K=3, b=2: blocks of 2, interleaved by worker
    assert [s.tolist() for s in local_steps_of(indices, 12, 0, 2, 3, 2)] == \
        [[100, 101], [104, 105], [108, 109]]
    assert [s.tolist() for s in local_steps_of(indices, 12, 1, 2, 3, 2)] == \
        [[102, 103], [106, 107], [110, 111]]
    # A partial round of 7 samples: worker 1's last block is short, worker 0 has two steps.
    assert [s.tolist() for s in local_steps_of(indices, 7, 1, 2, 3, 2)] == [[102, 103], [106]]
    assert samples_per_worker(7, 2, 3, 2).tolist() == [4, 3]


@pytest.mark.parametrize("workers,micro_batch", [(2, 1), (3, 2), (4, 3)])
def test_one_local_step_equals_bsp(workers, micro_batch):
    X, T = problem(n=41)  # partial last rounds too
    bsp = average(X, T, workers, micro_batch, 1, algorithm="bsp", backend="serial")
    got = average(X, T, workers, micro_batch, 1, backend="serial")
    assert not np.array_equal(bsp, MLP(SIZES, seed=3).params)
    np.testing.assert_allclose(got, bsp, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got, reference(SIZES, X, T, workers * micro_batch, epochs=2),
                               rtol=1e-12, atol=1e-14)


def test_more_local_steps_give_other_weights():
    # The comparison above can fail: K = 3 is not BSP.
    X, T = problem(n=41)
    assert not np.allclose(average(X, T, 2, 1, 3, backend="serial"),
                           average(X, T, 2, 1, 1, backend="serial"))


def test_one_worker_averaging_is_sequential_sgd():
    X, T = problem(n=41)
    got = average(X, T, 1, 2, 5, backend="serial")
    np.testing.assert_allclose(got, reference(SIZES, X, T, 2, epochs=2), rtol=1e-12, atol=1e-14)


def test_every_backend_gives_the_same_weights():
    X, T = problem(n=41)
    before = shm_segments()
    runs = {(backend, aggregate): average(X, T, 3, 2, 3, backend=backend, aggregate=aggregate,
                                          span=2)
            for backend in ("serial", "threads", "processes")
            for aggregate in ("central", "replicated")}
    first = runs[("serial", "central")]
    assert not np.array_equal(first, MLP(SIZES, seed=3).params)
    for key, params in runs.items():
        assert np.array_equal(params, first), key
    assert shm_segments() <= before
    assert worker_children() == []


def test_train_resumes_an_averaging_run(tmp_path):
    from pdsgd.checkpoint import load_checkpoint
    from pdsgd.data.datasets import load_dataset
    from pdsgd.train import train

    data = load_dataset("synthetic", train_size=50, test_size=10, synthetic_features=8,
                        n_classes=3)
    kw = dict(hidden=(5,), lr=0.5, workers=2, micro_batch=2, backend="serial",
              algorithm="average", local_steps=3)
    whole = train(data, epochs=3, **kw)
    train(data, epochs=2, checkpoint=tmp_path / "c.npz", checkpoint_every=2, **kw)
    assert load_checkpoint(tmp_path / "c.npz").config["local_steps"] == 3
    resumed = train(data, epochs=3, resume=tmp_path / "c.npz", **{**kw, "backend": "threads"})
    assert np.array_equal(resumed.model.params, whole.model.params)
    with pytest.raises(PdsgdError, match="local_steps"):
        train(data, epochs=3, resume=tmp_path / "c.npz", **{**kw, "local_steps": 4})


def test_bad_averaging_options_raise_one_line_errors():
    X, T = problem()
    for options, match in [({"algorithm": "gossip"}, "algorithm="),
                           ({"local_steps": 0}, "local_steps="),
                           ({"algorithm": "average", "send": "gradients"}, "send="),
                           ({"scheduler": "tcp://127.0.0.1:1"}, "scheduler=")]:
        with pytest.raises(PdsgdError, match=match) as err:
            Broker(MLP(SIZES), X, T, workers=2, backend="serial", **options)
        assert "\n" not in str(err.value), f"not one line: {err.value!r}"


def test_cli_passes_the_averaging_flags(tmp_path):
    from pdsgd.cli import build_parser

    args = build_parser().parse_args(["train", "--backend", "dask", "--scheduler",
                                      "tcp://10.0.0.1:8786", "--algorithm", "average",
                                      "--local-steps", "50"])
    assert (args.scheduler, args.algorithm, args.local_steps) == \
        ("tcp://10.0.0.1:8786", "average", 50)
    defaults = build_parser().parse_args(["train"])
    assert (defaults.scheduler, defaults.algorithm, defaults.local_steps) == (None, "bsp", 1)
