"""Tensor parallelism is minibatch SGD with batch N*b, and every backend gives the same bits."""

import numpy as np
import pytest
from engine_helpers import problem, reference, shm_segments, worker_children

from pdsgd.cli import main
from pdsgd.engine.broker import Broker
from pdsgd.engine.sequential import SequentialRunner
from pdsgd.engine.shm import SharedArrays
from pdsgd.engine.shuffle import epoch_order
from pdsgd.engine.slots import slot_fields
from pdsgd.engine.tensor import crossing_fields, crossings, hosts, owned_units
from pdsgd.engine.traffic import numbers_per_iteration, traffic
from pdsgd.errors import OptionError
from pdsgd.mlp import MLP, param_count
from pdsgd.spec import EngineSpec

ONE, TWO, THREE = (6, 5, 3), (6, 7, 4, 3), (6, 5, 7, 4, 3)  # 1, 2 and 3 hidden layers


def tensor(sizes, X, T, workers, micro_batch, bias=True, epochs=2, **options):
    model = MLP(sizes, seed=3, bias=bias)
    with Broker(model, X, T, workers=workers, micro_batch=micro_batch, parallel="tensor",
                **options) as broker:
        for epoch in range(epochs):
            broker.run_epoch(epoch_order(len(X), 0, epoch), 0.5)
    return model.params


def sequential(sizes, X, T, batch, bias=True, epochs=2):
    if bias:
        return reference(sizes, X, T, batch, epochs=epochs)
    model = MLP(sizes, seed=3, bias=False)
    for epoch in range(epochs):
        SequentialRunner(model, X, T, batch).run_epoch(epoch_order(len(X), 0, epoch), 0.5)
    return model.params


@pytest.mark.parametrize("sizes", [ONE, TWO, THREE])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("workers,micro_batch", [(2, 1), (3, 2), (4, 3), (1, 4)])
def test_tensor_equals_sequential_minibatch_sgd(sizes, bias, workers, micro_batch):
    # Hidden widths 5, 7 and 4 split 2, 3 and 4 ways: mostly unevenly.
    X, T = problem(n=37)  # 37 samples: most settings end with a partial iteration
    expected = sequential(sizes, X, T, workers * micro_batch, bias)
    got = tensor(sizes, X, T, workers, micro_batch, bias, backend="serial", span=5)
    assert not np.array_equal(expected, MLP(sizes, seed=3, bias=bias).params)  # it trained
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


def test_workers_that_own_no_unit_still_give_minibatch_sgd():
    X, T = problem(n=30)
    for sizes, workers in (((6, 3, 3), 5), ((6, 2, 4, 3), 3)):
        assert owned_units(sizes[1], 0, workers) == (0, 0)  # worker 0 owns nothing
        expected = sequential(sizes, X, T, workers)
        got = tensor(sizes, X, T, workers, 1, backend="serial", span=4)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


def test_one_worker_at_batch_1_is_the_sequential_fast_path_bit_for_bit():
    X, T = problem(n=25)
    for sizes, backends in ((ONE, ("serial", "processes")), (TWO, ("serial", "threads"))):
        expected = sequential(sizes, X, T, 1)
        for backend in backends:
            assert np.array_equal(tensor(sizes, X, T, 1, 1, backend=backend), expected)


@pytest.mark.parametrize("sizes,bias,workers,micro_batch", [
    (ONE, True, 2, 1), (TWO, False, 3, 2), (THREE, True, 4, 1),
    ((6, 3, 3), False, 4, 2)])  # the last: worker 0 owns no unit
def test_serial_threads_and_processes_give_the_same_bits(sizes, bias, workers, micro_batch):
    X, T = problem(n=41)
    before = shm_segments()
    runs = {backend: tensor(sizes, X, T, workers, micro_batch, bias, backend=backend, span=4)
            for backend in ("serial", "threads", "processes")}
    for backend, params in runs.items():
        assert np.array_equal(params, runs["serial"]), backend
    np.testing.assert_allclose(runs["serial"], sequential(sizes, X, T, workers * micro_batch,
                                                          bias), rtol=1e-12, atol=1e-14)
    assert shm_segments() <= before
    assert worker_children() == []


def test_float32_runs_and_agrees_across_backends():
    X, T = problem(n=30)
    X, T = X.astype(np.float32), T.astype(np.float32)
    runs = []
    for backend in ("serial", "processes"):
        model = MLP(TWO, seed=3, dtype="float32")
        with Broker(model, X, T, workers=2, micro_batch=2, backend=backend,
                    parallel="tensor") as broker:
            broker.run_epoch(np.arange(len(X)), 0.5)
        runs.append(model.params)
    assert runs[0].dtype == np.float32 and np.array_equal(runs[0], runs[1])


def test_crossings_per_iteration_follow_the_pairs_of_layers():
    assert [crossings(L) for L in (2, 3, 4, 5, 6)] == [1, 1, 3, 3, 5]
    for hidden, expected in (((8,), 1), ((8, 6), 1), ((8, 6, 5), 3)):
        spec = EngineSpec(hidden=hidden, n_inputs=4, n_outputs=3, workers=2, parallel="tensor")
        assert spec.aggregation.crossings == expected == len(crossing_fields(spec))
        assert spec.aggregation.step_parties(2) == 2 and not spec.aggregation.broker_applies


