"""A strategy written in this file, added through the public registry, runs on every backend.

``ReverseMean`` is data-parallel BSP whose broker sums the workers' gradients
in *reverse* worker order before the step. It defines its own shared arrays,
worker loop, broker side and serial oracle, and touches no backend: the
serial, threads and processes backends run it because the spec names it.
Summation order changes only rounding, so it must equal sequential minibatch
SGD with batch N*b to 1e-12, and the three backends must agree bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import problem, reference, shm_segments, worker_children

from pdsgd.engine import strategies
from pdsgd.engine.broker import Broker
from pdsgd.engine.shuffle import epoch_order
from pdsgd.errors import OptionError, PdsgdError
from pdsgd.mlp import MLP
from pdsgd.spec import EngineSpec

SIZES = (6, 5, 3)


class GradientWorker:
    """Worker ``index``: the summed gradient of its block of an iteration, as a flat vector."""

    def __init__(self, index, model, X, T, spec):
        self.index, self.model, self.X, self.T, self.spec = index, model, X, T, spec

    def gradient(self, indices, n_rows, out):
        lo, hi = self.spec.block(self.index, n_rows)
        idx = indices[lo:hi]
        out[...] = self.model.gradient(self.X[idx], self.T[idx]) * len(idx) if hi > lo else 0.0


def reverse_step(params, grads, n_rows, lr):
    """One SGD step with the mean of the iteration's gradients, summed last worker first."""
    total = grads[-1].copy()
    for g in grads[-2::-1]:
        total += g
    params -= lr / n_rows * total


class ReverseMean(strategies.Strategy):
    """BSP with the broker averaging the workers' gradients in reverse worker order."""

    name = "reverse-mean"
    option = "algorithm"
    aggregates = ("central",)  # the broker applies the update between two crossings
    sends = ("gradients",)
    worker = GradientWorker

    def resolve_aggregate(self, spec, backend):
        return "central"

    def fields(self, spec):
        return {"toy_grads": ((spec.workers, len(MLP(spec.sizes).params)), spec.dtype)}

    def serial(self, model, X, T, spec):
        return SerialReverse(self, model, X, T, spec)

    def leader(self, pool):
        return LeaderReverse(pool)

    def work(self, host):
        worker, = host.workers
        block = host.block
        for count, _ in host.spans():
            for k in range(count):
                worker.gradient(block["schedule"][k], int(block["n_rows"][k]),
                                block["toy_grads"][worker.index])
                host.step_barrier.wait()  # every gradient is in
                host.step_barrier.wait()  # the broker has stepped the shared weights


class SerialReverse:
    def __init__(self, strategy, model, X, T, spec):
        self.model, self.spec = model, spec
        self.workers = [strategy.make_worker(i, model, X, T, spec) for i in range(spec.workers)]
        self.grads = np.zeros((spec.workers, len(model.params)), model.dtype)

    def run_span(self, span, lr, first, t0):
        for k in range(span.count):
            for worker in self.workers:
                worker.gradient(span.indices[k], int(span.n_rows[k]), self.grads[worker.index])
            reverse_step(self.model.params, self.grads, int(span.n_rows[k]), lr)
        return strategies.Outcome(None)


class LeaderReverse:
    def __init__(self, pool):
        self.pool = pool

    def run_span(self, span, lr, first):
        pool = self.pool
        pool.publish(span, lr)
        pool.go(span.count)
        for k in range(span.count):
            pool.step_wait()
            reverse_step(pool.block["params"], pool.block["toy_grads"], int(span.n_rows[k]), lr)
            pool.step_wait()
        pool.span_wait()
        pool.model.params[...] = pool.block["params"]
        return strategies.Outcome(None)


@pytest.fixture(scope="module")
def reverse():
    """The toy strategy, registered while this module's tests run (the registry is global)."""
    with strategies.registered(ReverseMean()) as strategy:
        yield strategy


def train(backend, X, T, epochs=2, **options):
    model = MLP(SIZES, seed=3)
    with Broker(model, X, T, workers=3, micro_batch=2, backend=backend, span=5,
                algorithm="reverse-mean", send="gradients", **options) as broker:
        for epoch in range(epochs):
            broker.run_epoch(epoch_order(len(X), 0, epoch), 0.5)
        updates = broker.updates
    return model.params, updates


def test_a_strategy_from_the_registry_runs_on_every_backend_and_is_minibatch_sgd(reverse):
    before = shm_segments()
    X, T = problem(n=37)  # 37 = 6 * 6 + 1: the last iteration leaves two workers no samples
    runs = {backend: train(backend, X, T) for backend in ("serial", "threads", "processes")}
    expected = reference(SIZES, X, T, batch=6, epochs=2)
    for backend, (params, updates) in runs.items():
        assert np.array_equal(params, runs["serial"][0]), backend
        assert np.max(np.abs(params - expected)) < 1e-12, backend
        assert len(updates) == 2 * (6 * 3 + 1)  # one record per block: BSP's
    assert not np.array_equal(runs["serial"][0], MLP(SIZES, seed=3).params)  # it trained
    assert shm_segments() <= before and worker_children() == []


def test_the_registry_names_it_and_the_spec_checks_its_options(reverse):
    assert strategies.get("reverse-mean") is reverse
    assert "reverse-mean" in strategies.choices("algorithm")
    spec = EngineSpec(workers=2, algorithm="reverse-mean", send="gradients", n_inputs=6,
                      n_outputs=3, backend="threads")
    assert spec.strategy is reverse and spec.aggregate == "central"
    assert spec.aggregation.broker_applies
    with pytest.raises(OptionError, match="send='factors' applies to algorithm=bsp"):
        EngineSpec(workers=2, algorithm="reverse-mean")
    with pytest.raises(PdsgdError, match="registered already"):
        strategies.register(type("Impostor", (ReverseMean,), {})())
    with pytest.raises(PdsgdError, match="registered already"):
        with strategies.registered(ReverseMean()):
            pass


def test_a_strategy_registered_for_a_block_is_gone_after_it():
    with strategies.registered(type("Other", (ReverseMean,), {"name": "other-mean"})()):
        assert "other-mean" in strategies.ALGORITHMS and strategies.get("other-mean")
    assert "other-mean" not in strategies.choices("algorithm")
    with pytest.raises(OptionError, match="algorithm='other-mean' is unknown"):
        EngineSpec(workers=2, algorithm="other-mean")


def test_every_built_in_strategy_is_registered_under_its_option():
    assert strategies.choices("parallel") == ("data", strategies.TENSOR)
    assert strategies.choices("sync") == ("bsp", "ssp", "async", "hogwild")
    assert strategies.choices("algorithm")[:2] == ("bsp", "average")
    for option, default in strategies.OPTIONS.items():
        for name in strategies.choices(option):
            if name != default:
                assert strategies.get(name).option == option
    with pytest.raises(PdsgdError, match="unknown strategy 'pipeline'"):
        strategies.get("pipeline")
