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
# every exchange of weights crosses a network, which costs far more than a
# barrier between two cores (this notebook measures how much). pdsgd runs the
# same rounds on [dask.distributed](https://distributed.dask.org),
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
# per second, the gap depends on what a round costs. The next cell measures
# it: BSP's time per round on Dask, against the same rounds on the serial
# backend, where the workers' computation and the aggregation are all there
# is (no scatter, no scheduling, no gather).

# %%
bsp = rows[0]
on_dask = bsp["seconds"][-1] / bsp["rounds"][-1]
same_on_serial = train(data, backend="serial", workers=2, micro_batch=10, lr=0.5,
                       epochs=epochs, train_size=P, trace=False)
computing = same_on_serial.train_seconds / bsp["rounds"][-1]
print(f"a BSP round on Dask: {on_dask * 1e3:.1f} ms; its computation alone: "
      f"{computing * 1e3:.2f} ms; the rest, {(on_dask - computing) / on_dask:.0%} of the "
      f"round, is communication and scheduling")

# %% [markdown]
# Where a round's communication outweighs its computation, as it does when
# the last percentage above is large, BSP spends most of its time
# communicating, while averaging pays that cost once per K steps
# (`pdsgd bench dask` measures rounds more carefully).
#
# The price: the workers' replicas drift apart during the K local steps, and
# averaging parameters is not averaging gradients. For a convex loss
# Zinkevich et al. (2010) show the average still converges; for a network it
# usually works for moderate K, and accuracy per *sample* can be lower than
# BSP's. Compare the final accuracies above.

# %%
cluster.close()

# %% [markdown]
# ## Over real links: the network lab
#
# Every message above crossed 127.0.0.1, which is faster than any network.
# `pdsgd bench network` builds real hosts on one Linux machine (network
# namespaces, as root): a teacher's host runs the scheduler and the broker,
# three student hosts run one worker each (`pdsgd cluster join`), and every
# link gets a bandwidth (a token bucket) and a latency (a relay that holds
# each byte back) from a named profile. Beside each measurement stands the
# cost model's prediction, from what `pdsgd.engine.traffic` says crosses per
# round: the same round on unlimited links, plus the bytes over the
# bandwidth, plus one round trip per crossing of the barrier.
#
# The cell shows the run kept with the course; set `LIVE = True` to measure
# here, where namespaces can be made (root; it takes minutes).

# %%
from pdsgd.netlab import costs
from pdsgd.netlab.hosts import unavailable

LIVE = False
result = costs.run() if LIVE and unavailable() is None else costs.load(costs.KEPT)
print(costs.table(result))

# %%
plots.plot_network(result)

# %% [markdown]
# Read the table per link. On the fastest links a round costs about what it
# costs on loopback, and measurement and prediction differ by no more than
# the machine's own noise. As the link slows, BSP's samples
# per second collapse: each of its rounds carries only N samples, yet moves
# a copy of the whole weights to every worker. Averaging moves more bytes
# per round (every worker's parameters come back too) but carries K times
# more samples per round, so its samples per second fall far less. The
# measured column sits below the prediction on the slow links: the model
# counts the new weights once, as a broadcast would, while the Dask backend
# sends one copy to each worker, all through the teacher's link. The column
# "N copies" counts them that way, and comes close to the measurement.

# %% [markdown]
# ## Exercises
#
# Each takes under a minute on a 2-core laptop; worked answers are in
# `solutions/05_going_distributed_solutions.ipynb`.
#
# Check each answer in a cell of your own: `from pdsgd.course import checks`, then
# `checks.check("05.1", answer)` prints "correct" or a hint, and `checks.ask("05.1")`
# says what the answer should be. (`make assignments` builds the graded version.)
#
# 1. Run the comparison with K = 1 (`local_steps=(1,)`): the averaging line
#    should lie on the BSP line in the round plot. Why does it not, exactly,
#    in the time plot?
# 2. With P = 1000, N = 2 and b = 10, how many rounds does an epoch take for
#    K = 10, 25, 50 and 100 (`distributed.rounds_per_epoch`)? Why do K = 50 and
#    K = 100 give the same run? Train with K = 25 and K = 50 and compare the
#    accuracy with K = 10: explain with the drift of the replicas.
# 3. Start a scheduler and two workers in a terminal of JupyterLab (File >
#    New > Terminal; `make lab` puts `dask` on its PATH): `dask scheduler`,
#    then `dask worker tcp://127.0.0.1:8786 --nthreads 1` in two more
#    terminals. Pass `scheduler="tcp://127.0.0.1:8786"` to the comparison: what
#    changes in the code? In the timings?
