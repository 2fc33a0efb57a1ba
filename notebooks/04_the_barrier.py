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
# # 4. The barrier
#
# Bulk-synchronous parallel (BSP, notebook 2) means: nobody starts iteration
# t+1 before everybody has finished iteration t and the new weights are
# published. The seed enforces it with a circular (cyclic) barrier: a barrier
# that is used again and again, once per iteration. This notebook looks at
# what the barrier costs.
#
# **You will learn**
#
# * to read the engine's timeline: per worker, when it computed, when it
#   waited at the barrier, when the weights were updated;
# * where an iteration's time goes, all of it;
# * what one slow worker (a *straggler*) does to all the others;
# * what one crossing of a barrier costs, and when that matters.

# %%
# %matplotlib inline
import pdsgd
from pdsgd import load_dataset, plots
from pdsgd.course import lessons, tables, widgets
from pdsgd.engine import trace

settings = lessons.defaults()
P = settings["train_size"]
data = load_dataset("mnist-5k")

# %% [markdown]
# ## The timeline
#
# Every run of the parallel engine records a *trace*: one row per worker,
# iteration and phase (compute, barrier wait, aggregate), with start and end
# times. Recording costs a few stores per iteration. Here N = 2 threads with
# the seed's design: a central Results Aggregator (in the broker) updates the
# shared weights while the workers wait. The first rows of the trace:

# %%
result = pdsgd.train(data, workers=2, backend="threads", aggregate="central", epochs=1,
                     train_size=P)
print(result.summary())
tables.trace_table(result.trace, count=6)

# %%
plots.plot_run_timeline(result.trace, count=6)

# %% [markdown]
# Blue is work, red is waiting, green is the aggregator applying the update.
# In each iteration both workers compute their sample, then wait: first for
# each other, then for the aggregator to average their results and publish
# the new weights.
#
# ## Where an iteration's time goes
#
# The table accounts for all of an iteration's time (the run's training time
# divided by its iterations), per party. A worker's **barrier wait** here
# includes waiting for the aggregator's update; the **rest** is everything
# between the recorded phases: the Python around the calls, reading the clock
# for the trace, and the broker's work between spans of iterations. For the
# aggregator, the rest is the time it waits for the workers' results.

# %%
budget = tables.time_budget(result)
worker = budget["parties"]["worker 0"]
print(f"one iteration: {budget['iteration'] * 1e6:.0f} us; worker 0 computed for "
      f"{worker['compute'] / budget['iteration']:.0%} of it and waited for "
      f"{worker['barrier wait'] / budget['iteration']:.0%}")
tables.budget_table(budget)

# %%
totals = trace.summarize(result.trace)
plots.plot_phase_totals(totals)

# %% [markdown]
# Read the shares above: whatever part of an iteration a worker does not
# spend computing is synchronisation cost, which a sequential program does
# not pay at all. With batch 1 the computation between two barriers is one
# sample's forward and backward pass, so that cost weighs heavily.
#
# ## A straggler
#
# A barrier moves at the pace of the slowest party. Make one worker slower
# (it takes the extra time you choose in every iteration, as a worker on a busy
# or slower machine would) and press **Run**: every other worker's red bars
# grow to match, and the run is as slow as if *all* workers were that slow.
# **Stop** ends a run early.

# %%
panel = widgets.StragglerPanel(data, sync_controls=False)
panel

# %% [markdown]
# The next cell runs the panel once for you with its default values, as
# pressing **Run** does, and waits for it; the results appear in the panel
# above. The slow worker's blue bars are long; the other spends that time in
# red, waiting for it.

# %%
print(f"{panel.workers.value} workers ({panel.backend.value}), worker {panel.straggler.value} "
      f"slowed by {panel.delay_ms.value:g} ms per iteration")
panel.run()
print(panel.result.summary())

# %% [markdown]
# ## The cost of one crossing
#
# When nobody is late, what does a barrier cost? In every iteration the last
# worker to arrive waits for no one: its wait is the price of the crossing
# itself (noticing that everyone has arrived, and waking up). Its median over
# the iterations is what we report. Here N = 2 processes, each applying the
# update to its own replica (one crossing per iteration), measured from the
# trace; beside it, `threading.Barrier` crossed by two threads doing nothing
# else.

