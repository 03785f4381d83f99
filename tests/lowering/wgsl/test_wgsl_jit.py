"""``fborn.jit`` and eager ops on GPU arrays: GpuArray inputs (or ``FBORN_PLATFORM=gpu``) run the
WGSL executable and return GpuArrays; GpuArrays behave like host arrays for numpy, printing and
the Array methods."""

from __future__ import annotations

import numpy as np
import pytest

import fborn
import fborn.numpy as fnp
from fborn.core.array import ArrayImpl
from fborn.core.gpu_array import GpuArray

_rng = np.random.default_rng(1)


@pytest.fixture(scope="module")
def gpu():
    return fborn.devices("gpu")[0]


def test_jit_on_gpu_arrays_returns_gpu_arrays(gpu):
    x = _rng.standard_normal((3, 4)).astype(np.float32)
    const = np.float32(0.5) * np.ones(4, np.float32)

    @fborn.jit
    def f(a, b):
        return {"y": fnp.tanh(a) * b + const, "s": (a * 2).sum()}

    out = f(fborn.device_put(x, gpu), 3.0)
    assert isinstance(out["y"], GpuArray) and out["y"].device is gpu
    np.testing.assert_allclose(np.asarray(out["y"]), np.tanh(x) * 3 + 0.5, rtol=2e-6)
    np.testing.assert_allclose(float(out["s"]), 2 * x.sum(), rtol=1e-5)
    assert f.trace_count == 1
    again = f(out["y"], 1.0)  # GPU outputs feed the next call without a copy
    assert isinstance(again["y"], GpuArray) and f.trace_count == 1
    host = f(x, 3.0)
    assert type(host["y"]) is ArrayImpl


def test_platform_gpu_sends_host_inputs_to_the_gpu(monkeypatch, gpu):
    monkeypatch.setenv("FBORN_PLATFORM", "gpu")
    out = fborn.jit(lambda a: a + 1)(np.arange(3, dtype=np.int32))
    assert isinstance(out, GpuArray) and out.dtype == np.int32
    np.testing.assert_array_equal(np.asarray(out), [1, 2, 3])


def test_grad_of_jit_and_weak_types_on_gpu(gpu):
    x = fborn.device_put(_rng.standard_normal(5).astype(np.float32), gpu)
    g = fborn.jit(fborn.grad(lambda a: fnp.sum(fnp.sin(a) ** 2)))(x)
    assert isinstance(g, GpuArray)
    host = np.asarray(x)
    np.testing.assert_allclose(np.asarray(g), 2 * np.sin(host) * np.cos(host), rtol=1e-5,
                               atol=1e-6)
    w = fborn.jit(lambda a: a * 2)(fborn.device_put(2.0, gpu))
    assert w.weak_type and w.dtype == np.float32


def test_eager_ops_array_methods_numpy_and_printing(gpu):
    x = _rng.standard_normal((2, 3)).astype(np.float32)
    d = fborn.device_put(x, gpu)
    assert (d.shape, d.dtype, d.ndim, d.size, len(d)) == ((2, 3), np.float32, 2, 6, 2)
    y = (d * 2 - 1).T @ d
    assert isinstance(y, GpuArray) and y.shape == (3, 3)
    np.testing.assert_allclose(np.asarray(y), (x * 2 - 1).T @ x, rtol=1e-5, atol=1e-6)
    s = d.sum(axis=1)
    assert isinstance(s, GpuArray)
    np.testing.assert_allclose(np.asarray(s), x.sum(1), rtol=1e-6)
    assert isinstance(d[1], GpuArray) and float(d[1, 2]) == x[1, 2]
    np.testing.assert_array_equal(np.asarray(d.astype(np.int32)), x.astype(np.int32))
    assert "device=GpuDevice(id=0)" in repr(d) and str(d) == str(x)
    assert np.asarray(d).flags.writeable is False and (d > 0).dtype == np.bool_
    assert isinstance(fborn.random.normal(fborn.device_put(fborn.random.key(0), gpu), (2,)),
                      GpuArray)


def test_eager_ops_the_gpu_lacks_fall_back_to_the_host(gpu):
    d = fborn.device_put(np.arange(4, dtype=np.float32), gpu)
    small = d.astype(np.uint8)  # no 8-bit integers in WGSL: computed on the host
    assert type(small) is ArrayImpl and small.dtype == np.uint8
    np.testing.assert_array_equal(np.asarray(small), [0, 1, 2, 3])


def test_lowered_as_text_wgsl(gpu):
    text = fborn.jit(lambda a: fnp.exp(a) + 1).lower(np.ones(3, np.float32)).as_text("wgsl")
    assert "@compute" in text and "fn main" in text
