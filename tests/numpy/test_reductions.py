"""``fborn.numpy`` reductions: values against numpy over shapes (size 0 included), axes,
keepdims, dtypes and masks; result dtypes against tables recorded from JAX; errors; tracing."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fborn
import fborn.numpy as fnp
from fborn.core.errors import FbornDtypeError, FbornShapeError

DTYPES = ("bool", "int8", "int32", "uint8", "uint32", "float16", "bfloat16", "float32")
X64_DTYPES = ("bool", "int32", "int64", "uint32", "uint64", "float32", "float64")
SCALARS = (2, 2.5)
CODES = {
    "b": np.bool_, "i8": np.int8, "i32": np.int32, "i64": np.int64, "u8": np.uint8,
    "u32": np.uint32, "u64": np.uint64, "f16": np.float16, "bf16": ml_dtypes.bfloat16,
    "f32": np.float32, "f64": np.float64,
}
ERRORS = {"T": TypeError, "V": ValueError}

# Result dtypes of jax.numpy, recorded with jax 0.10.2 (jax.eval_shape of the function on a
# ShapeDtypeStruct of shape (2,), then on the Python scalars in SCALARS): "f32" is a strong
# float32, "!V" a ValueError ("!T" TypeError). Every reduction result is strongly typed.
REDUCTION_DTYPES = {
    "sum": "i32 i32 i32 u32 u32 f16 bf16 f32 i32 f32",
    "prod": "i32 i32 i32 u32 u32 f16 bf16 f32 i32 f32",
    "max": "b i8 i32 u8 u32 f16 bf16 f32 i32 f32",
    "min": "b i8 i32 u8 u32 f16 bf16 f32 i32 f32",
    "mean": "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32",
    "var": "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32",
    "std": "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32",
    "argmax": "i32 i32 i32 i32 i32 i32 i32 i32 i32 i32",
    "argmin": "i32 i32 i32 i32 i32 i32 i32 i32 i32 i32",
    "cumsum": "i32 i8 i32 u8 u32 f16 bf16 f32 i32 f32",
    "cumprod": "i32 i8 i32 u8 u32 f16 bf16 f32 i32 f32",
    "all": "b b b b b b b b b b",
    "any": "b b b b b b b b b b",
    "count_nonzero": "i32 i32 i32 i32 i32 i32 i32 i32 i32 i32",
    "ptp": "!T i8 i32 u8 u32 f16 bf16 f32 i32 f32",
    "nansum": "i32 i32 i32 u32 u32 f16 bf16 f32 i32 f32",
    "nanmean": "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32",
    "nanmax": "b i8 i32 u8 u32 f16 bf16 f32 i32 f32",
    "nanmin": "b i8 i32 u8 u32 f16 bf16 f32 i32 f32",
    "nanprod": "i32 i32 i32 u32 u32 f16 bf16 f32 i32 f32",
    "nanvar": "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32",
    "nanstd": "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32",
    "cumulative_sum": "i32 i32 i32 u32 u32 f16 bf16 f32 !V !V",
    "cumulative_prod": "i32 i8 i32 u8 u32 f16 bf16 f32 !V !V",
    "nancumsum": "i32 i8 i32 u8 u32 f16 bf16 f32 i32 f32",
    "nancumprod": "i32 i8 i32 u8 u32 f16 bf16 f32 i32 f32",
    "average": "f32 f32 f32 f32 f32 f16 bf16 f32 f32 f32",
}
# The same under enable_x64, over X64_DTYPES, for a subset of the functions.
X64_REDUCTION_DTYPES = {
    "sum": "i64 i64 i64 u64 u64 f32 f64 i64 f64",
    "prod": "i64 i64 i64 u64 u64 f32 f64 i64 f64",
    "max": "b i32 i64 u32 u64 f32 f64 i64 f64",
    "mean": "f32 f32 f64 f32 f64 f32 f64 f64 f64",
    "var": "f32 f32 f64 f32 f64 f32 f64 f64 f64",
    "argmax": "i64 i64 i64 i64 i64 i64 i64 i64 i64",
    "cumsum": "i64 i32 i64 u32 u64 f32 f64 i64 f64",
    "count_nonzero": "i64 i64 i64 i64 i64 i64 i64 i64 i64",
    "cumulative_sum": "i64 i64 i64 u64 u64 f32 f64 !V !V",
    "average": "f32 f32 f64 f32 f64 f32 f64 f64 f64",
}

TOLERANCES = {  # (rtol, atol) by result dtype; sums of up to 64 terms are compared
    np.dtype(np.float16): (5e-3, 2e-3),
    np.dtype(ml_dtypes.bfloat16): (3e-2, 2e-2),
    np.dtype(np.float32): (2e-5, 1e-4),
    np.dtype(np.float64): (1e-12, 1e-12),
}
SPECIALS = (np.nan, np.inf, -np.inf, 0.0)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence numpy's warnings (empty means, all-NaN slices, overflow) in references."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def decode(code: str) -> np.dtype | type[Exception]:
    return ERRORS[code[1]] if code.startswith("!") else np.dtype(CODES[code])


def values(rng: np.random.Generator, dtype: Any, shape: tuple[int, ...],
           specials: bool = True) -> np.ndarray:
    """Random data of ``dtype``: floats in [-2, 2] (NaN/inf/0 one time in ten if
    ``specials``), 8-bit integers over their range, wider ones in [-1000, 1000] (so float32
    sums of them are exact), bools."""
    dt = np.dtype(dtype)
    if dt == np.bool_:
        return rng.random(shape) < 0.5
    if dt.kind in "iu":
        info = np.iinfo(dt)
        lo, hi = (info.min, info.max) if dt.itemsize == 1 else (max(-1000, info.min), 1000)
        return rng.integers(lo, hi, size=shape, endpoint=True, dtype=dt)
    data = rng.uniform(-2, 2, size=shape)
    if specials:
        data = np.where(rng.random(shape) < 0.1, rng.choice(SPECIALS, size=shape), data)
    return np.asarray(data).astype(dt)


def as_input(x: np.ndarray) -> Any:
    """``x`` ready for fborn: bfloat16 numpy arrays go through float32, since
    ``array_from_numpy`` refuses numpy's kind-'V' bfloat16 dtype (a core limitation)."""
    if x.dtype == ml_dtypes.bfloat16:
        return fnp.asarray(x.astype(np.float32), dtype=fnp.bfloat16)
    return x


