"""Facts about the machine a measurement ran on, stored beside its numbers.

A speedup means little without the cores, the BLAS library and its thread
count behind it: every benchmark's JSON and every cached cell of the study
carry :func:`machine_facts`, and :func:`machine_key` tells the study's cache
whether a record was measured on this machine.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info


def usable_cores():
    """Cores this process may run on (affinity-aware where the OS tells)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def cpu_model():
    """The processor's model name (``/proc/cpuinfo`` on Linux), else what ``platform`` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_key():
    """What identifies a machine for the study's cache: timings from another one are not ours."""
    return {"cpu": cpu_model(), "logical_cores": os.cpu_count(), "arch": platform.machine(),
            "system": platform.system()}


def machine_facts():
    """Cores, CPU, Python, NumPy and BLAS (library, version, threads) of this process.

    Returns
    -------
    dict
        ``cpu``, ``logical_cores`` (as the OS reports), ``usable_cores`` (this
        process's affinity) and ``hardware_threads`` (what can run at once:
        the usable cores), ``platform``, ``python``, ``numpy`` and ``blas``:
        one entry per thread pool that threadpoolctl finds, each with
        ``library``, ``api``, ``version`` and ``threads``.
    """
    usable = usable_cores()
    pools = [{"library": p.get("internal_api"), "api": p.get("user_api"),
              "version": p.get("version"), "threads": p.get("num_threads"),
              "architecture": p.get("architecture")} for p in threadpool_info()]
    return {"cpu": cpu_model(), "logical_cores": os.cpu_count(), "usable_cores": usable,
            "hardware_threads": usable, "platform": platform.platform(),
            "python": sys.version.split()[0], "numpy": np.__version__, "blas": pools}
