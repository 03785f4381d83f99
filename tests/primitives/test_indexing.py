"""Tests of the indexing primitives (dynamic_slice, dynamic_update_slice, gather, scatter family)
and their fborn.lax wrappers, against loop-based references of the XLA semantics."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fborn
from fborn import lax
from fborn.core.errors import FbornDtypeError, FbornShapeError
from fborn.lax import GatherDimensionNumbers as GDN
from fborn.lax import GatherScatterMode
from fborn.lax import ScatterDimensionNumbers as SDN

SETTINGS = settings(max_examples=30, deadline=None)

# --------------------------------------------------------------------------------------------
# Loop references (one output / update element at a time, straight from the XLA definitions)
# --------------------------------------------------------------------------------------------


def ref_gather(operand, indices, dn, slice_sizes, mode, fill=np.nan):
    batch_shape = indices.shape[:-1]
    dropped = set(dn.collapsed_slice_dims) | set(dn.operand_batching_dims)
    window = [d for d in range(operand.ndim) if d not in dropped]
    out_rank = len(batch_shape) + len(window)
    batch_pos = [i for i in range(out_rank) if i not in dn.offset_dims]
    shape = [0] * out_rank
    for i, b in zip(batch_pos, batch_shape, strict=True):
        shape[i] = b
    for i, d in zip(dn.offset_dims, window, strict=True):
        shape[i] = slice_sizes[d]
    out = np.zeros(shape, operand.dtype)
    for out_idx in itertools.product(*map(range, shape)):
        b = tuple(out_idx[i] for i in batch_pos)
        start = [0] * operand.ndim
        for k, d in enumerate(dn.start_index_map):
            start[d] = int(indices[b + (k,)])
        for od, ib in zip(dn.operand_batching_dims, dn.start_indices_batching_dims, strict=True):
            start[od] = b[ib]
        fits = all(0 <= s <= n - z for s, n, z in zip(start, operand.shape, slice_sizes,
                                                      strict=True))
        start = [min(max(s, 0), n - z) for s, n, z in zip(start, operand.shape, slice_sizes,
                                                           strict=True)]
        full = list(start)
        for i, d in zip(dn.offset_dims, window, strict=True):
            full[d] += out_idx[i]
        if mode == GatherScatterMode.FILL_OR_DROP and not fits:
            out[out_idx] = fill
        else:
            out[out_idx] = operand[tuple(full)]
    return out


def ref_scatter(operand, indices, updates, dn, combine, mode):
    out = operand.copy()
    dropped = set(dn.inserted_window_dims) | set(dn.operand_batching_dims)
    window = [d for d in range(operand.ndim) if d not in dropped]
    scatter_axes = [a for a in range(updates.ndim) if a not in dn.update_window_dims]
    sizes = [1] * operand.ndim
    for u, d in zip(dn.update_window_dims, window, strict=True):
        sizes[d] = updates.shape[u]
    for upd_idx in itertools.product(*map(range, updates.shape)):
        b = tuple(upd_idx[a] for a in scatter_axes)
        start = [0] * operand.ndim
        for k, d in enumerate(dn.scatter_dims_to_operand_dims):
            start[d] = int(indices[b + (k,)])
        for od, ib in zip(dn.operand_batching_dims, dn.scatter_indices_batching_dims,
                          strict=True):
            start[od] = b[ib]
        if mode == GatherScatterMode.CLIP:
            start = [min(max(s, 0), n - z) for s, n, z in zip(start, operand.shape, sizes,
                                                               strict=True)]
        elif not all(0 <= s <= n - z for s, n, z in zip(start, operand.shape, sizes,
                                                         strict=True)):
            continue
        full = list(start)
        for u, d in zip(dn.update_window_dims, window, strict=True):
            full[d] += upd_idx[u]
        out[tuple(full)] = combine(out[tuple(full)], updates[upd_idx])
    return out


COMBINE = {
    lax.scatter: lambda old, new: new,
    lax.scatter_add: lambda old, new: old + new,
    lax.scatter_mul: lambda old, new: old * new,
    lax.scatter_min: min,
    lax.scatter_max: max,
}

# --------------------------------------------------------------------------------------------
# dynamic_slice / dynamic_update_slice
# --------------------------------------------------------------------------------------------


@st.composite
def slice_cases(draw):
    shape = tuple(draw(st.lists(st.integers(0, 5), min_size=0, max_size=3)))
    sizes = tuple(draw(st.integers(0, n)) for n in shape)
    starts = tuple(draw(st.integers(-7, 7)) for _ in shape)
    return shape, sizes, starts


def clamp_starts(shape, sizes, starts):
    wrapped = [s + n if s < 0 else s for s, n in zip(starts, shape, strict=True)]
    return [min(max(s, 0), n - z) for s, n, z in zip(wrapped, shape, sizes, strict=True)]


@SETTINGS
@given(slice_cases())
def test_dynamic_slice_wraps_negatives_then_clamps(case):
    shape, sizes, starts = case
    x = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    lo = clamp_starts(shape, sizes, starts)
    expected = x[tuple(slice(s, s + z) for s, z in zip(lo, sizes, strict=True))]
    traced_starts = [np.int32(s) for s in starts]
    for got in (lax.dynamic_slice(x, starts, sizes), lax.dynamic_slice(x, traced_starts, sizes)):
        assert got.dtype == np.float32
        np.testing.assert_array_equal(np.asarray(got), expected)


@SETTINGS
@given(slice_cases())
def test_dynamic_update_slice_matches_numpy(case):
    shape, sizes, starts = case
    x = np.zeros(shape, np.int32)
    update = np.arange(1, int(np.prod(sizes)) + 1, dtype=np.int32).reshape(sizes)
    lo = clamp_starts(shape, sizes, starts)
    expected = x.copy()
    expected[tuple(slice(s, s + z) for s, z in zip(lo, sizes, strict=True))] = update
    got = lax.dynamic_update_slice(x, update, [np.int32(s) for s in starts])
    assert got.dtype == np.int32
    np.testing.assert_array_equal(np.asarray(got), expected)


def test_dynamic_slice_accepts_a_1d_index_array_and_traced_indices():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    got = lax.dynamic_slice(x, np.array([1, -2], np.int32), (2, 2))
    np.testing.assert_array_equal(np.asarray(got), x[1:3, 2:4])
    jaxpr = fborn.make_jaxpr(lambda a, i: lax.dynamic_slice(a, (i, 0), (1, 4)))(x, np.int32(2))
    assert "dynamic_slice[slice_sizes=(1, 4)]" in str(jaxpr)
    (out,) = fborn.eval_jaxpr(jaxpr.jaxpr, jaxpr.consts, x, np.int32(5))
    np.testing.assert_array_equal(np.asarray(out), x[2:3])


def test_in_dim_helpers():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(np.asarray(lax.dynamic_slice_in_dim(x, 1, 2, axis=2)),
                                  x[:, :, 1:3])
    np.testing.assert_array_equal(np.asarray(lax.dynamic_index_in_dim(x, -1, 1, False)),
                                  x[:, 2])
    np.testing.assert_array_equal(np.asarray(lax.dynamic_index_in_dim(x, 1, 1)), x[:, 1:2])
    np.testing.assert_array_equal(np.asarray(lax.index_in_dim(x, -1, 2, keepdims=False)),
                                  x[..., 3])
    with pytest.raises(IndexError, match="out of bounds"):
        lax.index_in_dim(x, 3, axis=1)
    upd = np.ones((2, 1, 4), np.float32)
    expected = x.copy()
    expected[:, 2:3] = 1
    np.testing.assert_array_equal(
        np.asarray(lax.dynamic_update_slice_in_dim(x, upd, 5, axis=1)), expected)
    np.testing.assert_array_equal(
        np.asarray(lax.dynamic_update_index_in_dim(x, upd[:, 0], 2, 1)), expected)


def test_dynamic_slice_errors():
    x = np.zeros((3, 4), np.float32)
    with pytest.raises(FbornShapeError, match="dynamic_slice.*slice_sizes"):
        lax.dynamic_slice(x, (0, 0), (4, 1))
    with pytest.raises(TypeError, match="2 start indices for an array of rank 3"):
        lax.dynamic_slice(np.zeros((2, 2, 2)), (0, 0), (1, 1))
    with pytest.raises(TypeError, match="integer scalars"):
        lax.dynamic_slice(x, (0.5, 0), (1, 1))
    with pytest.raises(FbornDtypeError, match="dynamic_update_slice.*equal dtypes"):
        lax.dynamic_update_slice(x, np.zeros((1, 1), np.int32), (0, 0))
    with pytest.raises(FbornShapeError, match="fit inside"):
        lax.dynamic_update_slice(x, np.zeros((4, 1), np.float32), (0, 0))


# --------------------------------------------------------------------------------------------
# gather
# --------------------------------------------------------------------------------------------

GATHER_CASES = {
    # name: (operand shape, indices shape, dimension numbers, slice sizes)
    "take_rows": ((5, 3), (4, 1), GDN((1,), (0,), (0,)), (1, 3)),
    "windows_2d": ((6, 5), (3, 2), GDN((1, 2), (), (0, 1)), (2, 3)),
    "offset_first": ((4, 6), (2, 3, 1), GDN((0,), (1,), (1,)), (3, 1)),
    "point_gather": ((4, 5, 3), (2, 2, 3), GDN((), (0, 1, 2), (2, 0, 1)), (1, 1, 1)),
    "scalar_index_vector": ((4, 3), (0,), GDN((0, 1), (), ()), (2, 3)),
    "per_example": ((3, 5, 2), (3, 4, 1), GDN((2,), (1,), (1,), (0,), (0,)), (1, 1, 2)),
    "batching_middle": ((4, 2, 6), (5, 2, 1), GDN((0,), (2,), (2,), (1,), (1,)), (3, 1, 1)),
}


@pytest.mark.parametrize("name", sorted(GATHER_CASES))
@pytest.mark.parametrize("mode", ["clip", "fill", "promise_in_bounds"])
def test_gather_matches_loop_reference(name, mode):
    shape, ishape, dn, sizes = GATHER_CASES[name]
    rng = np.random.default_rng(0)
    operand = rng.standard_normal(shape).astype(np.float32)
    indices = rng.integers(-2, max(shape) + 2, size=ishape).astype(np.int32)
    parsed = GatherScatterMode.from_any(mode)
    expected = ref_gather(operand, indices, dn, sizes, parsed)
    got = lax.gather(operand, indices, dn, sizes, mode=mode)
    assert got.shape == expected.shape and got.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(got), expected)


def test_gather_fill_values_follow_jax_defaults():
    dn = GDN((), (0,), (0,))
    idx = np.array([[1], [7], [-1]], np.int32)
    cases = {np.float32: np.nan, np.int32: np.iinfo(np.int32).min,
             np.uint8: np.iinfo(np.uint8).max, np.bool_: True}
    for dtype, fill in cases.items():
        x = np.zeros(4, dtype)
        got = np.asarray(lax.gather(x, idx, dn, (1,), mode="fill"))
        np.testing.assert_array_equal(got, np.array([0, fill, fill]).astype(dtype))
    got = lax.gather(np.arange(4, dtype=np.float32), idx, dn, (1,), mode="fill", fill_value=-5)
    np.testing.assert_array_equal(np.asarray(got), [1, -5, -5])


def test_gather_fill_drops_whole_windows():
    x = np.arange(10, dtype=np.float32)
    got = lax.gather(x, np.array([[7], [8], [-1]], np.int32), GDN((1,), (), (0,)), (3,),
                     mode="fill")
    np.testing.assert_array_equal(np.asarray(got)[0], [7, 8, 9])
    assert np.isnan(np.asarray(got)[1:]).all()


def test_gather_under_make_jaxpr_prints_and_typechecks():
    x = np.zeros((3, 5, 2), np.float32)
    idx = np.zeros((3, 4, 1), np.int32)
    dn = GATHER_CASES["per_example"][2]
    jaxpr = fborn.make_jaxpr(lambda a, i: lax.gather(a, i, dn, (1, 1, 2), mode="clip"))(x, idx)
    text = str(jaxpr)
    assert "gather[" in text and "operand_batching_dims=(0,)" in text
    assert "mode=GatherScatterMode.CLIP" in text and "f32[3,4,2]" in text
    fborn.typecheck_jaxpr(jaxpr.jaxpr)


@pytest.mark.parametrize("call, error, match", [
    (lambda: lax.gather(np.zeros(4), np.zeros((2, 1), np.float32), GDN((), (0,), (0,)), (1,)),
     FbornDtypeError, "integer dtype"),
    (lambda: lax.gather(np.zeros(4), np.zeros((2, 2), np.int32), GDN((), (0,), (0,)), (1,)),
     FbornShapeError, "index-vector axis of size 1"),
    (lambda: lax.gather(np.zeros(4), np.zeros((2, 1), np.int32), GDN((), (0,), (0,)), (5,)),
     FbornShapeError, "slice_sizes"),
    (lambda: lax.gather(np.zeros((4, 3)), np.zeros((2, 1), np.int32), GDN((), (0,), (0,)),
                        (1, 3)), FbornShapeError, "offset_dims"),
    (lambda: lax.gather(np.zeros(4), np.zeros((2, 1), np.int32), GDN((), (0,), (0,)), (2,)),
     FbornShapeError, "slice size 1"),
    (lambda: lax.gather(np.zeros((3, 4)), np.zeros((2, 1), np.int32),
                        GDN((), (1,), (1,), (0,), (0,)), (1, 1)),
     FbornShapeError, "equal sizes"),
    (lambda: lax.gather(np.zeros(4), np.zeros((2, 1), np.int32), GDN((), (0,), (0,)), (1,),
                        mode="wrap"), ValueError, "unknown gather/scatter mode"),
])
def test_gather_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


# --------------------------------------------------------------------------------------------
# scatter family
# --------------------------------------------------------------------------------------------

SCATTER_CASES = {
    # name: (operand shape, indices shape, updates shape, dimension numbers)
    "rows": ((5, 3), (6, 1), (6, 3), SDN((1,), (0,), (0,))),
    "points": ((4, 5), (7, 2), (7,), SDN((), (0, 1), (0, 1))),
    "windows": ((6, 5), (3, 2), (3, 2, 3), SDN((1, 2), (), (0, 1))),
    "window_first": ((4, 6), (2, 3, 1), (3, 2, 3), SDN((0,), (1,), (1,))),
    "per_example": ((3, 5, 2), (3, 4, 1), (3, 4, 2), SDN((2,), (1,), (1,), (0,), (0,))),
    "whole": ((3, 2), (0,), (3, 2), SDN((0, 1), (), ())),
}
ACCUMULATING = [lax.scatter_add, lax.scatter_mul, lax.scatter_min, lax.scatter_max]


@pytest.mark.parametrize("name", sorted(SCATTER_CASES))
@pytest.mark.parametrize("op", ACCUMULATING, ids=lambda f: f.__name__)
@pytest.mark.parametrize("mode", ["drop", "clip", "promise_in_bounds"])
def test_accumulating_scatter_matches_loop_reference(name, op, mode):
    shape, ishape, ushape, dn = SCATTER_CASES[name]
    rng = np.random.default_rng(1)
    operand = rng.integers(-4, 5, size=shape).astype(np.float32)
    updates = rng.integers(-4, 5, size=ushape).astype(np.float32)
    indices = rng.integers(-1, max(shape) + 2, size=ishape).astype(np.int32)
    expected = ref_scatter(operand, indices, updates, dn, COMBINE[op],
                           GatherScatterMode.from_any(mode))
    got = op(operand, indices, updates, dn, mode=mode)
    assert got.shape == operand.shape and got.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(got), expected)


UNIQUE_SCATTER_INDICES = {  # windows that never overlap; some are out of bounds
    "rows": [[4], [0], [2], [9], [-1], [1]],
    "points": [[0, 0], [1, 2], [3, 4], [2, 1], [0, 4], [3, 0], [5, 1]],
    "windows": [[0, 0], [2, 2], [4, 1]],
    "window_first": [[[0], [3], [5]], [[1], [4], [2]]],
    "per_example": [[[0], [1], [2], [3]], [[4], [3], [2], [1]], [[2], [0], [9], [1]]],
    "whole": [],
}


@pytest.mark.parametrize("name", sorted(SCATTER_CASES))
def test_scatter_overwrites_like_loop_reference(name):
    shape, ishape, ushape, dn = SCATTER_CASES[name]
    indices = np.array(UNIQUE_SCATTER_INDICES[name], np.int32).reshape(ishape)
    operand = np.zeros(shape, np.int32)
    updates = np.arange(1, int(np.prod(ushape)) + 1, dtype=np.int32).reshape(ushape)
    expected = ref_scatter(operand, indices, updates, dn, COMBINE[lax.scatter],
                           GatherScatterMode.FILL_OR_DROP)
    got = lax.scatter(operand, indices, updates, dn)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(np.asarray(got), expected)


def test_scatter_clip_clamps_windows():
    x = np.zeros((5, 2), np.int32)
    got = lax.scatter(x, np.array([[9], [-3]], np.int32), np.array([[1, 2], [3, 4]], np.int32),
                      SDN((1,), (0,), (0,)), mode="clip")
    np.testing.assert_array_equal(np.asarray(got), [[3, 4], [0, 0], [0, 0], [0, 0], [1, 2]])


def test_scatter_add_accumulates_duplicates_and_drops_out_of_bounds():
    x = np.zeros(4, np.int32)
    idx = np.array([[1], [1], [3], [4], [-1]], np.int32)
    upd = np.array([1, 2, 3, 4, 5], np.int32)
    got = lax.scatter_add(x, idx, upd, SDN((), (0,), (0,)))
    np.testing.assert_array_equal(np.asarray(got), [0, 3, 0, 3])
    clipped = lax.scatter_add(x, idx, upd, SDN((), (0,), (0,)), mode="clip")
    np.testing.assert_array_equal(np.asarray(clipped), [5, 3, 0, 7])


def test_scatter_under_make_jaxpr():
    x = np.zeros((5, 3), np.float32)
    jaxpr = fborn.make_jaxpr(
        lambda a, i, u: lax.scatter_add(a, i, u, SDN((1,), (0,), (0,))))(
        x, np.zeros((2, 1), np.int32), np.ones((2, 3), np.float32))
    assert "scatter_add[" in str(jaxpr) and "mode=GatherScatterMode.FILL_OR_DROP" in str(jaxpr)
    fborn.typecheck_jaxpr(jaxpr.jaxpr)
    (out,) = fborn.eval_jaxpr(jaxpr.jaxpr, jaxpr.consts, x, np.array([[4], [4]], np.int32),
                              np.ones((2, 3), np.float32))
    np.testing.assert_array_equal(np.asarray(out)[4], [2, 2, 2])


@pytest.mark.parametrize("call, error, match", [
    (lambda: lax.scatter(np.zeros(4, np.float32), np.zeros((2, 1), np.int32),
                         np.zeros(2, np.int32), SDN((), (0,), (0,))),
     FbornDtypeError, "scatter: operand and updates must have equal dtypes"),
    (lambda: lax.scatter_add(np.zeros(4), np.zeros((2, 1), np.int32), np.zeros(3),
                             SDN((), (0,), (0,))), FbornShapeError, "must match the batch axes"),
    (lambda: lax.scatter_mul(np.zeros((4, 2)), np.zeros((2, 1), np.int32), np.zeros((2, 3)),
                             SDN((1,), (0,), (0,))), FbornShapeError, "larger than axis 1"),
    (lambda: lax.scatter_min(np.zeros((4, 2)), np.zeros((2, 1), np.int32), np.zeros(2),
                             SDN((), (0,), (0,))), FbornShapeError, "update_window_dims"),
    (lambda: lax.scatter_max(np.zeros(2), np.zeros((2, 1), np.int32), np.zeros(2),
                             SDN((), (0,), (0,), (0,), (0,))), FbornShapeError, "share axes"),
    (lambda: lax.scatter(np.zeros(4), np.zeros((2, 1), np.int32), np.zeros(2),
                         ((), (0,), (0,))), TypeError, "ScatterDimensionNumbers"),
])
def test_scatter_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_gather_scatter_mode_parsing():
    assert GatherScatterMode.from_any(None) is GatherScatterMode.FILL_OR_DROP
    assert GatherScatterMode.from_any("drop") is GatherScatterMode.FILL_OR_DROP
    assert GatherScatterMode.from_any("clip") is GatherScatterMode.CLIP
    assert repr(GatherScatterMode.PROMISE_IN_BOUNDS) == "GatherScatterMode.PROMISE_IN_BOUNDS"
    assert hash(GDN((0,), (1,), (1,))) == hash(GDN((0,), (1,), (1,), (), ()))


# --------------------------------------------------------------------------------------------
# transform rules: vmap against a loop, gradients against numpy
# --------------------------------------------------------------------------------------------

BATCHINGS = [(0, None), (None, 0), (0, 0), (1, 1)]


def batched(value, axis, size=3):
    """``size`` different copies of ``value`` stacked along ``axis`` (or ``value`` itself)."""
    if axis is None:
        return value
    return np.stack([value + k if value.dtype.kind == "f" else (value + k) % 3
                     for k in range(size)], axis=axis)


def take(value, axis, k):
    return value if axis is None else np.take(value, k, axis=axis)


@pytest.mark.parametrize("name", ["take_rows", "windows_2d", "per_example", "offset_first"])
@pytest.mark.parametrize("axes", BATCHINGS)
def test_vmap_gather_matches_loop(name, axes):
    shape, ishape, dn, sizes = GATHER_CASES[name]
    operand = batched(np.random.default_rng(2).standard_normal(shape).astype(np.float32),
                      axes[0])
    indices = batched(np.random.default_rng(3).integers(0, 3, size=ishape).astype(np.int32),
                      axes[1])
    fn = lambda x, i: lax.gather(x, i, dn, sizes, mode="clip")  # noqa: E731
    got = fborn.vmap(fn, in_axes=axes)(operand, indices)
    expected = np.stack([np.asarray(fn(take(operand, axes[0], k), take(indices, axes[1], k)))
                         for k in range(3)])
    np.testing.assert_array_equal(np.asarray(got), expected)


@pytest.mark.parametrize("name", ["rows", "windows", "per_example", "whole"])
@pytest.mark.parametrize("axes", [(0, None, None), (None, 0, None), (None, None, 0),
                                  (0, 0, 0), (1, None, 1)])
def test_vmap_scatter_add_matches_loop(name, axes):
    shape, ishape, ushape, dn = SCATTER_CASES[name]
    rng = np.random.default_rng(4)
    operand = batched(rng.standard_normal(shape).astype(np.float32), axes[0])
    indices = batched(rng.integers(0, 3, size=ishape).astype(np.int32), axes[1])
    updates = batched(rng.standard_normal(ushape).astype(np.float32), axes[2])
    if any(a is not None and np.ndim(v) <= a for a, v in zip(axes, (operand, indices, updates),
                                                                strict=True)):
        pytest.skip("no such axis")
    fn = lambda x, i, u: lax.scatter_add(x, i, u, dn)  # noqa: E731
    got = fborn.vmap(fn, in_axes=axes)(operand, indices, updates)
    expected = np.stack([np.asarray(fn(*(take(v, a, k) for v, a in
                                         zip((operand, indices, updates), axes, strict=True))))
                         for k in range(3)])
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-6)


@pytest.mark.parametrize("axes", [(0, None), (None, 0), (0, 0)])
def test_vmap_dynamic_slices_match_loop(axes):
    x = batched(np.arange(20, dtype=np.float32).reshape(4, 5), axes[0])
    starts = batched(np.array([1, 3], np.int32), axes[1])
    sl = lambda a, s: lax.dynamic_slice(a, (s[0], s[1]), (2, 3))  # noqa: E731
    up = lambda a, s: lax.dynamic_update_slice(a, np.ones((2, 3), np.float32),  # noqa: E731
                                               (s[0], s[1]))
    for fn in (sl, up):
        got = fborn.vmap(fn, in_axes=axes)(x, starts)
        expected = np.stack([np.asarray(fn(take(x, axes[0], k), take(starts, axes[1], k)))
                             for k in range(3)])
        np.testing.assert_array_equal(np.asarray(got), expected)


def test_gather_and_dynamic_slice_gradients():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    idx = np.array([[1], [4], [1], [9]], np.int32)
    for mode in ("clip", "fill"):
        fn = lambda a, m=mode: (lax.gather(a, idx, GDN((1,), (0,), (0,)), (1, 3), mode=m)  # noqa: E731
                                * w).sum()
        expected = np.zeros_like(x)
        rows = np.minimum(idx[:, 0], 4) if mode == "clip" else idx[:, 0]
        keep = rows < 5
        np.add.at(expected, rows[keep], w[keep])
        np.testing.assert_allclose(np.asarray(fborn.grad(fn)(x)), expected, rtol=1e-6)
    grad = fborn.grad(lambda a, i: (lax.dynamic_slice(a, (i, 0), (2, 3)) * w[:2]).sum())
    expected = np.zeros_like(x)
    expected[3:5] = w[:2]  # start 7 clamps to 3
    np.testing.assert_allclose(np.asarray(grad(x, np.int32(7))), expected)
    gx, gu = fborn.grad(lambda a, u: (lax.dynamic_update_slice(a, u, (1, 1)) * x).sum(),
                        argnums=(0, 1))(x, w[:2, :2])
    mask = np.ones_like(x)
    mask[1:3, 1:3] = 0
    np.testing.assert_allclose(np.asarray(gx), x * mask)
    np.testing.assert_allclose(np.asarray(gu), x[1:3, 1:3])


def test_scatter_gradients():
    rng = np.random.default_rng(6)
    x = rng.standard_normal(4).astype(np.float32)
    u = np.array([5.0, 7.0, -1.0], np.float32)
    w = rng.standard_normal(4).astype(np.float32)
    idx = np.array([[1], [1], [3]], np.int32)
    dn = SDN((), (0,), (0,))

    def grads(op, **kw):
        fn = lambda a, b: (op(a, idx, b, dn, **kw) * w).sum()  # noqa: E731
        return [np.asarray(g) for g in fborn.grad(fn, argnums=(0, 1))(x, u)]

    gx, gu = grads(lax.scatter)  # the last duplicate wins slot 1
    np.testing.assert_allclose(gx, w * [1, 0, 1, 0])
    np.testing.assert_allclose(gu, [0, w[1], w[3]])
    gx, gu = grads(lax.scatter_add)
    np.testing.assert_allclose(gx, w)
    np.testing.assert_allclose(gu, w[[1, 1, 3]])
    ties = np.array([7.0, 7.0, x[3]], np.float32)  # slot 1: two tied updates; slot 3: operand
    fn = lambda a, b: (lax.scatter_max(a, idx, b, dn) * w).sum()  # noqa: E731
    gx, gu = (np.asarray(g) for g in fborn.grad(fn, argnums=(0, 1))(x, ties))
    np.testing.assert_allclose(gx, w * [1, 0, 1, 0.5])
    np.testing.assert_allclose(gu, [w[1] / 2, w[1] / 2, w[3] / 2])
    unique = np.array([[0], [2]], np.int32)
    fn = lambda a, b: (lax.scatter_mul(a, unique, b, dn, unique_indices=True) * w).sum()  # noqa: E731
    gx, gu = (np.asarray(g) for g in fborn.grad(fn, argnums=(0, 1))(x, u[:2]))
    np.testing.assert_allclose(gx, w * [u[0], 1, u[1], 1], rtol=1e-6)
    np.testing.assert_allclose(gu, [w[0] * x[0], w[2] * x[2]], rtol=1e-6)
    with pytest.raises(NotImplementedError, match="unique_indices"):
        fborn.grad(lambda a: lax.scatter_mul(a, idx, u, dn).sum())(x)
