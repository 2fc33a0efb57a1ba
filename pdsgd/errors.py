"""The one exception type that reaches a user as a one-line message.

Anything the user can fix (an argument, a file, a missing dataset) raises
:class:`PdsgdError` with a message that says what is wrong and how to fix it.
The CLI prints it on one line and exits with code 2; anything else is a bug
and keeps its traceback. :class:`PdsgdWarning` is the same for what a run can
go on with, and :class:`Interrupted` what SIGTERM and SIGHUP raise.
:class:`OptionError` names the option at fault the way the caller wrote it
(``aggregate=`` from Python, ``--aggregate`` on the command line);
:func:`positive` and :func:`choice` are the checks that raise it.
"""

from __future__ import annotations

import math


class PdsgdError(Exception):
    """A problem the user can fix; ``str(error)`` is the whole message."""


class PdsgdWarning(UserWarning):
    """Something the user may want to change, though the run can go on (one line)."""


class DataError(PdsgdError):
    """Bad or missing data: the message names the file (and line) at fault."""


class OptionError(PdsgdError):
    """A value one option cannot take, said the way the caller wrote the option.

    ``str(error)`` names options as Python keywords (``aggregate='mean'``);
    :meth:`for_cli` as command-line flags (``--aggregate mean``). ``problem``
    may name other options as ``{name}``: each is written in the same style.
    """

    def __init__(self, option, value, problem):
        self.option, self.value, self.problem = option, value, problem
        super().__init__(self.render(cli=False))

    def render(self, cli):
        """The one-line message, for the command line or for Python."""
        names = _Names(cli)
        head = f"{names[self.option]}{self.value}" if cli else f"{self.option}={self.value!r}"
        return f"{head} {self.problem.format_map(names)}"

    def for_cli(self):
        """The message with options written as flags: ``--aggregate mean: ...``."""
        return self.render(cli=True)


class _Names(dict):
    """``{name}`` in a problem text: ``--name`` for the CLI, ``name=`` for Python."""

    def __init__(self, cli):
        super().__init__()
        self.cli = cli

    def __missing__(self, key):
        # "{backend}dask" reads "--backend dask" or "backend=dask".
        return "--" + key.replace("_", "-") + " " if self.cli else f"{key}="


def positive(option, value, *, integer=True, allow_none=False):
    """Return ``value`` if it is a positive (finite) number, else raise :class:`OptionError`."""
    if value is None and allow_none:
        return None
    kind = "a positive integer" if integer else "a positive number"
    try:
        ok = (not isinstance(value, bool)
              and (int(value) == value if integer else math.isfinite(float(value)))
              and value > 0)
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise OptionError(option, value, f"must be {kind}")
    return int(value) if integer else float(value)


def choice(option, value, choices):
    """Return ``value`` if it is one of ``choices``, else raise :class:`OptionError`."""
    if value not in choices:
        names = ", ".join(map(str, choices))
        raise OptionError(option, value, f"is unknown: choose one of {names}")
    return value


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP, turned into what Ctrl-C raises so that the same clean-up runs.

    ``signum`` is the signal's number: the command line exits with ``128 + signum``.
    """

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def layer_widths(option, value):
    """Return ``value`` (layer widths) as a tuple of ints if each is positive, else raise."""
    widths = tuple(value)
    for width in widths:
        positive(option, width)
    return tuple(int(w) for w in widths)
