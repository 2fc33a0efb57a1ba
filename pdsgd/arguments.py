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


def count_list(text):
    """Comma-separated integers of zero or more: ``0,1,2``."""
    return tuple(non_negative_int(part) for part in text.split(","))


def layer_sizes(text):
    """Hidden layer widths: ``200`` or ``200,100``."""
    return int_list(text)


def writable_dir(path):
    """``path`` as an absolute Path, or a :class:`PdsgdError` unless it could be written."""
    path = Path(path).absolute()
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise PdsgdError(f"--out {path}: cannot write there ({probe} is not a writable "
                         "directory); choose another --out")
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
