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

Controls are built by :mod:`pdsgd.course.controls`; the straggler panel lives in
:mod:`pdsgd.course.straggler` and is named here too, as the notebooks use it.
"""

from __future__ import annotations

import ipywidgets as w
from IPython.display import display

from pdsgd import plots
from pdsgd.course import lessons
from pdsgd.course.controls import SPAN_SAMPLES, dropdown, loaded, panel_span, slider
from pdsgd.course.panel import Panel, figure_image, show_only
from pdsgd.course.straggler import BARRIER_BACKENDS, StragglerPanel
from pdsgd.errors import PdsgdError
from pdsgd.spec import AGGREGATIONS, BACKENDS, PARALLELS, EngineSpec
from pdsgd.train import LR_RULES, prepare_data, train
from pdsgd.train.result import starting_workers

__all__ = ["BARRIER_BACKENDS", "SPAN_SAMPLES", "StragglerPanel", "TrainingPanel", "live_epoch"]

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
        self.dataset = loaded(data)
        n_train = len(self.dataset.X_train)
        step = 100 if n_train >= 1000 else 10
        self.workers = slider(w.IntSlider, "workers N", value=1, min=1, max=8)
        self.train_size = slider(w.IntSlider, "samples P", value=min(d["train_size"], n_train),
                                  min=step, max=n_train, step=step)
        self.hidden_width = slider(w.IntSlider, "hidden width", value=d["hidden"][0], min=10,
                                    max=400, step=10)
        self.hidden_layers = slider(w.IntSlider, "hidden layers", value=len(d["hidden"]),
                                     min=1, max=3)
        self.lr = slider(w.FloatLogSlider, "learning rate", value=d["lr"], base=10, min=-3,
                          max=0.5, readout_format=".3f")
        self.epochs = slider(w.IntSlider, "epochs", value=d["epochs"], min=1, max=10)
        for option, label, choices in CHOICES:
            setattr(self, option, dropdown(label, choices))
        self.micro_batch = dropdown("micro-batch b", MICRO_BATCHES)
        self.warmup_epochs = slider(w.IntSlider, "warm-up epochs", value=1, min=0, max=5,
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
        names = {o.name for o in EngineSpec.options()}
        try:
            spec = EngineSpec(**{k: v for k, v in self.options().items() if k in names})
        except PdsgdError:
            return "running"  # the run itself will say what is wrong
        if spec.sequential:
            return "training"
        return f"{starting_workers(spec.workers)} ({spec.backend})"

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


def live_epoch(data="mnist-5k", *, hidden=(200,), lr=0.1, train_size=None, every=None,
               monitor=200, seed=0, dtype="float64"):
    """One sequential epoch of the seed's SGD (:func:`pdsgd.train`), drawing the loss as it falls.

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
    data = loaded(data)
    n = min(train_size or len(data.X_train), len(data.X_train))
    every = every or max(1, n // 10)
    watched = prepare_data(data, train_size=min(monitor, n), dtype=dtype)
    curve = {"samples": [], "loss": []}
    out = w.Output()
    display(out)

    def record(model, samples):  # called before the first step, then after every step
        if samples % every == 0 or samples == n:
            curve["samples"].append(samples)
            curve["loss"].append(model.loss(watched.X, watched.T))
            show_only(out, figure_image(plots.plot_loss_curve(curve), dpi=72))

    result = train(data, hidden=hidden, epochs=1, lr=lr, train_size=train_size, seed=seed,
                   dtype=dtype, on_step=record)
    return result.model, curve
