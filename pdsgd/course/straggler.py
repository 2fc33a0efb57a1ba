"""The straggler panel: one slow worker, and every other worker waiting at the barrier (or not)."""

from __future__ import annotations

import ipywidgets as w

from pdsgd import plots
from pdsgd.course import lessons, tables
from pdsgd.course.controls import dropdown, loaded, panel_span, slider
from pdsgd.course.panel import Panel
from pdsgd.course.without_barrier import SYNC_CHOICES, run_row, runs_table, setting_label
from pdsgd.spec import BACKENDS
from pdsgd.train import train
from pdsgd.train.result import histogram, starting_workers, summarize

#: The backends whose workers meet at a barrier of their own (serial takes turns; a dask
#: round's barrier is the gather): where the straggler panel shows the waiting.
BARRIER_BACKENDS = tuple(b for b in BACKENDS if b in ("threads", "processes"))


class StragglerPanel(Panel):
    """Slow one worker down and watch every other worker wait at the barrier, or not.

    Trains one short epoch with N workers and draws a window of the engine's
    timeline (compute, barrier wait, aggregate per worker), each worker's
    totals, and where an iteration's time went. With a delay above zero the
    chosen worker takes that many extra milliseconds in every iteration,
    through the engine options ``straggler`` (which worker) and
    ``straggler_delay`` (seconds).

    ``sync`` drops the barrier (:func:`pdsgd.train`): ``ssp`` lets a worker
    run up to ``staleness s`` iterations ahead of the slowest (the slider is
    active for ``ssp`` only), ``async`` applies every gradient as it arrives,
    ``hogwild`` lets each worker write its own update. Each run also draws the
    staleness histograms of this panel's runs so far, one small panel per setting, and
    adds a row to a table of them (:func:`pdsgd.course.without_barrier.run_row`),
    kept in ``panel.runs``. With ``sync_controls=False`` (notebook 4, before
    SSP is taught) the two controls of ``sync`` are left out and every run is BSP.
    """

    heading = "The barrier: make one worker a straggler, choose how to synchronize, press Run"
    #: Settings whose staleness histograms are drawn together (the most recent ones).
    KEEP_HISTOGRAMS = 5

    def __init__(self, data="mnist-5k", sync_controls=True, **values):
        self.dataset = loaded(data)
        n_train = len(self.dataset.X_train)
        self.workers = slider(w.IntSlider, "workers N", value=2, min=2, max=4)
        self.straggler = slider(w.IntSlider, "slow worker", value=1, min=0, max=1)
        self.delay_ms = slider(w.FloatSlider, "extra ms per iteration", value=2.0, min=0.0,
                                max=10.0, step=0.5)
        self.backend = dropdown("backend", BARRIER_BACKENDS)
        self.train_size = slider(w.IntSlider, "samples P",
                                  value=min(lessons.pick(400, 200), n_train),
                                  min=min(50, n_train), max=min(2000, n_train), step=50)
        self.window = slider(w.IntSlider, "iterations drawn", value=6, min=2, max=30)
        self.sync = dropdown("sync", SYNC_CHOICES)
        self.staleness = slider(w.IntSlider, "staleness s", value=4, min=0, max=16,
                                 disabled=True)
        self.runs, self.histograms = [], {}
        self.workers.observe(self._limit_straggler, names="value")
        self.sync.observe(self._staleness_applies, names="value")
        for name, value in values.items():
            getattr(self, name).value = value
        if not sync_controls:
            self.heading = "The barrier: make one worker a straggler, press Run"
        super().__init__([self.workers, self.straggler, self.delay_ms, self.backend,
                          self.train_size, self.window]
                         + ([self.sync, self.staleness] if sync_controls else []))

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
                    span=panel_span(self.workers.value, 1, self.backend.value,
                                    self.delay_ms.value / 1e3))
        if not self.staleness.disabled:
            opts["staleness"] = self.staleness.value
        if self.delay_ms.value > 0:
            opts.update(straggler=self.straggler.value, straggler_delay=self.delay_ms.value / 1e3)
        return opts

    def starting(self):
        return (f"{starting_workers(self.workers.value)} ({self.backend.value}, "
                f"{self.sync.value})")

    def _run(self, stop):
        result = train(self.dataset, progress=self.progress(), on_epoch=self.epoch_done,
                       stop=stop, **self.options())
        label = setting_label(result.config)
        self.show(plots.plot_run_timeline(result.trace, count=self.window.value,
                                          title=f"{label}: a window of the run's timeline"))
        self.show(plots.plot_phase_totals(summarize(result.trace)))
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
