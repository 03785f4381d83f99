"""Tests of fborn.scipy.special against constants computed with mpmath (40 digits, pasted
below) and numpy float64 references; every function is also run traced (make_jaxpr)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fborn
import fborn.scipy.special as S
from fborn.errors import FbornDtypeError, FbornShapeError
from fborn.test_util import eval_traced

SETTINGS = settings(max_examples=25, deadline=None)
INF, NAN = math.inf, math.nan


def assert_close(got: Any, expected: np.ndarray, dtype: np.dtype, rtol: float,
                 atol: float | None = None) -> None:
    """Exact dtype and shape; values within ``rtol`` (``atol`` defaults to ``rtol / 1000``)."""
    got = np.asarray(got)
    assert got.dtype == dtype, (got.dtype, dtype)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    np.testing.assert_allclose(got.astype(np.float64), expected, rtol=rtol,
                               atol=rtol * 1e-3 if atol is None else atol, equal_nan=True)


# --------------------------------------------------------------------------------------------
# Elementwise functions against mpmath constants: (x, f(x)) pairs
# --------------------------------------------------------------------------------------------

MPMATH_TABLES: dict[str, list[tuple[float, float]]] = {
    "erf": [(-2.0, -0.9953222650189527), (-0.5, -0.5204998778130465), (0.0, 0.0),
            (0.1, 0.1124629160182849), (1.0, 0.8427007929497149), (3.0, 0.9999779095030014)],
    "erfc": [(-1.0, 1.8427007929497148), (0.0, 1.0), (0.5, 0.4795001221869535),
             (2.0, 0.004677734981047266), (5.0, 1.537459794428035e-12)],
    "erfinv": [(-0.9, -1.1630871536766743), (-0.5, -0.4769362762044699), (0.0, 0.0),
               (0.3, 0.2724627147267543), (0.99, 1.8213863677184494)],
    "gammaln": [(0.5, 0.5723649429247001), (1.0, 0.0), (2.5, 0.2846828704729192),
                (10.0, 12.801827480081469), (100.0, 359.1342053695754),
                (-0.5, 1.2655121234846454), (-2.5, -0.056243716497674054)],
    "digamma": [(0.5, -1.9635100260214235), (1.0, -0.5772156649015329),
                (2.5, 0.7031566406452432), (10.0, 2.251752589066721),
                (-0.5, 0.03648997397857652), (-2.5, 1.103156640645243)],
    "expit": [(-20.0, 2.0611536181902037e-09), (-1.0, 0.2689414213699951), (0.0, 0.5),
              (2.0, 0.8807970779778824), (30.0, 0.9999999999999064)],
    "logit": [(0.01, -4.59511985013459), (0.25, -1.0986122886681098), (0.5, 0.0),
              (0.9, 2.1972245773362196)],
    "entr": [(0.25, 0.34657359027997264), (0.5, 0.34657359027997264), (1.0, 0.0),
             (2.0, -1.3862943611198906)],
}


@pytest.mark.parametrize("name", sorted(MPMATH_TABLES))
@pytest.mark.parametrize("dtype,rtol", [(np.dtype(np.float32), 2e-6),
                                        (np.dtype(np.float64), 1e-12)])
def test_against_mpmath(name: str, dtype: np.dtype, rtol: float) -> None:
    if name == "digamma" and dtype == np.float64:
        rtol = 2e-10  # the digamma primitive's asymptotic series is good to ~1e-10 in float64
    f = getattr(S, name)
    xs = np.array([x for x, _ in MPMATH_TABLES[name]], dtype)
    expected = np.array([y for _, y in MPMATH_TABLES[name]])
    with fborn.config.override(enable_x64=dtype == np.float64):
        assert_close(f(xs), expected, dtype, rtol)
        assert_close(eval_traced(f, xs)[0], expected, dtype, rtol)


def test_far_tails_in_float64() -> None:
    with fborn.config.override(enable_x64=True):
        assert_close(S.erfc(np.array([10.0])), np.array([2.088487583762545e-45]),
                     np.dtype(np.float64), 1e-12)
        assert_close(S.erfinv(np.array([0.999999])), np.array([3.458910737275499]),
                     np.dtype(np.float64), 1e-10)


XLOGY = [((2.0, 3.0), 2.1972245773362196), ((-1.5, 0.5), 1.0397207708399179),
         ((0.5, 10.0), 1.151292546497023), ((0.0, 0.0), 0.0), ((0.0, -1.0), 0.0),
         ((1.0, 0.0), -INF), ((0.0, INF), 0.0)]
XLOG1PY = [((2.0, 3.0), 2.772588722239781), ((-1.5, -0.5), 1.0397207708399179),
           ((0.5, 1e-10), 4.9999999997500004e-11), ((0.0, -1.0), 0.0), ((0.0, -3.0), 0.0),
           ((1.0, -1.0), -INF)]


@pytest.mark.parametrize("name,table", [("xlogy", XLOGY), ("xlog1py", XLOG1PY)])
@pytest.mark.parametrize("dtype,rtol", [(np.dtype(np.float32), 2e-6),
                                        (np.dtype(np.float64), 1e-12)])
def test_xlogy_family(name: str, table: list, dtype: np.dtype, rtol: float) -> None:
    f = getattr(S, name)
    x = np.array([xy[0] for xy, _ in table], dtype)
    y = np.array([xy[1] for xy, _ in table], dtype)
    expected = np.array([v for _, v in table])
    with fborn.config.override(enable_x64=dtype == np.float64):
        assert_close(f(x, y), expected, dtype, rtol)
        assert_close(eval_traced(f, x, y)[0], expected, dtype, rtol)
        grid = np.asarray(f(x[:, None], y[None, :]))  # operands broadcast
        assert grid.shape == (len(x), len(y))
        assert_close(np.diagonal(grid), expected, dtype, rtol)


@pytest.mark.parametrize("name,x,expected", [
    ("gammaln", [0.0, -1.0, -2.0, INF], [INF, INF, INF, INF]),
    ("digamma", [0.0, -1.0, NAN], [NAN, NAN, NAN]),
    ("erfinv", [1.0, -1.0, 1.5, -2.0], [INF, -INF, NAN, NAN]),
    ("erf", [INF, -INF, NAN], [1.0, -1.0, NAN]),
    ("erfc", [INF, -INF], [0.0, 2.0]),
    ("logit", [0.0, 1.0, -0.5, 1.5], [-INF, INF, NAN, NAN]),
    ("expit", [-INF, INF, -200.0], [0.0, 1.0, 0.0]),
    ("entr", [0.0, -1.0, INF], [0.0, -INF, -INF]),
])
def test_special_points(name: str, x: list[float], expected: list[float]) -> None:
    with np.errstate(all="ignore"):
        out = getattr(S, name)(np.array(x, np.float32))
    assert_close(out, np.array(expected), np.dtype(np.float32), 1e-6)


def test_dtypes() -> None:
    assert S.erf(np.arange(3)).dtype == np.float32  # integers promote to the default float
    assert S.gammaln(3).dtype == np.float32 and S.gammaln(3).weak_type
    assert S.expit(np.ones(2, np.float16)).dtype == np.float16
    assert S.xlogy(np.ones(2, np.float16), 2.0).dtype == np.float16
    assert S.softmax(np.arange(3)).dtype == np.float32
    assert S.logsumexp(np.ones(3, np.float16)).dtype == np.float16
    with fborn.config.override(enable_x64=True):
        assert S.erf(np.arange(3)).dtype == np.float64
        assert S.logsumexp(np.ones(3)).dtype == np.float64
    with pytest.raises(FbornDtypeError):
        S.erf(np.array(["a"]))


# --------------------------------------------------------------------------------------------
# logsumexp, softmax, log_softmax
# --------------------------------------------------------------------------------------------

@st.composite
def array_and_axis(draw: st.DrawFn, lo: float = -50.0, hi: float = 50.0
                   ) -> tuple[np.ndarray, Any]:
    dtype = draw(st.sampled_from([np.dtype(np.float32), np.dtype(np.float64)]))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=4))
    x = draw(hnp.arrays(dtype, shape, elements=st.floats(lo, hi, width=32)))
    axes = draw(st.lists(st.integers(0, max(x.ndim - 1, 0)), unique=True, max_size=x.ndim))
    axis = draw(st.sampled_from([None, tuple(axes), *[a - x.ndim for a in axes]]))
    return x, axis


def ref_logsumexp(a: np.ndarray, axis: Any, b: np.ndarray | None = None,
                  keepdims: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """float64 log|sum(b * exp(a))| and its sign, with the max shifted out."""
    a = a.astype(np.float64)
    m = np.max(a, axis=axis, keepdims=True) if a.size else np.zeros_like(a)
    m = np.where(np.isfinite(m), m, 0.0)
    scaled = np.exp(a - m) * (1.0 if b is None else b)
    total = np.sum(scaled, axis=axis, keepdims=True)
    with np.errstate(divide="ignore"):
        out = np.log(np.abs(total)) + m
    sign = np.sign(total)
    if not keepdims:
        out = np.squeeze(out, axis=axis) if axis != () else out
        sign = np.squeeze(sign, axis=axis) if axis != () else sign
    return out, sign


@SETTINGS
@given(array_and_axis(), st.booleans())
def test_logsumexp_matches_reference(case: tuple[np.ndarray, Any], keepdims: bool) -> None:
    x, axis = case
    expected, _ = ref_logsumexp(x, axis, keepdims=keepdims)
    rtol = 1e-5 if x.dtype == np.float32 else 1e-12
    atol = rtol * (1.0 + float(np.max(np.abs(x), initial=0.0)))  # log(sum) rounds absolutely
    with fborn.config.override(enable_x64=x.dtype == np.float64):
        f = lambda v: S.logsumexp(v, axis=axis, keepdims=keepdims)  # noqa: E731
        assert_close(f(x), np.asarray(expected), x.dtype, rtol, atol)
        assert_close(eval_traced(f, x)[0], np.asarray(expected), x.dtype, rtol, atol)


@SETTINGS
@given(array_and_axis(), st.data())
def test_logsumexp_with_b_and_sign(case: tuple[np.ndarray, Any], data: st.DataObject) -> None:
    x, axis = case
    b = data.draw(hnp.arrays(x.dtype, x.shape[x.ndim // 2:],
                             elements=st.sampled_from([-2.0, -0.5, 0.0, 1.0, 3.0])))
    bb = np.broadcast_to(b, x.shape)
    expected, sign = ref_logsumexp(x, axis, bb)
    with fborn.config.override(enable_x64=x.dtype == np.float64):
        out, got_sign = S.logsumexp(x, axis=axis, b=b, return_sign=True)
        plain = np.asarray(S.logsumexp(x, axis=axis, b=b))
    assert out.dtype == got_sign.dtype == x.dtype and out.shape == expected.shape
    # with cancellation the sum can be near zero; compare where it is well away from zero
    ref_total = np.exp(expected) * sign
    total = np.exp(np.asarray(out, np.float64)) * np.asarray(got_sign)
    atol = 1e-3 * float(np.max(np.exp(x.astype(np.float64)), initial=1.0))
    ok = np.abs(ref_total) > 10 * atol
    np.testing.assert_array_equal(np.asarray(got_sign)[ok], sign[ok])
    np.testing.assert_allclose(total[ok], ref_total[ok], rtol=1e-3, atol=atol)
    assert np.all(np.isnan(plain[ok & (sign < 0)]))
    assert not np.any(np.isnan(plain[ok & (sign > 0)]))


def test_logsumexp_large_values_are_finite_and_exact() -> None:
    x = np.array([1e4, 1e4, 1e4 - 1.0], np.float32)
    out = S.logsumexp(x)
    assert np.isfinite(float(out))
    np.testing.assert_allclose(float(out), 10000.861994804058, rtol=1e-7)
    out2 = S.logsumexp(np.array([[-1e4, -1e4 - 1.0]], np.float32), axis=1)
    np.testing.assert_allclose(np.asarray(out2), [-9999.68673831248], rtol=1e-7)
    with fborn.config.override(enable_x64=True):
        np.testing.assert_allclose(float(S.logsumexp(x.astype(np.float64))),
                                   10000.861994804058, rtol=1e-14)


def test_logsumexp_infinities_and_empty() -> None:
    f32 = np.float32
    assert float(S.logsumexp(np.array([-INF, -INF], f32))) == -INF
    assert float(S.logsumexp(np.array([-INF, 0.0], f32))) == 0.0
    assert float(S.logsumexp(np.array([INF, 1.0], f32))) == INF
    assert math.isnan(float(S.logsumexp(np.array([NAN, 1.0], f32))))
    assert float(S.logsumexp(np.zeros((0,), f32))) == -INF
    out, sign = S.logsumexp(np.array([-INF, -INF], f32), return_sign=True)
    assert float(out) == -INF and float(sign) == 0.0
    rows = S.logsumexp(np.array([[-INF, -INF], [0.0, 0.0]], f32), axis=1)
    np.testing.assert_allclose(np.asarray(rows), [-INF, math.log(2.0)], rtol=1e-7)


def test_logsumexp_b_where_and_keepdims() -> None:
    a = np.array([1.0, 2.0, 0.5], np.float32)
    b = np.array([2.0, -0.5, 3.0], np.float32)
    np.testing.assert_allclose(float(S.logsumexp(a, b=b)), 1.9003446928547856, rtol=1e-6)
    out, sign = S.logsumexp(np.array([1.0, 2.0], np.float32), b=np.array([1.0, -2.0], np.float32),
                            return_sign=True)
    np.testing.assert_allclose(float(out), 2.48988012564475, rtol=1e-6)
    assert float(sign) == -1.0
    assert math.isnan(float(S.logsumexp(np.array([1.0, 2.0], np.float32),
                                        b=np.array([1.0, -2.0], np.float32))))
    # where: masked elements are left out; b == 0 drops an element even if a is +inf
    masked = S.logsumexp(a, where=np.array([True, False, True]))
    np.testing.assert_allclose(float(masked), math.log(math.exp(1.0) + math.exp(0.5)),
                               rtol=1e-6)
    dropped = S.logsumexp(np.array([INF, 0.0], np.float32), b=np.array([0.0, 1.0], np.float32))
    assert float(dropped) == 0.0
    m = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    assert S.logsumexp(m, axis=1, keepdims=True).shape == (2, 1)
    assert S.logsumexp(m, axis=(0, 1), keepdims=True).shape == (1, 1)
    assert S.logsumexp(m).shape == ()
    with pytest.raises(FbornShapeError):
        S.logsumexp(m, axis=2)


def test_logsumexp_is_a_custom_jvp_call_with_one_stable_pass() -> None:
    closed = fborn.make_jaxpr(lambda v: S.logsumexp(v, axis=0))(np.ones((3, 2), np.float32))
    (eqn,) = closed.jaxpr.eqns
    assert eqn.primitive.name == "custom_jvp_call"
    names = [e.primitive.name for e in eqn.params["call_jaxpr"].eqns]
    assert names.count("stop_gradient") == 1 and names.count("reduce_max") == 1
    assert names.count("exp") == 1 and names.count("log") == 1
    assert closed.jaxpr.outvars[0].aval.shape == (2,)


def test_logsumexp_gradient_is_softmax_and_zero_on_all_minus_inf() -> None:
    x = np.array([1e4, 1e4 + 1.0, 1e4 - 2.0], np.float32)
    g = fborn.grad(lambda v: S.logsumexp(v))(x)
    np.testing.assert_allclose(g, softmax_ref(x, None), rtol=1e-5)
    g = fborn.grad(lambda v: S.logsumexp(v))(np.full(2, -np.inf, np.float32))
    np.testing.assert_array_equal(g, [0.0, 0.0])
    hess = fborn.hessian(lambda v: S.logsumexp(v))(np.array([0.1, 0.5], np.float64))
    p = softmax_ref(np.array([0.1, 0.5]), None)
    np.testing.assert_allclose(hess, np.diag(p) - np.outer(p, p), rtol=1e-5)


def softmax_ref(x: np.ndarray, axis: Any) -> np.ndarray:
    e = np.exp(x.astype(np.float64) - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


@SETTINGS
@given(array_and_axis(lo=-1e4, hi=1e4))
def test_softmax_and_log_softmax(case: tuple[np.ndarray, Any]) -> None:
    x, axis = case
    expected = softmax_ref(x, axis)
    rtol = 1e-4 if x.dtype == np.float32 else 1e-12
    with (fborn.config.override(enable_x64=x.dtype == np.float64),
          np.errstate(under="ignore", divide="ignore")):
        for f in (S.softmax, lambda v: np.exp(np.asarray(S.log_softmax(v, axis=axis),
                                                            np.float64)).astype(v.dtype)):
            got = f(x, axis=axis) if f is S.softmax else f(x)
            np.testing.assert_allclose(np.asarray(got, np.float64), expected, rtol=rtol,
                                       atol=1e-30)
        assert S.softmax(x, axis=axis).dtype == x.dtype
        (traced_out,) = eval_traced(lambda v: S.softmax(v, axis=axis), x)
        np.testing.assert_array_equal(np.asarray(traced_out), np.asarray(S.softmax(x, axis=axis)))
        log_sm = np.asarray(S.log_softmax(x, axis=axis))
        assert np.all(np.isfinite(log_sm)) and np.all(log_sm <= 0)


def test_softmax_axis_default_is_all_axes() -> None:
    x = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(float(np.asarray(S.softmax(x)).sum()), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(S.softmax(x, axis=1)).sum(axis=1), [1.0, 1.0],
                               rtol=1e-6)
    big = np.array([1e4, 1e4 - math.log(3.0)], np.float32)
    np.testing.assert_allclose(np.asarray(S.softmax(big)), [0.75, 0.25], rtol=1e-3)
    np.testing.assert_allclose(np.asarray(S.log_softmax(big)),
                               [math.log(0.75), math.log(0.25)], rtol=1e-3)
