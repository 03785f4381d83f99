"""fborn.Array: immutability, attributes, repr, host conversion, dlpack, devices, tracers as
Arrays, operators against numpy (weak Python scalars included), conversions, iteration and the
jax.Array-like methods."""

from __future__ import annotations

import copy
import operator
import pickle
from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fborn
import fborn.numpy as fnp
from fborn.core.array import ArrayImpl

BF16 = np.dtype(ml_dtypes.bfloat16)


def arr(value: Any, dtype: Any = None) -> fborn.Array:
    return fnp.asarray(np.asarray(value, dtype=dtype))


def f32(*shape: int) -> fborn.Array:
    return arr(np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape))


def check(actual: Any, expected: np.ndarray, dtype: Any = None, weak: bool = False) -> None:
    """``actual`` is an fborn Array equal to ``expected`` with dtype ``dtype`` (default:
    ``expected``'s) and weak flag ``weak``."""
    assert isinstance(actual, fborn.Array)
    expected = np.asarray(expected)
    want = np.dtype(dtype) if dtype is not None else expected.dtype
    assert (actual.shape, actual.dtype, actual.weak_type) == (expected.shape, want, weak)
    np.testing.assert_array_equal(np.asarray(actual).astype(np.float64),
                                  expected.astype(np.float64))


# --- immutability, attributes, repr ------------------------------------------------------------

def test_numpy_view_is_read_only() -> None:
    x = f32(3)
    view = np.asarray(x)
    assert view.flags.writeable is False
    with pytest.raises(ValueError, match="read-only"):
        view[0] = 5.0
    np.testing.assert_array_equal(np.asarray(x), [0.0, 1.0, 2.0])


def test_source_buffer_is_copied() -> None:
    source = np.zeros(3, np.float32)
    x = fnp.asarray(source)
    source[0] = 7.0
    assert np.asarray(x).tolist() == [0.0, 0.0, 0.0]


def test_setitem_raises_with_at_hint() -> None:
    x = f32(3)
    with pytest.raises(TypeError, match=r"does not support item assignment.*immutable.*"
                       r"x = x\.at\[idx\]\.set\(y\)"):
        x[0] = 1
    with pytest.raises(TypeError, match="immutable"):
        fborn.make_jaxpr(lambda t: t.__setitem__(0, 1.0))(np.ones(2, np.float32))


def test_unhashable() -> None:
    with pytest.raises(TypeError, match="unhashable"):
        hash(f32(2))
    with pytest.raises(TypeError, match="unhashable"):
        fborn.make_jaxpr(lambda t: hash(t))(np.ones(2, np.float32))
    assert fborn.Array.__hash__ is None


def test_attributes() -> None:
    x = f32(2, 3, 4)
    assert (x.shape, x.ndim, x.size, len(x)) == ((2, 3, 4), 3, 24, 2)
    assert x.dtype == np.float32 and x.weak_type is False
    assert (x.itemsize, x.nbytes) == (4, 96)
    assert x.T.shape == (4, 3, 2)
    np.testing.assert_array_equal(np.asarray(x.T), np.asarray(x).T)
    np.testing.assert_array_equal(np.asarray(x.mT), np.swapaxes(np.asarray(x), -1, -2))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        _ = f32(3).mT
    scalar = fnp.asarray(2.0)
    assert (scalar.shape, scalar.ndim, scalar.size, scalar.weak_type) == ((), 0, 1, True)
    with pytest.raises(TypeError, match="len"):
        len(scalar)


def test_repr_like_jax() -> None:
    assert repr(arr([1.0, 2.0], np.float32)) == "Array([1., 2.], dtype=float32)"
    assert repr(fnp.asarray(1.0)) == "Array(1., dtype=float32, weak_type=True)"
    assert repr(fnp.asarray(3)) == "Array(3, dtype=int32, weak_type=True)"
    assert repr(arr([True, False])) == "Array([ True, False], dtype=bool)"
    assert repr(arr([1, 2], np.int8)) == "Array([1, 2], dtype=int8)"
    assert repr(fnp.bfloat16(2.5)) == "Array(2.5, dtype=bfloat16)"
    assert repr(arr([[1.0, 2.0], [3.0, 4.0]], np.float32)) == (
        "Array([[1., 2.],\n       [3., 4.]], dtype=float32)")
    assert str(arr([1.0, 2.0], np.float32)) == "[1. 2.]"
    assert f"{fnp.asarray(2.5):.2f}" == "2.50"


