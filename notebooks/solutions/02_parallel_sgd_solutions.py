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

# %% [markdown] nbgrader={"grade": false, "grade_id": "intro-02", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # Notebook 2: worked answers to the exercises
#
# Each answer runs in seconds on a 2-core laptop. The numbers are those this
# run printed; the explanations say what to look for in them.

# %% nbgrader={"grade": false, "grade_id": "ex02-setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import numpy as np

import pdsgd
from pdsgd import load_dataset
from pdsgd.course import checks, lessons

data = load_dataset("mnist-5k")
settings = lessons.defaults()
P, epochs = settings["train_size"], settings["epochs"]

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex02-text-1", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 1. Eight workers, fixed and linear rates
#
# *In the panel, set N = 8 with the fixed learning rate, then with `lr rule =
# linear`. Explain the accuracies with the minibatch view.*

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex02-text-2", "locked": false, "points": 0, "schema_version": 3, "solution": true, "task": false}
# The `serial` backend computes exactly what 8 processes would (notebook 2
# checked it), without starting 8 processes on 2 cores.

# %% nbgrader={"grade": false, "grade_id": "ex02-1-work", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
sequential = pdsgd.train(data, train_size=P, epochs=epochs)
print(f"sequential, batch 1, lr 0.1:  test accuracy {sequential.test_accuracy:.3f}")
for rule in ("fixed", "linear"):
    r = pdsgd.train(data, workers=8, backend="serial", lr_rule=rule, train_size=P,
                    epochs=epochs)
    print(f"N = 8, lr rule {rule:6s} (lr {r.config['step_lr']:.1f}): test accuracy "
          f"{r.test_accuracy:.3f}, {r.history['loss'][-1]:.4f} loss")
### END SOLUTION

# %% nbgrader={"grade": false, "grade_id": "ex02-1-answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
answer_1 = None  # your answer: the learning rate of one step at N = 8 with the linear rule
### BEGIN SOLUTION
answer_1 = r.config["step_lr"]
### END SOLUTION
checks.check("02.1", answer_1)

# %% nbgrader={"grade": true, "grade_id": "ex02-1-grade", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
checks.grade("02.1", answer_1)  # graded: 1 point

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex02-text-3", "locked": false, "points": 0, "schema_version": 3, "solution": true, "task": false}
# Eight workers averaging one gradient each is minibatch SGD with a batch of
# 8: an epoch of P samples takes P / 8 steps instead of P. With the fixed rate
# each of those steps is as long as one single-sample step, so an epoch moves
# the weights about 8 times less far, and accuracy after the same epochs is
# lower. The linear rule makes each step 8 times longer (0.8), so an epoch
# covers about the same ground as sequential SGD; batch 8 is still below the
# point where linear scaling breaks (the table in notebook 2), so accuracy
# comes back close to the sequential run's.

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex02-text-4", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 2. Algorithm 1 with one worker, and with sixteen
#
# *Run Algorithm 1 (`algorithm="average"`) with `workers=1`: what algorithm is
# it then, whatever K? Now try `workers=16` with `local_steps=P // 16`.*

# %% nbgrader={"grade": false, "grade_id": "ex02-2-work", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
for K in (1, 10, 100):
    one = pdsgd.train(data, workers=1, backend="serial", algorithm="average", local_steps=K,
                      train_size=P, epochs=epochs)
    gap = np.abs(one.model.params - sequential.model.params).max()
    print(f"workers=1, K = {K:3d}: largest difference from sequential SGD {gap:.1e}")
sixteen = pdsgd.train(data, workers=16, backend="serial", algorithm="average",
                      local_steps=P // 16, train_size=P, epochs=epochs)
print(f"workers=16, K = {P // 16}: test accuracy {sixteen.test_accuracy:.3f} "
      f"(sequential: {sequential.test_accuracy:.3f})")
### END SOLUTION

# %% nbgrader={"grade": false, "grade_id": "ex02-2-answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
answer_2 = None  # your answer: the largest difference from sequential SGD with workers=1
### BEGIN SOLUTION
answer_2 = gap
### END SOLUTION
checks.check("02.2", answer_2)

# %% nbgrader={"grade": true, "grade_id": "ex02-2-grade", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
checks.grade("02.2", answer_2)  # graded: 1 point

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex02-text-5", "locked": false, "points": 0, "schema_version": 3, "solution": true, "task": false}
# With one worker there is nothing to average: the worker takes K steps from
# the parent's weights and the "average" of one parameter vector is that
# vector. Whatever K, it is plain sequential SGD over the same sample order;
# the differences printed are rounding (the engine's general path against the
# batch-1 fast path).
#
# With 16 workers and K = P / 16, each worker runs SGD alone over its 1/16 of
# the epoch, starting from the same weights, and the 16 results are averaged
# once per epoch. Each worker has seen few samples, the 16 models drift in
# different directions, and for a non-convex network the average of models
# that drifted apart is not a good model: accuracy falls well below
# sequential SGD's.

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex02-text-6", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 3. Sufficient factors for a wider hidden layer
#
# *Using `lessons.measure_messages(sizes=(784, 1000, 10))`, how does the
# advantage of sufficient factors grow with the hidden layer? For which
# micro-batch b would sending b sets of factors cost as many floats as a whole
# gradient?*

# %% nbgrader={"grade": false, "grade_id": "ex02-3-work", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
for sizes in [(784, 200, 10), (784, 1000, 10)]:
    m = lessons.measure_messages(sizes=sizes, workers=4, repeats=lessons.pick(21, 3))
    f, g = m["factors"], m["gradients"]
    print(f"{sizes}: factors {f['floats']:,} floats, gradient {g['floats']:,} "
          f"({g['floats'] / f['floats']:.0f}x); aggregation {g['aggregate_seconds'] * 1e6:.0f} us "
          f"against {f['aggregate_seconds'] * 1e6:.0f} us; break-even micro-batch b = "
          f"{g['floats'] / f['floats']:.0f}")
### END SOLUTION

# %% nbgrader={"grade": false, "grade_id": "ex02-3-answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
answer_3 = None  # your answer: the micro-batch b at which factors cost a whole gradient, (784, 1000, 10)
### BEGIN SOLUTION
answer_3 = m["gradients"]["floats"] / m["factors"]["floats"]
### END SOLUTION
checks.check("02.3", answer_3)

# %% nbgrader={"grade": true, "grade_id": "ex02-3-grade", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
checks.grade("02.3", answer_3)  # graded: 1 point

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex02-text-7", "locked": false, "points": 0, "schema_version": 3, "solution": true, "task": false}
# A layer of `n_out x n_in` weights has a gradient of `n_out * n_in` numbers
# (plus `n_out` biases) but sufficient factors of `n_in + n_out`. The ratio
# grows with the layer, roughly like its smaller side. Five times more
# hidden units make the gradient about five times larger, while the factors
# grow by only the added units. With micro-batch b a worker sends b sets of
# factors, so the floats break even when b reaches the ratio printed above;
# the aggregation's cost follows the same arithmetic.
