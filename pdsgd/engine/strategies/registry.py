"""The strategies by name: :func:`register` one, :func:`get` it, :func:`of` a spec.

Three options of :class:`~pdsgd.spec.EngineSpec` pick a strategy, the first
one not at its default winning: ``parallel`` (default ``data``), then ``sync``
(default ``bsp``: the iteration barrier), then ``algorithm``. A strategy
registers under its option and the value that picks it
(:attr:`~pdsgd.engine.strategies.base.Strategy.option` and ``name``), and that
value becomes one of the option's choices.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from pdsgd.engine.strategies import averaging, data, hogwild, tensor, update_log
from pdsgd.errors import PdsgdError

#: The options that pick a strategy, in order, and the value that leaves the choice to the next.
OPTIONS = {"parallel": "data", "sync": "bsp", "algorithm": None}

_STRATEGIES = {}


def register(strategy):
    """Add ``strategy`` (a :class:`~pdsgd.engine.strategies.base.Strategy`) under its name.

    Registering the same kind again (a module imported twice) replaces it;
    another kind under a taken name is refused.
    """
    if strategy.option not in OPTIONS:
        raise PdsgdError(f"strategy {strategy.name!r}: option {strategy.option!r} is not one "
                         f"of {', '.join(OPTIONS)}")
    old = _STRATEGIES.get(strategy.name)
    if old is not None and type(old) is not type(strategy):
        raise PdsgdError(f"a strategy named {strategy.name!r} is registered already")
    _STRATEGIES[strategy.name] = strategy
    return strategy


@contextlib.contextmanager
def registered(strategy):
    """``strategy`` registered for the duration of a ``with`` block (a test's, a notebook's).

    The name must be free; it is free again afterwards.
    """
    if strategy.name in _STRATEGIES:
        raise PdsgdError(f"a strategy named {strategy.name!r} is registered already")
    register(strategy)
    try:
        yield strategy
    finally:
        del _STRATEGIES[strategy.name]


def get(name):
    """The strategy registered as ``name``."""
    try:
        return _STRATEGIES[name]
    except KeyError:
        raise PdsgdError(f"unknown strategy {name!r}: choose one of "
                         f"{', '.join(_STRATEGIES)}") from None


def choices(option):
    """The values ``option`` takes: its default first (unless None), then its strategies'."""
    default = OPTIONS[option]
    names = [name for name, s in _STRATEGIES.items() if s.option == option]
    return tuple(([default] if default is not None else []) + names)


def of(spec):
    """The strategy ``spec`` asks for (its options are valid choices)."""
    for option, default in OPTIONS.items():
        value = getattr(spec, option)
        if value != default:
            return get(value)
    raise PdsgdError("no strategy: the spec's algorithm is unset")  # pragma: no cover


class Choices(Sequence):
    """The values ``option`` takes, live: :func:`choices` as a sequence of names.

    For option declarations and menus; a strategy registered later is in it.
    """

    def __init__(self, option):
        self.option = option

    def __getitem__(self, index):
        return choices(self.option)[index]

    def __len__(self):
        return len(choices(self.option))

    def __repr__(self):
        return f"Choices({self.option!r}: {', '.join(self)})"


register(data.BSP)
register(averaging.AVERAGE)
register(tensor.TENSOR_PARALLEL)
register(update_log.SSP)
register(update_log.ASYNC)
register(hogwild.HOGWILD)