def test_repr_of_empty_array_names_shape() -> None:
    assert repr(arr(np.zeros((2, 0), np.float32))) == "Array([], shape=(2, 0), dtype=float32)"


def test_np_asarray_and_dtype_argument() -> None:
    x = arr([[1, 2], [3, 4]], np.int32)
    out = np.asarray(x)
    assert out.dtype == np.int32 and out.tolist() == [[1, 2], [3, 4]]
    assert np.asarray(x, dtype=np.float64).dtype == np.float64
    assert np.array(x, copy=True).flags.writeable
    assert np.asarray(fnp.bfloat16(1.5)).dtype == BF16


def test_dlpack_round_trip() -> None:
    x = arr(np.arange(12, dtype=np.float32).reshape(3, 4))
    y = np.from_dlpack(x)
    np.testing.assert_array_equal(y, np.asarray(x))
    assert y.dtype == np.float32 and y.shape == (3, 4)
    y[0, 0] = 100.0  # the exported buffer is a copy: the fborn array stays unchanged
    assert float(np.asarray(x)[0, 0]) == 0.0
    assert x.__dlpack_device__() == (1, 0)
    back = fnp.asarray(np.from_dlpack(arr([1, 2, 3], np.int32)))
    assert back.tolist() == [1, 2, 3] and back.dtype == np.int32


def test_devices_and_ready() -> None:
    x = f32(3)
    assert x.block_until_ready() is x
    assert repr(x.device) == "CpuDevice(id=0)"
    assert x.device.platform == "cpu"
    assert x.devices() == {x.device}


def test_pickle_and_copy() -> None:
    x = arr([1.5, -2.0], np.float16)
    for y in (pickle.loads(pickle.dumps(x)), copy.deepcopy(x), copy.copy(x)):
        check(y, np.asarray(x))
    weak = pickle.loads(pickle.dumps(fnp.asarray(2.0)))
    assert weak.weak_type is True


def test_tracers_are_arrays() -> None:
    seen = []

    def f(x: Any) -> Any:
        seen.append((isinstance(x, fborn.Array), type(x) is ArrayImpl, x.shape, x.dtype, x.ndim))
        return x * 2.0

    fborn.make_jaxpr(f)(np.ones((2, 3), np.float32))
    assert seen == [(True, False, (2, 3), np.dtype(np.float32), 2)]


# --- operators against numpy -------------------------------------------------------------------

ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul}
COMPARE = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
           "==": operator.eq, "!=": operator.ne}
BITWISE = {"&": operator.and_, "|": operator.or_, "^": operator.xor}
NUMERIC_DTYPES = [np.float32, np.float16, BF16, np.int32, np.int8, np.uint8, np.int16]
INT_DTYPES = [np.int32, np.int8, np.uint8, np.uint16]


def values(dtype: Any, shape: tuple[int, ...], low: int = -20, high: int = 20) -> Any:
    """Small exact values of ``dtype`` (integers, so every op is exact in every dtype)."""
    low = max(low, 0) if np.dtype(dtype).kind in "ub" else low
    if np.dtype(dtype) == np.bool_:
        return hnp.arrays(np.bool_, shape)
    return hnp.arrays(np.int64, shape, elements=st.integers(low, high)).map(
        lambda a: a.astype(dtype))


def to_fborn(x: np.ndarray) -> fborn.Array:
    """``fnp.asarray(x)``; bfloat16 data goes through float32 (exact for the small integers used
    here) because core's array_from_numpy refuses ml_dtypes' bfloat16 (see test_dtypes)."""
    if x.dtype == BF16:
        return fnp.asarray(x.astype(np.float32)).astype(BF16)
    return fnp.asarray(x)


def expected_dtype(x: Any, y: Any) -> np.dtype:
    return np.dtype(fnp.result_type(x, y))


