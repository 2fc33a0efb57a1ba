"""The network against independent references: finite differences, and its own general path."""

import numpy as np
import pytest

from pdsgd.mlp import MLP, param_count


def _batch(rng, model, n):
    X = rng.random((n, model.sizes[0])).astype(model.dtype)
    T = rng.random((n, model.sizes[-1])).astype(model.dtype)
    return X, T


def _finite_difference(model, X, T, eps=1e-6):
    grad = np.empty_like(model.params)
    for i in range(len(model.params)):
        keep = model.params[i]
        model.params[i] = keep + eps
        plus = model.loss(X, T)
        model.params[i] = keep - eps
        minus = model.loss(X, T)
        model.params[i] = keep
        grad[i] = (plus - minus) / (2 * eps)
    return grad


@pytest.mark.parametrize("sizes,bias,batch", [
    ((5, 4, 3), True, 1),
    ((6, 7, 5, 2), True, 4),
    ((3, 8, 8, 8, 4), False, 3),
    ((9, 2), True, 7),
])
def test_gradient_matches_central_finite_differences(sizes, bias, batch):
    rng = np.random.default_rng(sum(sizes) + batch)
    model = MLP(sizes, bias=bias, seed=batch)
    if bias:  # non-zero biases, so their gradient path is really exercised
        for b in model.biases:
            b[:] = rng.normal(0, 0.5, b.shape)
    X, T = _batch(rng, model, batch)
    analytic = model.gradient(X, T)
    numeric = _finite_difference(model, X, T)
    assert np.max(np.abs(analytic - numeric)) < 1e-7 * max(1.0, np.max(np.abs(numeric)))


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-13), ("float32", 1e-6)])
@pytest.mark.parametrize("sizes,bias", [((784, 200, 10), True), ((20, 15, 9, 4), False)])
def test_batch_one_fast_path_equals_general_path(dtype, tol, sizes, bias):
    rng = np.random.default_rng(1)
    fast = MLP(sizes, bias=bias, dtype=dtype, seed=3)
    general = fast.copy()
    X, T = _batch(rng, fast, 20)
    for x, t in zip(X, T):
        fast.step_one(x, t, 0.1)
        general.sgd_step(x[None, :], t[None, :], 0.1)
    scale = np.max(np.abs(general.params))
    assert np.max(np.abs(fast.params - general.params)) <= tol * scale
    assert not np.array_equal(fast.params, MLP(sizes, bias=bias, dtype=dtype, seed=3).params)


def test_parameters_are_one_flat_buffer_with_layer_views():
    model = MLP((4, 3, 2), seed=0)
    assert model.params.shape == (param_count((4, 3, 2)),) == (4 * 3 + 3 + 3 * 2 + 2,)
    for w in model.weights:
        assert np.shares_memory(w, model.params)
    model.params[:] = 7.0
    assert np.all(model.weights[1] == 7.0) and np.all(model.biases[0] == 7.0)
    shared = np.zeros(param_count((4, 3, 2)))
    over = MLP((4, 3, 2), params=shared)
    over.weights[0][0, 0] = 1.5
    assert shared[0] == 1.5  # a model over a given buffer uses it, no copy


def test_sgd_step_lowers_the_loss_and_apply_factors_is_the_mean_gradient():
    rng = np.random.default_rng(0)
    model = MLP((10, 6, 3), seed=1)
    X, T = _batch(rng, model, 8)
    expected = model.params - 0.5 * model.gradient(X, T)
    before = model.loss(X, T)
    model.sgd_step(X, T, 0.5)
    assert np.allclose(model.params, expected, rtol=1e-13, atol=1e-15)
    assert model.loss(X, T) < before


def test_initial_weights_are_seeded_and_rashid_scaled():
    a, b = MLP((784, 200, 10), seed=5), MLP((784, 200, 10), seed=5)
    assert np.array_equal(a.params, b.params)
    assert not np.array_equal(a.params, MLP((784, 200, 10), seed=6).params)
    assert abs(a.weights[0].std() - 784 ** -0.5) < 0.002
    assert np.all(a.biases[0] == 0)


def test_save_and_load_round_trip_without_pickle(tmp_path):
    model = MLP((5, 4, 3), bias=False, dtype="float32", seed=2)
    model.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as f:
        assert set(f.files) == {"sizes", "bias", "dtype", "params"}
    back = MLP.load(tmp_path / "m.npz")
    assert back.sizes == (5, 4, 3) and back.bias is False and back.dtype == np.float32
    assert np.array_equal(back.params, model.params)
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temporary left behind


@pytest.mark.parametrize("sizes", [(784,), (784, 0, 10), (784, -3, 10)])
def test_bad_sizes_are_refused_with_a_clear_message(sizes):
    from pdsgd.errors import PdsgdError

    with pytest.raises(PdsgdError, match="layer"):
        MLP(sizes)


@pytest.mark.parametrize("rows", [1, 5])
@pytest.mark.parametrize("bias", [True, False])
def test_layer_into_is_the_affine_map_of_the_forward_pass(rows, bias):
    rng = np.random.default_rng(rows)
    model = MLP((6, 4, 3), bias=bias, seed=1)
    if bias:
        model.biases[0][:] = rng.normal(size=4)
    A = rng.random((rows, 6))
    out = np.empty((rows, 4))
    model.layer_into(0, A, out)
    assert np.allclose(out, A @ model.weights[0].T + (model.biases[0] if bias else 0),
                       rtol=1e-14, atol=1e-15)
