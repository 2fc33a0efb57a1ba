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

from pdsgd.arguments import (
    layer_sizes,
    non_negative_int,
    positive_float,
    positive_int,
    writable_dir,
)
from pdsgd.bench import add_bench_parsers
from pdsgd.data.datasets import DATASETS, SCALINGS, load_dataset
from pdsgd.data.fetch import cli_fetch
from pdsgd.engine.admission import check_network, n_params
from pdsgd.engine.modes import AGGREGATIONS, SENDS
from pdsgd.engine.strategies import ALGORITHMS, PARALLELS, SYNCS
from pdsgd.errors import Interrupted, OptionError, PdsgdError, PdsgdWarning
from pdsgd.files import check_room
from pdsgd.spec import BACKEND_CHOICES, DTYPES, EngineSpec
from pdsgd.study.reproduce import add_parser as add_reproduce_parser
from pdsgd.train import LR_RULES, train

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line (no usage dump) and exit 2."""

    def error(self, message):
        raise PdsgdError(f"{self.prog}: {message} (see {self.prog} --help)")


def add_train_arguments(p):
    """The options of ``pdsgd train`` (the seed's command line, named).

    A flag whose ``dest`` is a field of :class:`~pdsgd.spec.EngineSpec` reaches
    the spec by that name (:func:`engine_options`): a new engine option needs
    only its flag here.
    """
    seed = p.add_argument_group("the seed's command line")
    seed.add_argument("--input-nodes", type=positive_int, default=784,
                      help="input layer width; must match the data (default 784)")
    seed.add_argument("--hidden", type=layer_sizes, default=(200,), metavar="200[,100...]",
                      help="hidden layer widths (default 200)")
    seed.add_argument("--output-nodes", type=positive_int, default=10,
                      help="output layer width = number of classes (default 10)")
    seed.add_argument("--workers", type=positive_int, default=1, metavar="N",
                      help="number of workers (default 1)")
    seed.add_argument("--train-size", type=positive_int, default=None, metavar="P",
                      help="train on the first P samples (default: all)")
    seed.add_argument("--data", default=None, metavar="DIR",
                      help="folder holding downloaded datasets (default data/)")
    seed.add_argument("--out", default="results/train", metavar="DIR",
                      help="where model.npz and metrics.json go (default results/train)")
    more = p.add_argument_group("training")
    more.add_argument("--dataset", choices=DATASETS, default="mnist-5k")
    more.add_argument("--epochs", type=positive_int, default=5)
    more.add_argument("--lr", type=positive_float, default=0.1)
    more.add_argument("--lr-rule", choices=LR_RULES, default="fixed",
                      help="fixed: the seed's; linear: scale lr by N*b (Goyal et al. 2017)")
    more.add_argument("--warmup-epochs", type=int, default=0, metavar="W",
                      help="with --lr-rule linear: raise lr to the scaled rate over the first "
                           "W epochs (Goyal et al.'s gradual warm-up; default 0)")
    more.add_argument("--seed", type=non_negative_int, default=0)
    more.add_argument("--dtype", choices=DTYPES, default="float64")
    more.add_argument("--no-bias", dest="bias", action="store_false",
                      help="no biases (Rashid's reference network)")
    more.add_argument("--scaling", choices=SCALINGS, default="rashid",
                      help="input scaling: x/255*0.99+0.01 (default) or z-score")
    more.add_argument("--micro-batch", type=positive_int, default=1, metavar="b",
                      help="samples per worker per iteration (default 1: the seed)")
    more.add_argument("--backend", choices=BACKEND_CHOICES, default=None,
                      help="how the workers run (default: sequential for N=1, processes "
                           "above)")
    more.add_argument("--quiet", action="store_true", help="no progress bar")
    engine = p.add_argument_group("parallel engine")
    engine.add_argument("--parallel", choices=PARALLELS, default="data",
                        help="data: each worker takes its share of the samples (the seed's); "
                             "tensor: each worker takes every sample and owns a share of the "
                             "hidden units")
    engine.add_argument("--aggregate", choices=tuple(AGGREGATIONS),
                        default=None,
                        help="central: the broker updates shared weights (the seed's); "
                             "replicated: every worker applies the update to its own copy; "
                             "sharded: every worker updates its share of the shared weights' "
                             "rows (default: the faster for the backend)")
    engine.add_argument("--send", choices=SENDS, default="factors",
                        help="what workers send: sufficient factors (default) or full "
                             "gradient matrices")
    engine.add_argument("--checkpoint-every", type=positive_int, default=None, metavar="K",
                        help="save a checkpoint every K iterations of an epoch (and at "
                             "each epoch's end)")
    engine.add_argument("--checkpoint", default=None, metavar="PATH",
                        help="checkpoint file (default <out>/checkpoint.npz)")
    engine.add_argument("--resume", default=None, metavar="PATH",
                        help="continue from a checkpoint (same settings, same final weights)")
    engine.add_argument("--timeout", type=positive_float, default=30.0, metavar="S",
                        help="seconds a worker may wait at the barrier before the run is "
                             "stopped, and for a Dask cluster to be ready (default 30)")
    engine.add_argument("--no-trace", dest="trace", action="store_false",
                        help="do not record the engine's timeline")
    engine.add_argument("--algorithm", choices=tuple(ALGORITHMS), default="bsp",
                        help="bsp: average gradients every iteration (the seed's); average: "
                             "each worker takes --local-steps SGD steps, then parameters "
                             "are averaged (Algorithm 1)")
    engine.add_argument("--local-steps", type=positive_int, default=1, metavar="K",
                        help="local SGD steps per round with --algorithm average (default 1)")
    engine.add_argument("--sync", choices=tuple(SYNCS), default="bsp",
                        help="bsp: every iteration ends at the barrier (the seed's); ssp: a "
                             "worker may run --staleness iterations ahead of the slowest; "
                             "async: each gradient is applied as it arrives; hogwild: workers "
                             "write the shared weights themselves, unlocked")
    engine.add_argument("--staleness", type=int, default=None, metavar="S",
                        help="SSP's bound, in iterations (0 is BSP)")
    engine.add_argument("--scheduler", default=None, metavar="tcp://HOST:8786",
                        help="the Dask scheduler for --backend dask (default: start a "
                             "LocalCluster on this machine)")


def engine_options(args):
    """The parsed flags that are :class:`~pdsgd.spec.EngineSpec` options, by field name."""
    values = vars(args)
    return {name: values[name] for name in EngineSpec.__dataclass_fields__ if name in values}


def cmd_train(args):
    """``pdsgd train``: train, save the model and metrics, print a summary line."""
    out = writable_dir(args.out)
    checkpoint = args.checkpoint
    if checkpoint is None and args.checkpoint_every is not None:
        checkpoint = out / "checkpoint.npz"
    data = load_dataset(args.dataset, data_dir=args.data, train_size=args.train_size,
                        scaling=args.scaling, dtype=args.dtype, n_classes=args.output_nodes)
    # Before training: the model and its metrics must have room where they go.
    sizes = (data.n_features, *args.hidden, data.n_classes)
    check_network(sizes, args.bias, args.dtype)
    model_bytes = n_params(sizes, args.bias) * np.dtype(args.dtype).itemsize + 2**20
    check_room(out, 2 * model_bytes, "--out")
    result = train(data, epochs=args.epochs, lr=args.lr, seed=args.seed,
                   lr_rule=args.lr_rule, warmup_epochs=args.warmup_epochs,
                   input_nodes=args.input_nodes,
                   output_nodes=args.output_nodes, progress=not args.quiet,
                   checkpoint=checkpoint, resume=args.resume, **engine_options(args))
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
