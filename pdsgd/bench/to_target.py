"""``pdsgd bench to-target``: how much sooner the engine reaches a test accuracy than one core.

The command line over :func:`pdsgd.study.best_split.run`: it finds the best
one-core configuration (batch and learning-rate rule), splits that batch over
N workers (the same arithmetic), and times both to the target in interleaved
rounds, without evaluation stops; this module prints the table.
"""

from __future__ import annotations

import argparse

from pdsgd.arguments import choice_list, int_list, positive_float
from pdsgd.bench.common import add_shared_options, register
from pdsgd.study.best_split import run
from pdsgd.study.to_target import RULES

STRATEGIES = ("tensor", "data")


def format_row(r):
    """One table line."""
    head = f"{r['workers']:>3} {r['strategy']:>8}"
    if r["micro_batch"] is None:
        return f"{head}  N does not divide the best batch: not run"
    if r["time_to_accuracy"] is None:
        return f"{head} {r['micro_batch']:>4}  did not reach the target"
    lo, hi = r["range"]
    return (f"{head} {r['micro_batch']:>4} {r['engine_seconds']:>10.3f} "
            f"{r['best_seconds']:>10.3f} {r['time_to_accuracy']:>6.2f}x ({lo:.2f}-{hi:.2f})")


def format_table(result):
    """The result of :func:`~pdsgd.study.best_split.run` as a fixed-width table."""
    best = result["best"]
    if best is None:
        return (f"no one-core configuration reached {result['target']:.0%} on "
                f"{result['dataset']}: lower --target")
    lines = [f"{result['dataset']}, P = {result['train_size']:,}, target "
             f"{result['target']:.0%} test accuracy. Best one-core configuration: batch "
             f"{best['batch']}, rule {best['rule']} (lr {best['lr']:g}), "
             f"{best['samples']:,.0f} samples to the target. The engine runs that batch "
             f"split over N workers (b = batch / N). Seconds to the target, medians of "
             f"{result['repeats']} interleaved rounds; speedup: median of the rounds' "
             "ratios (range)",
             f"{'N':>3} {'strategy':>8} {'b':>4} {'engine s':>10} {'one core s':>10} "
             f"{'speedup':>7}"]
    lines += [format_row(r) for r in result["rows"]]
    return "\n".join(lines)


def add_parser(subparsers):
    """Register ``pdsgd bench to-target``."""
    p = register(subparsers, "to-target", "time to a test accuracy: the best one-core batch "
                 "split over N workers against the best one-core configuration",
                 run=_run_args, table=format_table)
    add_shared_options(p, dataset="mnist-5k", train_size=4000, repeats=5, workers=(2,))
    p.add_argument("--target", type=_accuracy, default=None,
                   help="the test accuracy to reach (default: the dataset's, 0.88 on "
                        "mnist-5k, 0.85 on Fashion-MNIST)")
    p.add_argument("--strategies", type=choice_list(STRATEGIES), default=STRATEGIES,
                   metavar=",".join(STRATEGIES), help="comma-separated (default: both)")
    p.add_argument("--batches", type=int_list, default=(1, 4, 16, 64), metavar="1,4,16,64",
                   help="batches of the one-core search, comma-separated")
    p.add_argument("--rules", type=choice_list(tuple(RULES)), default=tuple(RULES),
                   metavar=",".join(RULES),
                   help="learning-rate rules of the one-core search, comma-separated")


def _accuracy(text):
    value = positive_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"{text} is not an accuracy below 1 (e.g. 0.88)")
    return value


def _run_args(args):
    print(f"finding the best one-core configuration on {args.dataset}, then timing it against "
          f"the engine in {args.repeats} round{'s' * (args.repeats > 1)} ...", flush=True)
    return run(args.dataset, args.train_size, args.target, args.workers, args.strategies,
               args.repeats, args.batches, args.rules)
