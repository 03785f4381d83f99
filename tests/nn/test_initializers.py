"""fborn.nn.initializers: values, dtypes, statistics of the random initializers, fans,
orthogonality, tracing, and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fborn
from fborn import random
from fborn.nn import initializers as init

KEY = random.key(0)


def sample(initializer, shape, dtype=None, key=KEY):
    return np.asarray(initializer(key, shape, dtype)).astype(np.float64)


def test_zeros_ones_constant():
    z = init.zeros(KEY, (2, 3))
    assert z.dtype == np.float32 and z.shape == (2, 3) and not np.asarray(z).any()
    o = init.ones(KEY, (4,), "bfloat16")
    assert o.dtype == np.dtype("bfloat16")
    np.testing.assert_array_equal(np.asarray(o, np.float32), np.ones(4))
    c = init.constant(-2.5)(KEY, (3, 2))
    np.testing.assert_array_equal(np.asarray(c), np.full((3, 2), -2.5, np.float32))
    row = init.constant(np.arange(3.0), dtype="float16")(KEY, (2, 3))
    assert row.dtype == np.float16
    np.testing.assert_array_equal(np.asarray(row), np.tile(np.arange(3.0), (2, 1)))


def test_default_dtype_follows_x64(x64):
    assert init.zeros(KEY, (2,)).dtype == np.float64
    assert init.glorot_uniform()(KEY, (3, 4)).dtype == np.float64
    assert init.orthogonal()(KEY, (3, 3)).dtype == np.float64


def test_normal_uniform_truncated_normal_statistics():
    n = sample(init.normal(0.5), (200, 300))
    assert abs(n.mean()) < 0.01 and abs(n.std() - 0.5) < 0.01
    u = sample(init.uniform(2.0), (200, 300))
    assert u.min() >= 0.0 and u.max() < 2.0
    assert abs(u.mean() - 1.0) < 0.02 and abs(u.var() - 4.0 / 12) < 0.01
    t = sample(init.truncated_normal(3.0), (200, 300))
    assert np.abs(t).max() <= 6.0
    assert abs(t.std() - 3.0 * 0.87962566103423978) < 0.03
    t2 = sample(init.truncated_normal(1.0, lower=0.0, upper=1.0), (1000,))
    assert t2.min() >= 0.0 and t2.max() <= 1.0


def test_same_key_same_values_other_key_other_values():
    a = sample(init.he_normal(), (30, 20))
    np.testing.assert_array_equal(sample(init.he_normal(), (30, 20)), a)
    assert not np.array_equal(sample(init.he_normal(), (30, 20), key=random.key(1)), a)


FANS = {"fan_in": lambda i, o: i, "fan_out": lambda i, o: o,
        "fan_avg": lambda i, o: (i + o) / 2, "fan_geo_avg": lambda i, o: math.sqrt(i * o)}


@given(st.sampled_from(sorted(FANS)), st.sampled_from(["truncated_normal", "normal", "uniform"]),
       st.sampled_from([0.5, 2.0]))
def test_variance_scaling_variance(mode, distribution, scale):
    shape = (3, 3, 40, 60)  # HWIO: fan_in = 9 * 40, fan_out = 9 * 60
    w = sample(init.variance_scaling(scale, mode, distribution), shape)
    target = scale / FANS[mode](9 * 40, 9 * 60)
    assert abs(w.var() / target - 1) < 0.03
    assert abs(w.mean()) < 0.05 * math.sqrt(target)
    if distribution == "uniform":
        assert np.abs(w).max() <= math.sqrt(3 * target) * (1 + 1e-6)
    if distribution == "truncated_normal":
        assert np.abs(w).max() <= 2 * math.sqrt(target) / 0.87962566103423978 * (1 + 1e-6)


@pytest.mark.parametrize("name, scale, mode", [
    ("glorot_uniform", 1.0, "fan_avg"), ("glorot_normal", 1.0, "fan_avg"),
    ("lecun_uniform", 1.0, "fan_in"), ("lecun_normal", 1.0, "fan_in"),
    ("he_uniform", 2.0, "fan_in"), ("he_normal", 2.0, "fan_in"),
])
def test_named_variance_scalings(name, scale, mode):
    factory = getattr(init, name)
    assert factory.__name__ == name
    w = sample(factory(), (300, 500))
    assert abs(w.var() / (scale / FANS[mode](300, 500)) - 1) < 0.03
    # PyTorch's (out, in) layout: the fans swap with the axes
    w = sample(factory(in_axis=-1, out_axis=-2), (500, 300))
    assert abs(w.var() / (scale / FANS[mode](300, 500)) - 1) < 0.03


def test_aliases():
    assert init.xavier_uniform is init.glorot_uniform
    assert init.xavier_normal is init.glorot_normal
    assert init.kaiming_uniform is init.he_uniform
    assert init.kaiming_normal is init.he_normal


def test_conv_kernel_fans_with_batch_axis():
    # OIHW with one leading batch axis: fan_in = I * H * W = 4 * 9
    w = sample(init.variance_scaling(1.0, "fan_in", "normal", in_axis=2, out_axis=1,
                                     batch_axis=0), (5, 64, 4, 3, 3))
    assert abs(w.var() * 36 - 1) < 0.03


def orthonormality_error(m):
    tall = m if m.shape[0] >= m.shape[1] else m.T
    return np.abs(tall.T @ tall - np.eye(tall.shape[1])).max()


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (64, 64), (200, 40)])
def test_orthogonal_matrices(shape):
    q = sample(init.orthogonal(), shape)
    assert q.shape == shape and orthonormality_error(q) < 1e-5
    q2 = sample(init.orthogonal(scale=2.0), shape)
    np.testing.assert_allclose(q2, 2 * q, rtol=1e-6, atol=1e-7)


def test_orthogonal_kernels_and_column_axis():
    q = sample(init.orthogonal(), (3, 3, 8, 4))  # rows = 72, columns = 4 (last axis)
    assert orthonormality_error(q.reshape(-1, 4)) < 1e-5
    q = sample(init.orthogonal(column_axis=0), (6, 2, 5))  # columns along axis 0
    assert orthonormality_error(np.moveaxis(q, 0, -1).reshape(-1, 6)) < 1e-5


def test_orthogonal_is_uniformly_distributed():
    # For a Haar-random orthogonal matrix each entry has mean 0 and variance 1 / n.
    draws = np.stack([sample(init.orthogonal(), (4, 4), key=k) for k in random.split(KEY, 60)])
    assert abs(draws.mean()) < 0.05 and abs(draws.var() * 4 - 1) < 0.15


def test_initializers_trace_under_jit():
    for initializer in (init.glorot_normal(), init.orthogonal(), init.uniform(),
                        init.constant(1.5)):
        eager = np.asarray(initializer(KEY, (6, 4)))
        jitted = np.asarray(fborn.jit(lambda k, f=initializer: f(k, (6, 4)))(KEY))
        np.testing.assert_allclose(jitted, eager, rtol=1e-6, atol=1e-7)


def test_errors():
    with pytest.raises(ValueError, match="invalid mode 'fan_sum'"):
        init.variance_scaling(1.0, "fan_sum", "normal")
    with pytest.raises(ValueError, match="invalid distribution 'cauchy'"):
        init.variance_scaling(1.0, "fan_in", "cauchy")
    with pytest.raises(ValueError, match="in_axis -2 is out of range for a shape of rank 1"):
        init.glorot_uniform()(KEY, (5,))
    with pytest.raises(ValueError, match="orthogonal: the shape must have rank >= 2"):
        init.orthogonal()(KEY, (5,))
    with pytest.raises(ValueError, match="must be a float dtype, got int32"):
        init.normal()(KEY, (2,), "int32")
    with pytest.raises(ValueError, match="negative dimension"):
        init.zeros(KEY, (2, -1))
    with pytest.raises(TypeError, match="shape must be a sequence of ints"):
        init.ones(KEY, (2.5,))
