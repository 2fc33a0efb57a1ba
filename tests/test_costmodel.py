"""Amdahl's law, the logarithmic fit and the BSP cost model recover what generated their data."""

import json
import math

import numpy as np
import pytest

from pdsgd.engine.traffic import numbers_per_iteration
from pdsgd.study.costmodel import (
    CostModel,
    amdahl_speedup,
    bytes_moved,
    fit_amdahl,
    fit_cost_model,
    fit_log,
)


def test_amdahl_law_limits():
    assert amdahl_speedup(1, 0.7) == pytest.approx(1.0)
    assert amdahl_speedup(8, 1.0) == pytest.approx(8.0)
    assert amdahl_speedup(1e9, 0.9) == pytest.approx(10.0, rel=1e-6)


def test_fit_amdahl_recovers_the_parallel_fraction():
    n = np.array([1, 2, 4, 8, 16])
    assert fit_amdahl(n, amdahl_speedup(n, 0.83)) == pytest.approx(0.83, abs=1e-4)
    assert fit_amdahl([1], [1.0]) is None  # nothing with N > 1 to fit


def test_fit_log_recovers_the_slope():
    n = np.array([1, 2, 4, 8])
    k, r2 = fit_log(n, 1 + 0.6 * np.log2(n))
    assert k == pytest.approx(0.6)
    assert r2 == pytest.approx(1.0)


def _rows(model, workers, sizes=(1000, 4000), epochs=2, phases=True):
    """What the experiment runner would measure if ``model`` were the truth."""
    rows = [dict(backend=None, workers=1, micro_batch=1, train_size=p, epochs=epochs,
                 seconds=epochs * p * model.sequential, phases=None) for p in sizes]
    for p in sizes:
        for n in workers:
            ph = {"compute": model.compute, "aggregate": n * model.aggregate,
                  "wait": 0.0} if phases else None
            rows.append(dict(backend="processes", workers=n, micro_batch=1, train_size=p,
                             epochs=epochs, seconds=model.seconds(n, p, epochs), phases=ph))
    return rows


def test_cost_model_fit_recovers_its_terms_from_traced_cells():
    truth = CostModel(sequential=80e-6, compute=60e-6, aggregate=25e-6, sync0=10e-6,
                      sync1=4e-6, cores=2)
    fitted = fit_cost_model(_rows(truth, (1, 2, 4, 8)), cores=2)
    for term in ("sequential", "compute", "aggregate", "sync0", "sync1"):
        assert getattr(fitted, term) == pytest.approx(getattr(truth, term), rel=1e-6)
    assert fitted.source == "trace"
    # With more workers than anything else, aggregation is the serial part.
    assert fitted.limit() == pytest.approx(80 / 25)
    assert fitted.speedup(64, cores=64) < fitted.limit()


def test_cost_model_without_a_trace_fits_totals():
    truth = CostModel(sequential=80e-6, compute=60e-6, aggregate=25e-6, sync0=0.0, sync1=0.0,
                      cores=2)
    fitted = fit_cost_model(_rows(truth, (1, 2), phases=False), cores=2)
    assert fitted.source == "totals"
    assert fitted.speedup(2, 4000) == pytest.approx(truth.speedup(2, 4000), rel=1e-6)


def test_cost_model_counts_oversubscribed_rounds():
    m = CostModel(sequential=1.0, compute=1.0, aggregate=0.0, sync0=0.0, sync1=0.0, cores=2)
    # 8 workers on 2 cores take 4 rounds per iteration: no faster than 2 workers.
    assert m.iteration_seconds(8) == pytest.approx(4.0)
    assert m.speedup(8, 800) == pytest.approx(2.0)
    assert m.speedup(8, 800, cores=8) == pytest.approx(8.0)
    assert math.isinf(m.limit())


def test_no_engine_cells_means_no_model():
    rows = [dict(backend=None, workers=1, micro_batch=1, train_size=100, epochs=1, seconds=1.0)]
    assert fit_cost_model(rows, cores=2) is None


def _tensor_rows(model, workers, sizes=(1000, 4000), epochs=2):
    """Cells as tensor parallelism would measure them if ``model`` were the truth: each
    worker's update phase covers its own units for the iteration's b samples' worth."""
    rows = _rows(model, (), sizes, epochs)
    for p in sizes:
        for n in workers:
            rows.append(dict(backend="processes", workers=n, micro_batch=1, train_size=p,
                             epochs=epochs, seconds=model.seconds(n, p, epochs),
                             phases={"compute": model.compute, "aggregate": model.aggregate,
                                     "wait": 0.0}))
    return rows


