"""The class cluster over real network links: hosts as network namespaces (root only).

One lab serves the module: a teacher's host with ``pdsgd cluster serve`` and
three student hosts with ``pdsgd cluster join``, over the "lan" profile, TLS
with the lab's bundle. Training runs on the teacher's host through the
command line, as a class would, and is compared with the serial backend's
weights computed here. Where namespaces cannot be made, every test skips with
the reason.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import psutil
import pytest

from pdsgd.netlab import hosts

WHY = hosts.unavailable()
needs_namespaces = pytest.mark.skipif(WHY is not None, reason=str(WHY))
#: A small problem: the tests are about the network, not the arithmetic.
PROBLEM = ["--dataset", "synthetic", "--input-nodes", "784", "--hidden", "16", "--lr", "0.5",
           "--quiet"]


def machine_links():
    """The network interfaces of the machine's own namespace, by name."""
    return set(psutil.net_if_addrs())


@pytest.fixture(autouse=True, scope="module")
def nothing_of_the_lab_left():
    """After the module: no namespace of this process, no new interface on the machine."""
    links = machine_links()
    yield
    if WHY is None:
        mine = f"{hosts.PREFIX}{os.getpid()}-"
        assert [n for n in hosts.namespaces() if n.startswith(mine)] == []
        assert machine_links() <= links


@pytest.fixture(scope="module")
def lab():
    from pdsgd.netlab.lab import Lab

    with Lab(3, "lan", worker_ttl=5.0) as lab:
        yield lab
    assert [n for n in hosts.namespaces() if n.startswith(lab.hosts.tag)] == []


