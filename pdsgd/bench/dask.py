"""``pdsgd bench dask``: what a Dask round costs, and what parameter averaging buys back.

The command line over :func:`pdsgd.study.dask_rounds.run` (the cluster it
starts and what it times are told there); this module prints each round's
time beside serial's, and N = 2's rate beside N = 1's.
"""

from __future__ import annotations

from pdsgd.arguments import positive_int
from pdsgd.bench.common import add_shared_options, register
from pdsgd.study.dask_rounds import run


def format_table(r):
    """The result as lines of text."""
    rounds = r["rounds"]
    serial = rounds["serial"]
    lines = ["per-round time, BSP, N=2, b=1 (overhead = round time - serial's):"]
    for backend, seconds in rounds.items():
        extra = "" if backend == "serial" else f"   overhead {1e3 * (seconds - serial):8.3f} ms"
        lines.append(f"  {backend:<10} {1e3 * seconds:8.3f} ms/round{extra}")
    lines.append(f"  dask round / processes round: {rounds['dask'] / rounds['processes']:.0f}x")
    rates = r["average_rate"]
    lines.append(f"parameter averaging on dask, K={r['local_steps']}, b={r['micro_batch']}, "
                 f"{r['average_samples']} samples:")
    for n, rate in rates.items():
        lines.append(f"  N={n}: {rate:10,.0f} samples/s")
    lines.append(f"  speedup N=2 over N=1, both averaging on dask (one worker's SGD at b "
                 f"between averages): {r['speedup']:.2f}x (goal >= 1.5x on 2 cores)")
    return "\n".join(lines)


def add_parser(subparsers):
    """Register ``pdsgd bench dask``."""
    p = register(subparsers, "dask", "per-round overhead of dask against processes; speedup "
                 "of parameter averaging, N=2 over N=1", table=format_table,
                 run=lambda a: run(a.dataset, a.samples, a.average_samples, a.local_steps,
                                   a.micro_batch, a.repeats))
    add_shared_options(p, dataset="mnist-5k", samples=400, repeats=3, micro_batch=1)
    p.add_argument("--average-samples", type=positive_int, default=4000,
                   help="samples per averaging timing (default 4000)")
    p.add_argument("--local-steps", type=positive_int, default=100, metavar="K")
