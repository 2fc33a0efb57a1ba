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
# # 2. Parallel SGD
#
# **You will learn**
#
# * Algorithm 1 (ParallelSGD) of the report the seed cites, and how it differs
#   from what the seed actually does: averaging N one-sample gradients each
#   iteration, which is *minibatch SGD with batch N*;
# * the seed's architecture: Broker, Data Generator, Results Aggregator,
#   Workers and the circular barrier;
# * how to train with N workers from a panel of sliders;
# * why workers send *sufficient factors* rather than whole gradients.

# %%
# %matplotlib inline
import numpy as np

import pdsgd
from pdsgd import load_dataset, plots
from pdsgd.course import lessons, widgets

settings = lessons.defaults()
P, epochs = settings["train_size"], settings["epochs"]
data = load_dataset("mnist-5k")

# %% [markdown]
# ## Two algorithms called "parallel SGD"
#
# The seed quotes Algorithm 1 of Hegde & Usmani's Stanford report, which is
# Zinkevich et al.'s (2010) parallel SGD:
#
# ```
# 1: procedure PARALLELSGD(parameters, data, k)
# 2:   shuffle the data so that each machine has a representative subset
# 3:   for each machine i in {1, ..., k} in parallel do
# 4:       v_i <- SGD(parameters, data_i)         # a whole pass of SGD, alone
# 5:   aggregate v <- (1/k) * sum_i v_i, return v  # average the *parameters*
# ```
#
# Each machine runs many SGD steps on its own shard **without talking to the
# others**, and the parameters are averaged once at the end (or once per
# epoch: "iterative parameter mixing").
#
# The seed does something else. In every iteration the Broker hands each of
# the N workers **one** sample; every worker computes the gradient of that
# sample *at the same weights*; the Results Aggregator averages the N
# gradients and takes one step:
#
# $$ W \leftarrow W - \eta \cdot \frac1N \sum_{i=1}^{N} \nabla L(W; x_i) $$
#
# That is exactly minibatch SGD with a batch of N samples. The workers talk
# after *every* sample, which is why the barrier matters so much (notebook 4).
#
# We can check the claim: N = 4 workers on the engine's `serial` backend
# (the same bulk-synchronous math, workers run in turn) against one process
# running minibatch SGD with batch 4 over the same sample order.

# %%
seed_way = pdsgd.train(data, workers=4, backend="serial", epochs=1, train_size=P)
minibatch = pdsgd.train(data, workers=1, micro_batch=4, epochs=1, train_size=P)
print("largest difference between the two models' parameters:",
      np.abs(seed_way.model.params - minibatch.model.params).max())

# %% [markdown]
# Equal up to rounding.
#
# The engine also runs Algorithm 1: `algorithm="average"` lets each of the k
# workers take K plain SGD steps on its own samples, starting from the
# parent's weights, and then averages the k workers' *parameters* into the
# parent. With K = 1 that is the seed's algorithm again (the average of k
# one-step parameter vectors is one step with the averaged gradient). With
# K = P / k every worker runs through its whole share of the epoch alone and
# the parameters are averaged once per epoch: Zinkevich's parallel SGD.

