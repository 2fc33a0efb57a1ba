"""Loading, splitting and scaling datasets; every bad file gives a one-line DataError."""

import gzip

import numpy as np
import pytest
from data_helpers import needs_fashion_mnist

from pdsgd.data import datasets as data
from pdsgd.data.datasets import DATASETS, IDX_FILES, Dataset, load_dataset, read_csv
from pdsgd.data.idx import read_idx, write_idx
from pdsgd.errors import DataError, PdsgdError


@pytest.fixture(scope="module")
def mnist5k():
    return load_dataset("mnist-5k")


def make_idx_set(folder, n_train=30, n_test=10, n_classes=10, seed=0):
    """Write four small MNIST-shaped IDX .gz files; return the arrays written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = (rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              np.arange(n_train, dtype=np.uint8) % n_classes,
              rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              np.arange(n_test, dtype=np.uint8) % n_classes)
    for name, array in zip(IDX_FILES, arrays, strict=True):
        write_idx(folder / name, array)
    return arrays


def write_csv(path, rows):
    path.write_text("".join(",".join(str(v) for v in row) + "\n" for row in rows))
    return path


def good_rows(n=5, n_features=784):
    return [[i % 10] + [(i * 7 + j) % 256 for j in range(n_features)] for i in range(n)]


# --- mnist-5k ------------------------------------------------------------------

def test_names_are_listed():
    assert DATASETS == ("mnist-5k", "mnist", "fashion-mnist", "synthetic")


def test_mnist5k_split_sizes_and_types(mnist5k):
    d = mnist5k
    assert isinstance(d, Dataset)
    assert d.X_train.shape == (4000, 784) and d.X_test.shape == (1000, 784)
    assert d.y_train.dtype == np.int64 and d.X_train.dtype == np.float64
    assert d.X_train.flags.c_contiguous and d.X_test.flags.c_contiguous
    assert d.n_features == 784 and d.n_classes == 10 and d.scaling == "rashid"


def test_mnist5k_split_is_stratified(mnist5k):
    train = np.bincount(mnist5k.y_train, minlength=10)
    test = np.bincount(mnist5k.y_test, minlength=10)
    total = train + test
    assert np.all(np.abs(train - 0.8 * total) <= 1)


def test_mnist5k_is_deterministic_and_train_and_test_are_disjoint(mnist5k):
    again = load_dataset("mnist-5k")
    np.testing.assert_array_equal(again.X_train, mnist5k.X_train)
    np.testing.assert_array_equal(again.y_test, mnist5k.y_test)
    train_rows = {row.tobytes() for row in mnist5k.X_train}
    assert not any(row.tobytes() in train_rows for row in mnist5k.X_test[:200])


def test_train_size_keeps_a_mixed_prefix(mnist5k):
    small = load_dataset("mnist-5k", train_size=100)
    np.testing.assert_array_equal(small.X_train, mnist5k.X_train[:100])
    assert len(np.unique(small.y_train)) == 10  # the prefix is not all zeros


def test_rashid_scaling_range(mnist5k):
    X = mnist5k.X_train
    assert X.min() == pytest.approx(0.01) and X.max() == pytest.approx(1.0)


def test_zscore_uses_training_statistics_only():
    d = load_dataset("mnist-5k", scaling="zscore", dtype="float32")
    assert d.X_train.dtype == np.float32
    assert np.abs(d.X_train.mean(axis=0, dtype=np.float64)).max() < 1e-4
    std = d.X_train.std(axis=0, dtype=np.float64)
    assert np.all((np.abs(std - 1) < 1e-3) | (std == 0))  # constant pixels stay 0
    # The test set was scaled with the training statistics, not its own.
    X, y = data._mnist5k_raw()
    train, test = data.stratified_split(y)
    mean, sd = X[train].mean(axis=0), X[train].std(axis=0)
    sd[sd == 0] = 1
    np.testing.assert_allclose(d.X_test, (X[test] - mean) / sd, rtol=1e-5, atol=1e-4)


def test_targets_are_rashid_one_hot(mnist5k):
    t = mnist5k.targets(np.array([3, 0]))
    assert t.shape == (2, 10) and t.dtype == mnist5k.X_train.dtype
    assert t[0, 3] == pytest.approx(0.99) and t[0, 0] == pytest.approx(0.01)
    assert t.sum(axis=1) == pytest.approx([0.99 + 9 * 0.01] * 2)


@pytest.mark.parametrize("kwargs, words", [
    ({"train_size": 5000}, "--train-size 5000 is more than mnist-5k holds (4000 training"),
    ({"train_size": 0}, "--train-size must be a positive"),
    ({"test_size": -3}, "--test-size must be a positive"),
    ({"test_size": 1001}, "--test-size 1001 is more than mnist-5k holds (1000 test"),
    ({"scaling": "minmax"}, "unknown scaling 'minmax'"),
    ({"dtype": "int32"}, "dtype must be float64 or float32"),
])
def test_bad_arguments(kwargs, words):
    with pytest.raises(PdsgdError, match=words.replace("(", r"\(")):
        load_dataset("mnist-5k", **kwargs)


def test_unknown_dataset():
    with pytest.raises(PdsgdError, match="choose one of mnist-5k, mnist"):
        load_dataset("cifar")


def test_mnist5k_label_out_of_range():
    with pytest.raises(DataError, match="label 5 is outside 0..4"):
        load_dataset("mnist-5k", n_classes=5)


# --- mnist from CSV and IDX -------------------------------------------------------

def test_mnist_csv(tmp_path):
    write_csv(tmp_path / "mnist_train.csv", good_rows(6))
    write_csv(tmp_path / "mnist_test.csv", good_rows(3))
    d = load_dataset("mnist", data_dir=tmp_path)
    assert d.X_train.shape == (6, 784) and d.X_test.shape == (3, 784)
    np.testing.assert_array_equal(d.y_train, [0, 1, 2, 3, 4, 5])
    assert d.X_train[1, 0] == pytest.approx(7 / 255 * 0.99 + 0.01)


@pytest.mark.parametrize("line, words", [
    ("1," + ",".join(["0"] * 699), "line 3: expected 785 values (label + 784 pixels), found 700"),
    ("1,abc" + ",0" * 783, "line 3: 'abc' is not a number"),
    ("label" + ",p" * 784, "line 3: 'label' is not a number"),
    ("12" + ",0" * 784, "line 3: label 12 is outside 0..9"),
    ("2.5" + ",0" * 784, "line 3: label 2.5 is not a whole number"),
    ("2" + ",0" * 783 + ",300", "line 3: pixel value 300 is outside 0..255"),
    ("2" + ",0" * 783 + ",nan", "line 3: pixel value nan is outside 0..255"),
])
def test_bad_csv_line_names_file_and_line(tmp_path, line, words):
    rows = [",".join(map(str, r)) for r in good_rows(4)]
    rows.insert(2, line)
    path = tmp_path / "mnist_train.csv"
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError) as info:
        read_csv(path)
    message = str(info.value)
    assert str(path) in message and words in message and "\n" not in message


def test_csv_line_numbers_count_blank_lines(tmp_path):
    rows = [",".join(map(str, r)) for r in good_rows(3)]
    path = tmp_path / "t.csv"
    path.write_text(rows[0] + "\n\n" + rows[1] + "\n" + "11" + ",0" * 784 + "\n")
    with pytest.raises(DataError, match="line 4: label 11"):
        read_csv(path)


def test_mnist_idx_preferred_over_csv(tmp_path):
    images, labels, _, _ = make_idx_set(tmp_path)
    write_csv(tmp_path / "mnist_train.csv", good_rows(2))
    write_csv(tmp_path / "mnist_test.csv", good_rows(2))
    d = load_dataset("mnist", data_dir=tmp_path, scaling="rashid")
    assert d.X_train.shape == (30, 784)
    np.testing.assert_allclose(d.X_train, images.reshape(30, -1) / 255 * 0.99 + 0.01)
    np.testing.assert_array_equal(d.y_train, labels)


def test_missing_mnist_says_how_to_fetch(tmp_path):
    with pytest.raises(DataError, match=r"MNIST not found in .*`pdsgd data fetch mnist`"):
        load_dataset("mnist", data_dir=tmp_path)


def test_data_dir_from_environment(tmp_path, monkeypatch):
    write_csv(tmp_path / "mnist_train.csv", good_rows(2))
    write_csv(tmp_path / "mnist_test.csv", good_rows(2))
    monkeypatch.setenv("PDSGD_DATA_DIR", str(tmp_path))
    assert data.default_data_dir() == tmp_path
    assert load_dataset("mnist").X_train.shape == (2, 784)


def test_idx_label_out_of_range_names_file(tmp_path):
    make_idx_set(tmp_path)
    write_idx(tmp_path / IDX_FILES[3], np.array([0, 1, 10, 2] + [0] * 6, dtype=np.uint8))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz label #2: label 10 is outs"):
        load_dataset("mnist", data_dir=tmp_path)


def test_truncated_idx_names_file_and_fix(tmp_path):
    make_idx_set(tmp_path)
    path = tmp_path / IDX_FILES[0]
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:16 + 1000]))
    with pytest.raises(DataError) as info:
        load_dataset("mnist", data_dir=tmp_path)
    assert str(info.value) == (f"{path} is truncated: expected 23520 pixel bytes, found 1000; "
                               "delete it and run `pdsgd data fetch mnist`")


def test_cut_off_gzip_and_bad_header(tmp_path):
    make_idx_set(tmp_path)
    path = tmp_path / IDX_FILES[2]
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz cannot be read"):
        load_dataset("mnist", data_dir=tmp_path)
    bad = tmp_path / "bad.idx"
    bad.write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(DataError, match="bad.idx is not an IDX file"):
        read_idx(bad)


def test_idx_round_trip_types(tmp_path):
    for array in (np.arange(6, dtype=np.uint8).reshape(2, 3),
                  np.array([-1.5, 2.25], dtype=np.float64),
                  np.array([[-7, 70000]], dtype=np.int32)):
        for name in ("a.idx", "a.idx.gz"):
            write_idx(tmp_path / name, array)
            back = read_idx(tmp_path / name)
            assert back.dtype == array.dtype and back.shape == array.shape
            np.testing.assert_array_equal(back, array)
    # Same array, same bytes: fetch tests rely on stable checksums.
    first = (tmp_path / "a.idx.gz").read_bytes()
    write_idx(tmp_path / "a.idx.gz", array)
    assert (tmp_path / "a.idx.gz").read_bytes() == first
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob(".*"))


# --- fashion-mnist -----------------------------------------------------------------

def test_fashion_mnist_from_data_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "FASHION_MNIST_SYSTEM_DIRS", ())
    images, labels, _, _ = make_idx_set(tmp_path / "fashion-mnist", seed=1)
    make_idx_set(tmp_path, seed=2)  # MNIST in the root must not be taken for Fashion
    d = load_dataset("fashion-mnist", data_dir=tmp_path)
    np.testing.assert_allclose(d.X_train, images.reshape(30, -1) / 255 * 0.99 + 0.01)
    # A folder named fashion-mnist may also be passed directly.
    d2 = load_dataset("fashion-mnist", data_dir=tmp_path / "fashion-mnist")
    np.testing.assert_array_equal(d2.y_train, labels)


def test_fashion_mnist_missing_names_fetch_and_apt(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "FASHION_MNIST_SYSTEM_DIRS", ())
    with pytest.raises(DataError) as info:
        load_dataset("fashion-mnist", data_dir=tmp_path)
    message = str(info.value)
    assert "pdsgd data fetch fashion-mnist" in message and "dataset-fashion-mnist" in message


@needs_fashion_mnist
def test_fashion_mnist_from_debian_package(tmp_path):
    d = load_dataset("fashion-mnist", data_dir=tmp_path, test_size=500)
    assert d.X_train.shape == (60000, 784) and d.X_test.shape == (500, 784)
    assert np.array_equal(np.bincount(d.y_train), [6000] * 10)


# --- synthetic ---------------------------------------------------------------------

def test_synthetic_is_deterministic_and_sized():
    a = load_dataset("synthetic", seed=3)
    b = load_dataset("synthetic", seed=3)
    c = load_dataset("synthetic", seed=4)
    assert a.X_train.shape == (2000, 784) and a.X_test.shape == (500, 784)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    assert not np.array_equal(a.X_train, c.X_train)
    assert 0.01 <= a.X_train.min() and a.X_train.max() <= 1.0


def test_synthetic_sizes_features_and_stable_test_set():
    small = load_dataset("synthetic", train_size=50, test_size=20, synthetic_features=12,
                         n_classes=3)
    big = load_dataset("synthetic", train_size=80, test_size=20, synthetic_features=12,
                       n_classes=3)
    assert small.X_train.shape == (50, 12) and set(small.y_train) <= {0, 1, 2}
    np.testing.assert_array_equal(small.X_test, big.X_test)
    np.testing.assert_array_equal(small.X_train, big.X_train[:50])


def test_synthetic_is_learnable():
    """A nearest-prototype rule learned on the training set beats chance by far."""
    d = load_dataset("synthetic", train_size=500, test_size=200, scaling="zscore")
    centroids = np.stack([d.X_train[d.y_train == c].mean(axis=0) for c in range(10)])
    predicted = np.argmin(((d.X_test[:, None, :] - centroids) ** 2).sum(axis=2), axis=1)
    assert (predicted == d.y_test).mean() > 0.9


def test_synthetic_larger_than_memory_is_refused_in_one_line():
    with pytest.raises(PdsgdError, match="smaller --train-size") as err:
        load_dataset("synthetic", train_size=10**11)
    assert "\n" not in str(err.value), f"not one line: {err.value!r}"
