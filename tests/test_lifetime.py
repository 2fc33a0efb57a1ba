"""Nothing outlives a run, however it ends: killed, terminated, hung up, or its kernel gone.

Each test starts a real training run in another process (the command line,
or a Jupyter kernel), ends that process at a random moment while its workers
train, and checks that within a few seconds no process of its tree is left
and nothing with its pid is in /dev/shm.
"""

import os
import random
import signal
import subprocess
import sys
import time

import psutil
import pytest
from engine_helpers import cmdline

from pdsgd.engine.lifetime import Janitor, die_with_parent, names_of
from pdsgd.machine import usable_cores

TRAIN = ["-m", "pdsgd", "train", "--dataset", "synthetic", "--train-size", "2000", "--hidden",
         "20", "--epochs", "1000", "--backend", "processes", "--quiet"]
#: Seconds after the end of a run within which everything of it must be gone.
WITHIN = 5.0


def _tree(pid):
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _wait_until_training(pid, workers, timeout=90):
    """Wait until process ``pid`` has its block in /dev/shm and its workers are training."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers_up = [p for p in _tree(pid) if "LokyProcess" in " ".join(cmdline(p))]
        if len(workers_up) >= workers and any(n.startswith("pdsgd_") for n in names_of(pid)):
            return
        time.sleep(0.05)
    pytest.fail(f"process {pid} did not start {workers} workers within {timeout} s")


def _ended(p):
    try:
        return p.status() == psutil.STATUS_ZOMBIE  # ended, not yet reaped by init
    except psutil.NoSuchProcess:
        return True


def assert_nothing_left(pid, tree, since):
    """Within WITHIN s of ``since``: every process of ``tree`` ended, no name of ``pid`` left."""
    while time.monotonic() - since < WITHIN:
        alive = [p for p in tree if not _ended(p)]
        if not alive and not names_of(pid):
            return time.monotonic() - since
        time.sleep(0.02)
    alive = [(p.pid, " ".join(cmdline(p))[-60:]) for p in tree if not _ended(p)]
    pytest.fail(f"{WITHIN} s after the end of process {pid}: alive {alive}, "
                f"/dev/shm {names_of(pid)}")


@pytest.mark.slow
@pytest.mark.parametrize("hosting", ["workers", "cores"])
def test_a_killed_trainer_leaves_no_process_and_no_shared_memory(tmp_path, hosting):
    # 4 workers: 4 processes, or one per usable core, each running its share.
    workers = 4
    processes = workers if hosting == "workers" else min(workers, usable_cores())
    proc = subprocess.Popen([sys.executable, *TRAIN, "--workers", str(workers), "--hosting",
                             hosting, "--out", str(tmp_path)], stderr=subprocess.DEVNULL)
    try:
        _wait_until_training(proc.pid, processes)
        time.sleep(random.uniform(0.0, 1.0))  # a random moment of the training
        tree = _tree(proc.pid)
        assert len(tree) >= processes + 1  # the workers, the janitor, the trackers
        os.kill(proc.pid, signal.SIGKILL)
        since = time.monotonic()
        proc.wait(timeout=10)
        assert_nothing_left(proc.pid, tree, since)
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.slow
@pytest.mark.parametrize("signum,code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_stop_a_run_like_ctrl_c(tmp_path, signum, code):
    proc = subprocess.Popen([sys.executable, *TRAIN, "--workers", "2", "--out", str(tmp_path)],
                            stderr=subprocess.PIPE, text=True)
    try:
        _wait_until_training(proc.pid, 2)
        time.sleep(random.uniform(0.0, 0.5))
        tree = _tree(proc.pid)
        proc.send_signal(signum)
        since = time.monotonic()
        err = proc.communicate(timeout=10)[1]
        assert time.monotonic() - since < 3
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == code
    assert err.strip() == f"pdsgd: interrupted by {signal.Signals(signum).name}"
    assert_nothing_left(proc.pid, tree, since)
    assert list(tmp_path.iterdir()) == []  # no model of an unfinished run


@pytest.fixture
def kernel():
    """A Jupyter kernel (jupyter_client), shut down at the end."""
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name="python3")
    km.start_kernel()
    client = km.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        yield km, client
    finally:
        client.stop_channels()
        km.shutdown_kernel(now=True)


def _train_in(km, client):
    """Start a long run in the kernel; return the kernel's pid and its process tree."""
    client.execute("import pdsgd\n"
                   "pdsgd.train('synthetic', train_size=2000, hidden=(20,), epochs=1000, "
                   "workers=2, backend='processes')")
    pid = km.provisioner.process.pid
    _wait_until_training(pid, 2)
    time.sleep(random.uniform(0.0, 0.5))
    return pid, _tree(pid)


@pytest.mark.slow
def test_a_kernel_restart_leaves_nothing_behind(kernel):
    km, client = kernel
    pid, tree = _train_in(km, client)
    km.restart_kernel(now=True)  # SIGKILL to the kernel's whole process group
    assert_nothing_left(pid, tree, time.monotonic())


@pytest.mark.slow
def test_a_kernel_that_dies_leaves_nothing_behind(kernel):
    km, client = kernel
    pid, tree = _train_in(km, client)
    os.kill(pid, signal.SIGKILL)  # the kernel alone (the OOM killer's way)
    assert_nothing_left(pid, tree, time.monotonic())


