"""One tensor-parallel worker: its private slices of the weights, and its iteration.

:mod:`pdsgd.engine.tensor` explains the split; this is its arithmetic. A
worker keeps its slices as private matrices ``[W | b]`` (the bias as the
weight of a constant input 1) and every buffer of an iteration preallocated,
so an iteration allocates nothing: its GEMMs write into those buffers, its
updates into the slices in place (BLAS works on ``W.T``, which is
Fortran-contiguous, so nothing is copied).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.linalg import blas
from scipy.special import expit

from pdsgd.engine.tensor import owned_units
from pdsgd.mlp import MLP


class TensorWorker:
    """Worker ``index`` of ``N`` under tensor parallelism: private slices of every pair of layers.

    Parameters
    ----------
    index : int
    model : MLP
        The parent's weights as this worker sees them (the shared block, or the
        parent itself on the serial backend): :meth:`load` reads its slices
        from there at a span's start, :meth:`store` writes them back at its end.
    X, T : ndarray
        All training inputs and targets.
    spec : EngineSpec
        ``workers``, ``micro_batch``, the sizes, ``bias`` and the straggler's delay.
    """

    def __init__(self, index, model, X, T, spec):
        self.index, self.model, self.X, self.T = index, model, X, T
        self.delay = spec.delay(index)
        self.sizes, self.bias, dtype = spec.sizes, spec.bias, model.dtype
        rows, one = spec.iteration_rows, int(spec.bias)
        self.fast = spec.workers == 1 and spec.micro_batch == 1
        self.leads = True  # False: another worker in this thread computes the whole layers
        self._gemm = blas.get_blas_funcs("gemm", dtype=dtype)
        if self.fast:  # the whole network in one worker: the sequential fast path
            self.whole = MLP(self.sizes, bias=self.bias, dtype=dtype)
            return
        L, sizes = len(self.sizes) - 1, self.sizes
        self.n_pairs, self.tail = L // 2, L % 2 == 1

        def block(cols, ones):
            a = np.empty((rows, cols + ones), dtype)
            a[:, cols:] = 1.0  # the constant input of the biases
            return a

        # acts[p]: the whole input of pair p (acts[0] holds the samples); the
        # last one is the network's output, or the tail layer's input.
        self.acts = [block(sizes[2 * p], one) for p in range(self.n_pairs)]
        self.acts.append(block(sizes[2 * self.n_pairs], one if self.tail else 0))
        self.units, self.w_row, self.w_col, self.hidden, self.d_hidden = [], [], [], [], []
        self.d_out = []  # d_out[p]: deltas of pair p's whole output
        for p in range(self.n_pairs):
            n_in, h, n_out = sizes[2 * p: 2 * p + 3]
            lo, hi = owned_units(h, index, spec.workers)
            col_bias = one if index == 0 else 0  # worker 0 owns the column layer's bias
            self.units.append((lo, hi))
            self.w_row.append(np.empty((hi - lo, n_in + one), dtype))
            self.w_col.append(np.empty((n_out, hi - lo + col_bias), dtype))
            self.hidden.append(block(hi - lo, col_bias))
            self.d_hidden.append(np.empty((rows, hi - lo), dtype))
            self.d_out.append(np.empty((rows, n_out), dtype))
        if self.tail:
            self.w_tail = np.empty((sizes[-1], sizes[-2] + one), dtype)
            self.out = np.empty((rows, sizes[-1]), dtype)
            self.d_tail = np.empty_like(self.out)
        else:
            self.out, self.d_tail = self.acts[-1], self.d_out[-1]
        self.targets = np.empty((rows, sizes[-1]), dtype)
        self._scratch = {}
        self._views = {}

    # ------------------------------------------------------------ the slices
    def load(self):
        """Copy this worker's slices out of the parent's weights (a span's start)."""
        m = self.model
        if self.fast:
            self.whole.params[...] = m.params
            return
        for p, (lo, hi) in enumerate(self.units):
            a, b = 2 * p, 2 * p + 1
            _put(self.w_row[p], m.weights[a][lo:hi], m.biases[a], lo, hi)
            _put(self.w_col[p], m.weights[b][:, lo:hi], m.biases[b] if self.index == 0 else None)
        if self.tail:
            _put(self.w_tail, m.weights[-1], m.biases[-1])

    def store(self):
        """Write this worker's slices back into the parent's weights (a span's end).

        Worker 0 also writes what every worker holds the same copy of (the
        tail layer); the workers write disjoint parts, so they may do it at
        the same time.
        """
        m = self.model
        if self.fast:
            m.params[...] = self.whole.params
            return
        for p, (lo, hi) in enumerate(self.units):
            a, b = 2 * p, 2 * p + 1
            _get(self.w_row[p], m.weights[a][lo:hi], m.biases[a], lo, hi)
            _get(self.w_col[p], m.weights[b][:, lo:hi], m.biases[b] if self.index == 0 else None)
        if self.tail and self.index == 0:
            _get(self.w_tail, m.weights[-1], m.biases[-1])

    def attach(self, block):
        """Use the crossing slots of ``block`` (:func:`~pdsgd.engine.tensor.crossing_fields`)."""
        names = sorted((k for k in block.arrays if k.startswith("cross")), key=lambda k: int(k[5:]))
        self.slots = [block[k] for k in names]
        self._views = {}

    def follow(self, leader):
        """Read what ``leader`` computes of the whole network instead of computing it again.

        For workers that run in turns in one thread
        (:func:`pdsgd.engine.strategies.tensor.run_turns`), where the leader's turn
        comes first in every phase. Every worker computes the same samples,
        the sums of the partials, the output and its deltas (and the tail
        layer) bit for bit alike: the followers read the leader's copy, so
        that one copy stays in the cache and the work is done once per
        thread. What a worker owns stays its own.
        """
        if leader is self or self.fast:
            return
        self.acts, self.d_out, self.targets = leader.acts, leader.d_out, leader.targets
        self.out, self.d_tail = leader.out, leader.d_tail
        if self.tail:
            self.w_tail = leader.w_tail  # only the leader updates it
        self.leads = False
        self._views = {}

    # ------------------------------------------------------------ iteration
    def iteration(self, indices, n_rows, lr, parity):
        """One iteration on samples ``indices[:n_rows]``, as a generator.

        It runs until it has written its partial sums for a crossing, yields,
        and goes on once the caller has let every worker do the same (a
        barrier, or the other workers' turns on the serial backend). It
        yields :func:`crossings` times (none on the fast path).
        """
        if self.delay:
            time.sleep(self.delay)
        if self.fast:
            i = indices[0]
            self.whole.step_one(self.X[i], self.T[i], lr)
            return
        v = self._views.get((n_rows, parity)) or self._bind(n_rows, parity)
        gemm, k, scale = self._gemm, self.index, -lr / n_rows
        idx = indices[:n_rows]
        lead = self.leads
        if lead:
            np.take(self.X, idx, axis=0, out=v.x, mode="clip")
        for p in range(self.n_pairs):
            h = v.h[p]
            np.matmul(v.acts[p], self.w_row[p].T, out=h)
            expit(h, out=h)
            np.matmul(v.hidden[p], self.w_col[p].T, out=v.fwd[p][k])
            yield
            if lead:
                out = v.sums[p]
                _sum_into(v.fwd[p], out)
                expit(out, out=out)
        d = v.d_tail
        if lead:
            if self.tail:
                np.matmul(v.acts[-1], self.w_tail.T, out=v.out)
                expit(v.out, out=v.out)
            np.take(self.T, idx, axis=0, out=v.t, mode="clip")
            np.subtract(v.out, v.t, out=d)
            _times_slope(d, v.out, v.tmp_out)
        if self.tail:
            d_prev = v.d_out[-1]
            if lead:
                np.matmul(d, self.w_tail[:, :self.sizes[-2]], out=d_prev)
                _times_slope(d_prev, v.sums[-1], v.tmp_last)
                gemm(scale, v.acts[-1].T, d.T, beta=1.0, c=self.w_tail.T, trans_b=1,
                     overwrite_c=1)
            d = d_prev
        for p in range(self.n_pairs - 1, -1, -1):
            dh, h = v.d_hidden[p], v.h[p]
            np.matmul(d, self.w_col[p][:, :h.shape[1]], out=dh)
            _times_slope(dh, h, v.tmp_h[p])
            if p > 0:
                np.matmul(dh, self.w_row[p][:, :self.sizes[2 * p]], out=v.bwd[p][k])
            if self.w_col[p].size:
                gemm(scale, v.hidden[p].T, d.T, beta=1.0, c=self.w_col[p].T, trans_b=1,
                     overwrite_c=1)
            if self.w_row[p].size:
                gemm(scale, v.acts[p].T, dh.T, beta=1.0, c=self.w_row[p].T, trans_b=1,
                     overwrite_c=1)
            if p > 0:
                yield
                d = v.d_out[p - 1]
                if lead:
                    _sum_into(v.bwd[p], d)
                    _times_slope(d, v.sums[p - 1], v.tmp_in[p])

    def _bind(self, n, parity):
        """Every view an iteration of ``n`` samples needs, made once (slicing costs ~0.2 us)."""
        P, sizes = self.n_pairs, self.sizes
        fwd = [s[parity, :, :n] for s in self.slots[:P]]
        bwd = [None] + [s[parity, :, :n] for s in self.slots[P:]]
        sums = [a[:n, :sizes[2 * p + 2]] for p, a in enumerate(self.acts[1:])]
        v = _Views(
            x=self.acts[0][:n, :sizes[0]], acts=[a[:n] for a in self.acts],
            h=[a[:n, :hi - lo] for a, (lo, hi) in zip(self.hidden, self.units)],
            hidden=[a[:n] for a in self.hidden], fwd=fwd, bwd=bwd, sums=sums,
            out=self.out[:n], d_tail=self.d_tail[:n], t=self.targets[:n],
            d_out=[d[:n] for d in self.d_out], d_hidden=[d[:n] for d in self.d_hidden],
            tmp_out=self._tmp((n, sizes[-1])), tmp_last=self._tmp((n, sizes[-2])),
            tmp_h=[self._tmp((n, hi - lo)) for lo, hi in self.units],
            tmp_in=[None] + [self._tmp((n, sizes[2 * p])) for p in range(1, P)])
        self._views[(n, parity)] = v
        return v

    def _tmp(self, shape):
        if shape not in self._scratch:
            self._scratch[shape] = np.empty(shape, self.out.dtype)
        return self._scratch[shape]


@dataclass
class _Views:
    x: np.ndarray
    acts: list
    h: list
    hidden: list
    fwd: list
    bwd: list
    sums: list
    out: np.ndarray
    d_tail: np.ndarray
    t: np.ndarray
    d_out: list
    d_hidden: list
    tmp_out: np.ndarray
    tmp_last: np.ndarray
    tmp_h: list
    tmp_in: list


def _sum_into(parts, out):
    """``out = parts[0] + parts[1] + ...``, in worker order (one ``add`` for two: faster)."""
    if len(parts) == 2:
        np.add(parts[0], parts[1], out=out)
    else:
        np.sum(parts, axis=0, out=out)


def _times_slope(d, a, tmp):
    """``d *= a * (1 - a)``: through the sigmoid's slope, with no temporary array."""
    d *= a
    np.subtract(1.0, a, out=tmp)
    d *= tmp


def _put(private, weights, bias, lo=None, hi=None):
    """Private ``[W | b]`` from the parent's ``W`` and (units ``lo:hi`` of) ``b``."""
    n = weights.shape[1]
    private[:, :n] = weights
    if bias is not None and private.shape[1] > n:
        private[:, n] = bias[lo:hi]


def _get(private, weights, bias, lo=None, hi=None):
    """The reverse of :func:`_put`: the parent's ``W`` and ``b`` from ``[W | b]``."""
    n = weights.shape[1]
    weights[...] = private[:, :n]
    if bias is not None and private.shape[1] > n:
        bias[lo:hi] = private[:, n]
