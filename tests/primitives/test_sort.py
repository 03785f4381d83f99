"""The sort and top_k primitives (through fborn.lax) against numpy's stable sorts."""

from __future__ import annotations

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, settings

import fborn
from fborn import lax
from fborn.core.errors import FbornShapeError
from fborn.test_util import check_grads

SPECIAL_FLOATS = [0.0, -0.0, 1.0, -1.0, np.nan, -np.nan, np.inf, -np.inf, 2.5]


def shapes(min_dims: int = 1, max_dims: int = 3, min_side: int = 0) -> st.SearchStrategy:
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=5)


def float_arrays(dtype=np.float32, min_dims: int = 1, min_side: int = 0) -> st.SearchStrategy:
    """Floats with many ties, signed zeros, infinities and NaNs of both signs."""
    return hnp.arrays(dtype, shapes(min_dims, min_side=min_side),
                      elements=st.sampled_from(SPECIAL_FLOATS).map(dtype))


def int_arrays(dtype=np.int32, min_dims: int = 1, min_side: int = 0) -> st.SearchStrategy:
    return hnp.arrays(dtype, shapes(min_dims, min_side=min_side),
                      elements=st.integers(-3, 3) if np.dtype(dtype).kind == "i"
                      else st.integers(0, 5))


def any_arrays(min_dims: int = 1, min_side: int = 0) -> st.SearchStrategy:
    return st.one_of(
        float_arrays(np.float32, min_dims, min_side), float_arrays(np.float16, min_dims, min_side),
        int_arrays(np.int32, min_dims, min_side), int_arrays(np.uint8, min_dims, min_side),
        hnp.arrays(np.bool_, shapes(min_dims, min_side=min_side)),
    )


def assert_same(actual: object, expected: np.ndarray) -> None:
    """Equal values, dtype and shape; floats compared bit for bit up to the NaN payload."""
    got = np.asarray(actual)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    if got.dtype.kind == "f":
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
        keep = ~np.isnan(expected)
        np.testing.assert_array_equal(np.signbit(got[keep]), np.signbit(expected[keep]))
    np.testing.assert_array_equal(got, expected)


@settings(max_examples=40, deadline=None)
@given(any_arrays(), st.data())
def test_sort_matches_numpy_stable_sort(x: np.ndarray, data: st.DataObject) -> None:
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    assert_same(lax.sort(x, dimension=dim), np.sort(x, axis=dim, kind="stable"))


@settings(max_examples=40, deadline=None)
@given(any_arrays(), st.data())
def test_sort_with_iota_payload_is_stable_argsort(x: np.ndarray, data: st.DataObject) -> None:
    dim = data.draw(st.integers(0, x.ndim - 1))
    iota = np.broadcast_to(
        np.arange(x.shape[dim], dtype=np.int32).reshape([-1 if i == dim else 1
                                                         for i in range(x.ndim)]), x.shape)
    keys, idx = lax.sort((x, iota), dimension=dim)
    assert_same(idx, np.argsort(x, axis=dim, kind="stable").astype(np.int32))
    assert_same(keys, np.sort(x, axis=dim, kind="stable"))


@settings(max_examples=30, deadline=None)
@given(hnp.arrays(np.int32, st.integers(0, 12), elements=st.integers(0, 2)),
       st.data())
def test_sort_num_keys_is_lexicographic(primary: np.ndarray, data: st.DataObject) -> None:
    n = primary.shape[0]
    secondary = data.draw(hnp.arrays(np.float32, n, elements=st.sampled_from(SPECIAL_FLOATS)))
    payload = np.arange(n, dtype=np.int32)
    out = lax.sort((primary, secondary, payload), num_keys=2)
    # np.lexsort sorts by its last key first; its float order is JAX's (NaN last, -0 == 0).
    order = np.lexsort((secondary, primary))
    assert_same(out[0], primary[order])
    assert_same(out[1], secondary[order])
    assert_same(out[2], payload[order])


def test_sort_float_order_and_tuple_outputs() -> None:
    x = np.array([3.0, np.nan, -0.0, 0.0, 1.0, -np.nan, np.inf, -np.inf, 1.0], np.float32)
    values = np.asarray(lax.sort(x))
    assert_same(values[:7], np.array([-np.inf, -0.0, 0.0, 1.0, 1.0, 3.0, np.inf], np.float32))
    assert np.isnan(values[7:]).all()
    out = lax.sort([x, np.arange(9, dtype=np.int32)])
    assert isinstance(out, tuple) and len(out) == 2
    assert_same(out[1], np.array([7, 2, 3, 4, 8, 0, 6, 1, 5], np.int32))
    keys, vals = lax.sort_key_val(np.array([2, 1, 2, 1]), np.array([0.0, 1.0, 2.0, 3.0]))
    assert_same(keys, np.array([1, 1, 2, 2], np.int32))
    assert_same(vals, np.array([1.0, 3.0, 0.0, 2.0], np.float32))


def test_sort_bfloat16() -> None:
    x = lax.convert_element_type(np.array([2.0, np.nan, -1.0, 0.5], np.float32), "bfloat16")
    out = lax.sort(x)
    assert out.dtype == np.dtype("bfloat16")
    np.testing.assert_array_equal(np.asarray(out).astype(np.float32)[:3], [-1.0, 0.5, 2.0])
    assert np.isnan(np.asarray(out).astype(np.float32)[3])