def test_a_worker_whose_parent_is_already_gone_exits_at_once():
    code = ("import os; from pdsgd.engine.lifetime import die_with_parent; "
            "die_with_parent(os.getppid() + 1); print('still here')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and "still here" not in done.stdout
    die_with_parent(os.getppid())  # the right parent: nothing happens


JANITOR_CLIENT = """
import os, subprocess, sys, time
from pdsgd.engine.lifetime import Janitor
janitor = Janitor()
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
janitor.watch(child.pid)
for name in (f"pdsgd_{os.getpid()}_x", f"sem.loky-{os.getpid()}-y", "pdsgd_told_about"):
    open(f"/dev/shm/{name}", "w").close()
janitor.track("pdsgd_told_about")
print(child.pid, flush=True)
if sys.argv[1] == "die":
    os.kill(os.getpid(), 9)
janitor.close()
"""


def _run_janitor_client(how):
    proc = subprocess.Popen([sys.executable, "-c", JANITOR_CLIENT, how], stdout=subprocess.PIPE,
                            text=True)
    child = psutil.Process(int(proc.stdout.readline()))
    proc.wait(timeout=30)
    return proc.pid, child


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="needs /dev/shm")
def test_the_janitor_cleans_up_after_a_dead_process_only():
    names = lambda pid: [*names_of(pid), *names_of("told")]  # noqa: E731
    # A clean close: the janitor touches nothing (the names are the process's own business).
    pid, child = _run_janitor_client("close")
    try:
        time.sleep(0.5)
        assert len(names(pid)) == 3 and child.is_running()
    finally:
        child.kill()
        for name in names(pid):
            os.unlink(f"/dev/shm/{name}")
    # The process dies: its names and the child it watched are gone.
    pid, child = _run_janitor_client("die")
    since = time.monotonic()
    while time.monotonic() - since < WITHIN and (names(pid) or not _ended(child)):
        time.sleep(0.02)
    assert names(pid) == [] and _ended(child)


def test_janitor_close_lets_it_exit_on_its_own_and_leaves_nothing():
    janitor = Janitor()
    process = janitor.process
    janitor.close()
    assert process.poll() is not None
    # It obeyed the bye and exited by itself (0), within close's grace: a janitor that
    # had to be killed there would end with -SIGKILL.
    assert process.returncode == 0
    janitor.close()  # twice is fine


def test_the_suite_notices_a_process_or_a_name_left_behind(tmp_path):
    import conftest

    before_procs, before_names = set(conftest._session_processes()), conftest._names({os.getpid()})
    stray = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    name = f"pdsgd_{os.getpid()}_leftover"
    open(f"/dev/shm/{name}", "w").close()
    try:
        procs, names = conftest._leftovers(before_procs, before_names, {os.getpid()})
        assert [p.pid for p in procs] == [stray.pid] and names == {name}
    finally:
        stray.kill()
        stray.wait()
        os.unlink(f"/dev/shm/{name}")
    assert conftest._leftovers(before_procs, before_names, {os.getpid()}) == ([], set())


def _default_ctrl_c():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for_dask_workers(pid, workers, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum("spawn_main" in " ".join(cmdline(p)) for p in _tree(pid)) >= workers:
            time.sleep(3.0)  # the cluster is up: the data reach the workers, rounds run
            return
        time.sleep(0.05)
    pytest.fail(f"process {pid} did not start {workers} Dask workers within {timeout} s")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["processes", "dask"])
@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGINT, signal.SIGTERM],
                         ids=["SIGHUP", "SIGINT", "SIGTERM"])
def test_a_signal_to_the_whole_process_group_prints_one_line(tmp_path, backend, signum):
    """A closed terminal (SIGHUP) or Ctrl-C (SIGINT) reaches every process of the group."""
    argv = [sys.executable, *TRAIN, "--workers", "2", "--out", str(tmp_path)]
    argv[argv.index("processes")] = backend
    # Ctrl-C as a terminal delivers it: not ignored, as a shell's background job would have it.
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=_default_ctrl_c)
    try:
        if backend == "dask":
            _wait_for_dask_workers(proc.pid, 2)
        else:
            _wait_until_training(proc.pid, 2)
        time.sleep(random.uniform(0.0, 0.5))
        tree = _tree(proc.pid)
        os.killpg(proc.pid, signum)  # the group's id is the leader's pid
        since = time.monotonic()
        err = proc.communicate(timeout=20)[1]
    finally:
        proc.kill()
        proc.wait()
    name = "" if signum == signal.SIGINT else f" by {signal.Signals(signum).name}"
    assert err.strip() == f"pdsgd: interrupted{name}", err
    assert proc.returncode == 128 + signum
    assert_nothing_left(proc.pid, tree, since)


@pytest.mark.slow
def test_dask_workers_leave_a_stop_signal_to_the_trainer(tmp_path):
    """Signals to the group reach the workers first at times: they must not die of them.

    A worker killed by SIGTERM before the trainer's own handler ran had the
    scheduler (in the trainer's process) log the lost worker as an error.
    """
    argv = [sys.executable, *TRAIN, "--workers", "2", "--out", str(tmp_path)]
    argv[argv.index("processes")] = "dask"
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _wait_for_dask_workers(proc.pid, 2)
        tree = _tree(proc.pid)
        workers = [p for p in tree if "spawn_main" in " ".join(cmdline(p))]
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert all(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)
        proc.send_signal(signal.SIGTERM)
        since = time.monotonic()
        err = proc.communicate(timeout=20)[1]
    finally:
        proc.kill()
        proc.wait()
    assert err.strip() == "pdsgd: interrupted by SIGTERM", err
    assert proc.returncode == 128 + signal.SIGTERM
    assert_nothing_left(proc.pid, tree, since)