def numpy_op(op: Callable, x: Any, y: Any, dtype: np.dtype) -> np.ndarray:
    """``op`` applied by numpy in ``dtype`` (bfloat16 computed in float32 and rounded)."""
    compute = np.float32 if dtype == BF16 else dtype
    out = op(np.asarray(x).astype(compute), np.asarray(y).astype(compute))
    return np.asarray(out).astype(dtype) if out.dtype != np.bool_ else out


@st.composite
def binary_case(draw: Any, ops: dict, dtypes: list) -> tuple:
    symbol = draw(st.sampled_from(sorted(ops)))
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4))
    dx, dy = draw(st.sampled_from(dtypes)), draw(st.sampled_from(dtypes))
    x = draw(values(dx, shapes.input_shapes[0]))
    y = draw(values(dy, shapes.input_shapes[1]))
    return symbol, x, y


@settings(max_examples=50, deadline=None)
@given(case=binary_case({**ARITH, **COMPARE}, NUMERIC_DTYPES))
def test_arithmetic_and_comparisons_match_numpy(case: tuple) -> None:
    symbol, x, y = case
    ops = {**ARITH, **COMPARE}
    dtype = expected_dtype(to_fborn(x), to_fborn(y))
    out = ops[symbol](to_fborn(x), to_fborn(y))
    expected = numpy_op(ops[symbol], x, y, dtype)
    check(out, expected, np.bool_ if symbol in COMPARE else dtype)
    if x.dtype != BF16:  # a numpy array on the left defers to fborn
        check(ops[symbol](x, to_fborn(y)), expected, np.bool_ if symbol in COMPARE else dtype)


@settings(max_examples=40, deadline=None)
@given(case=binary_case(BITWISE, INT_DTYPES + [np.bool_]))
def test_bitwise_match_numpy(case: tuple) -> None:
    symbol, x, y = case
    dtype = expected_dtype(fnp.asarray(x), fnp.asarray(y))
    check(BITWISE[symbol](fnp.asarray(x), fnp.asarray(y)),
          numpy_op(BITWISE[symbol], x, y, dtype), dtype)


@settings(max_examples=40, deadline=None)
@given(dtype=st.sampled_from(INT_DTYPES), data=st.data())
def test_shifts_match_numpy(dtype: Any, data: Any) -> None:
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3))
    x = data.draw(values(dtype, shape, 0, 100))
    bits = np.dtype(dtype).itemsize * 8
    s = data.draw(hnp.arrays(np.int64, shape, elements=st.integers(0, bits - 1))).astype(dtype)
    check(fnp.asarray(x) << fnp.asarray(s), np.left_shift(x, s))
    check(fnp.asarray(x) >> fnp.asarray(s), np.right_shift(x, s))
    check(x >> fnp.asarray(s), np.right_shift(x, s))
    check(1 << fnp.asarray(s), np.left_shift(np.ones_like(s), s))


@settings(max_examples=40, deadline=None)
@given(dtype=st.sampled_from([np.float32, np.float16, np.int32, np.int8]), data=st.data())
def test_division_and_modulo(dtype: Any, data: Any) -> None:
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=2, max_side=4))
    x = data.draw(values(dtype, shape))
    y = data.draw(values(dtype, shape, 1, 9)) * data.draw(st.sampled_from([1, -1]))
    y = y.astype(dtype)
    fx, fy = fnp.asarray(x), fnp.asarray(y)
    check(fx // fy, np.floor_divide(x, y))
    check(fx % fy, np.mod(x, y))
    q, r = divmod(fx, fy)
    check(q, np.floor_divide(x, y))
    check(r, np.mod(x, y))
    div = fx / fy
    inexact = np.float32 if np.dtype(dtype).kind == "i" else dtype
    assert div.dtype == np.dtype(inexact) and div.weak_type is False
    np.testing.assert_allclose(np.asarray(div).astype(np.float64),
                               x.astype(inexact) / y.astype(inexact), rtol=1e-3)


@settings(max_examples=30, deadline=None)
@given(dtype=st.sampled_from([np.float32, np.int32, np.int16]), data=st.data())
def test_power(dtype: Any, data: Any) -> None:
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=4))
    x = data.draw(values(dtype, shape, -5, 5))
    e = data.draw(values(dtype, shape, 0, 3))
    check(fnp.asarray(x) ** fnp.asarray(e), np.power(x, e))
    check(fnp.asarray(x) ** 2, np.power(x, 2))
    check(2 ** fnp.asarray(e), np.power(2, e).astype(dtype))


