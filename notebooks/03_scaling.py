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
# threads of its machine. Here is the same experiment in small, with a second
# speedup beside the seed's: N workers of micro-batch b compute minibatch SGD
# with batch N b, and a larger batch alone runs faster per sample on one core.
#
# **You will learn**
#
# * two speedups, each named for its baseline: **the seed's S** $= T_{seq}(b) /
#   T(N)$, against the sequential run at the same micro-batch b, and **the
#   hardware speedup** $= T_{seq}(N b) / T(N)$, against sequential minibatch
#   SGD at batch N b, the same arithmetic on one core; only the second says
#   what the cores bought;
# * how to measure time, both speedups and efficiency (hardware speedup / N)
#   against N, honestly: sequential baselines, repeats taken in turn, medians
#   and their spread;
# * Amdahl's law, and how to read the parallel fraction off measured speedups;
# * where an iteration's time goes (computing, waiting, aggregating), and a
#   cost model that explains why the curve flattens, then falls, once N passes
#   the number of cores;
# * the machine's own ceiling: how much faster copies of the sequential
#   program that never wait run at once, and what of the gap is the engine's;
# * the other way to split the work, by the network's units (tensor
#   parallelism): the same accuracy, a different time, and far fewer numbers
#   crossing between the workers.

# %%
# %matplotlib inline

from pdsgd import load_dataset, plots
from pdsgd.course import lessons, scaling, scratch, widgets
from pdsgd.machine import usable_cores
from pdsgd.study import analysis, costmodel, experiment, oversubscription
from pdsgd.study.claims import judged_on

settings = lessons.defaults()
P, repeats = settings["train_size"], settings["repeats"]
workers_grid = settings["workers_grid"]
cores = usable_cores()
print(f"P = {P}, N in {workers_grid}, {repeats} repeats; this machine has {cores} cores")
data = load_dataset("mnist-5k")

# %% [markdown]
# ## Measure, or read what `make reproduce` measured
#
# `make reproduce` runs this experiment at a larger scale, three repeats of
# every cell, and caches each timing in `results/.cache`. If it has run on
# this machine, the next cell reads its timings instead of measuring again
# (nothing is trained); set `use_cached = False` to measure here anyway.

# %%
use_cached = True
records = scaling.cached_records(data, train_size=P) if use_cached else None
measured_here = records is None
if measured_here:
    print("no timings from make reproduce here: measuring (next cells)")
else:
    P = records[0]["cell"]["train_size"]
    print(f"read {len(records)} timings that make reproduce measured on this machine, P = {P}")

# %% [markdown]
# ## The grid
#
# Each *cell* of the experiment is one training run. The baselines are the
# sequential program (`backend=None`): the speedup of a parallel program must
# be measured against a sequential one, not against itself with one worker.
# There are two: the sequential run at the engine's micro-batch b (the seed's
# $T(1)$, the baseline of S), and, for every N, sequential minibatch SGD at
# batch N b (the baseline of the hardware speedup: the same steps, the same
# weights after every step, on one core). The engine runs on the `processes`
# backend: one process per worker while there are cores for them, and past
# the cores one process per core, each running its share of the workers in
# turn (the last section of this notebook shows why).
#
# A timing taken once can be spoiled by whatever else the machine is doing, so
# every cell runs `repeats` times, **in turn**: round 1 times every N and
# both baselines once, then round 2, and so on, so that a burst of load hits
# all of them alike.
# The tables report the median and the fastest and slowest repeat. Each run
# trains 2 epochs; the time of starting the worker processes is not counted
# (the seed's T(N) is training time). `run_grid` caches every finished cell
# in a temporary folder: running a cell again only reads it. The folder goes
# when the kernel stops (or, if the kernel was killed, the next time a
# notebook asks for one).

# %%
cache = scratch.scratch_folder("03")
if measured_here:
    grid = scaling.cells(P, [n for n in workers_grid if n <= cores], repeats=repeats, epochs=2)
    records = experiment.run_grid(grid, data, cache_dir=cache.name, desc="a core per worker")

# %% [markdown]
# Now more workers than cores (if this machine has more cores than the
# largest N of the grid, this cell has nothing to do).

# %%
if measured_here:
    grid = scaling.cells(P, [n for n in workers_grid if n > cores], repeats=repeats,
                         epochs=2, sequential=False)
    records += experiment.run_grid(grid, data, cache_dir=cache.name,
                                   desc="more workers than cores")
