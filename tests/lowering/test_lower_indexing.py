"""The indexing primitives (dynamic_slice, dynamic_update_slice, gather, the scatter family)
compiled by the numba backend equal their eager results exactly: out-of-bounds, negative,
repeated and empty indices, every gather/scatter mode, general dimension numbers, and the
gathers/scatters that vmap and grad produce.

Shapes and static parameters come from small fixed lists so that the compiled programs are
few and hypothesis examples (indices, values) hit the in-memory kernel cache.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from compiled_checks import assert_compiled_equal
from hypothesis import given
from hypothesis import strategies as st

import fborn
import fborn.lax as lax
import fborn.numpy as fnp
from fborn.lax import GatherDimensionNumbers, ScatterDimensionNumbers


def data(shape: tuple[int, ...], dtype: Any, seed: int) -> Any:
    """Reproducible test values (small integers, or normal floats with some repeats)."""
    rng = np.random.default_rng(seed)
    if np.dtype(dtype) == np.bool_:
        return fnp.asarray(rng.integers(0, 2, shape).astype(bool))
    if np.dtype(dtype).kind in "iu":
        return fnp.asarray(rng.integers(0, 100, shape).astype(dtype))
    values = rng.standard_normal(shape).astype(dtype)
    return fnp.asarray(np.round(values, 1) if seed % 2 else values)


def index_array(values: list[int], dtype: Any = np.int32) -> Any:
    return fnp.asarray(np.array(values, dtype=dtype))


def ints(n: int, low: int, high: int) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(low, high), min_size=n, max_size=n)


seeds = st.integers(0, 2**16)


# --- dynamic_slice / dynamic_update_slice ------------------------------------------------------

SLICE_CASES = [((7,), (3,)), ((4, 5), (2, 5)), ((3, 4, 2), (3, 0, 1)), ((0, 3), (0, 2))]


def _slices(xs: list[Any], starts: Any, i: Any) -> Any:
    outs = [lax.dynamic_slice(x, starts[:x.ndim], sizes)
            for x, (_, sizes) in zip(xs, SLICE_CASES, strict=True)]
    return (*outs, lax.dynamic_slice(fnp.abs(xs[1]) * 2 - 1, (i, 2), (2, 3)),
            lax.dynamic_index_in_dim(xs[1], i, axis=1, keepdims=False))


@given(starts=ints(3, -9, 9), i=st.integers(-7, 7), seed=seeds)
def test_dynamic_slice(starts: list[int], i: int, seed: int) -> None:
    """Out-of-bounds and negative starts, empty slices and operands, static starts, a fused
    elementwise operand."""
    xs = [data(shape, np.float32, seed + k) for k, (shape, _) in enumerate(SLICE_CASES)]
    assert_compiled_equal(_slices, xs, index_array(starts), fnp.asarray(np.int32(i)))


UPDATE_CASES = [((7,), (3,)), ((4, 5), (2, 3)), ((3, 4), (0, 2)), ((4, 5), (4, 5))]


def _updates(xs: list[Any], us: list[Any], starts: Any, xi: Any, ui: Any) -> Any:
    outs = [lax.dynamic_update_slice(x, u * 2, starts[:x.ndim])
            for x, u in zip(xs, us, strict=True)]
    return (*outs, lax.dynamic_update_slice(xi + 1, ui, (starts[0], 1)),
            lax.dynamic_update_index_in_dim(xi, ui[0], starts[1], axis=0))


@given(starts=ints(2, -9, 9), seed=seeds)
def test_dynamic_update_slice(starts: list[int], seed: int) -> None:
    """Clamped starts, empty and full-size updates, fused updates, a fused (private) operand."""
    xs = [data(shape, np.float32, seed + k) for k, (shape, _) in enumerate(UPDATE_CASES)]
    us = [data(shape, np.float32, seed + 10 + k) for k, (_, shape) in enumerate(UPDATE_CASES)]
    xi, ui = data((5, 4), np.int32, seed), data((2, 3), np.int32, seed + 1)
    assert_compiled_equal(_updates, xs, us, index_array(starts), xi, ui)


# --- gather: numpy indexing, take, take_along_axis, lax.gather ---------------------------------

def _getitem(x: Any, i: Any, j: Any) -> Any:
    return x[i], x[i, j], x.at[i].get(mode="fill", fill_value=-5.0)


@given(i=ints(6, -9, 8), j=ints(6, -6, 5), seed=seeds)
def test_getitem_gathers(i: list[int], j: list[int], seed: int) -> None:
    x = data((6, 4), np.float32, seed)
    assert_compiled_equal(_getitem, x, index_array(i), index_array(j))


def _take(x: Any, i: Any) -> Any:
    return (fnp.take(x, i, axis=1), fnp.take(x, i, axis=0, mode="clip"),
            fnp.take(x.astype(fnp.int32), i, axis=0), fnp.take(x > 0, i, axis=1))


@given(i=ints(5, -9, 9), seed=seeds)
def test_take_modes_and_default_fills(i: list[int], seed: int) -> None:
    """Fill values: NaN (float), the minimum (int), True (bool); clip mode."""
    assert_compiled_equal(_take, data((5, 6), np.float32, seed), index_array(i))


def _take_along(x: Any, rows: Any, cols: Any) -> Any:
    return fnp.take_along_axis(x, cols, axis=1), fnp.take_along_axis(x, rows, axis=0, mode="clip")


@given(rows=ints(12, -6, 6), cols=ints(12, -8, 8), seed=seeds)
def test_take_along_axis(rows: list[int], cols: list[int], seed: int) -> None:
    x = data((4, 6), np.float32, seed)
    r = fnp.asarray(np.array(rows, np.int32).reshape(2, 6))
    c = fnp.asarray(np.array(cols, np.int32).reshape(4, 3))
    assert_compiled_equal(_take_along, x, r, c)


WINDOW_DN = GatherDimensionNumbers(offset_dims=(2, 3), collapsed_slice_dims=(1,),
                                   start_index_map=(1, 2))
BATCH_DN = GatherDimensionNumbers(offset_dims=(), collapsed_slice_dims=(1,), start_index_map=(1,),
                                  operand_batching_dims=(0,), start_indices_batching_dims=(1,))


def _lax_gather(x: Any, windows: Any, unsigned: Any, batched: Any) -> Any:
    w = windows.reshape(2, 3, 2)
    return (lax.gather(x, w, WINDOW_DN, (3, 1, 2), mode="fill"),
            lax.gather(x, w, WINDOW_DN, (3, 1, 2), mode="fill", fill_value=7),
            lax.gather(x, w, WINDOW_DN, (3, 1, 2), mode="clip"),
            lax.gather(x, unsigned.reshape(2, 3, 2), WINDOW_DN, (3, 1, 2), mode="fill"),
            lax.gather(x[:, :, 0], batched.reshape(2, 3, 1), BATCH_DN, (1, 1), mode="fill"))


@given(windows=ints(12, -3, 7), unsigned=ints(12, 0, 255), batched=ints(6, -2, 6), seed=seeds)
def test_lax_gather_window_and_batching_dims(windows: list[int], unsigned: list[int],
                                            batched: list[int], seed: int) -> None:
    x = data((3, 5, 4), np.int32, seed)
    small = [u % 8 if u < 128 else u for u in unsigned]
    assert_compiled_equal(_lax_gather, x, index_array(windows), index_array(small, np.uint8),
                          index_array(batched))


def _x64_reads_and_writes(x: Any, i: Any) -> Any:
    return (x[i], fnp.take(x, i, axis=1), lax.dynamic_slice(x, (i[0], i[1]), (2, 2)),
            lax.dynamic_update_slice(x, x[:2, :2], (i[2], i[3])), x.at[i].add(1.0))


@given(i=ints(5, -9, 9), seed=seeds)
def test_int64_indices(x64: None, i: list[int], seed: int) -> None:
    x = fnp.asarray(np.asarray(data((5, 4), np.float64, seed)))
    assert_compiled_equal(_x64_reads_and_writes, x, index_array(i, np.int64))


# --- scatter family ----------------------------------------------------------------------------

def _at_updates(x: Any, i: Any, v: Any) -> Any:
    return (x.at[i].set(v), x.at[i].add(v), x.at[i].multiply(v), x.at[i].min(v),
            x.at[i].max(v), x.at[i, 1].set(v[:, 0]))


@given(i=ints(7, -8, 8), seed=seeds)
def test_at_updates_with_repeats_out_of_bounds_and_nan(i: list[int], seed: int) -> None:
    """Repeated indices combine in order (float sums exactly as numpy), out-of-bounds updates
    are dropped, NaN propagates through min/max."""
    x, v = np.asarray(data((6, 3), np.float32, seed)), data((7, 3), np.float32, seed + 1)
    x = np.where(x > 1.5, np.nan, x)
    assert_compiled_equal(_at_updates, fnp.asarray(x), index_array(i),
                          fnp.where(v > 1.5, np.nan, v))


def _at_int_updates(xs: list[Any], i: Any, vs: list[Any]) -> Any:
    (xi, vi), (xu, vu), (xb, vb) = zip(xs, vs, strict=True)
    return (xi.at[i].add(vi), xi.at[i].min(vi, mode="clip"), xu.at[i].multiply(vu),
            xb.at[i].add(vb), xb.at[i].multiply(vb))


@given(i=ints(7, -8, 8), seed=seeds)
def test_at_updates_int_and_bool(i: list[int], seed: int) -> None:
    """Integer products wrap; bool add/mul are or/and."""
    kinds = (np.int32, np.uint8, np.bool_)
    xs = [data((6, 3), dtype, seed) for dtype in kinds]
    vs = [data((7, 3), dtype, seed + 1) for dtype in kinds]
    assert_compiled_equal(_at_int_updates, xs, index_array(i), vs)


def _half_updates(xs: list[Any], i: Any, vs: list[Any]) -> Any:
    return xs[0].at[i].add(vs[0]), xs[1].at[i].add(vs[1]), fnp.take(xs[1], i, axis=0)


@given(i=ints(7, -8, 8), seed=seeds)
def test_half_float_updates_round_like_numpy(i: list[int], seed: int) -> None:
    """float16/bfloat16 updates combine in float32 and round once per update."""
    kinds = (fnp.float16, fnp.bfloat16)
    xs = [data((6, 3), np.float32, seed).astype(dtype) for dtype in kinds]
    vs = [data((7, 3), np.float32, seed + 1).astype(dtype) for dtype in kinds]
    assert_compiled_equal(_half_updates, xs, index_array(i), vs)


SCATTER_DN = ScatterDimensionNumbers(update_window_dims=(1, 2), inserted_window_dims=(1,),
                                     scatter_dims_to_operand_dims=(1, 2))
SCATTER_BATCH_DN = ScatterDimensionNumbers(update_window_dims=(), inserted_window_dims=(1,),
                                           scatter_dims_to_operand_dims=(1,),
                                           operand_batching_dims=(0,),
                                           scatter_indices_batching_dims=(1,))


def _lax_scatters(x: Any, idx: Any, u: Any, bidx: Any, bu: Any) -> Any:
    w = idx.reshape(4, 2)
    b = bidx.reshape(2, 3, 1)
    return (lax.scatter(x, w, u, SCATTER_DN), lax.scatter_add(x, w, u, SCATTER_DN, mode="clip"),
            lax.scatter_mul(x, w, u, SCATTER_DN, mode="promise_in_bounds"),
            lax.scatter_min(x[:, :, 0], b, bu, SCATTER_BATCH_DN),
            lax.scatter_max(x[:, :, 0], b, bu, SCATTER_BATCH_DN, mode="clip"))


@given(idx=ints(8, -3, 6), bidx=ints(6, -2, 6), seed=seeds)
def test_lax_scatter_window_and_batching_dims(idx: list[int], bidx: list[int],
                                             seed: int) -> None:
    x = data((3, 5, 4), np.float32, seed)
    u, bu = data((4, 3, 2), np.float32, seed + 1), data((2, 3), np.float32, seed + 2)
    assert_compiled_equal(_lax_scatters, x, index_array(idx), u, index_array(bidx), bu)


def _empty(x: Any, idx: Any, u: Any) -> Any:
    dn = GatherDimensionNumbers(offset_dims=(1,), collapsed_slice_dims=(0,), start_index_map=(0,))
    sdn = ScatterDimensionNumbers(update_window_dims=(1,), inserted_window_dims=(0,),
                                  scatter_dims_to_operand_dims=(0,))
    return (lax.gather(x, idx, dn, (1, 3), mode="fill"), lax.scatter_add(x, idx, u, sdn),
            lax.scatter(x, idx, u, sdn, mode="clip"))


def test_empty_indices() -> None:
    x = data((4, 3), np.float32, 0)
    idx = fnp.zeros((0, 1), fnp.int32)
    assert_compiled_equal(_empty, x, idx, fnp.zeros((0, 3), fnp.float32))


# --- under vmap and grad -----------------------------------------------------------------------

def _vmapped(x: Any, s: Any, u: Any, i: Any) -> Any:
    def one(xr: Any, sr: Any, ur: Any, ir: Any) -> Any:
        return (lax.dynamic_slice(xr, (sr,), (3,)), lax.dynamic_update_slice(xr, ur, (sr,)),
                xr.at[ir].add(ur), xr[ir])

    return (fborn.vmap(one)(x, s, u, i), fborn.vmap(one, in_axes=(0, None, None, None))(
        x, s[0], u[0], i[0]))


@given(s=ints(4, -9, 9), i=ints(8, -7, 7), seed=seeds)
def test_vmap(s: list[int], i: list[int], seed: int) -> None:
    x, u = data((4, 6), np.float32, seed), data((4, 2), np.float32, seed + 1)
    idx = fnp.asarray(np.array(i, np.int32).reshape(4, 2))
    assert_compiled_equal(_vmapped, x, index_array(s), u, idx)


def _loss(x: Any, v: Any, i: Any, s: Any) -> Any:
    y = x.at[i].set(v)
    return (fnp.sum(x[i] * v) + fnp.sum(y * y)
            + fnp.sum(lax.dynamic_slice(x, (s, 0), (2, 3)) ** 2))


_grad_loss = fborn.grad(_loss, argnums=(0, 1))


@given(i=ints(5, -6, 6), s=st.integers(-5, 5), seed=seeds)
def test_grad(i: list[int], s: int, seed: int) -> None:
    x, v = data((5, 3), np.float32, seed), data((5, 3), np.float32, seed + 1)
    assert_compiled_equal(_grad_loss, x, v, index_array(i), fnp.asarray(np.int32(s)),
                          rtol=1e-6)


def test_vmap_and_grad_produce_the_indexing_primitives() -> None:
    """The transformed functions above really exercise batched gathers/scatters and the
    transposes (gather -> scatter_add, dynamic_slice -> dynamic_update_slice)."""
    x, u = data((4, 6), np.float32, 0), data((4, 2), np.float32, 1)
    i = fnp.zeros((4, 2), fnp.int32)
    vmapped = str(fborn.make_jaxpr(_vmapped)(x, index_array([0, 1, 2, 3]), u, i))
    for name in ("gather[", "scatter[", "scatter_add[", "dynamic_slice[",
                 "dynamic_update_slice "):
        assert name in vmapped, name
    assert "operand_batching_dims=(0,)" in vmapped
    grads = str(fborn.make_jaxpr(_grad_loss)(data((5, 3), np.float32, 0),
                                             data((5, 3), np.float32, 1),
                                             index_array([0, 1, 1, 3, 4]),
                                             fnp.asarray(np.int32(1))))
    for name in ("gather[", "scatter[", "scatter_add[", "dynamic_update_slice "):
        assert name in grads, name


def test_scatter_routine_updates_a_private_buffer_without_copy() -> None:
    """A scatter into a fresh lazy operand (the zeros of a gather's transpose) writes in place;
    an input operand is copied first."""
    x, i = data((5, 3), np.float32, 0), index_array([1, 1, 4])
    grad_source = fborn.jit(fborn.grad(lambda x: fnp.sum(x[i] * 2.0))).lower(x).as_text()
    assert ".copy()" not in grad_source
    update_source = fborn.jit(lambda x, i: x.at[i].add(1.0)).lower(x, i).as_text()
    assert ".copy()" in update_source
