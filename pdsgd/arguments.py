"""Argument types for the command line: what ``pdsgd`` and ``pdsgd bench`` accept.

Each turns the text of one flag into a value, or raises
:class:`argparse.ArgumentTypeError` with a message that says what was expected.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pdsgd.errors import PdsgdError


def positive_int(text):
    """An integer greater than zero."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def non_negative_int(text):
    """An integer of zero or more (a seed, a count)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def positive_float(text):
    """A finite number greater than zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def int_list(text):
    """Comma-separated positive integers: ``1,2,4,8``."""
    return tuple(positive_int(part) for part in text.split(","))


def choice_list(allowed):
    """A parser of comma-separated names, each one of ``allowed``: ``choice_list(("a", "b"))``."""
    def parse(text):
        names = tuple(t.strip() for t in text.split(",") if t.strip())
        wrong = [n for n in names if n not in allowed]
        if wrong or not names:
            raise argparse.ArgumentTypeError(
                f"{', '.join(wrong) or 'nothing'} is not one of {', '.join(allowed)}")
        return names
    return parse


def count_list(text):
    """Comma-separated integers of zero or more: ``0,1,2``."""
    return tuple(non_negative_int(part) for part in text.split(","))


def layer_sizes(text):
    """Hidden layer widths: ``200`` or ``200,100``."""
    return int_list(text)


def writable_dir(path, flag="--out"):
    """``path`` as an absolute Path, or a :class:`PdsgdError` unless it could be written."""
    path = check_path(path, flag)
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise PdsgdError(f"{flag} {path}: cannot write there ({probe} is not a writable "
                         f"directory); choose another {flag}")
    return path


#: What the system allows where it does not say: a name, a whole path (bytes).
NAME_MAX, PATH_MAX = 255, 4096
#: Characters a temporary file's name adds to its file's (``.NAME.XXXXXXXX.part``).
TEMPORARY_EXTRA = 16


def check_path(path, flag):
    """``path`` as an absolute Path, refused in one line if no file could ever be written there.

    A name too long for the file system, a path too long for the system, or a
    symbolic link that leads nowhere (dangling, or a loop) is refused before
    anything is trained, not when the result is saved.
    """
    path = Path(path).absolute()
    try:
        name_max = os.pathconf(path.anchor, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = NAME_MAX
    for part in path.parts:
        if len(os.fsencode(part)) + TEMPORARY_EXTRA > name_max:
            raise PdsgdError(f"{flag} {path}: the name {part[:24]}... is {len(part)} "
                             f"characters long, and names here hold at most "
                             f"{name_max - TEMPORARY_EXTRA} (with the room pdsgd needs); "
                             f"choose a shorter {flag}")
    if len(os.fsencode(str(path))) + TEMPORARY_EXTRA + 16 > PATH_MAX:
        raise PdsgdError(f"{flag} {str(path)[:40]}...: the path is longer than the system "
                         f"allows ({PATH_MAX} bytes); choose a shorter {flag}")
    probe = path
    while not probe.exists():
        if probe.is_symlink():
            raise PdsgdError(f"{flag} {path}: {probe} is a symbolic link that leads nowhere "
                             f"(its target is missing, or it loops); remove it or choose "
                             f"another {flag}")
        probe = probe.parent
    return path


def add_options(groups, options):
    """Add the flag of every option that has one (see :func:`pdsgd.options.option`).

    ``groups`` maps an option's ``group`` to the argparse group it is listed in.
    A boolean that defaults to True gets a ``--no-NAME`` flag that turns it
    off; an option with choices is checked by argparse against them, any other
    is parsed by its ``parse`` (one of the types above). The parsed value lands
    under :func:`pdsgd.train`'s keyword for the option.
    """
    for opt in options:
        if opt.flag is None:
            continue
        where = groups[opt.group]
        if isinstance(opt.default, bool):
            where.add_argument(opt.flag, dest=opt.dest, help=f"turn off: {opt.help}",
                               action="store_false" if opt.default else "store_true")
            continue
        kind = ({"choices": tuple(opt.choices)} if opt.choices is not None
                else {"type": opt.parse} if opt.parse is not None else {})
        text = opt.help
        if opt.cli_default is not None:
            shown = opt.cli_default
            text += f" (default {','.join(map(str, shown)) if isinstance(shown, tuple) else shown})"
        where.add_argument(opt.flag, dest=opt.dest, default=opt.cli_default,
                           metavar=opt.metavar, help=text, **kind)
