"""Named NumPy arrays in one block of memory that several processes can map.

The parallel engine keeps everything the workers share (the parameters, the
training data, the result slots, the barrier counters, the trace) in **one**
block, laid out once: one segment to create, one to unlink. The same layout
also works as a plain private buffer, so the thread and serial backends run the
very same code on ordinary NumPy arrays.

Lifetime, because a leaked ``/dev/shm`` segment outlives the program: the
process that creates a block owns it and unlinks it in :meth:`SharedArrays.close`
(called from every exit path of the broker), again from a ``weakref.finalize``
at garbage collection or interpreter exit, and, if the owner is killed outright,
Python's resource tracker unlinks it. Workers only attach, and never register the
segment with a tracker of their own: such a tracker would unlink the segment as
soon as the *worker* exits (a known wart of Python < 3.13, fixed there by
``track=False``).
"""

from __future__ import annotations

import os
import secrets
import weakref
import zlib
from multiprocessing import resource_tracker, shared_memory

import numpy as np

ALIGN = 64  # a cache line: two arrays never share one, so workers do not fight over lines


def _layout(fields):
    """Offsets of each ``name: (shape, dtype)`` field, cache-line aligned."""
    offsets, offset = {}, 0
    for name, (shape, dtype) in fields.items():
        offset = -(-offset // ALIGN) * ALIGN
        offsets[name] = offset
        offset += int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    return offsets, max(offset, 1)


def nbytes(fields):
    """Bytes of the block that :class:`SharedArrays` would lay out for ``fields``."""
    return _layout(fields)[1]


class SharedArrays:
    """A dictionary of NumPy arrays living in one (optionally shared) memory block.

    Parameters
    ----------
    fields : dict
        ``{name: (shape, dtype)}``; the arrays start zeroed.
    shared : bool, default True
        Put the block in ``multiprocessing.shared_memory`` (for processes);
        False uses a private buffer (threads, serial).

    Examples
    --------
    >>> block = SharedArrays({"w": ((2, 3), "float64")}, shared=False)
    >>> block["w"].shape
    (2, 3)
    """

    def __init__(self, fields, shared=True, _name=None):
        self.fields = {k: (tuple(np.atleast_1d(s).tolist()) if not isinstance(s, tuple) else s,
                           np.dtype(d).str) for k, (s, d) in fields.items()}
        offsets, size = _layout(self.fields)
        self._shm, self._finalizer = None, None
        if _name is not None:  # attaching, in a worker
            self._shm = _attach_untracked(_name)
            buffer = self._shm.buf
        elif shared:
            # A telling name (``/dev/shm/pdsgd_<pid>_<random>``): a leak names its culprit.
            name = f"pdsgd_{os.getpid()}_{secrets.token_hex(4)}"
            self._shm = shared_memory.SharedMemory(name=name, create=True, size=size)
            # Unlink even if close() is never called (garbage collection, exit).
            self._finalizer = weakref.finalize(self, _unlink, self._shm)
            buffer = self._shm.buf
            np.frombuffer(buffer, np.uint8)[:] = 0
        else:
            buffer = memoryview(bytearray(size))
        self.arrays = {name: np.frombuffer(buffer, dtype=dtype, offset=offsets[name],
                                           count=int(np.prod(shape, dtype=np.int64))
                                           ).reshape(shape)
                       for name, (shape, dtype) in self.fields.items()}

    @property
    def name(self):
        """The segment's name (``/dev/shm/<name>`` on Linux), or None if private."""
        return self._shm.name if self._shm is not None else None

    @property
    def spec(self):
        """What a worker needs to :meth:`attach`: picklable, a few hundred bytes."""
        return {"name": self.name, "fields": self.fields}

    @classmethod
    def attach(cls, spec):
        """Map a block created by another process, from its :attr:`spec`."""
        return cls(spec["fields"], _name=spec["name"])

    def __getitem__(self, name):
        return self.arrays[name]

    def close(self):
        """Drop this process's mapping; the owner also unlinks the segment."""
        self.arrays = {}
        if self._finalizer is not None:
            self._finalizer()  # unlinks, once
        elif self._shm is not None:
            _close(self._shm)
        self._shm = None


def _close(shm):
    try:
        shm.close()
    except BufferError:
        # A NumPy view still uses the mapping. Let go of it here: the mapping is
        # unmapped when the last view is garbage collected, and SharedMemory's
        # own __del__ then has nothing left to close (and nothing to complain about).
        shm._buf = shm._mmap = None
        shm.close()


def _unlink(shm):
    _close(shm)
    try:
        shm.unlink()
    except FileNotFoundError:
        pass


def _attach_untracked(name):
    """Open an existing segment without registering it with a resource tracker."""
    register = resource_tracker.register
    resource_tracker.register = lambda *args, **kwargs: None
    try:
        return shared_memory.SharedMemory(name=name)
    finally:
        resource_tracker.register = register


def flat(array):
    """``array`` as a flat memoryview of its items.

    For the words a worker reads or stores at every iteration: a memoryview
    item costs tens of nanoseconds, a NumPy element several times more.
    """
    return memoryview(array).cast("B").cast(array.dtype.char)


def checksum(params):
    """CRC-32 of a parameter buffer's bytes: equal replicas give equal sums."""
    return zlib.crc32(memoryview(np.ascontiguousarray(params)).cast("B"))
