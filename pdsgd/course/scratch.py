"""A notebook's scratch folder: gone when the kernel stops, or the next time after a kill.

``tempfile.TemporaryDirectory`` removes its folder when the kernel's process
ends normally (Kernel > Shut Down, Restart, closing JupyterLab). A kernel
that is killed instead (it did not stop in time, the machine ran out of
memory) removes nothing: its folder stays in the temporary directory. Each
folder made here carries the process id of the kernel that made it, so the
next notebook that asks for one removes those whose kernel is gone.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def scratch_folder(name):
    """A new temporary folder ``pdsgd-NAME-PID-...``, after removing those of dead kernels.

    Parameters
    ----------
    name : str
        The notebook's short name (``"03"``), so that its folders are told apart.

    Returns
    -------
    tempfile.TemporaryDirectory
        Its ``name`` is the folder; it is removed when this process ends normally.
    """
    prefix = f"pdsgd-{name}-"
    for old in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        pid = old.name[len(prefix):].partition("-")[0]
        if pid.isdigit() and old.is_dir() and old.stat().st_uid == os.getuid() \
                and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    return tempfile.TemporaryDirectory(prefix=f"{prefix}{os.getpid()}-")


def _alive(pid):
    try:
        os.kill(pid, 0)  # signal 0: nothing is sent, only whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
