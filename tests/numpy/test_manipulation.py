"""Tests of fborn.numpy's shape manipulation against numpy (values, shapes, dtypes), with JAX's
dtype expectations where they differ from numpy, error cases, and tracing under make_jaxpr."""

from __future__ import annotations

import math
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fborn
import fborn.numpy as fnp
from fborn.errors import ConcretizationError, FbornShapeError

# bfloat16 numpy inputs are covered by test_bfloat16_arrays (built by conversion in fborn).
DTYPES = [np.dtype(d) for d in (np.bool_, np.int8, np.uint8, np.int16, np.int32, np.uint32,
                                np.float16, np.float32)]

# --------------------------------------------------------------------------------------------
# Strategies and helpers
# --------------------------------------------------------------------------------------------


def shapes(min_dims: int = 0, max_dims: int = 4, min_side: int = 0, max_side: int = 4):
    return st.lists(st.integers(min_side, max_side), min_size=min_dims,
                    max_size=max_dims).map(tuple)


def make(shape: tuple[int, ...], dtype: np.dtype, seed: int) -> np.ndarray:
    """Deterministic small-integer data of ``dtype`` (distinct-ish per position)."""
    values = np.asarray(np.random.default_rng(seed).integers(-100, 100, size=shape))
    if dtype == np.bool_:
        return (values % 2).astype(np.bool_)
    if dtype.kind == "u":
        values = np.abs(values)
    return values.astype(dtype)


@st.composite
def arrays(draw: Any, shape: Any = None, dtype: Any = None, **shape_kw: Any) -> np.ndarray:
    shp = draw(shapes(**shape_kw)) if shape is None else shape
    dt = draw(st.sampled_from(DTYPES)) if dtype is None else np.dtype(dtype)
    return make(shp, dt, draw(st.integers(0, 2**32 - 1)))


def check(actual: Any, expected: np.ndarray, dtype: Any = None, weak: bool | None = None) -> None:
    """``actual`` is an fborn Array equal to ``expected`` in values, shape and dtype."""
    assert isinstance(actual, fborn.Array), type(actual)
    got = np.asarray(actual)
    want_dtype = expected.dtype if dtype is None else np.dtype(dtype)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    assert got.dtype == want_dtype, (got.dtype, want_dtype)
    np.testing.assert_array_equal(got, expected.astype(want_dtype))
    if weak is not None:
        assert actual.weak_type == weak


def check_list(actual: Any, expected: list[np.ndarray]) -> None:
    assert isinstance(actual, list) and len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        check(a, e)


def traced_equal(fun: Any, *args: np.ndarray) -> None:
    """``fun`` traces under make_jaxpr, and evaluating the jaxpr gives ``fun``'s eager output."""
    closed = fborn.make_jaxpr(fun)(*args)
    fborn.typecheck_jaxpr(closed.jaxpr)
    outs = fborn.eval_jaxpr(closed.jaxpr, closed.consts, *[fnp.asarray(a) for a in args])
    eager = fun(*[fnp.asarray(a) for a in args])
    eager = eager if isinstance(eager, (list, tuple)) else [eager]
    assert len(outs) == len(eager)
    for o, e in zip(outs, eager, strict=True):
        check(o, np.asarray(e))


def weak_float() -> fborn.Array:
    """A weakly typed float32 vector (as ``jnp.full((2,), 1.0)``)."""
    return fnp.full((2,), 1.0)


# --------------------------------------------------------------------------------------------
# Reshaping and transposing
# --------------------------------------------------------------------------------------------


@given(arrays(), st.randoms(use_true_random=False), st.booleans())
def test_reshape_matches_numpy(x: np.ndarray, rnd: Any, use_unknown: bool) -> None:
    dims = list(x.shape)
    rnd.shuffle(dims)
    if len(dims) >= 2 and rnd.random() < 0.5:
        dims = [dims[0] * dims[1], *dims[2:]]
    if use_unknown and dims and math.prod(d for i, d in enumerate(dims) if i != 0) != 0:
        dims[0] = -1
    check(fnp.reshape(fnp.asarray(x), dims), np.reshape(x, dims))
    check(fnp.ravel(x), np.ravel(x))


