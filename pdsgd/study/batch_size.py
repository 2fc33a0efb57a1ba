"""What a bigger batch costs: the crossing of a target, the gradient noise scale, B_crit.

Pure functions, nothing timed here:

- :func:`crossing`: where an accuracy history first reaches a target,
  interpolated linearly between two evaluations (samples, steps, seconds);
- :func:`noise_scale`: McCandlish et al.'s (2018) simple noise scale
  ``B_simple = tr(Sigma) / |G|^2`` from per-sample sufficient factors;
- :func:`critical_batch`: the critical batch size fitted to samples to target
  against batch size (Shallue et al. 2019's curve), with McCandlish et al.'s
  model ``E(B) = E_min (1 + B / B_crit)``.
"""

from __future__ import annotations

import numpy as np


def crossing(history, target, key="accuracy"):
    """Where ``history`` first reaches ``target``: each axis interpolated at the crossing.

    Parameters
    ----------
    history : dict of list
        Equal-length lists, one per axis (``samples``, ``steps``, ``seconds``,
        ...), and ``key``: the accuracy at each evaluation, in order.
    target : float

    Returns
    -------
    dict or None
        Every axis but ``key`` at the crossing, linearly interpolated between
        the last evaluation below ``target`` and the first at or above it (the
        first evaluation itself when it already reaches it); None when no
        evaluation reaches it.
    """
    acc = np.asarray(history[key], dtype=float)
    hits = np.flatnonzero(acc >= target)
    if len(hits) == 0:
        return None
    i = int(hits[0])
    axes = [k for k in history if k != key]
    if i == 0:
        return {k: float(history[k][0]) for k in axes}
    frac = (target - acc[i - 1]) / (acc[i] - acc[i - 1])
    return {k: float(history[k][i - 1] + frac * (history[k][i] - history[k][i - 1]))
            for k in axes}


def per_sample_norms(model, X, T):
    """``|g_i|^2`` of every sample's gradient, and the mean gradient ``G`` (flat), cheaply.

    A dense layer's per-sample gradient is the outer product ``delta_i a_i^T``,
    whose squared norm is ``|delta_i|^2 |a_i|^2``: no per-sample matrix is formed.
    """
    deltas, inputs = model.factors(X, T)
    sq = np.zeros(len(X))
    parts = []
    for d, a in zip(deltas, inputs, strict=True):
        dd = np.einsum("ij,ij->i", d, d)
        sq += dd * np.einsum("ij,ij->i", a, a)
        parts.append((d.T @ a).ravel() / len(X))
        if model.bias:
            sq += dd
            parts.append(d.sum(axis=0) / len(X))
    return sq, np.concatenate(parts)


def noise_scale(model, X, T):
    """McCandlish et al.'s simple noise scale ``B_simple = tr(Sigma) / |G|^2`` over ``X``.

    ``G`` is the mean per-sample gradient of the squared-error loss and
    ``tr(Sigma)`` the trace of the per-sample gradients' covariance (unbiased,
    over ``n - 1``). Batches well below ``B_simple`` are noise-dominated (a
    larger batch buys nearly proportionally fewer steps); well above it, a
    larger batch buys almost nothing: ``B_simple`` estimates the critical batch.

    Returns
    -------
    dict
        ``b_simple``, ``trace_sigma``, ``g_norm2`` and ``samples``.
    """
    sq, g = per_sample_norms(model, X, T)
    n = len(X)
    g2 = float(g @ g)
    trace = float((sq.sum() - n * g2) / (n - 1))
    return {"b_simple": trace / g2, "trace_sigma": trace, "g_norm2": g2, "samples": n}


def critical_batch(points):
    """``B_crit`` fitted to ``(batch, samples to target)`` points: ``E = E_min (1 + B/B_crit)``.

    A least-squares line ``E = E_min + (E_min / B_crit) B``; returns ``None``
    with fewer than two points or a slope that is not positive (no cost of a
    larger batch was measured).

    Returns
    -------
    dict or None
        ``b_crit``, ``e_min`` (samples) and ``s_min`` (steps, ``E_min / B_crit``).
    """
    pts = [(float(b), float(e)) for b, e in points if e is not None]
    if len({b for b, _ in pts}) < 2:
        return None
    b, e = np.array(pts).T
    slope, intercept = np.polyfit(b, e, 1)
    if slope <= 0 or intercept <= 0:
        return None
    return {"b_crit": float(intercept / slope), "e_min": float(intercept),
            "s_min": float(slope)}
