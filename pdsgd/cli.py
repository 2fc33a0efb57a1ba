"""Command line: ``pdsgd train``, ``pdsgd data fetch``, ``pdsgd bench ...``, ``pdsgd reproduce``.

Every problem a user can fix ends in one line on stderr and exit code 2, with
nothing written; only bugs keep their traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import warnings

import numpy as np

from pdsgd.arguments import add_options, writable_dir
from pdsgd.bench import add_bench_parsers
from pdsgd.data.datasets import load_dataset
from pdsgd.data.fetch import cli_fetch
from pdsgd.engine.admission import check_network, n_params
from pdsgd.errors import Interrupted, OptionError, PdsgdError, PdsgdWarning
from pdsgd.files import check_room
from pdsgd.spec import EngineSpec
from pdsgd.study.reproduce import add_parser as add_reproduce_parser
from pdsgd.train import TrainPlan, train

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line (no usage dump) and exit 2."""

    def error(self, message):
        raise PdsgdError(f"{self.prog}: {message} (see {self.prog} --help)")


#: ``pdsgd train --help``'s groups: an option's ``group`` names the one it is listed in.
TRAIN_GROUPS = {"seed": "the seed's command line", "training": "training",
                "engine": "parallel engine"}


def train_options():
    """Every option of ``pdsgd train``: the training plan's, then the engine spec's."""
    return (*TrainPlan.options(), *EngineSpec.options())


def add_train_arguments(p):
    """The options of ``pdsgd train`` (the seed's command line, named).

    Each flag is generated from its option's declaration on
    :class:`~pdsgd.train.plan.TrainPlan` or :class:`~pdsgd.spec.EngineSpec`
    (:func:`pdsgd.options.option`): a new option needs no line here. Only the
    flags that say where files go and how the run reports are written below.
    """
    groups = {key: p.add_argument_group(title) for key, title in TRAIN_GROUPS.items()}
    add_options(groups, train_options())
    groups["seed"].add_argument("--data", dest="data_dir", default=None, metavar="DIR",
                                help="folder holding downloaded datasets (default data/)")
    groups["seed"].add_argument("--out", default="results/train", metavar="DIR",
                                help="where model.npz and metrics.json go "
                                     "(default results/train)")
    groups["training"].add_argument("--quiet", action="store_true", help="no progress bar")
    groups["engine"].add_argument("--checkpoint", default=None, metavar="PATH",
                                  help="checkpoint file (default <out>/checkpoint.npz)")
    groups["engine"].add_argument("--resume", default=None, metavar="PATH",
                                  help="continue from a checkpoint (same settings, same "
                                       "final weights)")


def engine_options(args):
    """The parsed flags that are :class:`~pdsgd.spec.EngineSpec` options, by field name.

    The input and output widths are not among them: they reach the spec through
    :func:`pdsgd.train`'s ``input_nodes`` and ``output_nodes``, checked against the data.
    """
    values = vars(args)
    return {o.name: values[o.name] for o in EngineSpec.options() if o.name in values}


def cmd_train(args):
    """``pdsgd train``: train, save the model and metrics, print a summary line."""
    out = writable_dir(args.out)
    options = {o.keyword: getattr(args, o.dest) for o in train_options()
               if o.flag is not None and o.keyword is not None}
    checkpoint = args.checkpoint
    if checkpoint is None and args.checkpoint_every is not None:
        checkpoint = out / "checkpoint.npz"
    data = load_dataset(options.pop("data"), data_dir=args.data_dir,
                        train_size=args.train_size, scaling=args.scaling, dtype=args.dtype,
                        n_classes=args.output_nodes)
    # Before training: the model and its metrics must have room where they go.
    sizes = (data.n_features, *args.hidden, data.n_classes)
    check_network(sizes, args.bias, args.dtype)
    model_bytes = n_params(sizes, args.bias) * np.dtype(args.dtype).itemsize + 2**20
    check_room(out, 2 * model_bytes, "--out")
    result = train(data, progress=not args.quiet, checkpoint=checkpoint, resume=args.resume,
                   **options)
    result.save(out)
    print(f"{result.summary()} -> {out}")
    return 0


def cmd_fetch(args):
    """``pdsgd data fetch NAME``: download and verify a dataset's files."""
    return cli_fetch(args)


def build_parser():
    """The ``pdsgd`` argument parser with all its subcommands."""
    parser = _Parser(prog="pdsgd", description="Parallel and distributed SGD, taught.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("train", help="train the MLP (sequentially or in parallel)")
    add_train_arguments(p)
    p.set_defaults(func=cmd_train)

    data = sub.add_parser("data", help="datasets")
    data_sub = data.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    f = data_sub.add_parser("fetch", help="download a dataset's IDX files into data/")
    f.add_argument("name", choices=("mnist", "fashion-mnist"))
    f.add_argument("--data-dir", default=None)
    f.add_argument("--base-url", default=None, help="a mirror to use instead of the defaults")
    f.add_argument("--quiet", action="store_true")
    f.set_defaults(func=cmd_fetch)

    bench = sub.add_parser("bench", help="benchmarks")
    bench_sub = bench.add_subparsers(dest="bench_command", required=True, parser_class=_Parser)
    add_bench_parsers(bench_sub)
    add_reproduce_parser(sub)
    return parser


#: Signals that stop a run the way Ctrl-C does: a clean stop, one line, exit 128 + signal.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP")
                     if hasattr(signal, name))


def _stop(signum, frame):
    # Once: a second signal must not interrupt the clean-up the first started.
    for s in STOP_SIGNALS:
        signal.signal(s, signal.SIG_IGN)
    raise Interrupted(signum)


@contextlib.contextmanager
def stop_signals():
    """While inside, SIGTERM and SIGHUP raise :class:`~pdsgd.errors.Interrupted` (main thread)."""
    try:
        previous = {s: signal.signal(s, _stop) for s in STOP_SIGNALS}
    except ValueError:  # not the main thread: leave signals alone
        previous = {}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def main(argv=None):
    """Entry point of the ``pdsgd`` console script and ``python -m pdsgd``.

    Returns the exit code: 0, 2 for a problem the user can fix (one line on
    stderr), 130 for Ctrl-C, 143 for SIGTERM and 129 for SIGHUP (each a clean
    stop: workers ended, shared memory released, nothing half written).
    """
    try:
        with stop_signals(), warnings.catch_warnings():
            warnings.showwarning = _one_line_warnings(warnings.showwarning)
            args = build_parser().parse_args(argv)
            return args.func(args)
    except PdsgdError as error:
        message = error.for_cli() if isinstance(error, OptionError) else str(error)
        _say(f"pdsgd: error: {message}")
        return EXIT_USAGE
    except KeyboardInterrupt as stop:
        signum = getattr(stop, "signum", signal.SIGINT)
        name = "" if signum == signal.SIGINT else f" by {signal.Signals(signum).name}"
        _say(f"pdsgd: interrupted{name}")
        return 128 + signum


def _one_line_warnings(show):
    """``warnings.showwarning`` that prints pdsgd's own warnings on one line, like its errors."""

    def show_warning(message, category, *args, **kwargs):
        if issubclass(category, PdsgdWarning):
            _say(f"pdsgd: warning: {message}")
        else:
            show(message, category, *args, **kwargs)

    return show_warning


def _say(line):
    try:
        print(line, file=sys.stderr)
    except OSError:  # a hung-up terminal
        pass


if __name__ == "__main__":
    sys.exit(main())