def test_reshape_int_shape_and_weak_type() -> None:
    check(fnp.reshape(np.arange(6), 6), np.arange(6).astype(np.int32))
    assert fnp.reshape(fnp.asarray(1.0), (1,)).weak_type  # jax 0.10.2: weak_type=True


@pytest.mark.parametrize("shape", [(4,), (-1, -1), (-2, 3), (-1, 4)])
def test_reshape_bad_sizes(shape: tuple[int, ...]) -> None:
    with pytest.raises(FbornShapeError, match=r"\(2, 3\)"):
        fnp.reshape(fnp.ones((2, 3)), shape)


def test_reshape_unknown_with_zero_size_is_ambiguous() -> None:
    with pytest.raises(FbornShapeError):
        fnp.reshape(fnp.ones((0, 3)), (-1, 0))
    check(fnp.reshape(fnp.ones((0, 3)), (-1, 3)), np.ones((0, 3), np.float32))


def test_reshape_order() -> None:
    with pytest.raises(NotImplementedError, match="order='F'"):
        fnp.reshape(fnp.ones((2, 3)), (3, 2), order="F")
    with pytest.raises(ValueError, match="order"):
        fnp.ravel(fnp.ones(3), order="X")


@given(arrays(min_dims=1), st.data())
def test_transpose_swapaxes_moveaxis(x: np.ndarray, data: Any) -> None:
    nd = x.ndim
    perm = data.draw(st.permutations(range(nd)))
    signed = [p - nd if data.draw(st.booleans()) else p for p in perm]
    check(fnp.transpose(x, signed), np.transpose(x, perm))
    check(fnp.permute_dims(x, perm), np.transpose(x, perm))
    check(fnp.transpose(x), np.transpose(x))
    i, j = data.draw(st.integers(-nd, nd - 1)), data.draw(st.integers(-nd, nd - 1))
    check(fnp.swapaxes(x, i, j), np.swapaxes(x, i, j))
    k = data.draw(st.integers(0, nd))
    src = data.draw(st.permutations(range(nd)))[:k]
    dst = data.draw(st.permutations(range(nd)))[:k]
    check(fnp.moveaxis(x, src, dst), np.moveaxis(x, src, dst))
    check(fnp.moveaxis(x, i, j), np.moveaxis(x, i, j))


def test_transpose_errors() -> None:
    x = fnp.ones((2, 3))
    for axes in [(0, 0), (0,), (0, 2)]:
        with pytest.raises(FbornShapeError):
            fnp.transpose(x, axes)
    with pytest.raises(ValueError, match="same number"):
        fnp.moveaxis(x, (0, 1), (0,))
    with pytest.raises(FbornShapeError):
        fnp.swapaxes(x, 0, 2)


@given(arrays(max_dims=3), st.data())
def test_expand_dims_and_squeeze(x: np.ndarray, data: Any) -> None:
    count = data.draw(st.integers(1, 3))
    out_nd = x.ndim + count
    axes = data.draw(st.lists(st.integers(-out_nd, out_nd - 1), min_size=count, max_size=count,
                              unique_by=lambda a: a % out_nd))
    expanded = np.expand_dims(x, tuple(axes))
    check(fnp.expand_dims(x, tuple(axes)), expanded)
    one = data.draw(st.integers(-x.ndim - 1, x.ndim))
    check(fnp.expand_dims(x, one), np.expand_dims(x, one))
    check(fnp.squeeze(expanded), np.squeeze(expanded))
    check(fnp.squeeze(expanded, tuple(axes)), x)


def test_squeeze_errors_and_weak_type() -> None:
    with pytest.raises(ValueError, match="size 1"):
        fnp.squeeze(fnp.ones((2, 3)), 0)
    with pytest.raises(FbornShapeError):
        fnp.squeeze(fnp.ones((1, 3)), 2)
    with pytest.raises(FbornShapeError):
        fnp.squeeze(fnp.ones(()), 0)
    with pytest.raises(FbornShapeError):
        fnp.expand_dims(fnp.ones((2, 3)), (0, 0))
    with pytest.raises(FbornShapeError):
        fnp.expand_dims(fnp.ones((2, 3)), 3)
    assert fnp.squeeze(fnp.full((1,), 1.0)).weak_type  # jax 0.10.2: weak_type=True


