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
# # 6. Without the barrier
#
# Notebook 4 showed what the seed's barrier costs: with one slow worker
# (a *straggler*), every other worker waits for it in every iteration. This
# notebook drops the barrier, in three steps that the literature took:
#
# * **SSP**, stale-synchronous parallel (Ho et al. 2013): a worker may run up
#   to s iterations ahead of the slowest one; s = 0 is BSP;
# * **async** (the parameter server of Dean et al. 2012): every gradient is
#   applied as soon as it arrives, however old the weights it was computed from;
# * **Hogwild!** (Recht et al. 2011): no aggregator and no lock; every worker
#   writes its own update into the shared weights while the others read them.
#
# **You will learn**
#
# * to see the waits of the timeline shrink as the bound s grows;
# * what a *stale* gradient is, and to read a staleness histogram;
# * to measure the trade-off: samples per second against test accuracy after
#   the same samples;
# * which guarantees of BSP disappear with the barrier.

# %%
# %matplotlib inline
import pdsgd
from pdsgd import load_dataset, plots
from pdsgd.course import lessons, widgets, without_barrier

settings = lessons.defaults()
P = settings["train_size"]
data = load_dataset("mnist-5k")

# %% [markdown]
# ## The barrier's price, once more
#
# Two workers on threads; worker 1 is a straggler: it computes twice as slowly
# as worker 0 (`straggler_factor=2.0`, as a slower or busier core would).
# With BSP, worker 0 waits for it at every barrier. The row below says how
# fast the run went and what share of the workers' time went to waiting.

# %%
slow = dict(workers=2, backend="threads", epochs=1, train_size=P, straggler=1,
            straggler_factor=2.0)
bsp = pdsgd.train(data, **slow)
row = without_barrier.run_row(bsp)
print(bsp.summary())
print(f"BSP with a straggler: {row['samples/s']:,.0f} samples/s; the workers spent "
      f"{row['waiting']:.0%} of their time waiting; test accuracy {row['test accuracy']:.4f}")

# %% [markdown]
# ## Running ahead, up to a bound: SSP
#
# The straggler panel of notebook 4 has two more controls here: **sync**
# (how the workers synchronize; notebook 4's panel ran BSP only) and
# **staleness s** (the bound, active for `ssp` only). With `ssp`, a worker computes iteration t from weights that
# hold every update up to iteration t - s - 1, at least; a worker that far
# ahead of the slowest waits. Choose `ssp`, move the slider and press **Run**:
# the red of the timeline (waiting) shrinks as s grows, and the panel's table
# collects one row per run. The panel's straggler is slowed differently from
# the run above: it pauses for `extra ms per iteration` before each of its
# computations, so compare the panel's runs with each other.
#
# The panel starts on `threads`, which start at once. Threads share one Python
# interpreter and its lock (the GIL): only one of them runs Python code at a time
# (BLAS calls release it), so a worker that no longer waits at the barrier may
# still wait for the lock. On threads the waits shrink as s grows, but the
# samples per second follow them only roughly; choose `processes` in the
# panel's `backend` drop-down (each worker its own interpreter, slower to start)
# to see the rates follow the waits.

# %%
panel = widgets.StragglerPanel(data, sync="ssp", staleness=0, train_size=P)
panel

# %% [markdown]
# The next cell does that for you: it runs the panel with s = 0, 1, 4 and 16
# and prints each run's row (the panel above shows the last run's figures and
# the table of all of them).

# %%
for s in (0, 1, 4, 16):
    panel.staleness.value = s
    panel.run()
    r = panel.runs[-1]
    print(without_barrier.run_line(f"s = {s:2d}", r))

# %% [markdown]
# Read the rows from s = 0 down. A larger bound never *forces* more waiting:
# it only lets the fast worker go further before it must wait, so the
# waiting share can only fall or stay, up to the noise of a shared machine;
# where it stops falling, the fast worker no longer reaches the bound. On
# `processes` the samples per second follow the waits; on `threads` the GIL
# (above) blurs that, so compare the waiting shares first.
#
# ## Stale gradients
#
# Without the barrier, a gradient is computed from the weights as they were
# when its worker read them, and applied later, after other updates have
# landed. Its **staleness** is the number of updates applied in between:
# 0 means it was applied to the very weights it was computed from (BSP
# applies an iteration's N gradients together, so every one of them has
# staleness 0; SSP with s = 0 computes the same weights but applies them one
# at a time, so the second of two counts one update, though both were
# computed from the same weights). The panel draws one small histogram per
# setting, side by side on the same axes: the share of gradients against their
# staleness (the y axis is logarithmic: the rare, very stale gradients are the
# story). As s grows, the bars reach further right: the bound
# caps how far the fast worker runs ahead, and so how many of its updates a
# slow worker's gradient can miss.
#
# ## No bound at all: async and Hogwild!
#
# With `async`, the broker (the seed's Results Aggregator) applies each
# gradient as it arrives, whatever its age. With `hogwild`, there is no broker:
# each worker adds its own update into the shared weights, unlocked. Recht et
# al. proved that this works when updates are *sparse* (each touches few
# weights, so two rarely collide); every update of our dense network touches
# every weight.

