"""Tests of fborn.numpy's array creation against numpy (values, shapes) with JAX's dtypes and
weak types (recorded from jax 0.10.2 where they differ from numpy), error cases, and tracing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fborn
import fborn.numpy as fnp
from fborn.errors import ConcretizationError, FbornDtypeError, FbornShapeError

# fnp.asarray is currently bound to fborn.numpy._util.asarray (no order/copy arguments).
from fborn.numpy._creation import asarray as creation_asarray

DTYPES = [np.dtype(d) for d in (np.bool_, np.int8, np.uint8, np.int16, np.int32, np.uint32,
                                np.float16, np.float32)]
NUMERIC = [d for d in DTYPES if d != np.bool_]

# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def shapes(min_dims: int = 0, max_dims: int = 3, max_side: int = 4):
    return st.lists(st.integers(0, max_side), min_size=min_dims, max_size=max_dims).map(tuple)


def make(shape: tuple[int, ...], dtype: np.dtype, seed: int) -> np.ndarray:
    values = np.asarray(np.random.default_rng(seed).integers(-100, 100, size=shape))
    if dtype == np.bool_:
        return (values % 2).astype(np.bool_)
    return (np.abs(values) if dtype.kind == "u" else values).astype(dtype)


@st.composite
def arrays(draw: Any, min_dims: int = 0, max_dims: int = 3, dtypes: list = DTYPES) -> np.ndarray:
    shape = draw(shapes(min_dims, max_dims))
    return make(shape, draw(st.sampled_from(dtypes)), draw(st.integers(0, 2**32 - 1)))


def check(actual: Any, expected: np.ndarray, dtype: Any = None, weak: bool | None = None) -> None:
    """``actual`` is an fborn Array equal to ``expected`` in values, shape and dtype."""
    assert isinstance(actual, fborn.Array), type(actual)
    got = np.asarray(actual)
    want_dtype = expected.dtype if dtype is None else np.dtype(dtype)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    assert got.dtype == want_dtype, (got.dtype, want_dtype)
    np.testing.assert_array_equal(got, expected.astype(want_dtype))
    if weak is not None:
        assert actual.weak_type == weak, actual.weak_type


def check_close(actual: Any, expected: np.ndarray, dtype: Any, rtol: float = 2e-6,
                atol: float = 1e-5) -> None:
    assert isinstance(actual, fborn.Array), type(actual)
    got = np.asarray(actual)
    assert got.dtype == np.dtype(dtype) and got.shape == expected.shape, (got, expected)
    np.testing.assert_allclose(got.astype(np.float64), expected.astype(np.float64),
                               rtol=rtol, atol=atol)


def traced_equal(fun: Callable[..., Any], *args: Any) -> fborn.ClosedJaxpr:
    """``fun`` traces under make_jaxpr and the jaxpr evaluates back to ``fun``'s eager result."""
    closed = fborn.make_jaxpr(fun)(*args)
    fborn.typecheck_jaxpr(closed.jaxpr)
    arrays_in = [fnp.asarray(a) for a in args]
    outs = fborn.eval_jaxpr(closed.jaxpr, closed.consts, *arrays_in)
    eager = fun(*arrays_in)
    eager = list(eager) if isinstance(eager, (list, tuple)) else [eager]
    assert len(outs) == len(eager)
    for o, e in zip(outs, eager, strict=True):
        check(o, np.asarray(e), weak=e.weak_type)
    return closed


# --------------------------------------------------------------------------------------------
# Default dtypes and weak types, recorded from jax 0.10.2: (call, dtype, weak_type, shape)
# --------------------------------------------------------------------------------------------