# --------------------------------------------------------------------------------------------
# Broadcasting
# --------------------------------------------------------------------------------------------


@st.composite
def broadcast_target(draw: Any, shape: tuple[int, ...]) -> tuple[int, ...]:
    lead = draw(shapes(max_dims=2))
    grown = tuple(draw(st.integers(0, 3)) if d == 1 else d for d in shape)
    return lead + grown


@given(arrays(max_side=3), st.data())
def test_broadcast_to_and_arrays(x: np.ndarray, data: Any) -> None:
    target = data.draw(broadcast_target(x.shape))
    check(fnp.broadcast_to(x, target), np.broadcast_to(x, target))
    y = make(target[len(target) - x.ndim:] if x.ndim else (), np.dtype(np.int8), 0)
    out = fnp.broadcast_arrays(x, y)
    expected = np.broadcast_arrays(x, y)
    check_list(out, list(expected))
    assert fnp.broadcast_shapes(x.shape, target) == np.broadcast_shapes(x.shape, target)


def test_broadcast_details() -> None:
    assert fnp.broadcast_shapes((2, 1), 3, ()) == (2, 3)
    out = fnp.broadcast_arrays(1.0, fnp.ones(2, fnp.int8))
    # jax 0.10.2: [float32 weak (2,), int8 (2,)]
    assert [(a.dtype, a.weak_type, a.shape) for a in out] == [
        (np.float32, True, (2,)), (np.int8, False, (2,))]
    check(fnp.broadcast_to(3, 2), np.array([3, 3], np.int32))
    for bad in [(3, 3), (3,)]:
        with pytest.raises(FbornShapeError):
            fnp.broadcast_to(fnp.ones((2, 3)), bad)
    with pytest.raises(FbornShapeError):
        fnp.broadcast_shapes((2,), (3,))


@given(st.lists(arrays(max_dims=3, max_side=3), min_size=1, max_size=3))
def test_atleast(xs: list[np.ndarray]) -> None:
    for ours, theirs in [(fnp.atleast_1d, np.atleast_1d), (fnp.atleast_2d, np.atleast_2d),
                         (fnp.atleast_3d, np.atleast_3d)]:
        out = ours(*xs)
        expected = theirs(*xs)
        if len(xs) == 1:
            check(out, expected)
        else:
            check_list(out, list(expected))


def test_atleast_weak_and_empty() -> None:
    assert fnp.atleast_1d(1.0).weak_type  # jax 0.10.2: float32 weak (1,)
    assert fnp.atleast_1d() == []


# --------------------------------------------------------------------------------------------
# Joining
# --------------------------------------------------------------------------------------------


@given(shapes(min_dims=1, max_dims=3), st.data())
def test_concatenate_promotes_like_jax(base: tuple[int, ...], data: Any) -> None:
    axis = data.draw(st.integers(-len(base), len(base) - 1))
    count = data.draw(st.integers(1, 4))
    parts = []
    for i in range(count):
        shp = list(base)
        shp[axis] = data.draw(st.integers(0, 3))
        parts.append(make(tuple(shp), data.draw(st.sampled_from(DTYPES)), i))
    dtype = fnp.result_type(*parts)
    expected = np.concatenate([p.astype(dtype) for p in parts], axis=axis)
    check(fnp.concatenate(parts, axis=axis), expected)
    check(fnp.concatenate([fnp.asarray(p) for p in parts], axis=None),
          np.concatenate([p.astype(dtype).ravel() for p in parts]))
    check(fnp.concat(parts, axis=axis), expected)
    check(fnp.concatenate(parts, axis=axis, dtype=np.float32), expected.astype(np.float32))


# jax 0.10.2 promotions that numpy does differently (or has no weak types for).
CONCAT_DTYPES = [
    ([np.ones(2, np.int32), np.ones(2, np.float16)], np.float16, False),
    ([np.ones(2, np.uint8), np.ones(2, np.int8)], np.int16, False),
    ([fnp.ones(2, ml_dtypes.bfloat16), np.ones(2, np.float16)], np.float32, False),
    ([np.ones(2, np.bool_), np.ones(2, np.uint8)], np.uint8, False),
]


