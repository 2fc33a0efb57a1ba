"""``pdsgd bench neighbours``: the engine on a machine that other programs keep busy.

The command line over :func:`pdsgd.study.busy_neighbours.run` (which starts
the neighbours and says how the engines are timed); this module prints each
load's row as it is measured, every rate beside the sequential path's.
"""

from __future__ import annotations

from pdsgd.arguments import count_list
from pdsgd.bench.common import add_shared_options, register
from pdsgd.spec import AGGREGATIONS
from pdsgd.study.busy_neighbours import run


def format_row(r):
    """One table line."""
    s = r["samples_per_s"]
    lo, hi = r["adaptive_vs_sequential_range"]
    flo, fhi = r["fixed_vs_sequential_range"]
    return (f"{r['neighbours']:>10} {s['sequential']:>12,.0f} {s['adaptive']:>12,.0f} "
            f"{r['adaptive_vs_sequential']:>6.2f}x ({lo:.2f}-{hi:.2f}) {s['fixed']:>12,.0f} "
            f"{r['fixed_vs_sequential']:>6.2f}x ({flo:.2f}-{fhi:.2f}) "
            f"{r['adaptive_vs_fixed']:>8.2f}x")


def format_table(result):
    """The result of :func:`~pdsgd.study.busy_neighbours.run` as a fixed-width table."""
    lines = [f"N={result['workers']} processes, b={result['micro_batch']}, "
             f"{result.get('aggregate') or 'default'} aggregation, "
             f"{'-'.join(map(str, result['sizes']))}, {result['dataset']}: "
             f"{result['samples']} samples per timing, median of {result['repeats']} "
             "interleaved repeats (range of the per-repeat ratios)",
             f"{'neighbours':>10} {'sequential/s':>12} {'adaptive/s':>12} {'vs seq':>19} "
             f"{'fixed spin/s':>12} {'vs seq':>19} {'adaptive/fixed':>8}"]
    lines += [format_row(r) for r in result["rows"]]
    return "\n".join(lines)


def add_parser(subparsers):
    """Register ``pdsgd bench neighbours``."""
    p = register(subparsers, "neighbours", "N=2 processes against the sequential path with "
                 "0, 1 and 2 CPU-bound programs beside them", run=_run_args,
                 table=format_table)
    add_shared_options(p, dataset="mnist-5k", samples=2000, repeats=5, workers=2,
                       micro_batch=1)
    p.add_argument("--neighbours", type=count_list, default=(0, 1, 2), metavar="0,1,2")
    p.add_argument("--aggregate", choices=tuple(AGGREGATIONS), default=None,
                   help="the engines' aggregation (default: the backend's, for N and b)")


def _run_args(args):
    return run(args.dataset, args.samples, args.repeats, args.neighbours, args.workers,
               args.micro_batch, progress=lambda row: print(format_row(row)),
               aggregate=args.aggregate)