@settings(max_examples=30, deadline=None)
@given(data=st.data(), dtype=st.sampled_from([np.float32, np.int32]))
def test_matmul(data: Any, dtype: Any) -> None:
    n, k, m = (data.draw(st.integers(1, 4)) for _ in range(3))
    a = data.draw(values(dtype, (n, k), -4, 4))
    b = data.draw(values(dtype, (k, m), -4, 4))
    check(fnp.asarray(a) @ fnp.asarray(b), a @ b)
    check(a @ fnp.asarray(b), a @ b)
    check(fnp.asarray(a[0]) @ fnp.asarray(b), a[0] @ b)


@settings(max_examples=40, deadline=None)
@given(dtype=st.sampled_from(NUMERIC_DTYPES),
       scalar=st.one_of(st.integers(0, 5), st.sampled_from([0.5, 1.5, -2.25])),
       symbol=st.sampled_from(sorted(ARITH)), scalar_left=st.booleans(), data=st.data())
def test_python_scalars_are_weak(dtype: Any, scalar: Any, symbol: str, scalar_left: bool,
                                 data: Any) -> None:
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3))
    x = data.draw(values(dtype, shape, 0, 8))
    floating = np.dtype(dtype).kind == "f" or np.dtype(dtype) == BF16
    want = np.dtype(dtype) if floating or isinstance(scalar, int) else np.dtype(np.float32)
    op = ARITH[symbol]
    out = op(scalar, to_fborn(x)) if scalar_left else op(to_fborn(x), scalar)
    # a float scalar lifts an integer array to the *weak* default float, as in JAX
    assert (out.dtype, out.weak_type) == (want, want != np.dtype(dtype))
    expected = op(np.asarray(scalar, want), x.astype(want)) if scalar_left else op(
        x.astype(want), np.asarray(scalar, want))
    np.testing.assert_array_equal(np.asarray(out).astype(np.float64),
                                  np.asarray(expected).astype(np.float64))


# Recorded with jax 0.10.2 (default x32 mode): expression -> (dtype, weak_type).
WEAK_CASES: list[tuple[str, Callable[[], Any], Any, bool]] = [
    ("f16 * 2.0", lambda: arr([1.0], np.float16) * 2.0, np.float16, False),
    ("2.0 * f16", lambda: 2.0 * arr([1.0], np.float16), np.float16, False),
    ("i32 + 1.5", lambda: arr([1], np.int32) + 1.5, np.float32, True),
    ("u8 + 1", lambda: arr([1], np.uint8) + 1, np.uint8, False),
    ("bf16 - 1", lambda: fnp.bfloat16([1.0]) - 1, BF16, False),
    ("bool + 1", lambda: arr([True]) + 1, np.int32, True),
    ("bool & True", lambda: arr([True]) & True, np.bool_, False),
    ("2 ** i32", lambda: 2 ** arr([1], np.int32), np.int32, False),
    ("i32 / 2", lambda: arr([1], np.int32) / 2, np.float32, False),
    ("weak 1 + 1.0", lambda: fnp.asarray(1) + 1.0, np.float32, True),
    ("weak 2.0 * f16", lambda: fnp.asarray(2.0) * arr([1.0], np.float16), np.float16, False),
    ("1.5 - i8", lambda: 1.5 - arr([1], np.int8), np.float32, True),
    ("-weak", lambda: -fnp.asarray(2.0), np.float32, True),
    ("abs(weak int)", lambda: abs(fnp.asarray(-2)), np.int32, True),
    ("1 << i8", lambda: 1 << arr([1], np.int8), np.int8, False),
    ("bool * bool", lambda: arr([True]) * arr([False]), np.bool_, False),
    ("round(f32)", lambda: round(fnp.float32(2.5)), np.int32, False),
    ("round(f32, 1)", lambda: round(fnp.float32(2.25), 1), np.float32, False),
]