@pytest.mark.parametrize(("parts", "dtype", "weak"), CONCAT_DTYPES)
def test_concatenate_dtype_constants(parts: list[np.ndarray], dtype: Any, weak: bool) -> None:
    out = fnp.concatenate(parts)
    assert (out.dtype, out.weak_type) == (np.dtype(dtype), weak)


def test_concatenate_weak_types() -> None:
    strong = fnp.asarray([1.0, 2.0])
    weak_int = fnp.full((2,), 1)
    out = fnp.concatenate([strong, weak_int])  # jax 0.10.2: float32, weak_type=False
    check(out, np.array([1, 2, 1, 1], np.float32), weak=False)
    out = fnp.concatenate([weak_float(), weak_int])  # jax 0.10.2: float32, weak_type=True
    check(out, np.ones(4, np.float32), weak=True)


def test_concatenate_array_form() -> None:
    x = make((2, 3, 4), np.dtype(np.int32), 1)
    check(fnp.concatenate(x, axis=1), np.concatenate(list(x), axis=1))
    check(fnp.concatenate(x, axis=0), np.concatenate(list(x), axis=0))
    check(fnp.concatenate(x, axis=None), x.ravel())
    check(fnp.stack(x, axis=1), np.stack(list(x), axis=1))


def test_concatenate_errors() -> None:
    with pytest.raises(ValueError, match="zero-dimensional"):
        fnp.concatenate([fnp.ones(()), fnp.ones(())])
    with pytest.raises(ValueError, match="at least one"):
        fnp.concatenate([])
    with pytest.raises(FbornShapeError, match="concatenate"):
        fnp.concatenate([fnp.ones((2, 3)), fnp.ones((2, 2))], axis=0)
    with pytest.raises(FbornShapeError, match="dimensions"):
        fnp.concatenate([fnp.ones((2, 3)), fnp.ones((2,))])
    with pytest.raises(FbornShapeError):
        fnp.concatenate([fnp.ones((2, 3))] * 2, axis=2)


@given(shapes(max_dims=3, max_side=3), st.integers(1, 3), st.data())
def test_stack_family(shape: tuple[int, ...], count: int, data: Any) -> None:
    dtype = data.draw(st.sampled_from(DTYPES))
    parts = [make(shape, dtype, i) for i in range(count)]
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    check(fnp.stack(parts, axis=axis), np.stack(parts, axis=axis))
    check(fnp.vstack(parts), np.vstack(parts))
    check(fnp.hstack(parts), np.hstack(parts))
    check(fnp.dstack(parts), np.dstack(parts))
    if len(shape) <= 2:
        check(fnp.column_stack(parts), np.column_stack(parts))
    check(fnp.stack(parts, dtype=np.int8), np.stack(parts).astype(np.int8))
    check(fnp.vstack(parts, dtype=np.int8), np.vstack(parts).astype(np.int8))


def test_stack_details() -> None:
    # jax 0.10.2: stack of Python scalars -> float32 weak (2,); hstack([1, 2]) -> int32 weak
    check(fnp.stack([1, 2.0]), np.array([1, 2], np.float32), weak=True)
    check(fnp.hstack([1, 2]), np.array([1, 2], np.int32), weak=True)
    check(fnp.column_stack([1, 2]), np.array([[1, 2]], np.int32))
    with pytest.raises(ValueError, match="same shape"):
        fnp.stack([fnp.ones((2, 3)), fnp.ones((3, 2))])
    with pytest.raises(ValueError, match="at least one"):
        fnp.stack([])
    with pytest.raises(ValueError, match="at least one"):
        fnp.vstack([])
    with pytest.raises(NotImplementedError):
        fnp.stack([fnp.ones(2)], out=fnp.ones((1, 2)))


# --------------------------------------------------------------------------------------------
# Splitting
# --------------------------------------------------------------------------------------------


