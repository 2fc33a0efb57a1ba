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

Adding an engine option (docs/contributing.md): add a field
below with its default and metadata, check it in :meth:`EngineSpec._check`, use
it where it acts, add its CLI flag in :mod:`pdsgd.cli`. ``arithmetic=True``
makes resume compare it; ``engine_only=True`` makes a one-worker run with a
non-default value use the engine instead of the sequential fast path.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, fields, replace

from pdsgd.engine import strategies
from pdsgd.engine.backends import BACKENDS, DEFAULT_BACKEND, get_backend
from pdsgd.engine.modes import AGGREGATIONS, SENDS
from pdsgd.errors import OptionError, PdsgdError, choice, positive
from pdsgd.machine import usable_cores

#: The backend of a one-worker run that asks for nothing only the engine does.
SEQUENTIAL = "sequential"
BACKEND_CHOICES = (SEQUENTIAL, *BACKENDS)
DTYPES = ("float64", "float32")
#: How a waiting process crosses the barrier: spin while it pays, or always spin first.
BARRIERS = ("adaptive", "fixed")
#: Most workers per core on one machine (threads, processes, a local Dask cluster): past
#: that a run is refused, since every extra worker only waits for a core.
MAX_WORKERS_PER_CORE = 16
#: Longest barrier timeout, in seconds (11.6 days: beyond it, waits cannot be timed).
MAX_TIMEOUT = 1e6
#: A Dask scheduler's address: ``[tcp|tls|ws|wss|ucx://]HOST:PORT``.
SCHEDULER_ADDRESS = re.compile(r"((tcp|tls|ws|wss|ucx)://)?(\[[0-9A-Fa-f:.]+\]|[\w.-]+)"
                               r":(?P<port>\d{1,5})")


def _option(default, *, arithmetic=False, engine_only=False):
    return field(default=default, metadata={"arithmetic": arithmetic,
                                            "engine_only": engine_only})


