"""Hosts on one machine: Linux network namespaces wired to one switch, each link shaped.

Every name carries the pid of the run that made it (``pdsgd-<pid>-sw`` for the
switch, ``pdsgd-<pid>-h0`` for the teacher's host, ``-h1``... for the
students'), so a run removes its own and, when it starts, those of runs that
died without tidying (kill -9). Inside the switch namespace a bridge joins one
veth pair per host; both ends of every pair live in namespaces, so nothing is
added to the machine's own network, and addresses come from a private range
used only inside them (``10.77.0.0/24``; host i is ``10.77.0.(i+1)``).

A link's bandwidth is set by a token bucket (``tc qdisc ... tbf``) on both of
its ends, so it holds both ways. This kernel has no ``netem``, so latency is
added by :mod:`pdsgd.netlab.relay` on the student hosts, not here.

Making namespaces needs root (``CAP_SYS_ADMIN``); :func:`unavailable` says why
they cannot be made, in one line, or None.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import psutil

from pdsgd.errors import PdsgdError

PREFIX = "pdsgd-"
SUBNET = "10.77.0"
#: ``pdsgd-<pid>-<what>``: the run's pid is the second field.
_NAME = re.compile(rf"{PREFIX}(\d+)-(\w+)")


def ip(*args, check=True):
    """Run ``ip ARGS``; a failure raises PdsgdError with ip's own message."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise PdsgdError(f"ip {' '.join(args)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


def unavailable():
    """Why network namespaces cannot be made here (one line), or None when they can."""
    if shutil.which("ip") is None or shutil.which("tc") is None:
        return "the network lab needs iproute2's `ip` and `tc` (apt-get install iproute2)"
    if os.geteuid() != 0:
        return "the network lab needs root to make network namespaces (run it as root)"
    probe = f"{PREFIX}{os.getpid()}-probe"
    done = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if done.returncode != 0:
        return f"network namespaces cannot be made here ({done.stderr.strip()})"
    ip("netns", "del", probe, check=False)
    return None


def namespaces():
    """The names of every pdsgd namespace on the machine."""
    return [line.split()[0] for line in ip("netns", "list", check=False).splitlines()
            if line.startswith(PREFIX)]


def remove(name):
    """Kill what runs in namespace ``name``, then remove it (its veth ends go with it)."""
    for pid in ip("netns", "pids", name, check=False).split():
        try:
            psutil.Process(int(pid)).kill()
        except (psutil.Error, ValueError):
            pass
    ip("netns", "del", name, check=False)


def sweep():
    """Remove the namespaces of pdsgd runs that are no longer running; return their names."""
    gone = []
    for name in namespaces():
        match = _NAME.fullmatch(name)
        if match and not psutil.pid_exists(int(match[1])):
            remove(name)
            gone.append(name)
    return gone


def tbf(namespace, device, mbit):
    """Limit ``device``'s sending rate in ``namespace`` to ``mbit`` Mbit/s (token bucket)."""
    rate = mbit * 1e6 / 8  # bytes per second
    # The bucket holds 10 ms of traffic (at least a few full-size segments), so that
    # the kernel's timer tick does not itself cap the rate.
    burst = max(int(rate / 100), 64 * 1024)
    ip("netns", "exec", namespace, "tc", "qdisc", "replace", "dev", device, "root", "tbf",
       "rate", f"{mbit}mbit", "burst", str(burst), "latency", "100ms")


class Hosts:
    """K + 1 hosts (namespaces) on one switch: host 0 is the teacher's, 1..K the students'.

    Parameters
    ----------
    students : int
        K, the student hosts.
    mbit : float, optional
        Every link's bandwidth, both ways (None: as fast as the machine goes).

    Use it as a context manager: leaving removes every namespace it made.
    """

    def __init__(self, students, mbit=None):
        self.students, self.mbit = students, mbit
        self.tag = f"{PREFIX}{os.getpid()}"
        self.switch = f"{self.tag}-sw"
        self.names = [f"{self.tag}-h{i}" for i in range(students + 1)]

    def address(self, i):
        """Host i's address."""
        return f"{SUBNET}.{i + 1}"

    def __enter__(self):
        sweep()
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def _build(self):
        ip("netns", "add", self.switch)
        sw = ("netns", "exec", self.switch)
        ip(*sw, "ip", "link", "add", "br0", "type", "bridge")
        ip(*sw, "ip", "link", "set", "br0", "up")
        for i, name in enumerate(self.names):
            ip("netns", "add", name)
            # Created in the switch's namespace, one end then moved to the host's.
            ip(*sw, "ip", "link", "add", f"port{i}", "type", "veth", "peer", "name", "eth0",
               "netns", name)
            ip(*sw, "ip", "link", "set", f"port{i}", "master", "br0", "up")
            host = ("netns", "exec", name)
            ip(*host, "ip", "addr", "add", f"{self.address(i)}/24", "dev", "eth0")
            ip(*host, "ip", "link", "set", "eth0", "up")
            ip(*host, "ip", "link", "set", "lo", "up")
            if self.mbit is not None:
                tbf(name, "eth0", self.mbit)
                tbf(self.switch, f"port{i}", self.mbit)

    def cut(self, i):
        """Take host i's link down (its cable pulled): nothing reaches it, nothing leaves."""
        ip("netns", "exec", self.switch, "ip", "link", "set", f"port{i}", "down")

    def close(self):
        """Remove every namespace of this run (killing what runs in them)."""
        for name in [*self.names, self.switch]:
            if name in namespaces():
                remove(name)

    def __exit__(self, *exc):
        self.close()
