"""LayerNorm, RMSNorm and BatchNorm against numpy (BatchNorm's running statistics against the
PyTorch update rule), gradients, jit, and shape errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fborn
import fborn.numpy as fnp
from fborn.models import BatchNorm, BatchNormState, LayerNorm, RMSNorm, tree_at
from fborn.test_util import check_grads
from fborn.tree_util import keystr, tree_leaves_with_path
from fborn.typing import TypeCheckError

RNG = np.random.default_rng(0)


def rand(*shape, scale=1.0, loc=0.0):
    return (loc + scale * RNG.normal(size=shape)).astype(np.float32)


def arr(x):
    return np.asarray(x)


def layer_norm_ref(x, ndims, eps, w=None, b=None):
    axes = tuple(range(x.ndim - ndims, x.ndim))
    x = x.astype(np.float64)
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + eps)
    return y * (1 if w is None else w) + (0 if b is None else b)


@given(st.sampled_from([((5,), (3, 5)), ((4, 3), (2, 4, 3)), ((6,), (6,))]),
       st.sampled_from([1e-5, 1e-2]))
def test_layer_norm_matches_numpy(shapes, eps):
    norm_shape, x_shape = shapes
    ln = LayerNorm(norm_shape, eps=eps)
    ln = tree_at(lambda m: (m.weight, m.bias), ln,
                 (fnp.asarray(rand(*norm_shape)), fnp.asarray(rand(*norm_shape))))
    x = rand(*x_shape, scale=3.0, loc=1.0)
    want = layer_norm_ref(x, len(norm_shape), eps, arr(ln.weight), arr(ln.bias))
    np.testing.assert_allclose(arr(ln(fnp.asarray(x))), want, rtol=1e-4, atol=1e-5)


def test_layer_norm_defaults_and_no_affine():
    ln = LayerNorm(4)
    assert ln.shape == (4,) and ln.eps == 1e-5
    np.testing.assert_array_equal(arr(ln.weight), np.ones(4))
    np.testing.assert_array_equal(arr(ln.bias), np.zeros(4))
    plain = LayerNorm((2, 4), elementwise_affine=False)
    assert plain.weight is None and plain.bias is None
    assert [keystr(p) for p, _ in tree_leaves_with_path(ln)] == [".weight", ".bias"]
    x = rand(3, 2, 4)
    np.testing.assert_allclose(arr(plain(fnp.asarray(x))), layer_norm_ref(x, 2, 1e-5),
                               rtol=1e-4, atol=1e-5)


def test_layer_norm_keeps_half_precision_dtype():
    x = fnp.asarray(rand(2, 8, scale=100.0)).astype("bfloat16")
    y = LayerNorm(8, dtype="bfloat16")(x)
    assert y.dtype == np.dtype("bfloat16")
    want = layer_norm_ref(arr(x.astype("float32")), 1, 1e-5)
    np.testing.assert_allclose(arr(y.astype("float32")), want, atol=2e-2)


def test_rms_norm_matches_numpy():
    rms = RMSNorm(6, eps=1e-6)
    rms = tree_at(lambda m: m.weight, rms, fnp.asarray(rand(6)))
    x = rand(4, 6, scale=2.0)
    want = x / np.sqrt((x.astype(np.float64) ** 2).mean(-1, keepdims=True) + 1e-6) * arr(
        rms.weight)
    np.testing.assert_allclose(arr(rms(fnp.asarray(x))), want, rtol=1e-5, atol=1e-6)
    assert RMSNorm(3, elementwise_affine=False).weight is None


def test_norm_gradients():
    x = fnp.asarray(rand(2, 5, scale=2.0))
    ln = tree_at(lambda m: m.bias, LayerNorm(5), fnp.asarray(rand(5)))
    check_grads(lambda m, v: m(v), (ln, x), order=1, modes=("rev",), eps=1e-2, rtol=2e-2,
                atol=2e-2)
    check_grads(lambda m, v: m(v), (RMSNorm(5), x), order=1, modes=("rev",), eps=1e-2,
                rtol=2e-2, atol=2e-2)


def test_norm_shape_errors():
    with pytest.raises(TypeCheckError, match=r"LayerNorm: the input's trailing axes have shape "
                                             r"\(2, 5\) \(input shape \(3, 2, 5\)\), but the "
                                             r"layer normalizes shape=\(4, 5\)"):
        LayerNorm((4, 5))(fnp.ones((3, 2, 5)))
    with pytest.raises(TypeCheckError, match=r"RMSNorm: the input's trailing axes have shape "
                                             r"\(3,\)"):
        RMSNorm(4)(fnp.ones((2, 3)))
    with pytest.raises(TypeCheckError, match="LayerNorm.__call__: argument x has dtype int32"):
        LayerNorm(3)(fnp.ones(3, "int32"))
    with pytest.raises(ValueError, match="LayerNorm: shape must be >= 0"):
        LayerNorm(-1)


# --- BatchNorm ----------------------------------------------------------------------------------


def test_batch_norm_training_normalizes_with_batch_statistics():
    bn = BatchNorm(3, momentum=0.2)
    bn = tree_at(lambda m: (m.weight, m.bias), bn, (fnp.asarray(np.array([1.0, 2.0, 0.5],
                                                                          np.float32)),
                                                    fnp.asarray(np.array([0.0, -1.0, 3.0],
                                                                         np.float32))))
    x = rand(4, 3, 2, 5, scale=2.0, loc=1.0)
    state = bn.init_state()
    np.testing.assert_array_equal(arr(state.running_mean), np.zeros(3))
    np.testing.assert_array_equal(arr(state.running_var), np.ones(3))
    y, new = bn(fnp.asarray(x), state, training=True)
    mean = x.mean(axis=(0, 2, 3))
    var = x.var(axis=(0, 2, 3))
    norm = (x - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5)
    want = norm * arr(bn.weight)[None, :, None, None] + arr(bn.bias)[None, :, None, None]
    np.testing.assert_allclose(arr(y), want, rtol=1e-4, atol=1e-5)
    n = 4 * 2 * 5
    np.testing.assert_allclose(arr(new.running_mean), 0.2 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(arr(new.running_var), 0.8 + 0.2 * var * n / (n - 1), rtol=1e-5)
    assert isinstance(new, BatchNormState)


def test_batch_norm_inference_uses_running_statistics():
    bn = BatchNorm(2, affine=False)
    assert bn.weight is None and bn.bias is None
    state = BatchNormState(fnp.asarray(np.array([1.0, -2.0], np.float32)),
                           fnp.asarray(np.array([4.0, 0.25], np.float32)))
    x = rand(3, 2)
    y, same = bn(fnp.asarray(x), state, training=False)
    assert same is state
    want = (x - np.array([1.0, -2.0])) / np.sqrt(np.array([4.0, 0.25]) + 1e-5)
    np.testing.assert_allclose(arr(y), want, rtol=1e-5, atol=1e-6)


def test_batch_norm_state_threads_through_jit_and_grad():
    bn = BatchNorm(2)
    x = fnp.asarray(rand(8, 2, 3, scale=2.0, loc=3.0))

    @fborn.jit
    def step(model, state):
        def loss(m):
            y, s = m(x, state, training=True)
            return fnp.sum(y * x), s
        (value, new_state), grads = fborn.value_and_grad(loss, has_aux=True)(model)
        return value, new_state, grads

    state = bn.init_state()
    for _ in range(3):
        _, state, grads = step(bn, state)
    assert step.trace_count == 1
    mean = arr(x).mean(axis=(0, 2))
    np.testing.assert_allclose(arr(state.running_mean), mean * (1 - 0.9 ** 3), rtol=1e-5)
    assert grads.weight.shape == (2,) and np.all(np.isfinite(arr(grads.weight)))
    check_grads(lambda m, v: m(v, bn.init_state())[0], (bn, x), order=1, modes=("rev",),
                eps=1e-2, rtol=2e-2, atol=2e-2)


def test_batch_norm_errors():
    bn = BatchNorm(3)
    with pytest.raises(TypeCheckError, match=r"BatchNorm: the input has num_features=2 \(axis 1 "
                                             r"of shape \(4, 2\)\), but the layer was built "
                                             r"with num_features=3"):
        bn(fnp.ones((4, 2)), bn.init_state())
    with pytest.raises(ValueError, match="BatchNorm: training needs more than one value per "
                                         "channel"):
        bn(fnp.ones((1, 3)), bn.init_state())
    with pytest.raises(ValueError, match=r"BatchNorm: momentum must be in \[0, 1\]"):
        BatchNorm(3, momentum=2.0)
