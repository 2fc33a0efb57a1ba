"""``pdsgd bench ceiling``: how much faster copies of the sequential path run at once.

The command line over :func:`pdsgd.study.ceiling.measure` (its module says what
the ceiling is and how it is timed): each b's rate alone and the ceiling beside
the ideal, then what moving weights between the cores costs
(:mod:`pdsgd.bench.cache_traffic`).
"""

from __future__ import annotations

from pdsgd.arguments import int_list, positive_int
from pdsgd.bench.cache_traffic import format_traffic
from pdsgd.bench.common import register

# The module, not its names: pdsgd.study.ceiling imports from this package.
from pdsgd.study import ceiling as machine


def format_row(row, copies):
    """One line: b, the rate alone, and the ceiling with its range."""
    lo, hi = row["ceiling_range"]
    return (f"b={row['micro_batch']:<3} one copy alone {row['alone_per_s']:>9,.0f} samples/s; "
            f"{copies} at once: {row['ceiling']:.2f}x ({lo:.2f}-{hi:.2f}), "
            f"ideal {copies:.2f}x")


def format_table(result):
    """The result of :func:`pdsgd.study.ceiling.measure` as text."""
    lines = [f"The machine's ceiling: {result['copies']} copies of the sequential path "
             f"({'-'.join(map(str, result['sizes']))}, {result['dataset']}, one BLAS thread "
             f"each) at once against one alone, {result['repeats']} rounds in turn (medians)"]
    lines += [format_row(r, result["copies"]) for r in result["rows"]]
    if "traffic" in result:
        lines.append(format_traffic(result["traffic"], result["sizes"]))
    return "\n".join(lines)


def add_parser(subparsers):
    """Register ``pdsgd bench ceiling``."""
    p = register(subparsers, "ceiling", "how much faster copies of the sequential path run "
                 "at once than one alone: the most any parallel engine can gain here",
                 run=_run_args, table=format_table)
    p.add_argument("--dataset", default="mnist-5k")
    p.add_argument("--samples", type=positive_int, default=2000)
    p.add_argument("--copies", type=positive_int, default=None,
                   help="how many copies (default: one per usable core)")
    p.add_argument("--micro-batch", type=int_list, default=(1, 16), metavar="1,16")
    p.add_argument("--repeats", type=positive_int, default=5)


def _run_args(args):
    def show(row):  # each b as it is measured, then the traffic line
        if "traffic" in row:
            print(format_traffic(row["traffic"], row["sizes"]))
        else:
            print(format_row(row, args.copies or machine.usable_cores()))

    return machine.measure(args.dataset, args.samples, args.copies, args.micro_batch,
                           args.repeats, on_row=show)
