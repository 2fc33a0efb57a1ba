"""Widget panels for the notebooks: move the sliders, press Run, read the plots.

Each panel is an :class:`ipywidgets.VBox` (display it by leaving it as the last
expression of a cell). Its controls are attributes (``panel.workers``,
``panel.run_button``, ...), so a test sets their ``value`` and calls
``panel.run_button.click()`` exactly as a student would. After a run the panel
keeps what it produced: ``panel.result`` (a :class:`~pdsgd.train.TrainResult`),
``panel.figures`` (the matplotlib figures shown) and ``panel.error`` (the
message shown when the run was refused, else None).

Figures are shown as PNG images, so they render the same in JupyterLab, in a
headless notebook run and in a saved notebook.
"""

from __future__ import annotations

import io

import ipywidgets as w
from IPython.display import Image, clear_output, display
from threadpoolctl import threadpool_limits

from pdsgd import plots
from pdsgd.course import lessons
from pdsgd.engine import trace as tr
from pdsgd.engine.backends import BACKENDS as ENGINE_BACKENDS
from pdsgd.engine.sequential import SequentialRunner
from pdsgd.engine.shuffle import epoch_order
from pdsgd.errors import PdsgdError
from pdsgd.spec import EngineSpec
from pdsgd.train import LR_RULES, build_model, prepare_data, train

BACKENDS = ("auto", *ENGINE_BACKENDS)  # auto: sequential for N = 1, the engine's default above
MICRO_BATCHES = (1, 2, 4, 8, 16, 32, 64)
_WIDE = {"description_width": "initial"}


