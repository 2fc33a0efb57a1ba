"""One place for every engine option: :class:`EngineSpec`.

A training run's engine is defined by one frozen, picklable value: the
network's sizes, the number of workers and their micro-batch, the backend that
runs them, the algorithm, who applies the update, what crosses between workers,
and the limits (timeout, straggler). :func:`pdsgd.train` builds it from its
keyword arguments (the CLI from its flags), and from then on the spec is what
travels: to the Broker, to every backend, into each worker process or Dask
task, into ``TrainResult.config`` and into checkpoints, where resuming compares
the fields that change the weights.

The spec validates every value and resolves every default **once**, here
(``__post_init__``). A bad value raises :class:`~pdsgd.errors.OptionError`, which names the
option the way the caller wrote it: ``aggregate='mean'`` from Python,
``--aggregate mean`` from the command line.

Adding an engine option (docs/contributing.md): add a field below, declared with
:func:`~pdsgd.options.option` (its default, help, choices or check, flag), and
use it where it acts. Its check, ``pdsgd train``'s flag, :func:`pdsgd.train`'s
keyword and the row in ``docs/options.md`` all come from that declaration (a
rule between two options goes in :meth:`EngineSpec._check`). ``arithmetic=True``
makes resume compare it; ``engine_only=True`` makes a one-worker run with a
non-default value use the engine instead of the sequential fast path.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, replace

from pdsgd.arguments import layer_sizes, positive_float, positive_int
from pdsgd.engine import strategies
from pdsgd.engine.backends import BACKENDS, DEFAULT_BACKEND, get_backend
from pdsgd.engine.modes import AGGREGATIONS, SENDS
from pdsgd.engine.strategies import ALGORITHMS, PARALLELS, SYNCS
from pdsgd.engine.strategies import TENSOR as TENSOR  # for the course, which reads the spec
from pdsgd.errors import OptionError, PdsgdError, layer_widths, positive
from pdsgd.machine import usable_cores
from pdsgd.mlp import DTYPES
from pdsgd.options import check_options, options_of
from pdsgd.options import option as _option

#: The backend of a one-worker run that asks for nothing only the engine does.
SEQUENTIAL = "sequential"
BACKEND_CHOICES = (SEQUENTIAL, *BACKENDS)
#: How a waiting process crosses the barrier: spin while it pays, or always spin first.
BARRIERS = ("adaptive", "fixed")
#: How the processes backend places workers: one process per usable core, each running its
#: share of the workers in turns (as Go's threads run goroutines), or one process per worker.
HOSTINGS = ("cores", "workers")
#: Most workers per core on one machine (threads, processes, a local Dask cluster): past
#: that a run is refused, since every extra worker only waits for a core.
MAX_WORKERS_PER_CORE = 16
#: Longest barrier timeout, in seconds (11.6 days: beyond it, waits cannot be timed).
MAX_TIMEOUT = 1e6
#: A Dask scheduler's address: ``[tcp|tls|ws|wss|ucx://]HOST:PORT``.
SCHEDULER_ADDRESS = re.compile(r"((tcp|tls|ws|wss|ucx)://)?(\[[0-9A-Fa-f:.]+\]|[\w.-]+)"
                               r":(?P<port>\d{1,5})")


def timeout_seconds(option, value):
    """A number of seconds greater than zero, at most :data:`MAX_TIMEOUT`."""
    value = positive(option, value, integer=False)
    if value > MAX_TIMEOUT:
        raise OptionError(option, value, f"must be at most {MAX_TIMEOUT:g} s")
    return value


def delay_seconds(option, value):
    """A number of seconds, 0 or more."""
    if not (isinstance(value, (int, float)) and 0 <= value < math.inf):
        raise OptionError(option, value, "must be a number of seconds >= 0")
    return value


@dataclass(frozen=True)
class EngineSpec:
    """Everything that defines a run's arithmetic and how the engine executes it.

    Every field is an option, described where it is declared below (its help
    is ``pdsgd train --help``'s and ``docs/options.md``'s). What the help does
    not say: ``n_inputs`` and ``n_outputs`` stay None until the data are known
    (:meth:`for_data` fills them in and checks what the caller named);
    ``local_steps`` is 1 unless ``algorithm="average"``
    (:mod:`pdsgd.engine.averaging`); ``aggregate`` resolves to the backend's
    default (:meth:`~pdsgd.engine.backends.base.Backend.default_aggregate`) and
    stays None with tensor parallelism (:mod:`pdsgd.engine.tensor`), where each
    worker updates what it owns; the straggler stays busy for ``factor - 1``
    times what each pass took, as a core that much slower would
    (:func:`pdsgd.engine.worker.hold`); ``sync`` is explained in
    :mod:`pdsgd.engine.sync`.
    """

    hidden: tuple = _option(
        (200,), "hidden layer widths", check=layer_widths, parse=layer_sizes,
        metavar="200[,100...]", group="seed", arithmetic=True)
    n_inputs: int | None = _option(
        None, "input layer width, checked against the data (default: the data's)", check=positive,
        parse=positive_int, flag="--input-nodes", keyword="input_nodes", cli_default=784,
        group="seed", arithmetic=True)
    n_outputs: int | None = _option(
        None, "output layer width = number of classes, checked against the data "
        "(default: the data's)", check=positive,
        parse=positive_int, flag="--output-nodes", keyword="output_nodes", cli_default=10,
        group="seed", arithmetic=True)
    bias: bool = _option(True, "biases in every layer (off: Rashid's reference network)",
                        group="training", arithmetic=True)
    dtype: str = _option("float64", "the weights' and samples' floating-point type",
                        choices=DTYPES, group="training", arithmetic=True)
    workers: int = _option(1, "N, the number of workers", check=positive, parse=positive_int,
                          metavar="N", group="seed", arithmetic=True)
    micro_batch: int = _option(
        1, "b, samples per worker per iteration (1: the seed)", check=positive,
        parse=positive_int, metavar="b", group="training", arithmetic=True)
    algorithm: str = _option(
        "bsp", "bsp: average gradients every iteration (the seed's); average: each worker "
        "takes local_steps SGD steps, then parameters are averaged (Algorithm 1)",
        choices=ALGORITHMS, arithmetic=True, engine_only=True)
    local_steps: int = _option(1, "K, local SGD steps per round with algorithm average",
                              check=positive, parse=positive_int, metavar="K", arithmetic=True)
    # Not arithmetic: both strategies are minibatch SGD with batch N*b; they differ in rounding.
    parallel: str = _option(
        "data", "data: each worker takes its share of the samples (the seed's); tensor: each "
        "worker takes every sample and owns a share of the hidden units",
        choices=PARALLELS, arithmetic=True, engine_only=True)
    backend: str | None = _option(
        None, "how the workers run (default: sequential for one worker asking nothing "
        "of the engine, processes otherwise)", choices=BACKEND_CHOICES, group="training")
    aggregate: str | None = _option(
        None, "central: the broker updates shared weights (the seed's); replicated: every "
        "worker applies the update to its own copy; sharded: every worker updates its share "
        "of the shared weights' rows (default: the faster for the backend)",
        choices=AGGREGATIONS, engine_only=True)
    send: str = _option("factors", "what workers send: sufficient factors or full gradient "
                       "matrices", choices=SENDS, engine_only=True)
    trace: bool = _option(True, "record the engine's timeline (the trace)")
    timeout: float = _option(
        30.0, "seconds a worker may wait at the barrier before the run is stopped, and for "
        "a Dask cluster to be ready", check=timeout_seconds,
        parse=positive_float, metavar="S")
    span: int = _option(512, "most iterations the workers run before the broker regains "
                       "control", check=positive, parse=positive_int, flag=None)
    checkpoint_every: int | None = _option(
        None, "also save a checkpoint every K iterations of an epoch (needs a checkpoint "
        "file)", check=positive, parse=positive_int, metavar="K")
    straggler: int | None = _option(
        None, "a worker made slow on purpose (its index)", flag=None, engine_only=True)
    straggler_delay: float = _option(0.0, "seconds the straggler sleeps per iteration",
                                     check=delay_seconds, flag=None)
    straggler_factor: float = _option(
        1.0, "the straggler computes this many times as long", flag=None)
    sync: str = _option(
        "bsp", "bsp: every iteration ends at the barrier (the seed's); ssp: a worker may run "
        "staleness iterations ahead of the slowest; async: each gradient is applied as it "
        "arrives; hogwild: workers write the shared weights themselves, unlocked",
        choices=SYNCS, arithmetic=True, engine_only=True)
    staleness: int | None = _option(None, "s, SSP's bound in iterations (0 is BSP)",
                                   parse=int, metavar="S", arithmetic=True)
    scheduler: str | None = _option(
        None, "the Dask scheduler for backend dask (default: start a LocalCluster on "
        "this machine)", metavar="tcp://HOST:8786", engine_only=True)
    bundle: str | None = _option(
        None, "the class's join bundle, for a tls:// scheduler started by `pdsgd cluster "
        "serve`", metavar="FILE", engine_only=True)
    hosting: str = _option(
        "cores", "processes: cores starts one process per usable core, each running its share "
        "of the workers in turns between crossings (not ssp, async, hogwild: one per worker); "
        "workers starts one process per worker (past the cores they take turns at every "
        "crossing: the lesson on oversubscription)",
        choices=HOSTINGS)
    barrier: str = _option("adaptive", "processes: spin at the barrier only while spinning "
                          "pays, or always spin first (fixed)", choices=BARRIERS, flag=None)

    def __post_init__(self):
        self._check()
        self._resolve()
        self._check_workers()

    # ----------------------------------------------------------- validation
    def _check(self):
        check_options(self)  # each value alone, as its field declares it
        if self.straggler is not None and not (isinstance(self.straggler, int)
                                               and 0 <= self.straggler < self.workers):
            raise OptionError("straggler", self.straggler,
                              f"is not a worker: they are numbered 0 to {self.workers - 1}")
        rules = strategies.get(self.algorithm)
        for option, allowed in (("aggregate", "aggregates"), ("send", "sends")):
            value = getattr(self, option)
            if value is not None and value not in getattr(rules, allowed):
                which = [name for name in strategies.choices("algorithm")
                         if value in getattr(strategies.get(name), allowed)]
                raise OptionError(option, value,
                                  f"applies to {{algorithm}}{' or '.join(which)} only")
        if self.scheduler is not None and self.backend != "dask":
            raise OptionError("scheduler", self.scheduler,
                              f"needs {{backend}}dask (not {self.backend})")
        if self.bundle is not None and self.scheduler is None:
            raise OptionError("bundle", self.bundle, "goes with {scheduler}tls://HOST:PORT")
        if self.scheduler is not None:
            match = SCHEDULER_ADDRESS.fullmatch(str(self.scheduler))
            if match is None or not 0 < int(match["port"]) < 65536:
                raise OptionError("scheduler", self.scheduler,
                                  "is not a Dask scheduler's address: write tcp://HOST:PORT, "
                                  "as `dask scheduler` prints it")
        self._check_sync()
        self.strategy.check(self)

    def _check_sync(self):
        factor = self.straggler_factor
        if not (isinstance(factor, (int, float)) and not isinstance(factor, bool)
                and 1 <= factor < math.inf):
            raise OptionError("straggler_factor", factor, "must be a number >= 1")
        if factor != 1 and self.straggler is None:
            raise OptionError("straggler_factor", factor, "needs {straggler}I: which worker")
        s = self.staleness
        if s is not None and not strategies.get(self.sync).bounded:
            raise OptionError("staleness", s, "applies to {sync}ssp only")
        if s is None and strategies.get(self.sync).bounded:
            raise OptionError("sync", self.sync, "needs a bound: give {staleness}S (0 is BSP)")
        if s is not None and not (isinstance(s, int) and not isinstance(s, bool) and s >= 0):
            raise OptionError("staleness", s, "must be an integer >= 0")

    def _check_workers(self):
        """Refuse more workers than this machine can run (no cap on a remote Dask cluster)."""
        if self.backend in (SEQUENTIAL, "serial") or self.scheduler is not None:
            return
        cores = usable_cores()
        limit = MAX_WORKERS_PER_CORE * cores
        if self.workers > limit:
            raise OptionError("workers", self.workers,
                              f"is more than this machine can run with {{backend}}{self.backend}"
                              f": at most {MAX_WORKERS_PER_CORE} per core, {limit} on its "
                              f"{cores} cores")

    def _resolve(self):
        if not self.strategy.averages_parameters:
            self._set(local_steps=1)
        if self.backend is None:
            self._set(backend=SEQUENTIAL if self.workers == 1 and not self._asks_engine()
                      else DEFAULT_BACKEND)
        if self.backend == SEQUENTIAL:
            if self.workers != 1 or self._asks_engine():
                raise OptionError("backend", self.backend,
                                  "runs one worker and none of the engine's options; "
                                  "name another {backend}")
            return
        self._set(aggregate=self.strategy.resolve_aggregate(self, get_backend(self.backend)))

    def _asks_engine(self):
        return any(getattr(self, o.name) != o.default for o in self.options()
                   if o.engine_only)

    def _set(self, **values):
        for name, value in values.items():
            object.__setattr__(self, name, value)

    # ------------------------------------------------------------- derived
    @property
    def sizes(self):
        """Layer widths, input first: ``(n_inputs, *hidden, n_outputs)``."""
        if self.n_inputs is None or self.n_outputs is None:
            raise PdsgdError("the spec's input and output widths come from the data: "
                             "use spec.for_data(dataset) first")
        return (self.n_inputs, *self.hidden, self.n_outputs)

    @property
    def sequential(self):
        """True when the run takes the sequential fast path, not the engine."""
        return self.backend == SEQUENTIAL

    @property
    def strategy(self):
        """How the workers train together: a :class:`~pdsgd.engine.strategies.base.Strategy`,
        picked by ``parallel``, ``sync`` and ``algorithm`` (:func:`pdsgd.engine.strategies.of`)."""
        return strategies.of(self)

    @property
    def aggregation(self):
        """Who applies the update: an :class:`~pdsgd.engine.modes.Aggregation`."""
        return self.strategy.aggregation(self)

    @property
    def iteration_rows(self):
        """Rows of an iteration's result slots: N*b, every worker's :meth:`block` in order."""
        return self.workers * self.micro_batch

    def block(self, index, n_rows=None):
        """Worker ``index``'s rows ``(lo, hi)`` of an iteration: ``[i*b, (i+1)*b)``, cut at n_rows.

        The one place a worker's share of an iteration's samples (and of the
        result slots) is computed. In an epoch's last iteration ``n_rows`` may
        leave a worker fewer samples than b, or none (``lo == hi``).

        Examples
        --------
        >>> spec = EngineSpec(workers=3, micro_batch=4)
        >>> spec.block(1), spec.block(2, n_rows=10), spec.block(2, n_rows=6)
        ((4, 8), (8, 10), (8, 8))
        """
        lo = index * self.micro_batch
        hi = lo + self.micro_batch
        return lo, (hi if n_rows is None else max(lo, min(hi, n_rows)))

    @property
    def round_batch(self):
        """Samples one worker takes per iteration (per round: K*b with averaging)."""
        return self.micro_batch * self.local_steps

    @property
    def round_size(self):
        """Samples per iteration (per round with averaging): N times :attr:`round_batch`."""
        return self.workers * self.round_batch

    def delay(self, index):
        """Seconds worker ``index`` sleeps per iteration (the straggler's delay, else 0)."""
        return self.straggler_delay if index == self.straggler else 0.0

    def slowdown(self, index):
        """How many times as long worker ``index`` computes (the straggler's factor, else 1)."""
        return self.straggler_factor if index == self.straggler else 1.0

    # ------------------------------------------------------------ building
    @classmethod
    def for_model(cls, model, **options):
        """The spec of a run on ``model`` (its sizes, bias and dtype) with ``options``."""
        sizes = model.sizes
        return cls(hidden=sizes[1:-1], n_inputs=sizes[0], n_outputs=sizes[-1],
                   bias=model.bias, dtype=model.dtype.name, **options)

    def for_data(self, n_features, n_classes, dataset="the data"):
        """This spec with the data's input and output widths, checking any the caller named."""
        for option, named, actual, what in (("input_nodes", self.n_inputs, n_features,
                                             "whose samples have {} values"),
                                            ("output_nodes", self.n_outputs, n_classes,
                                             "which has {} classes")):
            if named is not None and named != actual:
                raise OptionError(option, named, f"does not match {dataset}, "
                                  f"{what.format(actual)}; use {{{option}}}{actual}")
        return replace(self, n_inputs=n_features, n_outputs=n_classes)

    def record(self):
        """The spec as a JSON-ready dict (``TrainResult.config``, checkpoints)."""
        out = asdict(self)
        # Where a credential lies, not how the run went: saved runs never held it.
        del out["bundle"]
        out["hidden"] = list(self.hidden)
        if self.n_inputs is not None and self.n_outputs is not None:
            out["sizes"] = list(self.sizes)
        return out

    @classmethod
    def options(cls):
        """Every option of the spec as its field declares it: :class:`~pdsgd.options.Option`."""
        return options_of(cls)

    @classmethod
    def arithmetic_fields(cls):
        """Names of the fields that change the weights: resume must match them."""
        return tuple(o.name for o in cls.options() if o.arithmetic)
