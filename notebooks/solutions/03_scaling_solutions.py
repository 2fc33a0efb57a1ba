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

# %% [markdown] nbgrader={"grade": false, "grade_id": "intro-03", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # Notebook 3: worked answers to the exercises
#
# Each answer runs in under a minute on a 2-core laptop. The numbers are those
# this run printed; the explanations say what to look for in them.

# %% nbgrader={"grade": false, "grade_id": "ex03-setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# %matplotlib inline

from pdsgd import load_dataset
from pdsgd.course import checks, lessons, scaling, scratch
from pdsgd.machine import usable_cores
from pdsgd.study import analysis, costmodel, experiment

settings = lessons.defaults()
P, repeats = settings["train_size"], settings["repeats"]
cores = usable_cores()
data = load_dataset("mnist-5k")
cache = scratch.scratch_folder("03-solutions")

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex03-text-1", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 1. Micro-batches of 16
#
# *The same grid with `micro_batch=16` in every cell. What happens to the
# seed's S and to the hardware speedup, and to the fitted $f$?*

# %% nbgrader={"grade": false, "grade_id": "ex03-1-work", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
fitted = {}
for b in (1, 16):
    grid = scaling.cells(P, [2], repeats=repeats, epochs=2, micro_batch=b)
    records = experiment.run_grid(grid, data, cache_dir=cache.name, desc=f"b = {b}")
    speedups = analysis.speedup_table(experiment.summarize(records), "processes")
    fitted[b] = costmodel.fit_amdahl(*zip(*[(r["workers"], r["hardware_speedup"])
                                            for r in speedups]))
    for r in speedups:
        print(f"b = {b:2d}, N = {r['workers']}: the seed's S {r['speedup']:.2f} "
              f"({r['speedup_lo']:.2f} to {r['speedup_hi']:.2f}) against sequential at b = {b}; "
              f"hardware speedup {r['hardware_speedup']:.2f} ({r['hardware_speedup_lo']:.2f} to "
              f"{r['hardware_speedup_hi']:.2f}) against sequential at batch "
              f"{r['workers'] * b}; f fitted to the hardware speedup = {fitted[b]:.2f}")
### END SOLUTION

# %% nbgrader={"grade": false, "grade_id": "ex03-1-answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
answer_1 = None  # your answer: {b: barrier crossings in one epoch} at N = 2, for b = 1 and 16
### BEGIN SOLUTION
answer_1 = {b: -(-P // (2 * b)) for b in (1, 16)}
### END SOLUTION
checks.check("03.1", answer_1, P)

# %% nbgrader={"grade": true, "grade_id": "ex03-1-grade", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
checks.grade("03.1", answer_1, P)  # graded: 1 point

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex03-text-2", "locked": false, "points": 0, "schema_version": 3, "solution": true, "task": false}
# Between two barriers a worker now does 16 samples' work, as one matrix
# product per layer, while the cost of crossing the barrier and applying the
# update stays about what it was per iteration: the synchronisation is spread
# over 16 times more work. Read both speedups. The seed's S divides the
# sequential run at the same b; the hardware speedup divides sequential
# minibatch SGD at batch N b (batch 2 at b = 1, batch 32 at b = 16), the same
# arithmetic on one core, so only it says what the second core bought, and
# $f$ is fitted to it. Where S is above the hardware speedup, the difference
# is one core's own gain from the larger batch N b over b, not the cores':
# compare that gap at b = 1 and at b = 16.

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex03-text-3", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 2. Where the time goes past the cores
#
# *In the time-budget table, which columns grow from N = 2 to N = 4 on this
# 2-core machine, and why?*

# %% nbgrader={"grade": false, "grade_id": "ex03-2-work", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
grid = scaling.cells(P, [2, 4], repeats=repeats, epochs=2)
records = experiment.run_grid(grid, data, cache_dir=cache.name, desc="N = 2 and 4")
print(f"this machine has {cores} cores")
scaling.iteration_budget(records)
### END SOLUTION

# %% nbgrader={"grade": false, "grade_id": "ex03-2-answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
answer_2 = None  # your answer: the name of the time-budget column that grows most from N = 2 to N = 4
### BEGIN SOLUTION
answer_2 = "barrier wait"
### END SOLUTION
checks.check("03.2", answer_2)

# %% nbgrader={"grade": true, "grade_id": "ex03-2-grade", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
checks.grade("03.2", answer_2)  # graded: 1 point

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex03-text-4", "locked": false, "points": 0, "schema_version": 3, "solution": true, "task": false}
# When N exceeds the cores (N = 4 on a 2-core machine; this one has
# as many cores as printed above), some workers are not running at any moment.
# The engine then switches to the seed's central aggregation (the broker applies
# the update once; each extra replica would add a whole update to the cores'
# work), so the workers' wait now contains the broker's update; and a worker
# that has finished its sample waits for one that has not even been
# scheduled. Look for the barrier-wait column to grow many times over, far
# more than the compute column (which grows a little too: workers that share
# a core also share its caches): the iteration is longer mostly by the time
# workers spend waiting for one that has no core, not by more work.

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex03-text-5", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 3. Logarithmic or Amdahl?
#
# *Fit `costmodel.fit_log` to your speedups. Is a logarithm a good
# description, or does Amdahl's curve fit better (compare with
# `costmodel.r_squared`)?*

# %% nbgrader={"grade": false, "grade_id": "ex03-3-work", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
speedups = analysis.speedup_table(experiment.summarize(records), "processes")
n = [1] + [r["workers"] for r in speedups]
s = [1.0] + [r["speedup"] for r in speedups]
slope, r2_log = costmodel.fit_log(n, s)
f = costmodel.fit_amdahl(n, s)
r2_amdahl = costmodel.r_squared(s, [costmodel.amdahl_speedup(k, f) for k in n])
print(f"log fit: S = 1 + {slope:.2f} log2 N, R^2 = {r2_log:.2f}")
print(f"Amdahl:  f = {f:.2f}, R^2 = {r2_amdahl:.2f}")
### END SOLUTION

# %% nbgrader={"grade": false, "grade_id": "ex03-3-answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
answer_3 = None  # your answer: "amdahl" or "log": which describes your speedups better
### BEGIN SOLUTION
answer_3 = "amdahl" if r2_amdahl >= r2_log else "log"
### END SOLUTION
checks.check("03.3", answer_3, n, s)

# %% nbgrader={"grade": true, "grade_id": "ex03-3-grade", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
checks.grade("03.3", answer_3, n, s)  # graded: 1 point

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex03-text-6", "locked": false, "points": 0, "schema_version": 3, "solution": true, "task": false}
# R^2 is 1 for a perfect fit, 0 for a fit no better than the mean of the
# points, and negative for a worse one. Amdahl's curve can never fall below 1
# nor go down as N grows, so where the measured speedup falls past the cores
# (N = 4 on 2 cores), its R^2 is poor or negative. A logarithm can follow a
# falling curve, but only with a negative slope: look at the slope's sign
# before calling the growth "logarithmic", the seed's claim. Neither formula
# has a term for workers outnumbering cores; the cost model's
# $\lceil N/C \rceil$ and synchronisation terms do. On a machine with a core
# per worker, the seed's "nearly logarithmic" growth is what a curve
# flattening towards Amdahl's limit looks like against a log axis.