@given(arrays(min_dims=1, max_dims=3, max_side=6), st.data())
def test_split_family(x: np.ndarray, data: Any) -> None:
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    n = x.shape[axis]
    sections = data.draw(st.integers(1, 4))
    check_list(fnp.array_split(x, sections, axis), np.array_split(x, sections, axis))
    if n % sections == 0:
        check_list(fnp.split(x, sections, axis), np.split(x, sections, axis))
        check_list(fnp.split(x, fnp.asarray(sections), axis), np.split(x, sections, axis))
    else:
        with pytest.raises(ValueError, match="equal division"):
            fnp.split(x, sections, axis)
    points = sorted(data.draw(st.lists(st.integers(0, n), max_size=4)))
    check_list(fnp.split(x, points, axis), np.split(x, points, axis))
    check_list(fnp.array_split(x, np.array(points, np.int32), axis),
               np.array_split(x, points, axis))
    check_list(fnp.vsplit(x, [min(1, x.shape[0])]), np.split(x, [1], 0))
    h_axis = 1 if x.ndim > 1 else 0
    check_list(fnp.hsplit(x, [min(1, x.shape[h_axis])]), np.hsplit(x, [1]))
    if x.ndim == 3:
        check_list(fnp.dsplit(x, [min(1, x.shape[2])]), np.dsplit(x, [1]))
    check_list(fnp.unstack(x, axis=axis), [np.take(x, i, axis) for i in range(n)])


def test_split_errors() -> None:
    with pytest.raises(ValueError, match="equal division"):
        fnp.split(fnp.ones(5), 2)
    with pytest.raises(ValueError, match="non-decreasing"):
        fnp.split(fnp.arange(5), [3, 1])
    with pytest.raises(ValueError, match="non-decreasing"):
        fnp.split(fnp.arange(5), [1, 10])
    with pytest.raises(ValueError, match="> 0"):
        fnp.array_split(fnp.arange(5), 0)
    with pytest.raises(FbornShapeError):
        fnp.split(fnp.ones(()), 1)
    with pytest.raises(ValueError, match="rank >= 3"):
        fnp.dsplit(fnp.ones((2, 2)), 2)
    with pytest.raises(TypeError, match="integer"):
        fnp.split(fnp.ones(4), 2.0)


# --------------------------------------------------------------------------------------------
# Tiling and repeating
# --------------------------------------------------------------------------------------------


@given(arrays(max_dims=3, max_side=3),
       st.one_of(st.integers(0, 3), st.lists(st.integers(0, 3), max_size=4).map(tuple)))
def test_tile(x: np.ndarray, reps: Any) -> None:
    check(fnp.tile(x, reps), np.tile(x, reps))


def test_tile_details() -> None:
    # jax 0.10.2: tile of a weak scalar stays weak
    check(fnp.tile(2.0, 2), np.array([2, 2], np.float32), weak=True)
    with pytest.raises(ValueError, match="non-negative"):
        fnp.tile(fnp.arange(3), -1)


def repeat_reference(x: np.ndarray, repeats: Any, axis: int | None, total: int | None
                     ) -> np.ndarray:
    """numpy's repeat, cut or extended (repeating the last element) to ``total`` as in JAX."""
    out = np.repeat(x, repeats, axis)
    if total is None:
        return out
    ax = 0 if axis is None else axis
    n = out.shape[ax]
    if total <= n:
        return np.take(out, np.arange(total), ax)
    src = x.ravel() if axis is None else x
    last = np.take(src, [src.shape[ax] - 1], ax)
    return np.concatenate([out] + [last] * (total - n), axis=ax)


@given(arrays(max_dims=3, max_side=4), st.data())
def test_repeat(x: np.ndarray, data: Any) -> None:
    axis = data.draw(st.none() | st.integers(-x.ndim, x.ndim - 1)) if x.ndim else None
    n = x.size if axis is None else x.shape[axis]
    repeats = data.draw(st.integers(0, 3) | st.lists(st.integers(0, 3), min_size=n,
                                                      max_size=n))
    check(fnp.repeat(x, repeats, axis), np.repeat(x, repeats, axis))
    if n:
        total = data.draw(st.integers(0, 12))
        check(fnp.repeat(x, repeats, axis, total_repeat_length=total),
              repeat_reference(x, repeats, axis, total))


