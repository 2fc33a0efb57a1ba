"""A panel's run in a thread of its own: the Stop button and Kernel > Interrupt can end it.

Why a thread. A button's click handler runs while the kernel handles that
click's message, and nothing else is heard until it returns:

* in JupyterLab 4 with ipykernel 7, widget messages are handled on a kernel
  *subshell*, a thread of their own: a handler that trains for a minute holds
  it, so the Stop button's click waits behind the run it should end, and
  Kernel > Interrupt sends SIGINT, which Python hands to the *main* thread
  only; that thread is idle, and an idle ipykernel ignores SIGINT (it
  installs ``default_int_handler`` only while it handles a message);
* where the handler runs on the main thread (an older front end, nbclient),
  the KeyboardInterrupt does arrive, but an ``ipywidgets.Output`` ``with``
  block around the run swallows it (ipywidgets issue 3208), so the panel
  reported a failure instead of a stop.

So a click only *starts* a :class:`BackgroundRun` and returns. The run's
function gets a :class:`threading.Event` and hands it to
:func:`pdsgd.train` as ``stop=``, which checks it between steps, spans and
epochs and then ends the workers and releases their shared memory.

* The Stop button sets the event.
* Kernel > Interrupt: :func:`watch_interrupts` asks the kernel's event loop
  to install, on the main thread and between two messages, a SIGINT handler
  that sets the event of every run in progress. With no run in progress it
  does what the handler it replaced did (an idle kernel: nothing). While the
  kernel executes a cell, ipykernel swaps in its own handler as before, so
  interrupting a cell still raises KeyboardInterrupt there; a cell that
  waits for a run (:meth:`BackgroundRun.wait`) then stops the run first.
"""

from __future__ import annotations

import signal
import threading

#: The runs in progress, which Kernel > Interrupt stops.
_RUNNING = set()
_LOCK = threading.Lock()
_HOOK = {"previous": None, "scheduled": False}


class BackgroundRun:
    """``work(stop)`` in a daemon thread, with ``stop`` a :class:`threading.Event`.

    Parameters
    ----------
    work : callable
        Called once, in the thread, with the stop event; what it returns
        becomes :attr:`value`, what it raises :attr:`error`.
    name : str
        The thread's name.
    """

    def __init__(self, work, name="pdsgd-panel-run"):
        self.work = work
        self.stop_requested = threading.Event()
        # Waited on instead of Thread.join: a join interrupted by KeyboardInterrupt can
        # mark a thread that is still running as finished (CPython before 3.13).
        self.finished = threading.Event()
        self.value = self.error = None
        self.thread = threading.Thread(target=self._main, name=name, daemon=True)

    def start(self):
        """Start the thread (and make Kernel > Interrupt reach it); returns at once."""
        with _LOCK:
            _RUNNING.add(self)
        watch_interrupts()
        self.thread.start()
        return self

    def _main(self):
        try:
            self.value = self.work(self.stop_requested)
        except BaseException as error:  # kept for wait(); the work reports its own errors
            self.error = error
        finally:
            with _LOCK:
                _RUNNING.discard(self)
            self.finished.set()

    @property
    def running(self):
        """True from :meth:`start` until the work has returned or raised."""
        return self.thread.ident is not None and not self.finished.is_set()

    def stop(self):
        """Ask the work to stop (it ends at its next check, then releases what it holds)."""
        self.stop_requested.set()

    def wait(self, timeout=None):
        """Wait for the work to end; return True if it has.

        An interrupt while waiting (Ctrl-C, Kernel > Interrupt during the
        cell that waits) stops the run, waits for it to end, and is raised
        again, as it would have been without the thread.
        """
        try:
            return self.finished.wait(timeout)
        except KeyboardInterrupt:
            self.stop()
            self.finished.wait()
            raise


def running():
    """The :class:`BackgroundRun` objects in progress."""
    with _LOCK:
        return list(_RUNNING)


def stop_all():
    """Ask every run in progress to stop; return how many there were."""
    runs = running()
    for run in runs:
        run.stop()
    return len(runs)


def on_sigint(signum, frame):
    """The SIGINT handler :func:`watch_interrupts` installs: stop the runs, else as before."""
    if stop_all():
        return
    previous = _HOOK["previous"]
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_DFL:
        raise KeyboardInterrupt
    # signal.SIG_IGN (an idle ipykernel's choice): nothing to do.


def install_sigint_handler():
    """Install :func:`on_sigint` (main thread only); the handler it replaces is kept."""
    current = signal.getsignal(signal.SIGINT)
    if current is not on_sigint:
        _HOOK["previous"] = current
        signal.signal(signal.SIGINT, on_sigint)


def watch_interrupts():
    """Make Kernel > Interrupt stop the runs in progress; once per kernel, a no-op elsewhere.

    The handler must be installed on the kernel's main thread *between*
    messages: ipykernel restores the SIGINT handler it saved before each
    message once the message is handled, which would undo one installed by a
    click handler. The kernel's event loop runs the installation as soon as
    the main thread is free (at once, when it is idle). Outside a kernel
    nothing is needed: SIGINT raises KeyboardInterrupt in the main thread,
    which :meth:`BackgroundRun.wait` turns into a stop.
    """
    if _HOOK["scheduled"]:
        return
    kernel = _kernel()
    loop = getattr(kernel, "io_loop", None)
    if loop is None:
        return
    _HOOK["scheduled"] = True
    loop.add_callback(install_sigint_handler)


def _kernel():
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return None
    shell = get_ipython()
    return getattr(shell, "kernel", None)
