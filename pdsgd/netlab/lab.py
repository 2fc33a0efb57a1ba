"""The network lab: a class cluster on K hosts of this machine, over links of a named profile.

:class:`Lab` builds the hosts (:class:`~pdsgd.netlab.hosts.Hosts`), makes a
join bundle, runs ``pdsgd cluster serve`` on the teacher's host (host 0) and
``pdsgd cluster join`` on each student host, and sets every link to a
profile of :data:`PROFILES`. Code that trains runs on the teacher's host
(:meth:`Lab.run`), as a teacher's notebook would.

Every process it starts dies with the process that started it
(``PR_SET_PDEATHSIG``), and leaving the lab (an exception or Ctrl-C too)
removes the namespaces; after a kill -9, the next lab removes them.
"""

from __future__ import annotations

import functools
import os
import select
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pdsgd.engine.lifetime import die_with_parent
from pdsgd.engine.security import make_bundle
from pdsgd.errors import PdsgdError
from pdsgd.netlab.hosts import Hosts

PORT, WORKER_PORT, RELAY_PORT = 8786, 8789, 8790
#: The network every measurement trains: the seed's.
SIZES = (784, 200, 10)


@dataclass(frozen=True)
class Profile:
    """Every host's link to the switch, the teacher's too: ``mbit`` Mbit/s each way (None:
    unlimited) and ``delay`` seconds one way.

    A classroom's Wi-Fi delays a message at both ends, the sender's link and
    the receiver's, so between two hosts a message takes :attr:`path_delay`
    and an exchange there and back :attr:`round_trip`: the latency the cost
    model counts per crossing.
    """

    name: str
    mbit: float | None
    delay: float
    what: str

    @property
    def path_delay(self):
        """Seconds one way between two hosts: through the sender's link and the receiver's."""
        return 2 * self.delay

    @property
    def round_trip(self):
        """Seconds there and back between two hosts."""
        return 2 * self.path_delay


PROFILES = {p.name: p for p in (
    Profile("bare", None, 0.0, "no limit: the machine's own speed"),
    Profile("lan", 1000.0, 0.0, "wired Ethernet, 1 Gbit/s"),
    Profile("wifi", 50.0, 0.003, "a classroom's Wi-Fi, 50 Mbit/s + 3 ms at each end"),
    Profile("wan", 10.0, 0.015, "laptops across a city, 10 Mbit/s + 15 ms at each end"),
)}


def _start(argv, namespace, stderr=subprocess.PIPE):
    """Start ``argv`` in ``namespace``; it dies with this process (and thread)."""
    return subprocess.Popen(["ip", "netns", "exec", namespace, *argv],
                            stdout=subprocess.PIPE, stderr=stderr, text=True,
                            preexec_fn=functools.partial(die_with_parent, os.getpid()))