def train_here(tmp_path, name, *args):
    """``pdsgd train ARGS`` with the serial backend, on this host; the final weights."""
    out = tmp_path / name
    done = subprocess.run([sys.executable, "-m", "pdsgd", "train", *PROBLEM, *args,
                           "--backend", "serial", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return np.load(out / "model.npz")["params"]


def dask_args(lab, out, *args):
    return ["pdsgd", "train", *PROBLEM, *args, "--backend", "dask", "--scheduler",
            lab.scheduler, "--bundle", str(lab.bundle), "--out", str(out)]


@needs_namespaces
def test_three_hosts_over_lan_give_the_serial_weights(lab, tmp_path):
    args = ["--train-size", "60", "--epochs", "2", "--workers", "3", "--micro-batch", "2"]
    expected = train_here(tmp_path, "serial", *args)
    done = lab.run(dask_args(lab, tmp_path / "dask", *args), timeout=120)
    assert done.returncode == 0, done.stderr
    got = np.load(tmp_path / "dask" / "model.npz")["params"]
    assert not np.allclose(got, 0)
    assert np.array_equal(got, expected)


def one_line_refusal(done):
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pdsgd: error: "), done.stderr
    return lines[0]


@needs_namespaces
def test_a_worker_without_the_bundle_is_refused(lab, tmp_path):
    from pdsgd.engine.security import make_bundle

    join = ["pdsgd", "cluster", "join", "--timeout", "3", "--cores", "1"]
    line = one_line_refusal(lab.run([*join, lab.scheduler], timeout=60, host=1))
    assert "--bundle" in line
    # Without TLS at all, and with another class's bundle: the scheduler refuses.
    plain = lab.scheduler.replace("tls://", "tcp://")
    assert "cannot join" in one_line_refusal(lab.run([*join, plain], timeout=60, host=1))
    other = make_bundle(tmp_path / "other.pem")
    line = one_line_refusal(lab.run([*join, lab.scheduler, "--bundle", str(other)],
                                    timeout=60, host=1))
    assert "cannot join" in line


@needs_namespaces
def test_a_client_without_the_bundle_is_refused(lab, tmp_path):
    from pdsgd.engine.security import make_bundle

    args = dask_args(lab, tmp_path / "out", "--train-size", "12", "--epochs", "1",
                     "--workers", "2", "--timeout", "3")
    no_bundle = args[:args.index("--bundle")] + args[args.index("--bundle") + 2:]
    assert "--bundle" in one_line_refusal(lab.run(no_bundle, timeout=60))
    other = list(args)
    other[other.index("--bundle") + 1] = str(make_bundle(tmp_path / "other.pem"))
    assert "cannot reach" in one_line_refusal(lab.run(other, timeout=60))
    plain = [a.replace("tls://", "tcp://") for a in no_bundle]
    assert "cannot reach" in one_line_refusal(lab.run(plain, timeout=60))
    assert not (tmp_path / "out").exists()


def start_and_wait_for_rounds(lab, args):
    """Start a run on the teacher's host, return once its first epoch's rounds have begun.

    Returns the process and a function that gives what it has said on stderr so far.
    """
    run = lab.start([a for a in args if a != "--quiet"])  # its progress bar says when
    said, rounds = [], threading.Event()

    def watch():
        while chunk := run.stderr.read(1):
            said.append(chunk)
            if "epoch 1/" in "".join(said[-100:]):
                rounds.set()

    threading.Thread(target=watch, daemon=True).start()
    assert rounds.wait(60), "".join(said)
    time.sleep(1.0)
    assert run.poll() is None, "the run ended too soon: make it longer"
    return run, lambda: "".join(said)


@needs_namespaces
def test_a_host_whose_cable_is_pulled_costs_time_not_weights(lab, tmp_path):
    # Two workers on three hosts: the tasks go to hosts 1 and 2 (the first
    # addresses); pulling host 1's cable mid-run leaves host 3 to take over once
    # the scheduler has given host 1 up (its connection fails, or --worker-ttl 5 s).
    args = ["--train-size", "400", "--epochs", "2", "--workers", "2", "--timeout", "60"]
    expected = train_here(tmp_path, "serial", *args)
    run, said = start_and_wait_for_rounds(lab, dask_args(lab, tmp_path / "dask", *args))
    lab.cut(1)
    assert run.wait(timeout=120) == 0, said()
    got = np.load(tmp_path / "dask" / "model.npz")["params"]
    assert np.array_equal(got, expected)


@needs_namespaces
def test_a_partitioned_scheduler_ends_the_run_in_one_line(lab, tmp_path):
    # Last of the lab's tests: the teacher's cable is pulled for good. The
    # broker (on the teacher's host) still reaches the scheduler, which reaches
    # no worker: no round finishes, and the run stops with one line, within
    # --timeout of the round's start, closing the client included (the goodbye
    # to the workers once waited seconds more on the network).
    args = dask_args(lab, tmp_path / "out", "--train-size", "2000", "--epochs", "3",
                     "--workers", "2", "--timeout", "5")
    run, said = start_and_wait_for_rounds(lab, args)
    lab.cut(0)
    cut = time.monotonic()
    assert run.wait(timeout=120) == 2, said()
    took = time.monotonic() - cut
    time.sleep(0.2)  # the reader's last bytes
    last = said().strip().splitlines()[-1]
    assert last.startswith("pdsgd: error: ") and "--timeout 5 s" in last, said()
    # The round began before the cut, so the run ends within 5 s of the cut; the
    # second more is the bound: the process's own end on a busy machine.
    assert took < 5 + 1, f"the run took {took:.1f} s to stop after the partition"
    assert not (tmp_path / "out").exists()


@needs_namespaces
def test_ctrl_c_of_the_bench_removes_its_lab():
    bench = subprocess.Popen([sys.executable, "-m", "pdsgd", "bench", "network", "--profiles",
                              "lan"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tag = f"{hosts.PREFIX}{bench.pid}-"
    deadline = time.monotonic() + 180  # its accuracy curves come first: slow on a busy machine
    while len([n for n in hosts.namespaces() if n.startswith(tag)]) < 5:
        assert bench.poll() is None, bench.stderr.read()
        assert time.monotonic() < deadline, "the bench made no lab within 180 s"
        time.sleep(0.2)
    time.sleep(2.0)  # the scheduler and workers starting, or started
    bench.send_signal(signal.SIGINT)
    out, err = bench.communicate(timeout=60)
    assert bench.returncode == 130 and err.strip() == "pdsgd: interrupted", err
    assert [n for n in hosts.namespaces() if n.startswith(tag)] == []


@needs_namespaces
def test_a_killed_lab_is_swept_by_the_next(tmp_path):
    # A child builds a lab and is killed with SIGKILL: its processes die with it
    # (PR_SET_PDEATHSIG), its namespaces stay until the next lab sweeps them.
    script = ("from pdsgd.netlab.lab import Lab\n"
              "import time\n"
              "with Lab(1, 'wifi'):\n"
              "    print('up', flush=True)\n"
              "    time.sleep(600)\n")
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "up"
        lab_processes = psutil.Process(child.pid).children()
        tag = f"{hosts.PREFIX}{child.pid}-"
        assert len([n for n in hosts.namespaces() if n.startswith(tag)]) == 3
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
    assert psutil.wait_procs(lab_processes, timeout=10)[1] == []
    swept = hosts.sweep()
    assert len([n for n in swept if n.startswith(tag)]) == 3
    assert [n for n in hosts.namespaces() if n.startswith(tag)] == []


@needs_namespaces
def test_every_link_the_teachers_too_is_delayed_as_the_cost_model_counts():
    # A message between two hosts crosses the sender's link and the receiver's:
    # the round trip the cost model counts per crossing is 4 x the profile's delay,
    # between the teacher and a student and between two students alike. The lab is
    # built in a child: names carry the pid, and the module's lab holds this one's.
    from pdsgd.netlab.lab import PROFILES

    expected = PROFILES["wan"].round_trip
    assert expected == pytest.approx(4 * PROFILES["wan"].delay)
    script = ("import json\n"
              "from pdsgd.netlab.lab import PORT, Lab\n"
              "with Lab(2, 'wan') as lab:\n"
              "    paths = {'teacher to student 1': (0, lab.worker(1)),\n"
              "             'student 1 to teacher': (1, f'tls://127.0.0.1:{PORT}'),\n"
              "             'student 2 to student 1': (2, lab.worker(1))}\n"
              "    took = {}\n"
              "    for what, (host, address) in paths.items():\n"
              "        done = lab.run(['pdsgd.netlab.ping', address, str(lab.bundle), '9'],\n"
              "                       timeout=60, host=host)\n"
              "        assert done.returncode == 0, done.stderr\n"
              "        took[what] = float(done.stdout.split()[-1])\n"
              "print(json.dumps(took))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr
    for what, took in json.loads(done.stdout.splitlines()[-1]).items():
        # The fastest of 9: the relay's timer may fire a hair early, and a busy
        # machine adds to a round trip, never takes from it.
        assert 0.95 * expected <= took < 1.5 * expected, \
            f"{what}: a round trip of {1e3 * took:.1f} ms, the model's {1e3 * expected:g} ms"


def test_the_prediction_is_the_bare_round_plus_bytes_over_bandwidth_plus_round_trips():
    from pdsgd.netlab import costs as network

    measured = [{"profile": profile, "name": "bsp", "algorithm": "bsp", "local_steps": 1,
                 "seconds_per_round": seconds, "samples_per_second": 3 / seconds}
                for profile, seconds in (("bare", 0.01), ("wan", 3.0))]
    result = network.predict({"hosts": 3, "micro_batch": 1, "sizes": [784, 200, 10],
                              "profiles": {}, "rows": measured})
    wan = result["rows"][1]
    # 3 workers' sufficient factors (3 x 1,194 numbers) and the new weights once
    # (159,010), 8 bytes each, at 10 Mbit/s; two crossings of a round trip through
    # both ends' links, 15 ms each, both ways: 60 ms.
    numbers = 3 * (784 + 200 + 200 + 10) + 159_010
    assert wan["predicted_bytes_per_round"] == 8 * numbers
    expected = 0.01 + 8 * numbers * 8 / 10e6 + 2 * 0.060
    assert wan["predicted_seconds_per_round"] == pytest.approx(expected)
    assert wan["predicted_samples_per_second"] == pytest.approx(3 / expected)
    assert wan["copied_bytes_per_round"] == 8 * (numbers + 2 * 159_010)
    assert result["rows"][0]["predicted_seconds_per_round"] == pytest.approx(0.01)


@pytest.mark.parametrize("argv, says", [
    (["cluster", "join", "tls://10.77.0.1:8786"], "--bundle FILE"),
    (["cluster", "join", "tcp://127.0.0.1:1", "--bundle", "missing.pem"], "tls://"),
    (["train", "--dataset", "synthetic", "--quiet", "--backend", "dask", "--scheduler",
      "tls://10.77.0.1:8786", "--bundle", "missing.pem"], "cannot read it"),
    (["bench", "network", "--profiles", "lan,moon"], "no network profile 'moon'"),
    (["cluster", "join", "tcp://127.0.0.1:1", "--listen", "tcp://127.0.0.1"], "--listen"),
])
def test_bad_cluster_input_is_one_line(argv, says, capsys, tmp_path, monkeypatch):
    from pdsgd.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pdsgd: error: ") and says in err[0], err


def kept_section(monkeypatch, why, live):
    """The report's network section, namespaces made available (why None) or not."""
    from pdsgd.netlab import costs
    from pdsgd.study import network_report

    kept = costs.load(costs.KEPT)
    measured = {**kept, "rows": [{**row, "samples_per_second": 2 * row["samples_per_second"]}
                                 for row in kept["rows"]]}
    monkeypatch.setattr(hosts, "unavailable", lambda: why)
    monkeypatch.setattr(costs, "run", lambda *a, **k: measured)
    network = network_report.network_study(live=live)
    return network, network_report.network_section({"network": network}), kept


def test_the_report_says_in_one_line_that_it_shows_the_kept_network_run(monkeypatch):
    why = "the network lab needs root to make network namespaces (run it as root)"
    network, section, kept = kept_section(monkeypatch, why, live=True)
    assert network["source"] == "kept" and network["result"] == kept
    text = "\n\n".join(section)
    assert section[0].startswith("## Over a network")
    lines = [line for line in text.splitlines() if why in line]
    assert lines == [f"Not measured here: {why}; the table is the run kept with the course "
                     "(`notebooks/figures/network.json`)."]
    # Every kept row, its measurement beside both predictions and how far they differ.
    for row in kept["rows"]:
        ratio = row["samples_per_second"] / row["predicted_samples_per_second"]
        cells = (f"| {row['name']} | {row['samples_per_second']:,.1f} | "
                 f"{row['predicted_samples_per_second']:,.1f} | {ratio:.2f}x | "
                 f"{row['copied_samples_per_second']:,.1f} |")
        assert cells in text, cells
    for name in kept["profiles"]:
        ratios = [r["samples_per_second"] / r["predicted_samples_per_second"]
                  for r in kept["rows"] if r["profile"] == name]
        assert f"- **{name}** (" in text and f"measured / predicted {min(ratios):.2f}x" in text
    assert "What to take away" in text


def test_the_report_shows_a_live_network_run_where_a_profile_asks_for_one(monkeypatch):
    network, section, kept = kept_section(monkeypatch, None, live=True)
    assert network["source"] == "live" and network["result"] != kept
    assert "Measured in this run" in section[1]
    network, section, _ = kept_section(monkeypatch, None, live=False)
    assert network["source"] == "kept" and "run kept with the course" in section[1]
