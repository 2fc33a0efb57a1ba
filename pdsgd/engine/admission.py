"""Admission: what a run will need, checked against the data and the machine before it starts.

A run is refused, in one line, before anything is allocated or started, when it
cannot work: more samples per iteration than the training set holds, a
network or a shared block larger than the free memory, a shared block larger
than the free space of ``/dev/shm``. It gets a one-line warning when it asks
for many more workers than the machine has cores. (The hard cap on workers
per core needs no data: :class:`pdsgd.spec.EngineSpec` checks it.)

:func:`admit` is called by :func:`pdsgd.train` once the data are loaded, and
:func:`admit_engine` by the :class:`~pdsgd.engine.broker.Broker` before it
starts its backend.
"""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import psutil

from pdsgd.errors import OptionError, PdsgdError, PdsgdWarning
from pdsgd.machine import usable_cores

#: More workers than this many per core get a warning (they share the cores).
WARN_WORKERS_PER_CORE = 4
#: Memory of one Dask worker process and its nanny, beyond the data it holds (measured ~120 MB).
DASK_WORKER_BYTES = 150 * 2**20
SHM_DIR = "/dev/shm"


def admit(spec, n_samples):
    """Refuse a run whose rounds do not fit the data, or whose network does not fit in memory.

    Parameters
    ----------
    spec : EngineSpec
        With its sizes known (:meth:`~pdsgd.spec.EngineSpec.for_data`).
    n_samples : int
        Training samples, P.

    Raises
    ------
    OptionError
        Naming the option to change.
    """
    check_round(spec, n_samples)
    check_network(spec.sizes, spec.bias, spec.dtype)


def check_network(sizes, bias, dtype):
    """Refuse a network whose parameters (and their gradient) do not fit in free memory."""
    params = n_params(sizes, bias)
    # The parameters, their gradient and a forward pass's activations, roughly.
    need = 3 * params * np.dtype(dtype).itemsize
    free = free_memory()
    if need > free:
        # Blame the widest layer's option: that is where the size comes from.
        widest = max(range(len(sizes)), key=sizes.__getitem__)
        option, value = (("input_nodes", sizes[0]) if widest == 0 else
                         ("output_nodes", sizes[-1]) if widest == len(sizes) - 1 else
                         ("hidden", ",".join(map(str, sizes[1:-1]))))
        raise OptionError(option, value,
                          f"makes a network of {params:,} parameters, which needs about "
                          f"{_size(need)} of memory; this machine has {_size(free)} free")


def n_params(sizes, bias=True):
    """Number of parameters of an MLP with layer widths ``sizes``."""
    return sum(a * b + (b if bias else 0) for a, b in zip(sizes, sizes[1:]))


def check_round(spec, n_samples):
    """Refuse iterations that take more samples than the training set holds.

    With parameter averaging a round may be larger than the training set (its
    last local steps are then empty, as in any partial round), but not hold
    more local steps than there are samples: none of those could ever run.
    """
    if spec.local_steps > n_samples:
        raise OptionError("local_steps", spec.local_steps,
                          f"is too large: more local steps per round than the "
                          f"{n_samples:,} samples of the training set")
    if spec.iteration_rows <= n_samples:
        return
    if spec.micro_batch > 1:
        option, value = "micro_batch", spec.micro_batch
        what = f"an iteration of {spec.workers} workers x {spec.micro_batch} samples"
    else:
        option, value = "workers", spec.workers
        what = f"an iteration of {spec.workers} workers"
    raise OptionError(option, value, f"is too large: {what} takes "
                      f"{spec.iteration_rows:,} samples, more than the "
                      f"{n_samples:,} of the training set")


def admit_engine(spec, n_samples, block_bytes, shared, data_bytes):
    """Warn about crowded cores; refuse a run that does not fit the data or the memory.

    Parameters
    ----------
    spec : EngineSpec
    n_samples : int
        Training samples, P.
    block_bytes : int
        Size of the backend's block of arrays (0 if it has none).
    shared : bool
        Whether that block lives in shared memory (``/dev/shm``).
    data_bytes : int
        Size of the training data, which every Dask worker holds a copy of.
    """
    check_round(spec, n_samples)
    cores = usable_cores()
    local = spec.backend != "dask" or spec.scheduler is None
    # Hosted workers share one process per core: no more processes than cores.
    hosted = (spec.backend in (None, "processes") and spec.hosting == "cores"
              and spec.strategy.shares_hosts)
    if (local and spec.backend != "serial" and not hosted
            and spec.workers > WARN_WORKERS_PER_CORE * cores):
        warnings.warn(f"{spec.workers} workers on {cores} cores: they take turns, and each "
                      "one only adds waiting; fewer workers will be faster", PdsgdWarning,
                      stacklevel=3)
    need = block_bytes
    if spec.backend == "dask" and spec.scheduler is None:
        need += spec.workers * (DASK_WORKER_BYTES + data_bytes)
    free = free_memory()
    if need > free:
        raise OptionError("workers", spec.workers,
                          f"needs about {_size(need)} of memory for its {spec.backend} workers "
                          f"and their data; this machine has {_size(free)} free")
    if shared:
        try:
            room = free_shared_memory()
        except OSError:
            return
        if block_bytes > room:
            raise PdsgdError(f"the run needs {_size(block_bytes)} of shared memory but "
                             f"{SHM_DIR} has {_size(room)} free; use fewer samples "
                             "(--train-size) or --backend threads")


def free_memory():
    """Bytes of memory available to a new allocation without swapping."""
    return psutil.virtual_memory().available


def free_shared_memory():
    """Bytes free in ``/dev/shm``, where the processes backend puts its block."""
    return shutil.disk_usage(SHM_DIR).free


def _size(nbytes):
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if nbytes < 1024 or unit == "GiB":
            return f"{nbytes:,.0f} {unit}" if unit == "bytes" else f"{nbytes:,.1f} {unit}"
        nbytes /= 1024
    return None  # pragma: no cover