table = scaling.speedups(records)
table

# %% [markdown]
# ## Time, two speedups, efficiency
#
# Each engine run has two speedups, each against its own baseline from the
# same rounds:
#
# * **the seed's S** $= T_{seq}(b) / T(N)$, against the sequential run at the
#   same micro-batch b, as the seed defined it. It mixes two gains: the cores'
#   and that of the larger batch N b, which one core alone runs faster per
#   sample;
# * **the hardware speedup** $= T_{seq}(N b) / T(N)$, against sequential
#   minibatch SGD at batch N b: the same arithmetic, so what is left is what
#   the N cores bought. Its ideal is N, and the ideal line of the figure
#   belongs to it.
#
# In the speedup panel the hardware speedup is the solid curve with its bars
# and the seed's S is dotted beside it, with open markers; efficiency is the
# hardware speedup over N (1 would be perfect). The dotted vertical line marks
# the number of cores. The next cell prints, per N, the three times the two
# speedups come from: the engine's and each baseline's.

# %%
rows = experiment.summarize(records)
speedups = analysis.speedup_table(rows, "processes")
print(scaling.two_speedups_in_words(rows))
fig, axes = plots.new_figure(3, width=4.2, height=3.4)
plots.plot_time_vs_workers(rows, cores, ax=axes[0])
plots.plot_speedup(speedups, cores=cores, ax=axes[1])
plots.plot_efficiency(speedups, cores=cores, ax=axes[2])
fig

# %% [markdown]
# ## Where an iteration's time goes
#
# Every engine run records, per worker and iteration, how long it computed
# (its sample's forward and backward pass), how long it waited at the
# barrier, and how long it spent aggregating (with the default aggregation
# while every worker has a core, each worker applies the summed update to its
# own copy of the weights; past the cores, the broker applies it once while
# the workers wait). Below, per N, those three as a mean per iteration, beside
# the whole iteration (training time divided by iterations); **the rest** is
# everything between those calls (the Python around them, and the broker's
# work between spans of iterations: handing out samples, publishing weights).
# The sequential program does one step per sample, computing and updating at
# once; the first column is what it takes for the N samples of one iteration.

# %%
budget = scaling.iteration_budget(records)
budget

# %% [markdown]
# What to look for: where one iteration takes longer than its samples take
# sequentially (first two columns), the parallel program is slower than the
# sequential one. A parallel iteration runs the N forward and backward passes
# at the same time, but then the workers wait for each other and the summed
# update of all N samples is applied (by each worker to its own copy, or once
# by the broker while they wait), and that is what the last columns show. Compare them with
# the compute column: at batch 1 (the seed's setting) the work between two
# barriers is one sample's forward and backward pass.
#
# ## Amdahl's law
#
# If a fraction $f$ of the work parallelises perfectly and the rest does not,
# $S(N) = 1 / ((1 - f) + f/N)$, which can never exceed $1/(1-f)$ however many
# workers you add. Amdahl's law is about the same work done by more
# processors, so it is fitted to the hardware speedup (the same arithmetic),
# not to the seed's S (which counts a larger batch's gain as parallel), at the
# points where each worker has a core: $f$ says how much of the iteration is,
# in effect, parallel.

# %%
measure = judged_on(speedups)  # the hardware speedup, where its baselines were measured
fit_points = [(r["workers"], r[measure]) for r in speedups if r["workers"] <= cores]
f = costmodel.fit_amdahl(*zip(*fit_points))
print(f"fitted to the {measure.replace('_', ' ')}: parallel fraction f = {f:.2f}; "
      f"Amdahl's limit 1/(1-f) = {1 / (1 - f) if f < 1 else float('inf'):.1f}")
plots.plot_speedup(speedups, amdahl={P: f}, cores=cores)

# %% [markdown]
# Amdahl's law never predicts a speedup below 1: it has no term for the cost
# of working together. When the measured speedup *is* below 1 (the workers
# spend longer agreeing than computing), the best fit is f = 0, "nothing
# parallelises", and the law has nothing more to say. The cost model does.

# %% [markdown]
# ## The cost model
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
# trace and fits the synchronisation to what remains, then predicts both
# speedups on a machine with a core per worker. Both divide a sequential
# epoch by the predicted one (its iterations times $T_{iter}$): the seed's S
# that of the sequential run at b, the hardware speedup that of sequential
# minibatch SGD at batch N b, whose time the model reads from the
# sequential rates this grid measured at each batch (between two measured
# batches it interpolates; past the largest it predicts nothing, and the
# table's cell stays empty).

