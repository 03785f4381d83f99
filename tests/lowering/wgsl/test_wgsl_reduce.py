"""WGSL reduction kernels (serial and workgroup strategies) against the eager reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fborn
import fborn.numpy as fnp
from fborn.lowering.wgsl.executable import GpuExecutable


def on_gpu(fn, *args):
    return GpuExecutable(fborn.make_jaxpr(fn)(*args))(*args)


_rng = np.random.default_rng(0)


shapes = st.lists(st.integers(0, 9), min_size=1, max_size=3).map(tuple)


@settings(max_examples=8)
@given(shapes, st.data())
def test_reductions_over_random_axes(shape, data):
    axes = tuple(sorted(data.draw(st.sets(st.integers(0, len(shape) - 1)))))
    x = data.draw(st.integers(0, 2**31 - 1).map(
        lambda s: np.random.default_rng(s).standard_normal(shape).astype(np.float32)))
    ints = (x * 10).astype(np.int32)

    def fn(a, b):
        return [fnp.sum(a, axis=axes), fnp.min(b, axis=axes, initial=2**31 - 1),
                fnp.any(a > 0.5, axis=axes)]

    got = on_gpu(fn, x, ints)
    want = fn(x, ints)
    for g, w in zip(got, want, strict=True):
        w = np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=3e-6, atol=3e-6)


@pytest.mark.parametrize("shape,axis", [((3, 1000), 1), ((3000, 5), 0), ((40, 5000), 1),
                                        ((7, 3), 0), ((100, 3000), 0)])
def test_long_and_wide_reductions(shape, axis):
    x = _rng.standard_normal(shape).astype(np.float32)
    fns = [lambda a: fnp.sum(a, axis=axis), lambda a: fnp.prod(a * 0.01 + 1, axis=axis),
           lambda a: fnp.max(a, axis=axis), lambda a: fnp.argmin(a, axis=axis)]
    got = on_gpu(lambda a: [f(a) for f in fns], x)
    for g, f in zip(got, fns, strict=True):
        want = np.asarray(f(x))
        assert g.dtype == want.dtype
        np.testing.assert_allclose(g, want, rtol=2e-5, atol=2e-5)


def test_argmax_ties_nans_and_ints():
    x = np.array([[1, 3, 3, 0], [np.nan, 2, np.nan, 5], [-np.inf] * 4, [2, 2, 2, 2]],
                 np.float32)
    big = np.tile(x, (1, 300))
    ints = np.array([[5, 1, 5, -3], [0, 0, 0, 0]], np.int32)

    def fn(a, b, c):
        return [fnp.argmax(a, axis=0), fnp.argmin(a, axis=1), fnp.argmax(b, axis=1),
                fnp.argmin(b, axis=1), fnp.argmax(c, axis=1), fnp.argmin(c, axis=1)]

    for g, w in zip(on_gpu(fn, x, big, ints), fn(x, big, ints), strict=True):
        np.testing.assert_array_equal(g, w)


def test_max_propagates_nan():
    x = np.array([[1, np.nan, 3], [4, 5, 6]], np.float32)
    for g, w in zip(on_gpu(lambda a: [fnp.max(a, axis=1), fnp.min(a, axis=0)], x),
                    [fnp.max(x, axis=1), fnp.min(x, axis=0)], strict=True):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("shape,axes", [((3, 70001), (1,)), ((2, 300, 301), (1, 2)),
                                        ((400, 6, 170), (0, 2))])
def test_few_long_reductions_are_split_into_parts(shape, axes):
    """Few outputs over long ranges: parts of each range reduce in parallel workgroups, then a
    second kernel combines them (sums within float32 tolerance, the others exactly)."""
    x = _rng.standard_normal(shape).astype(np.float32)
    ints = (x * 100).astype(np.int32)

    def fn(a, b):
        return [fnp.sum(a, axis=axes), fnp.max(a, axis=axes), fnp.min(b, axis=axes),
                fnp.any(a > 3.5, axis=axes), fnp.all(a > -4.5, axis=axes)]

    exe = GpuExecutable(fborn.make_jaxpr(fn)(x, ints))
    assert sum("_parts" in k.label for k in exe.kernels) == 5
    got, want = exe(x, ints), fn(x, ints)
    np.testing.assert_allclose(got[0], np.asarray(want[0]), rtol=1e-5, atol=1e-3)
    for g, w in zip(got[1:], want[1:], strict=True):
        np.testing.assert_array_equal(g, np.asarray(w))
