"""The strategies by name: :func:`register` one, :func:`get` it, :func:`of` a spec.

Three options of :class:`~pdsgd.spec.EngineSpec` pick a strategy, the first
one not at its default winning: ``parallel`` (default ``data``), then ``sync``
(default ``bsp``: the iteration barrier), then ``algorithm``. A strategy
registers under its option and the value that picks it
(:attr:`~pdsgd.engine.strategies.base.Strategy.option` and ``name``), and that
value becomes one of the option's choices.
"""

from __future__ import annotations

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


register(data.BSP)
register(averaging.AVERAGE)
register(tensor.TENSOR_PARALLEL)
register(update_log.SSP)
register(update_log.ASYNC)
register(hogwild.HOGWILD)