# %%
model = costmodel.fit_cost_model(rows, cores)
us = 1e6
print(f"per sample: sequential {model.sequential * us:.0f} us, compute {model.compute * us:.0f} us,"
      f" aggregate {model.aggregate * us:.0f} us; per iteration: synchronisation "
      f"{model.sync0 * us:.0f} + {model.sync1 * us:.0f} log2(N) us")
print(f"the seed's S that no number of workers exceeds (sequential / aggregate): "
      f"{model.limit():.1f}")
print("sequential rates measured, per batch: " + ", ".join(
    f"batch {b}: {t * us:.0f} us per sample" for b, t in model.batch_seconds))
plots.plot_cost_model(model, measured=[(r["workers"], r["speedup"]) for r in speedups],
                      measured_hardware=[(r["workers"], r["hardware_speedup"])
                                         for r in speedups if "hardware_speedup" in r],
                      n_max=32, train_size=P)

# %%
scaling.cost_model_table(model, speedups, P)

# %% [markdown]
# ## The machine's own ceiling
#
# Every speedup above divides by the sequential program running *alone*. Can
# this machine even run C programs C times as fast as one? Ask it: run one
# copy of the sequential program per core, all at once, each on its own
# samples, sharing nothing and never waiting for each other, and compare their
# combined rate with one copy alone (`pdsgd bench ceiling` does the same from
# the command line). No engine that splits the same work can beat that ceiling,
# unless splitting makes the work itself cheaper (a slice of the weights that
# fits a cache the whole matrix did not: the next section does exactly that).

# %%
top = scaling.machine_ceiling(P, repeats)
print(scaling.ceiling_in_words(top, speedups))

# %% [markdown]
# What to look for: the copies never wait, so what they miss of C is the
# machine's, not the engine's: caches and memory shared between the cores, a
# clock that runs faster while only one core is busy, other programs taking a
# core for a moment, and on many laptops and cloud machines "cores" that are
# two hardware threads of one physical core, which share its arithmetic
# units. The gap between the engine's speedup and the ceiling is what working
# together costs. On the seed's machine, past 16 hardware threads even the
# copies would stop gaining: there is no core left for the next one.

# %% [markdown]
# ## Split the network, not the data
#
# With data parallelism every worker needs every weight for every sample:
# either each replica applies the whole update of the N b samples (the cost
# model's serial part) or the weights travel between the cores every
# iteration. The same arithmetic can be split the other way, by the network's
# hidden units (tensor parallelism, as Megatron-LM splits a transformer's
# MLP): worker k owns hidden units $R_k$, that is rows $R_k$ of $W_1$ and
# $b_1$ and columns $R_k$ of $W_2$, in its own memory. Every iteration all
# workers take the same N b samples; worker k computes its slice of the
# hidden layer for all of them and its *partial output* $W_2[:, R_k] H_k$.
# Only those partial outputs cross between the workers; after one barrier
# crossing each sums them, computes the output deltas, its own hidden deltas,
# and updates only the weights it owns. It is still the seed's iteration,
# minibatch SGD with batch N b, so both splits learn the same weights.
#
# In the panel below (N = 2, `processes`), flip `parallel` between `data`
# and `tensor` and press **Run** each time: compare the test accuracy and the
# training time in the status line, and read the line under the buttons: how
# many numbers crossed between the workers per iteration. (`aggregation`
# only applies to data parallelism: with `tensor` each worker updates what it
# owns, and the drop-down is disabled.)

# %%
panel = widgets.TrainingPanel(data, workers=2, backend="processes",
                              train_size=settings["train_size"])
panel

# %% [markdown]
# The next cell does the same for you: it sets `parallel` to each value in
# turn, `repeats` times, runs the panel, and sets the results side by side.

# %%
splits = scaling.compare_splits(panel, repeats=repeats)
print(scaling.splits_in_words(splits))
splits