# jax 0.10.2 outputs of jnp.repeat(jnp.arange(3), repeats, total_repeat_length=...)
REPEAT_TOTAL = [
    (2, 5, [0, 0, 1, 1, 2]),
    (2, 8, [0, 0, 1, 1, 2, 2, 2, 2]),
    (np.array([1, 2, 0]), 5, [0, 1, 1, 2, 2]),
    (np.array([1, 2, 3]), 2, [0, 1]),
    (np.array([1, 2, 3]), 0, []),
]


@pytest.mark.parametrize(("repeats", "total", "expected"), REPEAT_TOTAL)
def test_repeat_total_constants(repeats: Any, total: int, expected: list[int]) -> None:
    out = fnp.repeat(fnp.arange(3), repeats, total_repeat_length=total)
    check(out, np.array(expected, np.int32))


def test_repeat_errors_and_tracing() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        fnp.repeat(fnp.arange(3), -1)
    with pytest.raises(ValueError, match="do not match"):
        fnp.repeat(fnp.arange(3), [1, 2])
    with pytest.raises(TypeError, match="integers"):
        fnp.repeat(fnp.arange(3), 1.5)
    with pytest.raises(ConcretizationError, match="repeats"):
        fborn.make_jaxpr(lambda r: fnp.repeat(fnp.arange(3), r))(np.ones(3, np.int32))
    check(fnp.repeat(3.0, 2), np.array([3, 3], np.float32), weak=True)  # jax 0.10.2: weak
    traced_equal(lambda x: fnp.repeat(x, [1, 0, 2, 2], axis=1), make((2, 4), np.dtype("f4"), 3))


# --------------------------------------------------------------------------------------------
# Flipping and rolling
# --------------------------------------------------------------------------------------------


@given(arrays(), st.data())
def test_flip_rot90(x: np.ndarray, data: Any) -> None:
    check(fnp.flip(x), np.flip(x))
    if x.ndim:
        axes = data.draw(st.lists(st.integers(0, x.ndim - 1), unique=True, max_size=x.ndim))
        check(fnp.flip(x, tuple(axes)), np.flip(x, tuple(axes)))
        check(fnp.flip(x, -1), np.flip(x, -1))
        check(fnp.flipud(x), np.flipud(x))
    if x.ndim >= 2:
        check(fnp.fliplr(x), np.fliplr(x))
        a0, a1 = data.draw(st.permutations(range(x.ndim)))[:2]
        k = data.draw(st.integers(-5, 5))
        check(fnp.rot90(x, k, (a0, a1)), np.rot90(x, k, (a0, a1)))


def test_flip_errors() -> None:
    with pytest.raises(FbornShapeError):
        fnp.flip(fnp.ones((2, 3)), 2)
    with pytest.raises(FbornShapeError):
        fnp.fliplr(fnp.ones(3))
    with pytest.raises(FbornShapeError):
        fnp.flipud(fnp.ones(()))
    with pytest.raises(ValueError, match="rank >= 2"):
        fnp.rot90(fnp.ones(3))
    with pytest.raises(ValueError, match="different"):
        fnp.rot90(fnp.ones((2, 3)), axes=(0, 0))
    assert fnp.flip(weak_float()).weak_type  # jax 0.10.2: weak_type=True


@given(arrays(), st.data())
def test_roll(x: np.ndarray, data: Any) -> None:
    shift = data.draw(st.integers(-7, 7))
    check(fnp.roll(x, shift), np.roll(x, shift))
    if x.ndim:
        count = data.draw(st.integers(1, 3))
        axes = tuple(data.draw(st.lists(st.integers(-x.ndim, x.ndim - 1), min_size=count,
                                        max_size=count)))
        shifts = tuple(data.draw(st.lists(st.integers(-7, 7), min_size=count, max_size=count)))
        check(fnp.roll(x, shifts, axes), np.roll(x, shifts, axes))
        check(fnp.roll(x, shift, axes), np.roll(x, shift, axes))


def test_roll_errors() -> None:
    with pytest.raises(ValueError, match="broadcast"):
        fnp.roll(fnp.ones((2, 3)), (1, 2, 3), (0, 1))
    with pytest.raises(ConcretizationError, match="shift"):
        fborn.make_jaxpr(lambda s: fnp.roll(fnp.arange(6), s))(np.int32(1))