@pytest.mark.parametrize(("name", "thunk", "dtype", "weak"), WEAK_CASES,
                         ids=[c[0] for c in WEAK_CASES])
def test_weak_type_results_match_jax(name: str, thunk: Callable, dtype: Any, weak: bool) -> None:
    out = thunk()
    assert (out.dtype, out.weak_type) == (np.dtype(dtype), weak)


def test_comparison_with_weak_scalar_is_bool() -> None:
    out = arr([1, 2], np.int32) < 1.5
    check(out, np.array([True, False]))  # JAX marks this bool weak; fborn has no weak bool


def test_unary_operators() -> None:
    x = arr([-2.5, 0.0, 3.0], np.float32)
    check(-x, np.array([2.5, -0.0, -3.0], np.float32))
    check(+x, np.asarray(x))
    check(abs(x), np.array([2.5, 0.0, 3.0], np.float32))
    check(~arr([0, 5], np.uint8), np.array([255, 250], np.uint8))
    check(~arr([True, False]), np.array([False, True]))
    check(-arr([1, -2], np.int8), np.array([-1, 2], np.int8))


def test_round_builtin() -> None:
    check(round(arr([0.5, 1.5, 2.5, -2.5], np.float32)), np.array([0, 2, 2, -2], np.int32))
    check(round(arr([1.25, 2.75], np.float32), 1), np.array([1.2, 2.8], np.float32))


def test_unsupported_operands_defer() -> None:
    x = f32(3)
    with pytest.raises(TypeError, match="unsupported operand"):
        x + [1.0, 2.0, 3.0]
    with pytest.raises(TypeError, match="unsupported operand"):
        x - "a"
    with pytest.raises(TypeError, match="unsupported operand"):
        None * x
    assert (x == None) is False  # noqa: E711 - the comparison itself is under test
    assert (x != "text") is True


def test_numpy_scalars_and_arrays_on_the_left() -> None:
    x = arr([1.0, 2.0], np.float32)
    out = np.float32(2) * x
    check(out, np.array([2.0, 4.0], np.float32))
    out = np.ones(2) + x  # float64 numpy data is canonicalized to float32 (x32)
    check(out, np.array([2.0, 3.0], np.float32))
    check(np.array([3, 1], np.int32) > x, np.array([True, False]))