def test_tensor_cost_model_shares_the_update_and_has_no_limit_from_it():
    truth = CostModel(sequential=80e-6, compute=30e-6, aggregate=20e-6, sync0=10e-6,
                      sync1=4e-6, cores=2, strategy="tensor")
    # The update of a tensor-parallel iteration is shared: N workers on N cores take
    # b * (compute + aggregate) each, not N b aggregates one after another.
    assert truth.iteration_seconds(4, cores=4) == pytest.approx(50e-6 + 10e-6 + 8e-6)
    assert truth.iteration_seconds(4) == pytest.approx(2 * 50e-6 + 10e-6 + 8e-6)
    fitted = fit_cost_model(_tensor_rows(truth, (1, 2, 4, 8)), cores=2, strategy="tensor")
    for term in ("sequential", "compute", "aggregate", "sync0", "sync1"):
        assert getattr(fitted, term) == pytest.approx(getattr(truth, term), rel=1e-6)
    assert fitted.strategy == "tensor" and math.isinf(fitted.limit())
    data = CostModel(**{**truth.as_dict(), "strategy": "data"})
    assert fitted.speedup(64, cores=64) > data.speedup(64, cores=64)


def test_bytes_moved_counts_what_traffic_counts_in_the_runs_dtype():
    config = dict(sizes=[784, 200, 10], workers=2, micro_batch=1, parallel="tensor",
                  aggregate=None, send="factors", algorithm="bsp", bias=True, dtype="float64")
    # Two workers' partial outputs, for two samples and ten classes.
    assert bytes_moved(config) == {"numbers": 40, "bytes": 320, "bytes_per_sample": 160.0,
                                   "crossings": 1,
                                   "what": numbers_per_iteration((784, 200, 10), 2,
                                                                 parallel="tensor").what}
    data = bytes_moved({**config, "parallel": "data", "aggregate": "central",
                        "dtype": "float32", "micro_batch": 16})
    # Every worker's 16 samples' factors up (784 + 200 in, 200 + 10 out), the weights down.
    assert data["numbers"] == 2 * 16 * (784 + 200 + 200 + 10) + 784 * 200 + 200 + 200 * 10 + 10
    assert data["bytes"] == 4 * data["numbers"] and data["crossings"] == 2


def test_hardware_speedup_reads_the_sequential_rate_at_n_b_from_measured_batches():
    """The hardware speedup's baseline is sequential minibatch SGD at batch N b: the model
    reads its time from the measured rates, interpolates between two (log2 of the batch)
    and predicts nothing outside them."""
    truth = CostModel(sequential=80e-6, compute=60e-6, aggregate=25e-6, sync0=10e-6,
                      sync1=4e-6, cores=2)
    rates = {1: 80e-6, 2: 58e-6, 8: 30e-6}  # a larger batch is faster per sample
    rows = _rows(truth, (1, 2, 4))
    baselines = [dict(backend=None, workers=1, micro_batch=b, train_size=p, epochs=2,
                      seconds=2 * p * t) for b, t in rates.items() if b > 1
                 for p in (1000, 4000)]
    fitted = fit_cost_model(rows, cores=2, baselines=baselines)
    assert fitted.batch_seconds == [[b, pytest.approx(t)] for b, t in sorted(rates.items())]
    # At N = 2, b = 1: the sequential run at batch 2 over the engine's predicted time.
    t_engine = fitted.seconds(2, 4000)
    assert fitted.hardware_speedup(2, 4000) == pytest.approx(4000 * 58e-6 / t_engine)
    assert fitted.speedup(2, 4000) == pytest.approx(4000 * 80e-6 / t_engine)
    # Batch 4 lies between the measured 2 and 8: halfway on log2, halfway in rate.
    assert fitted.sequential_at(4) == pytest.approx(44e-6)
    assert fitted.hardware_speedup(4, 4000, cores=4) == pytest.approx(
        4000 * 44e-6 / fitted.seconds(4, 4000, cores=4))
    # Batch 16 was not measured and lies past every measured batch: no prediction.
    assert fitted.sequential_at(16) is None and fitted.hardware_speedup(16, 4000) is None
    # N = 1 at b: the hardware baseline is the sequential run at b, so both speedups agree.
    assert fitted.hardware_speedup(1, 4000) == pytest.approx(fitted.speedup(1, 4000))
    # Kept through JSON (the study's cost model is drawn again from its dict).
    again = CostModel(**json.loads(json.dumps(fitted.as_dict())))
    assert again.hardware_speedup(2, 4000) == pytest.approx(fitted.hardware_speedup(2, 4000))


def test_a_model_without_batch_rates_predicts_no_hardware_speedup():
    m = CostModel(sequential=1.0, compute=1.0, aggregate=0.0, sync0=0.0, sync1=0.0, cores=2)
    assert m.hardware_speedup(2, 800) is None and m.speedup(2, 800) == pytest.approx(2.0)