# --------------------------------------------------------------------------------------------
# Padding
# --------------------------------------------------------------------------------------------


@st.composite
def pad_widths(draw: Any, ndim: int) -> Any:
    small = st.integers(0, 6)
    pair = st.tuples(small, small)
    forms = ["int", "single", "pair", "pairs", "ones"] if ndim else ["int", "single", "pair"]
    form = draw(st.sampled_from(forms))
    if form == "int":
        return draw(small)
    if form == "single":
        return (draw(small),)
    if form == "pair":
        return draw(pair)
    if form == "ones":
        return tuple((draw(small),) for _ in range(ndim))
    return tuple(draw(pair) for _ in range(ndim))


@given(arrays(max_dims=3, max_side=4), st.data())
def test_pad_modes(x: np.ndarray, data: Any) -> None:
    widths = data.draw(pad_widths(x.ndim))
    check(fnp.pad(x, widths), np.pad(x, widths))
    if x.size:  # numpy and fborn refuse to extend empty axes in the other modes
        for mode in ["edge", "reflect", "symmetric", "wrap"]:
            check(fnp.pad(x, widths, mode=mode), np.pad(x, widths, mode=mode))


@given(arrays(max_dims=3, max_side=3, dtype=np.int32), st.data())
def test_pad_constant_values(x: np.ndarray, data: Any) -> None:
    widths = data.draw(pad_widths(x.ndim))
    value = st.integers(-9, 9)
    per_axis = st.tuples(*[st.tuples(value, value)] * x.ndim) if x.ndim else value
    values = data.draw(st.one_of(value, st.tuples(value, value), per_axis))
    expected = np.pad(x, widths, constant_values=values)
    check(fnp.pad(x, widths, constant_values=values), expected)
    check(fnp.pad(x, widths, constant_values=fnp.asarray(values)), expected)


def test_pad_details() -> None:
    # jax 0.10.2 results
    check(fnp.pad(fnp.arange(3), 1, constant_values=1.7), np.array([1, 0, 1, 2, 1], np.int32))
    check(fnp.pad(weak_float(), 1), np.array([0, 1, 1, 0], np.float32), weak=True)
    check(fnp.pad(fnp.arange(3), 5, mode="reflect"),
          np.array([1, 0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1], np.int32))
    check(fnp.pad(fnp.ones(3), 1, mode="empty"), np.array([0, 1, 1, 1, 0], np.float32))
    check(fnp.pad(fnp.ones((0, 2)), ((0, 0), (1, 1)), mode="edge"), np.ones((0, 4), np.float32))
    check(fnp.pad(fnp.arange(1), (2, 1), mode="reflect"), np.zeros(4, np.int32))


def test_pad_errors() -> None:
    x = fnp.ones(3)
    with pytest.raises(ValueError, match="non-negative"):
        fnp.pad(x, -1)
    with pytest.raises(TypeError, match="integers"):
        fnp.pad(x, 1.5)
    with pytest.raises(ValueError, match="rank 2"):
        fnp.pad(fnp.ones((3, 3)), ((1, 2), (1, 2), (1, 2)))
    with pytest.raises(ValueError, match="constant_values"):
        fnp.pad(x, 1, mode="edge", constant_values=2)
    with pytest.raises(NotImplementedError, match="foo"):
        fnp.pad(x, 1, mode="foo")
    with pytest.raises(NotImplementedError, match="odd"):
        fnp.pad(x, 1, mode="reflect", reflect_type="odd")
    for mode in ["edge", "reflect", "wrap", "symmetric"]:
        with pytest.raises(ValueError, match="empty axis"):
            fnp.pad(fnp.ones(0), 1, mode=mode)
    with pytest.raises(ValueError, match="constant_values"):
        fnp.pad(x, 1, constant_values=(1, 2, 3))


# --------------------------------------------------------------------------------------------
# Small functions: astype, shape/ndim/size, copy, resize
# --------------------------------------------------------------------------------------------


@given(arrays(), st.sampled_from(DTYPES))
def test_astype(x: np.ndarray, dtype: np.dtype) -> None:
    if dtype.kind == "u" and x.dtype.kind == "f":
        x = np.abs(x)  # negative float -> unsigned saturates in fborn (and JAX), wraps in numpy
    check(fnp.astype(x, dtype), x.astype(dtype), weak=False)


