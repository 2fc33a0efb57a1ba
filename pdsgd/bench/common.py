"""What every benchmark's command line shares: its subcommand, its JSON output, its options.

A benchmark is a library function that measures (in :mod:`pdsgd.study`) and a
module here that is only its command line: ``add_parser(subparsers)`` calls
:func:`register` with ``run(args)`` (the parsed options handed to the
measuring function) and ``table(result)`` (the text printed, each number
beside its baseline), then :func:`add_shared_options` for the options that
benchmarks share and ``add_argument`` for its own.
"""

from __future__ import annotations

from pdsgd.arguments import int_list, positive_int
from pdsgd.data.datasets import DATASETS
from pdsgd.files import write_json

#: The options that several benchmarks take: name -> (help, metavar). Stated once, so that
#: ``--repeats`` means the same in every benchmark. A list's metavar is its default.
SHARED = {
    "dataset": ("the dataset to train on", None),
    "samples": ("samples per timing", None),
    "train_size": ("train on the first P training samples", "P"),
    "epochs": ("epochs of every timed run", None),
    "repeats": ("interleaved repeats; every figure is their median", None),
    "workers": ("N, the number of workers", "N"),
    "micro_batch": ("b, samples per worker per iteration", "b"),
}


def register(subparsers, name, help, *, run, table):
    """Add ``pdsgd bench NAME``; return its parser for the benchmark's own options.

    Parameters
    ----------
    name, help : str
    run : callable
        ``run(args)``: measure with the parsed options, return a JSON-ready dict.
    table : callable
        ``table(result)``: the text to print.
    """

    def main(args):
        result = run(args)
        print(table(result))
        if args.json:
            write_json(args.json, result)
        return 0

    p = subparsers.add_parser(name, help=help)
    p.add_argument("--json", default=None, help="also write the result here")
    p.set_defaults(func=main)
    return p


def add_shared_options(parser, **defaults):
    """Add the shared options named in ``defaults`` (see :data:`SHARED`), each at its default.

    A tuple default makes the option a comma-separated list of positive
    integers (``--workers 2,4``), an integer or None a single positive integer,
    and ``dataset`` one of :data:`pdsgd.data.DATASETS`.

    Examples
    --------
    >>> add_shared_options(p, dataset="mnist-5k", repeats=5, micro_batch=(1, 16))
    """
    for name, default in defaults.items():
        help, metavar = SHARED[name]
        flag = "--" + name.replace("_", "-")
        if name == "dataset":
            parser.add_argument(flag, choices=DATASETS, default=default, help=help)
        elif isinstance(default, tuple):
            listed = ",".join(map(str, default))
            parser.add_argument(flag, type=int_list, default=default, metavar=listed,
                                help=f"{help}, comma-separated (default {listed})")
        else:
            shown = "all" if default is None and name == "train_size" else default
            parser.add_argument(flag, type=positive_int, default=default, metavar=metavar,
                                help=help if shown is None else f"{help} (default {shown})")
