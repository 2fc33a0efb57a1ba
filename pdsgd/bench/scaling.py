"""``pdsgd bench scaling``: samples per second of the parallel engine, N workers by b.

The command line over :func:`pdsgd.study.throughput.run`, which measures (its
docstring says how). Every cell prints two speedups, each named for its
baseline, from the same interleaved repeats:

- ``S (seq b)``: the seed's speedup, against the best sequential path at the
  same micro-batch b;
- ``hw (seq Nb)``: the hardware speedup, against sequential minibatch SGD at
  batch N b on one core, the same arithmetic as the engine's. Its ideal is N.

The ``ceiling`` column is what the machine itself allows: min(N, cores) copies
of the sequential path at once, their combined rate over the sequential path's
(:mod:`pdsgd.bench.ceiling`). For b = 1 the table also compares with the naive
NumPy loop of ``pdsgd bench sequential``.
"""

from __future__ import annotations

from pdsgd.arguments import int_list, positive_int
from pdsgd.bench.common import register

# The module, not its names: pdsgd.study.throughput imports the ceiling from this package.
from pdsgd.study import throughput


def format_row(r):
    """One table line."""
    naive, torch = (f"{r[k]:>8.2f}x" if k in r else f"{'':>9}" for k in ("vs_naive", "vs_torch"))
    lo, hi = r["speedup_range"]
    # Results written before the hardware baseline was timed have no such column.
    hw = (f"{r['hardware_per_s']:>10,.0f} {r['hardware_speedup']:>6.2f}x "
          f"{r['hardware_speedup_range'][0]:>5.2f}-{r['hardware_speedup_range'][1]:<5.2f}"
          if "hardware_speedup" in r else f"{'':>30}")
    top = (f"{r['ceiling']:>6.2f}x {100 * r['of_ceiling']:>4.0f}%" if "of_ceiling" in r
           else f"{r['ceiling']:>6.2f}x {'':>5}" if "ceiling" in r else f"{'':>13}")
    return (f"{r['backend']:<10} {r.get('hosting') or '-':<7} {r['parallel']:<7} "
            f"{r['aggregate'] or '-':<11} "
            f"{r['workers']:>3} {r['micro_batch']:>3} {r['samples_per_s']:>10,.0f} "
            f"{r['sequential_per_s']:>10,.0f} {r['speedup']:>6.2f}x {lo:>5.2f}-{hi:<5.2f} "
            f"{hw} {top} {naive} {torch} {r['memory_mb']:>7.0f}")


def format_table(result):
    """The result of :func:`run` as a fixed-width table."""
    # Results written before timings had a shortest length do not name one.
    window = (f"timings of at least {result['min_seconds']:g} s, "
              if "min_seconds" in result else "")
    lines = [f"BSP scaling, {'-'.join(map(str, result['sizes']))}, {result['dataset']}, "
             f"{result['samples']} samples per pass, {window}"
             f"{result['repeats']} repeats interleaved with both baselines (medians)",
             f"{'backend':<10} {'hosting':<7} {'split':<7} {'aggregate':<11} {'N':>3} {'b':>3} "
             f"{'samples/s':>10} {'seq b /s':>10} {'S(seq b)':>7} {'range':>11} "
             f"{'seq Nb /s':>10} {'hw(seq Nb)':>7} {'range':>11} {'ceiling':>7} "
             f"{'share':>5} {'vs naive':>9} {'vs torch':>9} {'mem MB':>7}"]
    for b, base in result["baselines"].items():
        lines.append(f"-- b={b}: " + ", ".join(f"{k} {v:,.0f}/s" for k, v in base.items()))
        lines += [format_row(r) for r in result["rows"] if r["micro_batch"] == int(b)]
    lines.append("S(seq b): the seed's speedup, against the best sequential path at the same "
                 "b; hw(seq Nb): the hardware speedup, against sequential minibatch SGD at "
                 "batch N b on one core (the same arithmetic as the engine's; ideal: N). "
                 "Both are medians of per-repeat ratios in the same interleaved repeats.")
    if any("ceiling" in r for r in result["rows"]):
        lines.append("ceiling: min(N, cores) copies of the sequential path (one BLAS thread "
                     "each) at once, their combined rate over the sequential path's, in the "
                     "same repeats: what the machine gives work that never waits; share: "
                     "S(seq b) over the ceiling, median of the per-repeat ratios")
    if "trace_overhead" in result:
        lines.append(f"trace recording overhead: {100 * result['trace_overhead']:.1f}%")
    return "\n".join(lines)


def add_parser(subparsers):
    """Register ``pdsgd bench scaling``."""
    p = register(subparsers, "scaling", "samples/s of the engine for N workers and micro-batch "
                 "b, data or tensor parallel: the seed's S (sequential at b) and the hardware "
                 "speedup (sequential at N b)",
                 run=_run_args, table=format_table)
    p.add_argument("--dataset", default="mnist-5k")
    p.add_argument("--samples", type=positive_int, default=2000,
                   help="samples per pass (default 2000); a timing repeats passes for "
                   f"at least {throughput.MIN_SECONDS:g} s")
    p.add_argument("--repeats", type=positive_int, default=3)
    grid = throughput.GRID
    p.add_argument("--workers", type=int_list, default=grid["workers"], metavar="1,2,4,8")
    p.add_argument("--micro-batch", type=int_list, default=grid["micro_batch"], metavar="1,16")
    p.add_argument("--engines", type=lambda s: tuple(s.split(",")), default=grid["engines"],
                   metavar="BACKEND:AGGREGATE|BACKEND:tensor,...")
    p.add_argument("--hosting", type=lambda s: tuple(s.split(",")), default=("cores",),
                   metavar="cores,workers",
                   help="processes: one process per usable core (cores, the default), one "
                   "per worker (workers), or both, side by side in the same run")
    p.add_argument("--trace-overhead", action="store_true",
                   help="also measure what recording the trace costs")
    p.add_argument("--no-ceiling", dest="ceiling", action="store_false",
                   help="do not time copies of the sequential path at once (the ceiling "
                   "column), which adds one timing to every repeat of a cell with N >= 2")


def _run_args(args):
    result = throughput.run(args.dataset, args.samples, args.repeats, args.workers,
                            args.micro_batch, args.engines, with_ceiling=args.ceiling,
                            on_row=lambda row: print(format_row(row)),
                            hostings=args.hosting)
    if args.trace_overhead:
        result["trace_overhead"] = throughput.trace_overhead(args.dataset, args.samples)
    return result
