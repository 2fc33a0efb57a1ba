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
# # 1. The network
#
# This course rebuilds, in Python, the system of a short paper, *Parallel and
# Distributed Deep Learning in Go*. We call that paper **the seed**: the
# document everything here grows from. The seed trains a small fully connected
# network on handwritten digits: 784 inputs (a 28 x 28 image), one hidden
# layer of 200 sigmoid units, 10 sigmoid outputs (one per digit), a
# squared-error loss, learning rate 0.1, one sample at a time. Then it runs
# the training on N workers in parallel (notebooks 2 to 5). Before that, we
# take the network apart on one core.
#
# **You will learn**
#
# * how the network is a few matrices, and where they live in memory;
# * the forward pass (matrix times vector, then a sigmoid) and the backward
#   pass (the deltas), and why a one-sample gradient is an *outer product*;
# * how to check a gradient against finite differences;
# * what one epoch of the seed's sequential SGD does to the loss, and the test
#   accuracy it reaches.
#
# Everything that computes lives in the `pdsgd` package; the cells only call it.

# %%
# %matplotlib inline
import numpy as np

import pdsgd
from pdsgd import MLP, load_dataset, plots
from pdsgd.course import lessons, widgets

settings = lessons.defaults()  # small sizes: every cell runs in seconds
settings

# %% [markdown]
# ## The data
#
# `mnist-5k` is a 5,000-image subset of MNIST that ships with the package, so
# nothing is downloaded. Pixels are scaled as in Rashid's book,
# `x / 255 * 0.99 + 0.01`, and a label `y` becomes a target vector of 0.01
# everywhere and 0.99 at position `y`.

# %%
data = load_dataset("mnist-5k")
print("train:", data.X_train.shape, " test:", data.X_test.shape, " classes:", data.n_classes)
print("first labels:", data.y_train[:10])
print("target of the first sample:", data.targets(data.y_train[:1]).round(2))

# %%
plots.plot_digits(data.X_train[:10], data.y_train[:10])

# %% [markdown]
# ## The network is a few matrices
#
# Layer `l` has a weight matrix $W_l$ of shape `(n_out, n_in)` and a bias
# vector $b_l$. `MLP` keeps **all** of them in one flat array, `model.params`;
# each matrix is a *view* into it. The parallel engine relies on that: one
# buffer is easy to place in shared memory, copy or checksum.

# %%
model = MLP((784, 200, 10), seed=0)
for l, (W, b) in enumerate(zip(model.weights, model.biases)):
    print(f"layer {l + 1}: W {W.shape}, b {b.shape}")
print("parameters in the flat buffer:", model.params.size)
print("W1 is a view of the buffer:", np.shares_memory(model.weights[0], model.params))

# %% [markdown]
# ## Forward pass
#
# For an input $x$: $a_1 = \sigma(W_1 x + b_1)$, then $a_2 = \sigma(W_2 a_1 + b_2)$,
# with $\sigma(z) = 1 / (1 + e^{-z})$. The predicted digit is the largest of
# the 10 outputs. `model.forward` does it for a whole batch at once (one row per
# sample) and returns every layer's activations.
#
# NumPy hands such matrix arithmetic to **BLAS** (Basic Linear Algebra
# Subprograms), a library tuned for each processor. Two of its routines matter
# here. `gemv` ("general matrix-vector") computes $y \leftarrow \alpha A x + \beta y$:
# one sample's forward pass through a layer. `ger` ("general rank-1 update")
# computes $A \leftarrow A + \alpha\, x y^\top$ in place: adding an outer product to
# a matrix without building it, which is what a one-sample SGD update is (below).

# %%
acts = model.forward(data.X_train[:3])
print([a.shape for a in acts])
print("outputs of the untrained network for 3 samples:\n", acts[-1].round(2))
print("predicted:", model.predict(data.X_train[:3]), " true:", data.y_train[:3])

