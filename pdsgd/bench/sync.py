"""``pdsgd bench sync``: what dropping the barrier buys, in samples/s and in accuracy.

The command line over :func:`pdsgd.study.sync_sweep.run` (what each cell
trains and how the rounds are interleaved is told there); this module prints
its table, every rate beside BSP's in the same rounds.
"""

from __future__ import annotations

from pdsgd.bench.common import add_shared_options, register
from pdsgd.study.sync_sweep import GRID, SETTINGS, run


def format_table(result):
    """The result of :func:`~pdsgd.study.sync_sweep.run` as a fixed-width table, grouped by
    N, b and straggler."""
    lines = [f"sync settings, {result['dataset']} ({result['train_size']} samples x "
             f"{result['epochs']} epochs), {result['backend']}, median of "
             f"{result['repeats']} interleaved rounds",
             f"{'setting':<9} {'N':>2} {'b':>3} {'straggler':>9} {'samples/s':>10} "
             f"{'vs BSP':>7} {'test acc':>8} {'vs BSP':>8} {'stale mean':>10} {'max':>5}"]
    group = None
    for r in result["rows"]:
        key = (r["workers"], r["micro_batch"], r["straggler_factor"])
        if key != group:
            group = key
            lines.append("")
        straggler = f"{r['straggler_factor']:g}x" if r["straggler_factor"] != 1 else "-"
        lines.append(f"{r['setting']:<9} {r['workers']:>2} {r['micro_batch']:>3} "
                     f"{straggler:>9} {r['samples_per_s']:>10,.0f} {r['vs_bsp']:>6.2f}x "
                     f"{r['test_accuracy']:>8.4f} {r['accuracy_vs_bsp']:>+7.1f}p "
                     f"{r['staleness_mean']:>10.2f} {r['staleness_max']:>5}")
    return "\n".join(lines)


def add_parser(subparsers):
    """Register ``pdsgd bench sync``."""
    p = register(subparsers, "sync", "samples/s, accuracy and staleness of BSP, SSP, async "
                 "and Hogwild!, with and without a straggler", run=_run_args,
                 table=format_table)
    add_shared_options(p, dataset="mnist-5k", train_size=None, epochs=2, repeats=3,
                       workers=GRID["workers"], micro_batch=GRID["micro_batch"])
    p.add_argument("--straggler-factor", type=_factors, default=GRID["straggler_factor"],
                   metavar="1,2", help="1: no straggler; F: worker N-1 computes F times slower")
    p.add_argument("--settings", type=lambda s: tuple(s.split(",")), default=SETTINGS,
                   metavar="bsp,ssp:4,async,hogwild")
    p.add_argument("--backend", choices=("serial", "threads", "processes"), default="processes")


def _factors(text):
    return tuple(float(part) for part in text.split(","))


def _run_args(args):
    return run(args.dataset, args.epochs, args.repeats, args.workers, args.micro_batch,
               args.straggler_factor, args.settings, args.backend, args.train_size)
