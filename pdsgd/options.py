"""Each option of a run declared once: its default, its rule, its flag and its help.

The fields of :class:`~pdsgd.spec.EngineSpec` (the engine's options) and of
:class:`~pdsgd.train.plan.TrainPlan` (the training loop's) are declared with
:func:`option`. From that one declaration come:

- the check of a value, with a one-line message naming the option
  (:meth:`Option.check_value`, run by :func:`check_options` when the value is built);
- the default of :func:`pdsgd.train`'s keyword of the same name;
- the flag of ``pdsgd train`` (:func:`pdsgd.arguments.add_options`);
- the row of the table in ``docs/options.md`` (:func:`markdown_table`).

Rules between options (``scheduler`` needs ``backend="dask"``) stay in the
class that holds them: an option's own metadata says only what one value may be.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from pdsgd.errors import choice

#: The metadata key of an option's declaration on its dataclass field.
KEY = "option"
_UNSET = object()


@dataclass(frozen=True)
class Option:
    """One option as its field declares it (see :func:`option` for the attributes)."""

    name: str
    default: Any
    help: str
    choices: Any = None
    check: Callable | None = None
    flag: str | None = None
    keyword: str | None = None
    parse: Callable | None = None
    metavar: str | None = None
    cli_default: Any = None
    group: str = "engine"
    arithmetic: bool = False
    engine_only: bool = False

    @property
    def dest(self):
        """The name of the parsed flag: :func:`pdsgd.train`'s keyword, else the field's."""
        return self.keyword or self.name

    @property
    def values(self):
        """What the option takes, in words: its choices, else what its parser accepts."""
        if self.choices is not None:
            return ", ".join(f"`{c}`" for c in self.choices)
        if isinstance(self.default, bool):
            return "`True`, `False`"
        for rule in (self.parse, self.check):
            doc = getattr(rule, "__doc__", None) or ""
            if getattr(rule, "__module__", "").startswith("pdsgd") and doc:
                return doc.strip().splitlines()[0].replace("``", "`")
        return ""

    def check_value(self, value):
        """``value`` checked (and normalised) by the option's rule (None passes as a default)."""
        if self.check is None or (value is None and self.default is None):
            return value
        return self.check(self.name, value)


def _in_choices(choices, option, value):
    # tuple() at check time: a registry that grows later (a new strategy) is seen.
    return choice(option, value, tuple(choices))


def option(default, help, *, choices=None, check=_UNSET, flag=_UNSET, keyword=_UNSET,
           parse=None, metavar=None, cli_default=_UNSET, group="engine", arithmetic=False,
           engine_only=False):
    """A dataclass field declared as an option.

    Parameters
    ----------
    default
        The value when the caller names none (and :func:`pdsgd.train`'s default).
    help : str
        One line for ``--help`` and the documentation table.
    choices : sequence or mapping, optional
        The values it takes (a mapping: its keys, read when checked, so a registry
        that grows is followed). Checked unless ``check`` says otherwise.
    check : callable or None, optional
        ``check(name, value)`` returns the value (normalised) or raises
        :class:`~pdsgd.errors.OptionError`; None: not checked here.
    flag : str or None, optional
        ``pdsgd train``'s flag; default ``--name`` (``--no-name`` for a boolean
        that defaults to True); None: set from Python only.
    keyword : str or None, optional
        :func:`pdsgd.train`'s keyword for it (default: the field's name); None:
        the command line uses it before calling :func:`~pdsgd.train`.
    parse : callable, optional
        Turns the flag's text into a value (:mod:`pdsgd.arguments`).
    metavar : str, optional
        The flag's value in ``--help``.
    cli_default : optional
        The flag's default when it differs from Python's (the seed's command line
        names 784 inputs; Python takes them from the data).
    group : {"seed", "training", "engine"}
        Where ``--help`` lists it.
    arithmetic : bool
        It changes the weights: resuming a checkpoint compares it.
    engine_only : bool
        A one-worker run with a non-default value uses the engine, not the
        sequential fast path.
    """
    if check is _UNSET:
        check = None if choices is None else functools.partial(_in_choices, choices)
    declared = dict(help=help, choices=choices, check=check, flag=flag, keyword=keyword,
                    parse=parse, metavar=metavar, cli_default=cli_default, group=group,
                    arithmetic=arithmetic, engine_only=engine_only)
    return field(default=default, metadata={KEY: declared})


@functools.cache  # a class's declarations do not change; a spec is built often (the study)
def options_of(cls):
    """The :class:`Option` of each field of dataclass ``cls`` declared with :func:`option`."""
    found = []
    for f in fields(cls):
        if KEY not in f.metadata:
            continue
        declared = dict(f.metadata[KEY])
        if declared["flag"] is _UNSET:
            stem = f.name.replace("_", "-")
            declared["flag"] = f"--no-{stem}" if f.default is True else f"--{stem}"
        if declared["keyword"] is _UNSET:
            declared["keyword"] = f.name
        if declared["cli_default"] is _UNSET:
            declared["cli_default"] = f.default
        found.append(Option(f.name, f.default, **declared))
    return tuple(found)


def check_options(instance):
    """Check every option of a frozen dataclass ``instance`` in field order, keeping the
    normalised values (call it from ``__post_init__``)."""
    for opt in options_of(type(instance)):
        value = opt.check_value(getattr(instance, opt.name))
        object.__setattr__(instance, opt.name, value)


def _cell(text):
    return str(text).replace("|", r"\|").replace("\n", " ")


def _shown(value):
    if value is None:
        return "None"
    if isinstance(value, tuple):
        return "(" + ", ".join(map(repr, value)) + ("," if len(value) == 1 else "") + ")"
    return repr(value)


def markdown_table(options):
    """``options`` (of :func:`options_of`) as a Markdown table, one row per option."""
    rows = ["| Python | command line | default | values | what it does | notes |",
            "| --- | --- | --- | --- | --- | --- |"]
    for opt in options:
        python = f"`{opt.keyword}=`" if opt.keyword else "(command line only)"
        flag = f"`{opt.flag}`" if opt.flag else "(Python only)"
        default = f"`{_shown(opt.default)}`"
        if opt.flag and opt.cli_default != opt.default:
            default += f" (command line: `{_shown(opt.cli_default)}`)"
        notes = [note for note, on in (("resume compares it", opt.arithmetic),
                                       ("needs the engine", opt.engine_only)) if on]
        cells = (python, flag, default, opt.values, opt.help, "; ".join(notes))
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(rows) + "\n"
