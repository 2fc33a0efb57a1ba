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

# %% [markdown]
# # Notebook 5: worked answers to the exercises
#
# Each answer runs in under a minute on a 2-core laptop. The numbers are those
# this run printed; the explanations say what to look for in them.

# %%
# %matplotlib inline
from pdsgd import load_dataset, plots
from pdsgd.course import distributed, lessons
from pdsgd.engine.backends.dask import local_cluster

settings = lessons.defaults()
P, epochs = settings["train_size"], settings["epochs"]
data = load_dataset("mnist-5k")
cluster = local_cluster(2)
address = cluster.scheduler_address

# %% [markdown]
# ## 1. Averaging with K = 1
#
# *Run the comparison with K = 1: the averaging line should lie on the BSP
# line in the round plot. Why does it not, exactly, in the time plot?*

# %%
rows = distributed.compare(data, scheduler=address, workers=2, micro_batch=10,
                           local_steps=(1,), epochs=epochs, lr=0.5, train_size=P)
print(distributed.summary(rows))
plots.plot_rounds_and_time(rows)

# %% [markdown]
# With K = 1 a round of averaging is one BSP iteration: each worker takes one
# step from the same weights, and the average of the two stepped parameter
# vectors is one step with the averaged gradient. So the accuracy after each
# round is the same (to rounding), and the two lines coincide in the round
# plot. Time differs for two reasons: what crosses the network (a BSP worker
# sends its sufficient factors, a few thousand numbers; an averaging worker
# sends its whole parameter vector, about 159,000), and the noise of timing
# two separate runs on a shared machine.
#
# ## 2. How many rounds per epoch
#
# *With P = 1000, N = 2 and b = 10, how many rounds does an epoch take for
# K = 10, 25, 50 and 100? Why do K = 50 and K = 100 give the same run? Train
# with K = 25 and K = 50 and compare the accuracy with K = 10.*

# %%
for K in (10, 25, 50, 100):
    print(f"K = {K:3d}: {distributed.rounds_per_epoch(1000, 2, 10, K)} rounds per epoch")
rows = distributed.compare(data, scheduler=address, workers=2, micro_batch=10,
                           local_steps=(10, 25, 50), epochs=epochs, lr=0.5, train_size=P)
print(distributed.summary(rows))

# %% [markdown]
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
#
# ## 3. A cluster started from the command line
#
# *Start a scheduler and two workers in a terminal (`dask scheduler`, then
# `dask worker tcp://127.0.0.1:8786 --nthreads 1` twice) and pass
# `scheduler="tcp://127.0.0.1:8786"`: what changes in the code? In the
# timings?*
#
# `distributed.command_line_cluster` runs those very commands (on a free port
# rather than 8786, so that it cannot collide with one you started) and stops
# them at the end of the `with` block.

# %%
cluster.close()
print("the commands:", " ".join(distributed.dask_command()), "scheduler / worker")
with distributed.command_line_cluster(workers=2) as from_terminal:
    rows = distributed.compare(data, scheduler=from_terminal, workers=2, micro_batch=10,
                               local_steps=(10,), epochs=epochs, lr=0.5, train_size=P)
print(distributed.summary(rows))

# %% [markdown]
# In the code only the `scheduler=` address changes: pdsgd connects to
# whatever scheduler it is given and uses N of its workers. In the timings,
# little should change: a `LocalCluster` is the same scheduler and worker
# processes talking over TCP on 127.0.0.1; the difference is who starts them,
# and that their start-up is no longer part of your program. On separate
# machines each round would also cross a real network, adding its latency to
# every round, which is where averaging's fewer rounds pay most.
