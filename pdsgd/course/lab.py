"""``make lab``: JupyterLab on the course, with this environment first in its terminals.

A terminal opened in JupyterLab runs a shell with the server's environment,
but as a *login* shell when the server was not started from a terminal
(``make lab`` from an editor, a desktop launcher), and a login shell resets
PATH from ``/etc/profile``; an interactive shell then reads ``~/.bashrc``,
which may put another ``python`` first (pyenv, conda): ``import pdsgd`` and
``dask`` then fail there. So this launcher puts the interpreter's ``bin``
folder (the project's ``.venv/bin``) first on PATH, sets ``VIRTUAL_ENV``,
and names the terminals' shell itself: for bash, an interactive non-login
shell whose start-up file (``lab.bashrc`` beside this module) reads
``~/.bashrc`` and then puts that folder first again; for another shell,
``$SHELL`` as it is. As root (a container, a lab image) it adds
``--allow-root``, which Jupyter otherwise demands. Run it as ``python -m
pdsgd.course.lab [FOLDER] [jupyter lab options]``; ``make lab PORT=8890
IP=0.0.0.0`` passes ``--port`` and ``--ip``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

#: The bash start-up file of the terminals: ~/.bashrc, then this environment first on PATH.
BASHRC = Path(__file__).with_name("lab.bashrc")


def environment(env=None):
    """``env`` (default: this process's) with this interpreter's ``bin`` first on PATH.

    ``PDSGD_LAB_BIN`` names that folder for the terminals' start-up file.
    """
    env = dict(os.environ if env is None else env)
    bin_dir = str(Path(sys.executable).parent)
    parts = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != bin_dir]
    env["PATH"] = os.pathsep.join([bin_dir, *parts])
    env["PDSGD_LAB_BIN"] = bin_dir
    if Path(sys.prefix) != Path(sys.base_prefix):  # a virtual environment
        env["VIRTUAL_ENV"] = sys.prefix
    return env


def shell_command(env=None):
    """The command line of a terminal's shell: bash reads :data:`BASHRC`; others as they are."""
    shell = (os.environ if env is None else env).get("SHELL") or "/bin/sh"
    if Path(shell).name == "bash":
        return [shell, "--rcfile", str(BASHRC), "-i"]
    return [shell]


def is_root():
    """True when this process runs as root (Jupyter then refuses to start without a flag)."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


def command(folder="notebooks", *options, env=None):
    """The ``jupyter lab`` command line that opens ``folder`` with the terminals' shell set."""
    terminals = json.dumps({"shell_command": shell_command(env)})
    root = ["--allow-root"] if is_root() and "--allow-root" not in options else []
    return [sys.executable, "-m", "jupyter", "lab", str(folder),
            f"--ServerApp.terminado_settings={terminals}", *root, *options]


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
