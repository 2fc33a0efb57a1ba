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
# # 7. Speedup, honestly
#
# "Why doesn't my training get N times faster on N cores?" Notebook 3 measured
# the seed's speedup, $S = T_{seq}(b) / T(N)$: the engine against the
# sequential run at the same micro-batch b. But N workers of micro-batch b
# compute minibatch SGD with batch N b, and on one core a larger batch alone is
# faster per sample. So S mixes a batch-size gain into the parallel one. This
# notebook sets three numbers side by side, each named for its baseline.
#
# **You will learn**
#
# * the **hardware speedup**, $T_{seq}(N b) / T(N)$: the engine against
#   sequential minibatch SGD at batch N b, the same arithmetic on one core; its
#   ideal is N, and it is what "parallel" buys;
# * **time to accuracy**: how much sooner the model reaches a target test
#   accuracy than the *best* one-core configuration (best batch, best rate),
#   the measure of DAWNBench and MLPerf, and McSherry et al.'s COST baseline;
# * **what a bigger batch costs**: Shallue et al.'s curve of samples and steps
#   to the target against batch size, the critical batch size, and McCandlish
#   et al.'s gradient noise scale, which estimates it from one set of gradients.

# %%
# %matplotlib inline
from pdsgd import plots
from pdsgd.course import honest

data, target = honest.course_data()
print(f"P = {len(data.X):,} training samples of {data.name}; target: {target:.0%} test "
      f"accuracy on its {len(data.X_test):,} test samples")

# %% [markdown]
# ## The best one-core configuration
#
# First the baseline of time to accuracy: the sequential path, one core, at
# several batch sizes B, each with three learning-rate rules: `fixed` (the
# seed's 0.1 whatever B), `linear` (Goyal et al.: 0.1 B, warmed up from 0.1)
# and `sqrt` (0.1 times the square root of B, the same warm-up). Each run
# trains until the test accuracy reaches the target; the evaluations run
# between chunks of steps, outside the clock.

# %%
grid = honest.one_core_grid(data, target)
for c in grid["curve"]:
    reached = (f"best rule {c['rule']:6s} (lr {c['lr']:g}): {c['samples']:7,.0f} samples, "
               f"{c['steps']:6,.0f} steps, {c['seconds']:.2f} s" if c["reached"]
               else "no rule reached the target")
    print(f"B = {c['batch']:3d}: {reached}")
best = grid["best"]
print(f"best one-core configuration: B = {best['batch']}, rule {best['rule']} "
      f"(lr {best['lr']:g}), {best['seconds']:.2f} s to the target")

# %% [markdown]
# ## What a bigger batch costs
#
# On log-log axes: samples to the target (left) stay flat while the batch is
# small (perfect scaling: each doubling of B halves the steps), then grow
# (diminishing returns). The dashed line is McCandlish et al.'s model
# $E(B) = E_{min}(1 + B / B_{crit})$ fitted to the best rule's points; the
# red dotted line is the gradient noise scale $B_{simple} = tr(\Sigma)/|G|^2$,
# computed from the per-sample gradients of the whole training set at the
# moment the best run reached the target.

# %%
plots.plot_batch_size(grid)

# %%
crit, noise = grid["critical"], grid["noise"]
print("critical batch from the curve: "
      + (f"B_crit = {crit['b_crit']:.0f}" if crit else "the model did not fit these points"))
if noise:
    print(f"gradient noise scale at the target: B_simple = {noise['b_simple']:.0f} "
          f"(between {noise['min']:.0f} and {noise['max']:.0f} over the batches' best runs)")

# %% [markdown]
# ## Pick N, b, a rule and a split: three numbers
#
# Change the four values below and run the two cells. The first times the
# engine against the sequential path at b and at N b, in turns (what `pdsgd
# bench scaling` does); the second trains the engine to the target with your
# rule at batch N b (the sequential path at N b finds where it crosses; the
# engine, computing the same, is timed to that step without stopping to
# evaluate), and the best one-core configuration again beside it.

# %%
workers, micro_batch, rule, strategy = 2, 1, "linear", "tensor"
fast = honest.speedups(data, workers=workers, micro_batch=micro_batch, strategy=strategy)

# %%
to_target = honest.to_target_speedup(data, target, grid, workers=workers,
                                     micro_batch=micro_batch, rule=rule, strategy=strategy)
print(honest.summary(fast, to_target, workers=workers, micro_batch=micro_batch, rule=rule,
                     strategy=strategy, best=best))

# %% [markdown]
# How to read them: S is the largest because its baseline is the slowest (a
# small batch on one core). The hardware speedup is the engine's own merit:
# above 1, the N cores beat one core doing the same arithmetic; it can pass N
# only when a worker's share of the work runs faster than its share of the
# whole (a slice of the weights that stays in a core's cache). The
# time-to-accuracy speedup is what a user gets: it multiplies the hardware
# speedup by what batch N b costs in samples to the target (against the best
# B) and by one core's throughput at N b (against the best B's). `make
# reproduce` splits it into exactly those three factors for every
# configuration ("Time to accuracy" in its report).

# %% [markdown]
# ## Exercises
#
# Each takes under a minute on a 2-core laptop; worked answers are in
# `solutions/07_honest_speedup_solutions.ipynb`.
#
# Check each answer in a cell of your own: `from pdsgd.course import checks`, then
# `checks.check("07.1", answer)` prints "correct" or a hint, and `checks.ask("07.1")`
# says what the answer should be (and which results to pass with it). (`make
# assignments` builds the graded version.)
#
# 1. Set `micro_batch = 16` and keep N = 2. Against b = 1, do S and the
#    hardware speedup come closer or move apart, and why?
# 2. With `rule = "fixed"` at N = 4, b = 16, does the engine reach the target?
#    Use the one-core grid's samples to explain the answer without running it.
# 3. From the critical batch size and the noise scale, up to how many workers
#    of micro-batch 1 would you expect each added worker to cut the steps to the
#    target nearly in half?