JAX_TYPES: list[tuple[str, Callable[[], Any], Any, bool, tuple[int, ...]]] = [
    ("zeros(3)", lambda: fnp.zeros(3), np.float32, False, (3,)),
    ("zeros(3, int)", lambda: fnp.zeros(3, int), np.int32, False, (3,)),
    ("ones((2,))", lambda: fnp.ones((2,)), np.float32, False, (2,)),
    ("empty(2)", lambda: fnp.empty(2), np.float32, False, (2,)),
    ("full((2,), 1.0)", lambda: fnp.full((2,), 1.0), np.float32, True, (2,)),
    ("full((2,), 1)", lambda: fnp.full((2,), 1), np.int32, True, (2,)),
    ("full((2,), True)", lambda: fnp.full((2,), True), np.bool_, False, (2,)),
    ("full((2,), 1.0, f32)", lambda: fnp.full((2,), 1.0, fnp.float32), np.float32, False, (2,)),
    ("full((2,), np.float16(1))", lambda: fnp.full((2,), np.float16(1)), np.float16, False,
     (2,)),
    ("full((2, 3), array)", lambda: fnp.full((2, 3), fnp.array([1., 2, 3])), np.float32, False,
     (2, 3)),
    ("zeros_like(1.0)", lambda: fnp.zeros_like(1.0), np.float32, True, ()),
    ("full_like(weak, 2)", lambda: fnp.full_like(fnp.array(1.0), 2), np.float32, True, ()),
    ("full_like(i32, 2.7)", lambda: fnp.full_like(fnp.array([1, 2]), 2.7), np.int32, False,
     (2,)),
    ("ones_like(shape, dtype)", lambda: fnp.ones_like(fnp.zeros((2, 3)), shape=(4,),
                                                      dtype=fnp.int8), np.int8, False, (4,)),
    ("array(3)", lambda: fnp.array(3), np.int32, True, ()),
    ("array(3.0)", lambda: fnp.array(3.0), np.float32, True, ()),
    ("array([1.0, 2])", lambda: fnp.array([1.0, 2]), np.float32, False, (2,)),
    ("array([1, 2], ndmin=3)", lambda: fnp.array([1, 2], ndmin=3), np.int32, False, (1, 1, 2)),
    ("array(weak array)", lambda: fnp.array(fnp.array(1.0)), np.float32, True, ()),
    ("array(1.0, dtype=f32)", lambda: fnp.array(1.0, dtype=fnp.float32), np.float32, False, ()),
    ("array([f16, 2.0])", lambda: fnp.array([fnp.float16(1), 2.0]), np.float16, False, (2,)),
    ("asarray(3)", lambda: fnp.asarray(3), np.int32, True, ()),
    ("asarray(True)", lambda: fnp.asarray(True), np.bool_, False, ()),
    ("arange(3)", lambda: fnp.arange(3), np.int32, False, (3,)),
    ("arange(3.0)", lambda: fnp.arange(3.0), np.float32, False, (3,)),
    ("arange(0, 1, 0.1)", lambda: fnp.arange(0, 1, 0.1), np.float32, False, (10,)),
    ("arange(f16(3))", lambda: fnp.arange(np.float16(3)), np.float16, False, (3,)),
    ("arange(u8(3))", lambda: fnp.arange(np.uint8(3)), np.uint8, False, (3,)),
    ("arange(i8(1), 5)", lambda: fnp.arange(np.int8(1), 5), np.int8, False, (4,)),
    ("arange(f32(1), 4.5)", lambda: fnp.arange(np.float32(1), 4.5), np.float32, False, (4,)),
    ("linspace(0, 1, 5)", lambda: fnp.linspace(0, 1, 5), np.float32, False, (5,)),
    ("linspace(i8(0), 10, 3)", lambda: fnp.linspace(np.int8(0), 10, 3), np.float32, False,
     (3,)),
    ("linspace(f16(0), 1, 5)", lambda: fnp.linspace(np.float16(0), 1, 5), np.float16, False,
     (5,)),
    ("logspace(0, 2, 3)", lambda: fnp.logspace(0, 2, 3), np.float32, False, (3,)),
    ("geomspace(1, 100, 3)", lambda: fnp.geomspace(1, 100, 3), np.float32, False, (3,)),
    ("eye(3, 4, 1)", lambda: fnp.eye(3, 4, 1), np.float32, False, (3, 4)),
    ("identity(3)", lambda: fnp.identity(3), np.float32, False, (3, 3)),
    ("tri(3)", lambda: fnp.tri(3), np.float32, False, (3, 3)),
    ("tril(weak)", lambda: fnp.tril(fnp.full((2, 2), 1.0)), np.float32, True, (2, 2)),
    ("diag(weak)", lambda: fnp.diag(fnp.full((2,), 1.0)), np.float32, True, (2, 2)),
    ("indices((2, 3))", lambda: fnp.indices((2, 3)), np.int32, False, (2, 2, 3)),
    ("trace(i8)", lambda: fnp.trace(fnp.ones((3, 3), fnp.int8)), np.int32, False, ()),
    ("trace(u8)", lambda: fnp.trace(fnp.ones((3, 3), fnp.uint8)), np.uint32, False, ()),
    ("trace(bool)", lambda: fnp.trace(fnp.ones((3, 3), bool)), np.int32, False, ()),
    ("trace(f16)", lambda: fnp.trace(fnp.ones((3, 3), fnp.float16)), np.float16, False, ()),
    ("trace(bf16)", lambda: fnp.trace(fnp.ones((3, 3), fnp.bfloat16)), ml_dtypes.bfloat16,
     False, ()),
    ("trace(weak)", lambda: fnp.trace(fnp.full((3, 3), 1.0)), np.float32, False, ()),
    ("trace(dtype=i8)", lambda: fnp.trace(fnp.ones((3, 3)), dtype=fnp.int8), np.int8, False, ()),
]


