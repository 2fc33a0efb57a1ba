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
# # Notebook 6: worked answers to the exercises
#
# Each answer runs in seconds on a 2-core laptop. The numbers are those this
# run printed; the explanations say what to look for in them.

# %%
# %matplotlib inline
from pdsgd import load_dataset, plots
from pdsgd.course import lessons, widgets, without_barrier

data = load_dataset("mnist-5k")
P = lessons.defaults()["train_size"]

# %% [markdown]
# ## 1. Without a straggler
#
# *In the panel, set `extra ms per iteration` to 0 (no straggler) and run
# `bsp`, `ssp` with s = 4 and `async`. What does dropping the barrier buy
# when nobody is slow?*

# %%
panel = widgets.StragglerPanel(data, delay_ms=0.0, train_size=P, staleness=4)
for choice in ("bsp", "ssp", "async"):
    panel.sync.value = choice
    panel.run()
    r = panel.runs[-1]
    print(without_barrier.run_line(f"{r['sync']:8s}", r))
panel

# %% [markdown]
# With two equally fast workers, each BSP iteration's wait is only the
# difference between two similar computations plus the crossing itself, so
# there is less to win than with a straggler: compare the waiting shares and
# the samples per second above with those of the notebook's runs. What the
# unsynchronized runs still pay for is in the staleness columns: even
# without a straggler, a gradient may land after its partner's, so some
# gradients are stale, and the weights depend on the timing.

# %% [markdown]
# ## 2. Four workers on two cores
#
# *Run the sweep with four workers on this 2-core machine and draw its
# staleness histogram. How does the staleness of `async` change against two
# workers, and why?*

# %%
two = without_barrier.by_setting(without_barrier.sweep(data, workers=2, train_size=P, settings=("async",)))
four_sweep = without_barrier.sweep(data, workers=4, train_size=P, settings=("async",))
four = without_barrier.by_setting(four_sweep)
for n, rows in ((2, two), (4, four)):
    print(f"N = {n}: async staleness mean {rows['async']['staleness_mean']:.2f}, max "
          f"{rows['async']['staleness_max']}; {rows['async']['vs_bsp']:.2f}x BSP's samples/s")
plots.plot_staleness({f"async, N = {n}": rows["async"]["staleness"]
                      for n, rows in ((2, two), (4, four))})

# %% [markdown]
# With N workers, N - 1 others can land an update between a worker's read and
# its own update even when all run at the same pace, so the staleness grows
# with N; on two cores, four workers also take turns on the cores, and a
# worker that waits for a core while the others run sees their updates pile
# up: the tail of the histogram stretches. Compare the printed means and
# maxima: the larger N should show the wider histogram, and how much wider
# depends on how the operating system shared the cores in this run.
