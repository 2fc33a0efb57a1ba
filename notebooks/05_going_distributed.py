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
# # 5. Going distributed
#
# One machine has few cores. Past it, workers live on other machines, and
# every exchange of weights crosses a network: milliseconds, not microseconds.
# pdsgd runs the same rounds on [dask.distributed](https://distributed.dask.org),
# here on a `LocalCluster` (worker processes on this machine, talking over
# TCP on 127.0.0.1, exactly as they would between machines).
#
# **You will learn**
#
# * how the `dask` backend runs a BSP round as N futures, and that it gives
#   the very weights of the serial backend;
# * Algorithm 1 of the report the seed cites (parameter averaging): K local
#   SGD steps per worker, then the parameters are averaged;
# * why averaging needs far fewer communication rounds than BSP, and what
#   that does to accuracy against wall time when a round is expensive.

# %%
# %matplotlib inline
import numpy as np

from pdsgd import load_dataset, plots, train
from pdsgd.course import distributed, lessons
from pdsgd.engine.backends.dask import local_cluster

settings = lessons.defaults()
P, epochs = settings["train_size"], settings["epochs"]
data = load_dataset("mnist-5k")
cluster = local_cluster(2)  # two worker processes; close it at the end
address = cluster.scheduler_address
print(f"P = {P}, {epochs} epochs; Dask scheduler at {address}")

# %% [markdown]
# ## A round as futures
#
# Each round the broker scatters the weights to the N Dask workers, submits N
# tasks (task i pinned to worker i; each runs the same `Worker.compute` as the
# other backends) and gathers their results: the gather is the barrier. The
# training data were scattered once, at the start. The aggregator then updates
# the parent in worker order, so the weights are those of the serial backend,
# bit for bit:

# %%
run = dict(hidden=(50,), epochs=1, lr=0.5, workers=2, micro_batch=10, train_size=100)
on_dask = train(data, backend="dask", scheduler=address, **run)
on_serial = train(data, backend="serial", **run)
print("same weights as serial:", np.array_equal(on_dask.model.params, on_serial.model.params))

# %% [markdown]
# ## BSP against parameter averaging
#
# BSP (the seed's algorithm) averages N gradients every iteration: one round
# per `N * b` samples. Parameter averaging (`algorithm="average"`) lets each
# worker take K plain SGD steps on its own samples first, so a round carries
# `N * K * b` samples. With K = 1 it is BSP again (the tests check it). The
# runs below use the same N = 2, b = 10 and learning rate.

# %%
rows = distributed.compare(data, scheduler=address, workers=2, micro_batch=10,
                           local_steps=(10, 50), epochs=epochs, lr=0.5, train_size=P)
print(distributed.summary(rows))

# %%
plots.plot_rounds_and_time(rows)

# %% [markdown]
# ## Why so few rounds suffice
#
# On the left, per round, averaging gets much further: each of its rounds
# holds K steps of every worker, where a BSP round holds one. On the right,
# per second, the gap depends on what a round costs. Here a Dask round costs
# tens of milliseconds (scatter, scheduling, gather; `pdsgd bench dask`
# measures it), far more than one step's computation, so BSP spends most of
# its time communicating, while averaging pays that cost once per K steps.
#
# The price: the workers' replicas drift apart during the K local steps, and
# averaging parameters is not averaging gradients. For a convex loss
# Zinkevich et al. (2010) show the average still converges; for a network it
# usually works for moderate K, and accuracy per *sample* can be lower than
# BSP's. Compare the final accuracies above.

# %%
cluster.close()

# %% [markdown]
# ## Exercises
#
# 1. Run the comparison with K = 1: the averaging line should lie on the BSP line in the round plot. Why does it not, exactly, in the time plot?
# 2. Raise K to 200 with P = 1000. How many rounds are left per epoch, and what happens to accuracy? Explain with the drift of the replicas.
# 3. Start a scheduler and two workers in a terminal (`dask scheduler`, then `dask worker tcp://127.0.0.1:8786` twice) and pass `scheduler="tcp://127.0.0.1:8786"`: what changes in the code? In the timings?
