"""Nothing outlives its run: workers die with their parent, and a janitor removes the rest.

A run can end without its own clean-up running: the training process is killed
outright (``kill -9``, the OOM killer, a notebook kernel that dies), or its whole
process group is (``KernelManager.restart_kernel(now=True)`` sends SIGKILL to the
kernel's group, the resource trackers included). Two mechanisms cover that:

* **Workers die with their parent.** :func:`die_with_parent`, the first thing a
  worker process runs, asks Linux to send it SIGKILL when its parent dies
  (``prctl(PR_SET_PDEATHSIG)``), then checks that its parent is still alive: it
  may have died before the request was made. Where there is no ``prctl`` (macOS),
  a watchdog thread polls the parent's pid instead. (Linux counts the *thread*
  that started the worker as its parent: workers must be started by the thread
  that runs, and ends, the training, which the engine does.)
* **A janitor removes the names.** Shared memory and named semaphores live in
  ``/dev/shm`` until someone unlinks them. A :class:`Janitor` is a tiny process,
  in a session of its own so that a signal sent to the trainer's process group
  does not reach it, that holds the read end of a pipe from the trainer. When
  the pipe closes because the trainer died, it kills the worker pids it was
  told about and unlinks every name that carries the dead trainer's pid
  (``pdsgd_<pid>_*``, ``sem.loky-<pid>-*``, loky's own semaphores included) and
  the names it was told about; then it exits. After a normal end of the run the
  trainer says ``bye`` and the janitor just exits.

Python's and loky's resource trackers would unlink what was registered with
them once every process holding their pipe has gone, but the workers hold those
pipes too (so nothing happened while they lived on), and a signal to the
process group kills the trackers with everyone else: hence the janitor.

This file also runs as the janitor's script (``python -I -S lifetime.py PID``),
so it imports nothing but the standard library.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import signal
import subprocess
import sys
import threading
import time

#: Linux's ``PR_SET_PDEATHSIG`` (``<linux/prctl.h>``).
PR_SET_PDEATHSIG = 1
#: Seconds between two checks of the parent's pid (watchdog and janitor).
POLL = 0.2
SHM_DIR = "/dev/shm"


def _prctl_pdeathsig(signum):
    """``prctl(PR_SET_PDEATHSIG, signum)``; False where the system has no such call."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def die_with_parent(parent):
    """Make this process end as soon as process ``parent`` (its parent) ends.

    Parameters
    ----------
    parent : int
        The pid the caller expects as its parent. If the parent has already
        gone (this process was re-parented), this process exits at once.
    """
    if not _prctl_pdeathsig(signal.SIGKILL):
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True,
                         name="pdsgd-parent-watchdog").start()
    # The parent may have died before prctl took effect: then no signal comes.
    if os.getppid() != parent:
        os._exit(1)


def _watch_parent(parent):
    while os.getppid() == parent:
        time.sleep(POLL)
    os._exit(1)


def names_of(pid, directory=SHM_DIR):
    """Names in ``/dev/shm`` made by process ``pid``: its pdsgd blocks, loky's semaphores."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return sorted(n for n in names if n.startswith((f"pdsgd_{pid}_", f"sem.loky-{pid}-")))


def start_time(pid):
    """When process ``pid`` started (clock ticks since boot, Linux), or None if unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces: count fields after its ")".
    return int(stat[stat.rindex(b")") + 2:].split()[19])


class Janitor:
    """A process that cleans up after this one if it dies before its run ends.

    Tell it the worker pids (:meth:`watch`) and the names (:meth:`track`) of a
    run; call :meth:`close` when the run has ended and cleaned up after itself.

    Examples
    --------
    >>> janitor = Janitor()
    >>> janitor.track("pdsgd_123_abcd")
    >>> janitor.close()
    """

    def __init__(self):
        self.process = None
        if os.name != "posix":
            return
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-S", os.path.abspath(__file__), str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, close_fds=True)

    def _send(self, line):
        if self.process is None or self.process.stdin is None:
            return
        try:
            self.process.stdin.write(f"{line}\n".encode())
            self.process.stdin.flush()
        except (BrokenPipeError, ValueError):  # pragma: no cover - the janitor died
            pass

    def watch(self, pid):
        """Kill process ``pid`` should this process die before :meth:`close`."""
        self._send(f"pid {int(pid)}")

    def track(self, name):
        """Unlink shared memory or semaphore ``name`` should this process die first."""
        self._send(f"name {name}")

    def defer_to(self, pid):
        """Let process ``pid`` (a resource tracker) clean up first, should this process die.

        Resource trackers unlink what was registered with them once the
        workers are gone; two cleaners unlinking the same names would make one
        of them complain. Waiting a moment for the trackers to finish (they
        exit once done) leaves the janitor only what they could not do.
        """
        self._send(f"tracker {int(pid)}")

    def close(self, timeout=2.0):
        """The run is over and clean: let the janitor go."""
        process = self.process
        if process is None:
            return
        self._send("bye")
        self.process = None
        try:
            process.stdin.close()
        except OSError:  # pragma: no cover
            pass
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:  # pragma: no cover - it should exit at once
            process.kill()
            process.wait()


# ---------------------------------------------------------------- the janitor's side
def _unlink(name):
    """Remove ``/dev/shm/<name>``, a semaphore's ``sem.<name>`` or a POSIX name, if present."""
    if os.path.isdir(SHM_DIR):
        for path in (os.path.join(SHM_DIR, name.lstrip("/")),
                     os.path.join(SHM_DIR, "sem." + name.lstrip("/"))):
            try:
                os.unlink(path)
            except OSError:
                pass
        return
    try:  # pragma: no cover - systems without /dev/shm (macOS)
        import _multiprocessing
        import _posixshmem
        for unlink in (_posixshmem.shm_unlink, _multiprocessing.sem_unlink):
            try:
                unlink("/" + name.lstrip("/"))
            except OSError:
                pass
    except ImportError:  # pragma: no cover
        pass


def _running(pid, started):
    """Whether process ``pid`` (started at ``started``) still runs: not ended, not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    fields = stat[stat.rindex(b")") + 2:].split()
    return fields[0] != b"Z" and int(fields[19]) == started


def _sweep(parent, pids, trackers, names):
    for pid, started in pids:
        if start_time(pid) == started:  # still the worker, not a new process with its pid
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    deadline = time.monotonic() + 2.0
    while any(_running(*t) for t in trackers) and time.monotonic() < deadline:
        time.sleep(0.01)
    for name in [*names, *names_of(parent)]:
        _unlink(name)


def _janitor(parent):
    """Read the trainer's pipe until it closes; clean up unless it said ``bye``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is for the trainer
    pids, trackers, names, buffer = [], [], [], b""
    fd = 0  # the pipe from the trainer
    while True:
        ready, _, _ = select.select([fd], [], [], POLL)
        if not ready:
            if os.getppid() != parent:
                break  # the trainer died, though someone else holds the pipe open
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            kind, _, value = line.decode().partition(" ")
            if kind == "bye":
                return
            if kind in ("pid", "tracker"):
                (pids if kind == "pid" else trackers).append((int(value),
                                                              start_time(int(value))))
            elif kind == "name":
                names.append(value)
    # The pipe closed without a bye: wait (briefly) to see whether the trainer died.
    deadline = time.monotonic() + 2.0
    while os.getppid() == parent and time.monotonic() < deadline:
        time.sleep(0.01)
    if os.getppid() != parent:
        _sweep(parent, pids, trackers, names)


if __name__ == "__main__":
    _janitor(int(sys.argv[1]))