def test_operators_under_make_jaxpr() -> None:
    def f(x: Any, w: Any) -> Any:
        h = (x @ w + 1.0) * 2 - x.sum() / 4
        return (h > 0) & (h < 100), -h ** 2, h.T

    xs, ws = np.ones((2, 3), np.float32), np.ones((3, 4), np.float32)
    closed = fborn.make_jaxpr(f)(xs, ws)
    fborn.typecheck_jaxpr(closed.jaxpr)
    assert [str(a) for a in closed.out_avals] == [
        "ShapedArray(bool[2,4])", "ShapedArray(f32[2,4])", "ShapedArray(f32[4,2])"]
    outs = fborn.eval_jaxpr(closed.jaxpr, closed.consts, xs, ws)
    direct = f(fnp.asarray(xs), fnp.asarray(ws))
    for a, b in zip(outs, direct, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# --- conversions and iteration -----------------------------------------------------------------

def test_python_conversions() -> None:
    x = arr(2.75, np.float32)
    assert float(x) == 2.75 and int(x) == 2 and bool(x) is True
    assert x.item() == 2.75 and isinstance(x.item(), float)
    assert arr([[1, 2], [3, 4]], np.int32).tolist() == [[1, 2], [3, 4]]
    assert arr([1, 2], np.int32).item(1) == 2
    assert not bool(arr(0, np.int32))
    assert [10, 20, 30][arr(1, np.int32)] == 20  # __index__
    with pytest.raises(TypeError, match="only integer arrays"):
        [1, 2][arr(1.0, np.float32)]
    with pytest.raises(ValueError):
        bool(arr([1, 2], np.int32))


def test_iteration() -> None:
    x = arr(np.arange(6, dtype=np.int32).reshape(3, 2))
    rows = list(x)
    assert len(rows) == 3
    for row, expected in zip(rows, np.arange(6).reshape(3, 2), strict=True):
        check(row, expected.astype(np.int32))
    a, b = arr([1.5, 2.5], np.float32)
    assert float(a) == 1.5 and float(b) == 2.5
    assert [float(v) for v in fnp.asarray(np.zeros(0, np.float32))] == []
    with pytest.raises(TypeError, match="iteration over a 0-d array"):
        iter(fnp.asarray(1.0))


def test_iteration_under_make_jaxpr() -> None:
    def f(x: Any) -> Any:
        first, second = x
        return first * second

    closed = fborn.make_jaxpr(f)(np.ones((2, 3), np.float32))
    assert closed.out_avals[0].shape == (3,)
    (out,) = fborn.eval_jaxpr(closed.jaxpr, closed.consts, np.array([[1, 2, 3], [4, 5, 6]],
                                                                     np.float32))
    check(out, np.array([4, 10, 18], np.float32))


# --- methods -----------------------------------------------------------------------------------

def test_reshape_forms() -> None:
    x = f32(2, 3)
    expected = np.arange(6, dtype=np.float32).reshape(3, 2)
    check(x.reshape(3, 2), expected)
    check(x.reshape((3, 2)), expected)
    check(x.reshape([3, -1]), expected)
    check(x.reshape(-1), np.arange(6, dtype=np.float32))
    check(x.reshape(6, order="C"), np.arange(6, dtype=np.float32))


def test_transpose_forms() -> None:
    x = f32(2, 3, 4)
    base = np.asarray(x)
    check(x.transpose(), base.transpose())
    check(x.transpose(1, 0, 2), base.transpose(1, 0, 2))
    check(x.transpose((2, 0, 1)), base.transpose((2, 0, 1)))
    check(x.swapaxes(0, 2), base.swapaxes(0, 2))


def test_astype() -> None:
    x = arr([1.7, -2.2, 0.0], np.float32)
    check(x.astype(np.int32), np.array([1, -2, 0], np.int32))
    check(x.astype(bool), np.array([True, True, False]))
    check(x.astype(fnp.bfloat16), np.asarray(x).astype(BF16))
    check(x.astype("float16"), np.asarray(x).astype(np.float16))
    assert x.astype(float).dtype == np.float32  # canonicalized
    assert x.astype(np.float64).dtype == np.float32
    weak = fnp.asarray(2.0).astype(np.float32)
    assert weak.weak_type is False


REDUCTIONS = ["sum", "prod", "mean", "var", "std", "max", "min", "argmax", "argmin", "all", "any"]


@pytest.mark.parametrize("name", REDUCTIONS)
def test_reduction_methods(name: str) -> None:
    base = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.0]], np.float32)
    x = fnp.asarray(base)
    for kwargs in ({}, {"axis": 0}, {"axis": 1}, {"axis": -1, "keepdims": True}):
        if name in ("argmax", "argmin") and kwargs.get("keepdims"):
            continue
        out = getattr(x, name)(**kwargs)
        expected = getattr(base, name)(**kwargs)
        assert out.shape == np.shape(expected), (name, kwargs)
        np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-6)
        assert fnp.asarray(out).dtype == getattr(fnp, name)(x, **kwargs).dtype


def test_cumulative_methods() -> None:
    base = np.array([[1, 2, 3], [4, 5, 6]], np.int32)
    x = fnp.asarray(base)
    check(x.cumsum(axis=1), base.cumsum(axis=1, dtype=np.int32))
    check(x.cumprod(axis=0), base.cumprod(axis=0, dtype=np.int32))
    check(x.cumsum(), base.cumsum(dtype=np.int32))


def test_shape_methods() -> None:
    base = np.arange(6, dtype=np.float32).reshape(1, 2, 3, 1)
    x = fnp.asarray(base)
    check(x.squeeze(), base.squeeze())
    check(x.squeeze(axis=0), base.squeeze(axis=0))
    check(x.ravel(), base.ravel())
    check(x.flatten(), base.flatten())
    check(x.repeat(2, axis=2), base.repeat(2, axis=2))
    check(x.copy(), base)


