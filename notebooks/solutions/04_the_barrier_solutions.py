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

# %% [markdown] nbgrader={"grade": false, "grade_id": "intro-04", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # Notebook 4: worked answers to the exercises
#
# Each answer runs in seconds on a 2-core laptop. The numbers are those this
# run printed; the explanations say what to look for in them.

# %% nbgrader={"grade": false, "grade_id": "ex04-setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# %matplotlib inline
import numpy as np

import pdsgd
from pdsgd import load_dataset, plots
from pdsgd.course import checks, lessons, tables, widgets
from pdsgd.engine import trace

data = load_dataset("mnist-5k")
P = lessons.defaults()["train_size"]

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex04-text-1", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 1. A straggler with 2 and with 4 workers
#
# *Set `extra ms per iteration` to 5 and run with N = 2, then
# N = 4. How long does the run take in each case, and how long would it take
# without the barrier (each worker at its own pace)?*

# %% nbgrader={"grade": false, "grade_id": "ex04-1-work", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
panel = widgets.StragglerPanel(data, sync_controls=False, delay_ms=5.0, straggler=1)
delay = panel.delay_ms.value / 1e3
for n in (2, 4):
    panel.workers.value = n
    result = panel.run()
    iterations = len(np.unique(result.trace["iteration"]))
    totals = trace.summarize(result.trace)
    print(f"N = {n}: {iterations} iterations, {result.train_seconds:.2f} s; the delay alone "
          f"is {iterations * delay:.2f} s; worker 0 waited {totals[0]['barrier wait']:.2f} s")
panel
### END SOLUTION

# %% nbgrader={"grade": false, "grade_id": "ex04-1-answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
answer_1 = None  # your answer: the seconds the straggler's delay alone adds to the last run
### BEGIN SOLUTION
answer_1 = iterations * delay
### END SOLUTION
checks.check("04.1", answer_1, result)

# %% nbgrader={"grade": true, "grade_id": "ex04-1-grade", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
checks.grade("04.1", answer_1, result)  # graded: 1 point

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex04-text-2", "locked": false, "points": 0, "schema_version": 3, "solution": true, "task": false}
# Each of the P / N iterations waits for the straggler, so the run takes
# about (P / N) x (delay + an iteration's normal time): the delay alone
# accounts for most of it, as the printed figures show. Doubling N halves the
# iterations, so N = 4 takes about half as long as N = 2, but every fast
# worker spends about the delay of every iteration waiting.
#
# Without a barrier, each worker would go through its P / N samples at its
# own pace: the fast ones would finish early, the straggler exactly as late as
# now. The run would end no sooner, since the straggler's share still takes
# that long; what the barrier costs is the fast workers' idle time. Only
# giving the straggler less work, or letting the others go on with slightly
# older weights (asynchronous SGD), would shorten the run.

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex04-text-3", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 2. One crossing per iteration
#
# *Repeat the first timeline with `aggregate="replicated"`. How many barrier
# crossings per iteration are there now, and where did the green go?*

# %% nbgrader={"grade": false, "grade_id": "ex04-2-work", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
replicated = pdsgd.train(data, workers=2, backend="threads", aggregate="replicated",
                         epochs=1, train_size=P)
waits = replicated.trace[replicated.trace["phase"] == trace.WAIT]
per_iteration = len(waits) / len(np.unique(waits["iteration"])) / 2
print(f"barrier waits per worker per iteration: {per_iteration:.0f}")
print("parties in the trace:", sorted({tables.party_name(int(w))
                                       for w in replicated.trace["worker"]}))
plots.plot_run_timeline(replicated.trace, count=6)
### END SOLUTION

# %% nbgrader={"grade": false, "grade_id": "ex04-2-answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
answer_2 = None  # your answer: barrier crossings per worker per iteration with replicas
### BEGIN SOLUTION
answer_2 = round(per_iteration)
### END SOLUTION
checks.check("04.2", answer_2)

# %% nbgrader={"grade": true, "grade_id": "ex04-2-grade", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
checks.grade("04.2", answer_2)  # graded: 1 point

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex04-text-4", "locked": false, "points": 0, "schema_version": 3, "solution": true, "task": false}
# One crossing per iteration: after computing, the workers cross once, and
# then **each worker** applies the summed update to its own replica of the
# weights. The green moved from the aggregator's row into every worker's row,
# right after its red: there is no broker update to wait for, so no second
# crossing, and the aggregator has no row at all. The price: every worker
# repeats the same update.

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex04-text-5", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 3. Three workers on two cores
#
# *On this 2-core machine, run N = 3 with `backend="processes"` and draw the
# timeline. What happens to the waits when a worker has no core to run on?*

# %% nbgrader={"grade": false, "grade_id": "ex04-3-work", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
for n in (2, 3):
    r = pdsgd.train(data, workers=n, backend="processes", epochs=1, train_size=P)
    budget = tables.time_budget(r)
    wait = np.mean([p["barrier wait"] for name, p in budget["parties"].items()
                    if name.startswith("worker")])
    print(f"N = {n} ({r.config['aggregate']}): one iteration {budget['iteration'] * 1e6:.0f} us,"
          f" a worker waits {wait * 1e6:.0f} us of it")
plots.plot_run_timeline(r.trace, count=6)
### END SOLUTION

# %% nbgrader={"grade": false, "grade_id": "ex04-3-answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
answer_3 = None  # your answer: "grow" or "shrink": the waits when a worker has no core
### BEGIN SOLUTION
answer_3 = "grow"
### END SOLUTION
checks.check("04.3", answer_3)

# %% nbgrader={"grade": true, "grade_id": "ex04-3-grade", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
checks.grade("04.3", answer_3)  # graded: 1 point

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex04-text-6", "locked": false, "points": 0, "schema_version": 3, "solution": true, "task": false}
# With three workers on two cores, at any moment one worker is not running.
# The two that are finish their sample and wait at the barrier for the third,
# which can only run once the operating system gives it a core. The waits
# (red) therefore grow from about a barrier crossing to about a time slice of
# the scheduler, much longer than the computation they separate; the engine
# stops spinning in that case (a spinning worker would hold the core the late
# one needs), and the timeline shows long red bars around short blue ones.
