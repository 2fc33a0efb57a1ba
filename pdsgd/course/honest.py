"""Notebook 07's measurements: three speedups of one configuration, and the batch-size curve.

The notebook picks N, b, a learning-rate rule and a split; these functions
measure, and the notebook prints and draws what they return:

- :func:`one_core_grid`: the sequential path to a target accuracy over a grid of
  batches and rules (:mod:`pdsgd.study.best_split`), summarised as
  :func:`pdsgd.study.time_to_accuracy.analyse` does for ``make reproduce``
  (Shallue et al.'s curve, the critical batch, the noise scale, the best one-core
  configuration);
- :func:`speedups`: the seed's S and the hardware speedup, from
  :func:`pdsgd.study.throughput.engine_cell` (the same interleaved repeats);
- :func:`to_target_speedup` (:mod:`pdsgd.study.best_split`): the time-to-accuracy
  speedup over the best one-core configuration.
"""

from __future__ import annotations

from threadpoolctl import threadpool_limits

from pdsgd.course.lessons import pick
from pdsgd.spec import TENSOR
from pdsgd.study import best_split
from pdsgd.study.best_split import to_target_speedup as to_target_speedup
from pdsgd.study.throughput import engine_cell
from pdsgd.train.prepare import prepare_data


def course_data(name="mnist-5k"):
    """The notebook's data (P samples, :func:`pdsgd.course.lessons.pick`'s sizes) and target.

    Returns
    -------
    data : TrainingData
    target : float
        A test accuracy the seed's batch 1 reaches within a few epochs at this P.
    """
    return (prepare_data(name, train_size=pick(2000, 600)), pick(0.85, 0.7))


def one_core_grid(data, target, batches=None, rules=("fixed", "linear", "sqrt"),
                  eval_every=None, max_epochs=None, hidden=(200,)):
    """:func:`pdsgd.study.best_split.one_core_grid` at the course's sizes (see ``pick``)."""
    return best_split.one_core_grid(data, target, batches or pick((1, 4, 16, 64), (1, 4, 16)),
                                    rules, eval_every or pick(200, 100), max_epochs or 6, hidden)


def speedups(data, *, workers=2, micro_batch=1, strategy=TENSOR, repeats=None,
             min_seconds=None, hidden=(200,)):
    """The seed's S and the hardware speedup of one choice, from one interleaved timing.

    The engine against the sequential path at b and at N b (passes over the
    samples lasting ``min_seconds``, medians of the per-repeat ratios):
    :func:`pdsgd.study.throughput.engine_cell`, what ``pdsgd bench scaling`` runs.

    Returns
    -------
    dict
        ``S`` and ``hardware``, with the samples/s of the engine and both baselines,
        and the ``workers`` and ``micro_batch`` timed.
    """
    sizes = (data.X.shape[1], *hidden, data.T.shape[1])
    engine = "processes:tensor" if strategy == TENSOR else "processes:replicated"
    with threadpool_limits(limits=1):
        cell = engine_cell(data.X, data.T, engine, workers, micro_batch,
                           repeats or pick(3, 2), sizes, min_seconds=min_seconds or pick(0.2, 0.05))
    return {"S": cell["speedup"], "hardware": cell["hardware_speedup"],
            "engine_per_s": cell["samples_per_s"], "sequential_per_s": cell["sequential_per_s"],
            "hardware_per_s": cell["hardware_per_s"], "workers": workers,
            "micro_batch": micro_batch}


def summary(fast, to_target, *, workers, micro_batch, rule, strategy, best):
    """The three numbers (:func:`speedups`, :func:`to_target_speedup`), each named for its
    baseline, in a few lines."""
    numbers = {**fast, **to_target}
    tta = numbers["time_to_accuracy"]
    lines = [f"{strategy} parallelism, N = {workers}, b = {micro_batch}, rule {rule} "
             f"(batch N b = {workers * micro_batch}):",
             f"  the seed's S (against sequential at b = {micro_batch}):      "
             f"{numbers['S']:.2f}x",
             f"  hardware speedup (against sequential at N b = {workers * micro_batch}): "
             f"{numbers['hardware']:.2f}x",
             f"  time-to-accuracy speedup (against the best one-core run, B = "
             f"{best['batch']}, {best['rule']}): "
             + (f"{tta:.2f}x ({numbers['engine_seconds']:.2f} s against "
                f"{numbers['best_seconds']:.2f} s, {numbers['samples']:,.0f} samples against "
                f"{numbers['best_samples']:,.0f})" if tta is not None else
                "the engine did not reach the target with this rule")]
    return "\n".join(lines)
