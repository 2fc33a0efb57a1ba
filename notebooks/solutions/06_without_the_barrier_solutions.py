# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown] nbgrader={"grade": false, "grade_id": "intro-06", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # Notebook 6: worked answers to the exercises
#
# Each answer runs in seconds on a 2-core laptop. The numbers are those this
# run printed; the explanations say what to look for in them.

# %% nbgrader={"grade": false, "grade_id": "ex06-setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# %matplotlib inline
from pdsgd import load_dataset, plots
from pdsgd.course import checks, lessons, widgets, without_barrier

data = load_dataset("mnist-5k")
P = lessons.defaults()["train_size"]

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex06-text-1", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 1. Without a straggler
#
# *In the panel, set `extra ms per iteration` to 0 (no straggler) and run
# `bsp`, `ssp` with s = 4 and `async`. What does dropping the barrier buy
# when nobody is slow?*

# %% nbgrader={"grade": false, "grade_id": "ex06-1-work", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
panel = widgets.StragglerPanel(data, delay_ms=0.0, train_size=P, staleness=4)
for choice in ("bsp", "ssp", "async"):
    panel.sync.value = choice
    panel.run()
    r = panel.runs[-1]
    print(without_barrier.run_line(f"{r['sync']:8s}", r))
panel
### END SOLUTION

# %% nbgrader={"grade": false, "grade_id": "ex06-1-answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
answer_1 = None  # your answer: True or False: without a straggler, on threads, dropping the barrier makes the run faster
### BEGIN SOLUTION
answer_1 = False
### END SOLUTION
checks.check("06.1", answer_1)

# %% nbgrader={"grade": true, "grade_id": "ex06-1-grade", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
checks.grade("06.1", answer_1)  # graded: 1 point

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex06-text-2", "locked": false, "points": 0, "schema_version": 3, "solution": true, "task": false}
# Compare the samples per second of the three rows: without a straggler,
# dropping the barrier does not make the run faster, and on the panel's
# `threads` it is usually slower: BSP's row is the fastest of the three (on a
# busy machine two close rows can swap; run the cell again). Why: with two
# equally fast workers, a BSP iteration's wait is only the difference between
# two similar computations plus one crossing, so there is little waiting to
# win back, while SSP and async pay for their freedom in every update. BSP
# applies an iteration's N gradients as one summed update: after one crossing,
# each worker adds them to its replica in one matrix product, which reads and
# writes every weight once. SSP and async apply each gradient on its own, in
# the order of a shared log that every gradient enters under a lock: each
# replica reads and writes every weight once per gradient, and at batch 1 that
# memory traffic, not the arithmetic, sets the pace (notebook 1). On threads
# these many small updates also queue for the GIL, which one large BLAS call
# releases for its whole length. Choose `processes` in the panel's `backend`
# drop-down and run the three again: without the GIL the gap shrinks, and the
# unsynchronized rows may come out ahead. What they buy is shown by the
# straggler of the notebook; what they lose is in the staleness columns: even
# without a straggler, a gradient may land after its partner's, so some
# gradients are stale, and the weights depend on the timing.

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex06-text-3", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 2. Four workers on two cores
#
# *Run the sweep with four workers on this 2-core machine and draw its
# staleness histogram. How does the staleness of `async` change against two
# workers, and why?*

# %% nbgrader={"grade": false, "grade_id": "ex06-2-work", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
two = without_barrier.by_setting(without_barrier.sweep(data, workers=2, train_size=P, settings=("async",)))
four_sweep = without_barrier.sweep(data, workers=4, train_size=P, settings=("async",))
four = without_barrier.by_setting(four_sweep)
for n, rows in ((2, two), (4, four)):
    print(f"N = {n}: async staleness mean {rows['async']['staleness_mean']:.2f}, max "
          f"{rows['async']['staleness_max']}; {rows['async']['vs_bsp']:.2f}x BSP's samples/s")
plots.plot_staleness({f"async, N = {n}": rows["async"]["staleness"]
                      for n, rows in ((2, two), (4, four))})
### END SOLUTION

# %% nbgrader={"grade": false, "grade_id": "ex06-2-answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
answer_2 = None  # your answer: "grows" or "shrinks": async staleness with 4 workers against 2
### BEGIN SOLUTION
answer_2 = "grows" if four["async"]["staleness_mean"] > two["async"]["staleness_mean"] else "shrinks"
### END SOLUTION
checks.check("06.2", answer_2)

# %% nbgrader={"grade": true, "grade_id": "ex06-2-grade", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
checks.grade("06.2", answer_2)  # graded: 1 point

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex06-text-4", "locked": false, "points": 0, "schema_version": 3, "solution": true, "task": false}
# With N workers, N - 1 others can land an update between a worker's read and
# its own update even when all run at the same pace, so the staleness grows
# with N; on two cores, four workers also take turns on the cores, and a
# worker that waits for a core while the others run sees their updates pile
# up: the tail of the histogram stretches. Compare the printed means and
# maxima: the larger N should show the wider histogram, and how much wider
# depends on how the operating system shared the cores in this run.