# %%
for choice in ("async", "hogwild"):
    panel.sync.value = choice
    panel.run()
    r = panel.runs[-1]
    print(without_barrier.run_line(f"{choice:8s}", r))
panel

# %% [markdown]
# Compare the largest staleness of these two runs with the SSP runs above:
# nothing bounds it any more but the speed ratio of the workers and the
# length of the run.
#
# ## The trade-off, measured
#
# One run is one sample of a noisy measurement. `without_barrier.sweep` runs
# `pdsgd bench sync` itself: every setting with the same straggler, on the same
# samples, repeated in interleaved rounds (every setting once per round, so that
# a burst of load elsewhere hits them all alike), medians reported, each rate
# set against BSP's in the same round. Here it runs on threads, which start at
# once and keep the cell short; the GIL (above) weighs on their rates, so read
# the accuracy and staleness columns first, and pass `backend="processes"` for
# the rates that `pdsgd bench sync` measures.

# %%
sweep = without_barrier.sweep(data, train_size=P, factor=2.0)
rows = without_barrier.by_setting(sweep)
fastest = max(sweep["rows"], key=lambda r: r["vs_bsp"])
print(f"{sweep['repeats']} rounds; BSP: {rows['bsp']['samples_per_s']:,.0f} samples/s, "
      f"test accuracy {rows['bsp']['test_accuracy']:.4f}")
print(f"SSP s = 4: {rows['ssp:4']['vs_bsp']:.2f}x BSP's samples/s, "
      f"{rows['ssp:4']['accuracy_vs_bsp']:+.1f} points of accuracy")
print(f"fastest: {fastest['setting']}, {fastest['vs_bsp']:.2f}x BSP's samples/s, "
      f"{fastest['accuracy_vs_bsp']:+.1f} points of accuracy")
without_barrier.sweep_table(sweep)

# %%
plots.plot_sync_tradeoff(sweep["rows"])

# %%
plots.plot_staleness({r["setting"]: r["staleness"] for r in sweep["rows"]})

# %% [markdown]
# In the first figure, right is faster and up is more accurate after the same
# samples; the bars span the rounds. The trade-off that SSP promises is a
# point to the right of BSP at about its height. Whether a point lies
# clearly to the right is a matter of its bars: where they overlap BSP's, the
# rounds cannot tell the two apart. The accuracy is measured after one short
# epoch, so its differences are small against the run-to-run spread of the
# unsynchronized settings: read them together with the bars.
#
# ## What disappears with the barrier
#
# BSP is exactly sequential minibatch SGD with batch N: the test suite checks
# the engine's weights against a one-process run to 1e-12, on every backend.
# Without the barrier:
#
# * the order in which gradients land depends on the timing, so the same seed
#   no longer gives the same weights (the next cell trains each setting twice
#   and compares);
# * SSP keeps a *bound*: no gradient of iteration t misses an update older
#   than iteration t - s (Ho et al. prove convergence under such a bound);
# * async keeps no bound: a gradient's staleness is whatever the timing makes it;
# * Hogwild! drops even the atomicity of an update: a worker may read weights
#   that another is halfway through changing.

# %%
for label, options in (("bsp", {}), ("ssp s=4", dict(sync="ssp", staleness=4)),
                       ("hogwild", dict(sync="hogwild"))):
    same = without_barrier.reproducible(data, **slow, **options)
    print(f"{label:8s}: the same seed twice gives {'the same' if same else 'different'} weights")

# %% [markdown]
# ## Exercises
#
# Each takes well under a minute on a 2-core laptop; worked answers are in
# `solutions/06_without_the_barrier_solutions.ipynb`.
#
# Check each answer in a cell of your own: `from pdsgd.course import checks`, then
# `checks.check("06.1", answer)` prints "correct" or a hint, and `checks.ask("06.1")`
# says what the answer should be. (`make assignments` builds the graded version.)
#
# 1. In the panel, set `extra ms per iteration` to 0 (no straggler) and run
#    `bsp`, `ssp` with s = 4 and `async`. What does dropping the barrier buy
#    when nobody is slow?
# 2. Run the sweep with four workers on this 2-core machine
#    (`without_barrier.sweep(data, workers=4, train_size=P)`) and draw its staleness
#    histogram. How does the staleness of `async` change against two
#    workers, and why?
