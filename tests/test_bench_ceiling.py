"""The machine's ceiling: copies of the sequential path at once, which nothing outlives."""

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from engine_helpers import shm_segments, worker_children

from pdsgd.cli import main
from pdsgd.errors import PdsgdError
from pdsgd.study.ceiling import Copies, ceiling

SIZES = (784, 8, 10)


def test_the_ceiling_is_the_copies_combined_rate_over_the_rate_alone():
    assert ceiling(1.0, [1.0, 1.0]) == pytest.approx(2.0)  # two copies, each as fast as alone
    assert ceiling(1.0, [2.0, 2.0]) == pytest.approx(1.0)  # each at half speed: no gain
    assert ceiling(1.0, [1.0, 4.0]) == pytest.approx(1.25)  # one copy starved


def test_copies_run_on_command_and_leave_nothing_behind():
    before = {p.pid for p in worker_children()}
    with Copies("synthetic", 64, SIZES, 2) as copies:
        pids = {p.pid for p in copies.procs}
        assert pids <= {p.pid for p in worker_children()}
        copies.prepare(4)
        both, one = copies.together(3), copies.together(3, count=1)
        assert len(both) == 2 and len(one) == 1 and min(both + one) > 0
    assert not pids & {p.pid for p in worker_children()}
    assert {p.pid for p in worker_children()} <= before


def test_traffic_between_the_cores_leaves_no_shared_memory_behind():
    with Copies("synthetic", 64, SIZES, 2) as copies:
        for shared in (True, False):
            seconds = copies.traffic(SIZES, 50, shared)
            assert len(seconds) == 2 and min(seconds) > 0
    assert not shm_segments()


def test_a_copy_that_dies_is_named_in_one_line():
    with Copies("synthetic", 64, SIZES, 2) as copies:
        copies.prepare(1)
        victim = copies.procs[1]
        os.kill(victim.pid, signal.SIGKILL)
        victim.join(10)
        with pytest.raises(PdsgdError, match=rf"copy \(pid {victim.pid}\) .* died") as error:
            copies.together(1)
        assert "\n" not in str(error.value)


SCRIPT = """
from pdsgd.study.ceiling import Copies
copies = Copies("synthetic", 64, (784, 8, 10), 2)
copies.prepare(1)
print(*(p.pid for p in copies.procs), flush=True)
copies.traffic((784, 8, 10), 10**9, True)  # killed while the copies move a shared block
"""


@pytest.mark.slow
def test_copies_and_their_shared_block_die_with_a_killed_benchmark():
    # No ``if __name__ == "__main__"`` guard in the script: the copies must not need one.
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) == 2
        deadline = time.monotonic() + 30
        while not shm_segments(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert shm_segments(proc.pid), "the traffic's shared block never appeared"
        proc.kill()
        proc.wait(10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(psutil.pid_exists(p) for p in pids):
            time.sleep(0.05)
        alive = [p for p in pids if psutil.pid_exists(p)
                 and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        assert not alive, f"copies {alive} outlived the benchmark"
        while shm_segments(proc.pid) and time.monotonic() < deadline + 5:
            time.sleep(0.05)
        assert not shm_segments(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def test_pdsgd_bench_ceiling_prints_each_b_beside_the_ideal(capsys, tmp_path):
    out = tmp_path / "ceiling.json"
    assert main(["bench", "ceiling", "--dataset", "synthetic", "--samples", "64",
                 "--micro-batch", "1,4", "--repeats", "2", "--copies", "2",
                 "--json", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()  # each row as measured, then the table
    assert lines[-4].startswith("The machine's ceiling: 2 copies")
    assert [line.split()[0] for line in lines[-3:-1]] == ["b=1", "b=4"]
    assert all("ideal 2.00x" in line for line in lines[-3:-1])
    result = json.loads(out.read_text())
    for row in result["rows"]:
        lo, hi = row["ceiling_range"]
        assert 0 < lo <= row["ceiling"] <= hi and row["alone_per_s"] > 0
    traffic = result["traffic"]
    lo, hi = traffic["ratio_range"]
    assert traffic["shared_us"] > 0 and traffic["private_us"] > 0 and lo <= traffic["ratio"] <= hi
    assert "weights between the cores: each of 2 copies writes half of a 200x785 layer" in lines[-1]


def test_one_copy_is_refused_in_one_line(capsys):
    assert main(["bench", "ceiling", "--copies", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "the ceiling needs at least 2 copies" in err and "--copies 2" in err
    assert len(err.splitlines()) == 1


def test_the_notebook_sets_the_engine_beside_the_ceiling_in_words():
    from pdsgd.course.scaling import ceiling_in_words

    top = {"copies": 2, "repeats": 3,
           "rows": [{"micro_batch": 1, "ceiling": 1.9, "ceiling_range": [1.8, 1.95]}]}
    speedups = [{"workers": 2, "micro_batch": 1, "speedup": 0.8},
                {"workers": 2, "micro_batch": 16, "speedup": 1.7},
                {"workers": 4, "micro_batch": 1, "speedup": 0.5}]
    words = ceiling_in_words(top, speedups)
    assert "ran 1.90x as fast as one alone (1.80x-1.95x over 3 rounds)" in words
    assert "the machine itself lost 0.10" in words
    # Without a run at batch N b only the seed's S can be set beside the ceiling, named.
    assert "N = 2 reached the seed's S of 0.80x (against the sequential run at b = 1; no run " \
           "at batch N b here, so no hardware speedup): working together cost it another " \
           "1.10" in words
    # With one, the hardware speedup (the same arithmetic) is compared, S named beside it.
    both = ceiling_in_words(top, [{"workers": 2, "micro_batch": 1, "speedup": 1.4,
                                   "hardware_speedup": 1.1}])
    assert ("N = 2 reached a hardware speedup of 1.10x (against sequential minibatch SGD at "
            "batch 2; the seed's S, against the sequential run at b = 1, was 1.40x): working "
            "together cost it another 0.80") in both
    beaten = ceiling_in_words(top, [{"workers": 2, "micro_batch": 1, "speedup": 2.0}])
    assert "beat the copies by 0.10" in beaten
    assert "N = 2" not in ceiling_in_words(top, [])  # no engine cell at N = cores: no comparison
    assert "One usable core" in ceiling_in_words(None, speedups)
    top["rows"][0]["ceiling"] = 2.09
    assert "the machine lost nothing this time" in ceiling_in_words(top, speedups)
