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
# # 3. Scaling
#
# The seed's experiment: train with N = 1, 2, 4, ... workers on P samples,
# time it, and plot the speedup $S(N) = T(1) / T(N)$. The seed reports speedup
# growing "nearly logarithmically" and no large gains past the 16 hardware
# threads of its machine. Here is the same experiment in small.
#
# **You will learn**
#
# * how to measure time, speedup and efficiency $S(N)/N$ against N, honestly
#   (a sequential baseline, repeats, medians);
# * Amdahl's law, and how to read the parallel fraction off measured speedups;
# * a cost model of one bulk-synchronous iteration, and why the curve
#   flattens, then falls, once N passes the number of cores.

# %%
# %matplotlib inline
import os
import tempfile

from pdsgd import load_dataset, plots
from pdsgd.course import lessons
from pdsgd.study import analysis, costmodel, experiment

settings = lessons.defaults()
P = settings["train_size"]
workers_grid = settings["workers_grid"]
cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
print(f"P = {P}, N in {workers_grid}, this machine has {cores} cores")
data = load_dataset("mnist-5k")

# %% [markdown]
# ## The grid
#
# Each *cell* of the experiment is one training run. The baseline T(1) is the
# sequential program (`backend=None`): the speedup of a parallel program must
# be measured against the best sequential one, not against itself with one
# worker. The others run on the `processes` backend, one process per worker.
# `run_grid` caches every finished cell on disk, so running this cell again
# only reads the cache. (A fresh temporary cache per session: restart the
# kernel to measure again.) Each cell runs once here, to stay quick;
# `make reproduce` repeats every cell and reports medians, because a
# timing taken once can be spoiled by whatever else the machine is doing.

# %%
cache = tempfile.TemporaryDirectory(prefix="pdsgd-03-")  # removed when the kernel stops
cells = [experiment.Cell(train_size=P, workers=1, backend=None, epochs=1)]
cells += [experiment.Cell(train_size=P, workers=n, backend="processes", epochs=1)
          for n in workers_grid if n <= cores]
records = experiment.run_grid(cells, data, cache_dir=cache.name, desc="a core per worker")

# %% [markdown]
# Now more workers than cores (if this machine has more cores than the
# largest N of the grid, this cell has nothing to do: see exercise 2).

# %%
more = [experiment.Cell(train_size=P, workers=n, backend="processes", epochs=1)
        for n in workers_grid if n > cores]
records += experiment.run_grid(more, data, cache_dir=cache.name, desc="more workers than cores")
rows = experiment.summarize(records)
for r in rows:
    print(f"N = {r['workers']}  backend = {r['backend'] or 'sequential':10s} "
          f"{r['seconds']:.3f} s  ({r['samples_per_second']:,.0f} samples/s)  "
          f"test accuracy {r['test_accuracy']:.3f}")

# %% [markdown]
# ## Time, speedup, efficiency
#
# Speedup is measured against the sequential run; efficiency divides it by N
# (1 would be perfect). The dotted line marks the number of cores.

# %%
table = analysis.speedup_table(rows, "processes")
fig, axes = plots.new_figure(3, width=4.2, height=3.4)
plots.plot_time_vs_workers(rows, cores, ax=axes[0])
plots.plot_speedup(table, cores=cores, ax=axes[1])
plots.plot_efficiency(table, cores=cores, ax=axes[2])
fig

# %% [markdown]
# At batch 1 (the seed's setting) a sample's forward and backward pass takes
# tens of microseconds, about as long as the workers need to agree that an
# iteration is over. So the speedup is small, and it can be below 1: the
# parallel program does the sequential work *plus* the synchronisation.
#
# ## Amdahl's law
#
# If a fraction $f$ of the work parallelises perfectly and the rest does not,
# $S(N) = 1 / ((1 - f) + f/N)$, which can never exceed $1/(1-f)$ however many
# workers you add. Fitting $f$ to the measured speedups (where each worker has
# a core) tells how much of the iteration is, in effect, parallel.

# %%
fit_points = [(r["workers"], r["speedup"]) for r in table if r["workers"] <= cores]
f = costmodel.fit_amdahl(*zip(*fit_points))
print(f"fitted parallel fraction f = {f:.2f}; Amdahl's limit 1/(1-f) = "
      f"{1 / (1 - f) if f < 1 else float('inf'):.1f}")
plots.plot_speedup(table, amdahl={P: f}, cores=cores)

# %% [markdown]
# Amdahl's law never predicts a speedup below 1: it has no term for the cost
# of working together. When the measured speedup *is* below 1 (the workers
# spend longer agreeing than computing), the best fit is f = 0, "nothing
# parallelises", and the law has nothing more to say. The cost model does.

# %% [markdown]
# ## The cost model: where an iteration's time goes
#
# One iteration with N workers on C cores costs
#
# $$ T_{iter}(N) = \lceil N/C \rceil \, b \, t_{compute} + N b \, t_{aggregate} + t_{sync}(N) $$
#
# * workers compute in parallel, but only C at a time: past C cores they take
#   turns, which is why the curve flattens at the number of cores (the seed
#   saw it at its 16 hardware threads);
# * every one of the N b samples' updates must be applied to the weights, one
#   after another: the serial part, Amdahl's $1-f$;
# * the barrier and the hand-offs cost something every iteration, and more
#   when workers outnumber cores (a worker that is not running cannot arrive).
#
# `fit_cost_model` reads $t_{compute}$ and $t_{aggregate}$ off the engine's
# trace and fits the synchronisation to what remains, then predicts the
# speedup on a machine with a core per worker.

# %%
model = costmodel.fit_cost_model(rows, cores)
us = 1e6
print(f"per sample: sequential {model.sequential * us:.0f} us, compute {model.compute * us:.0f} us,"
      f" aggregate {model.aggregate * us:.0f} us; per iteration: synchronisation "
      f"{model.sync0 * us:.0f} + {model.sync1 * us:.0f} log2(N) us")
print(f"the speedup no number of workers exceeds: {model.limit():.1f}")
plots.plot_cost_model(model, measured=[(r["workers"], r["speedup"]) for r in table],
                      n_max=32, train_size=P)

# %% [markdown]
# ## Exercises
#
# 1. Add micro-batches: the same grid with `micro_batch=16` in every cell. The
#    work per iteration grows 16-fold while the synchronisation stays the same.
#    What happens to the speedup and to the fitted $f$?
# 2. Add N = 2 x cores to the grid. Where is the time going? (Look at each
#    row's `phases`: mean compute, wait and aggregate seconds per iteration.)
# 3. The seed claims speedup grows "nearly logarithmically" in N. Fit
#    `costmodel.fit_log` to your speedups. Is a logarithm a good description, or
#    does Amdahl's curve fit better (compare with `costmodel.r_squared`)?
