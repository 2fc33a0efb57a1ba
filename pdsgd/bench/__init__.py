"""Benchmarks: each prints its numbers beside its baseline, measured in one run.

Each module here is the command line of ``pdsgd bench NAME``: its
``add_parser(subparsers)`` registers the subcommand, whose measuring code is a
library function in :mod:`pdsgd.study` (``docs/architecture.md`` has the map).
"""

from pdsgd.bench import (
    ceiling,
    dask,
    neighbours,
    network,
    notebooks,
    scaling,
    sequential,
    sync,
    to_target,
)

MODULES = [sequential, scaling, ceiling, to_target, dask, neighbours, sync, notebooks, network]


def add_bench_parsers(subparsers):
    """Register every benchmark as a ``pdsgd bench`` subcommand."""
    for module in MODULES:
        module.add_parser(subparsers)
