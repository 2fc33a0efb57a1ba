"""Facts about the machine a benchmark ran on, stored beside its numbers.

A speedup means little without the cores, the BLAS library and its thread
count behind it; every benchmark's JSON carries :func:`machine_facts`.
"""

from __future__ import annotations

import os
import platform
import sys

import numpy as np


def machine_facts():
    """Cores, Python, NumPy and BLAS (name, version, threads) of this process.

    Returns
    -------
    dict
        ``cores`` (logical, as the OS reports), ``usable_cores`` (this
        process's affinity), ``platform``, ``processor``, ``python``, ``numpy``
        and ``blas``: one entry per thread pool that threadpoolctl finds,
        each with ``library``, ``api``, ``version`` and ``threads``.
    """
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    try:
        from threadpoolctl import threadpool_info

        pools = [{"library": p.get("internal_api"), "api": p.get("user_api"),
                  "version": p.get("version"), "threads": p.get("num_threads"),
                  "architecture": p.get("architecture")} for p in threadpool_info()]
    except ImportError:  # threadpoolctl is a dependency, but facts must never fail
        pools = []
    return {"cores": os.cpu_count(), "usable_cores": usable,
            "platform": platform.platform(), "processor": platform.processor() or None,
            "python": sys.version.split()[0], "numpy": np.__version__, "blas": pools}
