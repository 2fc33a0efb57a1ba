"""Read and write IDX files, the format MNIST and Fashion-MNIST are published in.

An IDX file is a tiny header followed by raw big-endian numbers::

    0x00 0x00 TYPE NDIM  then NDIM sizes (uint32, big-endian)  then the data

``TYPE`` says what one number is (0x08 is an unsigned byte: pixels and
labels). A name ending in ``.gz`` means the whole file is gzip-compressed,
which is how the official files are distributed. See
http://yann.lecun.com/exdb/mnist/ ("FILE FORMATS FOR THE MNIST DATABASE").
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import psutil

from pdsgd.errors import DataError
from pdsgd.files import atomic_path

# IDX type code -> NumPy dtype. The format is big-endian, hence the ">".
TYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path, *, hint=""):
    """Read an IDX file (gzip-compressed when the name ends in ``.gz``).

    Parameters
    ----------
    path : str or Path
        The file to read.
    hint : str, optional
        How to fix a broken file (for example "delete it and run
        `pdsgd data fetch mnist`"); appended to every error message.

    Returns
    -------
    ndarray
        An array with the shape and type stated in the header, in native
        byte order (for MNIST images: ``uint8`` of shape ``(n, 28, 28)``).

    Raises
    ------
    DataError
        When the file is missing, not IDX, a broken gzip stream, or holds more
        or fewer bytes than its header promises. The message names the file.
    """
    path = Path(path)
    fix = f"; {hint}" if hint else ""
    try:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rb") as fh:
            shape, dtype = _header(fh, path, fix)
            expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
            what = "data" if dtype.itemsize > 1 else ("label" if len(shape) == 1 else "pixel")
            if opener is open:  # the file's size tells at once whether the data fit
                _check_length(path, os.fstat(fh.fileno()).st_size - fh.tell(), expected,
                              shape, what, fix)
            _check_memory(path, expected, fix)
            # Never more than the header promises (plus one byte, to notice a longer file).
            raw = fh.read(expected + 1)
    except FileNotFoundError:
        raise DataError(f"{path} does not exist{fix}") from None
    except (OSError, EOFError, zlib.error) as exc:
        # gzip raises BadGzipFile (an OSError) or EOFError for cut-off streams.
        raise DataError(f"{path} cannot be read ({exc}){fix}") from None
    _check_length(path, len(raw), expected, shape, what, fix, exact=False)
    data = np.frombuffer(raw, dtype=dtype).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def _header(fh, path, fix):
    """The shape and dtype an IDX header states (``fh`` is left at the data)."""
    magic = fh.read(4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in TYPES \
            or magic[3] == 0:
        raise DataError(f"{path} is not an IDX file (bad header {magic.hex()}){fix}")
    ndim = magic[3]
    sizes = fh.read(4 * ndim)
    if len(sizes) < 4 * ndim:
        raise DataError(f"{path} is truncated: its header is cut short{fix}")
    return struct.unpack(f">{ndim}I", sizes), TYPES[magic[2]]


def _check_length(path, found, expected, shape, what, fix, exact=True):
    if found < expected:
        raise DataError(
            f"{path} is truncated: expected {expected} {what} bytes, found {found}{fix}"
        )
    if found > expected:
        # Only the file's size says how many; a stream is read one byte past the data.
        more = f"{found - expected} bytes more" if exact else "more bytes"
        raise DataError(f"{path} is malformed: {more} than its header "
                        f"{tuple(shape)} promises{fix}")


def _check_memory(path, expected, fix):
    """Refuse a header that promises more data than this machine's free memory."""
    available = psutil.virtual_memory().available
    if expected > available:
        raise DataError(f"{path} is malformed: its header promises {expected / 2**30:,.1f} "
                        f"GiB of data, more than the {available / 2**30:,.1f} GiB free{fix}")


def write_idx(path, array):
    """Write ``array`` as an IDX file, gzip-compressed when ``path`` ends in ``.gz``.

    The file appears atomically: complete or not at all.

    Parameters
    ----------
    path : str or Path
        Where to write.
    array : array_like
        Any array whose dtype is one of the IDX types (uint8, int8, int16,
        int32, float32, float64) and with at least one dimension.
    """
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in TYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None or array.ndim == 0:
        raise ValueError(f"IDX cannot hold a {array.ndim}-d array of {array.dtype}")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    body = array.astype(TYPES[code], copy=False).tobytes()
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        if path.name.endswith(".gz"):
            # The real name (not the temporary one) and mtime=0 go in the gzip
            # header, so the same array always gives the same bytes and checksum.
            with gzip.GzipFile(filename=path.name, mode="wb", fileobj=fh, mtime=0) as gz:
                gz.write(header + body)
        else:
            fh.write(header + body)