def _wait_for(process, word, timeout, what):
    """Wait until ``process`` prints a line starting with ``word``; fail in one line if not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.1)
        if ready:
            line = process.stdout.readline()
            if line.startswith(word):
                return
            if line:
                continue
        if process.poll() is not None:
            error = Path(process.log).read_text().strip().splitlines() or [process.returncode]
            raise PdsgdError(f"the lab's {what} ended: {error[-1]}")
    raise PdsgdError(f"the lab's {what} did not start within {timeout:g} s")


class Lab:
    """K student hosts, each a Dask worker, and a teacher's host with the scheduler.

    Parameters
    ----------
    students : int
        K.
    profile : str
        A name in :data:`PROFILES`.
    worker_ttl : float
        The scheduler's ``--worker-ttl``: how soon a silent host counts as gone.
    """

    def __init__(self, students, profile="lan", worker_ttl=60.0, start_timeout=60.0):
        if profile not in PROFILES:
            raise PdsgdError(f"no network profile {profile!r}; choose one of "
                             f"{', '.join(PROFILES)}")
        self.profile = PROFILES[profile]
        self.students, self.worker_ttl, self.start_timeout = students, worker_ttl, start_timeout
        self.hosts = Hosts(students, self.profile.mbit)
        self.processes = []

    @property
    def scheduler(self):
        """The scheduler's address, as clients on the teacher's host reach it."""
        return f"tls://{self.hosts.address(0)}:{PORT}"

    def __enter__(self):
        self.hosts.__enter__()
        try:
            self._folder = tempfile.TemporaryDirectory(prefix="pdsgd-lab-")
            self.bundle = make_bundle(Path(self._folder.name) / "class.pem")
            self._serve()
            self._join()
        except BaseException:
            self.close()
            raise
        return self

    def _pdsgd(self, *args):
        return [sys.executable, "-m", "pdsgd", *args]

    def _serve_forever(self, argv, host, what):
        """Start a process that lives as long as the lab; its stderr goes to a file.

        A pipe nobody reads would stop it once full (a worker cut off logs errors).
        """
        log = Path(self._folder.name) / f"{what.replace(' ', '-')}.log"
        with open(log, "w") as f:
            p = _start(argv, self.hosts.names[host], stderr=f)
        p.log = log
        self.processes.append(p)
        return p

    def _serve(self):
        p = self._serve_forever(self._pdsgd(
            "cluster", "serve", "--host", self.hosts.address(0), "--port", str(PORT), "--bundle",
            str(self.bundle), "--no-dashboard", "--worker-ttl", str(self.worker_ttl)), 0,
            "scheduler")
        _wait_for(p, "scheduler:", self.start_timeout, "scheduler")

    def _join(self):
        # Every path between two hosts crosses two links (the switch is a star), so one
        # relay per path, at its student end, holds each byte for both links' delay: the
        # teacher's link gets its latency as the students' do, with no relay of its own.
        delay, started = self.profile.path_delay, []
        for i in range(1, self.students + 1):
            me = self.hosts.address(i)
            join = ["cluster", "join", self.scheduler, "--bundle", str(self.bundle),
                    "--cores", "1", "--name", f"host{i}", "--timeout", str(self.start_timeout),
                    "--listen", f"tls://{me}:{WORKER_PORT}"]
            if delay > 0:
                # Both ways through the relay: to the scheduler via loopback, from
                # everyone else via the advertised address.
                relay = self._serve_forever(
                    [sys.executable, "-m", "pdsgd.netlab.relay", str(delay),
                     f"127.0.0.1:{PORT}={self.hosts.address(0)}:{PORT}",
                     f"{me}:{RELAY_PORT}=127.0.0.1:{WORKER_PORT}"], i, f"relay {i}")
                _wait_for(relay, "relaying", self.start_timeout, f"relay on host {i}")
                join[2] = f"tls://127.0.0.1:{PORT}"
                join[-1] = f"tls://127.0.0.1:{WORKER_PORT}"
                join += ["--contact", f"tls://{me}:{RELAY_PORT}"]
            started.append((i, self._serve_forever(self._pdsgd(*join), i, f"worker {i}")))
        for i, p in started:
            _wait_for(p, "joined", self.start_timeout, f"worker on host {i}")

    def worker(self, i):
        """Host i's worker's address, as the other hosts reach it (through its relay)."""
        port = RELAY_PORT if self.profile.delay > 0 else WORKER_PORT
        return f"tls://{self.hosts.address(i)}:{port}"

    def start(self, args, host=0):
        """Start ``python -m ARGS`` on a host (default the teacher's); it ends with the lab."""
        p = _start([sys.executable, "-m", *args], self.hosts.names[host])
        self.processes.append(p)
        return p

    def run(self, args, timeout=None, host=0):
        """Run ``python -m ARGS`` on a host (default the teacher's): a CompletedProcess."""
        p = self.start(args, host)
        try:
            out, err = p.communicate(timeout=timeout)
        except BaseException:
            p.kill()
            p.communicate()
            raise
        return subprocess.CompletedProcess(p.args, p.returncode, out, err)

    def cut(self, i):
        """Pull host i's cable."""
        self.hosts.cut(i)

    def close(self):
        """End every process, remove every namespace and the bundle."""
        for p in self.processes:
            if p.poll() is None:
                p.kill()
        for p in self.processes:
            p.wait()
            for pipe in (p.stdout, p.stderr):
                if pipe is not None:
                    pipe.close()
        self.processes = []
        self.hosts.close()
        folder = getattr(self, "_folder", None)
        if folder is not None:
            folder.cleanup()

    def __exit__(self, *exc):
        self.close()
