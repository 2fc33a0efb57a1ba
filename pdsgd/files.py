"""Safe file writes: a file is complete or absent, several files appear together or not at all.

Every file pdsgd writes (models, metrics, checkpoints, cached results) goes to
a temporary file beside its destination and is renamed into place only once
it is completely written, so an interrupted or failed write (Ctrl-C, a full
disk) leaves the previous file, or nothing, never half a file. A writer holds
a lock on its temporary file while it writes: one killed outright (kill -9, a
power cut) leaves its temporary file unlocked, and the next write of the same
file, or the next run that names it, removes it (:func:`remove_stranded`).
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import io
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from pdsgd.errors import PdsgdError


@contextlib.contextmanager
def atomic_paths(paths):
    """Yield temporary paths beside ``paths``; rename each to its path once all succeeded.

    The temporary files live in the destinations' directories, so each final
    ``os.replace`` is atomic on POSIX. On any exception (KeyboardInterrupt
    included) the temporary files are removed and every ``path`` is left as
    it was.

    Parameters
    ----------
    paths : list of str or Path
        Where the finished files should appear.

    Yields
    ------
    list of Path
        Fresh temporary paths to write to, in the same order.
    """
    paths, tmps, fds = [Path(p) for p in paths], [], []
    try:
        for path in paths:
            remove_stranded(path)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
            fds.append(fd)
            fcntl.flock(fd, fcntl.LOCK_EX)  # held until the end: "a writer is still here"
            tmps.append(Path(tmp))
        yield tmps
        mode = 0o666 & ~_umask()  # mkstemp makes the file private (0600)
        for tmp, path in zip(tmps, paths):
            os.chmod(tmp, mode)
            os.replace(tmp, path)
    finally:
        for tmp in tmps:
            tmp.unlink(missing_ok=True)
        for fd in fds:
            os.close(fd)


def remove_stranded(path):
    """Remove the temporary files of ``path`` that a killed writer left behind.

    A temporary file is a writer's as long as that writer holds its lock: the
    files of writers still at work (another run writing the same file) stay.
    """
    path = Path(path)
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.part"):
        try:
            fd = os.open(tmp, os.O_RDONLY)
        except OSError:
            continue  # gone meanwhile, or not ours to read
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            tmp.unlink(missing_ok=True)
        except OSError:
            pass  # locked: its writer is alive
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path):
    """:func:`atomic_paths` for one file: yield one temporary path."""
    with atomic_paths([path]) as (tmp,):
        yield tmp


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path, data):
    """Write ``data`` to ``path`` and make sure it reached the disk (a full disk raises here)."""
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def npz_bytes(**arrays):
    """An ``.npz`` file's contents (no pickled objects)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def json_bytes(obj):
    """``obj`` as indented JSON text, encoded."""
    return (json.dumps(obj, indent=2, default=_jsonable) + "\n").encode()


def write_json(path, obj):
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    write_files({path: json_bytes(obj)})


def write_npz(path, **arrays):
    """Write arrays to an ``.npz`` file atomically (no pickled objects)."""
    write_files({path: npz_bytes(**arrays)})


def write_files(contents):
    """Write ``{path: bytes}`` so that all the files appear, or none of them changes."""
    with atomic_paths(list(contents)) as tmps:
        for tmp, data in zip(tmps, contents.values()):
            write_bytes(tmp, data)


def make_dirs(path):
    """Create directory ``path`` and its missing parents; return those it created, deepest last."""
    path, made = Path(path), []
    while not path.exists():
        made.append(path)
        path = path.parent
    for directory in reversed(made):
        directory.mkdir()
    return list(reversed(made))


def remove_empty(directories):
    """Remove the directories (deepest last, as :func:`make_dirs` returns them) left empty."""
    for directory in reversed(directories):
        try:
            directory.rmdir()
        except OSError:
            break  # not empty (or gone): its parents are not empty either


def check_room(path, nbytes, option):
    """Raise :class:`PdsgdError` unless the disk that will hold ``path`` has ``nbytes`` free."""
    probe = Path(path).absolute()
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < nbytes:
        raise PdsgdError(f"{option} {path}: the run will write about {nbytes / 2**20:,.1f} MiB "
                         f"there, but only {free / 2**20:,.1f} MiB are free; free some space "
                         f"or choose another {option}")


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