@pytest.mark.parametrize(("call", "dtype", "weak", "shape"),
                         [(c, d, w, s) for _, c, d, w, s in JAX_TYPES],
                         ids=[name for name, *_ in JAX_TYPES])
def test_jax_dtypes(call: Callable[[], Any], dtype: Any, weak: bool,
                    shape: tuple[int, ...]) -> None:
    out = call()
    assert isinstance(out, fborn.Array)
    assert (out.dtype, out.weak_type, out.shape) == (np.dtype(dtype), weak, shape)


def test_x64_defaults(x64: None) -> None:
    assert fnp.zeros(2).dtype == np.float64
    assert fnp.arange(3).dtype == np.int64
    assert fnp.arange(3.0).dtype == np.float64
    assert fnp.eye(2).dtype == np.float64
    assert fnp.trace(fnp.ones((2, 2), fnp.int8)).dtype == np.int64


# --------------------------------------------------------------------------------------------
# array / asarray
# --------------------------------------------------------------------------------------------


@given(arrays(), st.sampled_from(DTYPES), st.integers(0, 5))
def test_array_conversion(x: np.ndarray, dtype: np.dtype, ndmin: int) -> None:
    if dtype.kind == "u" and x.dtype.kind == "f":
        x = np.abs(x)  # negative float -> unsigned saturates in fborn (and JAX), wraps in numpy
    check(fnp.array(x), x)
    check(fnp.asarray(x, dtype), x.astype(dtype))
    check(fnp.array(x, dtype=dtype, ndmin=ndmin), np.array(x, dtype=dtype, ndmin=ndmin))
    from_lists = np.array(x.tolist())  # bool, int64 or float64: fborn keeps 32 bits
    canonical = {"i": np.int32, "f": np.float32}.get(from_lists.dtype.kind, from_lists.dtype)
    scalar = x.tolist()  # a Python scalar for 0-d x: weakly typed unless bool
    weak = x.ndim == 0 and not isinstance(scalar, bool)
    check(fnp.array(x.tolist()), from_lists.astype(canonical), weak=weak)


def test_array_from_nested_arrays() -> None:
    t = fnp.asarray(np.array([1.5, 2.5], np.float32))
    check(fnp.array([t, [3, 4]]), np.array([[1.5, 2.5], [3, 4]], np.float32), weak=False)
    check(fnp.array([fnp.array(1.0), 2.0]), np.array([1, 2], np.float32), weak=False)
    traced_equal(lambda a: fnp.array([a, a, [1.0, 2.0]]), np.array([3.0, 4.0], np.float32))


def test_array_errors() -> None:
    for order in ["C", "F"]:  # jax 0.10.2: NotImplementedError (only order='K')
        with pytest.raises(NotImplementedError, match="order"):
            fnp.array([1.0], order=order)
        with pytest.raises(NotImplementedError, match="order"):
            creation_asarray([1.0], order=order)
    with pytest.raises(FbornDtypeError):
        fnp.array(["a", "b"])
    with pytest.raises(FbornShapeError, match="unequal"):
        fnp.array([fnp.ones(2), fnp.ones(3)])