# %% [markdown]
# ## Backward pass
#
# The loss of one sample is half the sum of its squared errors over the 10
# outputs, $L = \tfrac12 \lVert a_2 - t \rVert^2$; the loss of a set of samples,
# as every plot and table of the course reports it, is the mean of that over
# the samples. Going
# backwards, the *delta* of the output layer is
# $\delta_2 = (a_2 - t) \odot a_2 \odot (1 - a_2)$ and of the hidden layer
# $\delta_1 = (W_2^\top \delta_2) \odot a_1 \odot (1 - a_1)$.
# The gradient of $W_l$ is the **outer product** $\delta_l \, a_{l-1}^\top$ of
# two vectors. `model.factors` returns those vectors: the *sufficient factors*
# (notebook 2 shows why sending them instead of the matrix matters).

# %%
x, t = data.X_train[:1], data.targets(data.y_train[:1])
deltas, inputs = model.factors(x, t)
print("delta shapes:", [d.shape for d in deltas], " input shapes:", [a.shape for a in inputs])
grad = model.gradient(x, t)  # the whole gradient, in the layout of model.params
grad_W1 = grad[:200 * 784].reshape(200, 784)
print("gradient of W1 == outer(delta_1, x):", np.allclose(grad_W1, np.outer(deltas[0], x)))

# %% [markdown]
# ## Gradient check
#
# Backpropagation is easy to get subtly wrong. A finite difference,
# $\partial L / \partial \theta \approx (L(\theta + \epsilon) - L(\theta - \epsilon)) / 2\epsilon$,
# is slow but independent. We compare both on a few random parameters of a
# small network; the relative error should be around $10^{-8}$ or less.

# %%
small = MLP((6, 5, 3), seed=1)
rng = np.random.default_rng(0)
check = lessons.gradient_check(small, rng.random((4, 6)), rng.random((4, 3)))
for k in range(len(check["index"])):
    print(f"param {check['index'][k]:3d}: backprop {check['backprop'][k]:+.8f}  "
          f"finite difference {check['finite_difference'][k]:+.8f}  "
          f"relative error {check['relative_error'][k]:.1e}")
assert check["relative_error"].max() < 1e-6

# %% [markdown]
# ## One epoch of the seed's SGD, live
#
# One sample at a time: forward (`gemv`), backward, and update
# $W_l \leftarrow W_l - \eta\, \delta_l a_{l-1}^\top$ in place (`ger`, the rank-1
# update). The plot redraws the training loss (the mean over 200 fixed
# training samples of half the sum of squared errors) as the epoch goes.
# Kernel > Interrupt stops it.

# %%
model, curve = widgets.live_epoch(data, train_size=settings["train_size"], lr=settings["lr"])
print(f"loss went from {curve['loss'][0]:.3f} to {curve['loss'][-1]:.3f}")

# %%
print(f"test accuracy after one epoch on {settings['train_size']} samples: "
      f"{model.accuracy(data.X_test, data.y_test):.3f} (guessing: 0.100)")

# %% [markdown]
# ## The same through `pdsgd.train`
#
# `train` is the one way the kit trains: sequentially for one worker, with the
# parallel engine for more (next notebook). It evaluates after every epoch;
# `seed=` (0 unless given) fixes the initial weights and every epoch's sample
# order, so a run can be repeated exactly.

# %%
result = pdsgd.train(data, epochs=settings["epochs"], train_size=settings["train_size"])
print(result.summary())
plots.plot_history(result.history)

# %% [markdown]
# ## Exercises
#
# Each takes well under a minute on a 2-core laptop; worked answers are in
# `solutions/01_the_network_solutions.ipynb`.
#
# Check each answer in a cell of your own: `from pdsgd.course import checks`, then
# `checks.check("01.1", answer)` prints "correct" or a hint, and `checks.ask("01.1")`
# says what the answer should be. (`make assignments` builds the graded version.)
#
# 1. Train on all 4,000 training samples (`train_size=None`) for 5 epochs. How
#    close do you get to the 0.97 that Rashid's book reports on the full
#    60,000-image MNIST, and why not closer?
# 2. Change the hidden layer to 50 units, then to two layers `(200, 100)`
#    (`pdsgd.train(data, hidden=(200, 100), train_size=1000)`). What happens to
#    accuracy and to training time, and why?
# 3. Run `widgets.live_epoch` with `lr=1.0`, then `lr=0.01`. How does the loss
#    curve change? Which rate would you pick for one epoch, and which for ten?
