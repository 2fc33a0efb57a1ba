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

# %% [markdown] nbgrader={"grade": false, "grade_id": "intro-05", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # Notebook 5: worked answers to the exercises
#
# Each answer runs in under a minute on a 2-core laptop. The numbers are those
# this run printed; the explanations say what to look for in them.

# %% nbgrader={"grade": false, "grade_id": "ex05-setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# %matplotlib inline
from pdsgd import load_dataset, plots
from pdsgd.course import checks, distributed, lessons
from pdsgd.engine.backends.dask import local_cluster

settings = lessons.defaults()
P, epochs = settings["train_size"], settings["epochs"]
data = load_dataset("mnist-5k")
cluster = local_cluster(2)
address = cluster.scheduler_address

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex05-text-1", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 1. Averaging with K = 1
#
# *Run the comparison with K = 1: the averaging line should lie on the BSP
# line in the round plot. Why does it not, exactly, in the time plot?*

# %% nbgrader={"grade": false, "grade_id": "ex05-1-work", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
rows = distributed.compare(data, scheduler=address, workers=2, micro_batch=10,
                           local_steps=(1,), epochs=epochs, lr=0.5, train_size=P)
print(distributed.summary(rows))
plots.plot_rounds_and_time(rows)
### END SOLUTION

# %% nbgrader={"grade": false, "grade_id": "ex05-1-answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
answer_1 = None  # your answer: communication rounds in one epoch with K = 1 (N = 2, b = 10, P)
### BEGIN SOLUTION
answer_1 = distributed.rounds_per_epoch(P, 2, 10)
### END SOLUTION
checks.check("05.1", answer_1, P)

# %% nbgrader={"grade": true, "grade_id": "ex05-1-grade", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
checks.grade("05.1", answer_1, P)  # graded: 1 point

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex05-text-2", "locked": false, "points": 0, "schema_version": 3, "solution": true, "task": false}
# With K = 1 a round of averaging is one BSP iteration: each worker takes one
# step from the same weights, and the average of the two stepped parameter
# vectors is one step with the averaged gradient. So the accuracy after each
# round is the same (to rounding), and the two lines coincide in the round
# plot. Time differs for two reasons: what crosses the network (a BSP worker
# sends its sufficient factors, a few thousand numbers; an averaging worker
# sends its whole parameter vector, about 159,000), and the noise of timing
# two separate runs on a shared machine.

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex05-text-3", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 2. How many rounds per epoch
#
# *With P = 1000, N = 2 and b = 10, how many rounds does an epoch take for
# K = 10, 25, 50 and 100? Why do K = 50 and K = 100 give the same run? Train
# with K = 25 and K = 50 and compare the accuracy with K = 10.*

# %% nbgrader={"grade": false, "grade_id": "ex05-2-work", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
for K in (10, 25, 50, 100):
    print(f"K = {K:3d}: {distributed.rounds_per_epoch(1000, 2, 10, K)} rounds per epoch")
rows = distributed.compare(data, scheduler=address, workers=2, micro_batch=10,
                           local_steps=(10, 25, 50), epochs=epochs, lr=0.5, train_size=P)
print(distributed.summary(rows))
### END SOLUTION

# %% nbgrader={"grade": false, "grade_id": "ex05-2-answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
answer_2 = None  # your answer: {K: rounds per epoch} for K = 10, 25, 50, 100 (P = 1000, N = 2, b = 10)
### BEGIN SOLUTION
answer_2 = {K: distributed.rounds_per_epoch(1000, 2, 10, K) for K in (10, 25, 50, 100)}
### END SOLUTION
checks.check("05.2", answer_2)

# %% nbgrader={"grade": true, "grade_id": "ex05-2-grade", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
checks.grade("05.2", answer_2)  # graded: 1 point

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex05-text-4", "locked": false, "points": 0, "schema_version": 3, "solution": true, "task": false}
# A round takes N x K x b samples. At K = 50 that is 2 x 50 x 10 = 1,000: the
# whole epoch, so each worker runs through its 500 samples alone and the
# parameters are averaged once per epoch (Zinkevich's parallel SGD). K = 100
# asks for more local steps than a worker has samples in the epoch; the
# epoch ends first, so the run is the same as K = 50.
#
# Fewer rounds mean longer stretches in which each worker's replica drifts
# away from the others, following only its own samples; the average of
# replicas that drifted apart is a worse model than the one many small
# averaged steps (BSP) would have reached. What to look for: how much
# accuracy per epoch each K gives up against BSP, against how many fewer
# rounds (and seconds) it needs. At these small sizes the K values may end
# close to one another, all of them below BSP.

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex05-text-5", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 3. A cluster started from the command line
#
# *Start a scheduler and two workers in a terminal (`dask scheduler`, then
# `dask worker tcp://127.0.0.1:8786 --nthreads 1` twice) and pass
# `scheduler="tcp://127.0.0.1:8786"`: what changes in the code? In the
# timings?*

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex05-text-6", "locked": false, "points": 0, "schema_version": 3, "solution": true, "task": false}
# `distributed.command_line_cluster` runs those very commands (on a free port
# rather than 8786, so that it cannot collide with one you started) and stops
# them at the end of the `with` block.

# %% nbgrader={"grade": false, "grade_id": "ex05-3-work", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
cluster.close()
print("the commands:", " ".join(distributed.dask_command()), "scheduler / worker")
with distributed.command_line_cluster(workers=2) as from_terminal:
    rows = distributed.compare(data, scheduler=from_terminal, workers=2, micro_batch=10,
                               local_steps=(10,), epochs=epochs, lr=0.5, train_size=P)
print(distributed.summary(rows))
### END SOLUTION

# %% nbgrader={"grade": false, "grade_id": "ex05-3-answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
answer_3 = None  # your answer: the address to pass as scheduler=
### BEGIN SOLUTION
answer_3 = "tcp://127.0.0.1:8786"
### END SOLUTION
checks.check("05.3", answer_3)

# %% nbgrader={"grade": true, "grade_id": "ex05-3-grade", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
checks.grade("05.3", answer_3)  # graded: 1 point

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex05-text-7", "locked": false, "points": 0, "schema_version": 3, "solution": true, "task": false}
# In the code only the `scheduler=` address changes: pdsgd connects to
# whatever scheduler it is given and uses N of its workers. In the timings,
# little should change: a `LocalCluster` is the same scheduler and worker
# processes talking over TCP on 127.0.0.1; the difference is who starts them,
# and that their start-up is no longer part of your program. On separate
# machines each round would also cross a real network, adding its latency to
# every round, which is where averaging's fewer rounds pay most.