# --------------------------------------------------------------------------------------------
# Filled arrays
# --------------------------------------------------------------------------------------------


@given(shapes(), st.sampled_from(DTYPES), st.integers(-9, 9))
def test_filled(shape: tuple[int, ...], dtype: np.dtype, value: int) -> None:
    check(fnp.zeros(shape, dtype), np.zeros(shape, dtype), weak=False)
    check(fnp.ones(shape, dtype), np.ones(shape, dtype), weak=False)
    check(fnp.empty(shape, dtype), np.zeros(shape, dtype))
    check(fnp.full(shape, value, dtype), np.full(shape, np.int64(value)).astype(dtype))
    check(fnp.full(shape, value), np.full(shape, value, np.int32), weak=True)
    check(fnp.full(shape, float(value)), np.full(shape, value, np.float32), weak=True)
    like = make(shape, dtype, value & 0xFF)
    check(fnp.zeros_like(like), np.zeros_like(like))
    check(fnp.ones_like(like), np.ones_like(like))
    check(fnp.empty_like(like), np.zeros_like(like))
    check(fnp.full_like(like, value), np.full(shape, np.int64(value)).astype(dtype))
    check(fnp.full_like(like, 1, dtype=np.float16, shape=(2, 1)), np.ones((2, 1), np.float16))


@given(shapes(min_dims=1), st.data())
def test_full_broadcasts_array_fill(shape: tuple[int, ...], data: Any) -> None:
    k = data.draw(st.integers(0, len(shape)))
    fill = make(shape[len(shape) - k:], np.dtype(np.int16), 3)
    check(fnp.full(shape, fill), np.broadcast_to(fill, shape))
    check(fnp.full(shape, fill, np.float32), np.broadcast_to(fill, shape).astype(np.float32))
    like = np.zeros(shape, np.uint8)
    check(fnp.full_like(like, fill), np.broadcast_to(fill, shape).astype(np.uint8))


def test_filled_errors() -> None:
    with pytest.raises(ValueError, match="negative"):
        fnp.zeros(-1)
    with pytest.raises(TypeError, match="integer"):
        fnp.zeros(2.5)
    with pytest.raises(FbornShapeError):
        fnp.full((2,), fnp.ones(3))
    with pytest.raises(ConcretizationError, match="shape"):
        fborn.make_jaxpr(lambda n: fnp.zeros(n))(np.int32(3))


# --------------------------------------------------------------------------------------------
# arange, linspace, logspace, geomspace
# --------------------------------------------------------------------------------------------


@given(st.integers(-30, 30), st.integers(-30, 30) | st.none(),
       st.integers(-7, 7).filter(bool) | st.none())
def test_arange_ints(a: int, b: int | None, step: int | None) -> None:
    if b is None:
        check(fnp.arange(a), np.arange(a, dtype=np.int32))
        return
    check(fnp.arange(a, b, step), np.arange(a, b, step, dtype=np.int32))
    for dtype in [np.int8, np.float16, np.float32]:
        check(fnp.arange(a, b, step, dtype=dtype), np.arange(a, b, step, dtype=dtype))
    if a >= 0 and a + (step or 1) >= 0:  # numpy refuses negative Python ints as uint8
        check(fnp.arange(a, b, step, dtype=np.uint8), np.arange(a, b, step, dtype=np.uint8))


finite = st.floats(-100, 100, allow_nan=False, width=32)


@given(finite, finite, st.floats(0.05, 10) | st.floats(-10, -0.05))
def test_arange_floats(a: float, b: float, step: float) -> None:
    expected = np.arange(a, b, step, dtype=np.float32)
    out = fnp.arange(a, b, step)
    assert out.shape == np.arange(a, b, step).shape
    check_close(out, expected, np.float32)


