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

# %% [markdown] nbgrader={"grade": false, "grade_id": "intro-07", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # Notebook 7: worked answers to the exercises
#
# Each answer runs in under a minute on a 2-core laptop. The numbers are those
# this run printed; the explanations say what to look for in them.

# %% nbgrader={"grade": false, "grade_id": "ex07-setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# %matplotlib inline
from pdsgd.course import checks, honest

data, target = honest.course_data()
P = len(data.X)
grid = honest.one_core_grid(data, target)
best = grid["best"]
runs = {}  # exercise 1: {micro-batch b: honest.speedups(...) at N = 2}
print(f"target {target:.0%}; best one-core configuration: B = {best['batch']}, "
      f"rule {best['rule']}")

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex07-text-1", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 1. Micro-batch 16 at N = 2
#
# *Set `micro_batch = 16` and keep N = 2. Against b = 1, do S and the
# hardware speedup come closer or move apart, and why?*

# %% nbgrader={"grade": false, "grade_id": "ex07-1-work", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
for b in (1, 16):
    runs[b] = fast = honest.speedups(data, workers=2, micro_batch=b, strategy="tensor")
    print(f"N = 2, b = {b:2d}: S {fast['S']:.2f}x, hardware {fast['hardware']:.2f}x; "
          f"one core at b: {fast['sequential_per_s']:,.0f} samples/s, at N b: "
          f"{fast['hardware_per_s']:,.0f} samples/s")
### END SOLUTION

# %% nbgrader={"grade": false, "grade_id": "ex07-1-answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
answer_1 = None  # your answer: "closer" or "apart": S and the hardware speedup at b = 16 against b = 1, N = 2
### BEGIN SOLUTION
gap = {b: run["S"] / run["hardware"] for b, run in runs.items()}
answer_1 = "closer" if gap[16] < gap[1] else "apart"
### END SOLUTION
checks.check("07.1", answer_1, runs)

# %% nbgrader={"grade": true, "grade_id": "ex07-1-grade", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
checks.grade("07.1", answer_1, runs)  # graded: 1 point

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex07-text-2", "locked": false, "points": 0, "schema_version": 3, "solution": true, "task": false}
# S divides by the sequential run at b, the hardware speedup by the one at
# N b; their ratio is exactly one core's samples/s at N b over those at b
# (the last two columns). At b = 1 that ratio is large (batch 2 runs one GEMM
# where batch 1 runs two matrix-vector products), so S flatters the engine;
# at b = 16 batch 32 gains less over batch 16, and the two numbers come
# closer. Only the hardware speedup says what the second core bought.

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex07-text-3", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 2. The fixed rate at N = 4, b = 16
#
# *With `rule = "fixed"` at N = 4, b = 16, does the engine reach the target?
# Use the one-core grid's samples to explain the answer without running it.*

# %% nbgrader={"grade": false, "grade_id": "ex07-2-work", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
for c in grid["curve"]:
    print(f"B = {c['batch']:3d}: samples to target per rule: "
          + ", ".join(f"{r} {'-' if s is None else f'{s:,.0f}'}" for r, s in c["rules"].items()))
print(f"the run stops after {grid['max_epochs']} epochs of {P:,} samples")
### END SOLUTION

# %% nbgrader={"grade": false, "grade_id": "ex07-2-answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
answer_2 = None  # your answer: True or False: the engine reaches the target with rule "fixed" at N = 4, b = 16
### BEGIN SOLUTION
fixed = {c["batch"]: c["rules"]["fixed"] for c in grid["curve"]}
largest = max(b for b in fixed if b <= 64)
# At the fixed rate, about as many steps as at B = largest, each of 64 samples.
answer_2 = bool(fixed[largest] is not None
                and fixed[largest] * 64 / largest <= grid["max_epochs"] * P)
### END SOLUTION
checks.check("07.2", answer_2, grid, P)

# %% nbgrader={"grade": true, "grade_id": "ex07-2-grade", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
checks.grade("07.2", answer_2, grid, P)  # graded: 1 point

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex07-text-4", "locked": false, "points": 0, "schema_version": 3, "solution": true, "task": false}
# The engine at N = 4, b = 16 computes minibatch SGD with batch 64: the very
# arithmetic of the sequential run at B = 64. With the fixed rate each step
# averages 64 gradients and moves as far as one sample's step did, so an epoch
# makes 64 times fewer steps of the same length. Look at the fixed rule's
# column: where it reads "-" for the larger B, the run ran out of epochs first,
# and the engine, doing the same arithmetic, would too. Where the grid stops
# below B = 64 (the course's quick sizes), scale the largest B's samples by
# 64 / B (about as many steps, each of 64 samples) and compare them with the
# epochs the run may use. More workers cannot save a rate that is wrong for
# their batch.

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex07-text-5", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 3. How many workers of micro-batch 1 still help
#
# *From the critical batch size and the noise scale, up to how many workers
# of micro-batch 1 would you expect each added worker to cut the steps to the
# target nearly in half?*

# %% nbgrader={"grade": false, "grade_id": "ex07-3-work", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
crit, noise = grid["critical"], grid["noise"]
if crit:
    print(f"B_crit = {crit['b_crit']:.0f}: steps to target at B = N, "
          f"S_min (1 + B_crit / N), for N = 1, 2, 4, 8, 16:")
    for n in (1, 2, 4, 8, 16):
        print(f"  N = {n:2d}: {crit['s_min'] * (1 + crit['b_crit'] / n):8,.0f} steps")
if noise:
    print(f"noise scale B_simple = {noise['b_simple']:.0f}")
### END SOLUTION

# %% nbgrader={"grade": false, "grade_id": "ex07-3-answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
answer_3 = None  # your answer: the number of workers of micro-batch 1 up to which each doubling nearly halves the steps to the target
### BEGIN SOLUTION
# A doubling of N divides the steps by (1 + B_crit / N) / (1 + B_crit / 2N): 3/2 at N = B_crit / 2.
answer_3 = max(1, round((crit["b_crit"] if crit else noise["b_simple"]) / 2))
### END SOLUTION
checks.check("07.3", answer_3, grid)

# %% nbgrader={"grade": true, "grade_id": "ex07-3-grade", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
checks.grade("07.3", answer_3, grid)  # graded: 1 point

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex07-text-6", "locked": false, "points": 0, "schema_version": 3, "solution": true, "task": false}
# While N b is well below the critical batch, the steps to the target fall
# nearly as 1/N: each added worker nearly halves them per doubling. Around
# N b = B_crit the steps are twice their minimum and each doubling buys less;
# well above it, almost nothing. The noise scale is a cheaper estimate of the
# same order of magnitude (it leaves out the curvature of the loss). On a
# 2-core machine the hardware runs out first: past 2 workers the time per step
# stops falling whatever the statistics allow.
