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
# * what *bulk-synchronous parallel* (BSP) computing is, the model the seed's
#   engine follows;
# * Algorithm 1 (ParallelSGD) of the report the seed cites, and how it differs
#   from what the seed actually does: averaging N one-sample gradients each
#   iteration, which is *minibatch SGD with batch N*;
# * the seed's architecture: Broker, Data Generator, Results Aggregator,
#   Workers and the circular barrier;
# * how to train with N workers from a panel of sliders, and where Goyal et
#   al.'s rule for scaling the learning rate with the batch stops working;
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
# ## Bulk-synchronous parallel (BSP)
#
# Valiant's *bulk-synchronous parallel* model (1990) runs a parallel program
# as a sequence of **supersteps**. In each one, every worker (1) computes on
# its own data, (2) sends what the others need, and (3) waits at a **barrier**
# until every worker has done both. Nobody starts superstep t + 1 before
# everybody has finished superstep t. The seed's engine is BSP with one
# superstep per SGD iteration: each worker computes a gradient, the gradients
# are combined, the new weights are published, and only then does the next
# iteration begin. Notebook 4 measures what the barrier costs.
#
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
difference = np.abs(seed_way.model.params - minibatch.model.params).max()
print(f"largest difference between the two models' parameters: {difference:.1e}")
print(f"largest parameter: {np.abs(minibatch.model.params).max():.2f}")

# %% [markdown]
# The difference is at the level of floating-point rounding (the last digits
# of a 16-digit number), many orders of magnitude below the parameters: the
# two programs compute the same thing.
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
# What to look for in these accuracies. At K = 1 a step averages k gradients,
# so an epoch takes k times fewer steps than sequential SGD, each no longer:
# with the seed's unscaled learning rate it learns less per epoch. At large K
# each worker takes all its steps, but on 1/k of the data, and averaging k
# models that drifted apart can lose some of what each learned. Which effect
# wins depends on P, the rate and the epochs; try other values. What
# Algorithm 1 buys is communication: one exchange per K steps instead of one
# per step (notebook 5 measures what that is worth).
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
# Move the sliders and press **Run**; **Stop** (or Kernel > Interrupt) ends
# a run at once and leaves the panel ready for the next. `workers N` is the
# number of workers, `samples P` the training set size (at most what the data
# hold). `backend` chooses how the workers run: `serial` (in turn, the
# reference), `threads` (one thread each, sharing memory), `processes` (one
# process each, with shared memory) or `dask` (notebook 5); `auto` is
# sequential for N = 1 and `processes` above. While the processes start, the
# bar reads "starting N workers"; the summary reports that start-up time
# beside the training time. `micro-batch b` gives each worker b samples per
# iteration, so a step averages N x b samples. `parallel` chooses what the
# workers split: `data` (the seed's: each worker its own samples) or `tensor`
# (the network's hidden units; notebook 3 sets the two side by side); after an
# engine run the panel prints how many numbers crossed between the workers per
# iteration.
#
# A path to follow:
#
# 1. N = 1, then N = 2 and 4 (`processes`). A step now averages N samples, so
#    an epoch takes N times fewer steps: with the seed's fixed rate, accuracy
#    after the same epochs falls. Note the times, and the start-up beside them.
# 2. Set `lr rule` to `linear` (the rate becomes N x 0.1, reached through one
#    warm-up epoch) and `epochs` to 5: accuracy comes back.
# 3. N = 4 with `micro-batch` 4: a step averages 16 samples at a rate of 1.6,
#    and still learns.
# 4. Now `micro-batch` 16 (a batch of 64, a rate of 6.4). Watch what happens,
#    then read the next section.

# %%
panel = widgets.TrainingPanel(data)
panel