def test_arange_values_recorded() -> None:
    # jax 0.10.2 (equal to numpy's float32 arange)
    check(fnp.arange(0.1, 1.0, 0.1), np.array(
        [0.10000000149011612, 0.20000000298023224, 0.30000001192092896, 0.4000000059604645, 0.5,
         0.6000000238418579, 0.7000000476837158, 0.800000011920929, 0.9000000357627869],
        np.float32))
    check(fnp.arange(0, 5, 0.5, dtype=int), np.zeros(10, np.int32))
    check(fnp.arange(5, 0, -2), np.array([5, 3, 1], np.int32))
    check(fnp.arange(0, 10, 3, dtype=fnp.uint8), np.array([0, 3, 6, 9], np.uint8))
    check(fnp.arange(10, 0, -3, dtype=fnp.uint8), np.array([10, 7, 4, 1], np.uint8))
    check(fnp.arange(fnp.asarray(3)), np.arange(3, dtype=np.int32))
    check(fnp.arange(-3), np.zeros(0, np.int32))


def test_arange_errors() -> None:
    with pytest.raises(ConcretizationError, match="arange's argument 'stop'"):
        fborn.make_jaxpr(lambda n: fnp.arange(0, n))(np.int32(3))
    with pytest.raises(ZeroDivisionError, match="step"):
        fnp.arange(0, 3, 0)
    with pytest.raises(FbornDtypeError, match="bool"):
        fnp.arange(3, dtype=bool)
    with pytest.raises(TypeError, match="real scalar"):
        fnp.arange(np.ones(2))


@given(finite, finite, st.integers(0, 20), st.booleans(), st.booleans())
def test_linspace(a: float, b: float, num: int, endpoint: bool, retstep: bool) -> None:
    out = fnp.linspace(a, b, num, endpoint=endpoint, retstep=retstep)
    expected = np.linspace(a, b, num, endpoint=endpoint, retstep=retstep)
    if retstep:
        out, step = out
        expected, expected_step = expected
        assert step.dtype == np.float32 and step.shape == ()
        np.testing.assert_allclose(float(step), expected_step, rtol=1e-5, atol=1e-5)
    check_close(out, expected, np.float32, rtol=1e-5, atol=1e-4)
    if endpoint and num > 1:
        assert np.asarray(out)[-1] == np.float32(b)


@given(shapes(max_dims=2), st.integers(0, 6), st.data())
def test_linspace_array_bounds(shape: tuple[int, ...], num: int, data: Any) -> None:
    lo = make(shape, np.dtype(np.float32), 1)
    hi = make(shape[-1:], np.dtype(np.float32), 2)
    axis = data.draw(st.integers(-len(np.broadcast_shapes(shape, hi.shape)) - 1,
                                 len(np.broadcast_shapes(shape, hi.shape))))
    check_close(fnp.linspace(lo, hi, num, axis=axis), np.linspace(lo, hi, num, axis=axis),
                np.float32, rtol=1e-5, atol=1e-4)


def test_linspace_recorded() -> None:
    # jax 0.10.2 results
    check(fnp.linspace(0, 10, 4, dtype=int), np.array([0, 3, 6, 10], np.int32))
    check(fnp.linspace(-10, 0, 4, dtype=int), np.array([-10, -7, -4, 0], np.int32))
    out, step = fnp.linspace(0, 1, 1, retstep=True)
    check(out, np.zeros(1, np.float32))
    assert np.isnan(np.asarray(step)) and step.dtype == np.float32
    out, step = fnp.linspace(0, 1, 1, endpoint=False, retstep=True)
    check(step, np.array(1, np.float32))
    out, step = fnp.linspace(0, 1, 0, retstep=True)
    check(out, np.zeros(0, np.float32))
    assert np.isnan(np.asarray(step))
    _, step = fnp.linspace(0, 10, 4, dtype=int, retstep=True)
    check(step, np.array(10 / 3, np.float32))
    with pytest.raises(ValueError, match="non-negative"):
        fnp.linspace(0, 1, -1)


@given(st.floats(-3, 3, width=32), st.floats(-3, 3, width=32), st.integers(0, 10),
       st.booleans(), st.sampled_from([2.0, 10.0, 0.5]))