def assert_matches(out: Any, expected: Any, dtype: np.dtype) -> None:
    """``out`` has ``expected``'s values rounded to ``dtype`` and its shape (floats within the
    dtype's tolerance, NaN where expected)."""
    got = np.asarray(out)
    assert got.dtype == dtype
    want = np.asarray(expected).astype(dtype)
    assert got.shape == want.shape
    if dtype in TOLERANCES:
        rtol, atol = TOLERANCES[dtype]
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol,
                                   atol=atol)
    else:
        np.testing.assert_array_equal(got, want)


@st.composite
def shapes_and_axes(draw: st.DrawFn, tuples: bool = True) -> tuple[tuple[int, ...], Any]:
    """A shape (sides 0..4) and an axis for it: None, an int (maybe negative) or, with
    ``tuples``, a tuple of distinct axes (maybe empty, maybe negative, any order)."""
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    ndim = len(shape)
    choices = [st.none()]
    if ndim:
        choices.append(st.integers(-ndim, ndim - 1))
    if tuples:
        picked = st.lists(st.integers(0, max(ndim - 1, 0)), unique=True, max_size=ndim)
        choices.append(picked.map(lambda axes: tuple(a - ndim if a % 2 else a for a in axes)))
    return shape, draw(st.one_of(*choices))


