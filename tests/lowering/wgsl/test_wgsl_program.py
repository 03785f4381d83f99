"""Whole programs on the GPU: fused chains, views, softmax, layernorm, an MLP and its gradient,
GPU-resident arrays, replay, and the errors for what has no WGSL lowering yet."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fborn
import fborn.numpy as fnp
from fborn.core.errors import FbornDtypeError
from fborn.core.gpu_array import GpuArray
from fborn.lowering.schedule import LoweringError
from fborn.lowering.wgsl.device import GpuError
from fborn.lowering.wgsl.executable import GpuExecutable, device_put, executable_for

_rng = np.random.default_rng(0)


def compile_gpu(fn, *args):
    return GpuExecutable(fborn.make_jaxpr(fn)(*args))


def check(fn, *args, rtol=2e-6, atol=1e-6):
    """``fn`` (returning a list) on the GPU equals its eager reference."""
    outs = compile_gpu(fn, *args)(*args)
    for g, w in zip(outs, fn(*args), strict=True):
        w = np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


def softmax(x):
    e = fnp.exp(x - fnp.max(x, axis=-1, keepdims=True))
    return e / fnp.sum(e, axis=-1, keepdims=True)


def layernorm(x):
    mu = fnp.mean(x, axis=-1, keepdims=True)
    var = fnp.mean((x - mu) ** 2, axis=-1, keepdims=True)
    return (x - mu) / fnp.sqrt(var + 1e-5)


@settings(max_examples=6)
@given(st.integers(0, 300), st.integers(1, 70))
def test_fused_chain_broadcast_transpose_softmax(rows, cols):
    x = _rng.standard_normal((rows, cols)).astype(np.float32)
    b = _rng.standard_normal(cols).astype(np.float32)

    def fn(x, b):
        y = fnp.tanh(x * 2 + b) - x.T.T / 3
        return [y, (x + b).T * 0.5, softmax(y), layernorm(x)]

    check(fn, x, b, rtol=3e-6, atol=2e-6)


def test_sizes_around_the_workgroup_and_zero_size():
    for n in (0, 1, 255, 256, 257, 1000):
        x = np.arange(n, dtype=np.float32)
        check(lambda v: [v * 2 + 1, fnp.sum(v), v[::-1]], x)


def test_mlp_forward_and_gradient():
    w1 = (_rng.standard_normal((20, 33)) * 0.2).astype(np.float32)
    b1 = np.zeros(33, np.float32)
    w2 = (_rng.standard_normal((33, 10)) * 0.2).astype(np.float32)
    x = _rng.standard_normal((17, 20)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[_rng.integers(0, 10, 17)]

    def loss(params, x, y):
        w1, b1, w2 = params
        h = fnp.maximum(x @ w1 + b1, 0.0)
        logits = h @ w2
        logp = logits - fnp.log(fnp.sum(fnp.exp(logits - fnp.max(logits, axis=1, keepdims=True)),
                                        axis=1, keepdims=True)) - fnp.max(logits, axis=1,
                                                                         keepdims=True)
        return -fnp.mean(fnp.sum(logp * y, axis=1))

    def step(w1, b1, w2, x, y):
        value, grads = fborn.value_and_grad(loss)((w1, b1, w2), x, y)
        return [value, *grads]

    check(step, w1, b1, w2, x, y, rtol=2e-5, atol=2e-6)


def test_independent_elementwise_updates_run_as_one_dispatch():
    params = [_rng.standard_normal(shape).astype(np.float32)
              for shape in [(300, 7), (7,), (0,), (), (5, 3)]]
    grads = [_rng.standard_normal(p.shape).astype(np.float32) for p in params]

    def sgd(params, grads):
        return [p - 0.1 * g for p, g in zip(params, grads, strict=True)]

    exe = compile_gpu(sgd, params, grads)
    assert len(exe.kernels) == 1 and exe.kernels[0].label.startswith("loops ")
    for got, p, g in zip(exe(*params, *grads), params, grads, strict=True):
        np.testing.assert_allclose(got, p - np.float32(0.1) * g, rtol=1e-6, atol=1e-7)


def test_loops_are_fused_only_when_independent_and_within_the_binding_limit():
    from fborn.lowering.kernel_ir import Load, LoopIndex, LoopKernel
    from fborn.lowering.wgsl.render import Limits, independent_loops

    f32 = np.dtype(np.float32)

    def copy(src, dst, size=4):
        return LoopKernel(dst, (size,), Load(src, LoopIndex(0), f32))

    def sizes(grouped):
        return [len(g) if isinstance(g, list) else 1 for g in grouped]

    loops = [copy(f"in{i}", f"out{i}") for i in range(5)]
    assert sizes(independent_loops(loops, Limits(max_bindings=4))) == [2, 2, 1]
    assert sizes(independent_loops(loops, Limits(max_bindings=10))) == [5]
    reads_written = [copy("a", "b"), copy("b", "c"), copy("x", "y")]
    assert sizes(independent_loops(reads_written, Limits())) == [1, 2]
    writes_read = [copy("a", "b"), copy("c", "a")]
    assert sizes(independent_loops(writes_read, Limits())) == [1, 1]
    empty_between = [copy("a", "b"), copy("q", "r", size=0), copy("c", "d")]
    assert sizes(independent_loops(empty_between, Limits())) == [1, 2]


def test_gpu_resident_outputs_and_replay():
    x = _rng.standard_normal((8, 300)).astype(np.float32)
    exe = executable_for(fborn.make_jaxpr(lambda a: [softmax(a), a > 0])(x))
    dx = device_put(x)
    assert isinstance(dx, GpuArray) and dx.device.platform == "gpu"
    first = exe.call_on_device(dx)
    assert all(isinstance(o, GpuArray) for o in first)
    np.testing.assert_allclose(np.asarray(first[0]), np.asarray(softmax(x)), rtol=2e-6,
                               atol=1e-7)
    np.testing.assert_array_equal(np.asarray(first[1]), x > 0)
    assert first[1].dtype == np.bool_ and first[1].shape == (8, 300)
    del first
    for _ in range(3):  # replays reuse pooled buffers, so bind groups come from the cache
        again = exe.call_on_device(dx)
    assert sum(len(c) for c in exe._bind_groups) <= 2 * len(exe.kernels)
    np.testing.assert_allclose(np.asarray(again[0].block_until_ready()),
                               np.asarray(softmax(x)), rtol=2e-6, atol=1e-7)
    assert "fn main" in exe.as_text()


def test_replays_record_through_native_calls_with_the_same_results(monkeypatch):
    from fborn.lowering.wgsl.native import native_pass

    assert native_pass() is not None  # the pinned wgpu exposes the C entry points
    monkeypatch.setenv("FBORN_WGPU_CHECKED", "1")
    assert native_pass() is None
    monkeypatch.delenv("FBORN_WGPU_CHECKED")
    x = _rng.standard_normal((40, 70)).astype(np.float32)
    exe = GpuExecutable(fborn.make_jaxpr(lambda a: [softmax(a) @ a.T, fnp.sum(a, axis=0)])(x))
    first = exe(x)
    assert exe._replayed and exe._native is not None
    for _ in range(3):
        for got, want in zip(exe(x), first, strict=True):
            np.testing.assert_array_equal(got, want)


def test_profile_times_each_kernel():
    x = _rng.standard_normal((8, 300)).astype(np.float32)
    exe = executable_for(fborn.make_jaxpr(lambda a: [softmax(a) * 2])(x))
    times = exe.profile([device_put(x).device_buffer], repeat=2)
    assert [label for label, _ in times] == [k.label for k in exe.kernels]
    assert all(isinstance(t, float) and t >= 0 for _, t in times)
    looped = executable_for(fborn.make_jaxpr(
        lambda a: fborn.lax.while_loop(lambda v: v[0] < 3, lambda v: v + 1, a))(x[0]))
    with pytest.raises(GpuError, match="host-side control flow"):
        looped.profile([device_put(x[0]).device_buffer])


def test_primitives_without_lowering_raise_naming_them():
    from fborn.core.primitive import Primitive

    twice_p = Primitive("twice_for_test")
    twice_p.def_abstract_eval(lambda a: a)
    twice_p.def_impl(lambda a: a * 2)
    x = np.ones(4, np.float32)
    with pytest.raises(LoweringError, match="twice_for_test"):
        compile_gpu(lambda v: twice_p.bind(v), x)
    out = twice_p.bind(device_put(x))  # eager: falls back to the host reference
    np.testing.assert_array_equal(np.asarray(out), 2 * x)


def test_float64_raises_a_dtype_error(x64):
    with pytest.raises(FbornDtypeError, match="float64 is not supported on the GPU"):
        compile_gpu(lambda v: v * 2, np.ones(3, np.float64))


def test_eager_primitives_on_gpu_arrays_and_devices():
    from fborn.lowering.wgsl.executable import apply_primitive, gpu_devices
    from fborn.primitives import elementwise, reductions

    devs = gpu_devices()
    assert devs and devs[0].platform == "gpu" and devs[0].id == 0
    x = _rng.standard_normal((5, 7)).astype(np.float32)
    dx = device_put(x)
    assert dx.device is devs[0]
    y = apply_primitive(elementwise.exp_p, [dx], {})
    z = apply_primitive(reductions.reduce_sum_p, [y], {"axes": (1,)})
    assert isinstance(z, GpuArray) and z.shape == (5,) and z.dtype == np.float32
    np.testing.assert_allclose(np.asarray(z), np.exp(x).sum(axis=1), rtol=2e-6)
    assert float(apply_primitive(reductions.reduce_max_p, [dx], {"axes": (0, 1)})) == x.max()