def test_logspace(a: float, b: float, num: int, endpoint: bool, base: float) -> None:
    check_close(fnp.logspace(a, b, num, endpoint, base),
                np.logspace(a, b, num, endpoint, base), np.float32, rtol=5e-5, atol=0)


@given(st.floats(0.125, 1000, width=32), st.floats(0.125, 1000, width=32), st.integers(0, 10),
       st.booleans(), st.sampled_from([1.0, -1.0]))
def test_geomspace(a: float, b: float, num: int, endpoint: bool, sign: float) -> None:
    expected = np.geomspace(sign * a, sign * b, num, endpoint)
    out = fnp.geomspace(sign * a, sign * b, num, endpoint)
    check_close(out, expected, np.float32, rtol=5e-5, atol=0)
    if num:
        assert np.asarray(out)[0] == np.float32(sign * a)


def test_log_spaces_recorded() -> None:
    # jax 0.10.2 results
    check(fnp.logspace(0, 3, 4, dtype=int), np.array([1, 10, 100, 1000], np.int32))
    check(fnp.logspace(0, 3, 4, base=2), np.array([1, 2, 4, 8], np.float32))
    check(fnp.geomspace(1, 1000, 4, dtype=int), np.array([1, 10, 100, 1000], np.int32))
    check(fnp.geomspace(-1, -100, 3), np.array([-1, -10, -100], np.float32))
    assert np.isnan(np.asarray(fnp.geomspace(0, 100, 3))[1])


# --------------------------------------------------------------------------------------------
# eye, tri, tril/triu, diagonals
# --------------------------------------------------------------------------------------------

sizes = st.integers(0, 5)
offsets = st.integers(-6, 6)


@given(sizes, sizes | st.none(), offsets, st.sampled_from(DTYPES))
def test_eye_tri(n: int, m: int | None, k: int, dtype: np.dtype) -> None:
    check(fnp.eye(n, m, k, dtype), np.eye(n, m, k, dtype))
    check(fnp.tri(n, m, k, dtype), np.tri(n, m, k, dtype))
    check(fnp.identity(n, dtype), np.identity(n, dtype))


@given(arrays(min_dims=2, max_dims=4), offsets)
def test_tril_triu(x: np.ndarray, k: int) -> None:
    check(fnp.tril(x, k), np.tril(x, k))
    check(fnp.triu(x, k), np.triu(x, k))


@given(arrays(min_dims=1, max_dims=2), offsets)
def test_diag(x: np.ndarray, k: int) -> None:
    check(fnp.diag(x, k), np.diag(x, k))
    check(fnp.diagflat(x, k), np.diagflat(x, k))


@given(arrays(min_dims=2, max_dims=4, dtypes=NUMERIC), offsets, st.data())
def test_diagonal_trace(x: np.ndarray, offset: int, data: Any) -> None:
    a1, a2 = data.draw(st.permutations(range(x.ndim)))[:2]
    a1 -= x.ndim * data.draw(st.integers(0, 1))
    check(fnp.diagonal(x, offset, a1, a2), np.diagonal(x, offset, a1, a2))
    expected_dtype = fnp.trace(x, offset, a1, a2).dtype
    check(fnp.trace(x, offset, a1, a2),
          np.trace(x, offset, a1, a2, dtype=np.int64 if x.dtype.kind in "iu" else np.float64),
          expected_dtype)


def test_diagonal_errors() -> None:
    with pytest.raises(ValueError, match="1-D or 2-D"):
        fnp.diag(fnp.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="1-D or 2-D"):
        fnp.diag(fnp.ones(()))
    with pytest.raises(ValueError, match="rank >= 2"):
        fnp.diagonal(fnp.ones(3))
    with pytest.raises(ValueError, match="differ"):
        fnp.diagonal(fnp.ones((3, 3)), 0, 1, 1)
    with pytest.raises(FbornShapeError):
        fnp.diagonal(fnp.ones((3, 3)), 0, 0, 2)
    with pytest.raises(ValueError, match="rank >= 2"):
        fnp.tril(fnp.ones(3))
    with pytest.raises(ValueError, match="rank >= 2"):
        fnp.triu(fnp.ones(3))
    with pytest.raises(ValueError, match="negative"):
        fnp.eye(-1)
    with pytest.raises(TypeError, match="integer"):
        fnp.eye(2.0)
    with pytest.raises(NotImplementedError):
        fnp.trace(fnp.ones((2, 2)), out=fnp.ones(()))


