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
from pdsgd.course import checks, lessons, sync, widgets

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
    print(sync.run_line(f"{r['sync']:8s}", r))
panel
### END SOLUTION

# %% nbgrader={"grade": false, "grade_id": "ex06-1-answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
answer_1 = None  # your answer: True or False: without a straggler, dropping the barrier makes the run faster
### BEGIN SOLUTION
answer_1 = False
### END SOLUTION
checks.check("06.1", answer_1)

# %% nbgrader={"grade": true, "grade_id": "ex06-1-grade", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
checks.grade("06.1", answer_1)  # graded: 1 point

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex06-text-2", "locked": false, "points": 0, "schema_version": 3, "solution": true, "task": false}
# With two equally fast workers, each BSP iteration's wait is only the
# difference between two similar computations plus the crossing itself, so
# there is less to win than with a straggler: compare the waiting shares and
# the samples per second above with those of the notebook's runs. What the
# unsynchronized runs still pay for is in the staleness columns: even
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
two = sync.by_setting(sync.sweep(data, workers=2, train_size=P, settings=("async",)))
four_sweep = sync.sweep(data, workers=4, train_size=P, settings=("async",))
four = sync.by_setting(four_sweep)
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
