"""A run's data and model: the dataset cut to P samples, the seeded network, its accuracy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pdsgd.data.datasets import Dataset, load_dataset
from pdsgd.errors import OptionError, positive
from pdsgd.mlp import MLP


@dataclass
class TrainingData:
    """A dataset made ready for training: P samples, one-hot targets, the run's dtype."""

    name: str
    scaling: str
    X: np.ndarray
    y: np.ndarray
    T: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int

    @property
    def n_features(self):
        """Input width."""
        return self.X.shape[1]


def prepare_data(data, *, train_size=None, dtype="float64"):
    """Load ``data`` (a name or a :class:`Dataset`) and keep its first ``train_size`` samples.

    Returns
    -------
    TrainingData
        Contiguous inputs and 0.01/0.99 targets in ``dtype``.
    """
    positive("train_size", train_size, allow_none=True)
    if isinstance(data, Dataset):
        if train_size is not None and train_size > len(data.X_train):
            raise OptionError("train_size", train_size,
                              f"is more than {data.name} holds ({len(data.X_train)} "
                              "training samples)")
        dataset = data
    else:
        dataset = load_dataset(data, train_size=train_size, dtype=dtype)
    X = np.ascontiguousarray(dataset.X_train[:train_size], dtype=dtype)
    y = dataset.y_train[:train_size]
    return TrainingData(dataset.name, dataset.scaling, X, y,
                        dataset.targets(y).astype(dtype, copy=False),
                        dataset.X_test.astype(dtype, copy=False), dataset.y_test,
                        dataset.n_classes)


def build_model(spec, seed=0):
    """The seed's network with the spec's sizes, bias and dtype, initial weights from ``seed``."""
    return MLP(spec.sizes, bias=spec.bias, dtype=spec.dtype, seed=seed)


def evaluate(model, X, y, T=None, chunk=10_000):
    """Accuracy on ``(X, y)`` and, when targets ``T`` are given, the mean loss."""
    correct, loss = 0, 0.0
    for s in range(0, len(X), chunk):
        out = model.forward(X[s:s + chunk])[-1]
        correct += int(np.sum(np.argmax(out, axis=1) == y[s:s + chunk]))
        if T is not None:
            loss += float(0.5 * np.sum((out - T[s:s + chunk]) ** 2))
    return correct / len(X), (loss / len(X) if T is not None else None)