# %% [markdown]
# What to look for: the accuracy column should agree (one arithmetic, two
# ways to share it); the time column need not. Data parallelism moves every
# worker's sufficient factors per iteration, N b (784 + 200 + 200 + 10)
# numbers, and every replica applies the whole update; tensor parallelism
# moves N partial outputs of N b samples and 10 classes, and each worker
# updates only its half of the weights, which stays in its own core's cache.
# Which one is faster depends on the machine, N and b: try `micro-batch b`
# 16 in the panel, or N = 4 on this machine's cores (with more tensor-parallel
# workers than cores, each process runs several workers in turns, and the
# timeline shows them one after another). `make reproduce`
# measures both strategies against N and b (its "Two ways to split the work"
# figure and table show where each wins), and counts what each moves per
# iteration.

# %% [markdown]
# ## Workers past the cores: goroutines and processes
#
# The seed's workers are goroutines. Go runs them on a few operating-system
# threads: with N = 64 goroutines on 16 hardware threads, each thread runs
# its goroutines one after another, and a goroutine that waits at the barrier
# costs nothing. So past the hardware threads the seed's speedup levels off.
#
# A Python process is not a goroutine. Start one process per worker, and past
# the cores the operating system must take a core away from one process and
# give it to another at every barrier crossing (an *involuntary context
# switch*), and each switch costs the incoming process its cache. pdsgd
# therefore *hosts* workers by default (`hosting="cores"`): one process per
# core, each running its share of the workers in turn between crossings, as
# Go's threads run goroutines. The weights are the same bit for bit; only who
# runs which worker changes. One switch, `HOSTING`, runs the other way
# (`"workers"`: one process per worker). Run the cell with each value and
# compare the timelines: hosted workers compute one after another inside a
# process; one process per worker shows the turns the scheduler forces as
# long red waits.

# %%
HOSTING = "workers"  # the switch: "workers" (one process per worker) or "cores" (hosted)
past = 4 * cores
row, run = oversubscription.measure(data, past, HOSTING, epochs=1, train_size=P)
print(f"N = {past} on {cores} cores, hosting = {HOSTING}: {row['samples/s']:,.0f} samples/s, "
      f"{row['involuntary switches / iteration']:.1f} involuntary context switches per "
      f"iteration, waiting {row['waiting']:.0%} of the workers' time")
plots.plot_run_timeline(run.trace, count=4, title=f"hosting = {HOSTING}, N = {past}")

# %% [markdown]
# Both ways side by side, at one worker per core and at four per core, in
# interleaved rounds (the context switches are counted by the operating
# system for the worker processes, `getrusage`).

# %%
hosting_rows = oversubscription.compare(data, workers=[cores, 4 * cores], repeats=1, epochs=1,
                                        train_size=P)
print("\n".join(oversubscription.table_lines(hosting_rows)))
plots.plot_hosting(hosting_rows, cores=cores)

# %% [markdown]
# Hosted, the throughput does not fall past the cores, and usually grows: more
# workers only make each process's turn longer, as with goroutines, and a
# process applies one update for all the blocks it computed (one larger
# matrix product instead of several small ones). One process per worker
# loses throughput as N grows past the cores, and the involuntary switches
# per iteration grow with N: each is a worker taken off its core while the
# others wait for it at the barrier. (Hosted, a worker's "waiting" includes
# waiting for its turn inside its process, as a goroutine waits for a thread;
# the context switches tell the two apart. `pdsgd bench scaling --hosting
# cores,workers` measures both up to N = 32.)

# %% [markdown]
# ## Exercises
#
# Each takes under a minute on a 2-core laptop; worked answers are in
# `solutions/03_scaling_solutions.ipynb`.
#
# Check each answer in a cell of your own: `from pdsgd.course import checks`, then
# `checks.check("03.1", answer)` prints "correct" or a hint, and `checks.ask("03.1")`
# says what the answer should be. (`make assignments` builds the graded version.)
#
# 1. Add micro-batches: the same grid with `micro_batch=16`
#    (`scaling.cells(P, [1, 2], repeats=3, epochs=2, micro_batch=16)`). The
#    work between two barriers grows 16-fold while the synchronisation stays
#    the same. What happens to the seed's S and to the hardware speedup, and
#    to the fitted $f$?
# 2. In the time-budget table, which columns grow from N = 2 to N = 4 on this
#    2-core machine, and why? (Hint: with more workers than cores, a worker
#    that is not running cannot arrive at the barrier.)
# 3. The seed claims speedup grows "nearly logarithmically" in N. Fit
#    `costmodel.fit_log` to your speedups. Is a logarithm a good description, or
#    does Amdahl's curve fit better (compare with `costmodel.r_squared`)?
