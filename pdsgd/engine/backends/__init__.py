"""Execution backends: several ways to run the workers of whatever strategy a run names.

A backend launches the workers, lays out their shared memory, provides the
barriers and notices failures; what the workers do is the strategy's
(:mod:`pdsgd.engine.strategies`). Each backend is a small class in a module of
its own, behind the interface of :class:`pdsgd.engine.backends.base.Backend`
(``start``, ``run_span``, ``close``):

========== ================================================================
serial     the oracle: the strategy's serial span, workers one after another
threads    N threads over shared NumPy arrays, ``threading.Barrier``
processes  N long-lived loky processes, shared memory, our cyclic barrier
dask       N Dask workers (one machine or many); a round is N futures
========== ================================================================

To add one, write ``pdsgd/backends/NAME.py`` with a ``Backend`` subclass and
add a line to :data:`BACKENDS`; nothing else changes.
"""

from __future__ import annotations

import importlib

from pdsgd.errors import PdsgdError

#: name -> "module:class", imported only when used.
BACKENDS = {
    "serial": "pdsgd.engine.backends.serial:SerialBackend",
    "threads": "pdsgd.engine.backends.threads:ThreadsBackend",
    "processes": "pdsgd.engine.backends.processes:ProcessesBackend",
    "dask": "pdsgd.engine.backends.dask:DaskBackend",
}

#: the backend used when more than one worker is asked for and none is named.
DEFAULT_BACKEND = "processes"


def get_backend(name):
    """The backend class registered as ``name``.

    Raises
    ------
    PdsgdError
        If no backend has that name (the message lists those that do).
    """
    if name not in BACKENDS:
        raise PdsgdError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
    module, cls = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), cls)