def figure_image(fig, dpi=90):
    """A figure as an IPython PNG image (what the panels display)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return Image(data=buf.getvalue(), format="png")


def _slider(cls, description, **kw):
    return cls(description=description, style=_WIDE, continuous_update=False,
               layout=w.Layout(width="360px"), **kw)


class _Panel(w.VBox):
    """Shared plumbing: a Run button, a status line, a log and a plot area."""

    heading = ""

    def __init__(self, controls):
        self.run_button = w.Button(description="Run", button_style="primary", icon="play")
        self.status = w.HTML()
        self.messages = w.Output()
        self.plot_area = w.Output()
        self.result = None
        self.figures = []
        self.error = None
        self.run_button.on_click(lambda _button: self.run())
        header = [w.HTML(f"<b>{self.heading}</b>")] if self.heading else []
        columns = w.HBox([w.VBox(controls[::2]), w.VBox(controls[1::2])])
        super().__init__(header + [columns, w.HBox([self.run_button, self.status]),
                                   self.messages, self.plot_area])

    def show(self, fig):
        """Display ``fig`` in the plot area, below what is there, and keep it."""
        self.figures.append(fig)
        with self.plot_area:
            display(figure_image(fig))

    def run(self):
        """Run with the current values of the controls (what the Run button calls).

        A refusal (:class:`~pdsgd.errors.PdsgdError`: something the student can
        change) shows as one red line. Any other error shows its traceback in
        the panel; in a kernel the Output widget then swallows it, elsewhere
        (tests, scripts) it propagates.
        """
        self.run_button.disabled = True
        self.result, self.error, self.figures = None, None, []
        self.status.value = "running..."
        self.messages.clear_output()
        self.plot_area.clear_output()
        try:
            with self.messages:
                try:
                    self.result = self._run()
                except PdsgdError as error:
                    self.error = str(error)
        finally:
            self.run_button.disabled = False
            if self.result is not None:
                self.status.value = f"<code>{self.result.summary()}</code>"
            elif self.error is not None:
                self.status.value = f"<span style='color:#b00'>refused: {self.error}</span>"
            else:
                self.status.value = "<span style='color:#b00'>failed: see the error below</span>"
        return self.result

    def _run(self):
        raise NotImplementedError


class TrainingPanel(_Panel):
    """Train the seed's MLP with the chosen N, P, layers, lr, epochs, backend, micro-batch.

    Shows a progress bar while it trains and the loss and accuracy per epoch
    when each epoch ends.

    Parameters
    ----------
    data : str or Dataset, default "mnist-5k"
    max_samples : int, default 5000
        The largest P the slider offers.
    **values
        Initial values of the controls, by attribute name (``workers=2``,
        ``train_size=500``, ...); unnamed ones take :func:`pdsgd.course.lessons.defaults`.
    """

    heading = "Parallel SGD: choose, then press Run"

    def __init__(self, data="mnist-5k", max_samples=5000, **values):
        d = lessons.defaults()
        self.data = data
        self.workers = _slider(w.IntSlider, "workers N", value=1, min=1, max=8)
        self.train_size = _slider(w.IntSlider, "samples P", value=d["train_size"], min=100,
                                  max=max_samples, step=100)
        self.hidden_width = _slider(w.IntSlider, "hidden width", value=d["hidden"][0], min=10,
                                    max=400, step=10)
        self.hidden_layers = _slider(w.IntSlider, "hidden layers", value=len(d["hidden"]),
                                     min=1, max=3)
        self.lr = _slider(w.FloatLogSlider, "learning rate", value=d["lr"], base=10, min=-3,
                          max=0.5, readout_format=".3f")
        self.epochs = _slider(w.IntSlider, "epochs", value=d["epochs"], min=1, max=10)
        self.backend = w.Dropdown(description="backend", options=BACKENDS, value="auto",
                                  style=_WIDE)
        self.micro_batch = w.Dropdown(description="micro-batch b", options=MICRO_BATCHES,
                                      value=1, style=_WIDE)
        self.lr_rule = w.Dropdown(description="lr rule", options=LR_RULES,
                                  value="fixed", style=_WIDE)
        for name, value in values.items():
            getattr(self, name).value = value
        super().__init__([self.workers, self.train_size, self.hidden_width, self.hidden_layers,
                          self.lr, self.epochs, self.backend, self.micro_batch, self.lr_rule])

    @property
    def hidden(self):
        """The hidden layer widths the sliders describe."""
        return (self.hidden_width.value,) * self.hidden_layers.value

    def options(self):
        """The keyword arguments of :func:`pdsgd.train` that the controls describe."""
        backend = None if self.backend.value == "auto" else self.backend.value
        return dict(hidden=self.hidden, epochs=self.epochs.value, lr=self.lr.value,
                    workers=self.workers.value, micro_batch=self.micro_batch.value,
                    backend=backend, train_size=self.train_size.value,
                    lr_rule=self.lr_rule.value)

    def _on_epoch(self, epoch, history):
        fig = plots.plot_history(history, title=f"after epoch {epoch} of {self.epochs.value}")
        self.figures = [fig]
        with self.plot_area:
            clear_output(wait=True)
            display(figure_image(fig))

    def _run(self):
        return train(self.data, progress=True, on_epoch=self._on_epoch, **self.options())


class StragglerPanel(_Panel):
    """Slow one worker down and watch every other worker wait at the barrier.

    Trains one short epoch with N workers and draws a window of the engine's
    timeline (compute, barrier wait, aggregate per worker) and each worker's
    totals. With a delay above zero the chosen worker takes that many extra
    milliseconds in every iteration, through the engine options
    ``straggler`` (which worker) and ``straggler_delay`` (seconds).
    """

    heading = "The barrier: make one worker a straggler, then press Run"

    def __init__(self, data="mnist-5k", **values):
        self.data = data
        self.workers = _slider(w.IntSlider, "workers N", value=2, min=2, max=4)
        self.straggler = _slider(w.IntSlider, "slow worker", value=1, min=0, max=1)
        self.delay_ms = _slider(w.FloatSlider, "extra ms per iteration", value=2.0, min=0.0,
                                max=10.0, step=0.5)
        self.backend = w.Dropdown(description="backend", options=("threads", "processes"),
                                  value="threads", style=_WIDE)
        self.train_size = _slider(w.IntSlider, "samples P", value=lessons.pick(400, 200),
                                  min=50, max=2000, step=50)
        self.window = _slider(w.IntSlider, "iterations drawn", value=6, min=2, max=30)
        self.workers.observe(self._limit_straggler, names="value")
        for name, value in values.items():
            getattr(self, name).value = value
        super().__init__([self.workers, self.straggler, self.delay_ms, self.backend,
                          self.train_size, self.window])

    def _limit_straggler(self, change):
        self.straggler.max = change["new"] - 1

    def options(self):
        """The keyword arguments of :func:`pdsgd.train` that the controls describe."""
        opts = dict(workers=self.workers.value, backend=self.backend.value, epochs=1,
                    train_size=self.train_size.value)
        if self.delay_ms.value > 0:
            opts.update(straggler=self.straggler.value, straggler_delay=self.delay_ms.value / 1e3)
        return opts

    def _run(self):
        result = train(self.data, **self.options())
        self.show(plots.plot_run_timeline(result.trace, count=self.window.value))
        self.show(plots.plot_phase_totals(tr.summarize(result.trace)))
        cost = lessons.crossing_cost(result.trace)
        print(f"median shortest barrier wait per iteration: {cost * 1e6:.0f} us")
        return result


def live_epoch(data="mnist-5k", *, hidden=(200,), lr=0.1, train_size=None, every=None,
               monitor=200, seed=0, dtype="float64"):
    """One sequential epoch of the seed's SGD, drawing the loss as it falls.

    Every ``every`` samples the training loss is measured on the first
    ``monitor`` training samples and the plot is redrawn (in a notebook; in a
    script the points are only collected).

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
            with out:
                clear_output(wait=True)
                display(figure_image(plots.plot_loss_curve(curve), dpi=72))

    with threadpool_limits(1):  # batch-1 BLAS calls are too small to share between threads
        SequentialRunner(model, X, T).run_epoch(epoch_order(len(X), seed, 0), lr,
                                                on_iteration=record)
    return model, curve
