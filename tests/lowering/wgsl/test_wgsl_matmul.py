"""The tiled WGSL matmul routine for dot_general: odd shapes, layouts, batches, dtypes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fborn
import fborn.lax as lax
import fborn.numpy  # noqa: F401
from fborn.lowering.wgsl import routines
from fborn.lowering.wgsl.executable import GpuExecutable
from fborn.lowering.wgsl.routines import group_stride

_rng = np.random.default_rng(0)


def run(fn, *args):
    exe = GpuExecutable(fborn.make_jaxpr(fn)(*args))
    return exe(*args)[0], exe


def reference(a, b, dims):
    return np.asarray(lax.dot_general(a, b, dims))


def rand(*shape):
    return _rng.standard_normal(shape).astype(np.float32)


def test_group_stride():
    assert group_stride((2, 3, 4), (1, 2)) == 1
    assert group_stride((2, 3, 4), (0, 1)) == 4
    assert group_stride((2, 3, 4), (0, 2)) is None
    assert group_stride((2, 1, 4), (0, 1)) == 4
    assert group_stride((2, 3, 4), ()) == 0


@settings(max_examples=5)
@given(st.integers(1, 70), st.integers(0, 40), st.integers(1, 70), st.booleans(), st.booleans())
def test_odd_shapes_and_transposes(m, k, n, ta, tb):
    a = rand(k, m) if ta else rand(m, k)
    b = rand(n, k) if tb else rand(k, n)
    dims = (((0,) if ta else (1,), (1,) if tb else (0,)), ((), ()))
    got, exe = run(lambda x, y: [lax.dot_general(x, y, dims)], a, b)
    assert len(exe.kernels) == 1  # both layouts are read in place
    np.testing.assert_allclose(got, reference(a, b, dims), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("m,k,n", [(130, 67, 129), (256, 256, 256), (128, 5, 200)])
def test_large_tiles(m, k, n):
    a, b = rand(m, k), rand(k, n)
    got, _ = run(lambda x, y: [x @ y], a, b)
    np.testing.assert_allclose(got, a @ b, rtol=1e-4, atol=1e-4)


def test_batched_and_multi_axis_groups():
    a, b = rand(3, 5, 7, 6), rand(3, 6, 7, 4)
    dims = (((3, 2), (1, 2)), ((0,), (0,)))
    got, exe = run(lambda x, y: [lax.dot_general(x, y, dims)], a, b)
    np.testing.assert_allclose(got, reference(a, b, dims), rtol=1e-5, atol=1e-5)
    a2, b2 = rand(4, 9, 12), rand(4, 12, 10)
    got2, exe2 = run(lambda x, y: [x @ y], a2, b2)
    assert len(exe2.kernels) == 1
    np.testing.assert_allclose(got2, a2 @ b2, rtol=1e-5, atol=1e-5)


def test_strided_groups_are_read_in_place_and_split_groups_copied():
    a, b = rand(5, 3, 8), rand(8, 3, 4)
    dims = (((2,), (0,)), ((1,), (1,)))  # batch axis in the middle of both operands
    got, exe = run(lambda x, y: [lax.dot_general(x, y, dims)], a, b)
    assert len(exe.kernels) == 1
    np.testing.assert_allclose(got, reference(a, b, dims), rtol=1e-5, atol=1e-5)
    a, b = rand(2, 3, 4), rand(4, 5, 2)
    dims = (((0, 2), (2, 0)), ((), ()))  # lhs contracts axes 0 and 2: not one stride
    got, exe = run(lambda x, y: [lax.dot_general(x, y, dims)], a, b)
    assert len(exe.kernels) == 3
    np.testing.assert_allclose(got, reference(a, b, dims), rtol=1e-5, atol=1e-5)


def test_zero_sizes_and_empty_contraction():
    got, _ = run(lambda x, y: [x @ y], rand(4, 0), rand(0, 6))
    np.testing.assert_array_equal(got, np.zeros((4, 6), np.float32))
    got, _ = run(lambda x, y: [x @ y], rand(0, 3), rand(3, 6))
    assert got.shape == (0, 6)


def test_integer_and_mixed_precision():
    a = _rng.integers(-50, 50, (7, 9)).astype(np.int32)
    b = _rng.integers(-50, 50, (9, 5)).astype(np.int32)
    got, _ = run(lambda x, y: [x @ y], a, b)
    np.testing.assert_array_equal(got, a @ b)
    h, w = rand(6, 8).astype(np.float16), rand(8, 3).astype(np.float16)
    got, _ = run(lambda x, y: [x @ y], h, w)
    assert got.dtype == np.float16
    np.testing.assert_allclose(got, np.asarray(fborn.numpy.matmul(h, w)), rtol=2e-3, atol=2e-3)


def test_vector_products():
    v, m = rand(37), rand(37, 11)
    got, _ = run(lambda x, y: [x @ y], v, m)
    np.testing.assert_allclose(got, v @ m, rtol=1e-5, atol=1e-5)
    got, _ = run(lambda x, y: [x @ y], v, v)
    np.testing.assert_allclose(got, v @ v, rtol=1e-5)


_SHAPES = [(130, 67, 129, False, False), (64, 12, 132, False, False), (131, 16, 128, True, True)]
_CASES = [(cfg, shape) for cfg in routines.MATMUL_CONFIGS for shape in _SHAPES]
_CASES.append((routines.MatmulConfig(128, 128, 8, 8, 8), _SHAPES[0]))


@pytest.mark.parametrize("cfg,shape", _CASES)
def test_every_tiling(monkeypatch, cfg, shape):
    """Each tiling, forced, on full and ragged tiles, vec4 and scalar loads, both layouts."""
    m, k, n, ta, tb = shape
    monkeypatch.setattr(routines, "MATMUL_CONFIGS", (cfg,))
    a = rand(k, m) if ta else rand(m, k)
    b = rand(n, k) if tb else rand(k, n)
    dims = (((0,) if ta else (1,), (1,) if tb else (0,)), ((), ()))
    got, exe = run(lambda x, y: [lax.dot_general(x, y, dims)], a, b)
    assert f"@workgroup_size({cfg.threads})" in exe.kernels[0].source
    np.testing.assert_allclose(got, reference(a, b, dims), rtol=1e-4, atol=1e-4)


def test_config_choice_spreads_small_products():
    limits = routines.Limits(workgroup_bytes=49152)
    assert routines.choose_config(1, 4096, 4096, limits) == routines.MATMUL_CONFIGS[0]
    tile = {(c.bm, c.bn): c for c in routines.MATMUL_CONFIGS}
    assert routines.choose_config(1, 128, 128, limits) == tile[32, 32]  # most workgroups
    assert routines.choose_config(1, 1024, 1024, limits) == tile[64, 64]
    assert routines.choose_config(1024, 6, 196, limits) == tile[8, 128]  # few rows: flat tile
    assert routines.choose_config(256, 16, 100, limits) == tile[16, 64]
    assert not routines.choose_config(1, 4096, 784, routines.Limits(workgroup_bytes=8192)).double


@pytest.mark.parametrize("m,k,n,ta,tb,batch", [
    (6, 3000, 25, False, False, 1),    # ragged last part, vec4 loads
    (10, 2048, 12, True, False, 1),    # K a multiple of the chunk; lhs transposed
    (5, 1100, 7, False, True, 3),      # batched, scalar loads, rhs transposed
])
def test_split_k_products(m, k, n, ta, tb, batch):
    """Few outputs and a long K: the K range is split over workgroups and the partial products
    summed by a second kernel."""
    a = rand(batch, k, m) if ta else rand(batch, m, k)
    b = rand(batch, n, k) if tb else rand(batch, k, n)
    dims = (((1,) if ta else (2,), (2,) if tb else (1,)), ((0,), (0,)))
    got, exe = run(lambda x, y: [lax.dot_general(x, y, dims)], a, b)
    assert any("kbase" in kernel.source for kernel in exe.kernels)
    assert len(exe.kernels) == 2
    want = np.einsum("bmk,bkn->bmn", a.transpose(0, 2, 1) if ta else a,
                     b.transpose(0, 2, 1) if tb else b, dtype=np.float64)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


def test_split_k_choice():
    cfg = routines.MatmulConfig(32, 32, 8, 4, 4)
    chunk = routines.split_k(cfg, 1, 6, 25, 802816)  # one tile: as many parts as allowed
    assert chunk % 8 == 0 and -(-802816 // chunk) <= routines.SPLIT_MAX_WORKGROUPS
    assert routines.split_k(cfg, 6, 16, 25, 102400) == routines.SPLIT_MAX_CHUNK
    assert routines.split_k(cfg, 1, 128, 10, 1024) == routines.SPLIT_MIN_CHUNK  # short K
    assert routines.split_k(cfg, 1, 6, 25, 200) == 0          # K too short to split
    assert routines.split_k(cfg, 64, 512, 512, 100000) == 0   # enough output tiles already