# %% [markdown]
# ## Where linear scaling breaks
#
# Goyal et al. (2017) trained ResNet-50 on ImageNet with batches up to 8,192
# in one hour with two rules. **Linear scaling**: when the batch grows k
# times, multiply the learning rate by k. The reasoning: k small steps, each
# with the gradient at nearly the same weights, move about as far as one step
# with k times the rate and the gradients' average. **Gradual warm-up**: that
# reasoning fails at the start, when the weights change fast, so the rate
# rises from the small one to k times it over the first epochs
# (`warmup_epochs=`; here it rises once per epoch, each warm-up epoch at the
# rate their per-iteration ramp reaches halfway through it).
#
# The reasoning also needs each step to stay small enough that the gradient
# barely changes along it. Our sigmoid network breaks that first: a large
# step drives the hidden units' inputs far from zero, where the sigmoid is
# flat, its derivative nearly 0 and the gradient vanishes ("saturation"). The
# network then stops learning and predicts the same digit for every image:
# accuracy near 0.1, chance for ten classes. Goyal et al. scaled a base rate
# set for a batch of 256; the seed's 0.1 is for a batch of 1, so k reaches 64
# at only N x b = 64.
#
# The table measures it: minibatch SGD with batch N x b (the very arithmetic
# of N workers with micro-batch b, shown above) under each rule. Look for the
# batch from which the linear column falls to chance, and whether warm-up
# moves that point.

# %%
rules = lessons.lr_rule_sweep(data, train_size=P, epochs=3,
                              batches=lessons.pick((1, 2, 4, 8, 16, 32, 64), (1, 4, 32)))
rules

# %% [markdown]
# ## Sufficient factors against whole gradients
#
# A worker's result for one sample is, per layer, the outer product
# $\delta_l a_{l-1}^\top$: for 784-200-10 that is a 159,010-number gradient.
# But it is fully described by the two vectors $\delta_l$ and $a_{l-1}$: 1,194
# numbers (Xie et al., "Sufficient Factor Broadcasting", 2015). The aggregator
# can then form the averaged update of all N workers as **one** matrix product
# per layer, $\frac1N \Delta^\top A$, with the N deltas and inputs stacked as
# rows. Measured here on one core, each timing the median of interleaved
# repeats:

# %%
measured = lessons.measure_messages(workers=4)
for name, m in measured.items():
    print(f"{name:9s}: {m['floats']:7,} floats per worker; a worker computes its message in "
          f"{m['worker_seconds'] * 1e6:5.0f} us, the aggregator applies all 4 in "
          f"{m['aggregate_seconds'] * 1e6:5.0f} us (repeats ranged "
          f"{m['aggregate_spread']['low'] * 1e6:.0f} to {m['aggregate_spread']['high'] * 1e6:.0f})")
f, g = measured["factors"], measured["gradients"]
print(f"factors: {g['floats'] / f['floats']:.0f}x fewer floats to send, and the aggregator "
      f"is {g['aggregate_seconds'] / f['aggregate_seconds']:.1f}x as fast")
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
# Each takes well under a minute on a 2-core laptop; worked answers are in
# `solutions/02_parallel_sgd_solutions.ipynb`.
#
# Check each answer in a cell of your own: `from pdsgd.course import checks`, then
# `checks.check("02.1", answer)` prints "correct" or a hint, and `checks.ask("02.1")`
# says what the answer should be. (`make assignments` builds the graded version.)
#
# 1. In the panel, set N = 8 with the fixed learning rate, then with
#    `lr rule = linear`. Explain the accuracies with the minibatch view above.
#    (The `serial` backend gives the same numbers faster than 8 processes on
#    2 cores.)
# 2. Run Algorithm 1 (`algorithm="average"`) with `workers=1`: what algorithm
#    is it then, whatever K? Now try `workers=16` with `local_steps=P // 16`:
#    what happens to accuracy, and why?
# 3. Using `lessons.measure_messages(sizes=(784, 1000, 10))`, how does the
#    advantage of sufficient factors grow with the hidden layer? For which
#    micro-batch b would sending b sets of factors cost as many floats as a
#    whole gradient?
