"""Tests of NumPy-style indexing (getitem, .at[]) and the index functions of fborn.numpy,
against numpy (and constants recorded from JAX where JAX deviates from numpy)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import fborn
import fborn.numpy as fnp
from fborn.core.errors import ConcretizationError, FbornShapeError
from fborn.numpy._indexing import IndexUpdateHelper, NonConcreteBooleanIndexError, getitem

SETTINGS = settings(max_examples=30, deadline=None)
DTYPES = [np.float32, np.int32, np.bool_]

# --------------------------------------------------------------------------------------------
# Strategies: shapes and index expressions mixing ints, slices (any step), None, Ellipsis,
# integer arrays (numpy, fborn, lists), boolean masks and 0-d booleans.
# --------------------------------------------------------------------------------------------


def _int_array(rng, size, shape, form):
    values = rng.integers(-size, size, size=shape)
    if form == "fborn":
        return fnp.asarray(values.astype(np.int32))
    if form == "list" and values.ndim:
        return values.tolist()
    return values


@st.composite
def index_cases(draw, max_ndim: int = 3, arrays: bool = True, masks: bool = True):
    """``(shape, index)``: in-bounds index expressions numpy accepts."""
    shape = tuple(draw(st.lists(st.integers(0, 4), max_size=max_ndim)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    bshape = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    kinds = ["int", "slice", "full"] + (["array"] if arrays else []) + \
        (["mask", "bool"] if masks else [])
    units: list[list] = []  # the entries indexing one or two consecutive axes
    axis = 0
    while axis < len(shape):
        size = shape[axis]
        unit = [None] if draw(st.integers(0, 6)) == 0 else []
        kind = draw(st.sampled_from(kinds))
        if kind in ("int", "array") and size == 0:
            kind = "slice"
        if kind == "bool":
            unit.append(draw(st.booleans()))
            kind = "full"
        if kind == "int":
            unit.append(draw(st.integers(-size, size - 1)))
        elif kind == "slice":
            bound = st.none() | st.integers(-size - 2, size + 2)
            step = draw(st.none() | st.sampled_from([1, 2, 3, -1, -2, -3]))
            unit.append(slice(draw(bound), draw(bound), step))
        elif kind == "array":
            nd = draw(st.integers(0, len(bshape)))
            shp = [1 if draw(st.integers(0, 3)) == 0 else s for s in bshape[len(bshape) - nd:]]
            unit.append(_int_array(rng, size, tuple(shp),
                                   draw(st.sampled_from(["numpy", "fborn", "list"]))))
        elif kind == "mask":
            k = 2 if axis + 1 < len(shape) and draw(st.booleans()) else 1
            mask = rng.random(shape[axis:axis + k]) < 0.5
            unit.append(fnp.asarray(mask) if draw(st.booleans()) else mask)
            axis += k - 1
        else:
            unit.append(slice(None))
        units.append(unit)
        axis += 1
    lo = draw(st.integers(0, len(units)))
    hi = draw(st.integers(lo, len(units)))
    if draw(st.booleans()):  # an ellipsis standing for units[lo:hi]
        units = units[:lo] + [[Ellipsis]] + units[hi:]
    else:  # trailing axes left out
        units = units[:hi]
    return shape, tuple(entry for unit in units for entry in unit)


def to_numpy_index(idx):
    return tuple(np.asarray(p) if isinstance(p, fborn.Array) else p for p in idx)


def numpy_getitem(x, idx):
    """``x[idx]`` in numpy, or None where numpy rejects the index (arrays that do not
    broadcast together)."""
    try:
        return x[to_numpy_index(idx)]
    except IndexError:
        return None


def data_of(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    return rng.integers(-9, 10, size=shape).astype(dtype)


def assert_same(got, expected):
    got = np.asarray(got)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


def traced_eval(fn, *args):
    """``fn(*args)`` traced with make_jaxpr (typechecked) and evaluated."""
    jaxpr = fborn.make_jaxpr(fn)(*args)
    fborn.typecheck_jaxpr(jaxpr.jaxpr)
    (out,) = fborn.eval_jaxpr(jaxpr.jaxpr, jaxpr.consts, *args)
    return out


# --------------------------------------------------------------------------------------------
# getitem
# --------------------------------------------------------------------------------------------


@SETTINGS
@given(index_cases(), st.sampled_from(DTYPES))
def test_getitem_matches_numpy(case, dtype):
    shape, idx = case
    x = data_of(shape, dtype)
    expected = numpy_getitem(x, idx)
    if expected is None:
        with pytest.raises(IndexError, match="could not be broadcast"):
            getitem(fnp.asarray(x), idx)
    else:
        assert_same(getitem(fnp.asarray(x), idx), expected)


@SETTINGS
@given(index_cases())
def test_getitem_under_make_jaxpr_matches_numpy(case):
    shape, idx = case
    x = data_of(shape, np.float32)
    expected = numpy_getitem(x, idx)
    assume(expected is not None)
    assert_same(traced_eval(lambda a: getitem(a, idx), x), expected)


@SETTINGS
@given(index_cases(arrays=False, masks=False))
def test_basic_indexing_never_gathers(case):
    shape, idx = case
    text = str(fborn.make_jaxpr(lambda a: getitem(a, idx))(np.zeros(shape, np.float32)))
    assert "gather" not in text
    assert set(text.split()) & {"gather", "dynamic_slice", "scatter"} == set()


def test_static_slices_lower_to_slice_and_rev():
    x = np.arange(24, dtype=np.float32).reshape(4, 6)
    text = str(fborn.make_jaxpr(lambda a: getitem(a, (slice(1, 3), slice(None, None, -2))))(x))
    assert "slice[limit_indices=(3, 6) start_indices=(1, 1) strides=(1, 2)]" in text
    assert "rev[dimensions=(1,)]" in text and "gather" not in text
    assert str(fborn.make_jaxpr(lambda a: getitem(a, ...))(x)).count("=") == 0
    assert "gather" in str(fborn.make_jaxpr(lambda a: getitem(a, (np.array([0, 2]),)))(x))


def test_traced_scalar_index_uses_dynamic_slice():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    fn = lambda a, i: getitem(a, (slice(None), i))  # noqa: E731
    jaxpr = fborn.make_jaxpr(fn)(x, np.int32(0))
    assert "dynamic_slice[slice_sizes=(3, 1)]" in str(jaxpr) and "gather" not in str(jaxpr)
    for i, expected in [(1, x[:, 1]), (-1, x[:, 3]), (7, x[:, 3]), (-9, x[:, 0])]:
        assert_same(fborn.eval_jaxpr(jaxpr.jaxpr, jaxpr.consts, x, np.int32(i))[0], expected)
    gathered = fborn.make_jaxpr(lambda a, i: getitem(a, (i, np.array([0, 3]))))(x, np.int32(0))
    assert "gather[" in str(gathered)
    out = fborn.eval_jaxpr(gathered.jaxpr, gathered.consts, x, np.int32(-1))[0]
    assert_same(out, x[-1, [0, 3]])


def test_out_of_bounds_array_indices_clamp_like_jax():
    x = np.arange(5, dtype=np.float32)
    assert_same(getitem(fnp.asarray(x), fnp.asarray(np.int32(10))), np.float32(4))
    assert_same(getitem(fnp.asarray(x), fnp.asarray(np.int32(-20))), np.float32(0))
    assert_same(getitem(fnp.asarray(x), (np.array([7, -7, -2]),)), x[[4, 0, 3]])


def test_getitem_weak_type_and_identity():
    x = fnp.asarray(2.5)
    assert getitem(x, ()).weak_type and getitem(x, None).shape == (1,)
    y = fnp.asarray(np.ones((2, 3), np.float32))
    assert getitem(y, ...) is y


def test_getitem_concrete_fborn_slice_bounds():
    x = np.arange(6, dtype=np.int32)
    assert_same(getitem(fnp.asarray(x), slice(fnp.asarray(np.int32(1)), None, 2)), x[1::2])


@pytest.mark.parametrize("idx, error, match", [
    ((0, 0, 0), IndexError, "Too many indices: array is 2-dimensional, but 3"),
    ((..., ...), IndexError, "single ellipsis"),
    (1.0, TypeError, "integer or boolean type"),
    ((np.array([0.5]),), TypeError, "integer or boolean type, got indexer with type float"),
    ([0, 1], TypeError, "non-tuple sequence"),
    (5, IndexError, "index 5 is out of bounds for axis 0 with size 2"),
    ((0, -4), IndexError, "index -4 is out of bounds for axis 1 with size 3"),
    ((np.array([True, False, True]),), IndexError, "boolean index did not match"),
    ("a", IndexError, "valid indices"),
    ((slice(0, 2, 0),), ValueError, "step cannot be zero"),
])
def test_getitem_errors(idx, error, match):
    x = fnp.asarray(np.zeros((2, 3), np.float32))
    with pytest.raises(error, match=match):
        getitem(x, idx)


def test_getitem_empty_axis_errors():
    x = fnp.asarray(np.zeros((0, 3), np.float32))
    with pytest.raises(IndexError, match="size 0"):
        getitem(x, (np.array([0, 1]),))
    assert getitem(x, (np.array([], np.int32),)).shape == (0, 3)


def test_boolean_mask_under_tracing_raises():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    with pytest.raises(NonConcreteBooleanIndexError, match="fnp.where.*size=") as info:
        fborn.make_jaxpr(lambda a: getitem(a, a > 2))(x)
    assert isinstance(info.value, ConcretizationError) and isinstance(info.value, IndexError)
    with pytest.raises(IndexError, match="Slice entries must be static"):
        fborn.make_jaxpr(lambda a, i: getitem(a, slice(i, None)))(x, np.int32(1))
    mask = x > 2  # a concrete mask is fine under tracing
    assert_same(traced_eval(lambda a: getitem(a, mask), x), x[mask])


# --------------------------------------------------------------------------------------------
# .at[]
# --------------------------------------------------------------------------------------------

UFUNC_AT = {"add": np.add.at, "multiply": np.multiply.at, "min": np.minimum.at,
            "max": np.maximum.at, "subtract": np.subtract.at}


@SETTINGS
@given(index_cases(), st.sampled_from(sorted(UFUNC_AT)), st.integers(0, 2))
def test_at_updates_match_numpy_ufunc_at(case, op, drop_leading):
    shape, idx = case
    # numpy's ufunc.at mishandles Ellipsis next to integer arrays (np.add.at(np.zeros(1),
    # (..., [[0, 0]]), 1.0) adds the wrong amount), so it cannot be the reference there.
    assume(not (isinstance(idx, tuple) and any(i is Ellipsis for i in idx)))
    x = data_of(shape, np.float32)
    assume(numpy_getitem(x, idx) is not None)
    nidx = to_numpy_index(idx)
    values = data_of(x[nidx].shape, np.float32, seed=1)
    if values.size:
        values = values[(0,) * min(drop_leading, values.ndim)]
    expected = x.copy()
    UFUNC_AT[op](expected, nidx, values)
    assert_same(getattr(IndexUpdateHelper(fnp.asarray(x))[idx], op)(values), expected)


@SETTINGS
@given(index_cases())
def test_at_set_matches_numpy_assignment(case):
    shape, idx = case
    x = data_of(shape, np.int32)
    assume(numpy_getitem(x, idx) is not None)
    nidx = to_numpy_index(idx)
    values = data_of(x[nidx].shape, np.int32, seed=2)
    expected = x.copy()
    expected[nidx] = values
    assert_same(IndexUpdateHelper(fnp.asarray(x))[idx].set(values), expected)
    traced = traced_eval(lambda a, v: IndexUpdateHelper(a)[idx].set(v), x, values)
    assert_same(traced, expected)


def test_at_add_accumulates_repeated_indices():
    x = np.zeros((3, 2), np.float32)
    idx = np.array([0, 2, 0, 0])
    got = IndexUpdateHelper(fnp.asarray(x))[idx, 1].add(np.array([1, 2, 3, 4], np.float32))
    assert_same(got, np.array([[0, 8], [0, 0], [0, 2]], np.float32))
    assert "scatter_add" in str(fborn.make_jaxpr(
        lambda a: IndexUpdateHelper(a)[idx, 1].add(1.0))(x))


def test_at_out_of_bounds_modes():
    x = fnp.asarray(np.arange(5, dtype=np.float32))
    at = IndexUpdateHelper(x)
    assert_same(at[10].set(9.0), np.arange(5, dtype=np.float32))  # dropped
    assert_same(at[-10].add(9.0), np.arange(5, dtype=np.float32))
    assert_same(at[10].set(9.0, mode="clip"), np.array([0, 1, 2, 3, 9], np.float32))
    assert_same(at[-1].set(9.0), np.array([0, 1, 2, 3, 9], np.float32))
    assert_same(at[np.array([1, 7])].add(1.0, mode="drop"), np.array([0, 2, 2, 3, 4],
                                                                     np.float32))
    assert_same(at[10].get(), np.float32(4))  # clamps, as in JAX
    assert_same(at[10].get(mode="clip"), np.float32(4))
    assert np.isnan(np.asarray(at[10].get(mode="fill")))
    assert_same(at[np.array([1, 9])].get(mode="fill", fill_value=-1), np.array([1, -1],
                                                                               np.float32))
    ints = IndexUpdateHelper(fnp.asarray(np.arange(5, dtype=np.int32)))
    assert_same(ints[10].get(mode="fill"), np.int32(np.iinfo(np.int32).min))
    assert_same(ints[1:3].get(mode="fill"), np.array([1, 2], np.int32))
    with pytest.raises(ValueError, match="must be a scalar"):
        ints[0].get(mode="fill", fill_value=np.zeros(2))


def test_at_dtypes_follow_jax():
    # constants recorded from JAX 0.10.2
    ints = fnp.asarray(np.array([1, 2], np.int32))
    assert_same(IndexUpdateHelper(ints)[np.array([0, 0])].add(1.5), np.array([4, 2], np.int32))
    assert_same(IndexUpdateHelper(ints)[0].set(1.7), np.array([1, 2], np.int32))
    u8 = fnp.asarray(np.zeros(3, np.uint8))
    assert_same(IndexUpdateHelper(u8)[0].set(300), np.array([44, 0, 0], np.uint8))
    weak = IndexUpdateHelper(fnp.asarray(2.0))[()].set(3)
    assert weak.weak_type and weak.dtype == np.float32 and float(weak) == 3.0
    half = IndexUpdateHelper(fnp.asarray(np.zeros(2, np.float16)))[1].add(2.5)
    assert_same(half, np.array([0, 2.5], np.float16))
    four = fnp.asarray(np.array([4, 2], np.int32))
    assert_same(IndexUpdateHelper(four)[0].divide(2), np.array([2, 2], np.float32))
    assert_same(IndexUpdateHelper(four)[0].power(2), np.array([16, 2], np.int32))
    floats = fnp.asarray(np.array([4, 2], np.float32))
    assert_same(IndexUpdateHelper(floats)[np.array([1, 1])].divide(2.0),
                np.array([4, 0.5], np.float32))


def test_at_value_shape_errors():
    x = fnp.asarray(np.zeros((2, 3), np.float32))
    with pytest.raises(FbornShapeError, match=r"\(1, 3\) to \(3,\)"):
        IndexUpdateHelper(x)[0].set(np.ones((1, 3), np.float32))
    with pytest.raises(NonConcreteBooleanIndexError):
        fborn.make_jaxpr(lambda a: IndexUpdateHelper(a)[a > 0].set(1.0))(np.zeros(3))


# --------------------------------------------------------------------------------------------
# take / take_along_axis
# --------------------------------------------------------------------------------------------


@st.composite
def take_cases(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    axis = draw(st.none() | st.integers(-len(shape), len(shape) - 1))
    size = int(np.prod(shape)) if axis is None else shape[axis]
    ishape = tuple(draw(st.lists(st.integers(0, 3), max_size=2)))
    seed = draw(st.integers(0, 2**32 - 1))
    return shape, axis, np.random.default_rng(seed).integers(-size, size, size=ishape)


@SETTINGS
@given(take_cases(), st.sampled_from([None, "fill", "clip", "wrap"]))
def test_take_in_bounds_matches_numpy(case, mode):
    shape, axis, idx = case
    x = data_of(shape, np.float32)
    if mode == "clip":  # JAX's clip mode does not wrap negative indices
        idx = idx % (int(np.prod(shape)) if axis is None else shape[axis])
    assert_same(fnp.take(fnp.asarray(x), idx, axis=axis, mode=mode), np.take(x, idx, axis=axis))
    traced = traced_eval(lambda a: fnp.take(a, idx, axis=axis, mode=mode), x)
    assert_same(traced, np.take(x, idx, axis=axis))


def test_take_out_of_bounds_modes():
    x = np.arange(5, dtype=np.float32)
    idx = np.array([7, -1, -7])
    got = np.asarray(fnp.take(x, idx))
    assert np.isnan(got[0]) and got[1] == 4 and np.isnan(got[2])
    assert_same(fnp.take(x, idx, mode="clip"), np.array([4, 0, 0], np.float32))
    assert_same(fnp.take(x, idx, mode="wrap"), np.take(x, idx, mode="wrap"))
    assert_same(fnp.take(x, idx, fill_value=-1.0), np.array([-1, 4, -1], np.float32))
    ints = np.arange(5, dtype=np.int32)
    assert_same(fnp.take(ints, np.array([9])), np.array([np.iinfo(np.int32).min], np.int32))
    with pytest.raises(NotImplementedError):
        fnp.take(x, idx, mode="raise")
    with pytest.raises(ValueError, match="Invalid mode"):
        fnp.take(x, idx, mode="nope")
    with pytest.raises(IndexError, match="empty axis"):
        fnp.take(np.zeros((0, 2)), np.array([0]), axis=0)
    with pytest.raises(TypeError, match="integer dtype"):
        fnp.take(x, np.array([0.5]))
    assert fnp.take(np.zeros((2, 0)), np.array([[1]]), axis=0).shape == (1, 1, 0)


@st.composite
def along_axis_cases(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    ax = axis % len(shape)
    ishape = tuple(draw(st.integers(0, 4)) if i == ax else draw(st.sampled_from([1, n]))
                   for i, n in enumerate(shape))
    xshape = tuple(draw(st.sampled_from([1, n])) if i != ax else n
                   for i, n in enumerate(shape))
    seed = draw(st.integers(0, 2**32 - 1))
    idx = np.random.default_rng(seed).integers(-shape[ax], shape[ax], size=ishape)
    return xshape, axis, idx


@SETTINGS
@given(along_axis_cases())
def test_take_along_axis_matches_numpy(case):
    shape, axis, idx = case
    x = data_of(shape, np.float32)
    expected = np.take_along_axis(x, idx, axis=axis)
    assert_same(fnp.take_along_axis(fnp.asarray(x), idx, axis=axis), expected)
    assert_same(traced_eval(lambda a: fnp.take_along_axis(a, idx, axis=axis), x), expected)


def test_take_along_axis_modes_and_errors():
    x = np.array([[3, 1, 2], [5, 4, 6]], np.float32)
    idx = np.array([[2, -1, 5], [0, 0, 1]])
    got = np.asarray(fnp.take_along_axis(x, idx, axis=1))  # recorded from JAX
    np.testing.assert_array_equal(got, [[2, 2, np.nan], [5, 5, 4]])
    assert_same(fnp.take_along_axis(x, idx, axis=1, mode="clip"),
                np.array([[2, 2, 2], [5, 5, 4]], np.float32))
    assert_same(fnp.take_along_axis(x, np.array([5, 0]), axis=None),
                np.array([6, 3], np.float32))
    text = str(fborn.make_jaxpr(lambda a: fnp.take_along_axis(a, idx, axis=1))(x))
    assert "operand_batching_dims=(0,)" in text
    with pytest.raises(ValueError, match="same number of dimensions"):
        fnp.take_along_axis(x, np.array([0]), axis=1)
    with pytest.raises(ValueError, match="1-D if axis=None"):
        fnp.take_along_axis(x, idx, axis=None)


# --------------------------------------------------------------------------------------------
# nonzero and friends
# --------------------------------------------------------------------------------------------

arrays_1_to_3d = st.lists(st.integers(0, 4), min_size=1, max_size=3).flatmap(
    lambda shape: st.integers(0, 2**32 - 1).map(
        lambda seed: np.random.default_rng(seed).integers(0, 3, size=shape) * (seed % 3 != 0)))


@SETTINGS
@given(arrays_1_to_3d)
def test_nonzero_argwhere_flatnonzero_match_numpy(a):
    x = a.astype(np.int32)
    for got, expected in zip(fnp.nonzero(x), np.nonzero(x), strict=True):
        assert_same(got, expected.astype(np.int32))
    assert_same(fnp.argwhere(x), np.argwhere(x).astype(np.int32))
    assert_same(fnp.flatnonzero(x), np.flatnonzero(x).astype(np.int32))
    count = int(np.count_nonzero(x))
    for size in (0, count, count + 2):
        padded = fnp.nonzero(x, size=size, fill_value=-1)
        for got, exact in zip(padded, np.nonzero(x), strict=True):
            want = np.full(size, -1, np.int32)
            want[:min(size, count)] = exact[:size]
            assert_same(got, want)


def test_nonzero_sizes_and_tracing():
    x = np.array([[0, 1], [2, 0]], np.int32)
    rows, cols = fnp.nonzero(x, size=3)  # recorded from JAX: padding is 0
    assert_same(rows, np.array([0, 1, 0], np.int32))
    assert_same(cols, np.array([1, 0, 0], np.int32))
    assert_same(fnp.argwhere(x, size=1), np.array([[0, 1]], np.int32))
    assert_same(fnp.nonzero(x, size=1, fill_value=(7, 8))[1], np.array([1], np.int32))
    traced = traced_eval(lambda a: fnp.argwhere(a, size=3, fill_value=9), x)
    assert_same(traced, np.array([[0, 1], [1, 0], [9, 9]], np.int32))
    with pytest.raises(ConcretizationError, match="size="):
        fborn.make_jaxpr(lambda a: fnp.nonzero(a))(x)
    with pytest.raises(ValueError, match="0d arrays"):
        fnp.nonzero(np.int32(1))
    assert fnp.argwhere(np.int32(3)).shape == (1, 0)
    assert fnp.argwhere(np.int32(0)).shape == (0, 0)
    with pytest.raises(ValueError, match="fill_value must be a scalar or a tuple of length 2"):
        fnp.nonzero(x, size=2, fill_value=(1, 2, 3))


def test_compress_and_extract_match_numpy():
    a = np.arange(12, dtype=np.int32).reshape(3, 4)
    for cond, axis in [([True, False, True], 0), ([False, True], 1), ([1, 0, 1, 1, 0], None),
                       ([True, True, False, True], 1)]:
        assert_same(fnp.compress(np.array(cond), a, axis=axis),
                    np.compress(cond, a, axis=axis))
    assert_same(fnp.extract(a % 3 == 0, a), np.extract(a % 3 == 0, a))
    padded = fnp.compress(np.array([False, True, True]), a.T, axis=0, size=3, fill_value=-1)
    assert_same(padded, np.array([[1, 5, 9], [2, 6, 10], [-1, -1, -1]], np.int32))
    traced = traced_eval(lambda x: fnp.extract(x > 4, x, size=3), a)
    assert_same(traced, np.array([5, 6, 7], np.int32))
    with pytest.raises(ValueError, match="out of bounds"):
        fnp.compress(np.array([True, False, False, True]), a, axis=0)
    with pytest.raises(ValueError, match="1-D"):
        fnp.compress(np.ones((2, 2), bool), a)
    with pytest.raises(ValueError, match="size must be"):
        fnp.compress(np.array([True]), a, axis=0, size=4)


# --------------------------------------------------------------------------------------------
# index arithmetic
# --------------------------------------------------------------------------------------------


@SETTINGS
@given(st.lists(st.integers(1, 5), min_size=1, max_size=3), st.integers(0, 2**32 - 1))
def test_unravel_and_ravel_multi_index_match_numpy(dims, seed):
    dims = tuple(dims)
    flat = np.random.default_rng(seed).integers(0, int(np.prod(dims)), size=(2, 3))
    coords = np.unravel_index(flat, dims)
    for got, expected in zip(fnp.unravel_index(flat.astype(np.int32), dims), coords,
                             strict=True):
        assert_same(got, expected.astype(np.int32))
    multi = tuple(c.astype(np.int32) for c in coords)
    for order in ("C", "F"):
        expected = np.ravel_multi_index(coords, dims, order=order).astype(np.int32)
        assert_same(fnp.ravel_multi_index(multi, dims, order=order), expected)
    shifted = tuple(c + 2 * d for c, d in zip(multi, dims, strict=True))
    assert_same(fnp.ravel_multi_index(shifted, dims, mode="wrap"),
                np.ravel_multi_index(shifted, dims, mode="wrap").astype(np.int32))
    assert_same(fnp.ravel_multi_index(shifted, dims, mode="clip"),
                np.ravel_multi_index(shifted, dims, mode="clip").astype(np.int32))


def test_unravel_index_clips_like_jax_and_ravel_errors():
    rows, cols = fnp.unravel_index(np.array([-1, 7, 30, -30], np.int32), (2, 3))  # from JAX
    assert_same(rows, np.array([1, 1, 1, 0], np.int32))
    assert_same(cols, np.array([2, 2, 2, 0], np.int32))
    with pytest.raises(ValueError, match="invalid entry"):
        fnp.ravel_multi_index((np.array([0, 2]), np.array([2, 0])), (2, 3))
    with pytest.raises(ConcretizationError, match="mode='wrap'"):
        fborn.make_jaxpr(lambda i: fnp.ravel_multi_index((i, i), (2, 3)))(np.zeros(2, np.int32))
    with pytest.raises(ValueError, match="invalid mode"):
        fnp.ravel_multi_index((np.array([0]),), (2,), mode="nope")


def test_static_index_sets_match_numpy():
    for got, expected in zip(fnp.diag_indices(3, 3), np.diag_indices(3, 3), strict=True):
        assert_same(got, expected.astype(np.int32))
    assert len(fnp.diag_indices_from(np.zeros((2, 2)))) == 2
    with pytest.raises(ValueError):
        fnp.diag_indices_from(np.zeros((2, 3)))
    wide, square = np.zeros((2, 5)), np.zeros((3, 3))
    cases = [(fnp.tril_indices(3, 1, 4), np.tril_indices(3, 1, 4)),
             (fnp.triu_indices(4, -1), np.triu_indices(4, -1)),
             (fnp.tril_indices_from(wide, 2), np.tril_indices_from(wide, 2)),
             (fnp.triu_indices_from(square), np.triu_indices_from(square))]
    for got_pair, expected_pair in cases:
        for got, expected in zip(got_pair, expected_pair, strict=True):
            assert_same(got, expected.astype(np.int32))


# --------------------------------------------------------------------------------------------
# transforms through indexing
# --------------------------------------------------------------------------------------------


def test_grad_and_vmap_through_indexing():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    idx = np.array([2, 0, 2])
    grad = fborn.grad(lambda a: (getitem(a, (idx, slice(None, None, -1))) ** 2).sum())(x)
    expected = np.zeros_like(x)
    np.add.at(expected, idx, 2 * x[idx])
    np.testing.assert_allclose(np.asarray(grad), expected, rtol=1e-6)
    rows = fborn.vmap(lambda i: getitem(fnp.asarray(x), i))(np.array([3, -1, 0], np.int32))
    assert_same(rows, x[[3, 3, 0]])
    per_row = fborn.vmap(lambda r, i: fnp.take(r, i))(x, np.array([[0, 2], [1, 1], [2, 0],
                                                                   [0, 0]]))
    assert_same(per_row, np.take_along_axis(x, np.array([[0, 2], [1, 1], [2, 0], [0, 0]]), 1))
    set_grad = fborn.grad(lambda a, v: (IndexUpdateHelper(a)[1:3, 0].set(v) * x).sum(),
                          argnums=(0, 1))(x, np.ones(2, np.float32))
    mask = np.ones_like(x)
    mask[1:3, 0] = 0
    np.testing.assert_allclose(np.asarray(set_grad[0]), x * mask)
    np.testing.assert_allclose(np.asarray(set_grad[1]), x[1:3, 0])