def test_units_are_shared_out_whole_and_in_order():
    for width in (1, 5, 7, 200):
        for workers in (1, 2, 3, 8):
            shares = [owned_units(width, k, workers) for k in range(workers)]
            assert shares[0][0] == 0 and shares[-1][1] == width
            assert all(a[1] == b[0] for a, b in zip(shares, shares[1:]))
            assert max(h - lo for lo, h in shares) - min(h - lo for lo, h in shares) <= 1


def _per_parity(fields, prefix):
    return sum(int(np.prod(shape[1:] if name.startswith("cross") else shape))
               for name, (shape, _) in fields.items() if name.startswith(prefix))


def test_traffic_counts_what_the_engine_actually_lays_out():
    # The counts are checked against the engine's own shared arrays: what a
    # worker writes for the others per iteration, one parity of each.
    for sizes in (ONE, TWO, THREE, (784, 200, 10)):
        for workers, b in ((2, 1), (3, 4)):
            common = dict(hidden=sizes[1:-1], n_inputs=sizes[0], n_outputs=sizes[-1],
                          workers=workers, micro_batch=b, backend="serial")
            spec = EngineSpec(**common, parallel="tensor")
            assert traffic(spec).numbers == _per_parity(crossing_fields(spec), "cross")
            data = EngineSpec(**common, aggregate="replicated")
            assert traffic(data).numbers == (_per_parity(slot_fields(data), "deltas0_")
                                             + _per_parity(slot_fields(data), "inputs0_"))
            central = EngineSpec(**common, aggregate="central")
            assert traffic(central).numbers == traffic(data).numbers + param_count(sizes)
            assert (traffic(data).crossings, traffic(central).crossings) == (1, 2)
    seed = numbers_per_iteration((784, 200, 10), 2)
    assert (seed.numbers, seed.bytes()) == (2 * 1194, 8 * 2 * 1194)
    assert numbers_per_iteration((784, 200, 10), 2, parallel="tensor").numbers == 40
    assert numbers_per_iteration((784, 200, 10), 2, send="gradients").numbers == \
        2 * param_count((784, 200, 10))
    avg = numbers_per_iteration((784, 200, 10), 4, algorithm="average", bias=False)
    assert avg.numbers == 4 * 784 * 200 + 4 * 200 * 10 and "parameters" in avg.what


def test_the_crossing_block_holds_every_worker_and_both_parities():
    spec = EngineSpec(hidden=(7, 4), n_inputs=6, n_outputs=3, workers=3, micro_batch=2,
                      parallel="tensor", backend="serial")
    block = SharedArrays(crossing_fields(spec), shared=False)
    assert block["cross0"].shape == (2, 3, 6, 4)  # parity, worker, sample, unit


@pytest.mark.parametrize("options,message", [
    (dict(algorithm="average"), "algorithm='average' applies to parallel=data only"),
    (dict(aggregate="central"), "aggregate='central' applies to parallel=data only"),
    (dict(send="gradients"), "send='gradients' applies to parallel=data only"),
    (dict(backend="dask"), "parallel='tensor' runs on backend=serial, threads or processes"),
    (dict(hidden=()), "parallel='tensor' needs a hidden layer to split"),
    (dict(parallel="pipeline"), "parallel='pipeline' is unknown: choose one of data, tensor"),
])
def test_what_tensor_parallelism_does_not_do_is_refused_in_one_line(options, message):
    with pytest.raises(OptionError) as info:
        EngineSpec(**{"workers": 2, "parallel": "tensor", **options})
    assert message in str(info.value) and "\n" not in str(info.value)


def test_the_spec_resolves_tensor_parallelism():
    spec = EngineSpec(workers=2, parallel="tensor")
    assert (spec.backend, spec.aggregate, spec.aggregation.name) == ("processes", None, "owners")
    # One worker asking for tensor parallelism gets the engine, not the sequential path.
    assert EngineSpec(parallel="tensor").backend == "processes"
    assert EngineSpec(workers=2).parallel == "data"


def test_the_cli_names_the_flags(tmp_path, capsys):
    argv = ["train", "--dataset", "synthetic", "--epochs", "1", "--quiet", "--workers", "2",
            "--parallel", "tensor", "--out", str(tmp_path / "run")]
    assert main([*argv, "--send", "gradients"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--send gradients applies to --parallel data only" in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "run").exists()
    assert main([*argv, "--backend", "serial", "--train-size", "60"]) == 0
    assert "N=2" in capsys.readouterr().out


def test_hosts_give_each_process_consecutive_workers_as_evenly_as_can_be():
    assert hosts(8, 2) == [(0, 1, 2, 3), (4, 5, 6, 7)]
    assert hosts(5, 2) == [(0, 1), (2, 3, 4)]
    assert hosts(3, 3) == [(0,), (1,), (2,)]
    for workers in range(1, 12):
        for processes in range(1, workers + 1):
            layout = hosts(workers, processes)
            assert sum(layout, ()) == tuple(range(workers))
            assert max(map(len, layout)) - min(map(len, layout)) <= 1
