"""``make lab``: JupyterLab on the course, with this environment on its terminals' PATH.

A terminal opened in JupyterLab runs a shell with the server's environment,
but as a *login* shell when the server was not started from a terminal
(``make lab`` from an editor, a desktop launcher), and a login shell resets
PATH from ``/etc/profile``: ``dask`` and ``pdsgd`` are then not found. So this
launcher puts the interpreter's ``bin`` folder (the project's ``.venv/bin``)
first on PATH, sets ``VIRTUAL_ENV``, and names the terminals' shell itself
(``$SHELL``, not a login shell). Run it as ``python -m pdsgd.course.lab
[FOLDER] [jupyter lab options]``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def environment(env=None):
    """``env`` (default: this process's) with this interpreter's ``bin`` first on PATH."""
    env = dict(os.environ if env is None else env)
    bin_dir = str(Path(sys.executable).parent)
    parts = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != bin_dir]
    env["PATH"] = os.pathsep.join([bin_dir, *parts])
    if Path(sys.prefix) != Path(sys.base_prefix):  # a virtual environment
        env["VIRTUAL_ENV"] = sys.prefix
    return env


def command(folder="notebooks", *options, env=None):
    """The ``jupyter lab`` command line that opens ``folder`` with the terminals' shell set."""
    shell = (env or os.environ).get("SHELL") or "/bin/sh"
    terminals = json.dumps({"shell_command": [shell]})
    return [sys.executable, "-m", "jupyter", "lab", str(folder),
            f"--ServerApp.terminado_settings={terminals}", *options]


def main(argv=None):
    """Replace this process by JupyterLab (what ``make lab`` runs)."""
    argv = sys.argv[1:] if argv is None else argv
    folder, options = (argv[0], argv[1:]) if argv and not argv[0].startswith("-") \
        else ("notebooks", argv)
    env = environment()
    cmd = command(folder, *options, env=env)
    os.execve(cmd[0], cmd, env)


if __name__ == "__main__":
    main()
