"""What every notebook panel shares: Run and Stop, a status line, a progress bar, plots.

A :class:`Panel` runs its training in a thread of its own
(:class:`~pdsgd.course.background.BackgroundRun`), so that the kernel stays
free to hear the Stop button and Kernel > Interrupt; everything it shows
(status, bar, figures, tracebacks) is set on widgets directly, which works
from any thread. :mod:`pdsgd.course.widgets` builds the course's panels on it.
"""

from __future__ import annotations

import functools
import html
import io
import threading
import traceback

import ipywidgets as w
from IPython.core.formatters import format_display_data
from IPython.display import Image
from tqdm.notebook import tqdm as tqdm_notebook

from pdsgd.course import demo
from pdsgd.course.background import BackgroundRun
from pdsgd.course.history import RunHistory
from pdsgd.errors import OptionError, PdsgdError
from pdsgd.train import TrainingStopped
from pdsgd.train.result import starting_workers


def figure_image(fig, dpi=90):
    """A figure as an IPython PNG image (what the panels display)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return Image(data=buf.getvalue(), format="png")


def show_only(output, *objects):
    """Replace what ``output`` (an ``ipywidgets.Output``) shows by ``objects``.

    Sets the widget's outputs directly rather than through ``with output``:
    that works from any thread, and never swallows a KeyboardInterrupt (an
    ``Output`` context manager does, ipywidgets issue 3208).
    """
    bundles = []
    for obj in objects:
        data, metadata = format_display_data(obj)
        bundles.append({"output_type": "display_data", "data": data, "metadata": metadata})
    output.outputs = tuple(bundles)


class _PanelBar(tqdm_notebook):
    """tqdm's notebook bar, drawn inside a panel instead of below the cell."""

    def __init__(self, *args, box, **kwargs):
        super().__init__(*args, display=False, leave=True, **kwargs)
        # tqdm's widget holds its bar weakly; the panel shows the widget after the run
        # has dropped the bar, so the widget keeps it (a cycle the collector frees).
        self.container.pbar = self
        box.children = (self.container,)


