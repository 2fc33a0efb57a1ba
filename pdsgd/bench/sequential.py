"""``pdsgd bench sequential``: microseconds per sample of one-sample SGD, three ways.

The command line over :func:`pdsgd.study.sequential_paths.run` (the three
ways are told there); this module prints each beside the naive loop.
"""

from __future__ import annotations

from pdsgd.bench.common import add_shared_options, register

# naive_step and torch_step are named here too for bench/scaling.py, which imports them
# from this module until its measuring code moves to the study.
from pdsgd.study.sequential_paths import naive_step, run, torch_step  # noqa: F401


def format_table(result):
    """The result of :func:`~pdsgd.study.sequential_paths.run` as a fixed-width text table."""
    lines = [f"one-sample SGD, {'-'.join(map(str, result['sizes']))}, "
             f"median of {result['repeats']} x {result['samples']} samples",
             f"{'method':<20} {'dtype':<8} {'us/sample':>10} {'vs naive':>9}"]
    for r in result["rows"]:
        lines.append(f"{r['method']:<20} {r['dtype']:<8} {r['us_per_sample']:>10.1f} "
                     f"{r['speedup_vs_naive']:>8.2f}x")
    return "\n".join(lines)


def add_parser(subparsers):
    """Register ``pdsgd bench sequential``."""
    p = register(subparsers, "sequential", "pdsgd's batch-1 path vs a naive loop (and PyTorch "
                 "when installed)", run=lambda a: run(samples=a.samples, repeats=a.repeats),
                 table=format_table)
    add_shared_options(p, samples=2000, repeats=5)
