"""``pdsgd bench network``: BSP and parameter averaging over real links, beside the cost model.

The command line over :func:`pdsgd.netlab.costs.run` (the lab it builds, what
it times and the prediction it sets beside each figure are told there).
"""

from __future__ import annotations

from pdsgd.arguments import positive_float, positive_int
from pdsgd.bench.common import register
from pdsgd.netlab.costs import run, table
from pdsgd.netlab.lab import PROFILES

format_table = table


def add_parser(subparsers):
    """Register ``pdsgd bench network``."""
    p = register(subparsers, "network", "BSP and parameter averaging over network links "
                 "(namespaces, root) beside the cost model's prediction", table=format_table,
                 run=lambda a: run(a.profiles, a.hosts, a.seconds, a.local_steps, a.target))
    p.add_argument("--profiles", type=lambda s: tuple(s.split(",")), default=("lan", "wifi",
                                                                             "wan"),
                   metavar="lan,wifi,wan", help=f"links to measure, of {', '.join(PROFILES)} "
                   "(the bare lab is always measured: it is the prediction's baseline)")
    p.add_argument("--hosts", type=positive_int, default=3, help="student hosts (default 3)")
    p.add_argument("--seconds", type=positive_float, default=3.0,
                   help="about how long each timing lasts (default 3)")
    p.add_argument("--local-steps", type=lambda s: tuple(int(k) for k in s.split(",")),
                   default=(10, 100), metavar="10,100", help="the K of averaging")
    p.add_argument("--target", type=positive_float, default=0.8,
                   help="the test accuracy of the time-to-target column (default 0.8)")
