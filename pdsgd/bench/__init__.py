"""Benchmarks: each prints its numbers beside its baseline, measured in one run.

Each benchmark module defines ``add_parser(subparsers)`` registering its
``pdsgd bench NAME`` subcommand.
"""

from pdsgd.bench import ceiling, dask, neighbours, network, scaling, sequential, sync

MODULES = [sequential, scaling, ceiling, dask, neighbours, sync, network]


def add_bench_parsers(subparsers):
    """Register every benchmark as a ``pdsgd bench`` subcommand."""
    for module in MODULES:
        module.add_parser(subparsers)
