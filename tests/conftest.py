"""Every test must leave nothing behind: no process it started, nothing in /dev/shm.

Other programs (other test runs too) share the machine, so only what this
session started counts:

* processes carry ``PDSGD_TEST_SESSION=<pid of pytest>`` in their environment,
  inherited by every descendant and kept by orphans whose parent was killed;
* a name in /dev/shm carries the pid of the process that made it
  (``pdsgd_<pid>_*``, ``sem.loky-<pid>-*``): this process, or a subprocess that
  a test started (``subprocess.Popen`` records their pids).

After each test module (its module-scoped fixtures, such as a Dask cluster,
torn down too), whatever it started must be gone within :data:`GRACE` seconds,
or its last test fails (and the leftovers are removed, so that the next module
starts clean). At the end, the session fails if anything of it is left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import psutil
import pytest

from pdsgd.engine.lifetime import names_of

MARK = "PDSGD_TEST_SESSION"
ME = os.getpid()
os.environ[MARK] = str(ME)
# A suite started in the background of a non-interactive shell (``make test &``) inherits
# SIGINT ignored, and every run a test starts would inherit that too: the tests of Ctrl-C
# need runs that hear it. A handled signal, unlike an ignored one, is reset by exec.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
#: Seconds a test's leftovers get to go away on their own (a killed run's janitor).
GRACE = 10.0

_started = []  # pids of the subprocesses the tests started, in order
_popen_init = subprocess.Popen.__init__


def _recording_init(self, *args, **kwargs):
    _popen_init(self, *args, **kwargs)
    _started.append(self.pid)


subprocess.Popen.__init__ = _recording_init


def _session_processes():
    """This session's live processes other than pytest itself: ``{(pid, started): Process}``."""
    out = {}
    for p in psutil.process_iter(["create_time", "status"]):
        if p.pid == ME or p.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        try:
            if p.environ().get(MARK) == str(ME):
                out[(p.pid, p.info["create_time"])] = p
        except psutil.Error:
            pass
    return out


def _long_lived(p):
    """Python's and loky's resource trackers of this process: they live as long as it does."""
    try:
        return p.ppid() == ME and "resource_tracker" in " ".join(p.cmdline())
    except psutil.Error:
        return True  # gone


def _names(pids):
    return {name for pid in pids for name in names_of(pid)}


def _leftovers(before_procs, before_names, pids):
    procs = [p for key, p in _session_processes().items()
             if key not in before_procs and not _long_lived(p)]
    names = _names(pids) - before_names
    return procs, names


def _describe(p):
    try:
        return f"{p.pid} {' '.join(p.cmdline())[:120]}"
    except psutil.Error:
        return str(p.pid)


def _wait_for_nothing_left(before_procs, before_names, pids):
    """The leftovers still there after GRACE seconds (and remove them)."""
    deadline = time.monotonic() + GRACE
    while True:
        procs, names = _leftovers(before_procs, before_names, pids)
        if not procs and not names or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass
    for name in names:
        try:
            os.unlink(f"/dev/shm/{name}")
        except OSError:
            pass
    return [_describe(p) for p in procs], sorted(names)


@pytest.fixture(autouse=True, scope="module")
def nothing_left_behind():
    """Fail if a test module leaves a process of its own, or a name of its pids in /dev/shm."""
    before_procs = set(_session_processes())
    first = len(_started)
    before_names = _names({ME})
    yield
    procs, names = _wait_for_nothing_left(before_procs, before_names, {ME, *_started[first:]})
    if procs or names:
        pytest.fail(f"the module left behind processes {procs} and /dev/shm names {names}",
                    pytrace=False)


def pytest_sessionfinish(session, exitstatus):
    """Fail the session if any of its processes or /dev/shm names is still there."""
    procs, names = _wait_for_nothing_left(set(), set(), {ME, *_started})
    if procs or names:
        print(f"\nthe test session left behind processes {procs} and /dev/shm names {names}")
        session.exitstatus = 1