def _expected_top_k(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    idx = np.argsort(-x.astype(np.int64), axis=-1, kind="stable")[..., :k]
    return np.take_along_axis(x, idx, axis=-1), idx.astype(np.int32)


@settings(max_examples=40, deadline=None)
@given(int_arrays(np.int32, min_dims=1), st.data())
def test_top_k_matches_stable_descending_argsort(x: np.ndarray, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, x.shape[-1]))
    values, indices = lax.top_k(x, k)
    want_values, want_indices = _expected_top_k(x, k)
    assert_same(values, want_values)
    assert_same(indices, want_indices)


@settings(max_examples=25, deadline=None)
# (adding 0.0 turns -0.0 into 0.0: top_k ranks 0.0 above -0.0, numpy sees a tie)
@given(hnp.arrays(np.float32, shapes(2, 3, min_side=1),
                  elements=st.floats(-4, 4, width=32).map(lambda v: v + 0.0)), st.data())
def test_top_k_axis(x: np.ndarray, data: st.DataObject) -> None:
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    k = data.draw(st.integers(0, x.shape[axis]))
    values, indices = lax.top_k(x, k, axis=axis)
    moved = np.moveaxis(x, axis, -1)
    idx = np.argsort(-moved, axis=-1, kind="stable")[..., :k]
    assert_same(values, np.moveaxis(np.take_along_axis(moved, idx, -1), -1, axis))
    assert_same(indices, np.moveaxis(idx, -1, axis).astype(np.int32))


def test_top_k_total_order_constants() -> None:
    # Recorded from jax.lax.top_k: NaN above inf, -0.0 below 0.0, -NaN lowest.
    x = np.array([3.0, np.nan, -0.0, 0.0, 1.0, -np.nan, np.inf, -np.inf, 1.0], np.float32)
    values, indices = lax.top_k(x, 9)
    assert_same(indices, np.array([1, 6, 0, 4, 8, 3, 2, 7, 5], np.int32))
    got = np.asarray(values)
    assert np.isnan(got[[0, 8]]).all()
    assert_same(got[1:8], np.array([np.inf, 3, 1, 1, 0.0, -0.0, -np.inf], np.float32))
    values, indices = lax.top_k(np.array([True, False, True]), 2)
    assert_same(values, np.array([True, True]))
    assert_same(indices, np.array([0, 2], np.int32))


def test_errors() -> None:
    with pytest.raises(FbornShapeError, match="equal shapes"):
        lax.sort((np.ones(3), np.ones(4)))
    with pytest.raises(FbornShapeError, match="num_keys"):
        lax.sort((np.ones(3), np.ones(3)), num_keys=3)
    with pytest.raises(FbornShapeError, match="dimension"):
        lax.sort(np.ones((2, 3)), dimension=2)
    with pytest.raises(FbornShapeError, match="dimension"):
        lax.sort(np.float32(1.0))
    with pytest.raises(FbornShapeError, match="k=4"):
        lax.top_k(np.ones(3), 4)
    with pytest.raises(FbornShapeError, match="k=-1"):
        lax.top_k(np.ones(3), -1)
    with pytest.raises(FbornShapeError, match="rank"):
        lax.top_k(np.float32(1.0), 1)
    with pytest.raises(FbornShapeError, match="sort"):
        lax.sort(())


def test_traced() -> None:
    x = np.array([[3, 1, 2], [0, 5, 4]], np.int32)
    jaxpr = fborn.make_jaxpr(lambda a: lax.sort((a, lax.neg(a)), dimension=0))(x)
    assert "sort[dimension=0 is_stable=True num_keys=1]" in str(jaxpr)
    assert [str(a.str_short()) for a in jaxpr.out_avals] == ["i32[2,3]", "i32[2,3]"]
    jaxpr = fborn.make_jaxpr(lambda a: lax.top_k(a, 2))(x)
    assert "top_k[k=2]" in str(jaxpr)
    assert [a.str_short() for a in jaxpr.out_avals] == ["i32[2,2]", "i32[2,2]"]


def test_sort_and_top_k_derivatives(x64: None) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    check_grads(lambda a: lax.sort(a, dimension=1), [x], order=2)
    check_grads(lambda a, b: lax.sort_key_val(a, b, dimension=0)[1], [x, y], order=2)
    check_grads(lambda a, b: lax.sort((a, b, a), dimension=0, num_keys=2), [x, y], order=1)
    check_grads(lambda a: lax.top_k(a, 3)[0], [x], order=2)
    check_grads(lambda a: lax.top_k(a, 2, axis=0)[0], [x], order=1)
    grad = fborn.grad(lambda a: lax.reduce_sum(lax.mul(lax.sort(a), np.arange(5.0)), (0,)))
    np.testing.assert_array_equal(np.asarray(grad(np.array([3.0, 1.0, 4.0, 1.5, 0.0]))),
                                  [3.0, 1.0, 4.0, 2.0, 0.0])


def test_sort_and_top_k_vmap() -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(-3, 4, (4, 3, 5)).astype(np.float32)
    out = fborn.vmap(lambda a: lax.sort(a, dimension=0), in_axes=2)(x)
    assert_same(out, np.stack([np.sort(x[:, :, i], axis=0, kind="stable") for i in range(5)]))
    keys, vals = fborn.vmap(lambda a, b: lax.sort_key_val(a, b), in_axes=(1, None))(x, x[:, 0])
    for i in range(3):
        order = np.argsort(x[:, i], axis=-1, kind="stable")
        assert_same(keys[i], np.take_along_axis(x[:, i], order, -1))
        assert_same(vals[i], np.take_along_axis(x[:, 0], order, -1))
    values, indices = fborn.vmap(lambda a: lax.top_k(a, 2), in_axes=2)(x)
    for i in range(5):
        want_values, want_indices = _expected_top_k(x[:, :, i].astype(np.int32), 2)
        assert_same(values[i], want_values.astype(np.float32))
        assert_same(indices[i], want_indices)
