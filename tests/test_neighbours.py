"""The adaptive barrier, and the benchmark that runs the engine beside busy programs."""

import threading
import time

import numpy as np
import pytest

from pdsgd.cli import main
from pdsgd.engine.barrier import FAST_STREAK, CyclicBarrier


def _pair(spin, adaptive=True):
    arrive, sleeping, flags = np.zeros(2, np.int64), np.zeros(2, np.int64), np.zeros(4, np.int64)
    stamps, sems = np.zeros((2, 4)), [threading.Semaphore(0) for _ in range(2)]
    return [CyclicBarrier(arrive, sleeping, flags, sems, p, spin=spin, timeout=10,
                          stamps=stamps, adaptive=adaptive) for p in (0, 1)]


@pytest.mark.parametrize("adaptive", [True, False])
def test_a_slow_crossing_makes_a_party_block_and_fast_ones_make_it_spin_again(adaptive):
    spin = 0.05
    first, late = _pair(spin, adaptive)
    delays = [0.2] + [0.002] * (FAST_STREAK + 1)  # late once, then just behind
    thread = threading.Thread(target=lambda: [time.sleep(d) or late.wait() for d in delays])
    thread.start()
    budgets = []
    for _ in delays:
        first.wait()
        budgets.append(first._budget)
    thread.join(10)
    if not adaptive:  # the old barrier always spins first
        assert budgets == [spin] * len(delays)
        return
    # Blocks at once after the slow crossing, until FAST_STREAK fast ones in a row.
    assert budgets == [0.0] * FAST_STREAK + [spin] * 2
    assert first.blocked == len(delays) - 1 and first.spun == 1


def test_a_party_that_woke_late_but_then_ran_is_not_taken_for_late():
    # Once parties block, each crossing's wake-up delays the woken one's next
    # arrival. The rule must not read that as "not running" (it kept the
    # engine blocking after every pause on a virtual machine, 0.4 ms a wake-up).
    spin, woke, work, n = 0.02, 0.06, 0.005, FAST_STREAK + 2
    first, other = _pair(spin)

    def woken_late():
        for _ in range(n):
            other.wait()
            time.sleep(woke)  # still waking up: not setting off yet
            other.resume()
            time.sleep(work)

    thread = threading.Thread(target=woken_late)
    thread.start()
    first.wait()  # both set off together
    for _ in range(n - 1):
        time.sleep(work)
        first.wait()  # waits ~woke > spin for the other, every time
    thread.join(10)
    assert first.blocked >= n - 2  # it did wait past its spin time...
    assert first._fast >= n - 1 and first._budget == spin  # ...and learnt the other ran


@pytest.mark.slow
def test_bench_neighbours_measures_and_stops_its_neighbours(capsys):
    assert main(["bench", "neighbours", "--samples", "256", "--repeats", "1",
                 "--neighbours", "0,1"]) == 0
    out = capsys.readouterr().out.splitlines()
    header = out.index(next(line for line in out if line.startswith("neighbours")))
    rows = [line.split() for line in out[header + 1:]]
    assert [r[0] for r in rows] == ["0", "1"]
    assert all(r[-1].endswith("x") for r in rows)
    # The neighbour processes it started are gone: the suite's leak check verifies it.
