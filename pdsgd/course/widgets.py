"""Widget panels for the notebooks: move the sliders, press Run, read the plots; Stop any time.

Each panel is an :class:`ipywidgets.VBox` (display it by leaving it as the last
expression of a cell). Its controls are attributes (``panel.workers``,
``panel.run_button``, ``panel.stop_button``, ...), so a test sets their
``value`` and calls ``panel.run_button.click()`` exactly as a student would.

A click starts the run in a thread of its own and returns
(:mod:`pdsgd.course.background` says why): the Stop button and Kernel >
Interrupt end it within a span of iterations, the status line then reads
"stopped after epoch k of E", and the panel is ready for the next run.
``panel.wait()`` waits for a run to end; ``panel.run()`` starts one and
waits (what a cell calls). After a run the panel keeps what it produced:
``panel.result`` (a :class:`~pdsgd.train.TrainResult`, None unless the run
finished), ``panel.stopped_after`` (epochs finished when it was stopped, else
None), ``panel.figures`` (the matplotlib figures shown) and ``panel.error``
(the message shown when the run was refused, else None). A refusal names the
control the way the panel labels it ("samples P = 5000 is more than ...").

Figures are shown as PNG images, so they render the same in JupyterLab, in a
headless notebook run and in a saved notebook.
"""

from __future__ import annotations

import ipywidgets as w
from IPython.display import display
from threadpoolctl import threadpool_limits

from pdsgd import plots
from pdsgd.course import lessons, tables
from pdsgd.course.panel import Panel, figure_image, show_only
from pdsgd.course.sync import SYNC_CHOICES, run_row, runs_table, setting_label
from pdsgd.data.datasets import Dataset, load_dataset
from pdsgd.engine import trace as tr
from pdsgd.engine.backends import BACKENDS
from pdsgd.engine.modes import AGGREGATIONS
from pdsgd.engine.sequential import SequentialRunner
from pdsgd.engine.shuffle import epoch_order
from pdsgd.engine.sync import histogram
from pdsgd.engine.tensor import PARALLELS
from pdsgd.errors import PdsgdError
from pdsgd.spec import EngineSpec
from pdsgd.train import LR_RULES, build_model, prepare_data, train

AUTO = "auto"  # leave the choice to the engine (its default for N, b and the backend)
#: The training panel's drop-downs: (train() keyword, label, choices). Their choices are
#: the engine's own constants, so a backend or mode added there appears here; a new engine
#: option is one more line.
CHOICES = (
    ("parallel", "parallel", PARALLELS),
    ("backend", "backend", (AUTO, *BACKENDS)),
    ("aggregate", "aggregation", (AUTO, *AGGREGATIONS)),
    ("lr_rule", "lr rule", LR_RULES),
)
MICRO_BATCHES = (1, 2, 4, 8, 16, 32, 64)
#: The backends whose workers meet at a barrier of their own (serial takes turns; a dask
#: round's barrier is the gather): where the straggler panel shows the waiting.
BARRIER_BACKENDS = tuple(b for b in BACKENDS if b in ("threads", "processes"))
#: Samples per span of the engine's iterations in a panel run: the broker looks at the Stop
#: request and moves the bar after every span, so at most this many samples pass unseen
#: (a few tenths of a second, even with more workers than cores). For N = 2 at b = 1 that
#: is the engine's default span: shorter spans cost throughput (each span end copies and
#: checks the weights): at 256 samples per span an epoch took 1.16x as long.
SPAN_SAMPLES = 1024
DASK_SPAN = 2  # a dask round costs tens of milliseconds: a couple per span
_WIDE = {"description_width": "initial"}