class Panel(w.VBox):
    """Shared plumbing: Run and Stop buttons, a status line, a progress bar, a log, plots."""

    heading = ""

    def __init__(self, controls):
        self.run_button = w.Button(description="Run", button_style="primary", icon="play")
        self.stop_button = w.Button(description="Stop", button_style="danger", icon="stop",
                                    disabled=True)
        self.status = w.HTML()
        self.progress_box = w.HBox()
        self.messages = w.Output()
        self.plot_area = w.Output()
        self.history, self.history_area = RunHistory(), w.Output()
        self.history_area.add_class("pdsgd-history")  # what a page (and its tests) can find
        self.kept = None  # demo mode: the study.json whose runs Run replays
        self.result = self.error = self.stopped_after = self.background = None
        self.figures, self.epochs_done = [], 0
        self._busy, self._lock = False, threading.Lock()
        self.run_button.on_click(lambda _button: self.start())
        self.stop_button.on_click(lambda _button: self.stop())
        header = [w.HTML(f"<b>{self.heading}</b>")] if self.heading else []
        columns = w.HBox([w.VBox(controls[::2]), w.VBox(controls[1::2])])
        super().__init__(header + [columns, w.HBox([self.run_button, self.stop_button,
                                                    self.status]),
                                   self.progress_box, self.messages, self.plot_area,
                                   self.history_area])

    # ------------------------------------------------------------ the controls
    def labels(self):
        """``{train() keyword: the control's label}``, for messages that name controls."""
        return {}

    def refusal(self, error):
        """An :class:`~pdsgd.errors.OptionError` said with the panel's labels, not the API's."""
        labels = self.labels()

        class Names(dict):
            def __missing__(self, key):
                return f"{labels.get(key, key)} = "

        head = f"{labels.get(error.option, error.option)} = {error.value}"
        return f"{head} {error.problem.format_map(Names())}"

    def show(self, fig):
        """Display ``fig`` in the plot area, below what is there, and keep it."""
        self.figures.append(fig)
        show_only(self.plot_area, *(figure_image(f) for f in self.figures))

    def progress(self):
        """What :func:`pdsgd.train` draws its progress bar with: a bar inside the panel."""
        return functools.partial(_PanelBar, box=self.progress_box)

    # ------------------------------------------------------------ running
    @property
    def running(self):
        """True from Run until the status line says how the run ended."""
        return self._busy

    def start(self):
        """Start a run with the current values of the controls (what Run does); return at once.

        Does nothing while a run is in progress.
        """
        with self._lock:
            if self._busy:
                return self.background
            self._busy = True
        self.result = self.error = self.stopped_after = None
        self.figures = []
        self.messages.outputs = self.plot_area.outputs = ()
        self.progress_box.children = ()
        self.run_button.disabled, self.stop_button.disabled = True, False
        self.status.value = f"<i>{html.escape(self.starting())}...</i>"
        self.background = BackgroundRun(self._work).start()
        return self.background

    def stop(self):
        """Ask the run in progress to stop (what Stop and Kernel > Interrupt do)."""
        with self._lock:
            if self._busy:
                self.background.stop()
                self.status.value = "<i>stopping...</i>"

    def wait(self, timeout=None):
        """Wait for the run in progress to end; True if it has (or none was running)."""
        return self.background is None or self.background.wait(timeout)

    def run(self):
        """Run with the current values and wait for the end (what a cell calls).

        Returns the :class:`~pdsgd.train.TrainResult` (None if the run was
        refused or stopped). A bug, shown in the panel, is raised here too.
        """
        self.start()
        self.wait()
        if self.background.error is not None:
            raise self.background.error
        return self.result

    def starting(self):
        """The status line while a run starts."""
        return "running"

    def epoch_done(self, epoch, history):
        """Called after each epoch of a run (``on_epoch`` of :func:`pdsgd.train`)."""
        self.epochs_done = epoch

    def _work(self, stop):
        # In the run's thread: train, then say how it ended in the status line.
        self.epochs_done = 0
        status = "<span style='color:#b00'>failed: see the error below</span>"
        try:
            self.result = self._run(stop) if self.kept is None else \
                demo.kept_run(self.options(), self.kept)
            status = f"<code>{html.escape(self.result.summary())}</code>"
            self.remember(self.result, getattr(self.result, "source", "live"))
        except TrainingStopped as stopped:
            status = self._stopped(stopped.epochs_done, _timing(stopped))
        except Exception as error:
            if stop.is_set():
                # Kernel > Interrupt signals the kernel's whole process group: worker
                # processes may end the run (and the engine release everything) first.
                status = self._stopped(self.epochs_done, "")
            elif isinstance(error, OptionError):
                status = self._refused(self.refusal(error))
            elif isinstance(error, PdsgdError):
                status = self._refused(str(error))
            else:
                self.messages.append_stderr(traceback.format_exc())
                raise
        finally:
            with self._lock:
                self.status.value = status
                self.run_button.disabled, self.stop_button.disabled = False, True
                self._busy = False

    def replay_from(self, source=None):
        """Demo mode: Run replays the kept run with the panel's settings instead of training.

        ``source``: a ``study.json`` or its folder (default: ``results/study.json`` of
        ``make reproduce``, else the first run kept under ``results/reference/``).
        ``panel.replay_from(False)`` goes back to training live.
        """
        if source is False:
            self.kept = None
            self.run_button.description = "Run"
            self.status.value = ""
            return self
        self.kept = demo.study_path(source)
        self.run_button.description = "Replay"
        self.status.value = (f"<b>demo mode</b>: Run replays kept results from "
                             f"{html.escape(demo.label(self.kept))}, not a live run")
        return self

    def remember(self, result, source="live"):
        """Add ``result`` to the run history and show the history: its table, and from
        the second run on (or a replayed one) one figure that sets the runs side by side."""
        self.history.add(result, source)
        shown = [self.history.table()]
        if len(self.history) > 1 or source != "live":
            shown.append(figure_image(self.history.figure(title="this panel's runs")))
        show_only(self.history_area, *shown)

    def _stopped(self, epochs_done, timing):
        self.stopped_after = epochs_done
        return (f"<b>stopped after epoch {epochs_done} of {self.options()['epochs']}</b> "
                f"{html.escape(timing)}")

    def _refused(self, message):
        self.error = message
        return f"<span style='color:#b00'>refused: {html.escape(message)}</span>"

    def options(self):
        """The keyword arguments of :func:`pdsgd.train` that the controls describe."""
        raise NotImplementedError

    def _run(self, stop):
        raise NotImplementedError


def _timing(stopped):
    """``(1.23 s training, after 4.56 s starting 2 workers)`` for a stopped run's status.

    The training time counts the epoch that the stop cut short.
    """
    trained, c = stopped.train_seconds, stopped.result.config
    if c.get("backend", "sequential") == "sequential" or "startup_seconds" not in c:
        return f"({trained:.2f} s training)"
    return (f"({trained:.2f} s training, after {c['startup_seconds']:.2f} s "
            f"{starting_workers(c['workers'])})")