@dataclass(frozen=True)
class EngineSpec:
    """Everything that defines a run's arithmetic and how the engine executes it.

    Parameters
    ----------
    hidden : tuple of int
        Hidden layer widths.
    n_inputs, n_outputs : int, optional
        Input and output layer widths; None until the data are known
        (:meth:`for_data` fills them in and checks what the caller named).
    bias : bool
    dtype : {"float64", "float32"}
    workers : int
        N.
    micro_batch : int
        b, samples per worker per iteration.
    algorithm : {"bsp", "average"}
        Average gradients every iteration (the seed's), or parameters after
        ``local_steps`` local SGD steps (Algorithm 1, :mod:`pdsgd.engine.averaging`).
    local_steps : int
        K (``average`` only; 1 for ``bsp``).
    parallel : str
        Split the samples among the workers (the seed's data parallelism), or
        the network's hidden units (:mod:`pdsgd.engine.tensor`).
    backend : {"sequential", "serial", "threads", "processes", "dask"}, optional
        None: sequential for one worker asking nothing of the engine, else
        :data:`~pdsgd.engine.backends.DEFAULT_BACKEND`.
    aggregate : {"central", "replicated", "sharded"}, optional
        None: the backend's default (:meth:`~pdsgd.engine.backends.base.Backend.default_aggregate`);
        stays None with tensor parallelism, where each worker updates what it owns.
    send : {"factors", "gradients"}
    trace : bool
    timeout : float
        Seconds a worker may wait at a barrier before the run is stopped.
    span : int
        Most iterations the workers run before the broker regains control.
    checkpoint_every : int, optional
        Also hand control back after every multiple of this many iterations.
    straggler : int, optional
        A worker made slow on purpose, by ``straggler_delay`` seconds per iteration.
    straggler_delay : float
    straggler_factor : float
        The straggler also takes this many times as long over each forward and
        backward pass: it stays busy for ``factor - 1`` times what the pass
        took, as a core that much slower would (:func:`pdsgd.engine.worker.hold`).
    sync : {"bsp", "ssp", "async", "hogwild"}
        When a worker's gradient reaches the weights: after the iteration
        barrier (the seed's), as soon as it arrives with at most ``staleness``
        iterations of lag (SSP), as soon as it arrives (async), or written by
        the worker itself, unlocked (Hogwild!). See :mod:`pdsgd.engine.sync`.
    staleness : int, optional
        s, SSP's bound (``sync="ssp"`` only; 0 is BSP).
    scheduler : str, optional
        The ``dask`` backend's scheduler address.
    barrier : {"adaptive", "fixed"}
        ``processes``: spin at the barrier only while spinning pays (default),
        or always spin first (the old behaviour, kept for comparison).
    """

    hidden: tuple = _option((200,), arithmetic=True)
    n_inputs: int | None = _option(None, arithmetic=True)
    n_outputs: int | None = _option(None, arithmetic=True)
    bias: bool = _option(True, arithmetic=True)
    dtype: str = _option("float64", arithmetic=True)
    workers: int = _option(1, arithmetic=True)
    micro_batch: int = _option(1, arithmetic=True)
    algorithm: str = _option("bsp", arithmetic=True, engine_only=True)
    local_steps: int = _option(1, arithmetic=True)
    # Not arithmetic: both strategies are minibatch SGD with batch N*b; they differ in rounding.
    parallel: str = _option("data", engine_only=True)
    backend: str | None = _option(None)
    aggregate: str | None = _option(None, engine_only=True)
    send: str = _option("factors", engine_only=True)
    trace: bool = _option(True)
    timeout: float = _option(30.0)
    span: int = _option(512)
    checkpoint_every: int | None = _option(None)
    straggler: int | None = _option(None, engine_only=True)
    straggler_delay: float = _option(0.0)
    straggler_factor: float = _option(1.0)
    sync: str = _option("bsp", arithmetic=True, engine_only=True)
    staleness: int | None = _option(None, arithmetic=True)
    scheduler: str | None = _option(None, engine_only=True)
    barrier: str = _option("adaptive")

    def __post_init__(self):
        self._check()
        self._resolve()
        self._check_workers()

    # ----------------------------------------------------------- validation
    def _check(self):
        hidden = tuple(self.hidden)
        for width in hidden:
            positive("hidden", width)
        self._set(hidden=tuple(int(h) for h in hidden))
        for name in ("n_inputs", "n_outputs"):
            self._set(**{name: positive(name, getattr(self, name), allow_none=True)})
        choice("dtype", self.dtype, DTYPES)
        self._set(workers=positive("workers", self.workers),
                  micro_batch=positive("micro_batch", self.micro_batch),
                  local_steps=positive("local_steps", self.local_steps),
                  timeout=positive("timeout", self.timeout, integer=False),
                  span=positive("span", self.span),
                  checkpoint_every=positive("checkpoint_every", self.checkpoint_every,
                                            allow_none=True))
        choice("algorithm", self.algorithm, strategies.choices("algorithm"))
        choice("send", self.send, SENDS)
        choice("barrier", self.barrier, BARRIERS)
        if self.backend is not None:
            choice("backend", self.backend, BACKEND_CHOICES)
        if self.aggregate is not None:
            choice("aggregate", self.aggregate, tuple(AGGREGATIONS))
        if self.straggler is not None and not (isinstance(self.straggler, int)
                                               and 0 <= self.straggler < self.workers):
            raise OptionError("straggler", self.straggler,
                              f"is not a worker: they are numbered 0 to {self.workers - 1}")
        if not (isinstance(self.straggler_delay, (int, float))
                and 0 <= self.straggler_delay < math.inf):
            raise OptionError("straggler_delay", self.straggler_delay,
                              "must be a number of seconds >= 0")
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
        if self.scheduler is not None:
            match = SCHEDULER_ADDRESS.fullmatch(str(self.scheduler))
            if match is None or not 0 < int(match["port"]) < 65536:
                raise OptionError("scheduler", self.scheduler,
                                  "is not a Dask scheduler's address: write tcp://HOST:PORT, "
                                  "as `dask scheduler` prints it")
        if self.timeout > MAX_TIMEOUT:
            raise OptionError("timeout", self.timeout, f"must be at most {MAX_TIMEOUT:g} s")
        choice("parallel", self.parallel, strategies.choices("parallel"))
        choice("sync", self.sync, strategies.choices("sync"))
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
        return any(getattr(self, f.name) != f.default for f in fields(self)
                   if f.metadata["engine_only"])

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
        out["hidden"] = list(self.hidden)
        if self.n_inputs is not None and self.n_outputs is not None:
            out["sizes"] = list(self.sizes)
        return out

    @classmethod
    def arithmetic_fields(cls):
        """Names of the fields that change the weights: resume must match them."""
        return tuple(f.name for f in fields(cls) if f.metadata["arithmetic"])