def panel_span(workers, micro_batch, backend):
    """The ``span`` a panel run asks for: see :data:`SPAN_SAMPLES`."""
    if backend == "dask":
        return DASK_SPAN
    return max(1, SPAN_SAMPLES // (workers * micro_batch))


def _slider(cls, description, **kw):
    return cls(description=description, style=_WIDE, continuous_update=False,
               layout=w.Layout(width="360px"), **kw)


def _dropdown(description, options, value=None):
    return w.Dropdown(description=description, options=options,
                      value=options[0] if value is None else value, style=_WIDE)


def _loaded(data):
    return data if isinstance(data, Dataset) else load_dataset(data)


class TrainingPanel(Panel):
    """Train the seed's MLP with the chosen N, P, layers, lr, epochs, backend, micro-batch
    and split (``parallel``: the samples, or the network's hidden units).

    Shows a progress bar while it trains ("starting N workers" while the
    engine's workers start) and the loss and accuracy after each epoch; after
    an engine run, how many numbers crossed between the workers per iteration
    (:func:`pdsgd.course.lessons.crossing_line`). With ``parallel = tensor``
    the aggregation does not apply (each worker updates the units it owns) and
    its drop-down is disabled.
    Every slider stays within what the data allow: P at most the training
    set's size.

    Parameters
    ----------
    data : str or Dataset, default "mnist-5k"
    **values
        Initial values of the controls, by attribute name (``workers=2``,
        ``train_size=500``, ...); unnamed ones take :func:`pdsgd.course.lessons.defaults`.
    """

    heading = "Parallel SGD: choose, then press Run (Stop ends the run)"

    def __init__(self, data="mnist-5k", **values):
        d = lessons.defaults()
        self.dataset = _loaded(data)
        n_train = len(self.dataset.X_train)
        step = 100 if n_train >= 1000 else 10
        self.workers = _slider(w.IntSlider, "workers N", value=1, min=1, max=8)
        self.train_size = _slider(w.IntSlider, "samples P", value=min(d["train_size"], n_train),
                                  min=step, max=n_train, step=step)
        self.hidden_width = _slider(w.IntSlider, "hidden width", value=d["hidden"][0], min=10,
                                    max=400, step=10)
        self.hidden_layers = _slider(w.IntSlider, "hidden layers", value=len(d["hidden"]),
                                     min=1, max=3)
        self.lr = _slider(w.FloatLogSlider, "learning rate", value=d["lr"], base=10, min=-3,
                          max=0.5, readout_format=".3f")
        self.epochs = _slider(w.IntSlider, "epochs", value=d["epochs"], min=1, max=10)
        for option, label, choices in CHOICES:
            setattr(self, option, _dropdown(label, choices))
        self.micro_batch = _dropdown("micro-batch b", MICRO_BATCHES)
        self.warmup_epochs = _slider(w.IntSlider, "warm-up epochs", value=1, min=0, max=5,
                                     disabled=True)
        self.lr_rule.observe(self._warmup_applies, names="value")
        self.parallel.observe(self._aggregation_applies, names="value")
        for name, value in values.items():
            getattr(self, name).value = value
        super().__init__([self.workers, self.train_size, self.hidden_width, self.hidden_layers,
                          self.lr, self.epochs, self.micro_batch,
                          *(getattr(self, option) for option, _, _ in CHOICES),
                          self.warmup_epochs])

    def _warmup_applies(self, change):
        self.warmup_epochs.disabled = change["new"] != "linear"

    def _aggregation_applies(self, change):
        self.aggregate.disabled = change["new"] != "data"

    @property
    def hidden(self):
        """The hidden layer widths the sliders describe."""
        return (self.hidden_width.value,) * self.hidden_layers.value

    def labels(self):
        controls = {"workers": self.workers, "train_size": self.train_size,
                    "hidden": self.hidden_width, "lr": self.lr, "epochs": self.epochs,
                    "micro_batch": self.micro_batch, "warmup_epochs": self.warmup_epochs,
                    **{option: getattr(self, option) for option, _, _ in CHOICES}}
        return {option: widget.description for option, widget in controls.items()}

    def options(self):
        """The keyword arguments of :func:`pdsgd.train` that the controls describe."""
        chosen = {option: getattr(self, option).value for option, _, _ in CHOICES}
        chosen = {k: (None if v == AUTO else v) for k, v in chosen.items()}
        if self.aggregate.disabled:
            chosen["aggregate"] = None
        linear = chosen["lr_rule"] == "linear"
        return dict(hidden=self.hidden, epochs=self.epochs.value, lr=self.lr.value,
                    workers=self.workers.value, micro_batch=self.micro_batch.value,
                    train_size=self.train_size.value,
                    warmup_epochs=self.warmup_epochs.value if linear else 0,
                    span=panel_span(self.workers.value, self.micro_batch.value,
                                    chosen["backend"]), **chosen)

    def starting(self):
        fields = EngineSpec.__dataclass_fields__
        try:
            spec = EngineSpec(**{k: v for k, v in self.options().items() if k in fields})
        except PdsgdError:
            return "running"  # the run itself will say what is wrong
        if spec.sequential:
            return "training"
        return f"starting {spec.workers} workers ({spec.backend})"

    def epoch_done(self, epoch, history):
        """Redraw the loss and accuracy after each epoch."""
        super().epoch_done(epoch, history)
        fig = plots.plot_history(history, title=f"after epoch {epoch} of {self.epochs.value}")
        self.figures = [fig]
        show_only(self.plot_area, figure_image(fig))

    def _run(self, stop):
        result = train(self.dataset, progress=self.progress(), on_epoch=self.epoch_done,
                       stop=stop, **self.options())
        if result.config["backend"] != "sequential":
            self.messages.append_stdout(lessons.crossing_line(result.config) + "\n")
        return result


class StragglerPanel(Panel):
    """Slow one worker down and watch every other worker wait at the barrier, or not.

    Trains one short epoch with N workers and draws a window of the engine's
    timeline (compute, barrier wait, aggregate per worker), each worker's
    totals, and where an iteration's time went. With a delay above zero the
    chosen worker takes that many extra milliseconds in every iteration,
    through the engine options ``straggler`` (which worker) and
    ``straggler_delay`` (seconds).

    ``sync`` drops the barrier (:mod:`pdsgd.engine.sync`): ``ssp`` lets a worker
    run up to ``staleness s`` iterations ahead of the slowest (the slider is
    active for ``ssp`` only), ``async`` applies every gradient as it arrives,
    ``hogwild`` lets each worker write its own update. Each run also draws the
    staleness histogram of this panel's runs so far, one line per setting, and
    adds a row to a table of them (:func:`pdsgd.course.sync.run_row`), kept in
    ``panel.runs``.
    """

    heading = "The barrier: make one worker a straggler, choose how to synchronize, press Run"
    #: Settings whose staleness histograms are drawn together (the most recent ones).
    KEEP_HISTOGRAMS = 5

    def __init__(self, data="mnist-5k", **values):
        self.dataset = _loaded(data)
        n_train = len(self.dataset.X_train)
        self.workers = _slider(w.IntSlider, "workers N", value=2, min=2, max=4)
        self.straggler = _slider(w.IntSlider, "slow worker", value=1, min=0, max=1)
        self.delay_ms = _slider(w.FloatSlider, "extra ms per iteration", value=2.0, min=0.0,
                                max=10.0, step=0.5)
        self.backend = _dropdown("backend", BARRIER_BACKENDS)
        self.train_size = _slider(w.IntSlider, "samples P",
                                  value=min(lessons.pick(400, 200), n_train),
                                  min=min(50, n_train), max=min(2000, n_train), step=50)
        self.window = _slider(w.IntSlider, "iterations drawn", value=6, min=2, max=30)
        self.sync = _dropdown("sync", SYNC_CHOICES)
        self.staleness = _slider(w.IntSlider, "staleness s", value=4, min=0, max=16,
                                 disabled=True)
        self.runs, self.histograms = [], {}
        self.workers.observe(self._limit_straggler, names="value")
        self.sync.observe(self._staleness_applies, names="value")
        for name, value in values.items():
            getattr(self, name).value = value
        super().__init__([self.workers, self.straggler, self.delay_ms, self.backend,
                          self.train_size, self.window, self.sync, self.staleness])

    def _limit_straggler(self, change):
        self.straggler.max = change["new"] - 1

    def _staleness_applies(self, change):
        self.staleness.disabled = change["new"] != "ssp"

    def labels(self):
        controls = {"workers": self.workers, "straggler": self.straggler,
                    "straggler_delay": self.delay_ms, "backend": self.backend,
                    "train_size": self.train_size, "sync": self.sync,
                    "staleness": self.staleness}
        return {option: widget.description for option, widget in controls.items()}

    def options(self):
        """The keyword arguments of :func:`pdsgd.train` that the controls describe."""
        opts = dict(workers=self.workers.value, backend=self.backend.value, epochs=1,
                    train_size=self.train_size.value, sync=self.sync.value,
                    span=panel_span(self.workers.value, 1, self.backend.value))
        if not self.staleness.disabled:
            opts["staleness"] = self.staleness.value
        if self.delay_ms.value > 0:
            opts.update(straggler=self.straggler.value, straggler_delay=self.delay_ms.value / 1e3)
        return opts

    def starting(self):
        return f"starting {self.workers.value} workers ({self.backend.value}, {self.sync.value})"

    def _run(self, stop):
        result = train(self.dataset, progress=self.progress(), on_epoch=self.epoch_done,
                       stop=stop, **self.options())
        label = setting_label(result.config)
        self.show(plots.plot_run_timeline(result.trace, count=self.window.value,
                                          title=f"{label}: a window of the run's timeline"))
        self.show(plots.plot_phase_totals(tr.summarize(result.trace)))
        # The latest run's histogram last, among the most recent settings' ones.
        self.histograms.pop(label, None)
        self.histograms[label] = histogram(result.staleness)
        while len(self.histograms) > self.KEEP_HISTOGRAMS:
            self.histograms.pop(next(iter(self.histograms)))
        self.show(plots.plot_staleness(self.histograms))
        self.runs.append(run_row(result))
        self.messages.append_stdout("This panel's runs so far (waiting: the share of the "
                                    "workers' time spent waiting, the red of the timeline):\n")
        self.messages.append_display_data(runs_table(self.runs))
        self.messages.append_stdout("Where one iteration's time went, per party (the four "
                                    "phases add up to one iteration):\n")
        self.messages.append_display_data(tables.budget_table(tables.time_budget(result)))
        return result


def live_epoch(data="mnist-5k", *, hidden=(200,), lr=0.1, train_size=None, every=None,
               monitor=200, seed=0, dtype="float64"):
    """One sequential epoch of the seed's SGD, drawing the loss as it falls.

    Every ``every`` samples the training loss is measured on the first
    ``monitor`` training samples and the plot is redrawn (in a notebook; in a
    script the points are only collected). Kernel > Interrupt stops it.

    Returns
    -------
    model : MLP
        The trained network.
    curve : dict of list
        ``samples`` seen and ``loss`` measured at each point.
    """

    prepared = prepare_data(data, train_size=train_size, dtype=dtype)
    X, T = prepared.X, prepared.T
    spec = EngineSpec(hidden=hidden, dtype=dtype).for_data(prepared.n_features,
                                                           prepared.n_classes)
    model = build_model(spec, seed)
    every = every or max(1, len(X) // 10)
    curve = {"samples": [0], "loss": [model.loss(X[:monitor], T[:monitor])]}
    out = w.Output()
    display(out)

    def record(t):
        if (t + 1) % every == 0 or t + 1 == len(X):
            curve["samples"].append(t + 1)
            curve["loss"].append(model.loss(X[:monitor], T[:monitor]))
            show_only(out, figure_image(plots.plot_loss_curve(curve), dpi=72))

    with threadpool_limits(1):  # batch-1 BLAS calls are too small to share between threads
        SequentialRunner(model, X, T).run_epoch(epoch_order(len(X), seed, 0), lr,
                                                on_iteration=record)
    return model, curve