# %%
fast = pdsgd.train(data, workers=2, backend="processes", aggregate="replicated", epochs=1,
                   train_size=P)
profile = lessons.iteration_profile(fast.trace)
thread_crossing = lessons.measure_thread_barrier(2)
print(f"one worker's forward and backward pass (median): {profile['compute'] * 1e6:7.1f} us")
print(f"a crossing of our cyclic barrier (processes):    {profile['crossing'] * 1e6:7.1f} us"
      f" = {profile['crossing'] / profile['compute']:.2f} x the pass")
print(f"a crossing of threading.Barrier (threads):       {thread_crossing * 1e6:7.1f} us"
      f" = {thread_crossing / profile['compute']:.2f} x the pass")
fast_budget = tables.time_budget(fast)
tables.budget_table(fast_budget)

# %% [markdown]
# Compare the two crossings with the pass. A barrier built on the operating
# system's locks (`threading.Barrier`, `multiprocessing.Barrier`) puts a
# waiting thread to sleep and must wake it; ours spins on shared memory for a
# moment first, which is fast as long as every worker has a core of its own.
# Whichever costs more than a sample's pass dominates a batch-1 iteration,
# and the seed crosses once or twice per sample.
#
# ## A crossing is cheap; the wait is not
#
# The time budget's *barrier wait* per iteration is much more than one
# crossing. The crossing is what the mechanism costs: the wait of the last
# worker to arrive. Every other worker waits that long too, *plus* the time
# until the last one arrives: two passes never take exactly the same time, and
# on a shared machine a worker taken off its core (the operating system hands
# the core to another program for a whole time slice) holds
# its partner at the barrier all that while. The next cell splits worker 0's
# wait, read off the same trace, into those two parts.

# %%
parts = lessons.wait_breakdown(fast.trace)
budget_wait = fast_budget["parties"]["worker 0"]["barrier wait"]
print(f"worker 0's barrier wait per iteration (time budget): {budget_wait * 1e6:7.1f} us")
print(f"  the crossing (the last arrival's wait, mean):       {parts['crossing'] * 1e6:7.1f} us")
print(f"  waiting for the other worker to arrive:             {parts['behind'] * 1e6:7.1f} us")
print(f"{parts['long_count']} of {parts['iterations']} iterations had worker 0 wait over 1 ms; "
      f"they hold {parts['long_share']:.0%} of its wait")

# %% [markdown]
# The two parts add up to the wait. The mean crossing is above the median
# printed earlier: now and then the last arrival is itself slow to be woken
# (on a busy machine, often). Whatever the crossing does not explain is a
# worker waiting for its partner, and the last line says how much of the wait
# the iterations with the longest waits (a partner that lost its core) carry.
# A faster barrier would shrink only the first part; the second shrinks only
# when the workers' passes take the same time on cores of their own.
#
# The time budget shows where the rest of the iteration goes: with
# `aggregate="replicated"` every worker applies the *whole* summed update (both
# samples) to its own copy of the weights, so the aggregate column is work
# each worker repeats, which no number of workers shrinks: the serial part of
# Amdahl's law (notebook 3).
#
# Two ways out, both in the kit: give each worker more samples per iteration
# (`micro_batch`, notebook 3's first exercise), so that a crossing is paid once
# per b samples and the update becomes one matrix product; and
# `aggregate="sharded"`, where each worker applies only its share of the
# update's rows.
#
# ## Exercises
#
# Each takes well under a minute on a 2-core laptop; worked answers are in
# `solutions/04_the_barrier_solutions.ipynb`.
#
# Check each answer in a cell of your own: `from pdsgd.course import checks`, then
# `checks.check("04.1", answer)` prints "correct" or a hint, and `checks.ask("04.1")`
# says what the answer should be. (`make assignments` builds the graded version.)
#
# 1. In the panel, set `extra ms per iteration` to 5 and run with N = 2, then N = 4. How
#    long does the run take in each case, and how long would it take without
#    the barrier (each worker at its own pace)?
# 2. Repeat the first timeline with `aggregate="replicated"`. How many barrier
#    crossings per iteration are there now, and where did the green go?
# 3. On this 2-core machine, run N = 3 with `backend="processes"` and draw the
#    timeline. What happens to the waits when a worker has no core to run on?