def test_astype_strips_weak_type() -> None:
    # jax 0.10.2: astype(weak float32, float32) -> weak_type=False; astype(..., int8) -> int8
    check(fnp.astype(fnp.asarray(1.0), fnp.float32), np.array(1, np.float32), weak=False)
    check(fnp.astype(fnp.asarray(1.0), fnp.int8), np.array(1, np.int8), weak=False)


@given(arrays())
def test_shape_ndim_size_copy(x: np.ndarray) -> None:
    a = fnp.asarray(x)
    assert fnp.shape(a) == fnp.shape(x) == x.shape
    assert fnp.ndim(a) == x.ndim
    assert fnp.size(a) == x.size
    for axis in range(x.ndim):
        assert fnp.size(a, axis) == x.shape[axis]
    check(fnp.copy(a), x)
    assert fnp.shape([1, 2]) == (2,) and fnp.ndim(3.0) == 0 and fnp.size(3.0) == 1


@given(arrays(max_dims=2, max_side=4), shapes(max_dims=3, max_side=5))
def test_resize(x: np.ndarray, new_shape: tuple[int, ...]) -> None:
    expected = np.resize(x, new_shape) if x.size else np.zeros(new_shape, x.dtype)
    check(fnp.resize(x, new_shape), expected)


def test_resize_errors() -> None:
    with pytest.raises(ValueError, match="negative"):
        fnp.resize(fnp.ones(3), (-1,))
    check(fnp.resize(fnp.ones(3), 5), np.ones(5, np.float32))


# --------------------------------------------------------------------------------------------
# Tracing
# --------------------------------------------------------------------------------------------


def composite(x: fborn.Array, y: fborn.Array) -> list[fborn.Array]:
    z = fnp.concatenate([fnp.reshape(x, (-1, 2)), fnp.transpose(y)], axis=0)
    z = fnp.pad(fnp.roll(z, (1, -1), (0, 1)), ((1, 0), (2, 1)), mode="reflect")
    parts = fnp.split(fnp.tile(z, (2, 1)), 2, axis=0)
    return [fnp.flip(parts[0], 0), fnp.stack([parts[1], parts[0]], axis=-1),
            fnp.repeat(fnp.squeeze(fnp.expand_dims(z, 0)), 2, axis=1),
            fnp.moveaxis(fnp.broadcast_to(z, (2, *z.shape)), 0, -1)]


def test_functions_trace_and_evaluate_back() -> None:
    x = make((3, 4), np.dtype(np.float32), 1)
    y = make((2, 3), np.dtype(np.float32), 2)
    traced_equal(composite, x, y)
    traced_equal(lambda a: fnp.pad(a, 2, mode="symmetric"), x)
    traced_equal(lambda a: fnp.array_split(a, 3, axis=1), x)
    traced_equal(lambda a: fnp.resize(a, (5, 5)), x)


def test_traced_constant_values() -> None:
    x = make((2, 3), np.dtype(np.float32), 4)
    closed = fborn.make_jaxpr(lambda a, c: fnp.pad(a, 1, constant_values=c))(x, np.float32(7))
    (out,) = fborn.eval_jaxpr(closed.jaxpr, closed.consts, fnp.asarray(x), fnp.asarray(7.0))
    check(out, np.pad(x, 1, constant_values=7))


def test_bfloat16_arrays() -> None:
    x = make((2, 3), np.dtype(np.float32), 5)
    b = fnp.astype(x, ml_dtypes.bfloat16)
    xb = x.astype(ml_dtypes.bfloat16)
    check(fnp.reshape(b, (3, 2)), xb.reshape(3, 2))
    check(fnp.pad(b, 1, mode="reflect"), np.pad(xb, 1, mode="reflect"))
    check(fnp.concatenate([b, fnp.astype(x, np.float16)]), np.concatenate([x, x]), np.float32)
    check(fnp.tile(fnp.flip(b), (2, 1)), np.tile(np.flip(xb), (2, 1)))
    check(fnp.repeat(b, [1, 0, 2], axis=1), np.repeat(xb, [1, 0, 2], axis=1))