def _axes(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    return tuple(a % ndim for a in ((axis,) if isinstance(axis, int) else axis))


def _ref_input(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``x`` converted to ``dtype`` (floats then held as float64, exactly)."""
    converted = x.astype(dtype)
    return converted.astype(np.float64) if dtype in TOLERANCES else converted


def _as_float64_if_float(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float64) if x.dtype in TOLERANCES else x


def check_table(table: dict[str, str], dtype_names: tuple[str, ...], name: str) -> None:
    fn = getattr(fnp, name)
    codes = table[name].split()
    cases = [(fn, (fborn.ShapeDtypeStruct((2,), d),)) for d in dtype_names]
    cases += [(lambda s=s: fn(s), ()) for s in SCALARS]
    assert len(codes) == len(cases)
    for (f, args), code in zip(cases, codes, strict=True):
        expected = decode(code)
        if isinstance(expected, type):
            with pytest.raises(expected):
                fborn.eval_shape(f, *args)
            continue
        out = fborn.eval_shape(f, *args)
        out = out[0] if isinstance(out, tuple) else out
        assert (out.dtype, out.weak_type) == (expected, False), (name, args, out.dtype)


@pytest.mark.parametrize("name", sorted(REDUCTION_DTYPES))
def test_result_types_match_jax(name: str) -> None:
    check_table(REDUCTION_DTYPES, DTYPES, name)


def test_result_types_match_jax_under_x64() -> None:
    with fborn.config.override(enable_x64=True):
        for name in X64_REDUCTION_DTYPES:
            check_table(X64_REDUCTION_DTYPES, X64_DTYPES, name)


# --- values against numpy ------------------------------------------------------------------------

# name -> numpy reference taking (x, axis, keepdims); x is already in the computation dtype
AXES_REFS: dict[str, Callable[..., np.ndarray]] = {
    "sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min, "amax": np.max,
    "amin": np.min, "mean": np.mean, "all": np.all, "any": np.any,
    "count_nonzero": np.count_nonzero, "ptp": np.ptp, "nansum": np.nansum,
    "nanprod": np.nanprod, "nanmax": np.nanmax, "nanmin": np.nanmin, "nanmean": np.nanmean,
}
EXTREMES = {"max", "min", "amax", "amin", "nanmax", "nanmin", "ptp"}
TABLE_NAME = {"amax": "max", "amin": "min"}


def _reduction_case(name: str, x: np.ndarray, axis: Any, keepdims: bool) -> None:
    fn = getattr(fnp, name)
    code = REDUCTION_DTYPES[TABLE_NAME.get(name, name)].split()[DTYPES.index(x.dtype.name)]
    expected = decode(code)
    if name in EXTREMES and any(x.shape[a] == 0 for a in _axes(axis, x.ndim)):
        with pytest.raises(ValueError, match="zero-size array"):
            fn(as_input(x), axis=axis, keepdims=keepdims)
        return
    if isinstance(expected, type):
        with pytest.raises(expected):
            fn(as_input(x), axis=axis, keepdims=keepdims)
        return
    if name in ("max", "min", "amax", "amin", "ptp", "nanmax", "nanmin", "all", "any",
                "count_nonzero"):
        ref_x = _as_float64_if_float(x)
    else:
        ref_x = _ref_input(x, expected)
    with quiet():
        want = AXES_REFS[name](ref_x, axis=axis, keepdims=keepdims)
    assert_matches(fn(as_input(x), axis=axis, keepdims=keepdims), want, expected)


@pytest.mark.parametrize("name", sorted(AXES_REFS))
@settings(max_examples=6, deadline=None)
@given(case=shapes_and_axes(), keepdims=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_axis_reductions_match_numpy(name: str, case: tuple, keepdims: bool, seed: int) -> None:
    shape, axis = case
    rng = np.random.default_rng(seed)
    for dtype in DTYPES:
        _reduction_case(name, values(rng, dtype, shape), axis, keepdims)


@pytest.mark.parametrize("name", ["var", "std", "nanvar", "nanstd"])
@settings(max_examples=6, deadline=None)
@given(case=shapes_and_axes(), keepdims=st.booleans(), ddof=st.integers(0, 3),
       seed=st.integers(0, 2**32 - 1))
def test_variances_match_numpy(name: str, case: tuple, keepdims: bool, ddof: int,
                               seed: int) -> None:
    shape, axis = case
    rng = np.random.default_rng(seed)
    reference = getattr(np, name)
    table = REDUCTION_DTYPES[name].split()
    count = int(np.prod([shape[a] for a in _axes(axis, len(shape))]))
    for dtype, code in zip(DTYPES, table, strict=False):
        x = values(rng, dtype, shape, specials=name.startswith("nan"))
        out_dtype = decode(code)
        with quiet():
            want = reference(_ref_input(x, out_dtype), axis=axis, ddof=ddof, keepdims=keepdims)
        if not name.startswith("nan") and count - ddof <= 0:
            want = np.full_like(want, np.nan)  # JAX (unlike numpy's inf) gives NaN here
        out = getattr(fnp, name)(as_input(x), axis=axis, ddof=ddof, keepdims=keepdims)
        assert_matches(out, want, out_dtype)


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@settings(max_examples=8, deadline=None)
@given(case=shapes_and_axes(tuples=False), keepdims=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_arg_reductions_match_numpy(name: str, case: tuple, keepdims: bool, seed: int) -> None:
    shape, axis = case
    rng = np.random.default_rng(seed)
    for dtype in DTYPES:
        x = values(rng, dtype, shape)
        fn = getattr(fnp, name)
        if x.size == 0 and (axis is None or x.shape[axis] == 0):
            with pytest.raises(ValueError, match="empty sequence"):
                fn(as_input(x), axis=axis, keepdims=keepdims)
            continue
        want = getattr(np, name)(_as_float64_if_float(x), axis=axis, keepdims=keepdims)
        assert_matches(fn(as_input(x), axis=axis, keepdims=keepdims), want, np.dtype(np.int32))


CUMULATIVE_REFS: dict[str, Callable[..., np.ndarray]] = {
    "cumsum": np.cumsum, "cumprod": np.cumprod, "nancumsum": np.nancumsum,
    "nancumprod": np.nancumprod,
}


@pytest.mark.parametrize("name", sorted(CUMULATIVE_REFS))
@settings(max_examples=6, deadline=None)
@given(case=shapes_and_axes(tuples=False), seed=st.integers(0, 2**32 - 1))
def test_cumulative_reductions_match_numpy(name: str, case: tuple, seed: int) -> None:
    shape, axis = case
    rng = np.random.default_rng(seed)
    for dtype, code in zip(DTYPES, REDUCTION_DTYPES[name].split(), strict=False):
        x = values(rng, dtype, shape)
        out_dtype = decode(code)
        with quiet():
            want = CUMULATIVE_REFS[name](_ref_input(x, out_dtype), axis=axis)
        assert_matches(getattr(fnp, name)(as_input(x), axis=axis), want, out_dtype)


@pytest.mark.parametrize("name", ["cumulative_sum", "cumulative_prod"])
@settings(max_examples=6, deadline=None)
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4),
       axis_seed=st.integers(0, 2), include_initial=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_array_api_cumulative_match_numpy(name: str, shape: tuple[int, ...], axis_seed: int,
                                          include_initial: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    axis = axis_seed % len(shape) - len(shape)
    for dtype, code in zip(DTYPES, REDUCTION_DTYPES[name].split(), strict=False):
        x = values(rng, dtype, shape)
        out_dtype = decode(code)
        with quiet():
            want = getattr(np, name)(_ref_input(x, out_dtype), axis=axis,
                                     include_initial=include_initial)
        out = getattr(fnp, name)(as_input(x), axis=axis, include_initial=include_initial)
        assert_matches(out, want, out_dtype)


@settings(max_examples=10, deadline=None)
@given(case=shapes_and_axes(), keepdims=st.booleans(), returned=st.booleans(),
       seed=st.integers(0, 2**32 - 1), dtype=st.sampled_from(DTYPES))
def test_average_matches_numpy(case: tuple, keepdims: bool, returned: bool, seed: int,
                               dtype: str) -> None:
    shape, axis = case
    rng = np.random.default_rng(seed)
    x = values(rng, dtype, shape, specials=False)
    out_dtype = decode(REDUCTION_DTYPES["average"].split()[DTYPES.index(dtype)])
    ref_x = _ref_input(x, out_dtype)
    axes = _axes(axis, x.ndim)
    weights = [None, rng.uniform(0.5, 2.0, shape).astype(np.float32)]
    if any(shape[a] == 0 for a in axes):  # numpy raises ZeroDivisionError, JAX gives NaN
        weights = [None]
    elif axis is not None and axes:  # weights along the reduced axes only
        weights.append(rng.uniform(0.5, 2.0, tuple(shape[a] for a in axes)).astype(np.float32))
    for w in weights:
        out = fnp.average(as_input(x), axis=axis, weights=w, returned=returned,
                          keepdims=keepdims)
        np_w = w
        if w is not None and w.shape != x.shape:  # numpy wants them laid out along the axes
            order = np.argsort(axes)
            np_w = np.transpose(w, order).reshape(
                [shape[i] if i in axes else 1 for i in range(x.ndim)])
            np_w = np.broadcast_to(np_w, shape)
        promoted = out_dtype if w is None else np.promote_types(out_dtype, np.float32)
        with quiet():
            if w is None:  # numpy's average divides by zero on empty arrays
                mean = np.mean(ref_x, axis=axis, keepdims=keepdims)
                want = (mean, np.full_like(mean, np.prod([shape[a] for a in axes])))
            else:
                want = np.average(ref_x, axis=axis, weights=np_w, returned=True,
                                  keepdims=keepdims)
        if returned:
            assert_matches(out[0], want[0], promoted)
            assert_matches(out[1], np.broadcast_to(want[1], np.shape(want[0])), promoted)
        else:
            assert_matches(out, want[0], promoted)


MASKED_REFS: dict[str, Callable[..., np.ndarray]] = {
    "sum": np.sum, "prod": np.prod, "mean": np.mean, "var": np.var, "std": np.std,
    "all": np.all, "any": np.any, "max": np.max, "min": np.min, "nansum": np.nansum,
    "nanmean": np.nanmean, "nanmax": np.nanmax,
}


@pytest.mark.parametrize("name", sorted(MASKED_REFS))
@settings(max_examples=8, deadline=None)
@given(case=shapes_and_axes(), seed=st.integers(0, 2**32 - 1),
       dtype=st.sampled_from(("int8", "uint32", "float16", "float32")))
def test_where_masks_and_initial_match_numpy(name: str, case: tuple, seed: int,
                                             dtype: str) -> None:
    shape, axis = case
    rng = np.random.default_rng(seed)
    x = values(rng, dtype, shape)
    mask = rng.random(shape[-1:]) < 0.6  # broadcast along the last axis
    out_dtype = decode(REDUCTION_DTYPES[name].split()[DTYPES.index(dtype)])
    extreme = name in ("max", "min", "nanmax")
    kwargs: dict[str, Any] = {"axis": axis, "where": mask}
    if extreme or name in ("sum", "prod"):
        kwargs["initial"] = 1 if name == "prod" else 3
    ref_x = _as_float64_if_float(x) if extreme or name in ("all", "any") else _ref_input(
        x, out_dtype)
    with quiet():
        want = MASKED_REFS[name](ref_x, **kwargs)
    assert_matches(getattr(fnp, name)(as_input(x), **kwargs), want, out_dtype)


def test_initial_dtype_and_promote_integers() -> None:
    x = np.array([[100, 100], [3, -4]], np.int8)
    assert_matches(fnp.sum(x, initial=5), 204, np.dtype(np.int32))
    assert_matches(fnp.sum(x, dtype=np.int8), np.sum(x, dtype=np.int8), np.dtype(np.int8))
    assert_matches(fnp.sum(x, promote_integers=False), np.sum(x, dtype=np.int8),
                   np.dtype(np.int8))
    assert_matches(fnp.prod(x, axis=1, dtype=np.float32), [1e4, -12.0], np.dtype(np.float32))
    assert_matches(fnp.max(np.array([1, 2]), initial=3.5), 3, np.dtype(np.int32))
    assert_matches(fnp.max(np.zeros((0, 2), np.int8), axis=0, initial=-7), [-7, -7],
                   np.dtype(np.int8))
    assert_matches(fnp.min(np.ones((2, 0)), axis=0), np.ones((0,)), np.dtype(np.float32))
    assert_matches(fnp.sum(np.zeros((0, 3))), 0.0, np.dtype(np.float32))
    assert_matches(fnp.prod(np.zeros((0,), bool)), 1, np.dtype(np.int32))
    assert_matches(fnp.sum(np.array([True, False]), dtype=bool), True, np.dtype(np.bool_))
    assert_matches(fnp.mean(np.array([1.7, 2.9]), dtype=np.int8), 1, np.dtype(np.int8))
    assert_matches(fnp.mean(np.array([1, 2]), dtype=np.float16), 1.5, np.dtype(np.float16))
    assert_matches(fnp.cumsum(np.array([False, True, False]), dtype=bool), [False, True, True],
                   np.dtype(np.bool_))
    assert_matches(fnp.cumprod(np.array([2.0, 0.5, 0.0]), dtype=bool), [True, True, False],
                   np.dtype(np.bool_))
    assert_matches(fnp.cumsum(np.array([1.5, 2.5]), dtype=np.int32), [1, 3], np.dtype(np.int32))
    assert_matches(fnp.cumsum(np.float32(3.0)), [3.0], np.dtype(np.float32))
    assert fnp.sum(np.ones((2, 3)), keepdims=True).shape == (1, 1)
    assert fnp.sum(np.float32(1), keepdims=True).shape == ()
    assert fnp.argmax(np.ones((2, 3)), keepdims=True).shape == (1, 1)


def test_float16_sums_accumulate_in_float32() -> None:
    ones = np.ones(3000, np.float16)
    assert float(fnp.sum(ones)) == 3000.0
    assert float(fnp.cumsum(ones)[-1]) == 3000.0
    assert float(fnp.mean(ones)) == 1.0
    assert_matches(fnp.var(np.array([1000.0, 1001.0], np.float16)), 0.25, np.dtype(np.float16))


def test_nan_reductions() -> None:
    x = np.array([[np.nan, 1.0, 3.0], [np.nan, np.nan, np.nan]], np.float32)
    assert_matches(fnp.nanmax(x, axis=1), [3.0, np.nan], np.dtype(np.float32))
    assert_matches(fnp.nanmin(x, axis=1), [1.0, np.nan], np.dtype(np.float32))
    assert_matches(fnp.nanmax(x, axis=1, initial=5.0), [5.0, 5.0], np.dtype(np.float32))
    assert_matches(fnp.nanmean(x, axis=1), [2.0, np.nan], np.dtype(np.float32))
    assert_matches(fnp.nansum(x, axis=1), [4.0, 0.0], np.dtype(np.float32))
    assert_matches(fnp.nanprod(x, axis=1), [3.0, 1.0], np.dtype(np.float32))
    assert_matches(fnp.nanvar(x, axis=1), [1.0, np.nan], np.dtype(np.float32))
    assert_matches(fnp.nanstd(x[0], ddof=1), np.sqrt(2.0), np.dtype(np.float32))
    assert_matches(fnp.nancumsum(x[0]), [0.0, 1.0, 4.0], np.dtype(np.float32))
    assert_matches(fnp.nanmax(np.array([1, 2], np.int8)), 2, np.dtype(np.int8))
    assert_matches(fnp.max(x, axis=1), [np.nan, np.nan], np.dtype(np.float32))
    assert_matches(fnp.argmax(np.array([1.0, np.nan, 3.0])), 1, np.dtype(np.int32))
    assert_matches(fnp.argmin(np.array([1.0, np.nan, -3.0])), 1, np.dtype(np.int32))


def test_var_ddof_and_correction() -> None:
    x = np.array([1.0, 2.0, 4.0], np.float32)
    assert_matches(fnp.var(x, correction=1), np.var(x, ddof=1), np.dtype(np.float32))
    assert_matches(fnp.std(x, ddof=1), np.std(x, ddof=1), np.dtype(np.float32))
    assert_matches(fnp.var(x, ddof=3), np.nan, np.dtype(np.float32))
    assert_matches(fnp.var(np.zeros((0,))), np.nan, np.dtype(np.float32))
    assert_matches(fnp.mean(np.zeros((0,))), np.nan, np.dtype(np.float32))
    assert_matches(fnp.var(x, where=np.array([True, False, True])), 2.25, np.dtype(np.float32))
    with pytest.raises(ValueError, match="simultaneously"):
        fnp.var(x, ddof=1, correction=1)


def test_average_weights_and_errors() -> None:
    x = np.arange(6.0).reshape(2, 3)
    avg, total = fnp.average(np.array([1, 2], np.int8), weights=np.array([1, 3], np.int8),
                             returned=True)
    assert_matches(avg, 1.75, np.dtype(np.float32))
    assert_matches(total, 4.0, np.dtype(np.float32))
    assert_matches(fnp.average(x, axis=1, weights=np.array([1.0, 0.0, 1.0])), [1.0, 4.0],
                   np.dtype(np.float32))
    assert_matches(fnp.average(x, weights=np.zeros((2, 3))), np.nan, np.dtype(np.float32))
    avg, total = fnp.average(x, axis=1, returned=True)
    assert_matches(total, [3.0, 3.0], np.dtype(np.float32))
    with pytest.raises(ValueError, match="Axis must be specified"):
        fnp.average(x, weights=np.ones(3))
    with pytest.raises(ValueError, match="weights"):
        fnp.average(x, axis=1, weights=np.ones(2))
    with pytest.raises(ValueError, match="weights"):
        fnp.average(x, axis=(0, 1), weights=np.ones(2))


def test_counting_and_logical_reductions() -> None:
    x = np.array([[1.0, 0.0, np.nan], [0.0, 0.0, 2.0]], np.float32)
    assert_matches(fnp.count_nonzero(x), 3, np.dtype(np.int32))
    assert_matches(fnp.count_nonzero(x, axis=0, keepdims=True), [[1, 0, 2]], np.dtype(np.int32))
    assert_matches(fnp.all(x, axis=1), [False, False], np.dtype(np.bool_))
    assert_matches(fnp.any(x, axis=1), [True, True], np.dtype(np.bool_))
    assert_matches(fnp.all(np.zeros((0,))), True, np.dtype(np.bool_))
    assert_matches(fnp.any(np.array([1.0, 0.0]), where=np.array([False, True])), False,
                   np.dtype(np.bool_))
    assert_matches(fnp.ptp(np.array([250, 3], np.uint8)), 247, np.dtype(np.uint8))


def test_bad_arguments_raise_clear_errors() -> None:
    x = np.ones((2, 3), np.float32)
    with pytest.raises(NotImplementedError, match="'out' argument to sum"):
        fnp.sum(x, out=x)
    with pytest.raises(FbornShapeError, match="out of bounds"):
        fnp.sum(x, axis=2)
    with pytest.raises(FbornShapeError, match="out of bounds"):
        fnp.mean(np.float32(1), axis=0)
    with pytest.raises(FbornShapeError, match="repeated"):
        fnp.sum(x, axis=(0, -2))
    with pytest.raises(ValueError, match="zero-size array to reduction operation max"):
        fnp.max(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="zero-size array to reduction operation min"):
        fnp.min(np.zeros((0, 3)), axis=0)
    with pytest.raises(ValueError, match="initial"):
        fnp.max(x, where=np.array([True, False, True]))
    with pytest.raises(ValueError, match="bool"):
        fnp.sum(x, where=np.array([1, 0, 1]))
    with pytest.raises(ValueError, match="empty sequence"):
        fnp.argmax(np.zeros((2, 0)), axis=1)
    with pytest.raises(ValueError, match="scalar"):
        fnp.cumulative_sum(np.float32(1))
    with pytest.raises(ValueError, match="axis is required"):
        fnp.cumulative_sum(x)
    with pytest.raises(TypeError, match="list"):
        fnp.sum([1.0, 2.0])
    with pytest.raises(FbornDtypeError):
        fnp.ptp(np.array([True, False]))
    with pytest.raises(FbornShapeError):
        fnp.sum(x, where=np.ones(2, bool))


def test_values_match_numpy_in_float64() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 5)) * 1e3
    with fborn.config.override(enable_x64=True):
        for name in ("sum", "prod", "mean", "var", "std", "max", "nanmean"):
            out = getattr(fnp, name)(x, axis=1)
            assert_matches(out, getattr(np, name)(x, axis=1), np.dtype(np.float64))
        assert_matches(fnp.cumsum(x, axis=0), np.cumsum(x, axis=0), np.dtype(np.float64))
        assert_matches(fnp.argmax(x), np.argmax(x), np.dtype(np.int64))
        big = np.array([2**40, 2**41], np.int64)
        assert_matches(fnp.sum(big), 3 * 2**40, np.dtype(np.int64))
        assert_matches(fnp.sum(np.array([True, True])), 2, np.dtype(np.int64))
        assert fnp.mean(np.array([1, 2], np.int32)).dtype == np.float32


# --- tracing -------------------------------------------------------------------------------------


def _reductions(x: fborn.Array, mask: fborn.Array) -> tuple[fborn.Array, ...]:
    return (
        fnp.sum(x, axis=(0, -1), keepdims=True),
        fnp.mean(x, axis=1, where=mask),
        fnp.var(x, axis=0, ddof=1),
        fnp.max(x, axis=-1, initial=0.5, where=mask),
        fnp.argmin(x, axis=1, keepdims=True),
        fnp.cumprod(x, axis=1),
        fnp.cumulative_sum(x, axis=0, include_initial=True),
        fnp.average(x, axis=1, weights=np.arange(4.0, dtype=np.float32)),
        fnp.nanmax(x, axis=0),
        fnp.count_nonzero(fnp.greater(x, 0), axis=1),
        fnp.all(fnp.isfinite(x)),
    )


def test_reductions_trace_and_the_jaxpr_evaluates_to_the_eager_result() -> None:
    rng = np.random.default_rng(2)
    x = rng.uniform(-2, 2, (3, 4)).astype(np.float32)
    mask = np.array([True, False, True, True])
    closed = fborn.make_jaxpr(_reductions)(x, mask)
    primitives = {e.primitive.name for e in closed.eqns}
    assert {"reduce_sum", "reduce_max", "argmin", "cumprod", "cumsum"} <= primitives
    traced = fborn.eval_jaxpr(closed.jaxpr, closed.consts, x, mask)
    eager = _reductions(x, mask)
    assert len(traced) == len(eager)
    for t, e in zip(traced, eager, strict=True):
        assert (t.shape, t.dtype) == (e.shape, e.dtype)
        np.testing.assert_allclose(np.asarray(t, np.float64), np.asarray(e, np.float64),
                                   rtol=1e-6)