# %%
k = 4
sequential = pdsgd.train(data, epochs=epochs, train_size=P)
print(f"sequential SGD, one sample per step:            {sequential.test_accuracy:.3f}")
for K in (1, 10, P // k):
    averaged = pdsgd.train(data, workers=k, backend="threads", algorithm="average",
                           local_steps=K, epochs=epochs, train_size=P)
    print(f"Algorithm 1, k = {k}, averaging every K = {K:3d} steps: "
          f"{averaged.test_accuracy:.3f}")

# %% [markdown]
# With the seed's unscaled learning rate, averaging over k workers learns less
# per epoch than sequential SGD. At K = 1 a step averages k gradients, so an
# epoch takes k times fewer steps, each no longer. At large K each worker takes
# all its steps, but on 1/k of the data, and averaging k models that drifted
# apart loses some of what each learned. The `lr rule` control below offers
# Goyal et al.'s (2017) fix for the first: multiply the rate by the batch size.
# What Algorithm 1 buys is communication: one exchange per K steps instead of
# one per step.
#
# ## The seed's architecture
#
# | seed | pdsgd | what it does |
# | --- | --- | --- |
# | Broker | `pdsgd.engine.broker.Broker`, behind `train(workers=N)` | owns the parent model, starts the others, assigns samples (`ShuffleSlice`), publishes new weights |
# | Data Generator | `pdsgd.engine.data_generator.DataGenerator`, a thread | feeds sample assignments (the seed's buffered channel) |
# | Results Aggregator | `pdsgd.engine.aggregator.ResultsAggregator` | averages the N workers' results, updates the parent |
# | Worker | `pdsgd.engine.worker.Worker` | forward and backward pass on its sample(s), sends the result |
# | Circular Barrier | `pdsgd.engine.barrier.CyclicBarrier` (or `threading.Barrier`) | no worker starts iteration t+1 before all N finished t |

# %%
plots.draw_architecture(workers=3)

# %% [markdown]
# ## Try it: the training panel
#
# Move the sliders and press **Run**. `workers N` is the number of workers,
# `samples P` the training set size. `backend` chooses how the workers run:
# `serial` (in turn, the reference), `threads` (one thread each, sharing
# memory) or `processes` (one process each, with shared memory); `auto` is
# sequential for N = 1 and `processes` above. `micro-batch b` gives each worker
# b samples per iteration, so a step averages N x b samples.
#
# The defaults run in a second or two. Things to try: N = 1, 2, 4 with
# `processes`; then the same with `micro-batch` 16; then `lr rule = linear`.

# %%
panel = widgets.TrainingPanel(data)
panel

# %% [markdown]
# ## Sufficient factors against whole gradients
#
# A worker's result for one sample is, per layer, the outer product
# $\delta_l a_{l-1}^\top$: for 784-200-10 that is a 159,010-number gradient.
# But it is fully described by the two vectors $\delta_l$ and $a_{l-1}$: 1,194
# numbers (Xie et al., "Sufficient Factor Broadcasting", 2015). The aggregator
# can then form the averaged update of all N workers as **one** matrix product
# per layer, $\frac1N \Delta^\top A$, with the N deltas and inputs stacked as
# rows. Measured here on one core:

# %%
measured = lessons.measure_messages(workers=4)
for name, m in measured.items():
    print(f"{name:9s}: {m['floats']:7,} floats per worker, worker {m['worker_seconds'] * 1e6:6.0f} us,"
          f" aggregator (all 4) {m['aggregate_seconds'] * 1e6:6.0f} us")
plots.plot_messages(measured)

# %% [markdown]
# The same comparison inside the engine: `send="factors"` (the default) or
# `send="gradients"`, with N = 2 threads.

# %%
for send in ("factors", "gradients"):
    r = pdsgd.train(data, workers=2, backend="threads", send=send, epochs=1, train_size=P)
    print(f"send={send:9s}: {r.train_seconds:.2f} s, {r.samples_per_second:,.0f} samples/s, "
          f"test accuracy {r.test_accuracy:.3f}")

# %% [markdown]
# ## Exercises
#
# 1. In the panel, set N = 8 with the fixed learning rate, then with
#    `lr rule = linear`. Explain the accuracies with the minibatch view above.
# 2. Run Algorithm 1 (`algorithm="average"`) with `workers=1`: what algorithm
#    is it then, whatever K? Now try `workers=16` with `local_steps=P // 16`: what
#    happens to accuracy, and why?
# 3. Using `lessons.measure_messages(sizes=(784, 1000, 10))`, how does the
#    advantage of sufficient factors grow with the hidden layer? For which
#    micro-batch b would sending b sets of factors cost as much as a gradient?
