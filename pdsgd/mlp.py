"""The seed's network: a sigmoid multilayer perceptron with squared-error loss.

All parameters live in **one contiguous flat buffer**; each layer's weight matrix
and bias vector are views into it. That is what lets the parallel engine place a
model in shared memory, checksum it, or copy it in one call.

Weights are stored row-major as ``(n_out, n_in)`` so that ``z = W @ a + b``.
For a batch of ``B`` rows the per-layer gradient is an outer-product sum,
``dL/dW = D.T @ A / B``, where ``D`` holds the layer's deltas and ``A`` its
inputs. Those two factors are what workers send to the aggregator (sufficient
factors), and :meth:`MLP.apply_factors` turns them into an in-place update.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import blas
from scipy.special import expit

from pdsgd.errors import PdsgdError
from pdsgd.files import write_npz

#: The floating-point types a network (and a run: ``dtype=``) may use.
DTYPES = ("float64", "float32")


def param_count(sizes, bias=True):
    """Number of parameters of an MLP with layer ``sizes`` (input first)."""
    sizes = list(sizes)
    return sum(o * i + (o if bias else 0) for i, o in zip(sizes[:-1], sizes[1:]))


def check_sizes(sizes):
    """Return ``sizes`` as a tuple of ints, or raise a one-line :class:`PdsgdError`."""
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < 2:
        raise PdsgdError("an MLP needs at least an input and an output layer")
    if any(s <= 0 for s in sizes):
        raise PdsgdError(f"layer sizes must be positive integers, got {list(sizes)}")
    return sizes


class MLP:
    """Fully connected sigmoid network over a flat parameter buffer.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input first: ``(784, 200, 10)`` is the seed's network.
    bias : bool, default True
        The seed has biases; Rashid's reference network has none.
    dtype : {"float64", "float32"} or numpy dtype, default "float64"
    seed : int, default 0
        Seed of the initial weights, drawn as in Rashid's book from
        ``N(0, n_in ** -0.5)``; biases start at zero.
    params : ndarray, optional
        A flat buffer of length ``param_count(sizes, bias)`` to use *as is*
        (for example a view of shared memory). Its values are kept, not
        re-initialised.
    """

    def __init__(self, sizes, *, bias=True, dtype="float64", seed=0, params=None):
        self.sizes = check_sizes(sizes)
        self.bias = bool(bias)
        self.dtype = np.dtype(dtype)
        if self.dtype.name not in DTYPES:
            raise PdsgdError(f"dtype must be {' or '.join(DTYPES)}, got {self.dtype}")
        n = param_count(self.sizes, self.bias)
        if params is None:
            self.params = np.empty(n, dtype=self.dtype)
            fresh = True
        else:
            if params.shape != (n,) or params.dtype != self.dtype:
                raise ValueError(f"params must be a flat {self.dtype} buffer of {n} values")
            self.params = params
            fresh = False
        self.weights, self.biases = [], []
        offset = 0
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:]):
            self.weights.append(self.params[offset:offset + n_out * n_in].reshape(n_out, n_in))
            offset += n_out * n_in
            if self.bias:
                self.biases.append(self.params[offset:offset + n_out])
                offset += n_out
            else:
                self.biases.append(None)
        if fresh:
            rng = np.random.default_rng(seed)
            for w, b in zip(self.weights, self.biases):
                w[...] = rng.normal(0.0, w.shape[1] ** -0.5, size=w.shape)
                if b is not None:
                    b[...] = 0.0
        self._blas = {name: blas.get_blas_funcs(name, dtype=self.dtype)
                      for name in ("gemv", "ger", "gemm", "axpy")}
        self._scratch = None

    # ------------------------------------------------------------------ basics
    @property
    def n_layers(self):
        """Number of weight layers (hidden layers + 1)."""
        return len(self.weights)

    def copy(self):
        """A new model with its own copy of the parameters."""
        return MLP(self.sizes, bias=self.bias, dtype=self.dtype, params=self.params.copy())

    def forward(self, X):
        """Activations of every layer for a batch.

        Parameters
        ----------
        X : ndarray, shape (B, sizes[0])

        Returns
        -------
        list of ndarray
            ``[X, a_1, ..., a_L]``; ``a_L`` is the network's output.
        """
        acts = [np.asarray(X, dtype=self.dtype)]
        for w, b in zip(self.weights, self.biases):
            z = acts[-1] @ w.T
            if b is not None:
                z += b
            acts.append(expit(z, out=z))
        return acts

    def predict(self, X):
        """Predicted class (index of the largest output) for each row of ``X``."""
        return np.argmax(self.forward(X)[-1], axis=1)

    def loss(self, X, T):
        """Mean over the batch of the squared error ``0.5 * ||a_L - t||^2``."""
        out = self.forward(X)[-1]
        return float(0.5 * np.sum((out - T) ** 2) / len(out))

    def accuracy(self, X, y):
        """Fraction of rows of ``X`` whose predicted class equals ``y``."""
        return float(np.mean(self.predict(X) == y))

    # ---------------------------------------------------------------- gradients
    def factors(self, X, T):
        """Sufficient factors of the summed gradient over a batch.

        Returns
        -------
        deltas, inputs : list of ndarray
            For layer ``l``, ``deltas[l]`` has shape ``(B, n_out)`` and
            ``inputs[l]`` shape ``(B, n_in)``; the summed weight gradient is
            ``deltas[l].T @ inputs[l]`` and the summed bias gradient
            ``deltas[l].sum(0)``.
        """
        acts = self.forward(X)
        out = acts[-1]
        delta = (out - T) * out * (1.0 - out)
        deltas = [delta]
        for l in range(self.n_layers - 1, 0, -1):
            a = acts[l]
            delta = (delta @ self.weights[l]) * a * (1.0 - a)
            deltas.append(delta)
        deltas.reverse()
        return deltas, acts[:-1]

    def gradient(self, X, T):
        """Flat gradient of the batch-mean loss, in the layout of :attr:`params`."""
        grad = MLP(self.sizes, bias=self.bias, dtype=self.dtype,
                   params=np.zeros_like(self.params))
        deltas, inputs = self.factors(X, T)
        grad.apply_factors(deltas, inputs, 1.0 / len(X))
        return grad.params

    def layer_into(self, l, A, out):
        """``out[...] = A @ W_l.T + b_l`` for the rows of ``A``, written into ``out``.

        The parallel workers' forward pass: it writes straight into their result
        slots. One row takes BLAS ``gemv``, which at 784-200 is about twice as
        fast as ``np.matmul`` on a one-row matrix.
        """
        w, b = self.weights[l], self.biases[l]
        if len(A) == 1:
            y = out[0]
            if b is not None:
                y[:] = b
            self._blas["gemv"](1.0, w.T, A[0], beta=0.0 if b is None else 1.0, y=y,
                               trans=1, overwrite_y=1)
        else:
            np.matmul(A, w.T, out=out)
            if b is not None:
                out += b

    def apply_factors(self, deltas, inputs, scale, part=0, parts=1):
        """In place: ``W_l += scale * deltas[l].T @ inputs[l]``, ``b_l += scale * sum``.

        One GEMM per layer, written straight into the parameter buffer (BLAS
        works on ``W.T``, which is Fortran-contiguous, so nothing is copied).
        For an SGD step over a batch of ``B`` rows, ``scale = -lr / B``.

        With ``parts > 1`` only share ``part`` of every layer's rows is updated:
        rows ``[part*n_out//parts, (part+1)*n_out//parts)`` of ``W_l`` and the
        same entries of ``b_l`` (none when ``parts > n_out``). Callers with
        ``part = 0 .. parts-1`` update disjoint rows, so they may run at the
        same time on shared weights (``--aggregate sharded``).
        """
        gemm = self._blas["gemm"]
        for w, b, d, a in zip(self.weights, self.biases, deltas, inputs):
            n_out = w.shape[0]
            lo, hi = part * n_out // parts, (part + 1) * n_out // parts
            if hi == lo:
                continue
            # W[lo:hi].T is Fortran-contiguous, so the GEMM writes in place; a share
            # of the deltas' columns is strided, and its copy is a few hundred numbers.
            d = np.ascontiguousarray(d[:, lo:hi], dtype=self.dtype)
            a = np.asarray(a, dtype=self.dtype)
            gemm(scale, a.T, d.T, beta=1.0, c=w[lo:hi].T, trans_b=1, overwrite_c=1)
            if b is not None:
                b[lo:hi] += scale * d.sum(axis=0)

    def sgd_step(self, X, T, lr):
        """One SGD step on the mean loss of the batch ``(X, T)`` (any batch size)."""
        deltas, inputs = self.factors(X, T)
        self.apply_factors(deltas, inputs, -lr / len(X))

    # ------------------------------------------------------------- batch 1 path
    def step_one(self, x, t, lr):
        """One SGD step on a single sample, updating the parameters in place.

        The fast path of the seed's algorithm: BLAS ``gemv`` for the forward
        and backward passes and a rank-1 ``ger`` update straight into the
        parameter buffer, into preallocated vectors, so no matrix is allocated
        per step. Equal (to rounding) to ``sgd_step(x[None], t[None], lr)``.
        """
        gemv, ger, axpy = self._blas["gemv"], self._blas["ger"], self._blas["axpy"]
        if self._scratch is None:
            self._scratch = ([np.empty(n, self.dtype) for n in self.sizes[1:]],
                             [np.empty(n, self.dtype) for n in self.sizes[1:]])
        acts, deltas = self._scratch
        a = x
        for l, (w, b) in enumerate(zip(self.weights, self.biases)):
            z = acts[l]
            if b is not None:
                z[:] = b
                gemv(1.0, w.T, a, beta=1.0, y=z, trans=1, overwrite_y=1)
            else:
                gemv(1.0, w.T, a, beta=0.0, y=z, trans=1, overwrite_y=1)
            expit(z, out=z)
            a = z
        d = deltas[-1]
        np.subtract(a, t, out=d)
        d *= a
        d *= 1.0 - a
        for l in range(self.n_layers - 1, 0, -1):
            h, prev = acts[l - 1], deltas[l - 1]
            gemv(1.0, self.weights[l].T, deltas[l], beta=0.0, y=prev, overwrite_y=1)
            prev *= h
            prev *= 1.0 - h
        for l, (w, b) in enumerate(zip(self.weights, self.biases)):
            a_in = x if l == 0 else acts[l - 1]
            ger(-lr, a_in, deltas[l], a=w.T, overwrite_a=1)
            if b is not None:
                axpy(deltas[l], b, a=-lr)

    # ------------------------------------------------------------------ storage
    def arrays(self):
        """What :meth:`save` writes: ``sizes``, ``bias``, ``dtype`` and ``params`` as arrays."""
        return {"sizes": np.array(self.sizes), "bias": np.array(self.bias),
                "dtype": np.array(self.dtype.name), "params": self.params}

    def save(self, path):
        """Write the model to ``path`` as ``.npz`` (atomic; loads with ``allow_pickle=False``)."""
        write_npz(path, **self.arrays())

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as f:
            return cls(f["sizes"].tolist(), bias=bool(f["bias"]), dtype=str(f["dtype"]),
                       params=f["params"].copy())