# --------------------------------------------------------------------------------------------
# meshgrid, indices
# --------------------------------------------------------------------------------------------


@given(st.lists(st.tuples(sizes, st.sampled_from(DTYPES)), max_size=4),
       st.sampled_from(["xy", "ij"]), st.booleans())
def test_meshgrid(specs: list[tuple[int, np.dtype]], indexing: str, sparse: bool) -> None:
    xs = [make((n, ), dt, i) for i, (n, dt) in enumerate(specs)]
    out = fnp.meshgrid(*xs, indexing=indexing, sparse=sparse)
    expected = np.meshgrid(*xs, indexing=indexing, sparse=sparse)
    assert isinstance(out, list) and len(out) == len(expected)
    for o, e in zip(out, expected, strict=True):
        check(o, e)


def test_meshgrid_errors_and_weak_types() -> None:
    with pytest.raises(ValueError, match="1-D"):
        fnp.meshgrid(fnp.ones((2, 2)), fnp.arange(3.0))
    with pytest.raises(ValueError, match="1-D"):
        fnp.meshgrid(1.0, fnp.arange(2))
    with pytest.raises(ValueError, match="indexing"):
        fnp.meshgrid(fnp.arange(2), indexing="xx")
    out = fnp.meshgrid(fnp.full((2,), 1.0), fnp.arange(2))
    assert [o.weak_type for o in out] == [True, False]  # jax 0.10.2


@given(shapes(max_dims=3), st.booleans(), st.sampled_from([None, np.int8, np.float32]))
def test_indices(dims: tuple[int, ...], sparse: bool, dtype: Any) -> None:
    out = fnp.indices(dims, dtype, sparse)
    expected = np.indices(dims, dtype or np.int32, sparse)
    if sparse:
        assert isinstance(out, tuple) and len(out) == len(expected)
        for o, e in zip(out, expected, strict=True):
            check(o, e)
    else:
        check(out, expected)


# --------------------------------------------------------------------------------------------
# Tracing
# --------------------------------------------------------------------------------------------


def test_creation_traces_and_evaluates_back() -> None:
    x = make((3, 4), np.dtype(np.float32), 1)
    traced_equal(lambda a: [fnp.tril(a, 1), fnp.triu(a, -1), fnp.diagonal(a, 1),
                            fnp.trace(a), fnp.diag(fnp.diag(a))], x)
    traced_equal(lambda a: [fnp.zeros_like(a), fnp.full_like(a, 2), fnp.ones(a.shape),
                            fnp.full((2, 3), fnp.diagonal(a)), fnp.full_like(a, a)], x)
    traced_equal(lambda lo, hi: fnp.linspace(lo, hi, 5, axis=-1, retstep=True),
                 np.array([0.0, 1.0], np.float32), np.float32(2.0))
    traced_equal(lambda lo: [fnp.logspace(lo, 2.0, 4), fnp.geomspace(lo, 8.0, 4)],
                 np.array([0.5, 1.0], np.float32))
    traced_equal(lambda a: fnp.meshgrid(a, a, indexing="ij"), np.array([1, 2, 3], np.int32))


def test_constant_creation_has_no_captured_arrays() -> None:
    closed = fborn.make_jaxpr(lambda: [fnp.eye(3), fnp.arange(1, 9, 2), fnp.zeros((2, 2)),
                                       fnp.indices((2, 2))])()
    assert closed.consts == []
    names = {e.primitive.name for e in closed.eqns}
    assert names <= {"iota", "broadcast_in_dim", "eq", "add", "mul", "convert_element_type",
                     "reshape", "concatenate"}
    outs = fborn.eval_jaxpr(closed.jaxpr, closed.consts)
    check(outs[0], np.eye(3, dtype=np.float32))
    check(outs[1], np.arange(1, 9, 2, dtype=np.int32))
