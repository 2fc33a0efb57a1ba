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
# Bulk-synchronous parallel (BSP) means: nobody starts iteration t+1 before
# everybody has finished iteration t and the new weights are published. The
# seed enforces it with a circular (cyclic) barrier. This notebook looks at
# what the barrier costs.
#
# **You will learn**
#
# * to read the engine's timeline: per worker, when it computed, when it
#   waited at the barrier, when the weights were updated;
# * what one slow worker (a *straggler*) does to all the others;
# * what one crossing of a barrier costs, and why it matters at batch 1.

# %%
# %matplotlib inline
import pdsgd
from pdsgd import load_dataset, plots
from pdsgd.course import lessons, widgets
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
# the seed's design: a central Results Aggregator updates the shared weights
# while the workers wait.

# %%
result = pdsgd.train(data, workers=2, backend="threads", aggregate="central", epochs=1,
                     train_size=P)
print(result.summary())
print(result.trace[:6])

# %%
plots.plot_run_timeline(result.trace, count=6)

# %% [markdown]
# Blue is work, red is waiting. In each iteration both workers compute their
# sample, then wait: first for each other, then for the aggregator (green) to
# average their results and publish the new weights. With batch 1 the red
# part is as long as the blue: half of the time goes to synchronisation.

# %%
totals = trace.summarize(result.trace)
for who, phases in totals.items():
    name = "aggregator" if who == trace.AGGREGATOR else f"worker {who}"
    print(f"{name:10s}", "  ".join(f"{k} {v:.3f} s" for k, v in phases.items()))
plots.plot_phase_totals(totals)

# %% [markdown]
# ## A straggler
#
# A barrier moves at the pace of the slowest party. Make one worker slower
# (it takes a few extra milliseconds in every iteration, as a worker on a busy
# or slower machine would) and press **Run**: every other worker's red bars
# grow to match, and the run is as slow as if *all* workers were that slow.

# %%
panel = widgets.StragglerPanel(data)
panel

# %% [markdown]
# The next cell presses **Run** once for you (2 workers, worker 1 slowed by
# 2 ms per iteration); the results appear in the panel above. Worker 1's blue
# bars are long; worker 0 spends the same time in red, waiting for it.

# %%
panel.run_button.click()

# %% [markdown]
# ## The cost of one crossing
#
# When nobody is late, what does a barrier cost? In every iteration the last
# worker to arrive waits for no one, so its wait is the price of the
# crossing itself. Here N = 2 processes, each applying the update to its own
# replica (one crossing per iteration), measured from the trace; beside it,
# `threading.Barrier` crossed by two threads doing nothing else.

# %%
fast = pdsgd.train(data, workers=2, backend="processes", aggregate="replicated", epochs=1,
                   train_size=P)
profile = lessons.iteration_profile(fast.trace)
print(f"one worker's forward and backward pass: {profile['compute'] * 1e6:7.1f} us")
print(f"one whole iteration:                    {profile['iteration'] * 1e6:7.1f} us")
print(f"a crossing of our cyclic barrier:       {profile['crossing'] * 1e6:7.1f} us (processes)")
print(f"a crossing of threading.Barrier:        "
      f"{lessons.measure_thread_barrier(2) * 1e6:7.1f} us (threads)")

# %% [markdown]
# A barrier that spins on shared memory crosses in a few microseconds, as long
# as every worker has a core of its own. One built on the operating system's
# locks (`threading.Barrier`, `multiprocessing.Barrier`) costs tens of
# microseconds: as much as the sample's forward and backward pass, and the
# seed crosses it once or twice per sample. When workers outnumber cores, a
# spinning worker even steals the core that the late one needs (exercise 3).
#
# Two ways out, both in the kit: give each worker more samples per iteration
# (`micro_batch`, notebook 3's first exercise), so that a crossing is paid once
# per b samples; and let each worker apply the update to its own replica
# (`aggregate="replicated"`), so that one crossing per iteration suffices
# instead of two.
#
# ## Exercises
#
# 1. In the panel, set the delay to 5 ms and run with N = 2, then N = 4. How
#    long does the run take in each case, and how would it be without the
#    barrier (each worker at its own pace)?
# 2. Repeat the first timeline with `aggregate="replicated"`. How many barrier
#    crossings per iteration are there now, and where did the green go?
# 3. On this 2-core machine, run N = 3 with `backend="processes"` and draw the
#    timeline. What happens to the waits when a worker has no core to run on?
