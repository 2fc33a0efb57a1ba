"""The seed's CSV format for MNIST: one sample a line, the label then 784 pixel values.

Reading is fast when the file is right (NumPy's C parser) and precise when it
is not: a slow scan then finds the first bad line and names it. The file is
read a block of lines at a time, and a line longer than a sample's could be is
refused as soon as it is met: whatever the file holds (gigabytes of zeros, one
endless line), memory stays within a small multiple of the samples kept.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np

from pdsgd.errors import DataError

#: Characters one value may take: "255", or a float written out in full ("254.99999999999997").
VALUE_CHARS = 32
#: Bytes parsed at once, whatever the file's size.
BLOCK_BYTES = 2**23


def check_labels(y, n_classes, where):
    """Raise a DataError naming ``where(i)`` for the first label outside [0, n_classes)."""
    bad = np.flatnonzero((y < 0) | (y >= n_classes))
    if bad.size:
        i = int(bad[0])
        raise DataError(f"{where(i)}: label {y[i]:g} is outside 0..{n_classes - 1} "
                        f"(n_classes={n_classes}); fix the file or pass a larger --output-nodes")


def read_csv(path, n_classes=10, n_features=784):
    """Read the seed's CSV format: one sample a line, label then pixel values.

    Parameters
    ----------
    path : str or Path
        A file with no header line and ``1 + n_features`` comma-separated
        numbers on each line (blank lines are skipped).
    n_classes, n_features : int

    Returns
    -------
    X : ndarray, shape (n, n_features)
        Pixel values, 0..255 (int16 when all are whole numbers, else float64).
    y : ndarray of int64, shape (n,)

    Raises
    ------
    DataError
        Naming the file and line: a wrong number of values, a field that is
        not a number, a label outside ``[0, n_classes)`` or a pixel outside 0..255.
    """
    path = Path(path)
    try:
        blocks = [_parse(path, block, n_features) for block in _blocks(path, n_features)]
    except OSError as exc:
        raise DataError(f"{path} cannot be read ({exc.strerror or exc})") from None
    if not blocks:
        raise DataError(f"{path} is empty: expected one sample per line")
    table = np.concatenate(blocks) if len(blocks) > 1 else blocks[0]
    del blocks
    labels, X = table[:, 0], table[:, 1:]

    def where(i):
        return f"{path} line {_line_number(path, i, n_features)}"

    bad = np.flatnonzero(labels != np.round(labels))
    if bad.size:
        raise DataError(f"{where(bad[0])}: label {labels[bad[0]]:g} is not a whole number")
    check_labels(labels, n_classes, where)
    ok = (X >= 0) & (X <= 255)  # written this way round, NaN is not ok
    bad_rows = np.flatnonzero(~ok.all(axis=1))
    if bad_rows.size:
        value = X[bad_rows[0]][~ok[bad_rows[0]]][0]
        raise DataError(f"{where(bad_rows[0])}: pixel value {value:g} is outside 0..255")
    return np.ascontiguousarray(X), labels.astype(np.int64)


def _lines(path, n_features):
    """``(number, line)`` of every line; a line too long for a sample raises at once."""
    longest = (1 + n_features) * VALUE_CHARS
    with open(path, encoding="latin-1") as fh:
        for number, line in enumerate(iter(lambda: fh.readline(longest + 1), ""), start=1):
            if len(line) > longest:
                raise DataError(f"{path} line {number}: longer than {longest:,} characters, "
                                f"more than a sample of 1 + {n_features} values can be; this "
                                "is not the seed's CSV format (one sample a line)")
            yield number, line


def _blocks(path, n_features):
    """The file's whole lines, about :data:`BLOCK_BYTES` at a time.

    A line that does not end within a sample's length raises at once.
    """
    longest = (1 + n_features) * VALUE_CHARS
    carry, lines = b"", 0
    with open(path, "rb") as fh:
        while chunk := fh.read(BLOCK_BYTES):
            end = chunk.rfind(b"\n") + 1
            block, carry = carry + chunk[:end], (carry + chunk if not end else chunk[end:])
            lines += block.count(b"\n")
            if len(carry) > longest:
                raise DataError(f"{path} line {lines + 1}: longer than {longest:,} characters, "
                                f"more than a sample of 1 + {n_features} values can be; this "
                                "is not the seed's CSV format (one sample a line)")
            if block.strip():
                yield block
    if carry.strip():
        yield carry


def _parse(path, block, n_features):
    """One block of lines as a table: small integers (the usual case), else floats."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # NumPy's, for lines it finds empty
        try:
            # NumPy's C parser, with small integers about 6 times faster than as floats.
            table = np.loadtxt(io.BytesIO(block), delimiter=",", dtype=np.int16, ndmin=2,
                               comments=None, encoding="latin-1")
        except ValueError:
            try:
                table = np.loadtxt(io.BytesIO(block), delimiter=",", dtype=np.float64,
                                   ndmin=2, comments=None, encoding="latin-1")
            except ValueError as exc:
                # Something is off; a slow scan finds the line and says what is wrong.
                _find_csv_error(path, n_features)
                raise DataError(f"{path}: {exc}") from None  # if the scan found nothing
    if table.shape[1] != 1 + n_features:
        _find_csv_error(path, n_features)
    return table


def _find_csv_error(path, n_features):
    """Scan ``path`` line by line and raise a DataError for the first bad line."""
    expected = 1 + n_features
    for number, line in _lines(path, n_features):
        if not line.strip():
            continue
        fields = line.rstrip("\r\n").split(",")
        if len(fields) != expected:
            raise DataError(f"{path} line {number}: expected {expected} values "
                            f"(label + {n_features} pixels), found {len(fields)}")
        for field in fields:
            try:
                float(field)
            except ValueError:
                raise DataError(f"{path} line {number}: {field.strip()!r} is not a "
                                "number") from None


def _line_number(path, row, n_features=784):
    """The 1-based line number of data row ``row``, counting the blank lines skipped."""
    seen = -1
    for number, line in _lines(path, n_features):
        if line.strip():
            seen += 1
            if seen == row:
                return number
    return row + 1