def test_elementwise_methods() -> None:
    base = np.array([-1.25, 0.5, 2.75, 10.0], np.float32)
    x = fnp.asarray(base)
    check(x.clip(0.0, 2.0), np.clip(base, 0.0, 2.0))
    check(x.clip(max=1.0), np.minimum(base, 1.0))
    check(x.round(), np.round(base))
    check(x.round(1), np.round(base, 1))
    check(x.conj(), base)
    check(x.conjugate(), base)
    check(x.real, base)
    check(x.imag, np.zeros(4, np.float32))


def test_linear_algebra_methods() -> None:
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    b = np.arange(8, dtype=np.float32).reshape(4, 2)
    x = fnp.asarray(a)
    check(x.dot(fnp.asarray(b)), a.dot(b))
    check(x.diagonal(), a.diagonal())
    check(x.diagonal(offset=1), a.diagonal(offset=1))
    check(x.trace(), np.asarray(a.trace(), np.float32))
    check(x.ptp(), np.asarray(np.ptp(a), np.float32))
    check(x.ptp(axis=1), np.ptp(a, axis=1))


def test_methods_under_make_jaxpr() -> None:
    def f(x: Any) -> Any:
        return x.reshape(3, 2).T.astype(np.int32).sum(axis=0), x.mean(), x.max(axis=1)

    closed, shapes = fborn.make_jaxpr(f, return_shape=True)(np.ones((2, 3), np.float32))
    assert shapes == (fborn.ShapeDtypeStruct((3,), np.int32),
                      fborn.ShapeDtypeStruct((), np.float32),
                      fborn.ShapeDtypeStruct((2,), np.float32))
    fborn.typecheck_jaxpr(closed.jaxpr)


def test_getitem() -> None:
    base = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    x = fnp.asarray(base)
    for index in [1, -1, (0, 2), (slice(None), 1), (Ellipsis, -1), (None, 0),
                  (slice(1, None), slice(None, None, 2)), (0, slice(None), np.array([3, 0]))]:
        check(x[index], base[index])
    check(x[fnp.asarray(np.array([1, 0], np.int32))], base[[1, 0]])
    check(x[x > 20.0], base[base > 20.0])


def test_getitem_under_make_jaxpr() -> None:
    closed = fborn.make_jaxpr(lambda t: t[1:, ::2])(np.ones((3, 4), np.float32))
    assert [e.primitive.name for e in closed.eqns] == ["slice"]
    assert closed.out_avals[0].shape == (2, 2)


def test_at_updates() -> None:
    base = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = fnp.asarray(base)
    expected = base.copy()
    expected[0, 1] = 100.0
    check(x.at[0, 1].set(100.0), expected)
    expected = base.copy()
    expected[:, 0] += 1.0
    check(x.at[:, 0].add(1.0), expected)
    check(x.at[1].get(), base[1])
    np.testing.assert_array_equal(np.asarray(x), base)  # the original is unchanged
    closed = fborn.make_jaxpr(lambda t: t.at[0].set(1.0))(base)
    assert closed.out_avals[0].shape == (2, 3)


def test_sorting_and_searching_methods() -> None:
    base = np.array([[3.0, 1.0, 2.0], [0.5, 4.0, -1.0]], np.float32)
    x = fnp.asarray(base)
    check(x.sort(), np.sort(base))
    check(x.sort(axis=0), np.sort(base, axis=0))
    check(x.argsort(), np.argsort(base).astype(np.int32))
    check(x.take(fnp.asarray(np.array([0, 5], np.int32))), base.take([0, 5]))
    check(x.take(np.array([2, 0]), axis=1), base.take([2, 0], axis=1))
    (nz,) = fnp.asarray(np.array([3, 0, 1], np.int32)).nonzero()
    check(nz, np.array([0, 2], np.int32))
    rows, cols = x.nonzero()
    check(rows, np.nonzero(base)[0].astype(np.int32))
    check(cols, np.nonzero(base)[1].astype(np.int32))
    sorted_ = fnp.asarray(np.array([1.0, 2.0, 3.0], np.float32))
    check(sorted_.searchsorted(2.5), np.asarray(2, np.int32))
    check(sorted_.searchsorted(np.array([0.0, 2.0], np.float32), side="right"),
          np.array([0, 2], np.int32))
