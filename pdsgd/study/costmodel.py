"""Where the time goes, as formulas: Amdahl's law and a BSP cost model fitted to measurements.

**Amdahl's law.** If a fraction ``f`` of the sequential work parallelises
perfectly and the rest does not, N workers give ``S(N) = 1 / ((1 - f) + f / N)``.

**The BSP cost model.** One iteration of the seed's algorithm with N workers,
each on ``b`` samples, on a machine with C cores costs::

    T_iter(N) = ceil(N / C) * b * compute   # workers run in parallel, C at a time
              + N * b * aggregate           # the N*b samples' updates are applied one after another
              + sync0 + sync1 * log2(N)     # barrier, hand-offs, publishing the new weights

and an epoch of P samples takes ``ceil(P / (N b))`` iterations. With tensor
parallelism (strategy ``tensor``) every worker updates only the units it owns,
for all N b samples: its share of the update costs as much as b samples' whole
update, in parallel, so the middle term becomes ``ceil(N / C) * b * aggregate``
and what stays serial is the synchronisation. ``compute``
and ``aggregate`` come from the engine's trace (the compute and aggregation
phases); ``sync`` is what remains of the measured iteration time, fitted
against ``log2 N`` (a tree barrier's depth). The sequential reference costs
``sequential`` seconds per sample. The model predicts speedup for machines
with more cores than the one that measured it: as N grows, ``N * aggregate``
dominates and the seed's S levels off at ``sequential / aggregate``.

**Two speedups.** :meth:`CostModel.speedup` predicts the seed's S, against the
sequential path at the same b. :meth:`CostModel.hardware_speedup` predicts the
hardware speedup, against sequential minibatch SGD at batch N b (the same
arithmetic): its baseline's time comes from the sequential rates measured at
each batch (``batch_seconds``), read at N b, interpolated between two measured
batches on a log2 scale and never extrapolated past them (no prediction there).

**What crosses between the workers.** :func:`bytes_moved` counts, for a run's
configuration, the numbers one worker writes for another to read per iteration
(:func:`pdsgd.engine.traffic.numbers_per_iteration`): with data parallelism
the samples' sufficient factors (and with ``central`` or ``sharded`` aggregation
the weights too), with tensor parallelism the partial sums of the activations.
On one machine they travel between the cores' caches; between machines, over
the network, where they would cost ``bytes / bandwidth`` per iteration.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.optimize import minimize_scalar, nnls

from pdsgd.engine.strategies import TENSOR
from pdsgd.engine.traffic import numbers_per_iteration


def amdahl_speedup(n, f):
    """Speedup with ``n`` workers when a fraction ``f`` of the work is parallel."""
    n = np.asarray(n, dtype=float)
    return 1.0 / ((1.0 - f) + f / n)


def fit_amdahl(n, speedup):
    """The parallel fraction ``f`` in [0, 1] that best fits measured speedups (least squares).

    Parameters
    ----------
    n, speedup : sequence of float
        Worker counts and the speedups measured there.

    Returns
    -------
    float or None
        None when there is nothing to fit (no point with ``n > 1``).
    """
    n, s = np.asarray(n, dtype=float), np.asarray(speedup, dtype=float)
    keep = (n > 1) & np.isfinite(s)
    if not keep.any():
        return None
    n, s = n[keep], s[keep]
    res = minimize_scalar(lambda f: float(np.sum((amdahl_speedup(n, f) - s) ** 2)),
                          bounds=(0.0, 1.0), method="bounded", options={"xatol": 1e-6})
    return float(res.x)


def fit_log(n, speedup):
    """Fit ``S(N) = 1 + k log2 N`` (the seed's "roughly logarithmic") by least squares.

    Returns
    -------
    (k, r2) : tuple of float, or None
        The slope and the coefficient of determination of the fit.
    """
    n, s = np.asarray(n, dtype=float), np.asarray(speedup, dtype=float)
    keep = np.isfinite(s)
    n, s = n[keep], s[keep]
    x = np.log2(n)
    if not np.any(x > 0):
        return None
    k = float(np.dot(x, s - 1.0) / np.dot(x, x))
    return k, r_squared(s, 1.0 + k * x)


def fit_linear(n, speedup):
    """Fit ``S(N) = 1 + m (N - 1)`` (a straight line through the sequential run).

    Set beside :func:`fit_log`: a curve that a line describes better than a
    logarithm does not grow "logarithmically".

    Returns
    -------
    (m, r2) : tuple of float, or None
        None when no point has ``N > 1``.
    """
    n, s = np.asarray(n, dtype=float), np.asarray(speedup, dtype=float)
    keep = np.isfinite(s)
    n, s = n[keep], s[keep]
    x = n - 1.0
    if not np.any(x > 0):
        return None
    m = float(np.dot(x, s - 1.0) / np.dot(x, x))
    return m, r_squared(s, 1.0 + m * x)


def format_fit(slope, r2, term="log2 N"):
    """``"S = 1 - 0.05 log2 N (R^2 0.91)"``, or ``"no fit (R^2 -0.62)"`` when R^2 < 0.

    A negative R^2 means the formula predicts worse than the mean of the
    points: it describes nothing, so no formula is printed.
    """
    if slope is None:
        return "no fit"
    if r2 is None or r2 != r2:  # every point equal: R^2 is undefined
        return f"S = 1 {'-' if slope < 0 else '+'} {abs(slope):.2f} {term}"
    if r2 < 0:
        return f"no fit (R^2 {r2:.2f})"
    return f"S = 1 {'-' if slope < 0 else '+'} {abs(slope):.2f} {term} (R^2 {r2:.2f})"


def r_squared(measured, predicted):
    """Coefficient of determination; 1 is a perfect fit, 0 no better than the mean."""
    measured, predicted = np.asarray(measured, float), np.asarray(predicted, float)
    total = np.sum((measured - measured.mean()) ** 2)
    if total == 0:
        return float("nan")
    return float(1.0 - np.sum((measured - predicted) ** 2) / total)


@dataclass
class CostModel:
    """Seconds per sample and per iteration of the BSP engine (see the module docstring).

    Attributes
    ----------
    sequential : float
        Seconds per sample of the sequential reference (the T(1) of speedups).
    compute : float
        Seconds per sample of a worker's forward and backward pass.
    aggregate : float
        Seconds per sample to apply one sample's update to the parent model.
    sync0, sync1 : float
        Synchronisation per iteration: ``sync0 + sync1 * log2(N)`` seconds.
    cores : int
        Cores of the machine that measured it.
    source : str
        How the terms were obtained ("trace" or "totals").
    strategy : str
        ``"data"`` (the update of all N b samples is applied whole: the serial
        part) or ``tensor`` (each worker applies its own share, in parallel).
    batch_seconds : list of [int, float]
        Seconds per sample of sequential minibatch SGD, measured at each batch
        ``[batch, seconds]``: the baselines of the hardware speedup.
    """

    sequential: float
    compute: float
    aggregate: float
    sync0: float
    sync1: float
    cores: int
    source: str = "trace"
    strategy: str = "data"
    batch_seconds: list = field(default_factory=list)

    def iteration_seconds(self, n, micro_batch=1, cores=None):
        """Predicted seconds of one iteration with ``n`` workers on ``cores`` cores."""
        cores = cores or self.cores
        rounds = math.ceil(n / cores)
        updating = (rounds if self.strategy == TENSOR else n) * micro_batch * self.aggregate
        return (rounds * micro_batch * self.compute + updating
                + self.sync0 + self.sync1 * math.log2(n))

    def seconds(self, n, train_size, epochs=1, micro_batch=1, cores=None):
        """Predicted training seconds of ``epochs`` epochs on ``train_size`` samples."""
        iters = math.ceil(train_size / (n * micro_batch))
        return epochs * iters * self.iteration_seconds(n, micro_batch, cores)

    def speedup(self, n, train_size=60_000, micro_batch=1, cores=None):
        """Predicted seed's S, ``T_seq(b) / T(n)``: against the sequential reference at b."""
        return (train_size * self.sequential
                / self.seconds(n, train_size, 1, micro_batch, cores))

    def sequential_at(self, batch):
        """Seconds per sample of sequential minibatch SGD at ``batch``, from the measured rates.

        Measured at ``batch``: that rate. Between two measured batches: interpolated
        linearly in log2 of the batch. Outside the measured batches: None (the rates
        were not measured there, and how a larger batch keeps paying off is a
        property of the machine's caches that no formula here knows).
        """
        if not self.batch_seconds:
            return None
        pts = sorted((float(b), float(t)) for b, t in self.batch_seconds)
        bs, ts = zip(*pts, strict=True)
        if not bs[0] <= batch <= bs[-1]:
            return None
        return float(np.interp(math.log2(batch), np.log2(bs), ts))

    def hardware_speedup(self, n, train_size=60_000, micro_batch=1, cores=None):
        """Predicted hardware speedup, ``T_seq(n b) / T(n)``: against sequential minibatch
        SGD at batch ``n * micro_batch`` (:meth:`sequential_at`), or None where that rate
        was not measured and lies between no two measured batches."""
        per_sample = self.sequential_at(n * micro_batch)
        if per_sample is None:
            return None
        return train_size * per_sample / self.seconds(n, train_size, 1, micro_batch, cores)

    def limit(self):
        """The seed's S that no number of workers exceeds (``sequential / aggregate``).

        Infinite for tensor parallelism, whose update is shared out: there the
        model's limit is the synchronisation, which it fits only as ``log2 N``.
        """
        if self.strategy == TENSOR or self.aggregate <= 0:
            return float("inf")
        return self.sequential / self.aggregate

    def as_dict(self):
        """The fitted terms, for JSON."""
        return asdict(self)


def fit_cost_model(rows, cores, strategy="data", baselines=()):
    """Fit a :class:`CostModel` to measured cells of one strategy.

    Parameters
    ----------
    rows : list of dict
        One per cell, with keys ``workers``, ``micro_batch``, ``train_size``,
        ``epochs``, ``seconds`` (median training time) and ``backend`` (None for
        the sequential reference, taken at the engine cells' micro-batch); engine
        cells may carry ``phases``: mean
        seconds per iteration of ``compute`` (one worker), ``aggregate`` and
        ``wait``, from the trace.
    cores : int
        Cores of the measuring machine: only cells with ``workers <= cores``
        are fitted, because the model's terms assume a core per worker.
    strategy : {data, tensor}
        The strategy of the engine rows (see :class:`CostModel`).
    baselines : list of dict, optional
        More sequential rows (``backend`` None) at other batches, such as the
        hardware speedup's baselines at N b: with the sequential rows of ``rows``
        they give ``batch_seconds``, the median seconds per sample at each batch.

    Returns
    -------
    CostModel or None
        None without a sequential cell and an engine cell to fit.
    """
    eng = [r for r in rows if r["backend"] is not None and r["workers"] <= cores]
    # T(1) at the engine rows' smallest micro-batch (a study passes one b at a time).
    b_seq = min((r["micro_batch"] for r in eng), default=1)
    seq = [r["seconds"] / (r["epochs"] * r["train_size"]) for r in rows
           if r["backend"] is None and r["workers"] == 1 and r["micro_batch"] == b_seq]
    if not seq or not eng:
        return None
    sequential = float(np.median(seq))
    n = np.array([r["workers"] for r in eng], float)
    b = np.array([r["micro_batch"] for r in eng], float)
    iters = np.array([math.ceil(r["train_size"] / (r["workers"] * r["micro_batch"]))
                      for r in eng], float)
    per_iter = np.array([r["seconds"] / r["epochs"] for r in eng]) / iters
    if all(r.get("phases") for r in eng):
        # The trace splits an iteration: compute and aggregation are read off it,
        # and everything else (barrier, hand-offs, bookkeeping) is synchronisation.
        compute = float(np.median([r["phases"]["compute"] for r in eng] / b))
        shared = b if strategy == TENSOR else n * b  # samples one worker's update covers
        aggregate = float(np.median([r["phases"]["aggregate"] for r in eng] / shared))
        sync = per_iter - b * compute - shared * aggregate
        source = "trace"
    else:
        # Without a trace only totals are known: per-sample time = alpha / N + beta,
        # alpha the parallel part (compute, sync included), beta the serial part.
        per_sample = per_iter / (n * b)
        coef = _nonneg_lstsq(np.column_stack([1 / n, np.ones_like(n)]), per_sample)
        compute, aggregate = float(coef[0]), float(coef[1])
        sync = np.zeros_like(per_iter)
        source = "totals"
    # Fitted on epoch seconds (each row times its iterations), not per iteration: long
    # cells, whose start-up costs are spread thinnest, then weigh the most.
    sync0, sync1 = _nonneg_lstsq(np.column_stack([iters, iters * np.log2(n)]), sync * iters)
    return CostModel(sequential=sequential, compute=compute, aggregate=aggregate,
                     sync0=float(sync0), sync1=float(sync1), cores=int(cores), source=source,
                     strategy=strategy, batch_seconds=batch_rates([*rows, *baselines]))


def batch_rates(rows):
    """``[[batch, seconds per sample], ...]``: the median of the sequential rows at each batch.

    Sequential rows are those with ``backend`` None and one worker; their
    ``micro_batch`` is the batch of their minibatch SGD.
    """
    per = {}
    for r in rows:
        if r["backend"] is None and r["workers"] == 1:
            per.setdefault(r["micro_batch"], []).append(
                r["seconds"] / (r["epochs"] * r["train_size"]))
    return [[int(b), float(np.median(ts))] for b, ts in sorted(per.items())]


def bytes_moved(config):
    """What crosses between the workers per iteration of a run, from its configuration.

    Parameters
    ----------
    config : dict
        A run's ``TrainResult.config`` (as a cell's record holds it): ``sizes``,
        ``workers``, ``micro_batch``, ``parallel``, ``aggregate``, ``send``,
        ``algorithm``, ``bias`` and ``dtype``.

    Returns
    -------
    dict
        ``numbers`` and ``bytes`` per iteration, ``bytes_per_sample`` (per
        sample of the iteration), ``crossings`` (barrier crossings per
        iteration) and ``what`` (what the numbers are, in words).
    """
    c = config
    t = numbers_per_iteration(c["sizes"], c["workers"], c["micro_batch"],
                              parallel=c.get("parallel", "data"),
                              aggregate=c.get("aggregate") or "replicated",
                              send=c.get("send", "factors"),
                              algorithm=c.get("algorithm", "bsp"), bias=c.get("bias", True))
    itemsize = np.dtype(c.get("dtype", "float64")).itemsize
    samples = c["workers"] * c["micro_batch"]
    return {"numbers": t.numbers, "bytes": t.bytes(itemsize),
            "bytes_per_sample": t.bytes(itemsize) / samples, "crossings": t.crossings,
            "what": t.what}


def _nonneg_lstsq(A, y):
    """Least squares with coefficients clipped at zero (a cost is never negative)."""

    # A column that is all zeros (log2 1 when only N=1 was measured) would be
    # arbitrary; nnls leaves it at zero, which is the honest "not measured".
    return nnls(A, np.maximum(np.asarray(y, float), 0.0))[0]
