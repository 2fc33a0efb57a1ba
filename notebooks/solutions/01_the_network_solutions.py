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

# %% [markdown] nbgrader={"grade": false, "grade_id": "intro-01", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # Notebook 1: worked answers to the exercises
#
# Each answer runs in seconds on a 2-core laptop. The numbers are those this
# run printed; the explanations say what to look for in them.

# %% nbgrader={"grade": false, "grade_id": "ex01-setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
# %matplotlib inline
import pdsgd
from pdsgd import load_dataset
from pdsgd.course import checks, lessons, widgets

data = load_dataset("mnist-5k")
all_samples = lessons.pick(None, 300)  # None: all 4,000 (PDSGD_QUICK=1: fewer, for the tests)
P = lessons.defaults()["train_size"]

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex01-text-1", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 1. All the samples, 5 epochs
#
# *Train on all 4,000 training samples (`train_size=None`) for 5 epochs. How
# close do you get to the 0.97 that Rashid's book reports on the full
# 60,000-image MNIST, and why not closer?*

# %% nbgrader={"grade": false, "grade_id": "ex01-1-work", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
result = pdsgd.train(data, train_size=all_samples, epochs=lessons.pick(5, 1))
print(result.summary())
print(f"test accuracy {result.test_accuracy:.4f} against Rashid's 0.9712: "
      f"{0.9712 - result.test_accuracy:+.4f} to go")
### END SOLUTION

# %% nbgrader={"grade": false, "grade_id": "ex01-1-answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
answer_1 = None  # your answer: the result of pdsgd.train on all the samples, 5 epochs
### BEGIN SOLUTION
answer_1 = result
### END SOLUTION
checks.check("01.1", answer_1)

# %% nbgrader={"grade": true, "grade_id": "ex01-1-grade", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
checks.grade("01.1", answer_1)  # graded: 1 point

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex01-text-2", "locked": false, "points": 0, "schema_version": 3, "solution": true, "task": false}
# The network, the learning rate and the epochs are Rashid's; what differs is
# the data: 4,000 training images instead of 60,000, so five epochs are
# 20,000 SGD steps instead of 300,000, and far fewer ways of writing each
# digit are seen. The gap printed above is what that costs. In docs/usage.md,
# "Checking the published 0.9712" runs the real comparison on full
# MNIST.

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex01-text-3", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 2. A narrower and a deeper hidden layer
#
# *Change the hidden layer to 50 units, then to two layers `(200, 100)`. What
# happens to accuracy and to training time, and why?*

# %% nbgrader={"grade": false, "grade_id": "ex01-2-work", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
params = {}
for hidden in [(200,), (50,), (200, 100)]:
    r = pdsgd.train(data, hidden=hidden, train_size=P, epochs=2)
    params[hidden] = r.model.params.size
    print(f"hidden {str(hidden):10s}: {r.model.params.size:7,} parameters, "
          f"{r.train_seconds:.2f} s, {r.train_seconds / (2 * P) * 1e6:5.0f} us per sample, "
          f"test accuracy {r.test_accuracy:.3f}")
### END SOLUTION

# %% nbgrader={"grade": false, "grade_id": "ex01-2-answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
answer_2 = None  # your answer: {hidden: number of parameters} for (50,) and (200, 100)
### BEGIN SOLUTION
answer_2 = params
### END SOLUTION
checks.check("01.2", answer_2)

# %% nbgrader={"grade": true, "grade_id": "ex01-2-grade", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
checks.grade("01.2", answer_2)  # graded: 1 point

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex01-text-4", "locked": false, "points": 0, "schema_version": 3, "solution": true, "task": false}
# Time per sample follows the number of parameters: at batch 1 each step
# reads and updates every weight once (a `gemv` forward, a `ger` update), so
# the work is proportional to the weights, and memory traffic rather than
# arithmetic sets the pace. 50 hidden units hold about a quarter of the
# weights; (200, 100) adds a 200 x 100 layer on top of 784 x 200.
#
# Accuracy: 50 units are enough for digits: after two epochs the narrow
# network is about as accurate as the seed's (compare the first two lines; it
# may even be ahead, having fewer weights to fit). A second sigmoid layer does
# not help in two epochs: each sigmoid layer multiplies the backpropagated
# gradient by $\sigma'(z) \le 1/4$, so the first layer learns more slowly, and
# the deeper network trails far behind at first.

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex01-text-5", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## 3. Learning rates 1.0 and 0.01
#
# *Run `widgets.live_epoch` with `lr=1.0`, then `lr=0.01`. How does the loss
# curve change? Which rate would you pick for one epoch, and which for ten?*

# %% nbgrader={"grade": false, "grade_id": "ex01-3-work", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
curves = {}
for lr in (1.0, 0.1, 0.01):
    _, curves[lr] = widgets.live_epoch(data, train_size=P, lr=lr)
for lr, curve in curves.items():
    print(f"lr {lr:4}: loss {curve['loss'][0]:.3f} -> {curve['loss'][len(curve['loss']) // 2]:.3f}"
          f" (halfway) -> {curve['loss'][-1]:.3f} (end of the epoch)")
### END SOLUTION

# %% nbgrader={"grade": false, "grade_id": "ex01-3-answer", "locked": false, "schema_version": 3, "solution": true, "task": false}
answer_3 = None  # your answer: {"one epoch": rate, "ten epochs": rate}, rates from 1.0, 0.1, 0.01
### BEGIN SOLUTION
answer_3 = {"one epoch": 1.0, "ten epochs": 0.1}
### END SOLUTION
checks.check("01.3", answer_3)

# %% nbgrader={"grade": true, "grade_id": "ex01-3-grade", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
checks.grade("01.3", answer_3)  # graded: 1 point

# %% [markdown] nbgrader={"grade": true, "grade_id": "ex01-text-6", "locked": false, "points": 0, "schema_version": 3, "solution": true, "task": false}
# With `lr=0.01` each step moves the weights a tenth as far as the seed's 0.1:
# the loss falls slowly and steadily and is still high after one epoch. With
# `lr=1.0` the first samples move the weights ten times as far: the loss
# falls fastest at first, then jumps around (one sample's gradient can undo
# what the previous taught) and may level off above the 0.1 curve.
#
# For a single epoch the larger rate usually wins, since there is little
# time to use. For ten epochs, the smaller rates catch up and a large rate's
# noise keeps the loss from settling: the seed's 0.1, or a rate that starts
# large and decays, is the better choice.
